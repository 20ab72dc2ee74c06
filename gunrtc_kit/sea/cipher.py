"""``encrypt``, ``decrypt`` and ``secret``: AES-GCM under a SHA-256 derived key, and ECDH, as
Gun.js's sea.js (aeskey 518-533, encrypt 535-574, decrypt 576-617, secret 619-671).

The AES key: ``SHA-256(UTF-8(passphrase + latin1(salt)))`` (aeskey 526-528: the salt bytes
become one character each, then the whole text is UTF-8 encoded, so a salt byte >= 0x80
counts twice). The passphrase is the text given, or a pair's ``epriv`` (encrypt 544: a pair
encrypts to itself). Each encryption draws a 9-byte salt and a 15-byte IV (GCM takes any IV
length; 15 is SEA's choice, encrypt 552) and writes ``SEA{"ct":..,"iv":..,"s":..}`` with all
three in base64; ``ct`` holds the ciphertext and the 16-byte tag, as WebCrypto appends it.
Plaintext is the string given, or ``JSON.stringify`` of anything else; decrypt reads it back
with ``TextDecoder`` and ``S.parse``, so the string ``"123"`` decrypts to the number 123, as
in Gun.js.

``secret(epub, pair)`` is ECDH on P-256 between the other side's ``epub`` and our ``epriv``;
Gun.js imports the 32 shared bytes as an AES-256 key and exports its JWK, so the result is
those bytes in base64url without padding (43 characters), the passphrase two users share.

Kept from Gun.js on purpose: when base64 reading or authentication fails, Gun.js tries once
more reading ``s``/``iv``/``ct`` as UTF-16 code units (decrypt 598-603, data from early SEA
versions). GCM authenticates, so this second try cannot let forged data through; it only
costs another hash and AES pass on a wrong key.

Differences from Gun.js: Gun.js turns a pair without ``epriv`` into the passphrase ``"[object
Object]"``; we refuse it. A wrong key gives ``SeaError("Could not decrypt")``, not
``undefined``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea.encoding import (
    atob,
    b64,
    b64url,
    latin1,
    private_key,
    public_key,
    sea_parse,
    sea_text,
    stringify,
    utf8,
)
from gunrtc_kit.sea.keys import PairLike, pair_field

__all__ = ["aes_key", "decrypt", "encrypt", "secret"]

SALT_BYTES = 9  # encrypt 552: shim.random(9)
IV_BYTES = 15  # encrypt 552: shim.random(15)


def _passphrase(key: Any, why: str) -> str:
    if isinstance(key, Mapping):
        return pair_field(key, "epriv", why)
    if not isinstance(key, str):
        raise SeaError(f"{why} needs a passphrase text or a pair, not {type(key).__name__}")
    if not key:
        raise SeaError(f"{why} needs a key: the passphrase is empty")
    return key


def aes_key(passphrase: str, salt_text: str) -> bytes:
    """SEA's ``aeskey``: the 32-byte AES key of a passphrase and a salt (already as text)."""
    return hashlib.sha256(utf8(passphrase + salt_text)).digest()


def encrypt(data: Any, key: str | PairLike) -> str:
    """``SEA{"ct":..,"iv":..,"s":..}``: ``data`` sealed with a passphrase or a pair's ``epriv``.

    Why a fresh salt and IV every time: the same data encrypted twice gives two texts, and no
    (key, IV) pair is ever reused, which GCM needs.

    Raises:
        SeaError: for an empty or missing key, or data JSON cannot hold.
    """
    passphrase = _passphrase(key, "encrypt")
    msg = data if isinstance(data, str) else stringify(data)
    salt, iv = os.urandom(SALT_BYTES), os.urandom(IV_BYTES)
    ct = AESGCM(aes_key(passphrase, latin1(salt))).encrypt(iv, utf8(msg), None)
    return sea_text({"ct": b64(ct), "iv": b64(iv), "s": b64(salt)})


def _units(text: str) -> bytes:
    """``new Uint8Array(SafeBuffer.from(text, 'utf8'))``: each UTF-16 code unit, mod 256."""
    raw = text.encode("utf-16-le", "surrogatepass")
    return raw[0::2]


def _open(passphrase: str, salt_text: str, iv: bytes, ct: bytes) -> bytes | None:
    if not 8 <= len(iv) <= 128 or len(ct) < 16:
        return None
    try:
        return AESGCM(aes_key(passphrase, salt_text)).decrypt(iv, ct, None)
    except (InvalidTag, ValueError):
        return None


def decrypt(data: Any, key: str | PairLike) -> Any:
    """The value sealed in ``data`` (``SEA{...}`` text or its parsed object), read as Gun.js
    reads it (``S.parse`` of the plaintext).

    Raises:
        SeaError: ``Could not decrypt`` for a wrong key or tampered data; a clear text for
            missing fields or a bad key.
    """
    passphrase = _passphrase(key, "decrypt")
    box = sea_parse(data)
    if not isinstance(box, Mapping):
        raise SeaError(f"not encrypted SEA data: {str(data)[:60]!r}")
    fields = {}
    for name in ("ct", "iv", "s"):
        value = box.get(name)
        if not isinstance(value, str):
            raise SeaError(f"encrypted SEA data needs {name!r} as a string")
        fields[name] = value
    plain: bytes | None = None
    try:
        salt = atob(fields["s"], "salt 's'")
        iv = atob(fields["iv"], "iv")
        ct = atob(fields["ct"], "ciphertext 'ct'")
    except SeaError:
        pass
    else:
        plain = _open(passphrase, latin1(salt), iv, ct)
    if plain is None:  # Gun.js's second try, see the module doc
        plain = _open(passphrase, fields["s"], _units(fields["iv"]), _units(fields["ct"]))
    if plain is None:
        raise SeaError("Could not decrypt")
    text = plain.decode("utf-8", "replace")
    if text.startswith("\ufeff"):  # TextDecoder drops a leading byte order mark
        text = text[1:]
    return sea_parse(text)


def secret(epub: str | PairLike, pair: PairLike) -> str:
    """The ECDH key shared by ``pair`` and the owner of ``epub`` (43 characters, base64url).

    Why: both sides compute the same text, ``secret(bob.epub, alice) == secret(alice.epub,
    bob)``, and use it as an ``encrypt`` passphrase for each other.

    Raises:
        SeaError: for a malformed ``epub``, or a pair without a valid ``epub``/``epriv``.
    """
    other = pair_field(epub, "epub", "secret") if isinstance(epub, Mapping) else epub
    theirs = public_key(other, "epub")
    mine = private_key(
        pair_field(pair, "epub", "secret"), pair_field(pair, "epriv", "secret"), "epriv"
    )
    return b64url(mine.exchange(ec.ECDH(), theirs))
