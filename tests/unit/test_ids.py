"""Ids and souls as gun makes them (expected base-36 texts printed by node 20)."""

from __future__ import annotations

import random

import pytest

from gunrtc_kit.core.ids import ALPHABET, js_radix36, new_soul, random_id


def test_alphabet_is_guns_without_y() -> None:
    assert ALPHABET == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXZabcdefghijklmnopqrstuvwxyz"
    assert "Y" not in ALPHABET and len(ALPHABET) == len(set(ALPHABET)) == 61


def test_random_id_draws_from_the_alphabet_with_an_injected_rng() -> None:
    rng = random.Random(1)
    ids = [random_id(9, rng) for _ in range(3000)]
    assert len(set(ids)) == 3000
    assert all(len(i) == 9 and set(i) <= set(ALPHABET) for i in ids)
    assert set("".join(ids)) == set(ALPHABET)  # every letter shows up, 'Y' never
    assert random_id(9, random.Random(7)) == random_id(9, random.Random(7))
    assert len(random_id()) == 9 and len(random_id(24)) == 24


def test_random_id_refuses_a_useless_length() -> None:
    with pytest.raises(ValueError, match="n=0"):
        random_id(0)


@pytest.mark.parametrize(
    ("x", "js"),
    [
        (1795544504602.5, "mwv0u6my.i"),
        (1795544504602.001, "mwv0u6my.01a"),
        (1795544504602, "mwv0u6my"),
        (0.5, "0.i"),
        (1795544504602.123, "mwv0u6my.4fh"),
        (123.456, "3f.gez4w97ry"),
        (1 / 3, "0.c"),
        (1e21, "5v1j4f4ds7c000"),
        (-7.25, "-7.9"),
        (0, "0"),
    ],
)
def test_radix36_matches_v8(x: float, js: str) -> None:
    assert js_radix36(x) == js


def test_new_soul_is_state_in_base36_without_the_point_then_12_random() -> None:
    soul = new_soul(1795544504602.001, random.Random(3))
    assert soul.startswith("mwv0u6my01a") and len(soul) == len("mwv0u6my01a") + 12
    assert set(soul[-12:]) <= set(ALPHABET)
    assert new_soul(1795544504602, random.Random(3))[:8] == "mwv0u6my"
    assert new_soul(1.0) != new_soul(1.0)


def test_the_default_message_id_uses_every_letter_in_every_position() -> None:
    # the 9-letter default is drawn from one 58-bit number (not ``choices``): each position
    # must still range over the whole alphabet, and ids must not repeat
    ids = [random_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    for pos in range(9):
        letters = {i[pos] for i in ids}
        assert letters == set(ALPHABET), f"position {pos} misses {set(ALPHABET) - letters}"
