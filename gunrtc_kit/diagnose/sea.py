"""The SEA inspector: what a user's space holds, who signed each field, and how a login went.

Why a reader of its own: SEA keeps no verdicts. A peer checks every write into ``~<pub>`` as it
arrives (``gunrtc_kit.sea.check``) and then stores Gun's signed text, so once a value is in a
graph nothing says whether it was signed by the owner, by a certificant, or (in a graph that
was not checked: a file, a store, a peer that does not run SEA) by nobody. ``inspect_user``
verifies every field again, offline, and says so in words; ``auth_report`` turns the steps
``gun.user().auth`` recorded (``User.last_auth``) into rows a person can read.

Which nodes belong to a user, by Gun's rules (``SEA.opt.pub``, our ``pub_of_soul``): every soul
whose public key is ``pub`` (``~<pub>`` and ``~<pub>/anything``). They are listed starting from
``~<pub>`` and following links breadth-first within that space (the order a reader meets them),
then the other souls of the space the graph holds that no link reaches. A link that leaves the
space is listed, not followed: SEA does not protect what it points to. The alias entries
(``~@<alias>`` nodes with the key ``~<pub>``) are listed apart: they are not signed, Gun checks
only that each is a link to itself.

The verdict of a field (one of ``VERDICTS``):

- ``valid``: signed by the owner; the signature covers ``{"#": soul, ".": key, ":": value,
  ">": state}`` (``check.pack``), so value, key, soul and state are all as the owner wrote
  them. The account's own ``pub`` key is stored unsigned by Gun's rule and is ``valid`` when
  it equals the soul's key;
- ``valid-cert``: signed by another key (``"*"``) that holds a certificate (``"+"``) from the
  owner admitting that write (``check_certificate``);
- ``invalid``: a signature is there but does not match (the key it was checked against is
  named), or another key signed without a certificate that admits it;
- ``unsigned``: a plain value; Gun refuses such a write into a user's space (``Unverified
  data.``), so it got into this graph without SEA's check.

Pure: no clock, no asyncio, no widgets; the graph is any ``{soul: node}`` mapping (a peer's
``graph.nodes``, a JSON file), read and never changed.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea import check_certificate, pub_of_soul, verify
from gunrtc_kit.sea.check import block_lookup, pack, signed_parts, unpack
from gunrtc_kit.sea.encoding import is_sea, sea_parse, truthy

__all__ = [
    "INVALID",
    "UNSIGNED",
    "VALID",
    "VALID_CERT",
    "VERDICTS",
    "AliasEntry",
    "AuthStepLike",
    "FieldReport",
    "NodeReport",
    "UserReport",
    "auth_report",
    "auth_summary",
    "inspect_user",
    "short_key",
]

VALID = "valid"
VALID_CERT = "valid-cert"
INVALID = "invalid"
UNSIGNED = "unsigned"
VERDICTS = (VALID, VALID_CERT, INVALID, UNSIGNED)
"""Every verdict ``inspect_user`` gives a field, best first (see the module docstring)."""

VALUE_CHARS = 120  # a value's JSON text is cut to this in a report (the full value is kept)


def short_key(pub: str, head: int = 8, tail: int = 5) -> str:
    """``4FVO7H00…czjxs``: a public key short enough for a table cell (87 characters are
    too wide), still telling two keys apart by both ends. Short texts come back whole."""
    if not isinstance(pub, str):
        return ""
    return pub if len(pub) <= head + tail + 1 else f"{pub[:head]}…{pub[-tail:]}"


def _text(value: Any, limit: int = VALUE_CHARS) -> str:
    """The JSON text of a value, cut to ``limit`` characters (a link shown as ``→ soul``)."""
    link = _link(value)
    if link is not None:
        text = f"→ {link}"
        return text if len(text) <= limit else text[: limit - 1] + "…"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(value: Any) -> str | None:
    if isinstance(value, Mapping) and len(value) == 1:
        soul = value.get("#")
        if isinstance(soul, str) and soul:
            return soul
    return None


@dataclass(frozen=True, slots=True)
class FieldReport:
    """One key of one node of the user's space, verified again: what a reader sees there
    (``value``, unpacked), what is stored (``raw``), its HAM ``state``, the ``verdict``, the
    key that signed it (``signer``, ``""`` when none did) and ``why`` in plain words."""

    soul: str
    key: str
    value: Any
    raw: Any
    state: Any
    verdict: str
    signer: str
    why: str
    encrypted: bool = False

    @property
    def link(self) -> str | None:
        """The soul this field links to (``{'#': soul}``), or None."""
        return _link(self.value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for a view: the value as a short JSON text (``value_text``) beside it."""
        return {
            "soul": self.soul,
            "key": self.key,
            "value": self.value,
            "value_text": _text(self.value),
            "state": self.state,
            "verdict": self.verdict,
            "signer": self.signer,
            "signer_short": short_key(self.signer),
            "why": self.why,
            "encrypted": self.encrypted,
            "link": self.link or "",
        }


@dataclass(frozen=True, slots=True)
class NodeReport:
    """One node of the user's space, its fields in stored order. ``reached``: a link from
    ``~<pub>`` leads here (else the graph holds it, but nothing in the space points to it)."""

    soul: str
    fields: tuple[FieldReport, ...]
    reached: bool = True


@dataclass(frozen=True, slots=True)
class AliasEntry:
    """An alias claiming the user: the node ``~@<alias>`` holds the key ``~<pub>``. ``ok`` when
    the value is the link to ``~<pub>`` itself, the only value Gun admits there (``check.pubs``).
    Aliases are not unique: several accounts may share one, and only the password tells."""

    alias: str
    soul: str
    ok: bool


@dataclass(frozen=True, slots=True)
class UserReport:
    """What ``inspect_user`` found for one public key: the nodes of its space, each field's
    verdict, the aliases that name it, and what it could not look at."""

    pub: str
    alias: str
    nodes: tuple[NodeReport, ...]
    aliases: tuple[AliasEntry, ...]
    missing: tuple[str, ...] = ()
    outside: tuple[str, ...] = ()

    @property
    def fields(self) -> list[FieldReport]:
        """Every field of every node, in the order the report lists them."""
        return [f for n in self.nodes for f in n.fields]

    def field(self, soul: str, key: str) -> FieldReport:
        """The report of ``soul``.``key`` (``KeyError`` if the space holds no such field)."""
        for f in self.fields:
            if f.soul == soul and f.key == key:
                return f
        raise KeyError(f"{soul}.{key}")

    def counts(self) -> dict[str, int]:
        """How many fields got each verdict (every verdict listed, zeros included)."""
        out = dict.fromkeys(VERDICTS, 0)
        for f in self.fields:
            out[f.verdict] = out.get(f.verdict, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        """True when every field is ``valid`` or ``valid-cert`` (and there is a field)."""
        fields = self.fields
        return bool(fields) and all(f.verdict in (VALID, VALID_CERT) for f in fields)

    def summary(self) -> str:
        """One line: who, how many fields in how many nodes, the verdicts, and the first bad
        field with its reason (what to look at first)."""
        name = f"{self.alias} " if self.alias else ""
        fields = self.fields
        if not fields:
            return f"{name}(~{short_key(self.pub)}): this graph holds nothing of that user"
        counts = ", ".join(f"{n} {v}" for v, n in self.counts().items() if n)
        nodes = len(self.nodes)
        line = (
            f"{name}(~{short_key(self.pub)}): {len(fields)} field{'s' * (len(fields) != 1)} in "
            f"{nodes} node{'s' * (nodes != 1)}: {counts}"
        )
        bad = next((f for f in fields if f.verdict not in (VALID, VALID_CERT)), None)
        if bad is not None:
            line += f"; first {bad.verdict}: {self._where(bad)}: {bad.why}"
        return line

    def _where(self, f: FieldReport) -> str:
        own = "~" + self.pub
        if f.soul == own:
            return f"~.{f.key}"
        if f.soul.startswith(own):
            return f"~{f.soul[len(own) :]}.{f.key}"
        return f"{f.soul}.{f.key}"

    def _short_soul(self, soul: str) -> str:
        own = "~" + self.pub
        return "~" + short_key(self.pub) + soul[len(own) :] if soul.startswith(own) else soul

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for a view or a file: every node and field, aliases, counts, summary."""
        return {
            "pub": self.pub,
            "pub_short": short_key(self.pub),
            "alias": self.alias,
            "nodes": [
                {
                    "soul": n.soul,
                    "reached": n.reached,
                    "fields": [f.as_dict() for f in n.fields],
                }
                for n in self.nodes
            ],
            "aliases": [{"alias": a.alias, "soul": a.soul, "ok": a.ok} for a in self.aliases],
            "missing": list(self.missing),
            "outside": list(self.outside),
            "counts": self.counts(),
            "summary": self.summary(),
        }

    def to_text(self) -> str:
        """The report as plain text: a line per field with its verdict and signer (for a
        notebook printed without widgets, and for logs)."""
        lines = [self.summary()]
        for a in self.aliases:
            lines.append(f"  alias {a.alias!r} ({a.soul}) {'→ this user' if a.ok else 'BROKEN'}")
        for n in self.nodes:
            unreached = "" if n.reached else "  (no link from ~pub reaches it)"
            lines.append(f"  {self._short_soul(n.soul)}{unreached}")
            for f in n.fields:
                by = ""
                if f.signer:
                    word = "against" if f.verdict == INVALID else "by"
                    by = f" {word} {short_key(f.signer)}"
                shown = _text(f.value, 36)
                if f.link is not None:
                    shown = "→ " + self._short_soul(f.link)
                lines.append(f"    {f.key:<10} {shown:<36} {f.verdict}{by}: {f.why}")
        if self.missing:
            lines.append(f"  linked but not held here: {', '.join(self.missing)}")
        if self.outside:
            lines.append(f"  links out of the space (not protected): {', '.join(self.outside)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


# ---------------------------------------------------------------------- verdicts


def _judge(
    soul: str, key: str, raw: Any, state: Any, pub: str, nodes: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str, str]:
    """(verdict, signer, why) of one stored field of ``pub``'s space."""
    if key == "pub" and soul == "~" + pub:
        if raw == pub:
            return VALID, pub, "the account's key: unsigned by Gun's rule, equal to the soul's"
        return INVALID, "", f"the account's pub must be the soul's key, it is {_text(raw)}"
    parts = signed_parts(raw)
    if parts is None:
        return (
            UNSIGNED,
            "",
            (
                "a plain value with no signature: Gun refuses such a write into a user's space "
                "('Unverified data.'), so it came in unchecked"
            ),
        )
    inner, sig, meta = parts
    writer = meta.get("*")
    signer = writer if truthy(writer) else pub
    if not isinstance(signer, str):
        return INVALID, "", f"the writer named in '*' is not a key: {_text(writer)}"
    if not truthy(state) or isinstance(state, bool):
        return INVALID, signer, "no HAM state: a signature covers the state, so none can match"
    who = "the owner's key" if signer == pub else "the key named in '*'"
    try:
        verify({"m": pack(soul, key, inner, state), "s": sig}, signer)
    except SeaError:
        return (
            INVALID,
            signer,
            (
                f"the signature does not match under {who} {short_key(signer)}: the value, its "
                "key, soul or state changed after signing, or another key signed it"
            ),
        )
    if signer == pub:
        return VALID, signer, "the owner's signature matches"
    cert = meta.get("+")
    if not (isinstance(cert, Mapping) and truthy(cert.get("m")) and truthy(cert.get("s"))):
        cert = sea_parse(cert) if isinstance(cert, str) else cert
    if not (isinstance(cert, Mapping) and truthy(cert.get("m")) and truthy(cert.get("s"))):
        return (
            INVALID,
            signer,
            (
                f"signed by another key ({short_key(signer)}) that shows no certificate from the "
                "owner: refused by SEA ('Certificate verification fail.')"
            ),
        )
    refused = check_certificate(
        cert, signer, soul, key, now_ms=state, is_blocked=block_lookup(nodes)
    )
    if refused is not None:
        return INVALID, signer, f"signed by {short_key(signer)}, whose certificate fails: {refused}"
    return VALID_CERT, signer, f"signed by {short_key(signer)}, admitted by the owner's certificate"


def _field(
    soul: str, key: str, node: Mapping[str, Any], pub: str, nodes: Mapping[str, Mapping[str, Any]]
) -> FieldReport:
    meta = node.get("_")
    states = meta.get(">") if isinstance(meta, Mapping) else None
    state = states.get(key) if isinstance(states, Mapping) else None
    raw = node[key]
    verdict, signer, why = _judge(soul, key, raw, state, pub, nodes)
    value = unpack(raw)
    encrypted = is_sea(value) and isinstance(sea_parse(value), Mapping) and "ct" in sea_parse(value)
    return FieldReport(soul, key, value, raw, state, verdict, signer, why, encrypted)


def _pub_text(pub: str) -> str:
    p = pub.removeprefix("~")
    if pub_of_soul("~" + p) != p:
        raise ValueError(f"inspect_user(pub={pub!r}): expected a public key text 'x.y'")
    return p


def inspect_user(nodes: Mapping[str, Mapping[str, Any]], pub: str) -> UserReport:
    """Verify every field of the user ``pub``'s space in ``nodes`` again; see the module
    docstring for which nodes and what each verdict means.

    Why again, when peers check every write: a graph from a store, a file or a peer that does
    not run SEA was never checked, and even a checked graph says nothing about who signed a
    value. ``pub`` may carry its ``~``. Raises ``ValueError`` for a text that is no pub."""
    pub = _pub_text(pub)
    own = "~" + pub
    order: list[str] = []
    reached: set[str] = set()
    missing: list[str] = []
    outside: list[str] = []
    queue: deque[str] = deque([own])
    seen = {own}
    while queue:  # breadth-first from ~pub, within the space
        soul = queue.popleft()
        node = nodes.get(soul)
        if not isinstance(node, Mapping):
            if soul != own:
                missing.append(soul)
            continue
        order.append(soul)
        reached.add(soul)
        for key, raw in node.items():
            if key == "_":
                continue
            target = _link(unpack(raw))
            if target is None or target in seen:
                continue
            seen.add(target)
            if pub_of_soul(target) == pub:
                queue.append(target)
            elif target not in outside:
                outside.append(target)
    rest = sorted(
        s for s in nodes if isinstance(s, str) and s not in reached and pub_of_soul(s) == pub
    )
    reports = [
        NodeReport(
            soul,
            tuple(_field(soul, k, nodes[soul], pub, nodes) for k in nodes[soul] if k != "_"),
            soul in reached,
        )
        for soul in order + rest
    ]
    aliases = tuple(
        AliasEntry(soul[2:], soul, _link(node.get(own)) == own)
        for soul, node in sorted(nodes.items())
        if isinstance(soul, str)
        and soul.startswith("~@")
        and len(soul) > 2
        and isinstance(node, Mapping)
        and own in node
    )
    alias = ""
    account = nodes.get(own)
    if isinstance(account, Mapping):
        shown = unpack(account.get("alias"))
        alias = shown if isinstance(shown, str) else ""
    if not alias and aliases:
        alias = aliases[0].alias
    return UserReport(pub, alias, tuple(reports), aliases, tuple(missing), tuple(outside))


# ---------------------------------------------------------------------- auth


class AuthStepLike(Protocol):
    """What ``auth_report`` reads of a step (``gunrtc_kit.user.AuthStep`` has it): diagnose
    sits below ``user`` and takes any object with these attributes."""

    @property
    def step(self) -> str:
        """``alias``, ``account``, ``work``, ``decrypt``, ``keys``, ``done`` or ``failed``."""

    @property
    def ok(self) -> bool:
        """Whether the step succeeded."""

    @property
    def detail(self) -> str:
        """What happened, in the words of ``user.py``."""

    @property
    def soul(self) -> str:
        """The soul the step read (``~@alias`` or ``~pub``), or ``""``."""

    @property
    def ms(self) -> float:
        """How long the step took (0 when not timed)."""


_WHAT = {
    "alias": "looking up the alias (~@alias)",
    "account": "reading the account (~pub)",
    "work": "proof of work on the password (PBKDF2)",
    "decrypt": "decrypting the private keys (auth.ek)",
    "keys": "checking the keys belong to the account",
    "done": "logged in",
    "failed": "gave up",
}


def _plain(step: str, ok: bool, detail: str) -> str:
    """Why a step failed, in plain words (the raw detail after it when it says more)."""
    if ok:
        return detail
    if step == "decrypt":
        return "wrong password: the proof of work from it does not open the private keys"
    if step == "alias":
        return "no account of that alias reached this peer"
    if step == "account":
        return f"the account is not readable: {detail}"
    if step == "keys":
        return f"the decrypted keys do not belong to the account: {detail}"
    return detail


def auth_report(steps: Iterable[AuthStepLike]) -> list[dict[str, Any]]:
    """``User.last_auth`` as rows for a table: ``{"n", "step", "what", "ms", "ok", "why",
    "soul"}``, numbered from 1. Why rows of words: the steps say ``decrypt`` and ``Could not
    decrypt``; a reader wants "decrypting the private keys: wrong password"."""
    rows: list[dict[str, Any]] = []
    for i, s in enumerate(steps, 1):
        ok = bool(s.ok)
        rows.append(
            {
                "n": i,
                "step": s.step,
                "what": _WHAT.get(s.step, s.step),
                "ms": round(float(s.ms or 0.0), 1),
                "ok": ok,
                "why": _plain(s.step, ok, str(s.detail)),
                "soul": s.soul,
            }
        )
    return rows


def auth_summary(steps: Iterable[AuthStepLike]) -> str:
    """One line: ``auth failed at step 4, decrypting the private keys: wrong password: ...``,
    or ``auth succeeded in 5 steps (312 ms)``. The step named is the last one that failed
    before Gun gave up (with several accounts under one alias, the last account tried)."""
    rows = auth_report(steps)
    if not rows:
        return "no auth on this peer yet"
    total = sum(r["ms"] for r in rows)
    if rows[-1]["step"] == "done" and rows[-1]["ok"]:
        return f"auth succeeded in {len(rows)} steps ({total:.0f} ms)"
    failed = [r for r in rows if not r["ok"] and r["step"] != "failed"]
    if failed:
        r = failed[-1]
        return f"auth failed at step {r['n']}, {r['what']}: {r['why']}"
    last = rows[-1]
    return f"auth failed at step {last['n']}: {last['why']}"
