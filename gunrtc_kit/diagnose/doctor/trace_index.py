"""The trace, indexed once for the doctor's questions: links over time, gets, puts, copies, drops.

Why an index: every reason family asks the same few questions of the events (was this link
down when the put was written? did ``p`` ask the relay for the soul? where did the copy of this
put toward ``p`` go?), for every behind peer of every finding. Reading the events once, in
time order, into dictionaries keyed by those questions keeps each answer a lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose.doctor.records import (
    LATE,
    MAX_TOLD,
    Copy,
    Drop,
    LinkHistory,
    Merge,
    PeerError,
    PutRecord,
    Reply,
    SaidGet,
    Write,
    link_key,
)
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.wires import WireBook

__all__ = ["TraceIndex"]


class TraceIndex:
    """What the doctor reads from the events: links, gets, puts, drops, errors, acks."""

    def __init__(self, events: Iterable[trace.Event], names: Mapping[str, str]) -> None:
        self.directory = Directory(dict(names))
        self.wires = WireBook()
        self.links: dict[tuple[str, str], LinkHistory] = {}
        self.opened: dict[tuple[str, str], list[float]] = {}  # (node, far pid) -> open times
        self.closed_at: dict[tuple[str, str], list[float]] = {}
        self.gets: dict[tuple[str, str], list[SaidGet]] = {}  # (pid, soul) -> gets said
        # (pid, soul) of gets the peer made itself (a peer also passes others' gets on)
        self.own_gets: set[tuple[str, str]] = set()
        self.get_ids: dict[tuple[str, str, str], str] = {}  # (pid, soul, to) -> last get's id
        self.puts: dict[str, PutRecord] = {}  # mid -> its first copy seen
        self.carried: dict[str, list[str]] = {}  # soul -> mids of puts/replies carrying it
        self.written: dict[tuple[str, str, float], Write] = {}  # (soul, key, state) -> write
        self.merged: dict[tuple[str, str, float], Merge] = {}
        # (soul, key, state, pid) -> when pid applied a write it had held back (deferred)
        self.applied_late: dict[tuple[str, str, float, str], float] = {}
        self.drops: dict[str, list[Drop]] = {}  # mid -> copies that never reached dst
        # mid -> sayer -> the peers it listed in '><' (those it told itself)
        self.told: dict[str, dict[str, set[str]]] = {}
        self.copies: dict[str, list[Copy]] = {}
        self.late: dict[str, list[Reply]] = {}  # mid -> replies heard but not merged
        self.heard: set[tuple[str, str]] = set()  # (mid, receiver)
        self.refused: set[tuple[str, str]] = set()  # (mid, receiver): arrived, dropped there
        self.errors: dict[str, list[PeerError]] = {}  # mid -> refusals with err
        self.acked: set[str] = set()
        # request mid -> its answers said: (reply mid, to whom, who said it)
        self.answers: dict[str, list[tuple[str, str, str]]] = {}
        self.now = 0.0
        for event in sorted(events, key=lambda e: e.t):
            self._apply(event)

    # -------------------------------------------------------------- questions
    def pid_of(self, node: str, peer: str) -> str:
        """The pid ``node`` means by its peer id ``peer`` (``""`` while unknown)."""
        return self.directory.resolve(node, peer)

    def down_links(self) -> dict[tuple[str, str], LinkHistory]:
        """The links that are not usable now."""
        return {k: v for k, v in self.links.items() if v.state()}

    def asked(self, pid: str, soul: str) -> list[SaidGet]:
        """When ``pid`` said a get for ``soul``, and to whom."""
        return self.gets.get((pid, soul), [])

    def last_get_lost(self, pid: str, soul: str, to: str) -> bool:
        """Whether the last get for ``soul`` that ``pid`` said to ``to`` was dropped on the
        way to it (a partitioned or lossy link) and never heard there."""
        mid = self.get_ids.get((pid, soul, to))
        if mid is None or (mid, to) in self.heard:
            return False
        return any(drop.dst == to for drop in self.drops.get(mid, ()))

    # -------------------------------------------------------------- reading events
    def _link(self, a: str, b: str) -> LinkHistory:
        key = link_key(a, b)
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = LinkHistory()
        return link

    def _apply(self, e: trace.Event) -> None:
        self.directory.apply(e)
        self.wires.apply(e)
        self.now = max(self.now, e.t)
        if isinstance(e, trace.Link | trace.Hi):
            self._on_open(e)
        elif isinstance(e, trace.Bye):
            self._on_bye(e)
        elif isinstance(e, trace.Said):
            self._on_said(e)
        elif isinstance(e, trace.Heard):
            mid = e.msg.get("#")
            if isinstance(mid, str):
                self.heard.add((mid, e.node))
            self._on_reply(e.t, e.node, self.pid_of(e.node, e.peer), e.msg)
        elif isinstance(e, trace.Dropped):
            self._on_dropped(e)
        elif isinstance(e, trace.Ack):
            if e.err:
                who = self.pid_of(e.node, e.peer)
                self.errors.setdefault(e.reply_to, []).append(PeerError(e.t, who, e.err))
            else:
                self.acked.add(e.reply_to)
        elif isinstance(e, trace.Error):
            if e.msg_id and e.msg_id in self.puts:
                self.errors.setdefault(e.msg_id, []).append(PeerError(e.t, e.node, e.error))
        elif isinstance(e, trace.Put):
            for soul, states in e.states.items():
                for key, state in states.items():
                    self.merged.setdefault((soul, key, state), Merge(e.t, e.node))
                    if e.held:  # held back for its future state, applied only now
                        self.applied_late.setdefault((soul, key, state, e.node), e.t)

    def _on_open(self, e: trace.Link | trace.Hi) -> None:
        """A wire opened (``Hi``) or changed its faults (``Link``): the pair may come up."""
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

    def _on_bye(self, e: trace.Bye) -> None:
        """A wire closed: the pair goes down when it was its last open wire."""
        other = self.pid_of(e.node, e.peer)
        if not other:
            return
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

    def _on_dropped(self, e: trace.Dropped) -> None:
        """A copy lost on the way, refused on arrival, or heard too late to be merged."""
        if e.cause.never_arrived and e.msg_id:
            dst = self.pid_of(e.node, e.peer)
            self.drops.setdefault(e.msg_id, []).append(Drop(e.t, e.node, dst, e.cause))
        elif e.cause.on_arrival and e.msg_id:
            self.refused.add((e.msg_id, e.node))  # it arrived, and was not taken
        elif e.cause in LATE and e.msg_id:
            # a reply to no request still open here (its route expired), or past the cap
            # on one reply stream: heard, but not merged
            src = self.pid_of(e.node, e.peer)
            self.late.setdefault(e.msg_id, []).append(Reply(e.t, src, e.node))

    def _on_said(self, e: trace.Said) -> None:
        """A copy said to a peer: remember it, its '><' list, the get or put it carries."""
        msg = e.msg
        mid = msg.get("#")
        if not isinstance(mid, str):
            return
        dst = self.pid_of(e.node, e.peer)
        self.copies.setdefault(mid, []).append(Copy(e.t, e.node, dst, mid, e.transport))
        to = msg.get("@")
        if isinstance(to, str) and "put" not in msg and len(self.answers.get(to, ())) < MAX_TOLD:
            self.answers.setdefault(to, []).append((mid, dst, e.node))
        told = msg.get("><")
        if isinstance(told, str) and told and "put" in msg:
            names = self.told.setdefault(mid, {}).setdefault(e.node, set())
            if len(names) < MAX_TOLD:
                names.update(told[:99].split(","))
        get = msg.get("get")
        if isinstance(get, dict) and isinstance(get.get("#"), str):
            self.gets.setdefault((e.node, get["#"]), []).append(SaidGet(e.t, dst))
            self.get_ids[(e.node, get["#"], dst)] = mid
            if (mid, e.node) not in self.heard:  # its own ask, not one it passes on
                self.own_gets.add((e.node, get["#"]))
        put = msg.get("put")
        if isinstance(put, dict) and mid not in self.puts:
            self._on_put(e, mid, put)

    def _on_put(self, e: trace.Said, mid: str, put: dict[str, Any]) -> None:
        """The first copy of a put: which souls it carries, and the states it writes."""
        msg = e.msg
        self.puts[mid] = PutRecord(e.t, e.node, put, "ok" in msg and "@" not in msg)
        for soul, node in put.items():
            if not isinstance(soul, str):
                continue
            self.carried.setdefault(soul, []).append(mid)
            states = node.get("_", {}).get(">", {}) if isinstance(node, dict) else {}
            if isinstance(states, dict) and "@" not in msg:
                for key, state in states.items():
                    if isinstance(state, int | float):
                        write = Write(e.t, e.node, mid)
                        self.written.setdefault((soul, key, float(state)), write)

    def _on_reply(self, t: float, node: str, src: str, msg: Mapping[str, Any]) -> None:
        """A reply heard: an ``err`` refuses the put it answers, else it acks it."""
        to = msg.get("@")
        if not isinstance(to, str):
            return
        err = msg.get("err")
        if err:
            self.errors.setdefault(to, []).append(PeerError(t, src, str(err)))
        elif "put" not in msg:
            origin = self.puts.get(to)
            if origin is not None and origin.origin == node:
                self.acked.add(to)
