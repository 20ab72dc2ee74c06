"""Wire text: parse frames, and write JSON exactly as JavaScript's ``JSON.stringify`` does.

Why not plain ``json.dumps``: Gun compares JSON *text* (HAM ties, the ``##`` reply hash), so a
float must print as JavaScript prints it (``1795544504602`` not ``1795544504602.0``, ``1e+21``,
``1.5e-7``, ``0.00001``) and a lone surrogate as ``\\udxxx`` (gun-wire 3.1). Strings go through
the C encoder of the standard library, which already escapes like JavaScript otherwise.

Frame contract (fuzzed in the tests): ``parse`` returns the messages of a frame, plus one error
per batch element that is not an object, or raises ``InvalidDataError``/``LimitError``; nothing
else escapes it.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Mapping
from typing import Any

from gunrtc_kit.errors import InvalidDataError, LimitError

__all__ = [
    "MAX_FRAME",
    "PACK",
    "PUFF",
    "Message",
    "dumps",
    "dumps_sorted",
    "encode",
    "encode_batch",
    "js_number",
    "parse",
    "put_hash",
    "string_hash",
    "utf16_key",
]

Message = dict[str, Any]

MAX_FRAME = 90_000_000  # gun mesh: (300000000) * 0.3
PACK = 9_000  # gun mesh: opt.max * 0.0001
PUFF = 9  # gun mesh: batch elements handled per turn

_enc_str = json.encoder.encode_basestring
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def _str(s: str) -> str:
    out: str = _enc_str(s)
    if not s.isascii() and _SURROGATE.search(s):
        out = _SURROGATE.sub(_escape_surrogate, out)
    return out


def js_number(x: float | int) -> str:
    """JavaScript ``Number#toString`` (and ``JSON.stringify``, which prints NaN/inf as null)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        if -(2**53) <= x <= 2**53:
            return str(x)
        x = float(x)
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "0"
    r = repr(x)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + (int(exp) if exp else 0) - (len(whole + frac) - len(digits))
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    es = f"e+{e}" if e >= 0 else f"e-{-e}"
    if k == 1:
        return sign + digits + es
    return sign + digits[0] + "." + digits[1:] + es


def _enc(v: Any, parts: list[str], sort: bool) -> None:
    t = type(v)
    if t is str:
        parts.append(_str(v))
    elif t is dict:
        if not v:
            parts.append("{}")
            return
        keys = utf16_sorted(v) if sort else v
        first = True
        for k in keys:
            val = v[k]
            if val is _UNDEFINED:
                continue
            parts.append("{" if first else ",")
            first = False
            parts.append(_str(k) if type(k) is str else _str(str(k)))
            parts.append(":")
            _enc(val, parts, sort)
        parts.append("{}" if first else "}")
    elif t is int:
        parts.append(js_number(v))
    elif t is float:
        parts.append(js_number(v))
    elif v is None:
        parts.append("null")
    elif v is True:
        parts.append("true")
    elif v is False:
        parts.append("false")
    elif t is list or t is tuple:
        parts.append("[")
        for i, item in enumerate(v):
            if i:
                parts.append(",")
            _enc(item, parts, sort)
        parts.append("]")
    elif isinstance(v, Mapping):
        _enc(dict(v), parts, sort)
    elif isinstance(v, str):
        parts.append(_str(str(v)))
    elif isinstance(v, int | float):
        parts.append(js_number(v))
    else:
        raise InvalidDataError(f"cannot encode {type(v).__name__} as Gun JSON: {v!r:.60}")


class _Undefined:
    """JavaScript ``undefined`` in a dict: the key is left out, as JSON.stringify does."""

    def __repr__(self) -> str:
        return "undefined"


_UNDEFINED = _Undefined()


def utf16_sorted(keys: Any) -> list[str]:
    """Keys in JavaScript's default sort order (UTF-16 code units)."""
    ks = list(keys)
    if all(k.isascii() for k in ks):
        return sorted(ks)
    return sorted(ks, key=utf16_key)


def utf16_key(s: str) -> bytes:
    """A sort key that orders strings by UTF-16 code units, as JavaScript compares them."""
    return s.encode("utf-16-be", "surrogatepass")


def dumps(value: Any) -> str:
    """Compact JSON text, byte for byte what ``JSON.stringify(value)`` gives in JavaScript."""
    parts: list[str] = []
    _enc(value, parts, False)
    return "".join(parts)


def dumps_sorted(value: Any) -> str:
    """Like ``dumps`` with object keys sorted at every level (gun mesh.hash's replacer)."""
    parts: list[str] = []
    _enc(value, parts, True)
    return "".join(parts)


encode = dumps  # a message is encoded as its JSON text; None is null (not undefined)


def encode_batch(raws: list[str]) -> str:
    """Join already-encoded messages into one ``[..]`` frame."""
    return "[" + ",".join(raws) + "]"


def string_hash(s: str) -> int:
    """gun ``String.hash``: ``h = int32(h*31 + unit)`` over UTF-16 code units, from 0."""
    if s.isascii():
        units: Any = s.encode("ascii")
    else:
        units = array("H", s.encode("utf-16-le", "surrogatepass"))
    h = 0
    for n in units:
        h = (h * 31 + n) & 0xFFFFFFFF
    return h - 0x100000000 if h & 0x80000000 else h


def put_hash(put: Any) -> tuple[str, int]:
    """(key-sorted JSON text of a reply's ``put``, its ``##`` hash), as gun ``mesh.hash``."""
    text = dumps_sorted(put)
    return text, string_hash(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(text: str, max_size: int = MAX_FRAME) -> tuple[list[Message], list[InvalidDataError]]:
    """The messages of one frame: an object, or an array of them (a batch).

    Leading whitespace is skipped (gun.js looks at ``raw[0]`` only; being lenient here loses
    nothing). Elements of a batch that are not objects are returned as errors, the rest kept.
    """
    if not isinstance(text, str):
        raise InvalidDataError(f"a frame is text, not {type(text).__name__}")
    if len(text) > max_size:
        raise LimitError("Message too big!")
    body = text.lstrip()
    if not body or body[0] not in "[{":
        raise InvalidDataError("DAM JSON parse error.")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InvalidDataError("DAM JSON parse error.") from None
    if isinstance(data, dict):
        return [data], []
    if not isinstance(data, list):  # pragma: no cover - guarded by the first character
        raise InvalidDataError("DAM JSON parse error.")
    msgs: list[Message] = []
    bad: list[InvalidDataError] = []
    for i, item in enumerate(data):
        if isinstance(item, dict):
            msgs.append(item)
        else:
            bad.append(
                InvalidDataError(
                    f"batch element {i} is not a message object: {json.dumps(item)[:40]}"
                )
            )
    return msgs, bad
