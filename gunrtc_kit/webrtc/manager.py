"""WebRTC links between Gun peers, signalled through the mesh exactly as Gun.js does it.

Sequence (npm gun 0.2020.1241 ``lib/webrtc.js``, gun-wire section 9):

1. Announce: put our pid under key ``+`` of soul ``/RTC/<room><?99`` with a fresh state and an
   ack budget of 55, keep listening for replies to that put's ``#``, and watch the soul.
2. An older peer sees a newer announcement (value is not its pid, state not before its own
   start) and offers: ``{'#': ask, '@': <announcement # it heard>, ok: {rtc: {offer, id}}}``.
3. The announcer gets the offer as a reply to its put and answers ``@`` the offer's ``#``.
4. Candidates go out as ``{'@': <the message the link started from>, ok: {rtc: {candidate, id}}}``.
   aiortc does not trickle: its offer and answer already carry every candidate, which Gun.js
   accepts; we also send them one by one in Gun's format, and accept Gun.js's trickled ones.
5. The data channel opens: the link joins the mesh under the remote pid (no ``?`` exchange),
   and from then on carries ordinary DAM frames. Close or failure: ``bye``.

Where we differ from npm gun, on purpose: the offerer keeps listening after the answer, so
candidates trickled by a Gun.js answerer are used (npm gun's ``this.off()`` drops them);
``room=None`` means no automatic discovery (Gun.js would announce in ``/RTC/undefined``);
candidates from a pid we have no link with are held for a while instead of starting a new
offer, and reported; bad signalling never throws out of the mesh: it becomes a trace event.
The ``dam: 'rtc'`` handler (git HEAD's renegotiation path) answers offers sent straight over a
mesh peer, so two of our peers can also link without a room.

Theory of operation (bounds and ownership):

- One link per pid, always. Every decision that creates, replaces or removes ``links[pid]`` is
  taken synchronously, in the order the signalling arrived, before any ``await``: the slow
  part (SDP, ICE gathering, closing an old connection) then runs in a task that only ever
  touches its own ``Link`` and re-checks that it is still the current one after each await. A
  link that is replaced or dropped leaves the map at once and its RTCPeerConnection is closed
  by a task this manager owns and waits for in ``close``; nothing is left open and unreferenced.
- Everything a remote can make us keep is bounded in count, in bytes where it holds data, and
  in time: announcements heard (``max_announced``, ``ROUTE_LIFE``), candidates held for pids
  we have no link with (``max_held_pids`` pids, ``max_held_candidates`` each,
  ``max_held_bytes`` in all, ``HELD_CANDIDATES_LIFE``), candidates per link
  (``max_link_candidates``), candidate text (``MAX_CANDIDATE_CHARS``), links
  (``max_connections``, each pending one dropped after ``pending_timeout``). Reaching a bound
  drops the oldest entry or the new input, with a ``trace.Dropped`` event; it never waits.
- Sending is bounded by the data channel's ``bufferedAmount`` (see ``WebRTCPeer.send``): past
  its high-water mark the wire reports ``NetworkError`` so the mesh keeps the frame in its own
  bounded per-peer queue, which this manager drains when aiortc says the buffer went low.
- Every task is started through ``Gun.spawn`` (so the root owns it too) and kept in this
  manager's own set; ``close`` cancels the signalling tasks, waits for them, then closes every
  link and waits for those closes. Cancellation from outside is never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from gunrtc_kit import trace
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, LimitError, NetworkError, WebRTCError
from gunrtc_kit.webrtc.options import WebRTCOptions
from gunrtc_kit.webrtc.peer import SEND_HIGH_WATER, SEND_LOW_WATER, WebRTCPeer
from gunrtc_kit.webrtc.signaling import (
    candidate_from_json,
    candidates_from_sdp,
    description_from_json,
)

__all__ = ["DcWire", "Link", "Root", "WebRTCManager"]

log = logging.getLogger(__name__)

Message = dict[str, Any]

PENDING_TIMEOUT = 60.0  # gun webrtc.js forgets a link that has not opened after 60 s
HELD_CANDIDATES_LIFE = 10.0
HELD_CANDIDATES_MAX = 64  # per pid we have no link with
HELD_PIDS_MAX = 32  # pids we hold early candidates for
HELD_BYTES_MAX = 64 * 1024  # all held early candidates together
LINK_CANDIDATES_MAX = 64  # remote candidates one link takes (aioice pairs each with ours)
MAX_CANDIDATE_CHARS = 1024  # a real candidate line is ~100-200 characters
ANNOUNCED_MAX = 256  # announcements remembered for initiate_connection
ROUTE_LIFE = 9.0  # a relay keeps a reply route ~9 s (dedup age)
ANNOUNCE_LIFE = 3600.0  # how long we keep listening for replies to our announcement
SWEEP_EVERY = 2.0  # how often expired announcements and held candidates are forgotten


class Root(Protocol):
    """What the manager needs from the root above it (``gunrtc_kit.root.Gun`` provides it): the
    mesh, the trace bus, the machine clock, reply listeners, puts, and owned tasks. A protocol,
    so this layer does not import the one above it."""

    mesh: Mesh
    bus: trace.TraceBus

    @property
    def pid(self) -> str: ...

    def machine(self) -> float: ...

    def ask(
        self, fn: Callable[[Message], None], msg_id: str | None = None, life: float = ...
    ) -> str: ...

    def unask(self, msg_id: str, fn: Callable[[Message], None] | None = None) -> None: ...

    def watch(
        self,
        soul: str,
        fn: Callable[[str, dict[str, Any], Message], None],
        *,
        subscribe: bool = True,
    ) -> Callable[[], None]: ...

    def on_heard_put(
        self, soul: str, fn: Callable[[str, dict[str, Any], Message], None]
    ) -> Callable[[], None]: ...

    def put_graph(
        self,
        graph: dict[str, dict[str, Any]],
        *,
        budget: int | None = 9,
        msg_id: str | None = None,
        on_reply: Callable[[Message], None] | None = None,
        reply_life: float | None = None,
    ) -> Any: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


class DcWire:
    """The mesh's view of a WebRTC link: DAM text over the data channel."""

    transport = "dc"

    def __init__(self, link: Link) -> None:
        self.link = link

    def send(self, text: str) -> None:
        """Send one frame; ``NetworkError`` when the channel is closed or its buffer is past
        the high-water mark (the mesh then queues the frame, bounded)."""
        self.link.peer.send(text)

    def close(self) -> None:
        """The mesh hangs up: drop exactly this link (not a newer one with the same pid)."""
        self.link.manager._drop_soon(self.link, "closed")


@dataclass(eq=False)
class Link:
    """One WebRTC link (pending or open) with a remote pid."""

    manager: WebRTCManager
    pid: str
    peer: WebRTCPeer
    role: str  # "offerer" or "answerer" or "manual"
    reply_to: str | None = None  # the message id our candidates answer (gun: msg['#'])
    ask_id: str | None = None
    mesh_peer: MeshPeer | None = None
    remote_set: bool = False
    remote_pending: bool = False  # an answer is being applied (a second one is refused)
    started: float = 0.0
    timer: asyncio.TimerHandle | None = None
    held: list[dict[str, Any]] = field(default_factory=list)
    candidates: int = 0  # remote candidates taken (held or applied), bounded
    offer: dict[str, Any] | None = None  # our offer once made (sent again in glare we win)

    @property
    def open(self) -> bool:
        """The data channel opened and the link joined the mesh."""
        return self.mesh_peer is not None and self.mesh_peer.met is not None


class WebRTCManager:
    """Owns every WebRTC link of one ``Gun`` root; see the module docstring for the protocol."""

    def __init__(
        self, gun: Root, options: WebRTCOptions, pending_timeout: float = PENDING_TIMEOUT
    ) -> None:
        if not isinstance(options, WebRTCOptions):
            raise GunError(f"rtc={options!r}, expected WebRTCOptions")
        self.gun = gun
        self.options = options
        self.pending_timeout = pending_timeout
        self.links: dict[str, Link] = {}
        self.start_state: float = 0.0
        self.announce_id: str | None = None
        # bounds on what remotes can make us hold (attributes, so a test or a Lab can lower them)
        self.max_announced = ANNOUNCED_MAX
        self.max_held_pids = HELD_PIDS_MAX
        self.max_held_candidates = HELD_CANDIDATES_MAX
        self.max_held_bytes = HELD_BYTES_MAX
        self.max_link_candidates = LINK_CANDIDATES_MAX
        self.send_high_water = SEND_HIGH_WATER
        self.send_low_water = SEND_LOW_WATER
        # pid -> (put msg id, loop time), oldest first
        self._announced: OrderedDict[str, tuple[str, float]] = OrderedDict()
        # pid -> [(loop time, candidate, size)], oldest pid first
        self._held: OrderedDict[str, list[tuple[float, dict[str, Any], int]]] = OrderedDict()
        self._held_bytes = 0
        self._held_checked = 0.0  # loop time of the last expiry pass over _held
        self._sweeper: asyncio.TimerHandle | None = None
        self._unwatch: Callable[[], None] | None = None
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # signalling work, cancelled by close
        self._closing: set[asyncio.Task[Any]] = set()  # connection closes, awaited by close
        self._closed = False
        self.refused = 0

    # ------------------------------------------------------------------ basics
    @property
    def pid(self) -> str:
        """Our pid (the root's)."""
        return self.gun.pid

    @property
    def soul(self) -> str | None:
        """The room's soul, ``/RTC/<room><?99``, or None without a room."""
        room = self.options.room
        return None if room is None else f"/RTC/{room}<?99"

    def _now(self) -> float:
        return self.gun.bus.now()

    def _signal(self, pid: str, step: str, direction: str, data: Any) -> None:
        self.gun.bus.emit(
            trace.RtcSignal(self._now(), self.pid, pid, step=step, direction=direction, data=data)
        )

    def _error(self, pid: str, text: str) -> None:
        self.gun.bus.emit(trace.Error(self._now(), self.pid, pid, error=text))

    def _dropped(self, pid: str, reason: str, msg_id: str = "") -> None:
        self.gun.bus.emit(
            trace.Dropped(
                self._now(),
                self.pid,
                pid,
                msg_id=msg_id,
                reason=reason,
                cause=trace.DropCause.RTC_LIMIT,
            )
        )

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def _spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, *, closing: bool = False
    ) -> asyncio.Task[Any] | None:
        """Start an owned task: the root owns it (its failure becomes a trace error) and so do
        we (``close`` cancels signalling work and waits for connection closes). After ``close``
        no signalling work starts (None)."""
        if self._closed and not closing:
            coro.close()
            return None
        task = self.gun.spawn(coro, name)
        owner = self._closing if closing else self._tasks
        owner.add(task)
        task.add_done_callback(owner.discard)
        return task

    async def start(self) -> None:
        """Register the ``rtc`` dam handler and, with a room, announce and watch it."""
        # import aiortc now (~150 ms the first time), not when the first offer is due
        import aiortc  # noqa: F401

        self.gun.mesh.handlers["rtc"] = self._hear_dam
        if self.soul is not None:
            # our start comes first: announcements older than it (e.g. the room's current
            # value, answered to our subscription) must not make us offer (gun: opt.rtc.start)
            self.start_state = self.gun.machine()
            # subscribe (an AXE relay forwards announcements to subscribers only), and look at
            # every announcement heard: gun.js reacts to changes of '+', which misses an
            # announcement that reaches us after a newer one when peers join at once
            unwatch = self.gun.watch(self.soul, lambda *_: None)
            unhear = self.gun.on_heard_put(self.soul, self._on_room)

            def off() -> None:
                unwatch()
                unhear()

            self._unwatch = off
            await asyncio.sleep(0)
            self.announce()

    def announce(self) -> str:
        """Put our pid into the room (again); offers arrive as replies to this put.

        The put's own listener (``put_graph``'s, which settles the ``PutResult``) stays in
        place: ``put_graph(on_reply=...)`` hands us every reply to the announcement, the one
        that settles the put included, from the start, so no offer can fall between two
        listeners."""
        soul = self.soul
        if soul is None:
            raise WebRTCError("announce() needs WebRTCOptions(room=...)")
        if self._closed:
            raise WebRTCError("announce() after close()")
        if self.announce_id is not None:
            self.gun.unask(self.announce_id)
        self.start_state = self.gun.machine()
        graph = {soul: {"_": {"#": soul, ">": {"+": self.start_state}}, "+": self.pid}}
        result = self.gun.put_graph(
            graph,
            budget=self.options.max_connections,
            on_reply=self._on_reply,
            reply_life=ANNOUNCE_LIFE,
        )
        mid: str = result.id
        self.announce_id = mid
        self._signal("", "announce", "out", {"room": self.options.room, "id": mid})
        return mid

    async def close(self) -> None:
        """Stop listening, cancel signalling in flight, close every link and wait for it."""
        self._closed = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.announce_id is not None:
            self.gun.unask(self.announce_id)
        if self.gun.mesh.handlers.get("rtc") == self._hear_dam:
            del self.gun.mesh.handlers["rtc"]
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._announced.clear()
        self._held.clear()
        self._held_bytes = 0
        me = asyncio.current_task()
        work = [t for t in self._tasks if t is not me]
        for t in work:
            t.cancel()
        if work:
            # results are our own tasks' (their CancelledError is ours); if close() itself is
            # cancelled, gather raises CancelledError here and it propagates
            await asyncio.gather(*work, return_exceptions=True)
        for link in list(self.links.values()):
            self._drop_soon(link, "manager closed")
        closing = [t for t in self._closing if t is not me]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        for futures in self._waiters.values():
            for f in futures:
                if not f.done():
                    f.set_exception(WebRTCError("WebRTC manager closed"))
        self._waiters.clear()

    # ------------------------------------------------------------------ bounded memory
    def _schedule_sweep(self) -> None:
        if self._sweeper is None and not self._closed and (self._announced or self._held):
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_EVERY, self._sweep)

    def _sweep(self) -> None:
        """Forget announcements older than a relay's route and held candidates past their
        life, even when nothing new arrives (so memory goes back down after a flood)."""
        self._sweeper = None
        now = self._loop_time()
        self._expire_announced(now)
        self._expire_held(now)
        self._schedule_sweep()

    def _expire_announced(self, now: float) -> None:
        while self._announced:
            pid, (_, t) = next(iter(self._announced.items()))
            if now - t < ROUTE_LIFE:
                break
            del self._announced[pid]

    def _remember_announcement(self, pid: str, mid: str) -> None:
        now = self._loop_time()
        self._expire_announced(now)
        self._announced.pop(pid, None)
        while len(self._announced) >= self.max_announced:
            old, _ = self._announced.popitem(last=False)
            self._dropped(
                old, f"announcements: max_announced={self.max_announced} reached; oldest forgotten"
            )
        self._announced[pid] = (mid, now)
        self._schedule_sweep()

    def _expire_held(self, now: float) -> None:
        self._held_checked = now
        for pid in list(self._held):
            kept = [h for h in self._held[pid] if now - h[0] < HELD_CANDIDATES_LIFE]
            self._held_bytes -= sum(h[2] for h in self._held[pid]) - sum(h[2] for h in kept)
            if kept:
                self._held[pid] = kept
            else:
                del self._held[pid]

    def _forget_held(self, pid: str) -> list[tuple[float, dict[str, Any], int]]:
        held = self._held.pop(pid, [])
        self._held_bytes -= sum(h[2] for h in held)
        return held

    def _hold_early(self, pid: str, cand: dict[str, Any], size: int) -> None:
        """Keep a candidate from a pid we have no link with, for its offer or answer, within
        the bounds; the oldest pid's candidates make room for a new pid."""
        now = self._loop_time()
        if now - self._held_checked >= 0.5:  # the counts bound it meanwhile; this is O(held)
            self._expire_held(now)
        held = self._held.get(pid)
        if held is not None and len(held) >= self.max_held_candidates:
            self._dropped(
                pid,
                f"candidate for unknown peer {pid}: max_held_candidates="
                f"{self.max_held_candidates} reached; dropped",
            )
            return
        if held is None:
            while self._held and len(self._held) >= self.max_held_pids:
                old = next(iter(self._held))
                self._forget_held(old)
                self._dropped(
                    old,
                    f"held candidates: max_held_pids={self.max_held_pids} reached; "
                    f"those of the oldest peer {old} forgotten",
                )
        while self._held and self._held_bytes + size > self.max_held_bytes:
            old = next(iter(self._held))
            if old == pid and len(self._held) == 1:
                break
            self._forget_held(old)
            self._dropped(
                old,
                f"held candidates: max_held_bytes={self.max_held_bytes} reached; "
                f"those of the oldest peer {old} forgotten",
            )
        if self._held_bytes + size > self.max_held_bytes:
            self._dropped(
                pid, f"held candidates: max_held_bytes={self.max_held_bytes} reached; dropped"
            )
            return
        self._held.setdefault(pid, []).append((now, cand, size))
        self._held_bytes += size
        self._error(
            pid,
            f"candidate for unknown peer {pid}: held {HELD_CANDIDATES_LIFE:g} s for its offer",
        )
        self._schedule_sweep()

    # ------------------------------------------------------------------ discovery
    def _on_room(self, soul: str, node: dict[str, Any], msg: Message) -> None:
        pid = node.get("+")
        meta = node.get("_")
        states = meta.get(">") if isinstance(meta, dict) else None
        state = states.get("+") if isinstance(states, dict) else None
        mid = msg.get("#")
        if not (isinstance(pid, str) and isinstance(mid, str) and isinstance(state, int | float)):
            return
        if pid == self.pid or not pid or self._closed:
            return
        self._remember_announcement(pid, mid)
        self._signal(pid, "announce", "in", {"room": self.options.room, "id": mid})
        if state < self.start_state:
            return  # an announcement from before we started (gun: opt.rtc.start > state)
        self._start_offer(pid, mid)

    def _on_reply(self, msg: Message) -> None:
        """A reply to our announcement or to one of our offers: answers, offers, candidates."""
        ok = msg.get("ok")
        if not isinstance(ok, dict) or not isinstance(ok.get("rtc"), dict):
            return  # a storage ack of the announcement
        self.handle_rtc_message(msg)

    def _hear_dam(self, msg: Message, peer: MeshPeer) -> None:
        self.handle_rtc_message(msg, peer)

    # ------------------------------------------------------------------ signalling in
    def handle_rtc_message(self, msg: Message, via: MeshPeer | None = None) -> None:
        """Act on one ``ok.rtc`` message (offer, answer, candidate, or a bare id). Never raises:
        bad input becomes a trace error and existing links are untouched. What happens to
        ``links`` is decided here, synchronously, in arrival order."""
        rtc = (msg.get("ok") or {}).get("rtc") if isinstance(msg.get("ok"), dict) else None
        if not isinstance(rtc, dict):
            self._error("", f"rtc message without ok.rtc: {str(msg)[:80]}")
            return
        pid = rtc.get("id")
        if not isinstance(pid, str) or not pid:
            self._error("", "rtc message without a pid (ok.rtc.id)")
            return
        if pid == self.pid:
            self._error(pid, "rtc message carries our own pid; ignored")
            return
        if self._closed:
            return
        mid = str(msg.get("#", ""))
        if "offer" in rtc:
            self._on_offer(pid, rtc["offer"], mid, via)
        elif "answer" in rtc:
            self._on_answer(pid, rtc["answer"])
        elif "candidate" in rtc:
            self._on_candidate(pid, rtc["candidate"])
        elif mid:
            # a bare id: gun's "please connect" (gun.rs sends this too)
            self._start_offer(pid, mid)

    def _full(self, pid: str) -> bool:
        return sum(1 for p in self.links if p != pid) >= self.options.max_connections

    def _room_for(self, pid: str) -> bool:
        if self._full(pid):
            self.refused += 1
            self._error(
                pid,
                f"max_connections={self.options.max_connections} reached; link with {pid} refused",
            )
            return False
        return True

    def _new_link(self, pid: str, role: str, reply_to: str | None) -> Link:
        """Create the link for ``pid`` and put it in ``links``. The caller has made sure the
        slot is free: a pid never has two links, so no connection can be orphaned."""
        if pid in self.links:
            raise WebRTCError(f"a link with {pid} already exists")
        if self._closed:
            raise WebRTCError("WebRTC manager closed")
        link: Link

        def on_message(text: str) -> None:
            if link.mesh_peer is not None and self.links.get(pid) is link:
                self.gun.mesh.hear(text, link.mesh_peer)

        def on_open() -> None:
            self._opened(link)

        def on_close() -> None:
            self._drop_soon(link, "channel closed")

        def on_writable() -> None:
            self._writable(link)

        peer = WebRTCPeer(
            pid,
            self.options,
            on_message=on_message,
            on_open=on_open,
            on_close=on_close,
            on_writable=on_writable,
            bus=self.gun.bus,
            node=self.pid,
            high_water=self.send_high_water,
            low_water=self.send_low_water,
        )
        link = Link(self, pid, peer, role, reply_to=reply_to, started=self._loop_time())
        link.mesh_peer = MeshPeer(id=pid, pid=pid, wire=DcWire(link))
        self.links[pid] = link
        link.timer = asyncio.get_running_loop().call_later(
            self.pending_timeout, lambda: self._expire(link)
        )
        return link

    def _current(self, link: Link) -> bool:
        return self.links.get(link.pid) is link

    def _expire(self, link: Link) -> None:
        if not link.open and self._current(link):
            self._error(
                link.pid,
                f"link with {link.pid} did not open within {self.pending_timeout:g} s; dropped",
            )
            self._drop_soon(link, "timeout")

    def _opened(self, link: Link) -> None:
        if link.timer is not None:
            link.timer.cancel()
        if not self._current(link) or link.mesh_peer is None:
            return
        self.gun.bus.emit(
            trace.RtcState(self._now(), self.pid, link.pid, state="open", layer="link")
        )
        self.gun.mesh.hi(link.mesh_peer)
        for f in self._waiters.pop(link.pid, ()):
            if not f.done():
                f.set_result(None)

    def _writable(self, link: Link) -> None:
        """The channel's buffer went below its low-water mark: send what the mesh queued while
        it was full (``Mesh.hi`` on a peer already met only drains its queue)."""
        mp = link.mesh_peer
        if self._current(link) and mp is not None and mp.met is not None and mp.queue:
            self.gun.mesh.hi(mp)

    # ---- offers out
    def _start_offer(self, pid: str, reply_to: str | None, via: MeshPeer | None = None) -> None:
        """Claim ``links[pid]`` for an offer now, and make the offer in an owned task."""
        if pid in self.links:
            return  # gun: one offer per pid while one is pending or open
        if not self._room_for(pid):
            return
        link = self._new_link(pid, "offerer", reply_to)
        self._spawn(self._send_offer(link, via), f"offer to {pid}")

    async def _send_offer(self, link: Link, via: MeshPeer | None) -> None:
        pid = link.pid
        try:
            offer = await link.peer.create_offer()
        except (WebRTCError, ValueError) as exc:
            self._error(pid, f"could not make an offer: {exc}")
            self._drop_soon(link, "offer failed")
            return
        if not self._current(link):
            return  # dropped or replaced while gathering; whoever did it closes it
        link.offer = offer
        self._say_offer(link, via)

    def _say_offer(self, link: Link, via: MeshPeer | None) -> None:
        """Send our offer (made) under a fresh id we listen on: over ``via`` as ``dam: 'rtc'``,
        else as a reply to ``link.reply_to``, followed by its candidates one by one."""
        assert link.offer is not None
        link.ask_id = self.gun.ask(self._on_reply, life=self.pending_timeout)
        self._signal(link.pid, "offer", "out", link.offer)
        rtc = {"rtc": {"offer": link.offer, "id": self.pid}}
        if via is not None:
            self.gun.mesh.say({"#": link.ask_id, "dam": "rtc", "ok": rtc}, via)
            return
        self.gun.mesh.say({"#": link.ask_id, "@": link.reply_to, "ok": rtc})
        self._send_candidates(link, link.offer)

    # ---- offers in
    def _on_offer(self, pid: str, offer: Any, offer_id: str, via: MeshPeer | None) -> None:
        """Decide, now and in arrival order, what an offer does to ``links[pid]``: a pid with a
        link being set up or open keeps it (the offer is ignored), except in glare (both sides
        offered, neither answered yet), where the lower pid's offer wins everywhere."""
        self._signal(pid, "offer", "in", offer)
        existing = self.links.get(pid)
        if (
            existing is not None
            and existing.role == "offerer"
            and not existing.open
            and not existing.remote_set
            and not existing.remote_pending
            and self.pid < pid
        ):
            self._keep_our_offer(existing, offer_id, via)
            return
        glare = (
            existing is not None
            and existing.role == "offerer"
            and not existing.open
            and not existing.remote_set
            and not existing.remote_pending
            and self.pid > pid
        )
        if existing is not None and not glare:
            self._error(
                pid,
                f"offer from {pid} while a link with it is "
                f"{'open' if existing.open else 'pending'}; ignored",
            )
            return
        if not self._room_for(pid):
            return
        try:
            description_from_json(offer, ("offer",))
        except WebRTCError as exc:
            self._error(pid, f"bad offer from {pid}: {exc}")
            return
        closing: asyncio.Task[Any] | None = None
        if existing is not None:
            # glare: both sides offered. The lower pid's offer wins; we drop ours and answer
            # (npm gun ignores the second offer on both sides and the link never opens)
            self._error(pid, f"both offered; {pid} < {self.pid}, so we answer its offer")
            if self._detach(existing, "glare"):
                closing = self._spawn(self._close_peer(existing), f"close link {pid}", closing=True)
        link = self._new_link(pid, "answerer", offer_id)
        self._spawn(self._answer(link, offer, offer_id, via, closing), f"answer {pid}")

    def _keep_our_offer(self, link: Link, offer_id: str, via: MeshPeer | None) -> None:
        """Glare that our offer wins (our pid is the lower). Theirs is ignored, but it shows a
        way to them that works: ours may never have reached them (made as a reply to an
        announcement we learned from a relay's GET answer, whose route ends at that relay, it
        is dropped there, as gun.js drops it too), and they would wait for an answer to theirs
        that never comes. So ours goes again, as a reply to their offer, which routes back to
        them; there the same rule makes them drop theirs and answer ours."""
        pid = link.pid
        self._error(pid, f"both offered; {self.pid} < {pid}, so ours stands: sent again to it")
        link.reply_to = offer_id  # our candidates follow the same way
        if link.offer is None:
            return  # still being made: _send_offer sends it on this way
        self._say_offer(link, via)  # the first offer's id stays asked until its life ends

    async def _answer(
        self,
        link: Link,
        offer: Any,
        offer_id: str,
        via: MeshPeer | None,
        closing: asyncio.Task[Any] | None,
    ) -> None:
        pid = link.pid
        if closing is not None:
            # the replaced connection is closed before its successor negotiates; wait() (not
            # await) so that cancelling us does not cancel that close, which close() awaits
            await asyncio.wait([closing])
            if not self._current(link):
                return
        try:
            link.remote_pending = True
            await link.peer.set_remote_description(offer)
            link.remote_set = True
            await self._apply_held(link)
            answer = await link.peer.create_answer()
        except (WebRTCError, LimitError, ValueError) as exc:
            self._error(pid, f"bad offer from {pid}: {exc}")
            self._drop_soon(link, "bad offer")
            return
        if not self._current(link):
            return
        self._signal(pid, "answer", "out", answer)
        reply: Message = {"@": offer_id, "ok": {"rtc": {"answer": answer, "id": self.pid}}}
        if via is not None:
            self.gun.mesh.say(reply, via)
        else:
            self.gun.mesh.say(reply)
        self._send_candidates(link, answer)

    # ---- answers in
    def _on_answer(self, pid: str, answer: Any) -> None:
        self._signal(pid, "answer", "in", answer)
        link = self.links.get(pid)
        if link is None or link.role != "offerer":
            self._error(pid, f"answer from {pid} but we made it no offer; ignored")
            return
        if link.remote_set or link.remote_pending:
            self._error(pid, f"second answer from {pid}; ignored")
            return
        link.remote_pending = True
        self._spawn(self._apply_answer(link, answer), f"apply answer {pid}")

    async def _apply_answer(self, link: Link, answer: Any) -> None:
        pid = link.pid
        try:
            await link.peer.set_remote_description(answer)
            link.remote_set = True
            await self._apply_held(link)
        except (WebRTCError, LimitError, ValueError) as exc:
            self._error(pid, f"bad answer from {pid}: {exc}")
            self._drop_soon(link, "bad answer")

    # ---- candidates in
    def _on_candidate(self, pid: str, cand: Any) -> None:
        self._signal(pid, "candidate", "in", cand)
        checked = self._check_candidate(pid, cand)
        if checked is None:
            return
        cand, size = checked
        link = self.links.get(pid)
        if link is None:
            self._hold_early(pid, cand, size)
            return
        if link.candidates >= self.max_link_candidates:
            self._dropped(
                pid,
                f"candidate from {pid}: max_link_candidates={self.max_link_candidates} "
                "reached; dropped",
            )
            return
        link.candidates += 1
        if not link.remote_set:
            link.held.append(cand)
            return
        self._spawn(self._add_candidate(link, cand), f"candidate {pid}")

    def _check_candidate(self, pid: str, cand: Any) -> tuple[dict[str, Any], int] | None:
        """A candidate as we keep it (only its known fields) and its size; None (reported) if
        it is malformed or oversized, so junk is never held."""
        if isinstance(cand, dict) and isinstance(cand.get("candidate"), str):
            if len(cand["candidate"]) > MAX_CANDIDATE_CHARS:
                self._dropped(
                    pid, f"candidate from {pid} over MAX_CANDIDATE_CHARS={MAX_CANDIDATE_CHARS}"
                )
                return None
        try:
            candidate_from_json(cand)
        except WebRTCError as exc:
            self._error(pid, f"bad candidate from {pid}: {exc}")
            return None
        kept = {
            k: cand[k]
            for k in ("candidate", "sdpMid", "sdpMLineIndex", "usernameFragment")
            if k in cand and isinstance(cand[k], str | int) and not isinstance(cand[k], bool)
        }
        if "candidate" not in kept:
            return None
        size = 64 + sum(len(str(v)) for v in kept.values())
        if size > MAX_CANDIDATE_CHARS + 256:
            self._dropped(pid, f"candidate from {pid} too large ({size} bytes)")
            return None
        return kept, size

    async def _add_candidate(self, link: Link, cand: dict[str, Any]) -> None:
        try:
            await link.peer.add_ice_candidate(cand)
        except (WebRTCError, LimitError, ValueError) as exc:
            self._error(link.pid, f"bad candidate from {link.pid}: {exc}")

    async def _apply_held(self, link: Link) -> None:
        now = self._loop_time()
        early = [c for t, c, _ in self._forget_held(link.pid) if now - t < HELD_CANDIDATES_LIFE]
        room = max(self.max_link_candidates - link.candidates, 0)
        if len(early) > room:
            self._dropped(
                link.pid,
                f"held candidates from {link.pid}: max_link_candidates="
                f"{self.max_link_candidates} reached; {len(early) - room} dropped",
            )
            early = early[:room]
        link.candidates += len(early)
        cands, link.held = early + link.held, []
        for cand in cands:
            try:
                await link.peer.add_ice_candidate(cand)
            except (WebRTCError, LimitError, ValueError) as exc:
                self._error(link.pid, f"bad candidate from {link.pid}: {exc}")

    def _send_candidates(self, link: Link, desc: dict[str, Any]) -> None:
        """Also send the SDP's candidates one by one, Gun's way (browsers add them either way)."""
        if link.reply_to is None:
            return
        for cand in candidates_from_sdp(desc.get("sdp", "")):
            self._signal(link.pid, "candidate", "out", cand)
            self.gun.mesh.say(
                {"@": link.reply_to, "ok": {"rtc": {"candidate": cand, "id": self.pid}}}
            )

    # ------------------------------------------------------------------ user API
    def initiate_connection(self, pid: str) -> None:
        """Offer a link to ``pid``: as a reply to its announcement (if heard in the last 9 s,
        while relays still hold the route), else with ``dam: 'rtc'`` over a direct mesh peer."""
        if pid == self.pid:
            raise WebRTCError("initiate_connection: that is our own pid")
        if pid in self.links:
            return
        heard = self._announced.get(pid)
        if heard is not None and self._loop_time() - heard[1] < ROUTE_LIFE:
            self._start_offer(pid, heard[0])
            return
        direct = self.gun.mesh.peer_by_pid(pid)
        if direct is None:
            raise WebRTCError(
                f"no route to {pid}: no fresh announcement from it and no direct mesh peer; "
                "have it announce() in the same room"
            )
        self._start_offer(pid, None, direct)

    def send_message(self, pid: str, text: str) -> str:
        """Send a DAM frame to ``pid``: over the data channel when open (returns ``"dc"``),
        else through the mesh, i.e. the relay (returns ``"mesh"``)."""
        link = self.links.get(pid)
        if link is not None and link.open:
            try:
                link.peer.send(text)
                return "dc"
            except NetworkError:
                pass
        from gunrtc_kit.core import codec

        msgs, bad = codec.parse(text)
        if bad:
            raise bad[0]
        for m in msgs:
            self.gun.mesh.say(m)
        return "mesh"

    def connected(self) -> list[str]:
        """The pids whose links are open."""
        return [pid for pid, link in self.links.items() if link.open]

    async def drop(self, pid: str, why: str = "") -> None:
        """Close the link with ``pid`` (if any); the mesh sees ``bye``."""
        link = self.links.get(pid)
        if link is None or not self._detach(link, why):
            return
        task = self._spawn(self._close_peer(link), f"close link {pid}", closing=True)
        if task is not None:
            # wait() rather than await: if our caller is cancelled, the close still completes
            # (close() waits for it), so no connection is left half closed and unreferenced
            await asyncio.wait([task])

    def _detach(self, link: Link, why: str) -> bool:
        """Take ``link`` out of ``links`` and the mesh, synchronously (its connection still has
        to be closed). False if it was not the current link for its pid."""
        if not self._current(link):
            return False
        del self.links[link.pid]
        if link.timer is not None:
            link.timer.cancel()
        if link.ask_id is not None:
            self.gun.unask(link.ask_id, self._on_reply)
        if link.mesh_peer is not None:
            self.gun.mesh.bye(link.mesh_peer)
        self.gun.bus.emit(
            trace.RtcState(
                self._now(), self.pid, link.pid, state="closed", layer="link", detail=why
            )
        )
        return True

    async def _close_peer(self, link: Link) -> None:
        with contextlib.suppress(Exception):
            await link.peer.close()

    def _drop_soon(self, link: Link, why: str) -> None:
        """Drop ``link`` now (from a callback) and close its connection in an owned task."""
        if self._detach(link, why):
            self._spawn(self._close_peer(link), f"close link {link.pid}", closing=True)

    # ------------------------------------------------------------------ manual signalling
    async def create_offer(self, pid: str) -> dict[str, Any]:
        """Step 1 by hand: start a link to ``pid`` and return our offer (SDP with candidates)."""
        if pid in self.links:
            raise WebRTCError(f"a link with {pid} already exists")
        if not self._room_for(pid):
            raise WebRTCError(f"max_connections={self.options.max_connections} reached")
        link = self._new_link(pid, "offerer", None)
        try:
            offer = await link.peer.create_offer()
        except BaseException:
            self._drop_soon(link, "offer failed")
            raise
        self._signal(pid, "offer", "out", offer)
        return offer

    async def accept_offer(self, pid: str, offer: dict[str, Any]) -> dict[str, Any]:
        """Step 2 by hand: take ``pid``'s offer and return our answer."""
        self._signal(pid, "offer", "in", offer)
        if pid in self.links:
            raise WebRTCError(f"a link with {pid} already exists")
        if not self._room_for(pid):
            raise WebRTCError(f"max_connections={self.options.max_connections} reached")
        link = self._new_link(pid, "answerer", None)
        try:
            await link.peer.set_remote_description(offer)
            link.remote_set = True
            answer = await link.peer.create_answer()
        except BaseException:
            self._drop_soon(link, "bad offer")
            raise
        self._signal(pid, "answer", "out", answer)
        return answer

    async def accept_answer(self, pid: str, answer: dict[str, Any]) -> None:
        """Step 3 by hand: apply ``pid``'s answer to the offer we made."""
        self._signal(pid, "answer", "in", answer)
        link = self.links.get(pid)
        if link is None or link.role != "offerer":
            raise WebRTCError(f"answer from {pid} but we made it no offer")
        if link.remote_set or link.remote_pending:
            raise WebRTCError(f"{pid} already answered")
        link.remote_pending = True
        try:
            await link.peer.set_remote_description(answer)
        except BaseException:
            link.remote_pending = False
            raise
        link.remote_set = True

    async def add_candidate(self, pid: str, candidate: dict[str, Any]) -> None:
        """Step 4 by hand: add one of ``pid``'s ICE candidates (JS field names)."""
        link = self.links.get(pid)
        if link is None:
            raise WebRTCError(f"candidate for unknown peer {pid}")
        self._signal(pid, "candidate", "in", candidate)
        await link.peer.add_ice_candidate(candidate)

    async def wait_open(self, pid: str, timeout: float = 10.0) -> None:
        """Wait until the link with ``pid`` carries DAM (bounded; the wait leaves nothing
        behind when it times out)."""
        link = self.links.get(pid)
        if link is not None and link.open:
            return
        if self._closed:
            raise WebRTCError("WebRTC manager closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(pid, set())
        waiters.add(future)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise WebRTCError(f"link with {pid} did not open within {timeout} s") from None
        finally:
            waiters.discard(future)
            if not waiters and self._waiters.get(pid) is waiters:
                del self._waiters[pid]
