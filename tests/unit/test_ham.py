"""HAM decisions, including gun's equal-state rule on JSON text.

The equal-state winners were checked against npm gun 0.2020.1241: two puts of the same key at
the same state, in both orders, leave the same winner in ``root.graph``.
"""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit.core.ham import Decision, ham, json_text_greater

NOW = 1_000.0


@pytest.mark.parametrize(
    ("state", "value", "cur_state", "cur_value", "expected"),
    [
        (NOW + 1, "x", None, None, Decision.DEFER),  # future: wait for our clock
        (NOW + 0.001, "x", 5, "y", Decision.DEFER),
        (NOW, "x", None, None, Decision.ACCEPT),  # exactly now is not the future
        (5, "x", None, None, Decision.ACCEPT),  # unknown key
        (5, "x", float("-inf"), None, Decision.ACCEPT),  # '>' map without this key
        (5, "x", 6, "y", Decision.HISTORICAL),
        (5, "zzz", 5.001, "a", Decision.HISTORICAL),
        (7, "x", 6, "y", Decision.ACCEPT),
        (7, None, 6, "y", Decision.ACCEPT),  # a delete with a newer state wins
        (6, "y", 6, "x", Decision.ACCEPT),  # "y" > "x"
        (6, "x", 6, "y", Decision.EQUAL),
        (6, "x", 6, "x", Decision.EQUAL),
        (6, 1, 6, 1.0, Decision.EQUAL),  # same JSON text
        (6, {"#": "a"}, 6, {"#": "a"}, Decision.EQUAL),
    ],
)
def test_ham(
    state: float, value: object, cur_state: float | None, cur_value: object, expected: Decision
) -> None:
    assert ham(NOW, state, value, cur_state, cur_value) is expected


# (a, b, winner at equal state whichever arrives first) - from npm gun's root.graph
GUN_WINNERS: list[tuple[Any, Any, Any]] = [
    (10, 9, 9),  # "9" > "10"
    ("zzz", 5, 5),  # any number beats any string: '5' > '"'
    (None, True, True),
    (99, {"#": "a"}, {"#": "a"}),  # a link beats numbers: '{' > digits
    ("😀", "\uffff", "\uffff"),  # UTF-16 units: 0xFFFF > 0xD83D (code points say otherwise)
    (False, True, True),
    (1, "1", 1),
    ({"#": "b"}, {"#": "a"}, {"#": "b"}),
    (-1, 1, 1),
    (1.5, 15, 15),
]


@pytest.mark.parametrize(("a", "b", "winner"), GUN_WINNERS)
def test_equal_state_winner_matches_gun(a: Any, b: Any, winner: Any) -> None:
    for first, second in ((a, b), (b, a)):
        d = ham(NOW, 5, second, 5, first)
        kept = second if d is Decision.ACCEPT else first
        assert d in (Decision.ACCEPT, Decision.EQUAL)
        assert kept == winner and type(kept) is type(winner)


def test_json_text_greater() -> None:
    assert json_text_greater(9, 10) and not json_text_greater(10, 9)
    assert json_text_greater(1.5e-7, 1)  # "1.5e-7" > "1"
    assert not json_text_greater("a", "a")
    assert json_text_greater("\ue000", "😀") and not json_text_greater("😀", "\ue000")
