"""The machine clock (gun State()) and State.is / State.ify, with a clock the test moves."""

from __future__ import annotations

import math

import pytest

from gunrtc_kit.core.state import MISSING, MachineClock, state_ify, state_of
from tests.helpers import FakeClock

T = 1_795_544_504_602


def test_first_call_of_a_millisecond_is_exact_then_n_over_999() -> None:
    clock = FakeClock(T + 0.7)  # +new Date is whole milliseconds
    m = MachineClock(clock)
    assert m() == T
    assert [m() for _ in range(3)] == [T + 1 / 999, T + 2 / 999, T + 3 / 999]
    clock.advance(1)
    assert m() == T + 1  # a new millisecond resets N
    assert m() == T + 1 + 1 / 999


def test_states_print_as_gun_prints_them() -> None:
    from gunrtc_kit.core.codec import js_number

    m = MachineClock(FakeClock(T))
    assert [js_number(m()) for _ in range(3)] == [
        "1795544504602",
        "1795544504602.001",
        "1795544504602.002",
    ]


def test_clock_going_back_keeps_counting_on_the_new_time() -> None:
    clock = FakeClock(T)
    m = MachineClock(clock)
    m()
    clock.advance(-5)  # gun: last < t is false, so last = t + N/999 with N still climbing
    assert math.isclose(m(), T - 5 + 1 / 999)
    assert math.isclose(m(), T - 5 + 2 / 999)


def test_drift_is_added() -> None:
    clock = FakeClock(T)
    m = MachineClock(clock, drift=100)
    assert m() == T + 100
    clock.advance(1)  # last (T+100) is not < T+1: counts on, as gun does
    assert math.isclose(m(), T + 1 + 1 / 999 + 100)


def test_state_of() -> None:
    node = {"_": {"#": "s", ">": {"a": 5, "b": "x", "c": True}}, "a": 1}
    assert state_of(node, "a") == 5
    assert state_of(node, "b") == -math.inf  # present map, not a number
    assert state_of(node, "c") == -math.inf  # a boolean is not a JS number
    assert state_of(node, "zz") == -math.inf
    assert state_of({"_": {"#": "s"}}, "a") is None  # no '>' at all
    assert state_of({}, "a") is None and state_of(None, "a") is None


def test_state_ify() -> None:
    node = state_ify({}, "a", 5, "x", "s")
    assert node == {"_": {"#": "s", ">": {"a": 5}}, "a": "x"}
    assert state_ify(node, "b", None, MISSING) is node
    assert "b" not in node and "b" not in node["_"][">"]
    state_ify(node, "c", 7, MISSING)  # a state with no value
    assert node["_"][">"]["c"] == 7 and "c" not in node
    state_ify(node, "d", "7", None)  # a non-number state is not written, the value is
    assert "d" not in node["_"][">"] and node["d"] is None
    state_ify(node, "_", 9, "boom", "s")  # '_' is never touched
    assert node["_"] == {"#": "s", ">": {"a": 5, "c": 7}}


@pytest.mark.parametrize("value", [None, 0, "", False])
def test_state_ify_writes_falsy_values(value: object) -> None:
    assert state_ify({}, "k", 1, value, "s")["k"] == value
