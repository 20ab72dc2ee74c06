"""``certify`` and ``check_certificate``: SEA certificates, as Gun.js 0.2020.1241 makes and
checks them (sea.js certify 673-744, the check inside ``check.pub`` 1380-1414).

A certificate is the authority's signature over ``{"c":..,"e":..,"r":..,"w":..,"rb":..,
"wb":..}`` (certify 721-728; absent members are left out): ``c`` who (``'*'``, one pub, or a
list), ``e`` an expiry in ms, ``w``/``r`` write/read policies (a string, a lex object or a list
of them), ``wb``/``rb`` block lists. The text is ``SEA{"m":{...},"s":...}``, the form sign
gives. A writer puts it beside a signed value in the authority's graph: the stored value is
``{":": value, "~": sig, "+": cert, "*": writer_pub}`` and every peer checks the cert.

``check_certificate`` is that check, pure: may ``certificant_pub`` write ``soul``/``key`` (a soul
of the authority, ``~<authority pub>...``) under ``cert``? None if so, else the error text a
Gun.js peer sends back (``Certificate expired.``, ``Certificate verification fail.``, the
``Path ... must contain string ...`` text). Where Gun.js has no text (it drops the write without
answering: bad signature, certificant not listed) we give a clear one.

Matched quirks of this Gun.js, said here so nobody is surprised:

* Expiry is compared with the write's own state (``msg.put['>'] > parseFloat(data.e)``, 1386),
  not with a clock: pass the put's state as ``now_ms`` to agree with Gun.js. A writer chooses
  its state, so an expired certificate still admits a write with a backdated state there (and
  did here, issue 22). Ours holds expiry against a clock too where one is given
  (``clock_ms``, or ``expiry_clock`` around the checks): the root gives its own clock for every
  put *request* it hears (a new write), not for replies (a read or a sync brings back values
  written while their certificate was valid, and must still take them).
* ``data.c.indexOf('*' || certificant)`` (1389) only ever looks for ``'*'``: a cert for a *list*
  of pubs lets nobody in the list write (Gun.js hangs the write; we refuse it with a text),
  and a one-pub cert works by equality. A ``c`` string containing ``*`` anywhere admits all.
* Policies match through ``String.match`` (gun.js 25-43: ``=``, ``*`` prefix, ``>``/``<`` range),
  with ``path`` the soul after its first ``/``; ``text_match`` is that function.

Where we are stricter, because Gun.js's check is unsafe:

* ``'+': '*'`` (the certificant's pub must appear in the path or key) is skipped by Gun.js when
  the path is empty (``path && ...``, 1397), i.e. for writes straight onto ``~authority``; we
  require the pub in the key then.
* A write block (``wb``) needs a graph read, which a pure function cannot do: pass
  ``is_blocked(path)`` (the gun path Gun.js reads, e.g. ``['~<authority>', 'blocked',
  '<certificant>']``, true if the value there is ``1`` or ``true``). Without it a cert with a
  write block is refused, not waved through.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from gunrtc_kit.core.codec import utf16_key
from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea.encoding import pub_of_soul, sea_parse, stringify_js, truthy
from gunrtc_kit.sea.keys import PairLike
from gunrtc_kit.sea.sign import sign_raw, verify

__all__ = ["certify", "check_certificate", "expiry_clock", "text_match"]

# the clock a certificate's expiry is held against besides the write's state: set by the root
# around the checks of a put request it heard (a context variable, so that a big put checked a
# slice per turn by its own task keeps the clock of its arrival, and no signature changes)
_CLOCK: contextvars.ContextVar[float | None] = contextvars.ContextVar("sea_expiry_clock")


@contextlib.contextmanager
def expiry_clock(now_ms: float | None) -> Iterator[None]:
    """Within this block (and in tasks started in it) ``check_certificate`` also refuses a
    certificate whose expiry is before ``now_ms`` (ms since the epoch), whatever the write's
    state says; ``None`` checks the state only, as Gun.js. Why: a writer chooses its state, so
    with the state alone an expired certificate admits any write dated before its expiry."""
    token = _CLOCK.set(now_ms)
    try:
        yield
    finally:
        _CLOCK.reset(token)


_POLICY_KEYS = ("+", "#", ".", "=", "*", ">", "<")


def _certificants(c: Any) -> str | list[str]:
    """certify 687-705: '*', one pub, or a list of pubs, from what the caller gave."""
    if not truthy(c):
        raise SeaError("No certificant found.")
    if isinstance(c, str):
        return "*" if "*" in c else c
    if isinstance(c, list | tuple):
        if "*" in c:
            return "*"
        if len(c) == 1 and truthy(c[0]):
            one = c[0]
            if isinstance(one, Mapping) and truthy(one.get("pub")):
                return str(one["pub"])
            if isinstance(one, str):
                return one
            raise SeaError("No certificant found.")
        pubs = [
            x if isinstance(x, str) else x["pub"]
            for x in c
            if isinstance(x, str) or (isinstance(x, Mapping) and truthy(x.get("pub")))
        ]
        if not pubs or not all(isinstance(p, str) for p in pubs):
            raise SeaError("No certificant found.")
        return pubs
    if isinstance(c, Mapping) and isinstance(c.get("pub"), str) and c["pub"]:
        return str(c["pub"])
    raise SeaError("No certificant found.")


def _has_soul(v: Any) -> bool:
    return isinstance(v, Mapping) and truthy(v.get("#"))


def certify(
    certificants: Any,
    policy: Any,
    authority: PairLike,
    *,
    expiry: float | None = None,
    block: Any = None,
) -> str:
    """A certificate (``SEA{"m":{"c":..,"w":..},"s":..}``) signed by ``authority``: it lets
    ``certificants`` write where ``policy`` says in the authority's graph, until ``expiry``.

    Why: a user's graph (``~pub``) takes only writes signed by its owner; a certificate is
    the owner's signed permission for others (an inbox others may write to). ``certificants``
    is ``'*'``, a pub, a pair or a list of them; ``policy`` a string, lex object, list, or
    ``{"write": ..., "read": ...}``; ``expiry`` ms since the epoch; ``block`` a path (or
    ``{"write": path, "read": path}``) to a block list, as Gun.js's ``opt.block``.

    Raises:
        SeaError: ``No certificant found.`` / ``No policy found.`` (Gun.js's words, where it
            logs and resolves ``undefined``), or a bad authority pair.
    """
    c = _certificants(certificants)
    if expiry is not None and (isinstance(expiry, bool) or not isinstance(expiry, int | float)):
        try:
            expiry = float(expiry)
        except (TypeError, ValueError):
            raise SeaError(f"expiry must be ms since the epoch, not {expiry!r}") from None
    read = policy.get("read") if isinstance(policy, Mapping) else None
    write: Any = None
    if isinstance(policy, Mapping) and truthy(policy.get("write")):
        write = policy["write"]
    elif isinstance(policy, str | list | tuple) or (
        isinstance(policy, Mapping) and any(truthy(policy.get(k)) for k in _POLICY_KEYS)
    ):
        write = policy
    blk: Any = block if truthy(block) else {}
    read_block = None
    write_block = None
    if isinstance(blk, Mapping):
        rb = blk.get("read")
        if truthy(rb) and (isinstance(rb, str) or _has_soul(rb)):
            read_block = rb
        wb = blk.get("write")
        if truthy(wb) and (isinstance(wb, str) or _has_soul(wb)):
            write_block = wb
    elif isinstance(blk, str):
        write_block = blk
    if not truthy(read) and not truthy(write):
        raise SeaError("No policy found.")
    data: dict[str, Any] = {"c": c}
    if expiry is not None and truthy(expiry):
        data["e"] = expiry
    if truthy(read):
        data["r"] = read
    if truthy(write):
        data["w"] = write
    if read_block is not None:
        data["rb"] = read_block
    if write_block is not None:
        data["wb"] = write_block
    # Gun.js signs the JSON.stringify text, which sign() parses back (so the hash is over the
    # sorted text), and writes the result with JSON.stringify again (certify 721, 730, 733)
    return "SEA" + stringify_js(sign_raw(stringify_js(data), authority))


def _lt(a: str, b: str) -> bool:
    return utf16_key(a) < utf16_key(b)


def text_match(t: Any, o: Any) -> bool:
    """gun's ``String.match(t, o)`` (gun.js 25-43), which certificate policies use.

    ``o`` is a string (equality) or a lex object: ``=`` equal, ``*`` prefix, ``>``/``<`` a
    range (each bound alone, or both), compared as JavaScript compares strings (UTF-16 code
    units). Non-string bounds never match (JavaScript would compare them as numbers).
    """
    if not isinstance(t, str):
        return False
    if isinstance(o, str):
        o = {"=": o}
    if not isinstance(o, Mapping):
        o = {}
    first = [o.get(k) for k in ("=", "*", ">", "<")]
    tmp = next((v for v in first if truthy(v)), first[-1])  # a || b || c || d
    if isinstance(tmp, str) and t == tmp:
        return True
    if "=" in o:  # JavaScript tests `undefined !==`: a null member counts as present
        return False
    tmp = o.get("*") if truthy(o.get("*")) else o.get(">")
    if isinstance(tmp, str) and t.startswith(tmp):
        return True
    if "*" in o:
        return False
    lo, hi = o.get(">"), o.get("<")
    if ">" in o and "<" in o:
        return isinstance(lo, str) and isinstance(hi, str) and not _lt(t, lo) and not _lt(hi, t)
    if isinstance(lo, str) and not _lt(t, lo):
        return True
    return isinstance(hi, str) and not _lt(hi, t)


def _get(lex: Any, k: str) -> Any:
    return lex.get(k) if isinstance(lex, Mapping) else None


def _matches(lex: Any, path: str, key: str) -> bool:
    """The policy test of sea.js 1395, term for term."""
    if not isinstance(lex, Mapping | str):
        return False
    h, d = _get(lex, "#"), _get(lex, ".")
    return (
        (text_match(path, h) and text_match(key, d))
        or (not truthy(d) and text_match(path, h))
        or (not truthy(h) and text_match(key, d))
        or text_match(f"{path}/{key}" if path else key, h if truthy(h) else lex)
    )


def _float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def _listed(c: Any, certificant: str) -> bool:
    """sea.js 1389: ``data.c === certificant || data.c.indexOf('*' || certificant) > -1``."""
    if c == certificant:
        return True
    if isinstance(c, str):
        return "*" in c
    if isinstance(c, list):
        return "*" in c
    return False


def check_certificate(
    cert: Any,
    certificant_pub: str,
    soul: str,
    key: str,
    *,
    now_ms: float,
    is_blocked: Callable[[list[str]], bool] | None = None,
    clock_ms: float | None = None,
) -> str | None:
    """None if ``cert`` lets ``certificant_pub`` write ``key`` of ``soul``, else the reason.

    Why pure: the relay and the peer apply the same check to every write into someone
    else's ``~pub`` graph, and a pure function is testable against Gun.js's certificates
    offline. ``soul`` names the authority (``~<pub>`` or ``~<pub>/<path>``); ``now_ms`` is the
    write's state (see the module doc); ``is_blocked`` reads a block list when the cert has one;
    ``clock_ms`` (default: ``expiry_clock``'s, if any) is a clock the expiry is held against too.
    """
    if not isinstance(certificant_pub, str) or not certificant_pub:
        return "Certificant pub must be a non-empty string."
    if not isinstance(soul, str) or not isinstance(key, str):
        return "Soul and key must be strings."
    pub = pub_of_soul(soul)
    if pub is None:
        return f"Soul {soul[:80]!r} belongs to no public key; a certificate cannot apply."
    c = sea_parse(cert)
    if not isinstance(c, Mapping) or not truthy(c.get("m")) or not truthy(c.get("s")):
        return "Certificate is not signed SEA data ('m' and 's')."
    try:
        data = verify(c, pub)
    except SeaError:
        return f"Certificate is not signed by the soul's owner {pub[:90]}."
    if not isinstance(data, Mapping):
        return "Certificate verification fail."
    if "e" in data:
        e = _float(data["e"])
        clock = clock_ms if clock_ms is not None else _CLOCK.get(None)
        if e is not None and ((truthy(now_ms) and now_ms > e) or (clock is not None and clock > e)):
            return "Certificate expired."
    if not truthy(data.get("c")) or not truthy(data.get("w")):
        return "Certificate verification fail."
    if not _listed(data["c"], certificant_pub):
        return f"Certificant {certificant_pub[:90]} is not admitted by the certificate."
    path = soul[soul.index("/") + 1 :] if "/" in soul else ""
    w = data["w"]
    policies: Sequence[Any] = (
        w if isinstance(w, list) else [w] if isinstance(w, Mapping | str) else []
    )
    for lex in policies:
        if not _matches(lex, path, key):
            continue
        plus = _get(lex, "+")
        if (
            isinstance(plus, str | list)
            and truthy(plus)
            and "*" in plus
            and certificant_pub not in path
            and certificant_pub not in key
        ):
            return f'Path "{path}" or key "{key}" must contain string "{certificant_pub}".'
        wb = data.get("wb")
        if truthy(wb) and (isinstance(wb, str) or _has_soul(wb)):
            if is_blocked is None:
                return "Certificate has a write block list; no block lookup was given."
            if isinstance(wb, str):
                where = [wb] if wb.startswith("~") else ["~" + pub, wb]
            else:
                where = [str(_get(wb, "#"))]
            if is_blocked([*where, certificant_pub]):
                return f"Certificant {certificant_pub} blocked."
        return None
    return "Certificate verification fail."
