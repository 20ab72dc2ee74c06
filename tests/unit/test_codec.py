"""The codec against JavaScript itself.

Every expected text below was printed by Node 20 (``JSON.stringify``, ``String.hash`` from
npm gun 0.2020.1241); js_vectors.json holds more of the same.
"""

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


@pytest.mark.parametrize(
    ("num", "js"),
    [
        (0, "0"),
        (-0.0, "0"),
        (1795544504602.0, "1795544504602"),
        (1795544504602.001, "1795544504602.001"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (123.456, "123.456"),
        (-5e-324, "-5e-324"),
        (2**53 + 1, "9007199254740992"),  # an int past 2**53 rounds as a JS double
        (2**53 + 2, "9007199254740994"),
        (1e300, "1e+300"),
        (0.1 + 0.2, "0.30000000000000004"),
        (float("nan"), "null"),
        (float("inf"), "null"),
        (-float("inf"), "null"),
        (10**400, "null"),  # Infinity to JavaScript
    ],
)
def test_js_number_vectors(num: float, js: str) -> None:
    assert codec.js_number(num) == js


# [python string, JSON.stringify(string) printed by node 20]
NODE_STRINGS = [
    ("plain", '"plain"'),
    ('q"b\\s/', '"q\\"b\\\\s/"'),
    ("\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f", '"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\x7f"'),
    ("\u2028\u2029", '"\u2028\u2029"'),
    ("é漢😀", '"é漢😀"'),
    ("\ud800", '"\\ud800"'),
    ("\udfff", '"\\udfff"'),
    ("a\udc00\ud800b", '"a\\udc00\\ud800b"'),
    ("😀", '"😀"'),
    ("\uffff\ue000", '"\uffff\ue000"'),
    ("</script>", '"</script>"'),
]


@pytest.mark.parametrize(("s", "js"), NODE_STRINGS)
def test_string_escapes_match_node(s: str, js: str) -> None:
    assert codec.dumps(s) == js
    # the wire form parses back to the same string, and prints the same again
    assert codec.dumps(json.loads(js)) == js


def test_a_python_surrogate_pair_is_one_character_to_javascript() -> None:
    assert codec.dumps("\ud83d\ude00") == '"😀"'
    assert codec.dumps("\ud83d\ud83d\ude00") == '"\\ud83d😀"'


# [python value, JSON.stringify(value) printed by node 20]
NODE_VALUES: list[tuple[Any, str]] = [
    (
        {"b": 1, "2": 2, "1": 3, "01": 4, "4294967295": 5, "4294967294": 6},
        '{"1":3,"2":2,"4294967294":6,"b":1,"01":4,"4294967295":5}',
    ),
    (
        {
            "#": "x",
            "put": {"s": {"_": {"#": "s", ">": {"a": 1795544504602.001}}, "a": 1.5e-7}},
            "ok": {"@": 1, "/": 0},
        },
        '{"#":"x","put":{"s":{"_":{"#":"s",">":{"a":1795544504602.001}},"a":1.5e-7}},'
        '"ok":{"@":1,"/":0}}',
    ),
    (
        [0, -0.0, 1e21, 1e20, 1.5e-7, 0.000001, 123.456, -5e-324, 1795544504602.001, 2**53 + 2],
        "[0,0,1e+21,100000000000000000000,1.5e-7,0.000001,123.456,-5e-324,"
        "1795544504602.001,9007199254740994]",
    ),
    ([True, False, None, "", {}, []], '[true,false,null,"",{},[]]'),
    ([float("nan"), float("inf"), -float("inf")], "[null,null,null]"),
    ({"a": {"10": 1, "9": 2, "x": 3}}, '{"a":{"9":2,"10":1,"x":3}}'),
]


@pytest.mark.parametrize(("value", "js"), NODE_VALUES)
def test_dumps_matches_node(value: Any, js: str) -> None:
    assert codec.dumps(value) == js
    assert codec.encode(value) == js


def test_dumps_keeps_insertion_order_and_integral_floats_plain() -> None:
    assert codec.dumps({"b": 1.0, "a": (True, None, 2.5)}) == '{"b":1,"a":[true,null,2.5]}'
    assert codec.dumps({"x": None}) == '{"x":null}'  # None is null, never dropped


def test_dumps_sorted_sorts_by_utf16_units_like_array_sort() -> None:
    assert codec.dumps_sorted({"b": {"d": 1, "c": 2}, "a": 0}) == '{"a":0,"b":{"c":2,"d":1}}'
    # YSON (the Node relay) sorts plainly: "10" < "9" < "_" < "a", no integer hoisting
    assert codec.dumps_sorted({"b": 1, "10": 1, "9": 1, "a": 1, "_": 1}) == (
        '{"10":1,"9":1,"_":1,"a":1,"b":1}'
    )
    # U+FFFF sorts after an astral char in code points, before it in UTF-16 units (JS)
    assert codec.dumps_sorted({"\uffff": 1, "😀": 2}) == '{"😀":2,"\uffff":1}'


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(InvalidDataError):
        codec.dumps({"a": {1, 2}})
    with pytest.raises(InvalidDataError):
        codec.dumps({"a": b"bytes"})


def test_js_keys_hoists_array_indexes_like_object_keys() -> None:
    assert codec.js_keys({"b": 0, "10": 0, "9": 0, "a": 0}) == ["9", "10", "b", "a"]
    assert codec.js_keys({"x": 0, "y": 0}) == ["x", "y"]
    assert codec.js_keys({"-1": 0, "1.5": 0, "0": 0, "٣": 0}) == ["0", "-1", "1.5", "٣"]


def test_js_slice_counts_utf16_units() -> None:
    assert codec.js_slice("abcdefghijkl", 9) == "abcdefghi"
    assert codec.js_slice("😀😀😀😀😀x", 9) == "😀😀😀😀\ud83d"


@pytest.mark.parametrize(("text", "h"), V["hashes"])
def test_string_hash_matches_gun(text: str, h: int) -> None:
    assert codec.string_hash(text) == h


def test_string_hash_wraps_to_int32() -> None:
    assert codec.string_hash("") == 0
    assert codec.string_hash("a" * 100) == -323643840  # node: String.hash('a'.repeat(100))


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
    assert text == (
        '{"app/a":{"_":{"#":"app/a",">":{"x":1795544575604,"y":1795544575604}},"x":1,"y":"two"}}'
    )
    # states parsed from the wire as floats hash the same as ints
    put3 = json.loads(json.dumps(put), parse_int=float)
    assert codec.put_hash(put3)[1] == 1280652190


def test_parse_object_and_batch() -> None:
    assert codec.parse('{"#":"a"}') == ([{"#": "a"}], [])
    msgs, bad = codec.parse('[{"#":"a"},5,{"#":"b"},"x",null,[]]')
    assert [m["#"] for m in msgs] == ["a", "b"]
    assert [str(b) for b in bad] == [
        "batch element 1 is 5, not a message object (4 of 6 elements are not objects)"
    ]
    _, bad = codec.parse("[1" + ",1" * 99_999 + "]")
    assert len(bad) == 1 and "100000 of 100000" in str(bad[0])  # one error, not 100k
    assert codec.parse("[]") == ([], [])
    assert codec.parse(' \r\n\t{"#":"w"}')[0][0]["#"] == "w"  # JSON whitespace is skipped


def test_parse_reads_numbers_as_javascript_does() -> None:
    msg = codec.parse('{"a":1795544504602,"b":12345678901234567890,"c":1e400,"d":-0}')[0][0]
    assert msg["a"] == 1795544504602 and type(msg["a"]) is int
    assert msg["b"] == 12345678901234567000.0 and type(msg["b"]) is float
    assert msg["c"] == float("inf")  # Infinity, as JSON.parse gives; graph checks refuse it
    assert codec.dumps(msg) == '{"a":1795544504602,"b":12345678901234567000,"c":null,"d":0}'


@pytest.mark.parametrize("text", ["{bad", '{"a": NaN}', '{"a":Infinity}', "[1,]", '{"a":1}x'])
def test_parse_bad_json_has_guns_text(text: str) -> None:
    with pytest.raises(InvalidDataError, match=r"^DAM JSON parse error\.$"):
        codec.parse(text)


@pytest.mark.parametrize("text", ["5", '"x"', "null", "", "   ", "\u00a0{}", "true"])
def test_parse_refuses_frames_that_are_not_objects(text: str) -> None:
    with pytest.raises(InvalidDataError, match="frame"):
        codec.parse(text)


def test_parse_limits() -> None:
    with pytest.raises(LimitError, match=r"^Message too big!$"):
        codec.parse('{"a":"' + "x" * 100 + '"}', max_size=50)
    assert codec.parse('{"a":"' + "x" * 42 + '"}', max_size=50)[0]  # exactly 50 is fine
    with pytest.raises(InvalidDataError):
        codec.parse("[" * 100_000)
    assert codec.MAX_FRAME == 90_000_000 and codec.PACK == 9_000 and codec.PUFF == 9


def test_parse_refuses_bytes() -> None:
    with pytest.raises(InvalidDataError):
        codec.parse(b'{"a":1}')  # type: ignore[arg-type]


def test_batch_helper() -> None:
    assert codec.encode_batch(['{"a":1}', '{"b":2}']) == '[{"a":1},{"b":2}]'
    assert codec.encode_batch([]) == "[]"
