"""HAM decisions, including Gun's equal-state rule on JSON text."""

from __future__ import annotations

import pytest

from gunrtc_kit.core.ham import Decision, ham

NOW = 1_000.0


@pytest.mark.parametrize(
    ("state", "value", "cur_state", "cur_value", "expected"),
    [
        (NOW + 1, "x", None, None, Decision.DEFER),  # future: wait for our clock
        (5, "x", None, None, Decision.ACCEPT),  # unknown key
        (5, "x", 6, "y", Decision.HISTORICAL),
        (7, "x", 6, "y", Decision.ACCEPT),
        (6, "y", 6, "x", Decision.ACCEPT),  # "y" > "x"
        (6, "x", 6, "y", Decision.EQUAL),
        (6, "x", 6, "x", Decision.EQUAL),
        (6, 9, 6, 10, Decision.ACCEPT),  # "9" > "10": the JSON text decides
        (6, 10, 6, 9, Decision.EQUAL),
        (6, 5, 6, "zzz", Decision.ACCEPT),  # any number beats any string
        (6, True, 6, None, Decision.ACCEPT),
        (6, {"#": "a"}, 6, 99, Decision.ACCEPT),  # a link beats numbers
        (6, None, 6, True, Decision.EQUAL),
    ],
)
def test_ham(
    state: float, value: object, cur_state: float | None, cur_value: object, expected: Decision
) -> None:
    assert ham(NOW, state, value, cur_state, cur_value) is expected
