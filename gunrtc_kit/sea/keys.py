"""``pair()``: a SEA key pair, the four texts Gun.js's ``SEA.pair`` makes (sea.js 335-390).

Two P-256 keys: one for ECDSA (``pub``/``priv``), one for ECDH (``epub``/``epriv``); each
public half written ``x.y`` and each private half as the JWK ``d`` (see ``encoding``). Both
kinds are plain P-256 keys in ``cryptography``; SEA keeps them apart, and so do we.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from cryptography.hazmat.primitives.asymmetric import ec

from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea.encoding import b64url, pub_text

__all__ = ["Pair", "PairLike", "pair", "pair_field"]


class Pair(TypedDict):
    """A SEA key pair, field for field what ``SEA.pair()`` resolves to in Gun.js."""

    pub: str
    priv: str
    epub: str
    epriv: str


# what the functions take as a pair: our Pair, or any mapping (a dict read off the wire)
PairLike = Pair | Mapping[str, str]


def _one() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    d = key.private_numbers().private_value.to_bytes(32, "big")
    return pub_text(key.public_key()), b64url(d)


def pair() -> Pair:
    """A fresh SEA key pair (the OS's CSPRNG through ``cryptography``).

    Why the same text as Gun.js: ``pub`` becomes the user's soul (``~pub``) and ``epub`` what
    others use in ``secret``, so a pair made here must work unchanged in Gun.js, and back.
    """
    pub, priv = _one()
    epub, epriv = _one()
    return Pair(pub=pub, priv=priv, epub=epub, epriv=epriv)


def pair_field(keys: Any, name: str, why: str) -> str:
    """``keys[name]`` as a non-empty string, or SeaError that says which field and why."""
    if not isinstance(keys, Mapping):
        raise SeaError(f"{why} needs a key pair (a mapping), not {type(keys).__name__}")
    value = keys.get(name)
    if not isinstance(value, str) or not value:
        raise SeaError(f"{why} needs the pair's {name!r} as a non-empty string")
    return value
