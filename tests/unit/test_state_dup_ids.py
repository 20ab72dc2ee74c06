"""Machine-clock states, dedup expiry and ids, with a clock the test moves."""

from __future__ import annotations

import math
import random

from gunrtc_kit.core.dup import Dup
from gunrtc_kit.core.ids import ALPHABET, new_soul, random_id
from gunrtc_kit.core.state import MISSING, MachineClock, state_ify, state_of
from tests.helpers import FakeClock


def test_machine_clock_counts_within_a_millisecond() -> None:
    clock = FakeClock(1_795_544_504_602.4)
    m = MachineClock(clock)
    assert m() == 1795544504602 and isinstance(m(), float)
    third = m()
    assert math.isclose(third, 1795544504602 + 2 / 999)
    clock.advance(1)
    assert m() == 1795544504603  # a new ms starts exactly on it
    clock.advance(-5)  # the wall clock went back: gun adds N/999 to the *new* time, so
    # states go back too (gun-wire 6.2: not monotonic across a big clock jump) - matched
    assert math.isclose(m(), 1795544504598 + 1 / 999)


def test_state_helpers() -> None:
    node = state_ify(None, "a", 5, "x", "s")
    assert node == {"_": {"#": "s", ">": {"a": 5}}, "a": "x"}
    state_ify(node, "b", None, MISSING)
    assert "b" not in node and state_of(node, "a") == 5
    assert state_of(node, "zz") == -math.inf and state_of({}, "a") is None


def test_dup_lives_9_to_18_seconds_after_last_touch() -> None:
    clock = FakeClock(0)
    dup = Dup(clock)
    dup.track("a")
    assert dup.next_deadline() == 9009
    clock.advance(5000)
    assert dup.check("a") is not None  # refreshes: was = 5000
    dup.track("b")
    clock.advance(4009)  # the sweep at 9009: 'a' is 4009 ms old, kept; so is 'b'
    assert dup.expire() == 0 and "a" in dup and dup.next_deadline() is None
    clock.advance(6000)
    dup.track("c")  # re-arms the sweep at 15009 + 9009
    clock.advance(9000)
    dup.track("d")
    clock.advance(9)
    assert dup.expire() == 3 and "d" in dup and not {"a", "b", "c"} & set(dup.s)


def test_ids_use_guns_alphabet() -> None:
    assert "Y" not in ALPHABET and len(ALPHABET) == 61
    rng = random.Random(1)
    ids = {random_id(9, rng) for _ in range(2000)}
    assert len(ids) == 2000 and all(len(i) == 9 and set(i) <= set(ALPHABET) for i in ids)
    soul = new_soul(1795544504602.5, rng)
    assert soul.startswith("mwv0u6myi") and len(soul) == 9 + 12  # node: (x).toString(36)
