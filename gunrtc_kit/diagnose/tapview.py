"""What each tapped client was told and said: a tap trace read per client, frames only.

Why: a tap (``gunrtc_kit.tap``) sees the frames between each client of a Gun relay and the
relay, never a graph. What a client holds can still be known the way its Gun would know it:
the puts the relay sent it (``Said`` events whose sender is the relay and whose wire leads to
that client) and the puts it sent itself, merged by HAM state (``core.ham``) in the order the
tap passed them. That is "the graph its frames carried", the only graph a tap trace has.

How a tap trace names things (``gunrtc_kit.tap.observe``): each proxied connection is one wire
the relay side calls ``tap:<client address>``; the tap re-announces it (``Bye`` then ``Link``
on the same wire) when it learns a side's pid from its ``?``, so one connection first shows
under the client's address and the relay's URL, then under their pids. ``read_tap`` folds those
earlier names into the last one (``TapTrace.canonical``), so a client's first ``get`` (sent
before its ``?`` answer) is still its own. The far end of every ``Said`` is resolved with a
``Directory`` fed the same events. A ``Bye`` on a wire that a later ``Link`` re-announces is a
rename, not a disconnect; a ``Bye`` nothing re-announces is the connection closing.

What the tap cannot know is kept apart, never guessed: a connection whose opening the trace
does not show (the recording, or the kept history, began after it connected) is marked
``seen_open=False``, so a reader can say "unknown" about what was asked on it before; a copy
the tap did not deliver (``Dropped``) is kept but never counted as held; HAM's "future state"
rule needs the client's clock, which no frame carries, so states are compared as Gun does
between two states and a state ahead of the client's clock would, in the client, wait.

Pure: no clock, no asyncio; the events are read twice (names first, then frames).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core.ham import Decision, ham
from gunrtc_kit.diagnose.peers import Directory

__all__ = ["Ask", "ClientView", "Conn", "Copy", "TapTrace", "judge", "read_tap", "tap_clients"]

TAP_WIRE = "tap:"  # the prefix of the relay's id for a wire a tap made (observe.Pair.wires)
SUMMARY_MARK = "~"  # a Said kept as a summary by the bus history (``trace._kept``)
CUT_MARK = "\u2026"  # what ``trace.summarize`` puts where it left things out


@dataclass(frozen=True, slots=True)
class Copy:
    """One value of ``soul.key`` in one put message, as it passed the tap.

    ``sender`` said it (the relay, or a client), ``to`` is who it went to; ``mid`` is the
    message id (a Gun.js relay gives what it passes on an id of its own). ``reply`` is the
    ``@`` it answered (a GET's answer), ``""`` for a write. ``delivered`` False: the tap could
    not hand it over (``cause``). ``partial``: the trace kept the message as a summary, so the
    value may be cut.
    """

    t: float
    mid: str
    soul: str
    key: str
    value: Any
    state: float | None
    sender: str
    to: str
    wire: str
    reply: str = ""
    delivered: bool = True
    cause: str = ""
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Ask:
    """A ``get`` the client sent: ``soul`` (``#``) and, when it asked for one field, ``key``
    (``.``), on the connection ``wire`` (the relay's id for it)."""

    t: float
    mid: str
    soul: str
    key: str
    wire: str


@dataclass(slots=True)
class Conn:
    """One connection through the tap, by the relay's id for its wire (``tap:<address>``).

    ``opened`` is when the tap said it opened (None: the trace does not show it opening, so
    what came before is unknown: ``seen_open``), ``closed`` when it closed for good (None:
    still open when the trace ends).
    """

    wire: str
    client: str
    relay: str
    opened: float | None = None
    closed: float | None = None

    @property
    def seen_open(self) -> bool:
        """Whether the trace shows this connection from its start."""
        return self.opened is not None

    def live(self, t: float) -> bool:
        """Whether the connection was open at ``t`` (as far as the trace shows)."""
        started = self.opened is None or self.opened <= t
        return started and (self.closed is None or t < self.closed)


@dataclass(slots=True)
class ClientView:
    """What one tapped client was told and said, and the graph its frames carried.

    ``told``: every put value the relay sent it; ``said``: every put value it sent; ``asked``:
    its ``get``\\ s; ``acks``: reply id -> (ack message id, err) of answers to its messages;
    ``graph``: soul -> key -> the ``Copy`` HAM makes it hold (delivered copies only, in the
    order the tap passed them).
    """

    client: str
    name: str
    conns: list[Conn] = field(default_factory=list)
    told: list[Copy] = field(default_factory=list)
    said: list[Copy] = field(default_factory=list)
    asked: list[Ask] = field(default_factory=list)
    acks: dict[str, tuple[str, str]] = field(default_factory=dict)
    graph: dict[str, dict[str, Copy]] = field(default_factory=dict)

    def holds(self, soul: str, key: str | None = None) -> Copy | None:
        """The copy held at ``soul.key`` (with ``key`` None: any key of ``soul``), or None."""
        node = self.graph.get(soul) or {}
        if key is None:
            return next(iter(node.values()), None)
        return node.get(key)

    def asks_for(self, soul: str, key: str = "") -> list[Ask]:
        """Its gets that ask for ``soul`` (and for ``key``, when given: a get naming another
        field does not ask for this one)."""
        return [a for a in self.asked if a.soul == soul and (not key or a.key in ("", key))]

    @property
    def seen_open(self) -> bool:
        """Whether the trace shows every connection of this client from its start."""
        return bool(self.conns) and all(c.seen_open for c in self.conns)

    def graph_values(self) -> dict[str, dict[str, Any]]:
        """The carried graph as plain values: soul -> key -> value."""
        return {s: {k: c.value for k, c in node.items()} for s, node in self.graph.items()}


@dataclass(slots=True)
class TapTrace:
    """A tap trace read once: ``clients`` by pid (or address, before one is known), the
    ``relays``, the ``directory`` that named them, and the times of the first and last events."""

    clients: dict[str, ClientView]
    relays: set[str]
    directory: Directory
    canonical: dict[str, str]
    start: float = 0.0
    end: float = 0.0

    def label(self, entity: str) -> str:
        """The name to show for ``entity``."""
        return self.directory.label(entity)

    def client_of(self, name: str) -> ClientView | None:
        """The client called ``name`` (its pid, an earlier name of it, or a display name)."""
        pid = self.canonical.get(name, name)
        if pid in self.clients:
            return self.clients[pid]
        return next((c for c in self.clients.values() if c.name == name), None)


def judge(copy: Copy, held: Copy | None) -> Decision | None:
    """What HAM makes of ``copy`` against ``held`` (None: a copy with no state, which Gun
    does not take). The client's clock is unknown (no frame carries it), so the future
    test is left out: Gun would hold a state ahead of the clock until it is reached."""
    if copy.state is None:
        return None
    if held is None:
        return Decision.ACCEPT
    return ham(math.inf, copy.state, copy.value, held.state, held.value)


def read_tap(events: Iterable[trace.Event], names: dict[str, str] | None = None) -> TapTrace:
    """Read a tap trace: every tapped client's connections, gets, puts told and said, acks,
    and the graph its frames carried. ``names`` (pid -> name) only change how things are
    called."""
    evs = list(events)
    canonical, relays = _names(evs)
    reader = _Reader(canonical, relays, Directory(names=names))
    for e in evs:
        reader.read(e)
    return reader.finish(evs)


def tap_clients(
    events: Iterable[trace.Event], names: dict[str, str] | None = None
) -> dict[str, ClientView]:
    """Per tapped client (by pid), what it was told and said (see ``ClientView``)."""
    return read_tap(events, names).clients


def _names(evs: list[trace.Event]) -> tuple[dict[str, str], set[str]]:
    """Each earlier name of a connection's ends -> its last name, and the relays' names.

    A tap re-announces a wire under each side's pid once learned; a relay-side ``Link`` on a
    ``tap:`` wire names both ends (``node`` the relay, ``pid`` the client).
    """
    ends: dict[str, list[tuple[str, str]]] = {}
    talkers: set[str] = set()  # who said something on a tap wire: a relay, even unannounced
    for e in evs:
        if isinstance(e, trace.Link) and e.peer.startswith(TAP_WIRE) and e.pid:
            ends.setdefault(e.peer, []).append((e.node, e.pid))
        elif isinstance(e, trace.Said) and e.peer.startswith(TAP_WIRE):
            talkers.add(e.node)
    canonical: dict[str, str] = {}
    for seq in ends.values():
        relay, client = seq[-1]
        for r, c in seq:
            canonical.setdefault(r, relay)
            canonical.setdefault(c, client)
    relays = {canonical.get(r, r) for seq in ends.values() for r, _ in seq}
    relays |= {canonical.get(r, r) for r in talkers}
    return canonical, relays


class _Reader:
    """The second pass: frames into each client's view (see ``read_tap``)."""

    def __init__(self, canonical: dict[str, str], relays: set[str], d: Directory) -> None:
        self.canonical = canonical
        self.relays = relays
        self.d = d
        self.conns: dict[str, Conn] = {}
        self.closing: dict[str, float] = {}  # wire -> Bye time, until a Link says "rename"
        self.live: dict[str, Conn] = {}  # client name -> its live connection
        self.clients: dict[str, ClientView] = {}
        self.copies: dict[tuple[str, str, str], list[int]] = {}  # (sender, wire, mid) -> told

    def name(self, entity: str) -> str:
        """The entity's last name: an address or URL folded into the pid learned later."""
        return self.canonical.get(entity, entity)

    def view(self, client: str) -> ClientView:
        """The client's view, made on first sight."""
        v = self.clients.get(client)
        if v is None:
            v = self.clients[client] = ClientView(client, self.d.label(client))
        return v

    def conn(self, wire: str, relay: str, client: str) -> Conn:
        """The connection on tap wire ``wire`` (made on first sight), now the client's live one."""
        c = self.conns.get(wire)
        if c is None:
            c = self.conns[wire] = Conn(wire, client, relay)
            self.view(client).conns.append(c)
        self.live[client] = c
        return c

    def read(self, e: trace.Event) -> None:
        """Take one event of the tap trace, in order."""
        self.d.apply(e)
        if isinstance(e, trace.Link) and e.peer.startswith(TAP_WIRE):
            c = self.conn(e.peer, self.name(e.node), self.name(e.pid))
            if c.opened is None and e.peer not in self.closing:
                c.opened = e.t
            self.closing.pop(e.peer, None)  # a re-announce: the same wire, new names
        elif isinstance(e, trace.Bye) and e.peer.startswith(TAP_WIRE):
            self.closing[e.peer] = e.t
        elif isinstance(e, trace.Said):
            self.said(e)
        elif isinstance(e, trace.Dropped):
            self.dropped(e)
        elif isinstance(e, trace.Ack):
            self.acked(e)

    def said(self, e: trace.Said) -> None:
        """A message a side wrote: a copy the relay told a client, or one a client said."""
        sender = self.name(e.node)
        if e.peer.startswith(TAP_WIRE):
            if sender not in self.relays:
                return
            far = self.name(self.d.resolve(e.node, e.peer) or e.peer[len(TAP_WIRE) :])
            to = self.conns.get(e.peer) or self.conn(e.peer, sender, far)
            self.keep(self.view(to.client).told, e, sender, to.client, to.wire)
            return
        if sender in self.relays:
            return
        c = self.live.get(sender)
        if c is None:  # its connection's opening is not in the trace
            relay = self.name(self.d.resolve(e.node, e.peer) or e.peer)
            c = self.conn(f"{TAP_WIRE}?{sender}", relay, sender)
        v = self.view(c.client)
        get = e.msg.get("get")
        if isinstance(get, dict) and isinstance(get.get("#"), str):
            key = get.get(".")
            mid = str(e.msg.get("#", ""))
            v.asked.append(Ask(e.t, mid, get["#"], key if isinstance(key, str) else "", c.wire))
        self.keep(v.said, e, sender, c.relay, c.wire)

    def keep(self, into: list[Copy], e: trace.Said, sender: str, to: str, wire: str) -> None:
        """Add a message's copies, remembered by (sender, wire, id) for a later ``Dropped``."""
        start = len(into)
        into.extend(_copies(e, sender, to, wire))
        if len(into) > start:
            key = (sender, wire, str(e.msg.get("#", "")))
            self.copies.setdefault(key, []).extend(range(start, len(into)))

    def dropped(self, e: trace.Dropped) -> None:
        """The tap could not hand a message over: its copies are kept, marked undelivered."""
        sender = self.name(e.node)
        c: Conn | None
        if e.peer.startswith(TAP_WIRE):
            c = self.conns.get(e.peer)
            copies = self.view(c.client).told if c is not None else []
        else:
            c = self.live.get(sender)
            copies = self.view(c.client).said if c is not None else []
        if c is None:
            return
        for i in self.copies.get((sender, c.wire, e.msg_id), []):
            copies[i] = _undelivered(copies[i], e)

    def acked(self, e: trace.Ack) -> None:
        """A reply that reached a client: its request is answered (with ``err`` or not)."""
        client = self.name(e.node)
        if client in self.clients and e.reply_to:
            self.clients[client].acks.setdefault(e.reply_to, (e.msg_id, e.err))

    def finish(self, evs: list[trace.Event]) -> TapTrace:
        """Close the connections the trace saw closing and build each client's graph."""
        for wire, t in self.closing.items():
            self.conns[wire].closed = t
        for v in self.clients.values():
            v.name = self.d.label(v.client)
            v.graph = _carried(v)
        start = evs[0].t if evs else 0.0
        end = max((e.t for e in evs), default=0.0)
        clients = {k: v for k, v in self.clients.items() if k not in self.relays}
        return TapTrace(clients, self.relays, self.d, self.canonical, start, end)


def _undelivered(c: Copy, e: trace.Dropped) -> Copy:
    cause = f"{e.cause}: {e.reason}" if e.reason else str(e.cause or "not delivered")
    return dataclasses.replace(c, delivered=False, cause=cause)


def _state(s: Any) -> float | None:
    if isinstance(s, int | float) and not isinstance(s, bool) and s == s:
        return float(s)
    return None


def _copies(e: trace.Said, sender: str, to: str, wire: str) -> list[Copy]:
    """Every soul.key value a put message carries (none for a get, a ``dam`` or a lex put)."""
    put = e.msg.get("put")
    if not isinstance(put, dict) or ("#" in put and "." in put):
        return []
    partial = SUMMARY_MARK in e.msg
    mid = e.msg.get("#")
    reply = e.msg.get("@")
    out: list[Copy] = []
    for soul, node in put.items():
        if not isinstance(node, dict) or soul == CUT_MARK:
            continue
        meta = node.get("_")
        gt = meta.get(">") if isinstance(meta, dict) else None
        states = gt if isinstance(gt, dict) else {}
        for key, value in node.items():
            if key in ("_", CUT_MARK):
                continue
            out.append(
                Copy(
                    e.t,
                    mid if isinstance(mid, str) else "",
                    soul,
                    key,
                    value,
                    _state(states.get(key)),
                    sender,
                    to,
                    wire,
                    reply=reply if isinstance(reply, str) else "",
                    partial=partial,
                )
            )
    return out


def _carried(v: ClientView) -> dict[str, dict[str, Copy]]:
    """HAM over what reached the client (delivered copies told) and what it wrote itself (all
    it said: its graph took its own write before sending it), in the order the tap passed them."""
    graph: dict[str, dict[str, Copy]] = {}
    for c in sorted([c for c in v.told if c.delivered] + v.said, key=lambda c: c.t):
        node = graph.setdefault(c.soul, {})
        if judge(c, node.get(c.key)) is Decision.ACCEPT:
            node[c.key] = c
    return {s: n for s, n in graph.items() if n}
