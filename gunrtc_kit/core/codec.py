"""Wire text: parse frames, and write JSON exactly as JavaScript's ``JSON.stringify`` does.

Why not plain ``json.dumps``: Gun compares JSON *text* (HAM ties, the ``##`` reply hash), so a
float must print as JavaScript prints it (``1795544504602`` not ``1795544504602.0``, ``1e+21``,
``1.5e-7``, ``0.00001``) and a lone surrogate as ``\\udxxx`` (gun-wire 3.1). Strings go through
the C encoder of the standard library, which already escapes like JavaScript otherwise.
Measured on a typical put (CPython 3.11): this encoder takes 5.7 us where the stdlib C encoder
takes 4.2 us, and running the C encoder plus a regex check for the cases it gets wrong took
12.8 us, so the plain walk stays.

Key order: a JavaScript object lists integer-like keys ("0", "42", below 2**32 - 1) first, in
numeric order, then the others in insertion order; ``JSON.stringify`` and ``Object.keys`` follow
it, and so do ``dumps`` and ``js_keys`` (gun's put loop walks ``Object.keys``). ``dumps_sorted``
is a plain code-unit sort, as the Node relay's YSON prints it (lib/yson.js sorts
``Object.keys(data)`` and writes in that order; a browser's ``JSON.stringify`` with mesh.hash's
sorting replacer would hoist integer keys again: the two gun builds disagree here).

Frame contract (fuzzed in the tests): ``parse`` returns the messages of a frame, plus at most
one error for the batch elements that are not objects, or raises ``InvalidDataError`` or
``LimitError``; nothing else escapes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Mapping
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
    "js_keys",
    "js_number",
    "js_slice",
    "message_ids",
    "parse",
    "put_hash",
    "string_hash",
    "utf16_key",
    "utf16_sorted",
]

Message = dict[str, Any]

MAX_FRAME = 90_000_000  # gun mesh: opt.max = 300000000 * 0.3
PACK = 9_000  # gun mesh: opt.pack = opt.max * 0.0001
PUFF = 9  # gun mesh: opt.puff, batch elements handled per turn

_enc_str = json.encoder.encode_basestring
# a high+low pair is one astral character to JavaScript (written as is); a lone half is escaped
_HAS_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")
_MAX_INDEX = 2**32 - 2  # the largest array index a JavaScript object hoists


def _fix_surrogate(m: re.Match[str]) -> str:
    s = m.group()
    if len(s) == 2:
        return s.encode("utf-16-be", "surrogatepass").decode("utf-16-be")
    return f"\\u{ord(s):04x}"


def _str(s: str) -> str:
    out: str = _enc_str(s)
    if not s.isascii() and _HAS_SURROGATE.search(out):
        out = _SURROGATE.sub(_fix_surrogate, out)
    return out


def js_number(x: float | int) -> str:
    """JavaScript ``Number#toString`` (and ``JSON.stringify``, which prints NaN/inf as null).

    Python's ``repr`` already gives the shortest round-trip digits, as ECMAScript asks; only
    the layout differs (JavaScript uses an exponent below 1e-6 and from 1e21 on, writes no
    ``.0`` and no exponent padding). Ints are JavaScript numbers too: past 2**53 they round.
    """
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        if -(2**53) <= x <= 2**53:
            return str(x)
        try:
            x = float(x)
        except OverflowError:  # a literal like 1e400 is Infinity to JavaScript
            return "null"
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "0"  # -0 too
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


def _is_index(k: str) -> bool:
    return (
        k.isdigit()
        and k.isascii()
        and (k == "0" or k[0] != "0")
        and (len(k) < 10 or int(k) <= _MAX_INDEX)
    )


_DIGIT_FIRST = re.compile("\x00[0-9]")


def js_keys(obj: Iterable[Any]) -> list[Any]:
    """The keys of a dict in JavaScript ``Object.keys`` order (integer-like keys first)."""
    keys = list(obj)
    try:  # the common case, no key starting with a digit: a loop for a few keys, else one
        # C-speed scan over them all
        if len(keys) <= 8:
            for k in keys:
                if "/" < k < ":":
                    break
            else:
                return keys
        elif not _DIGIT_FIRST.search("\x00" + "\x00".join(keys)):
            return keys
    except TypeError:  # a non-str key: take the slow path
        pass
    idx = sorted((k for k in keys if type(k) is str and _is_index(k)), key=int)
    if not idx:
        return keys
    rest = [k for k in keys if not (type(k) is str and _is_index(k))]
    return idx + rest


def _js_order(d: dict[Any, Any]) -> Iterable[Any]:
    """``d`` itself when no key can be integer-like (the hot path), else ``js_keys(d)``."""
    try:
        for k in d:
            if "/" < k < ":":  # starts with a digit (or is a longer "/..."): look closer
                return js_keys(d)
    except TypeError:  # a non-str key
        return js_keys(d)
    return d


def js_slice(s: str, n: int) -> str:
    """JavaScript ``s.slice(0, n)``: counts UTF-16 code units, so it can split a pair."""
    if s.isascii() or len(s) * 2 <= n:
        return s[:n]
    units = s.encode("utf-16-le", "surrogatepass")[: 2 * n]
    return units.decode("utf-16-le", "surrogatepass")


def _key(k: Any) -> str:
    if type(k) is str:
        return _str(k)
    if isinstance(k, str):
        return _str(str(k))
    if k is None or isinstance(k, bool | int | float):
        return _str(js_number(k) if k is not None else "null")
    raise InvalidDataError(f"cannot encode a {type(k).__name__} object key as Gun JSON: {k!r:.60}")


_SAFE = 2**53  # an int within +-2**53 prints as str() does (JavaScript rounds past it)


def _enc(v: Any, parts: list[str], sort: bool) -> None:
    # the usual cases inlined (ASCII text, small ints): every message said goes through here
    t = type(v)
    if t is str:
        parts.append(_enc_str(v) if v.isascii() else _str(v))
    elif t is dict:
        if not v:
            parts.append("{}")
            return
        keys = utf16_sorted(v) if sort else _js_order(v)
        sep = "{"
        for k in keys:
            parts.append(sep)
            sep = ","
            if type(k) is str:
                parts.append(_enc_str(k) if k.isascii() else _str(k))
            else:
                parts.append(_key(k))
            parts.append(":")
            _enc(v[k], parts, sort)
        parts.append("}")
    elif t is int:
        parts.append(str(v) if -_SAFE <= v <= _SAFE else js_number(v))
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


def utf16_key(s: str) -> bytes:
    """A sort key that orders strings by UTF-16 code units, as JavaScript compares them."""
    return s.encode("utf-16-be", "surrogatepass")


def utf16_sorted(keys: Iterable[Any]) -> list[Any]:
    """Keys in JavaScript's default ``Array#sort`` order (UTF-16 code units)."""
    ks = list(keys)
    if all(type(k) is str and k.isascii() for k in ks):
        return sorted(ks)
    return sorted(ks, key=lambda k: utf16_key(k if isinstance(k, str) else _key(k)[1:-1]))


def dumps(value: Any) -> str:
    """Compact JSON text, byte for byte what ``JSON.stringify(value)`` gives in JavaScript.

    Raises:
        InvalidDataError: for a value JSON cannot hold (a set, bytes, an object).
        RecursionError: for nesting deeper than Python's recursion limit.
    """
    parts: list[str] = []
    _enc(value, parts, False)
    return "".join(parts)


def dumps_sorted(value: Any) -> str:
    """Like ``dumps`` with object keys sorted at every level, as gun's ``mesh.hash`` (YSON)."""
    parts: list[str] = []
    _enc(value, parts, True)
    return "".join(parts)


def encode(msg: Message) -> str:
    """A message's wire text: ``dumps``. ``None`` is JSON ``null`` and is kept.

    ``JSON.stringify`` drops only ``undefined`` members, and Python has no ``undefined``; a
    field that must not be sent is simply not put in the dict.
    """
    return dumps(msg)


def encode_batch(raws: list[str]) -> str:
    """Join already-encoded messages into one ``[..]`` frame (gun mesh ``flush``)."""
    return "[" + ",".join(raws) + "]"


_MASK32 = 0xFFFFFFFF
_LANE = 5  # bytes per lane of ``_hash_wide``: a lane holds < 2**32 * 31 + 2**16 < 2**40
_SHORT = 2048  # code units below which the plain loop is quicker than the lanes' setup
_BLOCK = 256  # code units per lane of ``_hash_blocks``
_PIECE = 1 << 17  # code units hashed in lanes at once (a piece's copies stay in cache)


def string_hash(s: str) -> int:
    """gun ``String.hash``: ``h = int32(h*31 + unit)`` over UTF-16 code units, from 0.

    Every reply carrying data is hashed (``put_hash``), so a big stored value is hashed on
    every read of it: a loop over code units took 0.1 s per MB and held the loop for all
    clients. Long texts go through ``_hash_wide`` (Python's C big-int and bytes loops, about
    9 times faster); the number is the same, bit for bit."""
    if s.isascii():
        data, size = s.encode("ascii"), 1
    else:
        data, size = s.encode("utf-16-le", "surrogatepass"), 2
    if len(data) >= _SHORT * size:
        h = _hash_wide(data, size)
    else:
        units: Any = data if size == 1 else array("H", data)
        if size == 2 and sys.byteorder != "little":
            units.byteswap()
        h = 0
        for n in units:
            h = (h * 31 + n) & _MASK32
    return h - 0x100000000 if h & 0x80000000 else h


def _hash_wide(data: bytes, size: int) -> int:
    """``String.hash`` of ``data`` (code units of ``size`` bytes, little-endian) as an
    unsigned 32-bit number: ``_PIECE`` units at a time (so the strided copies stay in the CPU's
    cache), each piece joined on as the hash joins units, with ``31**len`` for 31."""
    h = 0
    step = _PIECE * size
    for at in range(0, len(data), step):
        piece = data[at : at + step]
        h = (h * pow(31, len(piece) // size, 1 << 32) + _hash_blocks(piece, size)) & _MASK32
    return h


def _hash_blocks(data: bytes, size: int) -> int:
    """``String.hash`` of one piece, many blocks at once.

    Why it holds: the text is cut into ``m`` blocks of ``_BLOCK`` units (zeros in front, which
    do not change a hash that starts from 0). Each block's own hash is one lane of a big int:
    the ``r``-th unit of every block is laid out, one per 5-byte lane, by a strided bytes copy,
    and ``acc = (acc * 31 + column) & low-32-bits-of-each-lane`` runs the hash's step on all
    blocks at once (a lane never carries into the next: it stays below 2**40). The blocks'
    hashes are then joined as the hash joins units, with ``31**_BLOCK`` for 31."""
    block = _BLOCK
    n = len(data) // size
    data = bytes((-n % block) * size) + data
    m = len(data) // (size * block)
    lane = bytearray(_LANE * m)
    low = int.from_bytes(b"\xff\xff\xff\xff\x00" * m, "little")
    acc = 0
    stride = block * size
    for r in range(block):
        for b in range(size):
            lane[b::_LANE] = data[r * size + b :: stride]
        acc = (acc * 31 + int.from_bytes(lane, "little")) & low
    out = acc.to_bytes(_LANE * m, "little")
    words = bytearray(4 * m)
    for b in range(4):
        words[b::4] = out[b::_LANE]
    hashes = array("I", bytes(words))
    if sys.byteorder != "little":
        hashes.byteswap()
    mul = pow(31, block, 1 << 32)
    h = 0
    for v in hashes:
        h = (h * mul + v) & _MASK32
    return h


_BIG_TEXT = 1 << 20  # characters: a text this long has its hash kept, keyed by its digest
_HASHED_MAX = 64  # big texts whose hash is kept (a key of 24 bytes each)
_hashed: OrderedDict[bytes, int] = OrderedDict()


def put_hash(put: Mapping[str, Any]) -> tuple[str, int]:
    """(key-sorted JSON text of a reply's ``put``, its ``##`` hash), as gun ``mesh.hash``.

    gun hashes the text in 32768-character slices, carrying ``h`` along; that is the same
    number as one pass over the whole text. A text of ``_BIG_TEXT`` characters or more (a big
    stored value, read again and again) has its hash kept for the next time, keyed by a
    BLAKE2b digest of the text (the digest costs a quarter of the hash, and no one can make
    two texts share one), the ``_HASHED_MAX`` most recent of them.
    """
    text = dumps_sorted(put)
    if len(text) < _BIG_TEXT:
        return text, string_hash(text)
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=24).digest()
    h = _hashed.get(key)
    if h is None:
        h = _hashed[key] = string_hash(text)
        if len(_hashed) > _HASHED_MAX:
            _hashed.popitem(last=False)
    else:
        _hashed.move_to_end(key)
    return text, h


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _js_int(text: str) -> int | float:
    """An integer literal as JavaScript reads it: a double (exact below 2**53)."""
    if len(text) <= 15:
        return int(text)
    x = float(text)  # 1e400-sized literals become inf, as Infinity in JavaScript
    return int(x) if abs(x) <= 2**53 else x


_decode_js_ints = json.JSONDecoder(parse_constant=_no_constant, parse_int=_js_int).decode
_decode_plain = json.JSONDecoder(parse_constant=_no_constant).decode
# an integer literal of 16+ digits may not survive as a double: only then the per-literal hook
# (a Python call per number: 5M numbers took 0.8 s with it, 0.2 s without)
_LONG = 16
_DIGITS_TO_ZERO = str.maketrans("123456789", "0" * 9)
_DIGITS_TO_ZERO_B = bytes.maketrans(b"123456789", b"0" * 9)
_RUN = "0" * _LONG
_RUN_B = _RUN.encode()
_CHUNK = 1 << 20  # chars of a frame looked at per call while looking for a long number


def _has_long_digits(body: str) -> bool:
    """Whether ``body`` holds a run of ``_LONG`` ASCII digits (a false yes only costs speed).

    Why not ``re.search(r"\\d{16}")``: the regex engine takes ~10 ns a char and holds the
    GIL for the whole call: 0.5-1.0 s for a 50 MB frame, during which a relay parsing it in a
    worker thread answered no one. Mapping every digit to ``0`` and finding sixteen of them is
    C at memory speed (~1 ns a char); done per ``_CHUNK`` (overlapping by one run), each call is
    about a millisecond, so a worker thread hands the GIL back between them. A non-ASCII chunk
    goes through UTF-8 bytes: ``str.translate`` is fast only for ASCII text."""
    step = _CHUNK
    for start in range(0, len(body), step):
        chunk = body[max(0, start - _LONG + 1) : start + step]
        if chunk.isascii():
            found = chunk.translate(_DIGITS_TO_ZERO).find(_RUN)
        else:
            found = chunk.encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO_B).find(_RUN_B)
        if found >= 0:
            return True
    return False


def _decode(body: str) -> Any:
    return (_decode_js_ints if _has_long_digits(body) else _decode_plain)(body)


_JSON_SPACE = " \t\n\r"


def _what(v: Any) -> str:
    if isinstance(v, list):
        return "an array"
    if isinstance(v, str):
        return f"the string {v[:20]!r}"
    return dumps(v)  # null, true, false or a number


def parse(text: str, max_size: int = MAX_FRAME) -> tuple[list[Message], list[InvalidDataError]]:
    """The messages of one frame: an object, or an array of them (a batch).

    gun's mesh looks at ``raw[0]`` only, so it ignores a frame that starts with whitespace;
    we skip JSON whitespace before the first character (being lenient here loses nothing).
    Elements of a batch that are not objects are reported as one error (the first, and how
    many) and the rest are kept.
    Integers are read as JavaScript reads them (doubles), and ``NaN``/``Infinity`` literals,
    which ``JSON.parse`` refuses, are refused too.

    Raises:
        LimitError: ``Message too big!`` (gun's text) for a frame longer than ``max_size``.
        InvalidDataError: ``DAM JSON parse error.`` (gun's text) for bad JSON, or a clear text
            for a frame that is neither an object nor an array.
    """
    if not isinstance(text, str):
        raise InvalidDataError(f"a frame is text, not {type(text).__name__}")
    if len(text) > max_size:
        raise LimitError("Message too big!")
    body = text.lstrip(_JSON_SPACE)
    if not body:
        raise InvalidDataError("empty frame: expected a JSON object or array")
    if body[0] not in "[{":
        raise InvalidDataError(
            f"frame must be a JSON object or array of objects, got {body[:20]!r}"
        )
    try:
        data = _decode(body)
    except (ValueError, RecursionError):
        raise InvalidDataError("DAM JSON parse error.") from None
    if isinstance(data, dict):
        return [data], []
    msgs: list[Message] = [m for m in data if type(m) is dict]
    count = len(data) - len(msgs)
    first = next(i for i, m in enumerate(data) if type(m) is not dict) if count else -1
    bad: list[InvalidDataError] = []
    if count:
        # one error per frame, however many elements are bad: a frame of 5M numbers must not
        # become 5M error objects (nor 5M error replies)
        more = f" ({count} of {len(data)} elements are not objects)" if count > 1 else ""
        bad.append(
            InvalidDataError(
                f"batch element {first} is {_what(data[first])}, not a message object{more}"
            )
        )
    return msgs, bad


def message_ids(text: str) -> list[str]:
    """The ``#`` of each message in a frame (one object or an array of them); ``[""]`` when
    the frame cannot be read. Why: a frame lost or discarded as a whole must be reported per
    message, so each message's fate can be followed by id; off the hot path (drops only)."""
    try:
        data = json.loads(text)
    except ValueError:
        return [""]
    msgs = data if isinstance(data, list) else [data]
    ids = [m["#"] if isinstance(m, dict) and isinstance(m.get("#"), str) else "" for m in msgs]
    return ids or [""]
