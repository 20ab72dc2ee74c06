"""SEA's write checks: may this key of this put enter the graph? As Gun.js's ``sea.js`` decides.

Why a pure module: a relay and a peer must refuse the same writes with the same words a Gun.js
peer sends back (an ``err`` ack carrying the text), and a verdict that needs no loop, socket or
clock can be tested offline against data Gun.js made (``tests/unit/sea_user_graph.json``).

Theory of operation (``node_modules/gun/sea.js``, npm ``gun@0.2020.1241``; line numbers are in
that file). Gun.js runs ``check`` (1318-1356) on every key of a put; the soul picks the rule:

* ``~@`` exactly (the list of aliases, 1341): the value must be a link to ``~@<key>``, else
  ``"Alias not same!"``; a falsy value is ``"Data must exist!"`` (``check.alias`` 1370-1374).
* ``~@<alias>`` (one alias's public keys, 1344): the value must be a link to the key itself,
  ``{'~pub': {'#': '~pub'}}``, else ``"Alias not same!"``; falsy is ``"Alias must exist!"``
  (``check.pubs`` 1375-1379). So an entry can never point anywhere but at itself, and so can
  never be changed to anything else once written.
* a soul ``SEA.opt.pub`` finds a public key in (``~<pub>``, ``~<pub>/path``, 1494-1503; ours is
  ``encoding.pub_of_soul``): key ``pub`` of ``~<pub>`` itself must hold that very pub, unsigned
  (``"Account not same!"``, 1416-1419); every other value must be the signed text
  ``{":": value, "~": signature}`` over ``SEA.opt.pack``'s message ``{"#": soul, ".": key,
  ":": value, ">": state}`` (pack 1507-1515) by that pub, else ``"Unverified data."``
  (1460-1478). A writer with a certificate adds ``"*": its pub, "+": the certificate``; the
  certificate is checked with ``check_certificate`` (its module lists Gun.js's quirks there).
* a soul containing ``#`` (content addressing, 1351, ``check.hash`` 1357-1369): the key's last
  ``#``-separated part must be the SHA-256 of the value (of ``JSON.stringify(value)`` for a
  non-string) in base64, or the same digest in hex; else ``"Data hash not same as hash!"``.
* anything else passes (``check.any`` refuses only with ``opt.secure``, which we do not have).

The read side is ``unpack``: the value a chain shows for a signed text is its ``":"`` member
(``SEA.opt.unpack`` 1517-1531, modern format); the graph and the wire keep the signed text, as
Gun.js keeps ``put[':']`` and shows ``put['=']``.

Where we are stricter than this Gun.js, because its check is unsafe (each said again where it
is coded):

* A value carrying ``"*": other_pub`` and no certificate is verified against ``other_pub`` and
  then *accepted* by Gun.js (1461, 1466-1476): anyone can write into anyone's space by signing
  with their own key and naming it. We refuse it (``"Certificate verification fail."``).
* A logged-in Gun.js peer signs with its own key every put into its own space that reaches
  ``check.pub`` (1420-1441), including unsigned or wrongly signed puts *from the wire*. Here only
  a local put is signed (``sign_graph``, which ``Gun.put_graph`` calls); every put from the wire
  is verified.
* Legacy formats are not accepted: the old array form ``[soul, key, value, state]`` in
  ``unpack`` (1524-1530) and ``fall_verify`` (the "old bad buggy" hash, 490-514). Every value this
  Gun.js writes passes without them.

Left out: the ``<?`` "forget old data" souls (1332-1339), which drop old states silently.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gunrtc_kit.core import codec
from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea.certify import check_certificate
from gunrtc_kit.sea.encoding import (
    parse_json,
    pub_of_soul,
    sea_parse,
    stringify,
    truthy,
    utf8,
)
from gunrtc_kit.sea.keys import PairLike
from gunrtc_kit.sea.sign import sign, verify

__all__ = [
    "ACCOUNT_NOT_SAME",
    "ALIAS_MUST_EXIST",
    "ALIAS_NOT_SAME",
    "CERTIFICATE_FAIL",
    "DATA_MUST_EXIST",
    "HASH_NOT_SAME",
    "UNVERIFIED",
    "Refusal",
    "block_lookup",
    "check_graph",
    "check_graph_steps",
    "check_key",
    "content_hash",
    "guarded",
    "guarded_keys",
    "pack",
    "sign_graph",
    "sign_value",
    "signed_parts",
    "unpack",
]

# Gun.js's texts, word for word (the err a Gun.js peer acks a refused write with)
DATA_MUST_EXIST = "Data must exist!"
"""``check.alias``: a falsy value in the ``~@`` alias list (sea.js 1371)."""
ALIAS_MUST_EXIST = "Alias must exist!"
"""``check.pubs``: a falsy value in a ``~@alias`` node (sea.js 1376)."""
ALIAS_NOT_SAME = "Alias not same!"
"""An alias-list entry that is not a link to itself (sea.js 1373, 1378)."""
ACCOUNT_NOT_SAME = "Account not same!"
"""``~pub``'s ``pub`` key holding anything but that pub (sea.js 1418)."""
UNVERIFIED = "Unverified data."
"""A value in a ``~pub`` soul that is not signed by that pub (sea.js 1463)."""
HASH_NOT_SAME = "Data hash not same as hash!"
"""A key of a ``#`` soul that is not the hash of its value (sea.js 1367)."""
CERTIFICATE_FAIL = "Certificate verification fail."
"""A write by another pub (``"*"``) without a certificate that admits it (sea.js 1410)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """One key a check refused: where, and Gun's text for why (what the writer's ``err`` says)."""

    soul: str
    key: str
    why: str


def guarded(soul: str) -> bool:
    """Whether any SEA rule can apply to ``soul``: it holds a ``~`` or a ``#``.

    Why this test: every rule above needs one of the two characters (``SEA.opt.pub`` looks
    for ``~`` anywhere, ``check.hash`` for ``#`` anywhere), so a graph of ordinary souls pays
    two substring scans per soul and nothing else."""
    return "~" in soul or "#" in soul


def _link(value: Any) -> str | None:
    """``link_is`` (sea.js 1491): the soul of a link ``{'#': soul}``, else None."""
    if isinstance(value, dict) and len(value) == 1:
        soul = value.get("#")
        if isinstance(soul, str) and soul:
            return soul
    return None


def pack(soul: str, key: str, value: Any, state: Any) -> dict[str, Any]:
    """The message SEA signs for one key: ``{"#": soul, ".": key, ":": value, ">": state}``.

    Why this shape and order: ``SEA.opt.pack`` (sea.js 1507-1515) hands verify exactly this
    object, and the signature covers ``JSON.stringify`` of it, so one more member or another
    order would be another message."""
    return {"#": soul, ".": key, ":": value, ">": state}


def signed_parts(value: Any) -> tuple[Any, str, dict[str, Any]] | None:
    """(value, signature, the whole parsed text) of a signed graph value, or None.

    A signed value is the text ``{":": value, "~": sig, ...}`` (``"*"``/``"+"`` for a
    certificant): ``SEA.opt.pack`` parses the stored text and takes ``":"`` and ``"~"``
    (1509-1513); anything else (not text, not JSON, no ``":"``, a falsy ``"~"``) is unsigned."""
    if not isinstance(value, str) or not value.startswith("{"):
        return None
    try:
        meta = parse_json(value)
    except SeaError:
        return None
    if not isinstance(meta, dict) or ":" not in meta:
        return None
    sig = meta.get("~")
    if not isinstance(sig, str) or not sig:
        return None
    return meta[":"], sig, meta


def unpack(value: Any) -> Any:
    """The value a chain shows for a stored one: a signed text's ``":"``, else the value.

    Why not verify here: every signed value in the graph was verified when it came in (the
    root checks each put before the merge), so a read only opens it (``SEA.opt.unpack``)."""
    parts = signed_parts(value)
    return value if parts is None else parts[0]


def content_hash(value: Any) -> bytes:
    """SHA-256 of a value as ``SEA.work(value, null, null, {name: 'SHA-256'})`` hashes it.

    Why the text form matters: a string is hashed as it is, anything else as SEA's
    ``shim.stringify`` writes it (sea.js 289): on Node that is gun's YSON, which sorts object
    keys at every level (lib/yson.js 200), so ``encoding.stringify``; in UTF-8 as
    ``TextEncoder`` writes it."""
    text = value if isinstance(value, str) else stringify(value)
    return hashlib.sha256(utf8(text)).digest()


def _hash_ok(key: str, value: Any) -> bool:
    want = key.split("#")[-1]
    digest = content_hash(value)
    if want == base64.b64encode(digest).decode("ascii"):
        return True
    # Gun.js also takes the hex of the digest (hexToBase64, 1359-1363); it parses each byte with
    # parseInt, so a few malformed hex keys pass there and not here (strict on purpose)
    try:
        return len(want) == 64 and bytes.fromhex(want) == digest
    except ValueError:
        return False


def _stored(graph: Mapping[str, Mapping[str, Any]], soul: str, key: str) -> tuple[bool, Any, Any]:
    node = graph.get(soul)
    if node is None or key not in node:
        return False, None, None
    meta = node.get("_")
    states = meta.get(">") if isinstance(meta, Mapping) else None
    return True, node[key], states.get(key) if isinstance(states, Mapping) else None


def block_lookup(graph: Mapping[str, Mapping[str, Any]]) -> Any:
    """``is_blocked`` for ``check_certificate``: walk a gun path in the local graph (signed
    links opened) and say whether it ends on ``1`` or ``true``, as Gun.js's ``once`` reads it
    (1398-1402). What the local graph does not hold counts as not blocked."""

    def is_blocked(path: list[str]) -> bool:
        if not path:
            return False
        soul, value = path[0], None
        for i, key in enumerate(path[1:], 1):
            node = graph.get(soul)
            if node is None or key not in node:
                return False
            value = unpack(node[key])
            if i < len(path) - 1:
                soul = _link(value) or f"{soul}/{key}"
        return value is True or value == 1

    return is_blocked


def _check_pub(
    soul: str,
    key: str,
    value: Any,
    state: Any,
    pub: str,
    graph: Mapping[str, Mapping[str, Any]],
) -> str | None:
    if key == "pub" and soul == "~" + pub:
        return None if value == pub and isinstance(value, str) else ACCOUNT_NOT_SAME
    parts = signed_parts(value)
    # pack takes the signed path only with a truthy state (``d['>']``, 1509)
    if parts is None or not truthy(state) or isinstance(state, bool):
        return UNVERIFIED
    inner, sig, meta = parts
    writer = meta.get("*")
    signer = writer if truthy(writer) else pub
    if not isinstance(signer, str):
        return UNVERIFIED
    try:
        verify({"m": pack(soul, key, inner, state), "s": sig}, signer)
    except SeaError:
        return UNVERIFIED
    if signer == pub:
        return None  # the owner's own signature; a "+" beside it changes nothing (as Gun.js)
    # another pub signed: only a certificate from the owner admits it. Gun.js accepts the
    # value when there is no certificate at all (1466-1476): unsafe, refused here
    cert = meta.get("+")
    if not (isinstance(cert, Mapping) and truthy(cert.get("m")) and truthy(cert.get("s"))):
        return CERTIFICATE_FAIL
    return check_certificate(cert, signer, soul, key, now_ms=state, is_blocked=block_lookup(graph))


def check_key(
    soul: str, key: str, value: Any, state: Any, graph: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """None if SEA lets ``value`` (at ``state``) into ``soul``.``key``, else Gun's error text.

    ``graph`` is a read-only view of the nodes held now: a key it already holds with this
    very value and state passed this check when it came in and is not verified again (a read
    answered from a relay re-sends every key of a node), and a certificate's write block is
    looked up there."""
    if soul == "~@":
        if not truthy(value):
            return DATA_MUST_EXIST
        return None if _link(value) == "~@" + key else ALIAS_NOT_SAME
    if soul.startswith("~@"):
        if not truthy(value):
            return ALIAS_MUST_EXIST
        return None if _link(value) == key else ALIAS_NOT_SAME
    pub = pub_of_soul(soul)
    if pub is not None:
        held, old, old_state = _stored(graph, soul, key)
        if held and old_state == state and old == value and type(old) is type(value):
            return None
        return _check_pub(soul, key, value, state, pub, graph)
    if "#" in soul:
        return None if _hash_ok(key, value) else HASH_NOT_SAME
    return None


def _keys(node: Mapping[str, Any]) -> Iterable[tuple[str, Any, Any]]:
    meta = node.get("_")
    states = meta.get(">") if isinstance(meta, Mapping) else None
    if not isinstance(states, Mapping):
        states = {}
    for key, value in node.items():
        if key != "_":
            yield key, value, states.get(key)


def check_graph(
    put: Mapping[str, Any], graph: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[Refusal]]:
    """Split a put into what SEA admits and what it refuses, key by key, as Gun.js checks
    each key on its own (a put's good keys are written even when one is refused).

    Returns the admitted graph (nodes that lost keys are copies without them; a node left with
    no key is dropped; the rest are the put's own objects) and the refusals in put order.
    Nodes that are not objects are passed on untouched: the graph's own validation reports
    them with Gun's ``Invalid graph`` text."""
    steps = check_graph_steps(put, graph, every=0)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: tuple[dict[str, Any], list[Refusal]] = done.value
            return result


def guarded_keys(put: Mapping[str, Any]) -> int:
    """How many keys of ``put`` SEA checks (keys of ``~`` and ``#`` souls): each can cost a
    signature verification (about 80 us), so a peer bounds and slices the work by this."""
    n = 0
    for soul, node in put.items():
        if isinstance(soul, str) and guarded(soul) and isinstance(node, Mapping):
            n += len(node) - ("_" in node)
    return n


def check_graph_steps(
    put: Mapping[str, Any], graph: Mapping[str, Mapping[str, Any]], every: int
) -> Generator[None, None, tuple[dict[str, Any], list[Refusal]]]:
    """``check_graph`` as a generator that yields after every ``every`` keys checked (never,
    for 0) and returns its result: a peer checks a put of many signed keys a slice per loop
    turn, so one big put cannot hold the loop for everyone else. ``graph`` is read at each
    step, as it is then."""
    admitted: dict[str, Any] = {}
    refused: list[Refusal] = []
    done = 0
    for soul, node in put.items():
        if not isinstance(soul, str) or not guarded(soul) or not isinstance(node, Mapping):
            admitted[soul] = node
            continue
        lost: dict[str, None] = {}
        for key, value, state in _keys(node):
            why = check_key(soul, key, value, state, graph)
            if why is not None:
                lost[key] = None
                refused.append(Refusal(soul, key, why))
            done += 1
            if every and done % every == 0:
                yield
        if not lost:
            admitted[soul] = node
        elif len(lost) < len(node) - ("_" in node):
            keep = {k: v for k, v in node.items() if k not in lost}
            meta = node.get("_")
            if isinstance(meta, Mapping) and isinstance(meta.get(">"), Mapping):
                keep["_"] = {**meta, ">": {k: s for k, s in meta[">"].items() if k not in lost}}
            admitted[soul] = keep
    return admitted, refused


def sign_value(soul: str, key: str, value: Any, state: Any, pair: PairLike) -> str:
    """The text stored for ``value`` at ``soul``.``key`` written by ``pair``'s owner.

    Why this form: Gun.js stores ``JSON.stringify({":": value, "~": sig})`` where ``sig``
    signs ``pack(soul, key, value, state)`` (sea.js 1420-1441); every Gun.js peer verifies
    exactly that, so it must be byte for byte the same text.

    Raises:
        SeaError: for a pair that cannot sign."""
    signed = sea_parse(sign(pack(soul, key, value, state), pair))
    return codec.dumps({":": value, "~": signed["s"]})


def sign_graph(graph: dict[str, Any], pair: PairLike) -> dict[str, Any]:
    """A local put with every value in ``pair``'s own space signed (``~<pub>`` souls and their
    children), as a logged-in Gun.js peer signs its user's writes before they go out.

    Untouched: other souls, the account's unsigned ``pub`` key, and values already in signed
    form (the check verifies those: a wrong signature is refused, never signed over, where
    Gun.js re-signs it, 1420-1424). Returns a new dict; the nodes it changes are copies.

    Raises:
        SeaError: for a pair that cannot sign."""
    pub = pair.get("pub") if isinstance(pair, Mapping) else None
    if not isinstance(pub, str) or not pub:
        return graph
    out = dict(graph)
    for soul, node in graph.items():
        if not isinstance(soul, str) or "~" not in soul or not isinstance(node, Mapping):
            continue
        if pub_of_soul(soul) != pub:
            continue
        copy: dict[str, Any] | None = None
        for key, value, state in _keys(node):
            if (key == "pub" and soul == "~" + pub) or signed_parts(value) is not None:
                continue
            if copy is None:
                copy = dict(node)
            copy[key] = sign_value(soul, key, value, state, pair)
        if copy is not None:
            out[soul] = copy
    return out
