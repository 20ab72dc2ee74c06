"""Ids as Gun makes them: message ids, peer ids and new souls.

gun.js ``String.random`` draws from ``0-9 A-X Z a-z``: the letter ``Y`` is missing from its
alphabet string, and we keep it missing so our ids look native (gun-wire section 4).
"""

from __future__ import annotations

import os
import random

__all__ = ["ALPHABET", "new_soul", "random_id"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXZabcdefghijklmnopqrstuvwxyz"
# gun.js draws ids from Math.random: ids must be unlikely to collide, not unguessable. A
# Mersenne Twister seeded from the OS is ~10x cheaper per id than SystemRandom.
_rng = random.Random()
if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
    os.register_at_fork(after_in_child=_rng.seed)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def random_id(n: int = 9, rng: random.Random | None = None) -> str:
    """``n`` characters of Gun's alphabet (9 for message ids and pids, as gun.js)."""
    if n < 1:
        raise ValueError(f"n={n!r}, expected an int >= 1")
    return "".join((rng or _rng).choices(ALPHABET, k=n))


def _base36(x: float) -> str:
    """JavaScript ``Number#toString(36)`` for a non-negative state, '.' removed."""
    whole = int(x)
    frac = x - whole
    digits = ""
    while True:
        whole, r = divmod(whole, 36)
        digits = _B36[r] + digits
        if not whole:
            break
    out = ""
    for _ in range(10):  # enough fraction digits to keep sub-ms states apart
        if frac <= 0:
            break
        frac *= 36
        d = int(frac)
        out += _B36[d]
        frac -= d
    return digits + out


def new_soul(state: float, rng: random.Random | None = None) -> str:
    """A fresh soul as gun's ``opt.uuid``: the state in base 36 without '.', then 12 random."""
    return _base36(state) + random_id(12, rng)
