"""The text forms SEA uses, read and written as Gun.js's sea.js does (npm gun 0.2020.1241).

Why a module of its own: every SEA result is text that another peer re-reads, hashes or signs,
so one wrong byte (a ``1.0`` where JavaScript writes ``1``, a padded base64url coordinate, a
key order) makes a signature fail on the other side. All of that is decided here.

The facts, with their place in ``node_modules/gun/sea.js``:

* ``SEA{...}`` text is ``'SEA' + JSON.stringify(obj)`` (sign 411/422, encrypt 561, certify
  733). Reading goes through ``S.parse`` (settings 245-251): a string that starts with
  ``SEA{`` loses its ``SEA`` and is ``JSON.parse``d; any other string is ``JSON.parse``d too
  (so ``"123"`` reads as the number 123); when parsing fails the string comes back as it is
  (minus the ``SEA`` prefix, a quirk kept); a non-string comes back untouched, which is why
  verify and decrypt take the text or the already-parsed object alike. ``sea_parse`` does
  exactly that.
* Binary fields (``s`` signatures, ``ct``/``iv``/``s`` of ciphertexts, ``work`` output) are
  standard base64 with padding, written by ``btoa`` (array 78) and read by ``atob``
  (buffer 120), which is WHATWG "forgiving-base64": ASCII whitespace ignored, padding
  optional, ``-``/``_`` refused. ``b64`` / ``atob`` are those two.
* Keys are JWK coordinates: base64url without padding, 32 bytes each (P-256). ``pub`` and
  ``epub`` are ``x + '.' + y`` (pair 347, 366; read back by ``S.jwk`` 224-230 and
  ``keysToEcdhJwk`` 656-669); ``priv`` and ``epriv`` are the JWK ``d``. We read them
  strictly (exactly 43 characters of the base64url alphabet, a point on the curve, a ``d``
  that belongs to its ``pub``), where WebCrypto would accept some sloppier spellings: a key
  text Gun.js itself made always passes.
* Hashing a text goes through ``TextEncoder`` (sha256 259-263), i.e. UTF-8 with a lone
  surrogate written as U+FFFD: ``utf8``.
* The JSON text SEA hashes and writes is ``shim.stringify`` (shim 176-178), which calls
  ``JSON.stringifyAsync``; on Node that is gun's YSON (lib/yson.js 200, loaded by
  ``require('gun')``), and YSON writes object keys *sorted* by UTF-16 code units at every level
  (``Object.keys(data).sort()``), where ``JSON.stringify`` puts integer-like keys first and the
  rest in insertion order. So on Node ``sign({b:1,a:2})`` hashes ``{"a":2,"b":1}``; a browser
  build without YSON hashes ``{"b":1,"a":2}``. We follow npm gun on Node (our reference and the
  relays we talk to): ``stringify`` is ``core.codec.dumps_sorted``. ``verify`` accepts either
  text of the same ``m`` (both are that value's JSON), so browser signatures pass too. Certify
  writes its data and its outer text with plain ``JSON.stringify`` (certify 721, 733):
  ``stringify_js`` (``core.codec.dumps``). Puts are unaffected: ``#``, ``.``, ``:``, ``>`` are
  already in sorted order.
* ``parse_json`` is ``JSON.parse`` (doubles for big integers, no ``NaN``/``Infinity``). On Node,
  SEA parses with YSON too, which is lenient with malformed text (``'{"a":1} tail'`` reads as
  ``{"a":1}``, ``'{not json'`` as ``{}``); we keep ``JSON.parse``'s strictness (as Gun.js in a
  browser): malformed text stays text, so trailing junk never rides along a valid signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gunrtc_kit.core.codec import dumps, dumps_sorted
from gunrtc_kit.errors import GunError, SeaError

__all__ = [
    "atob",
    "b64",
    "b64url",
    "coordinate",
    "is_sea",
    "latin1",
    "parse_json",
    "private_key",
    "pub_of_soul",
    "pub_text",
    "public_key",
    "sea_parse",
    "sea_text",
    "stringify",
    "stringify_js",
    "truthy",
    "utf8",
]

_B64 = re.compile(r"[A-Za-z0-9+/]*")
_COORD = re.compile(r"[A-Za-z0-9_-]{43}")
_WHITESPACE = str.maketrans("", "", "\t\n\f\r ")
_CURVE = ec.SECP256R1()
MAX_TEXT = 50_000_000  # no SEA text this long is legitimate; refuse it before any work


def b64(data: bytes) -> str:
    """Standard base64 with padding, as ``btoa`` writes SEA's binary fields."""
    return base64.b64encode(data).decode("ascii")


def atob(text: Any, what: str = "field") -> bytes:
    """``atob`` (WHATWG forgiving-base64), which is how SEA reads every binary field.

    Raises:
        SeaError: for a non-string, a character outside the standard alphabet, or a length
            that cannot be base64 (``len % 4 == 1`` after padding is removed).
    """
    if not isinstance(text, str):
        raise SeaError(f"{what} must be base64 text, not {type(text).__name__}")
    s = text.translate(_WHITESPACE)
    if len(s) % 4 == 0 and s.endswith("="):
        s = s[:-2] if s.endswith("==") else s[:-1]
    if len(s) % 4 == 1 or not _B64.fullmatch(s):
        raise SeaError(f"{what} is not base64: {text[:40]!r}")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the checks above cover it
        raise SeaError(f"{what} is not base64: {text[:40]!r}") from None


def b64url(data: bytes) -> str:
    """base64url without padding: a JWK member (``x``, ``y``, ``d``, and secret's ``k``)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def coordinate(text: Any, what: str) -> int:
    """A 32-byte JWK member (``x``, ``y`` or ``d``) as an integer; strict, see the module doc.

    Raises:
        SeaError: if ``text`` is not 43 characters of base64url.
    """
    if not isinstance(text, str) or not _COORD.fullmatch(text):
        shown = f"{text[:50]!r}" if isinstance(text, str) else type(text).__name__
        raise SeaError(f"{what} must be 43 characters of base64url (a P-256 JWK member): {shown}")
    return int.from_bytes(base64.urlsafe_b64decode(text + "="), "big")


def latin1(data: bytes) -> str:
    """One character per byte: what SEA's ``SeaArray.toString()`` gives (array 72-75).

    SEA turns random salts into text this way before it hashes them (aeskey 526, work 300).
    """
    return data.decode("latin-1")


def utf8(text: str) -> bytes:
    """``new TextEncoder().encode(text)``: UTF-8, a lone surrogate becoming U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return fixed.encode("utf-8")


def stringify(value: Any) -> str:
    """SEA's ``shim.stringify`` on Node (YSON: keys sorted); SeaError for what JSON can't hold."""
    return _guard(dumps_sorted, value)


def stringify_js(value: Any) -> str:
    """``JSON.stringify(value)`` (integer-like keys first, then insertion order)."""
    return _guard(dumps, value)


def _guard(fn: Any, value: Any) -> str:
    try:
        return str(fn(value))
    except GunError as e:
        raise SeaError(str(e)) from None
    except RecursionError:
        raise SeaError("value is nested too deeply to encode as JSON") from None


def _js_int(text: str) -> int | float:
    if len(text) <= 15:
        return int(text)
    x = float(text)
    return int(x) if abs(x) <= 2**53 else x


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_int=_js_int)


def parse_json(text: str) -> Any:
    """``JSON.parse(text)``.

    Raises:
        SeaError: for text that is not JSON (or is nested too deeply, or far too long).
    """
    if len(text) > MAX_TEXT:
        raise SeaError(f"SEA text of {len(text)} characters is over the {MAX_TEXT} limit")
    try:
        return _decoder.decode(text)
    except (ValueError, RecursionError):
        raise SeaError(f"not JSON: {text[:40]!r}") from None


def is_sea(value: Any) -> bool:
    """``SEA.opt.check``: a string that starts with ``SEA{`` (settings 244)."""
    return isinstance(value, str) and value.startswith("SEA{")


def sea_parse(value: Any) -> Any:
    """``SEA.opt.parse`` (settings 245-251): never raises, see the module doc."""
    if not isinstance(value, str):
        return value
    if value.startswith("SEA{"):
        value = value[3:]
    try:
        return parse_json(value)
    except SeaError:
        return value


def sea_text(obj: Mapping[str, Any]) -> str:
    """``'SEA' + JSON.stringify(obj)``: the text sign, encrypt and certify hand back."""
    return "SEA" + stringify(obj)


def truthy(v: Any) -> bool:
    """JavaScript truthiness of a JSON value (``{}`` and ``[]`` are true, ``NaN`` false)."""
    if isinstance(v, dict | list | tuple):
        return True
    if isinstance(v, float):
        return v == v and v != 0
    return bool(v)


def _split_pub(pub: Any, what: str) -> tuple[int, int]:
    if not isinstance(pub, str):
        raise SeaError(f"{what} must be a string 'x.y', not {type(pub).__name__}")
    parts = pub.split(".")
    if len(parts) != 2:
        raise SeaError(f"{what} must be 'x.y' (two base64url coordinates): {pub[:100]!r}")
    return coordinate(parts[0], f"{what} x"), coordinate(parts[1], f"{what} y")


@lru_cache(maxsize=4096)
def _public_key(pub: str, what: str) -> ec.EllipticCurvePublicKey:
    x, y = _split_pub(pub, what)
    try:
        return ec.EllipticCurvePublicNumbers(x, y, _CURVE).public_key()
    except ValueError:
        raise SeaError(f"{what} is not a point on P-256: {pub[:100]!r}") from None


def public_key(pub: Any, what: str = "pub") -> ec.EllipticCurvePublicKey:
    """The P-256 key of a ``pub`` / ``epub`` text (``x.y``); cached, as Gun's ``slow_leak``.

    Raises:
        SeaError: for anything but two base64url coordinates of a point on the curve.
    """
    if not isinstance(pub, str):
        raise SeaError(f"{what} must be a string 'x.y', not {type(pub).__name__}")
    return _public_key(pub, what)


def private_key(pub: Any, priv: Any, what: str = "priv") -> ec.EllipticCurvePrivateKey:
    """The P-256 private key of a (``pub``, ``priv``) or (``epub``, ``epriv``) pair.

    Raises:
        SeaError: for a malformed member, or a ``priv`` whose public key is not ``pub``
            (WebCrypto would import such a JWK and sign with a key nobody can verify).
    """
    x, y = _split_pub(pub, "epub" if what == "epriv" else "pub")
    d = coordinate(priv, what)
    try:
        key = ec.derive_private_key(d, _CURVE)
    except ValueError:
        raise SeaError(f"{what} is not a valid P-256 private key") from None
    nums = key.public_key().public_numbers()
    if (nums.x, nums.y) != (x, y):
        raise SeaError(f"{what} does not belong to its public key {pub[:100]!r}")
    return key


def pub_text(key: ec.EllipticCurvePublicKey) -> str:
    """The ``x.y`` text of a public key, as ``SEA.pair`` writes ``pub`` and ``epub``."""
    nums = key.public_numbers()
    return b64url(nums.x.to_bytes(32, "big")) + "." + b64url(nums.y.to_bytes(32, "big"))


_PUBCUT = re.compile(r"[^\w_-]", re.ASCII)


def pub_of_soul(soul: Any) -> str | None:
    """``SEA.opt.pub`` (sea.js 1493-1503): the public key a soul belongs to, or None.

    The text after the first ``~``, cut at the first two non-word characters: ``~x.y/inbox``
    gives ``x.y``; souls without ``~`` give None. As in gun, ``~@alice`` gives ``.alice`` (its
    ``'@'`` test looks at the empty first piece, so it never fires; gun's check routes ``~@``
    souls before it asks): no valid pub, so nothing verifies against it.
    """
    if not isinstance(soul, str) or not soul:
        return None
    parts = soul.split("~")
    if len(parts) < 2 or not parts[1]:
        return None
    cut = _PUBCUT.split(parts[1])[:2]
    if len(cut) != 2 or cut[0].startswith("@"):  # (never true: '@' cuts; kept as gun has it)
        return None
    return ".".join(cut)
