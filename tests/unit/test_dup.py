"""Dedup expiry as gun's dup.js: an entry lives 9 to 18 s after its last touch."""

from __future__ import annotations

import pytest

from gunrtc_kit.core.dup import Dup, DupEntry
from tests.helpers import FakeClock


def test_track_arms_one_sweep_at_age_plus_9() -> None:
    clock = FakeClock(0)
    dup = Dup(clock)
    assert dup.next_deadline() is None and len(dup) == 0
    e = dup.track("a")
    assert isinstance(e, DupEntry) and e.was == 0 and dup.next_deadline() == 9009
    clock.advance(100)
    dup.track("b")
    assert dup.next_deadline() == 9009  # not re-armed while one is pending
    assert dup.expire() == 0 and dup.next_deadline() == 9009  # not due yet: stays armed


def test_check_refreshes_and_get_peeks() -> None:
    clock = FakeClock(0)
    dup = Dup(clock)
    assert dup.check("a") is None and "a" not in dup  # unknown: no entry made
    dup.track("a").via = "peer1"
    clock.advance(5000)
    entry = dup.get("a")
    assert entry is not None and entry.was == 0  # peek does not refresh
    assert dup.check("a") is entry and entry.was == 5000 and entry.via == "peer1"


def test_an_entry_lives_9_to_18_seconds() -> None:
    clock = FakeClock(0)
    dup = Dup(clock)
    dup.track("a")  # sweep at 9009
    clock.advance(9009)
    assert dup.expire() == 1 and "a" not in dup  # 9009 ms old: gone at the first sweep
    assert dup.next_deadline() is None  # gun re-arms on the next track only

    dup.track("b")  # at 9009: sweep at 18018
    clock.advance(11)
    dup.track("c")  # at 9020
    clock.advance(8998)  # 18018: b is 9009 old (dropped), c 8998 old (kept)
    assert dup.expire() == 1 and "c" in dup and "b" not in dup
    dup.track("d")  # re-arms: 27027
    clock.advance(9009)
    assert dup.expire() == 2 and len(dup) == 0  # c lived 18007 ms after its last touch


def test_a_duplicate_that_keeps_coming_stays() -> None:
    clock = FakeClock(0)
    dup = Dup(clock)
    dup.track("a")
    for _ in range(10):
        clock.advance(9009)
        assert dup.check("a") is not None
        assert dup.expire() == 0  # touched just now
    assert "a" in dup


def test_exactly_age_old_is_dropped() -> None:
    clock = FakeClock(0)
    dup = Dup(clock, age=100)
    dup.track("x")
    clock.advance(9)
    dup.track("y")
    clock.advance(100)  # sweep at 109: x is 109 old, y is 100 old (>= age: gone too)
    assert dup.expire() == 2


def test_forget_and_extra() -> None:
    dup = Dup(FakeClock(0))
    dup.track("a").extra["#"] = "orig"
    assert dup.get("a") is not None and dup.get("a").extra == {"#": "orig"}  # type: ignore[union-attr]
    dup.forget("a")
    dup.forget("never")
    assert "a" not in dup and dup.get("a") is None


def test_age_must_be_positive() -> None:
    with pytest.raises(ValueError, match="age=0"):
        Dup(FakeClock(0), age=0)
