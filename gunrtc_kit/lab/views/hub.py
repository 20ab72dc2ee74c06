"""One hub per trace source: it feeds the shared models and ticks the views that read them.

Why a hub: the mesh, flow, signalling and peer views all need the same facts, and computing
them once per event (not once per view) is what keeps a 55-peer mesh at 50 puts/s cheap.
Events arrive on the thread that emits them (the Lab's runtime loop); the hub only appends
them to a bounded queue there. One pump thread per process wakes every ``interval`` (40 ms,
so at most 25 updates a second) and, for each hub: applies the queued events to the models
under the hub's lock, drains what changed, and gives each view one ``tick`` in which it sends
at most one message to the browser. Front-end requests (rows of the flow, an SDP, a message's
fate) arrive on the kernel's thread and read the models under the same lock.

One lock, one owner at a time: every change to the models or to the views' set and state
(``step``, ``refresh``, ``pause``/``resume``, adding a view, ``close``) is made under
``hub.lock``, the lock the pump holds for its whole round. So ``refresh()`` from a cell waits
for a round in progress instead of ticking the views beside it, and a Lab that names a peer
in the directory does so under the same lock (see ``lab.py``). The pump's own set of hubs has
its own small lock, so a hub made or closed on another thread never changes that set while
the pump walks it.

The queue is bounded in count (``queue_cap``) and in bytes (``queue_bytes``, an estimate per
event), and holds events as ``preview.slim`` makes them: a string longer than
``preview.PREVIEW_CHARS`` is kept as its preview and its length, so a peer writing 10 MB values
costs the views a few hundred bytes per event, not another copy of every value (the whole value
stays in the bus's history and the graph). A full queue never blocks the mesh: extra events
are dropped, counted in ``overflow`` (``overflow_bytes``, ``overflow_kinds``), and ``notice``
says what was lost; every view gets that text in its ``notice`` trait, shown as a banner.
``pause()`` stops applying events (the picture freezes at one instant, for every
view of the hub); ``resume()`` catches up. A replayed trace has a hub too, fed by ``seek``.
``cpu`` is the pump thread's CPU time spent on this hub (the views' cost, measurable).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gunrtc_kit import trace
from gunrtc_kit.diagnose.fate import FateModel
from gunrtc_kit.diagnose.linkmodel import LinkModel
from gunrtc_kit.diagnose.mesh import MeshModel
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.peerstate import PeersModel
from gunrtc_kit.diagnose.signaling import SignalingModel
from gunrtc_kit.lab.views.layout import Pos, RingLayout
from gunrtc_kit.lab.views.preview import slim

__all__ = ["PULSES_PER_TICK", "Changes", "Tickable", "ViewHub"]

log = logging.getLogger(__name__)

INTERVAL = 0.04
QUEUE_BYTES = (
    128 * 1024 * 1024
)  # what the views' queue may hold while paused (~200,000 small events)
PULSES_PER_TICK = 30  # pulses (a dot per copy said) a mesh view draws per tick; more are counted
# the events that teach the directory who is who, and those the signalling model reads
_LEARNS = frozenset({trace.Hi, trace.Link, trace.RtcSignal, trace.RtcState, trace.Bye})
_RTC = frozenset({trace.RtcSignal, trace.RtcState})


@dataclass
class Changes:
    """What changed in the models since the last tick (shared by every view of a hub)."""

    nodes: set[str] = field(default_factory=set)
    edges: set[str] = field(default_factory=set)
    counted_nodes: set[str] = field(default_factory=set)
    counted_edges: set[str] = field(default_factory=set)
    moved: Pos = field(default_factory=dict)
    pulses: list[tuple[str, str, str]] = field(default_factory=list)
    pulses_skipped: int = 0
    rows: set[int] = field(default_factory=set)
    links: set[str] = field(default_factory=set)  # WebRTC links sampled (``LinkModel`` keys)
    events: int = 0
    flush: bool = False  # send what is throttled now too (``refresh``)
    notice: str = ""  # what the views missed (``ViewHub.notice``), "" when nothing


class Tickable(Protocol):
    """What a view gives the hub: a tick with the changes, and a full reset."""

    def tick(self, changes: Changes) -> None:
        """Send what changed (at most one message)."""

    def reset(self) -> None:
        """Send everything."""


class ViewHub:
    """Shared models for one trace source (a live bus, or a list of events to replay)."""

    def __init__(
        self,
        directory: Directory | None = None,
        bus: trace.TraceBus | None = None,
        *,
        row_cap: int = 200_000,
        queue_cap: int = 1_000_000,
        queue_bytes: int = QUEUE_BYTES,
        interval: float = INTERVAL,
    ) -> None:
        self.directory = directory or Directory()
        #: a standing note every view shows as a banner (a fork says what it is a fork of)
        self.banner = ""
        self.row_cap = row_cap
        self.queue_cap = queue_cap
        self.queue_bytes = queue_bytes
        self.interval = interval
        self.lock = threading.RLock()
        self._new_models()
        self._queue: deque[tuple[trace.Event, int]] = deque()
        # bytes queued = in - out; each written by one thread (the feeder, the pump)
        self._bytes_in = 0
        self._bytes_out = 0
        self.overflow = 0  # events dropped at a full queue
        self.overflow_bytes = 0  # their estimated size
        self.overflow_kinds: dict[str, int] = {}  # how many of each kind
        self.paused = False
        self.cpu = 0.0
        self.ticks = 0
        self.applied = 0
        self.closed = False
        self.views: weakref.WeakSet[Any] = weakref.WeakSet()
        self._unsubscribe: Any = None
        if bus is not None:
            self.attach(bus)

    def _new_models(self) -> None:
        d = self.directory
        d.on_resolved.clear()
        self.fate = FateModel(d, row_cap=self.row_cap)
        self.mesh = MeshModel(d)
        self.signaling = SignalingModel(d)
        self.peers = PeersModel(d, mesh=self.mesh)  # a peer's counters are the mesh's
        self.links = LinkModel(d)  # WebRTC links, from their LinkStats samples only
        self.layout = RingLayout()
        self._dir_version = -1

    # ------------------------------------------------------------------ feeding
    def attach(self, bus: trace.TraceBus) -> None:
        """Take what ``bus`` kept so far, then every later event (none twice, none lost)."""
        buffered: list[trace.Event] = []
        gate = threading.Lock()
        live = False

        def deliver(e: trace.Event) -> None:
            with gate:
                if live:
                    self.feed(e)
                else:
                    buffered.append(e)

        unsubscribe = bus.subscribe(deliver)
        past = list(bus.history)
        seen = {id(e) for e in past[-10_000:]}
        for e in past:
            self.feed(e)
        with gate:
            for e in buffered:
                if id(e) not in seen:
                    self.feed(e)
            live = True
        self._unsubscribe = unsubscribe
        _pump().add(self)

    def feed(self, e: trace.Event) -> None:
        """Queue one event as the views keep it (``preview.slim``: long strings as previews),
        within the count and byte bounds (called on the emitting thread: never blocks; an
        event that does not fit is dropped and counted, see ``notice``)."""
        e, size = slim(e)
        if len(self._queue) >= self.queue_cap or self.queued_bytes + size > self.queue_bytes:
            self.overflow += 1
            self.overflow_bytes += size
            self.overflow_kinds[e.kind] = self.overflow_kinds.get(e.kind, 0) + 1
            return
        self._bytes_in += size
        self._queue.append((e, size))

    def feed_many(self, events: Iterable[trace.Event]) -> None:
        """Queue events (a replay feeding what it moves past)."""
        for e in events:
            self.feed(e)

    @property
    def queued(self) -> int:
        """Events waiting to be applied (grows while paused)."""
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        """The estimated size of the events waiting (bounded by ``queue_bytes``)."""
        return self._bytes_in - self._bytes_out

    @property
    def notice(self) -> str:
        """What the views did not get because their queue was full ("" when nothing): how
        many events of which kinds, and the bounds; the views show it."""
        if not self.overflow:
            return self.banner
        kinds = sorted(self.overflow_kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{k} {n:,}" for k, n in kinds[:6])
        more = f", {len(kinds) - 6} more kinds" if len(kinds) > 6 else ""
        return (
            f"{self.overflow:,} events ({self.overflow_bytes / 1e6:,.1f} MB) not shown: "
            f"the views' queue was full (bounds {self.queue_cap:,} events, "
            f"{self.queue_bytes / 1e6:,.0f} MB; paused views fill it). Dropped: {shown}{more}."
        ) + (f" {self.banner}" if self.banner else "")

    # ------------------------------------------------------------------ views
    def add(self, view: Tickable) -> None:
        """A view to tick (held weakly: a view nobody holds goes away by itself). Under the
        lock: the pump lists the views under it, and a set changed while listed fails."""
        with self.lock:
            self.views.add(view)
        _pump().add(self)

    def pause(self) -> None:
        """Freeze every view of this hub at this instant (events queue up, bounded). Waits
        for a pump round in progress: the views are told under the lock their ticks run in."""
        with self.lock:
            self.paused = True
            for v in list(self.views):
                getattr(v, "on_pause", lambda _p: None)(True)

    def resume(self) -> None:
        """Catch up with what happened while paused, and move again (under the lock, as
        ``pause``)."""
        with self.lock:
            self.paused = False
            for v in list(self.views):
                getattr(v, "on_pause", lambda _p: None)(False)

    # ------------------------------------------------------------------ work
    def apply_pending(self, limit: int | None = None) -> int:
        """Apply queued events to the models (under the lock); returns how many."""
        q = self._queue
        d, fate, mesh, peers, sig = (
            self.directory,
            self.fate,
            self.mesh,
            self.peers,
            self.signaling,
        )
        with self.lock:
            peer_reads = peers.reads  # most events (said, heard) only move counters: the mesh's
            links = self.links
            link_reads = links.reads
            n = len(q) if limit is None else min(limit, len(q))
            out = 0
            for _ in range(n):
                e, size = q.popleft()
                out += size
                cls = type(e)
                if cls in _LEARNS:
                    d.apply(e)
                fate.apply(e)
                mesh.apply(e)
                if cls in peer_reads:
                    peers.apply(e)
                if cls in _RTC:
                    sig.apply(e)
                elif cls in link_reads:
                    links.apply(e)
            self._bytes_out += out
            self.applied += n
        return n

    def drain_changes(self) -> Changes:
        """What changed since the last drain (call under the lock)."""
        m = self.mesh
        m.sample_rates()
        ch = Changes(
            nodes=m.changed_nodes,
            edges=m.changed_edges,
            counted_nodes=m.counted_nodes,
            counted_edges=m.counted_edges,
            rows=self.fate.changed,
            links=self.links.take_changed(),
        )
        m.changed_nodes, m.changed_edges = set(), set()
        m.counted_nodes, m.counted_edges = set(), set()
        self.fate.changed = set()
        ch.pulses, ch.pulses_skipped = m.take_pulses(PULSES_PER_TICK)
        if ch.nodes or self.directory.version != self._dir_version:
            self._dir_version = self.directory.version
            ch.moved = self.layout.update(list(m.nodes), self.directory.roles, self.directory.label)
            ch.nodes |= set(ch.moved)
        return ch

    def step(self, flush: bool = False) -> None:
        """One pump round: apply, then tick every view once (``flush``: throttled parts
        too, as ``refresh`` wants). The whole round, its accounting included, is under the
        lock: a ``refresh`` from another thread waits for the pump's round, never joins it."""
        with self.lock:
            t0 = time.thread_time()
            try:
                n = 0 if self.paused else self.apply_pending()
                views = list(self.views)
                if n == 0 and not views:
                    return
                ch = self.drain_changes()
                ch.events = n
                ch.flush = flush
                ch.notice = self.notice
                for v in views:
                    if getattr(v, "notice", ch.notice) != ch.notice:
                        v.notice = ch.notice
                    try:
                        v.tick(ch)
                    except Exception:  # a view's bug is shown by the view, not fatal here
                        log.exception("%s failed to tick", type(v).__name__)
                self.ticks += 1
            finally:
                self.cpu += time.thread_time() - t0

    def refresh(self) -> None:
        """Apply everything queued and tick the views now (tests and headless runs)."""
        self.step(flush=True)

    def rebuild(self, events: Iterable[trace.Event]) -> None:
        """Start the models again from ``events`` (a replay moving back in time)."""
        with self.lock:
            self._queue.clear()
            self._bytes_out = self._bytes_in
            self._new_models()
            self.feed_many(events)
            self.apply_pending()
            self.drain_changes()
            for v in list(self.views):
                v.reset()

    def close(self) -> None:
        """Stop listening; views keep what they show. Waits for a pump round in progress, so
        no round runs on a hub after its ``close`` returned."""
        with self.lock:
            self.closed = True
            unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        _pump().discard(self)


class _Pump:
    """One daemon thread stepping every live hub every ``INTERVAL`` seconds."""

    def __init__(self) -> None:
        self.hubs: weakref.WeakSet[ViewHub] = weakref.WeakSet()
        # hubs are added and discarded on other threads; a WeakSet changed while it is listed
        # raises, and that would end this thread (every view of the process would freeze)
        self._hubs_lock = threading.Lock()
        self._wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gunrtc-kit-views", daemon=True)
        self.thread.start()

    def add(self, hub: ViewHub) -> None:
        """Step ``hub`` from now on."""
        with self._hubs_lock:
            self.hubs.add(hub)

    def discard(self, hub: ViewHub) -> None:
        """Stop stepping ``hub``."""
        with self._hubs_lock:
            self.hubs.discard(hub)

    def _round(self) -> None:
        with self._hubs_lock:
            hubs = list(self.hubs)
        for hub in hubs:
            try:
                if not hub.closed:
                    hub.step()
            except Exception:
                log.exception("view hub step failed")

    def _run(self) -> None:
        # steps on a fixed beat (not "sleep after work"), so work and the wake-up's wait for
        # the GIL do not stretch the period: 25 rounds a second while a round fits in 40 ms
        due = time.monotonic()
        while True:
            try:
                self._round()
            except Exception:  # this thread is every view's clock: it must not end
                log.exception("view pump round failed")
            now = time.monotonic()
            due = max(due + INTERVAL, now + 0.005)
            self._wake.wait(due - now)


_the_pump: _Pump | None = None
_pump_lock = threading.Lock()


def _pump() -> _Pump:
    global _the_pump
    with _pump_lock:
        if _the_pump is None:
            _the_pump = _Pump()
        return _the_pump
