"""``codec.string_hash`` on long texts, against Gun.js itself.

The expected numbers were printed by Node 20 with npm gun 0.2020.1241 (``String.hash`` of the
same strings, built by the same formulas in JavaScript). Long texts take the block path
(``codec._hash_wide``), short ones the plain loop: both must give Gun's number."""

from __future__ import annotations

import random
from array import array

import pytest

from gunrtc_kit.core import codec


def _units(n: int, f: object) -> str:
    assert callable(f)
    return "".join(chr(f(i)) for i in range(n))


GUN_JS = [
    ("ascii_2048", _units(2048, lambda i: 32 + (i * 7) % 95), -1331525077),
    ("ascii_100003", _units(100_003, lambda i: 32 + (i * 13 + (i >> 3)) % 95), -419433002),
    (
        "units_5000",
        _units(5000, lambda i: ((i * 2654435761) % 2**32 >> 7) % 65536),
        1198599189,
    ),
    ("units_300001", _units(300_001, lambda i: (i * 40503 + 17) % 65536), 1784501921),
    ("a_1048576", "a" * 1_048_576, -2130706432),
]


@pytest.mark.parametrize(("name", "text", "h"), GUN_JS, ids=[c[0] for c in GUN_JS])
def test_long_texts_hash_as_gun_js_does(name: str, text: str, h: int) -> None:
    assert codec.string_hash(text) == h


def _plain(s: str) -> int:
    """The definition, one code unit at a time."""
    units = array("H", s.encode("utf-16-le", "surrogatepass"))
    h = 0
    for u in units:
        h = (h * 31 + u) & 0xFFFFFFFF
    return h - 2**32 if h >= 2**31 else h


@pytest.mark.parametrize("n", [0, 1, 2047, 2048, 2049, 4095, 4096, 4097, 70_001])
def test_the_block_path_agrees_with_the_definition_at_every_edge(n: int) -> None:
    rng = random.Random(n)
    ascii_text = "".join(chr(rng.randrange(128)) for _ in range(n))
    wide = "".join(chr(rng.choice([rng.randrange(65536), 0xFFFF, 0xD800])) for _ in range(n))
    astral = "😀" * (n // 2) + "x" * (n % 2)
    for s in (ascii_text, wide, astral):
        assert codec.string_hash(s) == _plain(s)


def test_put_hash_of_a_big_value_is_the_hash_of_its_sorted_text() -> None:
    put = {"big": {"_": {"#": "big", ">": {"v": 1}}, "v": "é" * 300_000 + "z" * 5}}
    text, h = codec.put_hash(put)
    assert h == _plain(text)


def test_a_big_texts_hash_is_kept_and_told_apart_from_another_of_its_length() -> None:
    value = "v" * codec._BIG_TEXT
    put = {"big": {"_": {"#": "big", ">": {"v": 1}}, "v": value}}
    other = {"big": {"_": {"#": "big", ">": {"v": 1}}, "v": value[:-1] + "w"}}
    text, h = codec.put_hash(put)
    assert h == _plain(text)
    assert codec.put_hash(put) == (text, h)  # the kept hash, the same number
    text2, h2 = codec.put_hash(other)
    assert len(text2) == len(text) and h2 == _plain(text2) != h
