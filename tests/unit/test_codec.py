"""The codec against JavaScript itself: js_vectors.json was printed by Node 20's JSON.stringify
(the generator is the node one-liner in the file's docstring-free history: JSON.stringify of
each value, String.hash of each string)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit.core import codec
from gunrtc_kit.core.ham import json_text_greater
from gunrtc_kit.errors import InvalidDataError, LimitError

V = json.loads((Path(__file__).parent / "js_vectors.json").read_text())


def from_units(units: list[int]) -> str:
    return b"".join(struct.pack(">H", u) for u in units).decode("utf-16-be", "surrogatepass")


@pytest.mark.parametrize(("units", "js"), V["strs"])
def test_strings_escape_like_javascript(units: list[int], js: str) -> None:
    assert codec.dumps(from_units(units)) == js


@pytest.mark.parametrize(("num", "js"), V["nums"])
def test_numbers_print_like_javascript(num: float, js: str) -> None:
    assert codec.js_number(num) == js
    assert codec.js_number(float(num)) == js


@pytest.mark.parametrize(("text", "h"), V["hashes"])
def test_string_hash_matches_gun(text: str, h: int) -> None:
    assert codec.string_hash(text) == h


@pytest.mark.parametrize(("a", "b", "greater"), V["cmp"])
def test_json_text_order_matches_javascript(a: Any, b: Any, greater: bool) -> None:
    assert json_text_greater(a, b) is greater


def test_put_hash_vectors_captured_from_npm_gun() -> None:
    put = {"test/soul": {"_": {"#": "test/soul", ">": {"hello": 1795544504602}}, "hello": "world"}}
    assert codec.put_hash(put)[1] == 1280652190
    put2 = {
        "app/a": {
            "y": "two",
            "x": 1,
            "_": {">": {"y": 1795544575604, "x": 1795544575604}, "#": "app/a"},
        }
    }
    text, h = codec.put_hash(put2)
    assert h == 780415227
    assert text.startswith('{"app/a":{"_":{"#":"app/a",">":{"x":')


def test_dumps_keeps_insertion_order_and_integral_floats_plain() -> None:
    assert codec.dumps({"b": 1.0, "a": [True, None, 2.5]}) == '{"b":1,"a":[true,null,2.5]}'
    assert codec.dumps_sorted({"b": {"d": 1, "c": 2}, "a": 0}) == '{"a":0,"b":{"c":2,"d":1}}'


def test_parse_object_batch_and_errors() -> None:
    assert codec.parse('{"#":"a"}') == ([{"#": "a"}], [])
    msgs, bad = codec.parse('[{"#":"a"},5,{"#":"b"},"x"]')
    assert [m["#"] for m in msgs] == ["a", "b"] and len(bad) == 2
    assert codec.parse("[]") == ([], [])
    assert codec.parse('  {"#":"w"}')[0][0]["#"] == "w"
    for text in ["{bad", "5", '"x"', "null", "", '{"a": NaN}']:
        with pytest.raises(InvalidDataError, match="DAM JSON parse error."):
            codec.parse(text)
    with pytest.raises(LimitError, match="Message too big!"):
        codec.parse('{"a":"' + "x" * 100 + '"}', max_size=50)


def test_batch_helper() -> None:
    assert codec.encode_batch(['{"a":1}', '{"b":2}']) == '[{"a":1},{"b":2}]'
