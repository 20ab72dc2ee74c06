"""The doctor and explain for a tapped Gun app: findings true against the frames, nothing more.

Why: the doctor of ``diagnose.doctor`` compares graphs the Lab can read from peers it made. A
tap (``gunrtc_kit.tap``) in front of someone's Gun relay sees only frames, so here every
client's graph is the one its frames carried (``tapview``), and each finding names the client,
the soul (and key) and the message ids a user can look up in the trace.

The kinds (``TapFindingKind``), each a fact of the trace:

- ``never_asked``: other clients hold soul S, client X sent no ``get`` for S and no put of S
  reached it. A Gun relay pushes a put only to peers that asked for its soul.
- ``not_forwarded``: X asked for S on a connection still open when a writer's put of S.key
  reached the relay (the writer's ``Said`` on its wire, delivered by the tap), and no copy of
  S.key at that state or newer went from the relay to X by the end of the recording; or X
  asked only after the put and no answer carried it.
- ``not_delivered``: the relay sent X the copy, but the tap could not hand it over (a
  ``Dropped``, with its cause).
- ``never_acked``: X's put (a write, not an answer to a ``get``) got no reply naming its id.
- ``disconnected``: X had asked for S, but that connection closed (a ``Bye`` nothing
  re-announced) before the writer's put reached the relay, and no connection of X that asked
  for S was open then.
- ``older_value``: X's carried graph holds S.key at a lower state than another client's.
- ``unknown``: the trace is too short to tell (``about`` says which kind was in question): X's
  connection began before the recording (its ``get``\\ s may be missing), or the recording
  ended less than ``grace`` seconds after the put (a copy or an ack may be on its way).

Linking copies to writers: a Gun.js relay gives every message it passes on a NEW id, so a
relay's copy is tied to the client write it carries by (soul, key, state, value) and never by
id; ``tap_explain`` says so in its notes.

The per-client reading (``read_tap``, ``tap_clients``, ``ClientView``...) lives in
``tapview`` and is re-exported here, so one import gives the whole tap doctor.

Pure: no clock, no asyncio, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core.codec import dumps
from gunrtc_kit.core.ham import Decision
from gunrtc_kit.diagnose.tapview import (
    Ask,
    ClientView,
    Conn,
    Copy,
    TapTrace,
    judge,
    read_tap,
    tap_clients,
)

__all__ = [
    "GRACE",
    "MAX_FINDINGS",
    "Ask",
    "ClientView",
    "Conn",
    "Copy",
    "TapExplanation",
    "TapFinding",
    "TapFindingKind",
    "TapRow",
    "TapTrace",
    "read_tap",
    "tap_clients",
    "tap_doctor",
    "tap_explain",
]

GRACE = 1.0  # seconds after a put before the end of the recording: less, and it is "unknown"
MAX_FINDINGS = 1000  # findings listed at most (a big trace can produce many)
LINK_NOTE = (
    "a Gun.js relay gives what it passes on a new message id, so a copy is linked to its "
    "writer by (soul, key, state, value), not by id"
)
CLOCK_NOTE = (
    "the client's clock is not on the wire: a state ahead of it would wait in the client "
    "until its clock gets there (HAM's future rule), which the tap cannot see"
)


class TapFindingKind(StrEnum):
    """What the tap doctor can find (see the module docstring); equal to its text."""

    NEVER_ASKED = "never_asked"
    NOT_FORWARDED = "not_forwarded"
    NOT_DELIVERED = "not_delivered"
    NEVER_ACKED = "never_acked"
    DISCONNECTED = "disconnected"
    OLDER = "older_value"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TapFinding:
    """One finding: its ``kind``, the ``client`` (pid) it is about, ``soul`` and ``key``
    (``""``: the whole soul), the message ids that are its evidence, and its sentence.
    ``about``: for ``unknown``, the kind the trace could not decide."""

    kind: TapFindingKind
    client: str
    soul: str
    key: str
    evidence: tuple[str, ...]
    text: str
    about: TapFindingKind | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class TapRow:
    """One value of the field that reached the client or that it sent, and HAM's verdict.

    ``direction``: ``told`` (the relay sent it) or ``said`` (the client wrote it). ``author``
    is the client whose own put carried the same (soul, key, state, value), ``""`` when no
    tapped client did (written elsewhere, or before the recording); ``author_mid`` its id.
    ``verdict``: ``accepted``, ``kept-current`` (equal state, JSON text not greater),
    ``same``, ``ignored`` (older state), ``no-state`` or ``not-delivered``.
    """

    copy: Copy
    direction: str
    author: str
    author_mid: str
    verdict: str
    winner: bool = False


@dataclass(frozen=True, slots=True)
class TapExplanation:
    """Every value of ``soul.key`` a client was told or said (``rows``, in the order the tap
    passed them), which one HAM makes it hold (``held``, None: none), and ``notes``."""

    client: str
    name: str
    soul: str
    key: str
    rows: tuple[TapRow, ...]
    held: TapRow | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.soul}.{self.key}"]
        if self.held is None:
            lines.append("holds nothing there (no value reached it, and it wrote none)")
        else:
            c = self.held.copy
            lines.append(f"holds {_text(c.value)} at state {_num(c.state)} (message {c.mid})")
        for r in self.rows:
            c = r.copy
            star = "*" if r.winner else " "
            who = "it wrote" if r.direction == "said" else f"from {c.sender}"
            by = f", written by {r.author} as {r.author_mid}" if r.author else ""
            lines.append(
                f" {star} t={c.t:.3f} {c.mid:<12} {_text(c.value):<20} state {_num(c.state):<16}"
                f" {who}{by}: {r.verdict}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _text(value: Any) -> str:
    try:
        t = dumps(value)
    except Exception:  # a value JSON cannot hold: shown as Python sees it
        t = repr(value)
    return t if len(t) <= 40 else t[:39] + "\u2026"


def _num(s: float | None) -> str:
    if s is None:
        return "none"
    return str(int(s)) if s == int(s) else str(s)


def _same(a: Copy, b: Copy) -> bool:
    """Whether two copies carry the same write: soul, key, state and JSON value."""
    if (a.soul, a.key, a.state) != (b.soul, b.key, b.state):
        return False
    try:
        return dumps(a.value) == dumps(b.value)
    except Exception:
        return bool(a.value == b.value)


def _writes(tt: TapTrace) -> list[Copy]:
    """Every value a tapped client wrote (its puts that answer no ``get``), oldest first."""
    return sorted((c for v in tt.clients.values() for c in v.said if not c.reply), key=_t)


def _t(c: Copy) -> float:
    return c.t


# ---------------------------------------------------------------------------------- explain
def tap_explain(
    events: Iterable[trace.Event],
    client: str,
    soul: str,
    key: str,
    names: dict[str, str] | None = None,
) -> TapExplanation:
    """Every value of ``soul.key`` that reached ``client`` (pid, earlier name or display name)
    or that it sent, when and from whom, and which one HAM makes it hold."""
    tt = read_tap(events, names)
    v = tt.client_of(client)
    if v is None:
        note = f"no tapped client {client!r} in this trace"
        return TapExplanation(client, client, soul, key, (), None, (note,))
    mine = [c for c in v.told + v.said if c.soul == soul and c.key == key]
    mine.sort(key=_t)
    writes = _writes(tt)
    rows: list[TapRow] = []
    held: Copy | None = None
    win = -1
    for c in mine:
        verdict = _verdict(c, held)
        if verdict == "accepted":
            held, win = c, len(rows)
        rows.append(_row(tt, v, c, verdict, writes))
    if win >= 0:
        r = rows[win]
        rows[win] = TapRow(r.copy, r.direction, r.author, r.author_mid, r.verdict, True)
    notes = [LINK_NOTE, CLOCK_NOTE]
    if any(c.partial for c in mine):
        notes.append("some messages were kept as summaries: their values may be cut")
    if not v.seen_open:
        notes.append(f"the recording does not show {v.name} connecting: values before are unknown")
    return TapExplanation(
        v.client, v.name, soul, key, tuple(rows), rows[win] if win >= 0 else None, tuple(notes)
    )


def _verdict(c: Copy, held: Copy | None) -> str:
    if not c.delivered:
        return "not-delivered"
    d = judge(c, held)
    if d is None:
        return "no-state"
    if d is Decision.ACCEPT:
        return "accepted"
    if d is Decision.HISTORICAL:
        return "ignored"
    assert held is not None
    return "same" if _same(c, held) else "kept-current"


def _row(tt: TapTrace, v: ClientView, c: Copy, verdict: str, writes: list[Copy]) -> TapRow:
    if c.sender == v.client:
        return TapRow(c, "said", tt.label(v.client), c.mid, verdict)
    w = next((w for w in writes if _same(w, c)), None)
    author = tt.label(w.sender) if w is not None else ""
    return TapRow(c, "told", author, w.mid if w is not None else "", verdict)


# ---------------------------------------------------------------------------------- doctor
def tap_doctor(
    events: Iterable[trace.Event], names: dict[str, str] | None = None, grace: float = GRACE
) -> list[TapFinding]:
    """Compare the tapped clients of a tap trace: what each was told, said and asked for.

    ``names`` (pid -> name) are used in the sentences; ``grace`` is how long (seconds) after
    a put the recording must go on before its missing copy or ack is a finding rather than
    ``unknown``. An empty list: nothing the trace shows is wrong.
    """
    tt = read_tap(events, names)
    found = _Found(tt)
    _never_asked(tt, found)
    for w in _writes(tt):
        for v in tt.clients.values():
            if v.client != w.sender:
                _forwarded(tt, w, v, grace, found)
    _never_acked(tt, grace, found)
    _older(tt, found)
    return found.items[:MAX_FINDINGS]


class _Found:
    """The findings so far, one per (kind, client, soul, key) (the first evidence wins)."""

    def __init__(self, tt: TapTrace) -> None:
        self.tt = tt
        self.items: list[TapFinding] = []
        self._seen: set[tuple[str, str, str, str, str]] = set()

    def add(
        self,
        kind: TapFindingKind,
        v: ClientView,
        soul: str,
        key: str,
        evidence: Iterable[str],
        text: str,
        about: TapFindingKind | None = None,
    ) -> None:
        """Keep one finding per (kind, client, soul, key), up to ``MAX_FINDINGS``."""
        k = (kind, str(about or ""), v.client, soul, key)
        if k in self._seen or len(self.items) >= MAX_FINDINGS:
            return
        self._seen.add(k)
        ev = tuple(dict.fromkeys(m for m in evidence if m))
        self.items.append(TapFinding(kind, v.client, soul, key, ev, text, about))


def _never_asked(tt: TapTrace, found: _Found) -> None:
    holders: dict[str, list[ClientView]] = {}
    for v in tt.clients.values():
        for soul in v.graph:
            holders.setdefault(soul, []).append(v)
    for soul, have in holders.items():
        for v in tt.clients.values():
            if any(h is v for h in have) or v.asks_for(soul) or any(c.soul == soul for c in v.told):
                continue
            others = ", ".join(h.name for h in have)
            ids = [c.mid for h in have for c in h.graph[soul].values()]
            if not v.seen_open:
                found.add(
                    TapFindingKind.UNKNOWN,
                    v,
                    soul,
                    "",
                    ids,
                    f"unknown whether {v.name} asked for soul {soul!r}: the recording does not "
                    f"show it connecting, so a get it sent before is not in the trace "
                    f"({others} hold {soul!r}: {', '.join(dict.fromkeys(ids))})",
                    TapFindingKind.NEVER_ASKED,
                )
                continue
            found.add(
                TapFindingKind.NEVER_ASKED,
                v,
                soul,
                "",
                ids,
                f"{v.name} never asked for soul {soul!r}: it sent no get for it on its "
                f"{len(v.conns)} connection(s), all seen from their start, and no put of it "
                f"reached it, while {others} hold it (messages {', '.join(dict.fromkeys(ids))});"
                " a Gun relay pushes a put only to peers that asked for its soul",
            )


def _heard(tt: TapTrace, w: Copy) -> bool:
    """Whether the relay got the writer's put (the tap delivered it) and did not refuse it."""
    writer = tt.clients[w.sender]
    ack = writer.acks.get(w.mid)
    return w.delivered and not (ack is not None and ack[1])


def _forwarded(tt: TapTrace, w: Copy, v: ClientView, grace: float, found: _Found) -> None:
    """Did the writer's value ``w`` reach ``v``, which asked for its soul? If not, why."""
    if not _heard(tt, w):
        return
    held = v.holds(w.soul, w.key)
    if held is not None and held.state is not None and w.state is not None:
        if held.state >= w.state:
            return
    newer = [
        c for c in v.told if (c.soul, c.key) == (w.soul, w.key) and (c.state or 0) >= (w.state or 0)
    ]
    if newer:  # sent, not delivered (a delivered one would be held)
        c = newer[0]
        text = (
            f"the relay sent {v.name} {w.soul}.{w.key} (message {c.mid}, carrying "
            f"{tt.label(w.sender)}'s put {w.mid}) but the tap could not deliver it ({c.cause})"
        )
        found.add(TapFindingKind.NOT_DELIVERED, v, w.soul, w.key, [c.mid, w.mid], text)
        return
    asks = v.asks_for(w.soul, w.key)
    if not asks:
        return  # never asked: ``never_asked`` says so when v holds nothing of the soul
    before = [a for a in asks if a.t <= w.t]
    live = [c.wire for c in v.conns if c.live(w.t)]
    asked_live = [a for a in before if a.wire in live]
    after = [a for a in asks if a.t > w.t and any(c.wire == a.wire for c in v.conns)]
    field_ = f"{w.soul}.{w.key}"
    put = f"{tt.label(w.sender)}'s put {w.mid} of {field_} (state {_num(w.state)})"
    if asked_live or after:
        a = asked_live[0] if asked_live else after[0]
        since = max(a.t, w.t)
        if tt.end - since < grace:
            text = (
                f"unknown whether the relay will forward {put} to {v.name}: the recording "
                f"ended {tt.end - since:.3f} s after it (under {grace} s), a copy may be on its way"
            )
            found.add(
                TapFindingKind.UNKNOWN,
                v,
                w.soul,
                w.key,
                [a.mid, w.mid],
                text,
                TapFindingKind.NOT_FORWARDED,
            )
            return
        if asked_live:
            how = f"{v.name} asked for {w.soul!r} (get {a.mid}) before {put} reached the relay"
            tail = "its connection was open then"
        else:
            how = f"{v.name} asked for {w.soul!r} (get {a.mid}) after {put} reached the relay"
            tail = "no answer to its get carried it"
        text = (
            f"the relay never forwarded this put to {v.name}: {how}; {tail}, and no copy of "
            f"{field_} at that state or newer went from the relay to {v.name} by the end of "
            f"the recording ({tt.end - since:.3f} s later)"
        )
        found.add(TapFindingKind.NOT_FORWARDED, v, w.soul, w.key, [a.mid, w.mid], text)
        return
    _gone(tt, w, v, before, put, found)


def _gone(tt: TapTrace, w: Copy, v: ClientView, before: list[Any], put: str, found: _Found) -> None:
    """``v`` asked before the put, on connections all closed by then: it was not there."""
    closed = [
        (a, c)
        for a in before
        for c in v.conns
        if c.wire == a.wire and c.closed is not None and c.closed <= w.t
    ]
    if not closed:
        return
    a, c = closed[-1]
    text = (
        f"{v.name} disconnected before the put: it asked for {w.soul!r} (get {a.mid}) on "
        f"connection {c.wire}, which closed at t={c.closed:.3f} before {put} reached the relay "
        f"at t={w.t:.3f}, and no connection of it that asked for {w.soul!r} was open then"
    )
    found.add(TapFindingKind.DISCONNECTED, v, w.soul, w.key, [a.mid, w.mid], text)


def _never_acked(tt: TapTrace, grace: float, found: _Found) -> None:
    for v in tt.clients.values():
        seen: set[str] = set()
        for c in v.said:
            if c.reply or not c.mid or c.mid in seen or c.mid in v.acks:
                continue
            seen.add(c.mid)
            field_ = f"{c.soul}.{c.key}"
            if not c.delivered:
                text = (
                    f"{v.name}'s put {c.mid} ({field_}...) was never acked: the tap could not "
                    f"deliver it to the relay ({c.cause})"
                )
                found.add(TapFindingKind.NEVER_ACKED, v, c.soul, c.key, [c.mid], text)
                continue
            if tt.end - c.t < grace:
                text = (
                    f"unknown whether {v.name}'s put {c.mid} ({field_}...) will be acked: the "
                    f"recording ended {tt.end - c.t:.3f} s after it (under {grace} s)"
                )
                found.add(
                    TapFindingKind.UNKNOWN,
                    v,
                    c.soul,
                    c.key,
                    [c.mid],
                    text,
                    TapFindingKind.NEVER_ACKED,
                )
                continue
            gone = [k.closed for k in v.conns if k.wire == c.wire and k.closed is not None]
            tail = f"; its connection closed at t={gone[0]:.3f}" if gone else ""
            text = (
                f"{v.name}'s put {c.mid} ({field_}...) was never acked: no reply naming it "
                f"reached {v.name} through the tap in the {tt.end - c.t:.3f} s recorded after "
                f"it{tail}"
            )
            found.add(TapFindingKind.NEVER_ACKED, v, c.soul, c.key, [c.mid], text)


def _older(tt: TapTrace, found: _Found) -> None:
    best: dict[tuple[str, str], tuple[Copy, ClientView]] = {}
    for v in tt.clients.values():
        for soul, node in v.graph.items():
            for key, c in node.items():
                b = best.get((soul, key))
                if c.state is not None and (b is None or (b[0].state or 0) < c.state):
                    best[(soul, key)] = (c, v)
    for v in tt.clients.values():
        for soul, node in v.graph.items():
            for key, c in node.items():
                top, who = best[(soul, key)] if (soul, key) in best else (c, v)
                if c.state is None or top.state is None or c.state >= top.state:
                    continue
                text = (
                    f"{v.name} holds an older value of {soul}.{key}: {_text(c.value)} at state "
                    f"{_num(c.state)} (message {c.mid}), while {who.name} holds "
                    f"{_text(top.value)} at state {_num(top.state)} (message {top.mid})"
                )
                found.add(TapFindingKind.OLDER, v, soul, key, [c.mid, top.mid], text)
