"""``work``: SEA's proof of work, PBKDF2 or a plain SHA digest (sea.js work 276-316).

Two modes, chosen by ``name`` as Gun.js does (``'sha' === name.toLowerCase().slice(0,3)``):

* SHA (``name="SHA-256"``, also SHA-1/384/512): the digest of the data, salt ignored. Gun uses
  it for content-addressed souls (``#`` souls, sea.js 1357-1369).
* PBKDF2 (the default): HMAC-SHA-256, 100000 iterations, 512 bits (settings 216), over the
  UTF-8 data with the UTF-8 salt. This is how a password is stretched before it unlocks a
  user's keys (create 897, auth 1005), so the numbers must be Gun's to the bit.

The data is the string given or ``JSON.stringify`` of anything else. The salt is a text; a
pair means its ``epub`` (work 283, "not recommended"); no salt (or a falsy one, as Gun.js's
``salt || random``) draws 9 random bytes, each becoming one character before the UTF-8 step
(``TextEncoder.encode`` of a ``SeaArray``). ``encode`` is ``base64`` (default), ``hex`` or
``utf8`` (one character per byte), the three ``SeaArray.toString`` knows; any other name makes
Gun.js return ``undefined``, and us raise.

Differences from Gun.js: a salt that is a mapping without ``epub``, or some other object,
would be the text ``"[object Object]"`` in Gun.js; we refuse it. Bytes are taken as a salt,
one character per byte, which is what Gun.js does with its own random salt.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from gunrtc_kit.core.codec import js_number
from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea.encoding import b64, latin1, stringify, truthy, utf8

__all__ = ["ITERATIONS", "KEY_BITS", "work"]

ITERATIONS = 100_000  # settings 216: s.pbkdf2.iter
KEY_BITS = 512  # settings 216: s.pbkdf2.ks * 8
MAX_ITERATIONS = 10_000_000  # a bound on the CPU a single call may take
MAX_BITS = 8 * 1024

_DIGESTS: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "SHA-1": ("sha1", hashes.SHA1),
    "SHA-256": ("sha256", hashes.SHA256),
    "SHA-384": ("sha384", hashes.SHA384),
    "SHA-512": ("sha512", hashes.SHA512),
}


def _digest(name: Any, what: str) -> tuple[str, type[hashes.HashAlgorithm]]:
    if isinstance(name, Mapping):  # WebCrypto's {name: 'SHA-256'}
        name = name.get("name")
    if not isinstance(name, str) or name.upper() not in _DIGESTS:
        raise SeaError(f"{what} must be one of {', '.join(_DIGESTS)}, not {name!r}")
    return _DIGESTS[name.upper()]


def _encode(raw: bytes, encode: str) -> str:
    enc = encode or "base64"
    if enc == "base64":
        return b64(raw)
    if enc == "hex":
        return raw.hex()
    if enc == "utf8":
        return latin1(raw)
    raise SeaError(f"encode must be 'base64', 'hex' or 'utf8' (as SEA's SeaArray), not {enc!r}")


def _salt_text(salt: Any) -> str:
    if isinstance(salt, Mapping):
        epub = salt.get("epub")
        if not truthy(epub):
            raise SeaError("a pair given as salt needs its 'epub'")
        salt = epub
    if not truthy(salt):
        return latin1(os.urandom(9))  # work 295: salt || shim.random(9)
    if isinstance(salt, str):
        return salt
    if isinstance(salt, bytes | bytearray):
        return latin1(bytes(salt))
    if isinstance(salt, bool):
        return "true"
    if isinstance(salt, int | float):
        return js_number(salt)  # TextEncoder.encode(5) encodes "5"
    raise SeaError(f"salt must be text, bytes, a number or a pair, not {type(salt).__name__}")


def work(
    data: Any,
    salt: Any = None,
    *,
    name: str = "PBKDF2",
    iterations: int | None = None,
    length: int | None = None,
    encode: str = "base64",
    hash: str | None = None,  # noqa: A002 - SEA.work's option name
) -> str:
    """PBKDF2 (default) or SHA digest of ``data``, encoded as SEA.work's ``opt.encode``.

    Why the same options as Gun.js's ``opt``: a proof made here must equal the one Gun.js makes
    from the same password and salt, or a user created on one side cannot log in on the other.
    ``length`` is in bits, as WebCrypto's ``deriveBits``; 0 or None mean Gun's defaults.

    Raises:
        SeaError: for an unknown mode, digest or encoding, a length that is not a positive
            multiple of 8, an iteration count out of range, or a salt that is no text.
    """
    if not isinstance(name, str):
        raise SeaError(f"name must be 'PBKDF2' or a SHA name, not {type(name).__name__}")
    text = data if isinstance(data, str) else stringify(data)
    if name.lower().startswith("sha"):
        algo, _ = _digest(name, "name")
        return _encode(hashlib.new(algo, utf8(text)).digest(), encode)
    if name.upper() != "PBKDF2":
        raise SeaError(f"name must be 'PBKDF2' or a SHA name (SHA-256...), not {name!r}")
    _, prf = _digest(hash or "SHA-256", "hash")
    iters = iterations or ITERATIONS
    if isinstance(iters, bool) or not isinstance(iters, int) or not 0 < iters <= MAX_ITERATIONS:
        raise SeaError(f"iterations must be an int in 1..{MAX_ITERATIONS}, not {iterations!r}")
    bits = length or KEY_BITS
    if isinstance(bits, bool) or not isinstance(bits, int) or bits % 8 or not 0 < bits <= MAX_BITS:
        raise SeaError(f"length must be a multiple of 8 bits in 8..{MAX_BITS}, not {length!r}")
    _encode(b"", encode)  # refuse a bad encoding before the slow part
    kdf = PBKDF2HMAC(
        algorithm=prf(), length=bits // 8, salt=utf8(_salt_text(salt)), iterations=iters
    )
    return _encode(kdf.derive(utf8(text)), encode)
