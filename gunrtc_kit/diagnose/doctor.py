"""The doctor: where peers disagree about the graph, why (from the trace), and what would heal it.

Why: "bob does not see alice's message" has a handful of causes in Gun (a partition, a cut
link, a frame lost on a lossy wire, a state from a clock running ahead that HAM holds back,
a peer a relay never pushes to because it never asked for the soul, a peer that reconnected
and did not ask again, a put refused with ``err``, a put no relay acked), and each has its own
cure. The doctor compares what every peer holds, lists each soul/key where they differ, and
names the causes the trace shows, each with the actions that would heal it, as data.

Input is plain data: one ``PeerSnapshot`` per peer (its graph's nodes, the souls it watches,
its keys waiting for a future state, its machine clock) and the trace events. Output is a
``Report`` of ``Finding``\\ s, each with ``Reason``\\ s carrying ``Action``\\ s. Pure: no asyncio,
no clock read here (times come from the snapshots and events); the Lab's executor
(``gunrtc_kit.lab.doctor``) takes the snapshots, runs the safe actions and diagnoses again.

``bool(report)`` is True when every peer agrees, so ``assert lab.doctor()`` and ``if not
lab.converged():`` read as they sound.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core.ham import json_text_greater
from gunrtc_kit.diagnose.messages import RTC_PREFIX
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.wires import WireBook

__all__ = [
    "CUT",
    "DEFERRED",
    "ERROR_ACK",
    "FIX",
    "HEAL",
    "IN_FLIGHT",
    "LOST",
    "NEVER_ACKED",
    "NOT_REASKED",
    "NOT_RELAYED",
    "NOT_SUBSCRIBED",
    "PARTITION",
    "REASON_KINDS",
    "REGET",
    "RELINK",
    "WAIT_UNTIL",
    "Action",
    "ActionKind",
    "Finding",
    "Holding",
    "Pending",
    "PeerSnapshot",
    "Reason",
    "ReasonKind",
    "Report",
    "diagnose",
]


class ReasonKind(StrEnum):
    """Why a peer lacks a value: the doctor's typed vocabulary (equal to its text)."""

    #: a partitioned link drops (or dropped) the frames
    PARTITION = "partition"
    #: no live wire at all between a peer and the data
    CUT = "cut"
    #: a frame carrying the data was lost (lossy memory wire, data channel, closed wire)
    LOST = "lost"
    #: HAM holds a future state back until the peer's clock reaches it
    DEFERRED = "deferred"
    #: never asked for the soul: nothing is pushed to it
    NOT_SUBSCRIBED = "never_subscribed"
    #: asked, reconnected, never asked again
    NOT_REASKED = "not_reasked"
    #: the put listed the peer in ``><`` (told already), so nobody relayed it there, but the
    #: writer's own copy never reached it
    NOT_RELAYED = "not_relayed"
    #: a put carrying the data was refused with ``err``
    ERROR_ACK = "error_ack"
    #: a put no relay acked within the ack timeout
    NEVER_ACKED = "never_acked"
    #: a copy is on its way (said, neither heard nor lost yet)
    IN_FLIGHT = "in_flight"


class ActionKind(StrEnum):
    """What would heal a reason: the doctor's typed actions (equal to their text)."""

    #: the peer that lacks the data asks for its soul again
    REGET = "reget"
    #: clear a link's partition (and a loss of 100 %)
    HEAL = "heal"
    #: make a new link where one was cut
    RELINK = "relink"
    #: wait until a deferred state's time
    WAIT_UNTIL = "wait_until"
    #: the writer fixes a refused put and writes it again (never run by the healer)
    FIX = "fix"


PARTITION = ReasonKind.PARTITION
CUT = ReasonKind.CUT
LOST = ReasonKind.LOST
DEFERRED = ReasonKind.DEFERRED
NOT_SUBSCRIBED = ReasonKind.NOT_SUBSCRIBED
NOT_REASKED = ReasonKind.NOT_REASKED
NOT_RELAYED = ReasonKind.NOT_RELAYED
ERROR_ACK = ReasonKind.ERROR_ACK
NEVER_ACKED = ReasonKind.NEVER_ACKED
IN_FLIGHT = ReasonKind.IN_FLIGHT
REASON_KINDS = tuple(ReasonKind)

REGET = ActionKind.REGET
HEAL = ActionKind.HEAL
RELINK = ActionKind.RELINK
WAIT_UNTIL = ActionKind.WAIT_UNTIL
FIX = ActionKind.FIX

# copies that never reached the peer they were said to (the wire or the queue ate them)
_LOST_ON_WAY = frozenset(
    {
        trace.DropCause.PARTITIONED,
        trace.DropCause.LOSS,
        trace.DropCause.WIRE_CLOSED,
        trace.DropCause.PEER_LEFT,
        trace.DropCause.QUEUE_FULL,
    }
)
_LOST_TEXT = {
    trace.DropCause.LOSS: "lost on the lossy link",
    trace.DropCause.WIRE_CLOSED: "lost when it was closed with the copy on it: link",
    trace.DropCause.PEER_LEFT: "never sent (the peer had left) on link",
    trace.DropCause.QUEUE_FULL: "never sent (the queue was full) on link",
}
# replies heard but not merged: no open request (its route expired), or past the stream's cap
_LATE = frozenset({trace.DropCause.UNSOLICITED_REPLY, trace.DropCause.REPLY_CAP})

_MAX_YO = 64  # names kept per message from its '><' lists (gun.js reads 99 characters)

ACK_TIMEOUT = 9.0  # Gun's opt.lack: seconds without an ack before a put is "never acked"
IN_FLIGHT_FOR = 2.0  # seconds a copy with no sign of arrival counts as on its way
MAX_FINDINGS = 1_000  # findings listed in one report (the rest are counted)


@dataclass(frozen=True, slots=True)
class Pending:
    """A key a peer holds back because its state is ahead of the peer's machine clock; it is
    applied when the clock reaches ``due`` (ms). Why: such a key is missing from the graph
    though the peer has it, and the cure is to wait, not to ask again."""

    soul: str
    key: str
    state: float
    value: Any = None
    due: float = math.nan

    @property
    def when(self) -> float:
        """The machine time (ms) at which the key is applied (``due``, else its state)."""
        return self.state if math.isnan(self.due) else self.due


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    """What one peer holds at one moment, as plain data the doctor can compare.

    ``nodes`` is its graph (souls to nodes with ``_`` metadata), ``watching`` the souls it
    subscribed to (``on``), ``deferred`` its keys waiting for a future state, ``now`` its
    machine clock in ms (with any skew) when taken, ``relay`` whether it routes as a relay
    (AXE: pushes a put only to the connections that asked for its soul)."""

    pid: str
    name: str = ""
    nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    watching: frozenset[str] = frozenset()
    deferred: tuple[Pending, ...] = ()
    now: float = 0.0
    relay: bool = False

    @property
    def label(self) -> str:
        """The peer's name, else its pid."""
        return self.name or self.pid


@dataclass(frozen=True, slots=True)
class Action:
    """A step that would heal a disagreement, as data an executor can run.

    ``kind`` is ``reget`` (``peer`` asks for ``soul`` again), ``heal`` (clear the partition or
    total loss of ``link``), ``relink`` (a new link for the cut ``link``) or ``wait_until``
    (``peer``'s clock reaches ``until`` ms, ``wait`` seconds after the snapshot). ``safe``: it
    changes no data and no experiment a user would mind undone in a Lab."""

    kind: ActionKind
    text: str
    peer: str = ""
    soul: str = ""
    link: tuple[str, str] = ("", "")
    until: float = 0.0
    wait: float = 0.0
    safe: bool = True

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Reason:
    """One cause of a disagreement, found in the trace or a snapshot.

    ``kind`` is one of ``REASON_KINDS``; ``text`` says it in words with peers and links named;
    ``peers`` are the pids it keeps from the data; ``link`` the two pids of the link it is
    about (if any); ``since`` the trace time the cause began; ``msg_id`` the message it is
    about; ``actions`` what would cure it."""

    kind: ReasonKind
    text: str
    peers: tuple[str, ...] = ()
    link: tuple[str, str] | None = None
    since: float | None = None
    msg_id: str = ""
    actions: tuple[Action, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass(frozen=True, slots=True)
class Holding:
    """What one peer holds for one soul/key: ``present``, ``value``, ``state``, and whether it
    is the value HAM makes win everywhere (``current``)."""

    pid: str
    name: str
    present: bool
    value: Any = None
    state: float | None = None
    current: bool = False

    def __str__(self) -> str:
        if not self.present:
            return f"{self.name}: (nothing)"
        mark = "" if self.current else " (behind)"
        return f"{self.name}: {_short(self.value)} @{_state(self.state)}{mark}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One soul/key where the peers disagree: who holds what, why, and what would heal it."""

    soul: str
    key: str
    holdings: tuple[Holding, ...]
    reasons: tuple[Reason, ...] = ()
    fallback: tuple[Action, ...] = ()

    @property
    def behind(self) -> tuple[str, ...]:
        """Names of the peers that do not hold the winning value."""
        return tuple(h.name for h in self.holdings if not h.current)

    @property
    def explained(self) -> bool:
        """True when at least one reason accounts for it."""
        return bool(self.reasons)

    @property
    def actions(self) -> tuple[Action, ...]:
        """Every action its reasons suggest (once each), or a re-get when none was found."""
        seen: dict[tuple[str, str, str, tuple[str, str]], Action] = {}
        for r in self.reasons:
            for a in r.actions:
                seen.setdefault((a.kind, a.peer, a.soul, a.link), a)
        for a in self.fallback:
            seen.setdefault((a.kind, a.peer, a.soul, a.link), a)
        return tuple(seen.values())

    def kinds(self) -> set[str]:
        """The kinds of its reasons."""
        return {r.kind for r in self.reasons}

    def __str__(self) -> str:
        head = f"{self.soul}.{self.key}: " + "; ".join(str(h) for h in self.holdings)
        why = [f"    why: {r}" for r in self.reasons] or ["    why: no reason found in the trace"]
        fix = [
            f"    fix: {a}" + ("" if a.safe else " (not done by heal=True)") for a in self.actions
        ]
        return "\n".join([head, *why, *fix])


@dataclass(frozen=True)
class Report:
    """The doctor's answer: the peers compared, the souls in play and every ``Finding``.

    ``bool(report)`` is True when every peer agrees (no findings). After ``heal=True``,
    ``before`` is the report the healing started from and ``done`` lists what it did, so one
    cell shows the before, the cure and the after."""

    peers: tuple[str, ...]
    souls: tuple[str, ...]
    findings: tuple[Finding, ...]
    t: float = 0.0
    omitted: int = 0
    before: Report | None = None
    done: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return not self.findings and not self.omitted

    @property
    def converged(self) -> bool:
        """True when every peer holds the same value and state for every key in play."""
        return bool(self)

    def kinds(self) -> set[str]:
        """Every reason kind named in the report."""
        return {k for f in self.findings for k in f.kinds()}

    def reasons(self, kind: str = "") -> list[Reason]:
        """The reasons of every finding (of one ``kind`` if given), once each."""
        out: dict[tuple[str, str, str], Reason] = {}
        for f in self.findings:
            for r in f.reasons:
                if not kind or r.kind == kind:
                    out.setdefault((r.kind, r.text, r.msg_id), r)
        return list(out.values())

    def actions(self, *, safe_only: bool = False) -> list[Action]:
        """Every action suggested (once each; only the safe ones with ``safe_only``)."""
        out: dict[tuple[str, str, str, tuple[str, str]], Action] = {}
        for f in self.findings:
            for a in f.actions:
                if a.safe or not safe_only:
                    out.setdefault((a.kind, a.peer, a.soul, a.link), a)
        return list(out.values())

    def finding(self, soul: str, key: str) -> Finding | None:
        """The finding for ``soul``/``key``, or None when the peers agree on it."""
        return next((f for f in self.findings if f.soul == soul and f.key == key), None)

    def _summary(self) -> str:
        if self:
            return (
                f"converged: {len(self.peers)} peers agree on {len(self.souls)} soul"
                f"{'s' if len(self.souls) != 1 else ''}"
            )
        n = len(self.findings) + self.omitted
        return f"{n} disagreement{'s' if n != 1 else ''} among {', '.join(self.peers)}"

    def __str__(self) -> str:
        lines: list[str] = []
        if self.before is not None:
            lines.append(f"before: {self.before._summary()}")
            lines.extend(f"  {f}".replace("\n", "\n  ") for f in self.before.findings)
            lines.append("healing:" if self.done else "healing: nothing safe to do")
            lines.extend(f"  {d}" for d in self.done)
            lines.append("after: " + self._summary())
        else:
            lines.append(self._summary())
        lines.extend(str(f) for f in self.findings)
        if self.omitted:
            lines.append(f"... and {self.omitted} more not listed")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Report {self._summary()}>\n{self}" if not self else f"<Report {self._summary()}>"

    def _repr_html_(self) -> str:
        e = html.escape
        parts: list[str] = []
        if self.before is not None:
            parts.append(f"<div><b>before</b>: {e(self.before._summary())}</div>")
            parts.append(_findings_html(self.before.findings))
            steps = "".join(f"<li>{e(d)}</li>" for d in self.done) or "<li>nothing safe</li>"
            parts.append(f"<div><b>healing</b><ul>{steps}</ul></div>")
            parts.append(f"<div><b>after</b>: {e(self._summary())}</div>")
        else:
            color = "green" if self else "#b00"
            parts.append(f"<div style='color:{color}'><b>{e(self._summary())}</b></div>")
        parts.append(_findings_html(self.findings))
        if self.omitted:
            parts.append(f"<div>... and {self.omitted} more not listed</div>")
        return "<div class='gk-doctor'>" + "".join(parts) + "</div>"


def _findings_html(findings: Sequence[Finding]) -> str:
    if not findings:
        return ""
    e = html.escape
    rows = []
    for f in findings:
        held = "<br>".join(e(str(h)) for h in f.holdings)
        why = "<br>".join(f"<b>{e(r.kind)}</b>: {e(r.text)}" for r in f.reasons) or (
            "<i>no reason found in the trace</i>"
        )
        fix = "<br>".join(e(a.text) + ("" if a.safe else " <i>(manual)</i>") for a in f.actions)
        rows.append(
            f"<tr><td><code>{e(f.soul)}.{e(f.key)}</code></td><td>{held}</td>"
            f"<td>{why}</td><td>{fix}</td></tr>"
        )
    return (
        "<table><tr><th>soul.key</th><th>who holds what</th><th>why</th><th>heal</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _state(state: float | None) -> str:
    return "?" if state is None else f"{state:.0f}"


# ---------------------------------------------------------------------------- the trace


@dataclass(slots=True)
class _WireHist:
    """One wire between two peers: open or closed, and each end's faults."""

    transport: str = ""
    closed: bool = False
    partitioned: dict[str, bool] = field(default_factory=dict)
    loss: dict[str, float] = field(default_factory=dict)

    def state(self) -> str:
        """``""`` when usable, else why not: ``cut``, ``partitioned`` or ``loss``."""
        if self.closed:
            return "cut"
        if any(self.partitioned.values()):
            return "partitioned"
        if any(v >= 1.0 for v in self.loss.values()):
            return "loss"
        return ""


_DOWN_ORDER = ("partitioned", "loss", "cut")  # the reason named when every wire is down


@dataclass(slots=True)
class _LinkHist:
    """What joins a pair of pids over time: its wires (several may join one pair: a data
    channel beside a memory wire), and the spans when none of them was usable. The pair is up
    while any wire is; down, it names the most curable wire's reason (a partition before a
    total loss before a cut)."""

    wires: dict[str, _WireHist] = field(default_factory=dict)
    down_since: float | None = None
    why: str = ""
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # (from, to, why)

    def wire(self, key: str, transport: str) -> _WireHist:
        """The wire named ``key`` (made if new)."""
        w = self.wires.get(key)
        if w is None:
            w = self.wires[key] = _WireHist(transport)
        return w

    @property
    def closed(self) -> bool:
        """Every wire of the pair is closed (or it has none)."""
        return all(w.closed for w in self.wires.values())

    @property
    def transport(self) -> str:
        """The transport of the wire the pair's state comes from (a down one when down)."""
        why = self.state()
        for w in self.wires.values():
            if w.state() == why:
                return w.transport
        return ""

    def state(self) -> str:
        """``""`` when any wire is usable, else why not: ``partitioned``, ``loss`` or ``cut``."""
        states = {w.state() for w in self.wires.values()}
        if not states or "" in states:
            return "" if states else "cut"
        return next(why for why in _DOWN_ORDER if why in states)

    def update(self, t: float) -> None:
        """Record at time ``t`` whether the link went down or came back up (a down span)."""
        why = self.state()
        if why and self.down_since is None:
            self.down_since, self.why = t, why
        elif why and why != self.why:
            assert self.down_since is not None
            self.spans.append((self.down_since, t, self.why))
            self.down_since, self.why = t, why
        elif not why and self.down_since is not None:
            self.spans.append((self.down_since, t, self.why))
            self.down_since, self.why = None, ""

    def down_at(self, t: float) -> str:
        """Why the link was down at time ``t`` (``""`` if it was up, or not yet known)."""
        if self.down_since is not None and t >= self.down_since:
            return self.why
        for a, b, why in self.spans:
            if a <= t < b:
                return why
        return ""


@dataclass(slots=True)
class _Copy:
    """One copy of a message said from one peer to another."""

    t: float
    src: str
    dst: str
    mid: str
    transport: str


class _Trace:
    """What the doctor reads from the events: links, gets, puts, drops, errors, acks."""

    def __init__(self, events: Iterable[trace.Event], names: Mapping[str, str]) -> None:
        self.d = Directory(dict(names))
        self.wires = WireBook()
        self.links: dict[tuple[str, str], _LinkHist] = {}
        self.opened: dict[tuple[str, str], list[float]] = {}  # (node, far pid) -> open times
        self.closed_at: dict[tuple[str, str], list[float]] = {}
        self.gets: dict[tuple[str, str], list[tuple[float, str]]] = {}  # (pid, soul) -> (t, to)
        self.get_ids: dict[tuple[str, str, str], str] = {}  # (pid, soul, to) -> last get's id
        self.puts: dict[str, tuple[float, str, dict[str, Any], bool]] = {}  # mid -> (t,origin,..)
        self.carried: dict[str, list[str]] = {}  # soul -> mids of puts/replies carrying it
        self.written: dict[tuple[str, str, float], tuple[float, str, str]] = {}
        self.merged: dict[tuple[str, str, float], tuple[float, str]] = {}
        # mid -> (t, src, dst, cause): copies that never reached dst
        self.drops: dict[str, list[tuple[float, str, str, trace.DropCause]]] = {}
        # mid -> sayer -> the peers it listed in '><' (those it told itself)
        self.yo: dict[str, dict[str, set[str]]] = {}
        self.copies: dict[str, list[_Copy]] = {}
        self.late: dict[str, list[tuple[float, str, str]]] = {}  # mid -> (t, from, to)
        self.heard: set[tuple[str, str]] = set()  # (mid, receiver)
        self.refused: set[tuple[str, str]] = set()  # (mid, receiver): arrived, dropped there
        self.errs: dict[str, list[tuple[float, str, str]]] = {}  # mid -> (t, who, err)
        self.acked: set[str] = set()
        self.now = 0.0
        for e in sorted(events, key=lambda e: e.t):
            self._apply(e)

    def pid_of(self, node: str, peer: str) -> str:
        """The pid ``node`` means by its peer id ``peer`` (``""`` while unknown)."""
        return self.d.resolve(node, peer)

    def _link(self, a: str, b: str) -> _LinkHist:
        key = (a, b) if a <= b else (b, a)
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = _LinkHist()
        return link

    def _apply(self, e: trace.Event) -> None:
        self.d.apply(e)
        self.wires.apply(e)
        self.now = max(self.now, e.t)
        if isinstance(e, trace.Link | trace.Hi):
            other = e.pid or self.pid_of(e.node, e.peer)
            if not other:
                return
            link = self._link(e.node, other)
            was_closed = link.closed or (e.node, other) not in self.opened
            wire = link.wire(self.wires.key(e.node, e.peer, e.transport), e.transport)
            wire.closed = False
            if isinstance(e, trace.Link):
                props = e.props or {}
                wire.partitioned[e.node] = bool(props.get("partitioned", False))
                loss = props.get("loss", 0.0)
                wire.loss[e.node] = float(loss) if isinstance(loss, int | float) else 0.0
            if was_closed:
                self.opened.setdefault((e.node, other), []).append(e.t)
                self.opened.setdefault((other, e.node), []).append(e.t)
            link.update(e.t)
        elif isinstance(e, trace.Bye):
            other = self.pid_of(e.node, e.peer)
            if other:
                link = self._link(e.node, other)
                was_open = not link.closed
                wire = link.wire(self.wires.key(e.node, e.peer, e.transport), e.transport)
                wire.closed = True
                wire.partitioned.clear()
                wire.loss.clear()
                if was_open and link.closed:
                    self.closed_at.setdefault((e.node, other), []).append(e.t)
                    self.closed_at.setdefault((other, e.node), []).append(e.t)
                link.update(e.t)
        elif isinstance(e, trace.Said):
            self._said(e)
        elif isinstance(e, trace.Heard):
            mid = e.msg.get("#")
            if isinstance(mid, str):
                self.heard.add((mid, e.node))
            self._reply(e.t, e.node, self.pid_of(e.node, e.peer), e.msg)
        elif isinstance(e, trace.Dropped):
            if e.cause in _LOST_ON_WAY and e.msg_id:
                dst = self.pid_of(e.node, e.peer)
                self.drops.setdefault(e.msg_id, []).append((e.t, e.node, dst, e.cause))
            elif e.cause.on_arrival and e.msg_id:
                self.refused.add((e.msg_id, e.node))  # it arrived, and was not taken
            elif e.cause in _LATE and e.msg_id:
                # a reply to no request still open here (its route expired), or past the cap
                # on one reply stream: heard, but not merged
                src = self.pid_of(e.node, e.peer)
                self.late.setdefault(e.msg_id, []).append((e.t, src, e.node))
        elif isinstance(e, trace.Ack):
            if e.err:
                who = self.pid_of(e.node, e.peer)
                self.errs.setdefault(e.reply_to, []).append((e.t, who, e.err))
            else:
                self.acked.add(e.reply_to)
        elif isinstance(e, trace.Error):
            if e.msg_id and e.msg_id in self.puts:
                self.errs.setdefault(e.msg_id, []).append((e.t, e.node, e.error))
        elif isinstance(e, trace.Put):
            for soul, states in e.states.items():
                for key, st in states.items():
                    self.merged.setdefault((soul, key, st), (e.t, e.node))

    def _said(self, e: trace.Said) -> None:
        msg = e.msg
        mid = msg.get("#")
        if not isinstance(mid, str):
            return
        dst = self.pid_of(e.node, e.peer)
        self.copies.setdefault(mid, []).append(_Copy(e.t, e.node, dst, mid, e.transport))
        yo = msg.get("><")
        if isinstance(yo, str) and yo and "put" in msg:
            told = self.yo.setdefault(mid, {}).setdefault(e.node, set())
            if len(told) < _MAX_YO:
                told.update(yo[:99].split(","))
        get = msg.get("get")
        if isinstance(get, dict) and isinstance(get.get("#"), str):
            self.gets.setdefault((e.node, get["#"]), []).append((e.t, dst))
            self.get_ids[(e.node, get["#"], dst)] = mid
        put = msg.get("put")
        if isinstance(put, dict) and mid not in self.puts:
            self.puts[mid] = (e.t, e.node, put, "ok" in msg and "@" not in msg)
            for soul, node in put.items():
                if not isinstance(soul, str):
                    continue
                self.carried.setdefault(soul, []).append(mid)
                states = node.get("_", {}).get(">", {}) if isinstance(node, dict) else {}
                if isinstance(states, dict) and "@" not in msg:
                    for key, st in states.items():
                        if isinstance(st, int | float):
                            self.written.setdefault((soul, key, float(st)), (e.t, e.node, mid))

    def _reply(self, t: float, node: str, src: str, msg: Mapping[str, Any]) -> None:
        to = msg.get("@")
        if not isinstance(to, str):
            return
        err = msg.get("err")
        if err:
            self.errs.setdefault(to, []).append((t, src, str(err)))
        elif "put" not in msg:
            origin = self.puts.get(to)
            if origin is not None and origin[1] == node:
                self.acked.add(to)

    def down_links(self) -> dict[tuple[str, str], _LinkHist]:
        """The links that are not usable now."""
        return {k: v for k, v in self.links.items() if v.state()}

    def asked(self, pid: str, soul: str) -> list[tuple[float, str]]:
        """When ``pid`` said a get for ``soul``, and to whom."""
        return self.gets.get((pid, soul), [])

    def last_get_lost(self, pid: str, soul: str, to: str) -> bool:
        """Whether the last get for ``soul`` that ``pid`` said to ``to`` was dropped on the
        way to it (a partitioned or lossy link) and never heard there."""
        mid = self.get_ids.get((pid, soul, to))
        if mid is None or (mid, to) in self.heard:
            return False
        return any(d[2] == to for d in self.drops.get(mid, ()))


def _carries(put: Mapping[str, Any], soul: str, key: str) -> bool:
    node = put.get(soul)
    if not isinstance(node, dict):
        return False
    return key in node or "\u2026" in node  # a summarized put may have lost the key


# ---------------------------------------------------------------------------- diagnosis


def diagnose(
    snapshots: Sequence[PeerSnapshot],
    events: Iterable[trace.Event] = (),
    *,
    souls: Iterable[str] | None = None,
    names: Mapping[str, str] | None = None,
    now: float | None = None,
    ack_timeout: float = ACK_TIMEOUT,
    in_flight_for: float = IN_FLIGHT_FOR,
) -> Report:
    """Compare the peers' graphs and explain each disagreement from ``events``.

    Why one pure function: the Lab, a script with plain ``Gun`` objects and a test with a
    hand-made trace all ask the same question. ``souls`` limits the comparison (default: every
    soul any peer holds, WebRTC room souls left out); ``names`` names pids that have no
    snapshot (a stopped relay); ``now`` is the trace time the report is judged at (default: the
    newest event's), against which a put is "never acked" after ``ack_timeout`` seconds and a
    copy is "in flight" for ``in_flight_for`` seconds."""
    all_names = {s.pid: s.label for s in snapshots}
    all_names = {**dict(names or {}), **all_names}
    tr = _Trace(events, all_names)
    at = tr.now if now is None else now
    by_pid = {s.pid: s for s in snapshots}
    if souls is None:
        in_play = sorted(
            {s for snap in snapshots for s in snap.nodes if not s.startswith(RTC_PREFIX)}
        )
    else:
        in_play = sorted(set(souls))
    ctx = _Context(tr, by_pid, all_names, at, ack_timeout, in_flight_for)
    findings: list[Finding] = []
    omitted = 0
    for soul in in_play:
        keys: set[str] = set()
        for snap in snapshots:
            node = snap.nodes.get(soul)
            if node:
                keys.update(k for k in node if k != "_")
        for key in sorted(keys):
            holdings = _holdings(snapshots, soul, key)
            if all(h.current for h in holdings):
                continue
            if len(findings) >= MAX_FINDINGS:
                omitted += 1
                continue
            findings.append(ctx.explain(soul, key, holdings))
    return Report(
        peers=tuple(s.label for s in snapshots),
        souls=tuple(in_play),
        findings=tuple(findings),
        t=at,
        omitted=omitted,
    )


def _holdings(snapshots: Sequence[PeerSnapshot], soul: str, key: str) -> tuple[Holding, ...]:
    raw: list[tuple[PeerSnapshot, bool, Any, float | None]] = []
    for snap in snapshots:
        node = snap.nodes.get(soul)
        if node is None or key not in node:
            raw.append((snap, False, None, None))
            continue
        st = (node.get("_") or {}).get(">", {}).get(key)
        raw.append((snap, True, node[key], float(st) if isinstance(st, int | float) else None))
    best: tuple[Any, float] | None = None
    for _, present, value, st in raw:
        if not present:
            continue
        s = -math.inf if st is None else st
        if best is None or s > best[1] or (s == best[1] and json_text_greater(value, best[0])):
            best = (value, s)
    out = []
    for snap, present, value, st in raw:
        current = (
            present
            and best is not None
            and (-math.inf if st is None else st) == best[1]
            and json.dumps(value, sort_keys=True, default=repr)
            == json.dumps(best[0], sort_keys=True, default=repr)
        )
        out.append(Holding(snap.pid, snap.label, present, value, st, current))
    return tuple(out)


class _Context:
    """The trace and snapshots, with the questions ``explain`` asks of them."""

    def __init__(
        self,
        tr: _Trace,
        snaps: dict[str, PeerSnapshot],
        names: dict[str, str],
        at: float,
        ack_timeout: float,
        in_flight_for: float,
    ) -> None:
        self.tr = tr
        self.snaps = snaps
        self.names = names
        self.at = at
        self.ack_timeout = ack_timeout
        self.in_flight_for = in_flight_for
        self.relays = {p for p, s in snaps.items() if s.relay}
        self.win_state = -math.inf  # the winning state of the field being explained

    def relay_name(self, pid: str) -> str:
        """``relay <name>``, or the name alone when it already says relay."""
        name = self.n(pid)
        return name if "relay" in name.lower() else f"relay {name}"

    def n(self, pid: str) -> str:
        """The name of ``pid`` in the texts."""
        return self.names.get(pid) or self.tr.d.label(pid) or pid

    def ago(self, t: float) -> str:
        """Trace time ``t`` as "N s ago" from the time the report is judged at."""
        return f"{max(self.at - t, 0.0):.1f} s ago"

    def link_text(self, a: str, b: str) -> str:
        """A link as ``alice\u2194bob`` (names sorted, so both ends say it alike)."""
        x, y = sorted((self.n(a), self.n(b)))
        return f"{x}\u2194{y}"

    def reget(self, pid: str, soul: str) -> Action:
        """The action: ``pid`` asks for ``soul`` again."""
        return Action(REGET, f"{self.n(pid)} asks for {soul!r} again (get)", peer=pid, soul=soul)

    # -------------------------------------------------------------- links as a graph
    def path_downs(
        self, src: str, targets: set[str], t: float | None
    ) -> tuple[list[tuple[str, str]], set[str]] | None:
        """The down links and the peers on a path from ``src`` to any of ``targets`` with the
        fewest down links (now, or at trace time ``t``); None when no known link leads there."""
        adj: dict[str, list[tuple[str, bool]]] = {}
        for (a, b), link in self.tr.links.items():
            down = bool(link.state() if t is None else link.down_at(t))
            adj.setdefault(a, []).append((b, down))
            adj.setdefault(b, []).append((a, down))
        best: dict[str, int] = {src: 0}
        prev: dict[str, tuple[str, bool]] = {}
        dq: deque[str] = deque([src])
        while dq:
            x = dq.popleft()
            for y, down in adj.get(x, ()):
                cost = best[x] + (1 if down else 0)
                if cost < best.get(y, 1 << 30):
                    best[y] = cost
                    prev[y] = (x, down)
                    if down:
                        dq.append(y)
                    else:
                        dq.appendleft(y)
        reach = [p for p in targets if p in best]
        if not reach:
            return None
        end = min(reach, key=lambda p: best[p])
        downs: list[tuple[str, str]] = []
        nodes = {end}
        while end != src:
            x, down = prev[end]
            if down:
                downs.append((x, end))
            end = x
            nodes.add(x)
        return downs, nodes

    def link_reason(self, a: str, b: str, behind: tuple[str, ...], soul: str) -> Reason:
        """Why the link ``a``-``b`` is down now, as a reason with its cure."""
        key = (a, b) if a <= b else (b, a)
        link = self.tr.links[key]
        why = link.state()
        since = link.down_since
        when = f" since {self.ago(since)}" if since is not None else ""
        lt = self.link_text(a, b)
        regets = tuple(self.reget(p, soul) for p in behind)
        if why == "cut":
            memory = link.transport == "memory"
            return Reason(
                CUT,
                f"link {lt} is closed{when}: nothing reaches "
                f"{', '.join(self.n(p) for p in behind)} over it",
                behind,
                key,
                since,
                actions=(
                    Action(
                        RELINK,
                        f"link {lt} again (a new memory link)"
                        if memory
                        else f"reconnect {lt} (a closed {link.transport or '?'} link)",
                        link=key,
                        safe=memory,
                    ),
                    *regets,
                ),
            )
        if why == "partitioned":
            return Reason(
                PARTITION,
                f"link {lt} is partitioned{when}: every frame over it is dropped",
                behind,
                key,
                since,
                actions=(Action(HEAL, f"heal the partition of {lt}", link=key), *regets),
            )
        return Reason(
            LOST,
            f"link {lt} loses every frame (loss 100 %){when}",
            behind,
            key,
            since,
            actions=(Action(HEAL, f"set the loss of {lt} back to 0", link=key), *regets),
        )

    # -------------------------------------------------------------- one finding
    def explain(self, soul: str, key: str, holdings: tuple[Holding, ...]) -> Finding:
        """The finding for one soul/key: every reason that keeps each behind peer from the
        winning value, and the actions that would cure them."""
        ahead = {h.pid for h in holdings if h.current}
        behind = tuple(h.pid for h in holdings if not h.current)
        win = next(h for h in holdings if h.current)
        win_state = win.state if win.state is not None else -math.inf
        self.win_state = win_state
        reasons: dict[tuple[str, str, str], Reason] = {}

        def add(r: Reason) -> None:
            k = (r.kind, r.text, r.msg_id)
            old = reasons.get(k)
            if old is None:
                reasons[k] = r
            else:
                peers = tuple(dict.fromkeys(old.peers + r.peers))
                acts = {(a.kind, a.peer, a.soul, a.link): a for a in old.actions + r.actions}
                reasons[k] = Reason(
                    old.kind, old.text, peers, old.link, old.since, old.msg_id, tuple(acts.values())
                )

        written = self.tr.written.get((soul, key, win_state))
        merged = self.tr.merged.get((soul, key, win_state))
        t_write = written[0] if written else merged[0] if merged else None
        origin = written[1] if written else merged[1] if merged else win.pid

        def has(p: str) -> bool:
            return any(p in r.peers for r in reasons.values())

        paths: dict[str, set[str]] = {}
        for p in behind:
            self._deferred(p, soul, key, add)
            path = self.path_downs(p, ahead, None)
            paths[p] = path[1] if path else {p}
            if path is None:
                add(
                    Reason(
                        CUT,
                        f"{self.n(p)} has no link to any peer that holds {soul}.{key}",
                        (p,),
                    )
                )
            else:
                for a, b in path[0]:
                    add(self.link_reason(a, b, (p,), soul))
            self._history(p, soul, key, path[1] if path else {p}, add)
            if t_write is not None and not has(p):
                then = self.path_downs(origin, {p}, t_write)
                for a, b in then[0] if then else ():
                    k = (a, b) if a <= b else (b, a)
                    why = self.tr.links[k].down_at(t_write)
                    kind = CUT if why == "cut" else PARTITION if why == "partitioned" else LOST
                    add(
                        Reason(
                            kind,
                            f"when {self.n(origin)} wrote {soul}.{key} ({self.ago(t_write)}), "
                            f"link {self.link_text(a, b)} was "
                            f"{'closed' if why == 'cut' else why}: nothing was sent "
                            f"to {self.n(p)} then, and nobody pushes it again",
                            (p,),
                            k,
                            t_write,
                            actions=(self.reget(p, soul),),
                        )
                    )
            self._subscription(p, soul, key, ahead, t_write, add, quiet=has(p))
        self._acks(soul, key, win_state, behind, add)
        # a peer whose only way to the data passes a peer that lacks it too lacks it for the
        # same reasons as that peer (bob reaches the relay only through alice, who never asked)
        for _ in behind:
            bare = [p for p in behind if not has(p)]
            moved = False
            for p in bare:
                via = next((q for q in paths[p] if q != p and q in behind and has(q)), None)
                if via is None:
                    continue
                for rk, r in list(reasons.items()):
                    if via in r.peers:
                        reasons[rk] = dataclasses.replace(
                            r, peers=(*r.peers, p), actions=(*r.actions, self.reget(p, soul))
                        )
                moved = True
            if not moved:
                break
        fallback = () if reasons else tuple(self.reget(p, soul) for p in behind)
        return Finding(soul, key, holdings, tuple(reasons.values()), fallback)

    def _deferred(self, p: str, soul: str, key: str, add: Any) -> None:
        snap = self.snaps.get(p)
        if snap is None:
            return
        for d in snap.deferred:
            if d.soul == soul and d.key == key:
                wait = max(d.when - snap.now, 0.0) / 1000.0
                add(
                    Reason(
                        DEFERRED,
                        f"{self.n(p)} holds {soul}.{key}={_short(d.value)} back: its state is "
                        f"{wait:.1f} s ahead of {self.n(p)}'s clock (a writer's clock runs "
                        "ahead), and HAM applies a future state only when its time comes",
                        (p,),
                        actions=(
                            Action(
                                WAIT_UNTIL,
                                f"wait {wait:.1f} s until {self.n(p)}'s clock reaches the state",
                                peer=p,
                                soul=soul,
                                until=d.when,
                                wait=wait,
                            ),
                        ),
                    )
                )

    def _not_relayed(self, p: str, soul: str, key: str, mid: str, add: Any) -> None:
        """A put ``p`` never heard whose sayer listed ``p`` in ``><`` (the peers it tells
        itself) and whose own copy for ``p`` did not arrive, while a peer that heard it from
        that sayer has a wire to ``p`` and so would have passed it on, but for the list.
        Only a put of the value that wins counts (an older write's fate explains nothing),
        and never for the peer that wrote it."""
        tr = self.tr
        if (mid, p) in tr.heard or tr.puts[mid][1] == p or not self._wins(mid, soul, key):
            return
        names = {p, self.n(p)}
        for sayer, told in tr.yo.get(mid, {}).items():
            if sayer == p or not (names & told):
                continue
            own = [c for c in tr.copies.get(mid, ()) if c.src == sayer and c.dst == p]
            if not own and sayer in self.relays:
                continue  # a relay routes by subscription: not telling p is its choice
            heard_from = {c.dst for c in tr.copies.get(mid, ()) if c.src == sayer}
            asked = {to for _, to in tr.asked(p, soul)}
            # a relay routes by subscription: it would pass the put to p only if p asked it
            heard_from = {q for q in heard_from if q not in self.relays or q in asked}
            spared = sorted(
                q
                for q in heard_from
                if q != p and (mid, q) in tr.heard and (min(q, p), max(q, p)) in tr.links
            )
            if not spared:
                continue
            lost = [d for d in tr.drops.get(mid, ()) if d[1] == sayer and d[2] == p]
            if lost:
                what = f"it was lost on the way ({lost[0][3].value})"
            elif own:
                what = "it never arrived"
            else:
                what = "none was sent (their link was closing)"
            add(
                Reason(
                    NOT_RELAYED,
                    f"{self.n(sayer)}'s copy of put #{mid} ({soul}) listed {self.n(p)} in '><' "
                    f"(the peers it tells itself), so "
                    f"{', '.join(self.n(q) for q in spared)} did not pass it on to "
                    f"{self.n(p)}; but {self.n(sayer)}'s own copy for {self.n(p)}: {what}",
                    (p,),
                    msg_id=mid,
                    since=tr.puts[mid][0],
                    actions=(self.reget(p, soul),),
                )
            )
            return

    def _wins(self, mid: str, soul: str, key: str) -> bool:
        """Whether put ``mid`` carries the state of ``soul``.``key`` that wins now."""
        node = self.tr.puts[mid][2].get(soul)
        meta = node.get("_") if isinstance(node, dict) else None
        states = meta.get(">") if isinstance(meta, dict) else None
        state = states.get(key) if isinstance(states, dict) else None
        return isinstance(state, int | float) and state == self.win_state

    def _history(self, p: str, soul: str, key: str, via: set[str], add: Any) -> None:
        """Copies carrying the data that were lost toward ``p`` (or toward a peer ``via``
        which the data would reach it), or are still on their way."""
        tr = self.tr
        for mid in tr.carried.get(soul, ()):
            put = tr.puts[mid][2]
            if not _carries(put, soul, key):
                continue
            for t, src, dst, why in tr.drops.get(mid, ()):
                if dst != p and dst not in via:
                    continue  # lost toward a peer that is not on p's way to the data
                lt = self.link_text(src, dst)
                k = (src, dst) if src <= dst else (dst, src)
                if why is trace.DropCause.PARTITIONED:
                    add(
                        Reason(
                            PARTITION,
                            f"{self.n(src)}'s copy of #{mid} ({soul}) to {self.n(dst)} was "
                            f"dropped by the partition of {lt} ({self.ago(t)})",
                            (p,),
                            k,
                            t,
                            mid,
                            (self.reget(p, soul),),
                        )
                    )
                else:
                    add(
                        Reason(
                            LOST,
                            f"{self.n(src)}'s copy of #{mid} ({soul}) to {self.n(dst)} was "
                            f"{_LOST_TEXT.get(why, 'lost on')} {lt} ({self.ago(t)})",
                            (p,),
                            k,
                            t,
                            mid,
                            (self.reget(p, soul),),
                        )
                    )
            self._not_relayed(p, soul, key, mid, add)
            for t, src, dst in tr.late.get(mid, ()):
                if dst == p:
                    add(
                        Reason(
                            LOST,
                            f"{self.n(p)} dropped the reply #{mid} ({soul}) from {self.n(src)}: "
                            f"it answered no request of {self.n(p)}'s still open "
                            f"({self.ago(t)})",
                            (p,),
                            since=t,
                            msg_id=mid,
                            actions=(self.reget(p, soul),),
                        )
                    )
            for c in tr.copies.get(mid, ()):
                if (
                    c.dst != p
                    or (mid, p) in tr.heard
                    or (mid, p) in tr.refused
                    or any(d[2] == p for d in tr.drops.get(mid, ()))
                ):
                    continue
                age = self.at - c.t
                if age < self.in_flight_for:
                    add(
                        Reason(
                            IN_FLIGHT,
                            f"#{mid} ({soul}) from {self.n(c.src)} is on its way to "
                            f"{self.n(p)} (said {age:.1f} s ago)",
                            (p,),
                            msg_id=mid,
                            actions=(self.reget(p, soul),),
                        )
                    )
                elif c.transport == "dc":
                    add(
                        Reason(
                            LOST,
                            f"{self.n(c.src)} sent #{mid} ({soul}) to {self.n(p)} over a "
                            f"WebRTC data channel {self.ago(c.t)} and it never arrived: Gun's "
                            "channel is unordered with maxRetransmits, so it gives up on a frame",
                            (p,),
                            (c.src, p) if c.src <= p else (p, c.src),
                            c.t,
                            mid,
                            (self.reget(p, soul),),
                        )
                    )

    def _subscription(
        self,
        p: str,
        soul: str,
        key: str,
        ahead: set[str],
        t_write: float | None,
        add: Any,
        quiet: bool,
    ) -> None:
        """Relays push a put only to connections that asked for its soul: did ``p`` ask, and
        ask again after it reconnected?"""
        tr = self.tr
        asked = tr.asked(p, soul)
        relays = [
            r
            for (a, b), link in tr.links.items()
            if p in (a, b) and not link.state()
            for r in ((b if a == p else a),)
            if r in self.relays
        ]
        if p in self.relays:
            return
        for r in relays:
            to_r = [t for t, to in asked if to == r]
            opened = tr.opened.get((p, r), [])
            last_open = opened[-1] if opened else None
            if not to_r:
                if asked and not relays:
                    continue
                add(
                    Reason(
                        NOT_SUBSCRIBED,
                        f"{self.n(p)} never asked {self.relay_name(r)} for {soul!r} (no get or "
                        f"on): a relay pushes a put only to the peers that asked for its "
                        f"soul, so nothing was pushed to {self.n(p)}",
                        (p,),
                        actions=(self.reget(p, soul),),
                    )
                )
            elif (
                last_open is not None
                and to_r[-1] < last_open
                and len(opened) > 1
                and (t_write is None or t_write >= to_r[-1])
            ):
                closed = [c for c in tr.closed_at.get((p, r), []) if c <= last_open]
                when = f"closed {self.ago(closed[-1])} and " if closed else ""
                add(
                    Reason(
                        NOT_REASKED,
                        f"{self.n(p)} asked {self.relay_name(r)} for {soul!r} "
                        f"{self.ago(to_r[-1])}; their link {when}reopened "
                        f"{self.ago(last_open)}, and {self.n(p)} did not ask again: the relay "
                        "forgot the subscription with the old connection",
                        (p,),
                        since=last_open,
                        actions=(self.reget(p, soul),),
                    )
                )
            elif tr.last_get_lost(p, soul, r):
                # the get was lost on the way (a partition or a lossy link, since mended or
                # remade): the relay never subscribed p, and p never asked again
                add(
                    Reason(
                        NOT_REASKED,
                        f"{self.n(p)} asked {self.relay_name(r)} for {soul!r} "
                        f"{self.ago(to_r[-1])}, but that get never reached it (lost on their "
                        f"link), and {self.n(p)} did not ask again: the relay never followed "
                        f"{soul!r} for {self.n(p)}",
                        (p,),
                        actions=(self.reget(p, soul),),
                    )
                )
        if quiet:
            return
        # the relays p asked, or the peers holding the data, whose link to p is down now:
        # what they push no longer reaches p
        gone = {to for _, to in asked if to in self.relays} | ahead
        for (a, b), link in tr.links.items():
            other = b if a == p else a if b == p else ""
            if other in gone and link.state():
                quiet = True
                lr = self.link_reason(a, b, (p,), soul)
                if other in self.relays:
                    lr = dataclasses.replace(
                        lr, text=f"{self.n(p)} asked {self.n(other)} for {soul!r}, but {lr.text}"
                    )
                add(lr)
        if not relays and not asked and not quiet:
            add(
                Reason(
                    NOT_SUBSCRIBED,
                    f"{self.n(p)} never asked for {soul!r} (no get or on) and no put of it "
                    f"reached {self.n(p)} when it was written",
                    (p,),
                    actions=(self.reget(p, soul),),
                )
            )

    def _acks(
        self, soul: str, key: str, win_state: float, behind: tuple[str, ...], add: Any
    ) -> None:
        """Puts carrying the data that were refused with ``err``, or that no relay acked."""
        tr = self.tr
        for mid in tr.carried.get(soul, ()):
            t, origin, put, wants = tr.puts[mid]
            if not _carries(put, soul, key):
                continue
            for te, who, err in tr.errs.get(mid, ())[:1]:
                add(
                    Reason(
                        ERROR_ACK,
                        f"{self.n(who)} refused put #{mid} from {self.n(origin)} with err "
                        f"{err!r} ({self.ago(te)}): a refused put is not relayed on",
                        behind,
                        msg_id=mid,
                        since=te,
                        actions=(
                            *(self.reget(p, soul) for p in behind),
                            Action(
                                FIX,
                                f"fix the put #{mid} and write it again",
                                peer=origin,
                                soul=soul,
                                safe=False,
                            ),
                        ),
                    )
                )
        written = tr.written.get((soul, key, win_state))
        if written is None:
            return
        t, origin, mid = written
        if not tr.puts[mid][3] or mid in tr.acked or tr.errs.get(mid):
            return
        if self.at - t <= self.ack_timeout:
            return
        # plain peers never ack: a put that only ever reached snapshotted non-relay peers was
        # not expected to be acked; one said to a relay we see, or to a peer outside the
        # snapshots (an attached Gun.js relay), was
        sent_to = {c.dst for c in tr.copies.get(mid, ())}
        plain = set(self.snaps) - self.relays
        if not (sent_to & self.relays) and sent_to <= plain:
            return
        add(
            Reason(
                NEVER_ACKED,
                f"put #{mid} of {soul}.{key} from {self.n(origin)} was never acked (no answer "
                f"within {self.ack_timeout:g} s): no relay took it",
                behind,
                msg_id=mid,
                since=t,
                actions=tuple(self.reget(p, soul) for p in behind),
            )
        )
