"""Ids as Gun makes them: message ids, peer ids and new souls.

gun.js ``String.random`` draws from ``0-9 A-X Z a-z``: the letter ``Y`` is missing from its
alphabet string, and we keep it missing so our ids look native (gun-wire section 4).
"""

from __future__ import annotations

import math
import os
import random

__all__ = ["ALPHABET", "js_radix36", "new_soul", "random_id"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXZabcdefghijklmnopqrstuvwxyz"
# gun.js draws ids from Math.random: ids must be unlikely to collide, not unguessable. A
# Mersenne Twister seeded from the OS is ~10x cheaper per id than SystemRandom.
_rng = random.Random()
if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
    os.register_at_fork(after_in_child=_rng.seed)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]  # 61**2 = 3721 two-letter pieces


def random_id(n: int = 9, rng: random.Random | None = None) -> str:
    """``n`` characters of Gun's alphabet (9 for message ids and pids, as gun.js)."""
    if n == 9 and rng is None:
        # every message and put draws one, so it is one 58-bit draw split into four letter
        # pairs and a letter rather than nine choices. 61**9 < 2**58; the pairs are uniform
        # to 1 part in 10**13 and the last letter to 4% (some letters are 25/24 likelier):
        # ids need only be unlikely to collide, as Math.random's are
        x = _rng.getrandbits(58)
        x, a = divmod(x, 3721)
        x, b = divmod(x, 3721)
        x, c = divmod(x, 3721)
        x, d = divmod(x, 3721)
        return _PAIRS[a] + _PAIRS[b] + _PAIRS[c] + _PAIRS[d] + ALPHABET[x % 61]
    if n < 1:
        raise ValueError(f"n={n!r}, expected an int >= 1")
    return "".join((rng or _rng).choices(ALPHABET, k=n))


def js_radix36(x: float) -> str:
    """JavaScript ``Number#toString(36)``, digit for digit as V8 prints it.

    V8 (``DoubleToRadixCString``) writes fraction digits only down to the double's own
    precision (half the gap to the next double), rounding the last one half-to-even.
    """
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    x = abs(x)
    integer = float(math.floor(x))
    fraction = x - integer
    delta = max(0.5 * (math.nextafter(x, math.inf) - x), math.nextafter(0.0, 1.0))
    frac: list[int] = []
    if fraction >= delta:
        while True:
            fraction *= 36
            delta *= 36
            digit = int(fraction)
            frac.append(digit)
            fraction -= digit
            if (fraction > 0.5 or (fraction == 0.5 and digit & 1)) and fraction + delta > 1:
                while True:  # round up, carrying through 'z's
                    if not frac:
                        integer += 1
                        break
                    last = frac.pop()
                    if last + 1 < 36:
                        frac.append(last + 1)
                        break
                break
            if fraction < delta:
                break
    zeros = 0
    while integer / 36 >= 2**53:  # digits below the double's precision print as 0 (V8)
        integer /= 36
        zeros += 1
    digits = ""
    while True:
        r = math.fmod(integer, 36)
        digits = _B36[int(r)] + digits
        integer = (integer - r) / 36
        if integer <= 0:
            break
    digits += "0" * zeros
    if frac:
        digits += "." + "".join(_B36[d] for d in frac)
    return sign + digits


def new_soul(state: float, rng: random.Random | None = None) -> str:
    """A fresh soul as gun's ``opt.uuid``: the state in base 36 without '.', then 12 random."""
    return js_radix36(state).replace(".", "", 1) + random_id(12, rng)
