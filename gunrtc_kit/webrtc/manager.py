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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from gunrtc_kit import trace
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, NetworkError, WebRTCError
from gunrtc_kit.webrtc.options import WebRTCOptions
from gunrtc_kit.webrtc.peer import WebRTCPeer
from gunrtc_kit.webrtc.signaling import candidates_from_sdp

__all__ = ["DcWire", "Link", "Root", "WebRTCManager"]

log = logging.getLogger(__name__)

Message = dict[str, Any]

PENDING_TIMEOUT = 60.0  # gun webrtc.js forgets a link that has not opened after 60 s
HELD_CANDIDATES_LIFE = 10.0
HELD_CANDIDATES_MAX = 64
ROUTE_LIFE = 9.0  # a relay keeps a reply route ~9 s (dedup age)


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
        self, graph: dict[str, dict[str, Any]], *, budget: int | None = 9, msg_id: str | None = None
    ) -> Any: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


class DcWire:
    """The mesh's view of a WebRTC link: DAM text over the data channel."""

    transport = "dc"

    def __init__(self, link: Link) -> None:
        self.link = link

    def send(self, text: str) -> None:
        self.link.peer.send(text)

    def close(self) -> None:
        self.link.manager.gun.spawn(
            self.link.manager.drop(self.link.pid, "closed"), f"close link {self.link.pid}"
        )


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
    started: float = 0.0
    timer: asyncio.TimerHandle | None = None
    held: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
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
        self._announced: dict[str, tuple[str, float]] = {}  # pid -> (put msg id, loop time)
        self._held: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self._unwatch: Callable[[], None] | None = None
        self._open_events: dict[str, asyncio.Event] = {}
        self.refused = 0

    # ------------------------------------------------------------------ basics
    @property
    def pid(self) -> str:
        return self.gun.pid

    @property
    def soul(self) -> str | None:
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

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

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
        """Put our pid into the room (again); offers arrive as replies to this put."""
        soul = self.soul
        if soul is None:
            raise WebRTCError("announce() needs WebRTCOptions(room=...)")
        if self.announce_id is not None:
            self.gun.unask(self.announce_id)
        self.start_state = self.gun.machine()
        graph = {soul: {"_": {"#": soul, ">": {"+": self.start_state}}, "+": self.pid}}
        result = self.gun.put_graph(graph, budget=self.options.max_connections)
        mid: str = result.id
        self.announce_id = mid
        # the put's own ack listener resolves on the first reply; keep one for every rtc reply
        self.gun.ask(self._on_reply, mid, life=3600.0)
        self._signal("", "announce", "out", {"room": self.options.room, "id": mid})
        return mid

    async def close(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.announce_id is not None:
            self.gun.unask(self.announce_id)
        self.gun.mesh.handlers.pop("rtc", None)
        for pid in list(self.links):
            await self.drop(pid, "manager closed")

    # ------------------------------------------------------------------ discovery
    def _on_room(self, soul: str, node: dict[str, Any], msg: Message) -> None:
        pid = node.get("+")
        meta = node.get("_")
        states = meta.get(">") if isinstance(meta, dict) else None
        state = states.get("+") if isinstance(states, dict) else None
        mid = msg.get("#")
        if not (isinstance(pid, str) and isinstance(mid, str) and isinstance(state, int | float)):
            return
        if pid == self.pid:
            return
        self._announced[pid] = (mid, self._loop_time())
        self._signal(pid, "announce", "in", {"room": self.options.room, "id": mid})
        if state < self.start_state:
            return  # an announcement from before we started (gun: opt.rtc.start > state)
        self.gun.spawn(self._offer(pid, mid), f"offer to {pid}")

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
        bad input becomes a trace error and existing links are untouched."""
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
        mid = str(msg.get("#", ""))
        if "offer" in rtc:
            self.gun.spawn(self._answer(pid, rtc["offer"], mid, via), f"answer {pid}")
        elif "answer" in rtc:
            self.gun.spawn(self._apply_answer(pid, rtc["answer"]), f"apply answer {pid}")
        elif "candidate" in rtc:
            self.gun.spawn(self._apply_candidate(pid, rtc["candidate"]), f"candidate {pid}")
        else:
            # a bare id: gun's "please connect" (gun.rs sends this too)
            if mid:
                self.gun.spawn(self._offer(pid, mid), f"offer to {pid}")

    def _room_for(self, pid: str) -> bool:
        live = sum(1 for link in self.links.values() if link.pid != pid)
        if live >= self.options.max_connections:
            self.refused += 1
            self._error(
                pid,
                f"max_connections={self.options.max_connections} reached; link with {pid} refused",
            )
            return False
        return True

    def _new_link(self, pid: str, role: str, reply_to: str | None) -> Link:
        bus = self.gun.bus
        link: Link

        def on_message(text: str) -> None:
            if link.mesh_peer is not None:
                self.gun.mesh.hear(text, link.mesh_peer)

        def on_open() -> None:
            self._opened(link)

        def on_close() -> None:
            self.gun.spawn(self.drop(pid, "channel closed"), f"drop {pid}")

        peer = WebRTCPeer(
            pid,
            self.options,
            on_message=on_message,
            on_open=on_open,
            on_close=on_close,
            bus=bus,
            node=self.pid,
        )
        link = Link(self, pid, peer, role, reply_to=reply_to, started=self._loop_time())
        link.mesh_peer = MeshPeer(id=pid, pid=pid, wire=DcWire(link))
        self.links[pid] = link
        link.timer = asyncio.get_running_loop().call_later(
            self.pending_timeout, lambda: self._expire(link)
        )
        return link

    def _expire(self, link: Link) -> None:
        if not link.open and self.links.get(link.pid) is link:
            self._error(
                link.pid,
                f"link with {link.pid} did not open within {self.pending_timeout:g} s; dropped",
            )
            self.gun.spawn(self.drop(link.pid, "timeout"), f"drop {link.pid}")

    def _opened(self, link: Link) -> None:
        if link.timer is not None:
            link.timer.cancel()
        if self.links.get(link.pid) is not link or link.mesh_peer is None:
            return
        self.gun.bus.emit(
            trace.RtcState(self._now(), self.pid, link.pid, state="open", layer="link")
        )
        self.gun.mesh.hi(link.mesh_peer)
        self._open_events.setdefault(link.pid, asyncio.Event()).set()

    async def _offer(self, pid: str, reply_to: str) -> None:
        if pid in self.links:
            return  # gun: one offer per pid while one is pending or open
        if not self._room_for(pid):
            return
        link = self._new_link(pid, "offerer", reply_to)
        try:
            offer = await link.peer.create_offer()
        except (WebRTCError, ValueError) as exc:
            self._error(pid, f"could not make an offer: {exc}")
            await self.drop(pid, "offer failed")
            return
        link.ask_id = self.gun.ask(self._on_reply, life=self.pending_timeout)
        self._signal(pid, "offer", "out", offer)
        self.gun.mesh.say(
            {"#": link.ask_id, "@": reply_to, "ok": {"rtc": {"offer": offer, "id": self.pid}}}
        )
        self._send_candidates(link, offer)

    async def _answer(self, pid: str, offer: Any, offer_id: str, via: MeshPeer | None) -> None:
        self._signal(pid, "offer", "in", offer)
        existing = self.links.get(pid)
        if (
            existing is not None
            and existing.role == "offerer"
            and not existing.open
            and not existing.remote_set
            and self.pid > pid
        ):
            # glare: both sides offered. The lower pid's offer wins; we drop ours and answer
            # (npm gun ignores the second offer on both sides and the link never opens)
            self._error(pid, f"both offered; {pid} < {self.pid}, so we answer its offer")
            await self.drop(pid, "glare")
            existing = None
        if existing is not None:
            self._error(
                pid,
                f"offer from {pid} while a link with it is "
                f"{'open' if existing.open else 'pending'}; ignored",
            )
            return
        if not self._room_for(pid):
            return
        link = self._new_link(pid, "answerer", offer_id)
        try:
            await link.peer.set_remote_description(offer)
            link.remote_set = True
            await self._apply_held(link)
            answer = await link.peer.create_answer()
        except (WebRTCError, ValueError) as exc:
            self._error(pid, f"bad offer from {pid}: {exc}")
            await self.drop(pid, "bad offer")
            return
        self._signal(pid, "answer", "out", answer)
        reply: Message = {"@": offer_id, "ok": {"rtc": {"answer": answer, "id": self.pid}}}
        if via is not None:
            self.gun.mesh.say(reply, via)
        else:
            self.gun.mesh.say(reply)
        self._send_candidates(link, answer)

    async def _apply_answer(self, pid: str, answer: Any) -> None:
        self._signal(pid, "answer", "in", answer)
        link = self.links.get(pid)
        if link is None or link.role != "offerer":
            self._error(pid, f"answer from {pid} but we made it no offer; ignored")
            return
        if link.remote_set:
            self._error(pid, f"second answer from {pid}; ignored")
            return
        try:
            await link.peer.set_remote_description(answer)
            link.remote_set = True
            await self._apply_held(link)
        except (WebRTCError, ValueError) as exc:
            self._error(pid, f"bad answer from {pid}: {exc}")
            await self.drop(pid, "bad answer")

    async def _apply_candidate(self, pid: str, cand: Any) -> None:
        self._signal(pid, "candidate", "in", cand)
        link = self.links.get(pid)
        if link is None:
            held = self._held.setdefault(pid, [])
            now = self._loop_time()
            held[:] = [h for h in held if now - h[0] < HELD_CANDIDATES_LIFE]
            if len(held) >= HELD_CANDIDATES_MAX:
                self._error(pid, f"too many candidates for unknown peer {pid}; dropped")
                return
            held.append((now, cand))
            self._error(
                pid,
                f"candidate for unknown peer {pid}: held {HELD_CANDIDATES_LIFE:g} s for its offer",
            )
            return
        if not link.remote_set:
            link.held.append(cand)
            return
        try:
            await link.peer.add_ice_candidate(cand)
        except (WebRTCError, ValueError) as exc:
            self._error(pid, f"bad candidate from {pid}: {exc}")

    async def _apply_held(self, link: Link) -> None:
        now = self._loop_time()
        early = [c for t, c in self._held.pop(link.pid, []) if now - t < HELD_CANDIDATES_LIFE]
        for cand in early + link.held:
            try:
                await link.peer.add_ice_candidate(cand)
            except (WebRTCError, ValueError) as exc:
                self._error(link.pid, f"bad candidate from {link.pid}: {exc}")
        link.held.clear()

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
            self.gun.spawn(self._offer(pid, heard[0]), f"offer to {pid}")
            return
        direct = self.gun.mesh.peer_by_pid(pid)
        if direct is None:
            raise WebRTCError(
                f"no route to {pid}: no fresh announcement from it and no direct mesh peer; "
                "have it announce() in the same room"
            )
        self.gun.spawn(self._offer_direct(pid, direct), f"offer to {pid}")

    async def _offer_direct(self, pid: str, via: MeshPeer) -> None:
        if not self._room_for(pid):
            return
        link = self._new_link(pid, "offerer", None)
        offer = await link.peer.create_offer()
        link.ask_id = self.gun.ask(self._on_reply, life=self.pending_timeout)
        self._signal(pid, "offer", "out", offer)
        self.gun.mesh.say(
            {"#": link.ask_id, "dam": "rtc", "ok": {"rtc": {"offer": offer, "id": self.pid}}}, via
        )

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
        return [pid for pid, link in self.links.items() if link.open]

    async def drop(self, pid: str, why: str = "") -> None:
        """Close the link with ``pid`` (if any); the mesh sees ``bye``."""
        link = self.links.pop(pid, None)
        if link is None:
            return
        event = self._open_events.get(pid)
        if event is not None and event.is_set():
            del self._open_events[pid]
        if link.timer is not None:
            link.timer.cancel()
        if link.ask_id is not None:
            self.gun.unask(link.ask_id)
        if link.mesh_peer is not None:
            self.gun.mesh.bye(link.mesh_peer)
        self.gun.bus.emit(trace.RtcState(self._now(), self.pid, pid, state="closed", layer="link"))
        with contextlib.suppress(Exception):
            await link.peer.close()

    # ------------------------------------------------------------------ manual signalling
    async def create_offer(self, pid: str) -> dict[str, Any]:
        """Step 1 by hand: start a link to ``pid`` and return our offer (SDP with candidates)."""
        if pid in self.links:
            raise WebRTCError(f"a link with {pid} already exists")
        if not self._room_for(pid):
            raise WebRTCError(f"max_connections={self.options.max_connections} reached")
        link = self._new_link(pid, "offerer", None)
        offer = await link.peer.create_offer()
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
        except (WebRTCError, ValueError):
            await self.drop(pid, "bad offer")
            raise
        link.remote_set = True
        answer = await link.peer.create_answer()
        self._signal(pid, "answer", "out", answer)
        return answer

    async def accept_answer(self, pid: str, answer: dict[str, Any]) -> None:
        """Step 3 by hand: apply ``pid``'s answer to the offer we made."""
        self._signal(pid, "answer", "in", answer)
        link = self.links.get(pid)
        if link is None or link.role != "offerer":
            raise WebRTCError(f"answer from {pid} but we made it no offer")
        await link.peer.set_remote_description(answer)
        link.remote_set = True

    async def add_candidate(self, pid: str, candidate: dict[str, Any]) -> None:
        """Step 4 by hand: add one of ``pid``'s ICE candidates (JS field names)."""
        link = self.links.get(pid)
        if link is None:
            raise WebRTCError(f"candidate for unknown peer {pid}")
        self._signal(pid, "candidate", "in", candidate)
        await link.peer.add_ice_candidate(candidate)

    async def wait_open(self, pid: str, timeout: float = 10.0) -> None:
        """Wait until the link with ``pid`` carries DAM (bounded)."""
        link = self.links.get(pid)
        if link is not None and link.open:
            return
        event = self._open_events.setdefault(pid, asyncio.Event())
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            raise WebRTCError(f"link with {pid} did not open within {timeout} s") from None
