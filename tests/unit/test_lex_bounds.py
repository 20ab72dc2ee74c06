"""``lex_bounds``: the ranges a store reads for a lex GET hold every name the GET matches,
whatever the characters (UTF-16 order, gun's, and code point order, SQLite's, differ past
U+FFFF; a lone surrogate cannot be a TEXT bound)."""

from __future__ import annotations

import random

from gunrtc_kit.core.graph import _query_match, lex_bounds

ALPHABET = ["", "a", "b", "z", "\x00", "\u00e9", "\ud7ff", "\ud800", "\udfff", "\ue000"]
ALPHABET += ["\uffff", "\U00010000", "\U0010ffff"]


def name(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(4)))


def lex(rng: random.Random) -> object:
    kinds = ["=", "*", ">", "<", "-"]
    if rng.random() < 0.1:
        return name(rng)
    out: dict[str, object] = {}
    for k in rng.sample(kinds, rng.randrange(1, 4)):
        out[k] = rng.choice([name(rng), name(rng), None, 1, ""])
    return out


def inside(n: str, ranges: list[tuple[str | None, str | None]]) -> bool:
    return any((lo is None or n >= lo) and (hi is None or n < hi) for lo, hi in ranges)


def test_every_match_lies_in_a_range() -> None:
    rng = random.Random(22)
    names = {name(rng) for _ in range(400)}
    for _ in range(3000):
        q = lex(rng)
        ranges = lex_bounds(q)
        for n in names:
            if _query_match(n, q):
                assert inside(n, ranges), (n, q, ranges)
        for lo, hi in ranges:  # bounds a SQLite TEXT parameter can hold
            for b in (lo, hi):
                assert b is None or not any("\ud800" <= c <= "\udfff" for c in b), (q, b)


def test_common_lexes_read_narrow_ranges() -> None:
    assert lex_bounds({"*": "s01"}) == [("s01", "s02")]
    assert lex_bounds("x") == [("x", "x\x00")]
    assert lex_bounds({"*": ""}) == [("", None)]
    assert lex_bounds({"=": 1}) == []
