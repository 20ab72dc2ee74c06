"""The parser's contract, fuzzed: any text gives messages or InvalidDataError/LimitError.

And ``dumps`` against Node on many random values at once (interop: needs node).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gunrtc_kit.core import codec
from gunrtc_kit.errors import InvalidDataError, LimitError
from tests.interop.gunjs import NODE

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
@settings(max_examples=500)
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        msgs, bad = codec.parse(text, max_size=200)
    except (InvalidDataError, LimitError):
        return
    assert all(isinstance(m, dict) for m in msgs)
    assert all(isinstance(b, InvalidDataError) for b in bad)


@given(st.one_of(st.text(alphabet='{}[]",:0123456789.eE+-tfnrul \\', max_size=40), st.text()))
@settings(max_examples=500)
def test_parse_near_json_never_raises_anything_else(text: str) -> None:
    for frame in (text, "{" + text, "[" + text, '{"a":' + text + "}"):
        try:
            codec.parse(frame)
        except (InvalidDataError, LimitError):
            pass


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
    assert codec.dumps(back) == text  # printing is stable through a parse


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**53, 1795544504602, rng.randrange(-(10**6), 10**6)])
    if kind == 2:
        mag = 10.0 ** rng.randrange(-330, 309)
        return rng.choice([rng.random() * mag, -rng.random() * mag, 1795544504602 + rng.random()])
    if kind in (3, 4):
        pool = ["a", "0", "9", "10", "é", "😀", "\u2028", "\x00", "\x1f", '"', "\\", "/", "\ud800"]
        pool += ["\udc00", "\uffff", "\ue000", " "]
        return "".join(rng.choice(pool) for _ in range(rng.randrange(6)))
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [str(_random_value(rng, 3)) for _ in range(rng.randrange(5))]
    keys += [rng.choice(["1", "42", "007", "4294967294", "4294967295", "-3", "x"])]
    return {k: _random_value(rng, depth + 1) for k in keys}


@pytest.mark.interop
def test_dumps_matches_node_on_random_values() -> None:
    if NODE is None:
        pytest.fail("node is not installed; scripts/setup installs it")
    values = [_random_value(random.Random(seed)) for seed in range(400)]
    # the values reach node as JSON text with every non-ASCII char escaped, so lone
    # surrogates survive the pipe; node prints JSON.stringify of each parsed value
    script = (
        "let d='';process.stdin.on('data',c=>d+=c).on('end',()=>"
        "console.log(JSON.stringify(JSON.parse(d).map(v=>JSON.stringify(v)))))"
    )
    payload = json.dumps(values, ensure_ascii=True)
    out = subprocess.run(
        [NODE, "-e", script], input=payload, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    expected = json.loads(out)
    for value, js in zip(values, expected, strict=True):
        assert codec.dumps(json.loads(json.dumps(value))) == js, value
