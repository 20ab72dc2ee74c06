"""The parser's contract, fuzzed: any text gives messages or InvalidDataError/LimitError."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gunrtc_kit.core import codec
from gunrtc_kit.errors import InvalidDataError, LimitError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


@given(st.text())
@settings(max_examples=300)
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        msgs, bad = codec.parse(text, max_size=200)
    except (InvalidDataError, LimitError):
        return
    assert all(isinstance(m, dict) for m in msgs)
    assert all(isinstance(b, InvalidDataError) for b in bad)


@given(json_values)
@settings(max_examples=300)
def test_dumps_is_valid_json_that_round_trips(value: Any) -> None:
    text = codec.dumps(value)
    back = json.loads(text)

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return math.isclose(float(a), float(b), rel_tol=0, abs_tol=0) or a == b
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return bool(a == b)

    assert same(value, back)
