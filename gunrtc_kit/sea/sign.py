"""``sign`` and ``verify``: ECDSA P-256 over SHA-256, as Gun.js's sea.js (sign 399-435,
verify 444-479, sha256 257-264).

What is signed: ``m = S.parse(data)`` (a string that is JSON becomes its value), and the
signature is over ``SHA-256(text)``, where ``text`` is ``m`` itself when ``m`` is a string and
SEA's stringify of ``m`` otherwise (keys sorted, as gun's YSON on Node; ``verify`` also
takes a signature over the ``JSON.stringify`` order a browser build hashes: see
``encoding``). WebCrypto's ECDSA then hashes that digest once more with
SHA-256, so the curve signs ``SHA-256(SHA-256(text))``; we hand ``cryptography`` the same
digest with ``ECDSA(SHA256())`` to get the same thing. The signature travels in WebCrypto's
raw form, ``r || s`` (64 bytes), base64: ``SEA{"m":<m>,"s":"<base64>"}``.

What ``verify`` returns is ``S.parse(m)``, as Gun.js's, and it raises ``SeaError`` where Gun.js
resolves ``undefined``.

Differences from Gun.js, on purpose:

* No ``fall_verify`` (verify 490-514). On a mismatch Gun.js retries with the "old bad buggy"
  hash, ``SHA-256(String(S.parse(m)))``: for any object ``m`` that is ``SHA-256("[object
  Object]")``, so one signature over that string would verify for every object message of
  that key; and it retries the signature read as UTF-16 code units. Both exist for data from
  SEA versions older than this one; every signature this Gun.js makes passes the normal path,
  which is the only one we take.
* Gun.js, like WebCrypto, accepts a high-S signature as well as its low-S twin (ECDSA
  malleability); so do we. A signature is not a unique id of a message: never key on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea.encoding import (
    atob,
    b64,
    private_key,
    public_key,
    sea_parse,
    sea_text,
    stringify,
    stringify_js,
    truthy,
    utf8,
)
from gunrtc_kit.sea.keys import PairLike, pair_field

__all__ = ["digest_of", "sign", "sign_raw", "verify"]

_ECDSA = ec.ECDSA(hashes.SHA256())
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 order


def digest_of(m: Any) -> bytes:
    """SEA's ``sha256(m)`` on Node: SHA-256 of ``m`` if a string, else of its sorted JSON."""
    return hashlib.sha256(utf8(m if isinstance(m, str) else stringify(m))).digest()


def _digests(m: Any) -> list[bytes]:
    """What a Gun.js signer may have hashed for ``m``: Node's sorted text, a browser's order."""
    first = digest_of(m)
    if isinstance(m, str):
        return [first]
    other = hashlib.sha256(utf8(stringify_js(m))).digest()
    return [first] if other == first else [first, other]


def _check(signed: Mapping[str, Any], key: ec.EllipticCurvePublicKey) -> Any:
    """The parsed ``m`` of ``signed`` if its ``s`` is ``key``'s signature, else SeaError."""
    if "m" not in signed:
        raise SeaError("signed SEA data has no 'm' (message)")
    sig = atob(signed.get("s"), "signature 's'")
    if len(sig) != 64:
        raise SeaError(f"signature 's' must be 64 bytes (r || s), got {len(sig)}")
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < _N and 0 < s < _N):
        raise SeaError("Signature did not match.")
    der = encode_dss_signature(r, s)
    for digest in _digests(signed["m"]):
        try:
            key.verify(der, digest, _ECDSA)
        except InvalidSignature:
            continue
        return sea_parse(signed["m"])
    raise SeaError("Signature did not match.")


def _pub_of(pub: Any) -> str:
    if isinstance(pub, Mapping):
        return pair_field(pub, "pub", "verify")
    if not isinstance(pub, str):
        raise SeaError(f"verify needs a pub text or a pair, not {type(pub).__name__}")
    return pub


def verify(signed: Any, pub: str | PairLike) -> Any:
    """The message of ``signed`` (``SEA{...}`` text or its parsed object) if ``pub`` signed it.

    Why it raises: Gun.js resolves ``undefined`` on a bad signature and callers must remember
    to compare; a ``SeaError`` cannot be mistaken for a message (``None`` is a valid one).

    Raises:
        SeaError: for a signature that does not match, or anything that is not signed data.
    """
    key = public_key(_pub_of(pub))
    data = sea_parse(signed)
    if not isinstance(data, Mapping):
        raise SeaError(f"not signed SEA data: {str(signed)[:60]!r}")
    return _check(data, key)


def sign_raw(data: Any, pair: PairLike) -> dict[str, Any]:
    """``SEA.sign(data, pair, null, {raw: 1})``: the ``{"m": .., "s": ..}`` object, no text.

    Raises:
        SeaError: as ``sign``.
    """
    pub = pair_field(pair, "pub", "sign")
    key = private_key(pub, pair_field(pair, "priv", "sign"))
    m = sea_parse(data)
    if isinstance(m, Mapping) and truthy(m.get("s")) and truthy(m.get("m")):
        try:
            _check(m, key.public_key())
        except SeaError:
            pass
        else:
            return dict(m)
    der = key.sign(digest_of(m), _ECDSA)
    r, s = decode_dss_signature(der)
    return {"m": m, "s": b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}


def sign(data: Any, pair: PairLike) -> str:
    """``SEA{"m":...,"s":...}``: ``data`` signed with ``pair`` (its ``pub`` and ``priv``).

    As Gun.js: data already signed by this very pair comes back as it is (re-encoded) rather
    than signed twice (sign 406-415); a string of JSON is signed as the value it holds.

    Raises:
        SeaError: for a pair without a valid ``pub``/``priv``, or data JSON cannot hold.
    """
    return sea_text(sign_raw(data, pair))
