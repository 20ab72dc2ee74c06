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
  (``max_connections``, each pending one dropped after ``pending_timeout``, an offer of ours
  with no answer after ``UNANSWERED_LIFE``), pending links whose signalling came through one
  mesh peer, e.g. a flooded relay (``max_pending_per_source``, the oldest making room).
  Reaching a bound drops the oldest entry or the new input, with a ``trace.Dropped`` event;
  it never waits.
- Sending is bounded by the data channel's ``bufferedAmount`` (see ``WebRTCPeer.send``): past
  its high-water mark the wire reports ``NetworkError`` so the mesh keeps the frame in its own
  bounded per-peer queue, which this manager drains when aiortc says the buffer went low.
- Every task is started through ``Gun.spawn`` (so the root owns it too) and kept in this
  manager's own set; ``close`` cancels the signalling tasks, waits for them, then closes every
  link and waits for those closes. Cancellation from outside is never swallowed.

Who does what (each in its own module, composed by ``WebRTCManager``): ``Discovery``
(``discovery``) announces us in the room and remembers who announced; ``Negotiation``
(``negotiation``) handles offers, answers and bare ids; ``Candidates`` (``candidates``) takes
and sends ICE candidates; ``HeldCandidates`` (``held``) keeps early candidates within bounds;
``Links`` (``links``) is the link table with its glare rules and lifecycle; ``Link`` and
``DcWire`` are in ``link``. The manager keeps the lifecycle (start, close, the sweep timer,
owned tasks) and the user API. The constants below are read by those parts at run time, so a
test or a Lab that changes one here changes it for all.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar, cast, overload

from gunrtc_kit import trace
from gunrtc_kit.core import opts
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, NetworkError, WebRTCError
from gunrtc_kit.webrtc import (
    candidates,
    discovery,
    held,
    limits,
    links,
    manual,
    negotiation,
    noav,
    sampler,
)
from gunrtc_kit.webrtc.limits import (
    ANNOUNCE_LIFE as ANNOUNCE_LIFE,
)
from gunrtc_kit.webrtc.limits import (
    ANNOUNCED_MAX as ANNOUNCED_MAX,
)
from gunrtc_kit.webrtc.limits import (
    HELD_BYTES_MAX as HELD_BYTES_MAX,
)
from gunrtc_kit.webrtc.limits import (
    HELD_CANDIDATES_LIFE as HELD_CANDIDATES_LIFE,
)
from gunrtc_kit.webrtc.limits import (
    HELD_CANDIDATES_MAX as HELD_CANDIDATES_MAX,
)
from gunrtc_kit.webrtc.limits import (
    HELD_PIDS_MAX as HELD_PIDS_MAX,
)
from gunrtc_kit.webrtc.limits import (
    LINK_CANDIDATES_MAX as LINK_CANDIDATES_MAX,
)
from gunrtc_kit.webrtc.limits import (
    MAX_CANDIDATE_CHARS as MAX_CANDIDATE_CHARS,
)
from gunrtc_kit.webrtc.limits import (
    PENDING_PER_SOURCE as PENDING_PER_SOURCE,
)
from gunrtc_kit.webrtc.limits import (  # the names this module always had
    PENDING_TIMEOUT as PENDING_TIMEOUT,
)
from gunrtc_kit.webrtc.limits import (
    ROUTE_LIFE as ROUTE_LIFE,
)
from gunrtc_kit.webrtc.limits import (
    SWEEP_EVERY as SWEEP_EVERY,
)
from gunrtc_kit.webrtc.link import DcWire, Link
from gunrtc_kit.webrtc.options import WebRTCOptions
from gunrtc_kit.webrtc.peer import SEND_HIGH_WATER, SEND_LOW_WATER

# read from here by Links at run time, so a test can put a stand-in in its place
from gunrtc_kit.webrtc.peer import WebRTCPeer as WebRTCPeer

__all__ = ["DcWire", "Link", "Root", "WebRTCManager"]

log = logging.getLogger(__name__)

Message = dict[str, Any]
T = TypeVar("T")


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


class _Kept(Generic[T]):
    """A manager attribute that one of its parts keeps now: reading and setting it on the
    manager reads and sets the part's, so code written before the split still works."""

    def __init__(self, part: str, name: str) -> None:
        self.part = part
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: Any = None) -> _Kept[T]: ...

    @overload
    def __get__(self, obj: object, objtype: Any = None) -> T: ...

    def __get__(self, obj: object | None, objtype: Any = None) -> T | _Kept[T]:
        if obj is None:
            return self  # read on the class: the descriptor itself, as with ``property``
        return cast(T, getattr(getattr(obj, self.part), self.name))

    def __set__(self, obj: Any, value: T) -> None:
        setattr(getattr(obj, self.part), self.name, value)


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
        self.send_high_water = SEND_HIGH_WATER
        self.send_low_water = SEND_LOW_WATER
        self.table = links.Links(self)
        self.discovery = discovery.Discovery(self)
        self.held = held.HeldCandidates(self)
        self.candidates = candidates.Candidates(self)
        self.negotiation = negotiation.Negotiation(self)
        self.manual = manual.ManualSignalling(self)
        self.sampler = sampler.LinkSampler(self)  # trace.LinkStats of every link
        self._sweeper: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # signalling work, cancelled by close
        self._closing: set[asyncio.Task[Any]] = set()  # connection closes, awaited by close
        self._closed = False

    # ------------------------------------------------------------------ basics
    @property
    def pid(self) -> str:
        """Our pid (the root's)."""
        return self.gun.pid

    @property
    def soul(self) -> str | None:
        """The room's soul, ``/RTC/<room><?99``, or None without a room."""
        room = self.options.room
        return None if room is None else f"{opts.RTC_ROOM_PREFIX}{room}<?99"

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

    def source_of(self, msg: Message, via: MeshPeer | None = None) -> MeshPeer | None:
        """The mesh peer a signalling message came through (``via`` when the mesh handed it to
        us directly, else the one its dedup entry remembers); None for one made here. Pending
        links are capped per source (``Links.room_for``)."""
        if via is not None:
            return via
        mid = msg.get("#")
        entry = self.gun.mesh.dup.get(mid) if isinstance(mid, str) else None
        peer = entry.via if entry is not None else None
        return peer if isinstance(peer, MeshPeer) else None

    def make_peer(self, *args: Any, **kwargs: Any) -> WebRTCPeer:
        """A new ``WebRTCPeer`` (the class this module names, looked up when called: a test
        may put a stand-in in its place)."""
        return WebRTCPeer(*args, **kwargs)

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

    # ------------------------------------------------------------------ state the parts keep
    # attributes of the manager before the split, kept by its parts now; tests and the Lab
    # read them and lower the bounds
    refused = _Kept[int]("table", "refused")  # links refused at max_connections
    start_state = _Kept[float]("discovery", "start_state")  # older announcements: no offer
    announce_id = _Kept[str | None]("discovery", "announce_id")  # our announcement's put
    max_announced = _Kept[int]("discovery", "max_announced")
    max_held_pids = _Kept[int]("held", "max_pids")
    max_held_candidates = _Kept[int]("held", "max_candidates")
    max_held_bytes = _Kept[int]("held", "max_bytes")
    max_link_candidates = _Kept[int]("candidates", "max_per_link")
    max_pending_per_source = _Kept[int]("table", "max_pending_per_source")

    @property
    def links(self) -> dict[str, Link]:
        """The link (pending or open) for each pid: at most one."""
        return self.table.by_pid

    @property
    def _announced(self) -> OrderedDict[str, tuple[str, float]]:
        return self.discovery.announced

    @property
    def _held(self) -> OrderedDict[str, list[tuple[float, dict[str, Any], int]]]:
        return self.held.by_pid

    @property
    def _held_bytes(self) -> int:
        return self.held.bytes

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Register the ``rtc`` dam handler and, with a room, announce and watch it."""
        # import aiortc now (~150 ms the first time), not when the first offer is due; PyAV,
        # which it imports for media we never send, only when something uses it (see noav)
        noav.load_aiortc()

        self.gun.mesh.handlers["rtc"] = self._hear_dam
        if self.soul is not None:
            await self.discovery.start(self.soul)

    def announce(self) -> str:
        """Put our pid into the room (again); offers arrive as replies to this put (see
        ``Discovery.announce``)."""
        return self.discovery.announce()

    async def close(self) -> None:
        """Stop listening, cancel signalling in flight, close every link and wait for it."""
        self._closed = True
        self.discovery.close()
        if self.gun.mesh.handlers.get("rtc") == self._hear_dam:
            del self.gun.mesh.handlers["rtc"]
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self.sampler.close()
        self.held.clear()
        me = asyncio.current_task()
        work = [t for t in self._tasks if t is not me]
        for t in work:
            t.cancel()
        if work:
            # results are our own tasks' (their CancelledError is ours); if close() itself is
            # cancelled, gather raises CancelledError here and it propagates
            await asyncio.gather(*work, return_exceptions=True)
        for link in list(self.links.values()):
            self.table.drop_soon(link, "manager closed")
        closing = [t for t in self._closing if t is not me]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        self.table.fail_waiters()

    def _schedule_sweep(self) -> None:
        """Arm the sweep while announcements or held candidates are kept (never when idle)."""
        if self._sweeper is None and not self._closed and (self._announced or self._held):
            self._sweeper = asyncio.get_running_loop().call_later(limits.SWEEP_EVERY, self._sweep)

    def _sweep(self) -> None:
        """Forget announcements older than a relay's route and held candidates past their
        life, even when nothing new arrives (so memory goes back down after a flood)."""
        self._sweeper = None
        now = self._loop_time()
        self.discovery.expire(now)
        self.held.expire(now)
        self._schedule_sweep()

    # ------------------------------------------------------------------ signalling in
    def _on_room(self, soul: str, node: dict[str, Any], msg: Message) -> None:
        self.discovery.on_room(soul, node, msg)

    def _on_reply(self, msg: Message) -> None:
        """A reply to our announcement or to one of our offers: answers, offers, candidates."""
        ok = msg.get("ok")
        if not isinstance(ok, dict) or not isinstance(ok.get("rtc"), dict):
            return  # a storage ack of the announcement
        self.handle_rtc_message(msg)

    def _hear_dam(self, msg: Message, peer: MeshPeer) -> None:
        self.handle_rtc_message(msg, peer)

    def handle_rtc_message(self, msg: Message, via: MeshPeer | None = None) -> None:
        """Act on one ``ok.rtc`` message (offer, answer, candidate, or a bare id). Never raises:
        bad input becomes a trace error and existing links are untouched. What happens to
        ``links`` is decided here, synchronously, in arrival order."""
        self.negotiation.handle(msg, via)

    def _start_offer(self, pid: str, reply_to: str | None, via: MeshPeer | None = None) -> None:
        """An offer we start ourselves (no source to cap it against: ``links.py``)."""
        self.negotiation.start_offer(pid, reply_to, via)

    # ------------------------------------------------------------------ user API
    def initiate_connection(self, pid: str) -> None:
        """Offer a link to ``pid``: as a reply to its announcement (if heard in the last 9 s,
        while relays still hold the route), else with ``dam: 'rtc'`` over a direct mesh peer."""
        if pid == self.pid:
            raise WebRTCError("initiate_connection: that is our own pid")
        if pid in self.links:
            return
        heard = self.discovery.route(pid)
        if heard is not None:
            self._start_offer(pid, heard)  # asked for here: not counted against a source
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
        if link is None or not self.table.detach(link, why):
            return
        task = self.table.close_later(link)
        if task is not None:
            # wait() rather than await: if our caller is cancelled, the close still completes
            # (close() waits for it), so no connection is left half closed and unreferenced
            await asyncio.wait([task])

    def _drop_soon(self, link: Link, why: str) -> None:
        """Drop ``link`` now (from a callback) and close its connection in an owned task."""
        self.table.drop_soon(link, why)

    # ------------------------------------------------------------------ manual signalling
    async def create_offer(self, pid: str) -> dict[str, Any]:
        """Step 1 by hand: start a link to ``pid`` and return our offer (SDP with candidates)."""
        return await self.manual.create_offer(pid)

    async def accept_offer(self, pid: str, offer: dict[str, Any]) -> dict[str, Any]:
        """Step 2 by hand: take ``pid``'s offer and return our answer."""
        return await self.manual.accept_offer(pid, offer)

    async def accept_answer(self, pid: str, answer: dict[str, Any]) -> None:
        """Step 3 by hand: apply ``pid``'s answer to the offer we made."""
        await self.manual.accept_answer(pid, answer)

    async def add_candidate(self, pid: str, candidate: dict[str, Any]) -> None:
        """Step 4 by hand: add one of ``pid``'s ICE candidates (JS field names)."""
        await self.manual.add_candidate(pid, candidate)

    async def wait_open(self, pid: str, timeout: float = 10.0) -> None:
        """Wait until the link with ``pid`` carries DAM (bounded; the wait leaves nothing
        behind when it times out)."""
        await self.table.wait_open(pid, timeout)
