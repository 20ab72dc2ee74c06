"""``Gun``, the root: its lifecycle (start, close), the dispatch of what the mesh hands it,
and the low-level API the chain builds on (``watch``, ``put_graph``, ``fetch``, ``ask``).

What it does with each message is told in ``gunrtc_kit.root``; the work is done by the
collaborators it composes (one concern each, see there), so this class stays the map."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from gunrtc_kit import root, trace
from gunrtc_kit.chain import Chain, PutResult
from gunrtc_kit.core.dup import Dup
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.core.state import MachineClock
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, InvalidDataError, LimitError, StoreError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.root.answer import Answers, answer_get
from gunrtc_kit.root.axe import Subscriptions
from gunrtc_kit.root.cache import cached_graph
from gunrtc_kit.root.commit import GroupCommit
from gunrtc_kit.root.deferred import DeferredQueue
from gunrtc_kit.root.merge import after_merge, merge_heard
from gunrtc_kit.root.replies import Replies, _Ask, _PutWait
from gunrtc_kit.root.scheduler import Scheduler
from gunrtc_kit.root.sea_gate import SeaGate, sea_guarded
from gunrtc_kit.transport.websocket import WebSocketClient

T = TypeVar("T")

if TYPE_CHECKING:
    import collections

    from gunrtc_kit.core.graph import Deferred
    from gunrtc_kit.root import AskFn, Message, WatchFn
    from gunrtc_kit.sea.keys import PairLike
    from gunrtc_kit.store import SQLiteStore
    from gunrtc_kit.user import User, UserChain
    from gunrtc_kit.webrtc.manager import WebRTCManager
    from gunrtc_kit.webrtc.options import WebRTCOptions


class Gun:
    """A Gun peer: ``await Gun(peers=[url]).start()``, then ``gun.get(...)`` chains."""

    # the attributes live in slots, not in a dict per peer: a mesh of 10,000 in-memory peers
    # held 1.5 KiB of instance dict each. ``__dict__`` stays, for whoever adds an attribute
    # (made only then), and ``__weakref__`` for weak references to a peer.
    __slots__ = (
        "_answers",
        "_axe",
        "_clients",
        "_commit",
        "_heard_puts",
        "_held",
        "_housekeeper",
        "_replies",
        "_sched",
        "_sea",
        "_user",
        "_waiting",
        "_wall_ms",
        "_watch",
        "ack_timeout",
        "acks",
        "bus",
        "closed",
        "dup",
        "graph",
        "machine",
        "max_nodes",
        "mesh",
        "peer_urls",
        "rtc",
        "rtc_options",
        "sea_pair",
        "started",
        "store",
        "super_peer",
        "__dict__",
        "__weakref__",
    )

    def __init__(
        self,
        peers: Iterable[str] = (),
        *,
        rtc: WebRTCOptions | None = None,
        pid: str | None = None,
        bus: trace.TraceBus | None = None,
        store: SQLiteStore | None = None,
        acks: bool = False,
        super_peer: bool = False,
        clock: Callable[[], float] = time.time,
        ack_timeout: float = root.ACK_TIMEOUT,
        max_frame: int | None = None,
        max_nodes: int | None = None,
        rng: random.Random | None = None,
        cache_bytes: int | None = None,
    ) -> None:
        if isinstance(peers, str):
            peers = [peers]
        if ack_timeout <= 0:
            raise GunError(f"ack_timeout={ack_timeout!r}, expected seconds > 0")
        self.peer_urls = list(peers)
        self.bus = bus or trace.TraceBus()
        self._wall_ms: Callable[[], float] = lambda: clock() * 1000.0
        self.machine = MachineClock(self._wall_ms)
        self.dup = Dup(self._wall_ms)
        # with a store, memory is a cache of it (``cache_bytes``, read on demand): nothing is
        # read here, so a relay starts in the same time whatever it holds (``root.cache``)
        self.graph = cached_graph(store, cache_bytes)
        self.store = store
        self.acks = acks or store is not None
        self.super_peer = super_peer
        self.ack_timeout = ack_timeout
        self._sched = Scheduler(self._error)
        self.mesh = Mesh(
            pid,
            clock_ms=self._wall_ms,
            bus=self.bus,
            dup=self.dup,
            on_message=_store_errors_told(self, self._on_message),
            call_soon=self._sched.call_soon,
            rng=rng,
            **({"max_frame": max_frame} if max_frame is not None else {}),
        )
        self.mesh.on_hi.append(self._on_hi)
        self.mesh.on_bye.append(self._on_bye)
        self.rtc_options = rtc
        self.rtc: WebRTCManager | None = None
        self._watch: dict[str, list[WatchFn]] = {}
        self._heard_puts: dict[str, list[WatchFn]] = {}
        self._clients: list[WebSocketClient] = []
        self._replies = Replies(self, self._sched)  # reply listeners, puts' ack timeouts
        self._commit = GroupCommit(self)  # store writes, committed (and acked) per turn
        self._held = DeferredQueue(self)  # keys waiting for their future state
        self._axe = Subscriptions(self)  # a relay's subscriptions (AXE)
        self._sea = SeaGate(self)
        self._answers = Answers(self)  # GETs answered in turns, per connection
        self._waiting: set[asyncio.Future[Any]] = set()  # failed with "closed" by close()
        self._housekeeper: asyncio.Task[None] | None = None
        self.max_nodes = (
            max_nodes if max_nodes is not None else (None if super_peer else root.MAX_NODES)
        )
        self.started = False
        self.closed = False
        # the logged-in user's keys (gun.user()): local puts into its space are signed
        self.sea_pair: PairLike | None = None
        self._user: User | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> str:
        """This peer's id on the mesh."""
        return self.mesh.pid

    async def start(self) -> Gun:
        """Dial the peers (reconnecting forever) and start WebRTC if asked. Returns self."""
        if self.closed:
            raise GunError(f"peer {self.pid} is {root.CLOSED}; make a new Gun")
        if self.started:
            return self
        loop = self._sched.bind()
        self.started = True
        self._housekeeper = loop.create_task(self._housekeep(), name="gun-housekeeping")
        for url in self.peer_urls:
            self.connect(url)
        if self.rtc_options is not None and self.rtc_options.enabled:
            await self.start_rtc(self.rtc_options)
        return self

    async def start_rtc(self, options: WebRTCOptions) -> None:
        """Start WebRTC now (joining ``options.room``); ``start`` does it for a root made with
        ``rtc=``, a root joined by memory wires later starts it once they are (its room
        announcement and subscription then have somewhere to go)."""
        if self.rtc is not None:
            raise GunError(f"peer {self.pid} has WebRTC already")
        from gunrtc_kit.webrtc.manager import WebRTCManager

        self.rtc_options = options
        self.rtc = WebRTCManager(self, options)
        await self.rtc.start()

    def connect(self, url: str) -> WebSocketClient:
        """Dial one more peer (``ws://host:port/gun``)."""
        client = WebSocketClient(self.mesh, url)
        client.start()
        self._clients.append(client)
        return client

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Wait until every dialled peer is open (bounded)."""
        try:
            async with asyncio.timeout(timeout):
                for c in self._clients:
                    await c.connected.wait()
        except TimeoutError:
            raise GunTimeoutError(
                f"not connected to {[c.url for c in self._clients if not c.connected.is_set()]}"
                f" within {timeout} s"
            ) from None

    async def close(self) -> None:
        """Hang up everything this peer opened; leaves no task or socket behind.

        Every operation still waiting (an awaited ``put()``, a read) fails at once with
        ``GunError("closed")`` rather than hanging; writes made this turn are committed and
        acked first. Cancelling the caller of ``close`` cancels the close (it is not
        swallowed); the tasks it cancels itself are awaited, and their errors traced."""
        self.closed = True
        self._commit.flush()
        if self.rtc is not None:
            await self.rtc.close()
        for c in self._clients:
            await c.close()
        self._clients.clear()
        for peer in list(self.mesh.peers.values()):
            self.mesh.disconnect(peer)
        self._sched.cancel_timers()
        self._replies.close()
        self._held.close()
        tasks = self._sched.cancel_tasks()
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            tasks.append(self._housekeeper)
        if tasks:
            await asyncio.wait(tasks)  # raises CancelledError only if *we* are cancelled
        self._housekeeper = None
        self._replies.listeners.clear()
        for fut in list(self._waiting):
            if not fut.done():
                fut.set_exception(
                    GunError(f"{root.CLOSED}: peer {self.pid} was closed while waiting")
                )
        self._waiting.clear()
        self.started = False

    async def __aenter__(self) -> Gun:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def read_now(self, fn: Callable[[], T], default: T, wait: float = 1.0) -> T:
        """``fn()`` run where this root's loop runs (the graph's one writer), for reads from
        another thread such as a notebook's repr; ``default`` if the loop does not get to it
        within ``wait`` seconds."""
        return self._sched.read(fn, default, wait)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a task this root owns (cancelled by ``close``); its failure becomes a trace
        error, never a lost 'exception was never retrieved'."""
        return self._sched.spawn(coro, name)

    async def _housekeep(self) -> None:
        """Dedup expiry and reply-listener expiry: Gun's timers, run from one owned task that
        sleeps until the next deadline (not a poll): the dedup sweep's time, or the soonest
        listener expiry, or, with neither, one dedup age (a new entry's sweep is never sooner).
        """
        loop = self._sched.loop
        replies = self._replies
        while True:
            now_ms = self._wall_ms()
            due = self.mesh.next_deadline()
            wait = (due - now_ms) / 1000.0 if due is not None else self.dup.age / 1000.0
            expiry = replies.next_expiry()
            if expiry is not None:
                wait = min(wait, expiry - loop.time())
            await asyncio.sleep(max(wait, 0.05))
            self.mesh.expire()
            replies.expire(loop.time())

    def _error(self, text: str, peer: str = "", msg_id: str = "") -> None:
        self.bus.emit(trace.Error(self.bus.now(), self.pid, peer, error=text, msg_id=msg_id))

    def _dropped(self, peer: MeshPeer, msg: Message, cause: trace.DropCause, reason: str) -> None:
        self.bus.emit(
            trace.Dropped(
                self.bus.now(),
                self.pid,
                peer.id,
                msg_id=str(msg.get("#", "")),
                reason=reason,
                cause=cause,
                transport=peer.transport,
            )
        )

    # -------------------------------------------- what the lab and tests read (collaborators')
    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self._sched.bound

    @property
    def _timers(self) -> dict[asyncio.TimerHandle, None]:
        return self._sched.timers

    @property
    def _tasks(self) -> dict[asyncio.Task[Any], None]:
        return self._sched.tasks

    @property
    def _asks(self) -> dict[str, _Ask]:
        return self._replies.listeners

    @property
    def _timeouts(self) -> collections.deque[tuple[float, _PutWait]] | None:
        return self._replies.timeouts

    @property
    def _timeout_timer(self) -> asyncio.TimerHandle | None:
        return self._replies.timeout_timer

    @property
    def _deferred(self) -> list[tuple[float, int, Deferred, Message]]:
        return self._held.heap

    @property
    def _deferred_timer(self) -> asyncio.TimerHandle | None:
        return self._held.timer

    # ------------------------------------------------------------------ reply listeners
    def ask(self, fn: AskFn, msg_id: str | None = None, life: float = root.ASK_LIFE) -> str:
        """Listen for replies (``@ == id``); each reply extends the listener's life."""
        return self._replies.ask(fn, msg_id, life)

    def unask(self, msg_id: str, fn: AskFn | None = None) -> None:
        """Stop listening on ``msg_id`` (only if ``fn`` is still its listener, when given)."""
        self._replies.unask(msg_id, fn)

    # ------------------------------------------------------------------ incoming
    def _on_message(self, msg: Message, peer: MeshPeer) -> None:
        ack = msg.get("@")
        put = msg.get("put")
        listener = self._replies.listeners.get(ack) if isinstance(ack, str) else None
        if put is not None:
            if isinstance(ack, str) and not self._replies.solicited(ack, listener, peer, msg):
                return
            if sea_guarded(put):
                from gunrtc_kit.sea.certify import expiry_clock  # SEA loads only when needed

                # a put request is a new write: a certificate must be valid now, not only at
                # the state the writer chose (replies bring back what was written before)
                with expiry_clock(None if isinstance(ack, str) else self._wall_ms()):
                    checked = self._sea.heard(msg, peer)
                if checked is None:
                    return
                msg = checked
            if not merge_heard(self, msg, peer):
                return
        self._after_heard(msg, peer, ack, listener)

    def _after_heard(self, msg: Message, peer: MeshPeer, ack: Any, listener: _Ask | None) -> None:
        """What follows the merge of a message heard: a reply goes to its listener or back
        toward the asker; a get is answered; the rest is relayed or routed."""
        put = msg.get("put")
        if isinstance(ack, str):
            if listener is not None:
                self._replies.deliver(msg, peer, ack, listener)
            else:
                self.mesh.say(msg)  # route it back toward the asker
            return
        get = msg.get("get")
        if get is not None:
            if self.super_peer:
                self._axe.subscribe(peer, get)
            answer_get(self, msg, peer)
        if not self.super_peer:
            self.mesh.say(msg)  # relay requests, as a Gun peer without AXE does
        elif put is not None and self.store is not None:
            self._commit.forward(msg, peer)  # relayed once it is on disk
        else:
            self._axe.route(msg, peer)

    def _on_hi(self, peer: MeshPeer) -> None:
        """A new peer: re-ask for what we watch, so an AXE relay sends us updates (gun.js); a
        relay re-asks a relay it dialled for what its clients follow (``Subscriptions.reask``)."""
        if self.super_peer:
            if peer.url:
                self._axe.reask(peer)
            return
        for soul in list(self._watch):
            self.mesh.say({"get": {"#": soul}}, peer)

    def _on_bye(self, peer: MeshPeer) -> None:
        self._axe.unsubscribe_all(peer)
        self._answers.forget(peer)  # its queued answers and SEA checks are dropped
        self._sea.forget(peer)

    # ------------------------------------------------------------------ low-level API
    def watch(self, soul: str, fn: WatchFn, *, subscribe: bool = True) -> Callable[[], None]:
        """Call ``fn(soul, changed_node, msg)`` whenever ``soul`` changes; asks peers for it."""
        first = soul not in self._watch
        unwatch = _register(self._watch, soul, fn)
        if first and subscribe and self.started:
            self.mesh.say({"get": {"#": soul}})
        return unwatch

    def clock_moved(self) -> None:
        """The wall clock jumped ahead (``LabClock.advance``): held-back keys now due are
        merged at once, not at the next timer. On the loop's thread."""
        if not self.closed:
            self._held._arm()

    def follow_for(self, pid: str, soul: str) -> bool:
        """A relay follows ``soul`` for ``pid`` as if it had asked (a Lab's fork restores a
        relay's subscriptions so); False if not a relay or no wire to ``pid``."""
        peer = self.mesh.peer_by_pid(pid)
        if not self.super_peer or peer is None:
            return False
        self._axe.subscribe(peer, {"#": soul})
        return True

    def on_heard_put(self, soul: str, fn: WatchFn) -> Callable[[], None]:
        """Call ``fn(soul, node_as_sent, msg)`` for every put of ``soul`` heard from a peer,
        whether or not HAM took it (a change listener misses a value that arrives after a
        newer one; WebRTC room announcements must not be missed)."""
        return _register(self._heard_puts, soul, fn)

    def put_graph(
        self,
        graph: dict[str, dict[str, Any]],
        *,
        budget: int | None = 9,
        msg_id: str | None = None,
        on_reply: AskFn | None = None,
        reply_life: float | None = None,
    ) -> PutResult:
        """Apply a graph locally, send it to every peer, and return the awaitable first ack.

        ``on_reply`` is called for every reply to the put (the first one, which settles the
        result, and all later ones) while replies keep coming within ``reply_life`` seconds of
        each other: the WebRTC announcement takes its offers this way, with no gap between the
        put's own listener and its own."""
        future: asyncio.Future[Message] = self._sched.loop.create_future()
        mid = msg_id or random_id(9, self.mesh.rng)
        msg: Message = {"#": mid, "put": graph}
        if budget is not None:
            msg["ok"] = {"@": budget + 1}
        if self.closed:
            refused = GunError(f"{root.CLOSED}: peer {self.pid} was closed; put refused")
            future.set_exception(refused)
            return PutResult(future, mid, next(iter(graph), ""))
        if sea_guarded(graph):
            graph, sea_refused = self._sea.local(graph)
            if sea_refused is not None:  # Gun's text, as the err a peer would ack it with
                future.set_exception(sea_refused)
                return PutResult(future, mid, next(iter(graph), ""))
            msg["put"] = graph
        undo = self._commit.undo_record(graph) if self.store is not None else None
        result = self.graph.merge(graph, self.machine())
        if result.error is not None:
            future.set_exception(InvalidDataError(result.error))
            return PutResult(future, mid, next(iter(graph), ""))
        self.dup.track(mid)
        if not after_merge(self, result.diff, result.deferred, msg, mid, undo):
            future.set_exception(StoreError(f"put {mid}: the store could not keep it"))
            return PutResult(future, mid, next(iter(graph), ""))
        if result.deferred:
            self._held.defer(result.deferred, msg)
        self._waiting.add(future)
        future.add_done_callback(self._waiting.discard)
        wait = _PutWait(self, future, mid, on_reply)
        self._replies.wait_ack(wait, max(self.ack_timeout, reply_life or 0.0))
        try:
            self.mesh.say(msg)
        except LimitError as exc:
            self._replies.unask(mid, wait)
            if not future.done():
                future.set_exception(exc)
        return PutResult(future, mid, next(iter(graph), ""))

    async def fetch(self, get: dict[str, Any], timeout: float = 5.0) -> bool:
        """Ask the peers for ``get`` and merge what comes back. True if any data came."""
        if self.closed:
            raise GunError(f"{root.CLOSED}: peer {self.pid} was closed; nothing to read from")
        if not self.mesh.peers:
            return False
        loop = self._sched.loop
        done: asyncio.Future[bool] = loop.create_future()
        self._waiting.add(done)
        done.add_done_callback(self._waiting.discard)
        state = {"data": False}

        def on_reply(reply: Message) -> None:
            if "put" in reply:
                state["data"] = True
                if "%" in reply:
                    return  # more chunks follow
                if not done.done():
                    done.set_result(True)
            elif not done.done():
                # "not found" from one source; give others a moment (gun's once waits ~99 ms)
                self._sched.later(0.1, settle)

        def settle() -> None:
            if not done.done():
                done.set_result(state["data"])

        mid = self.ask(on_reply)
        self.mesh.say({"#": mid, "get": dict(get)})
        deadline = loop.time() + timeout
        try:
            got = await asyncio.wait_for(done, timeout)
        except TimeoutError:
            return state["data"]
        finally:
            self.unask(mid)
        soul = get.get("#")
        if got and isinstance(soul, str):
            await self._held.settle(soul, deadline)
        return got

    # ------------------------------------------------------------------ SEA (gunrtc_kit.sea)
    @overload
    def user(self) -> User:
        """This peer's one user session (typed apart so a caller needs no narrowing)."""

    @overload
    def user(self, pub: str) -> UserChain:
        """The space ``~<pub>`` of any user."""

    def user(self, pub: str | None = None) -> User | UserChain:
        """``gun.user()``: this peer's one user session (create, auth, leave, its space);
        ``gun.user(pub)``: the space ``~<pub>`` of any user, values unpacked on read (Gun.js
        ``Gun.chain.user``, sea.js 822-840). See ``gunrtc_kit.user``."""
        from gunrtc_kit.user import User, UserChain

        if pub is not None:
            return UserChain.space(self, pub)
        if self._user is None:
            self._user = User(self)
        return self._user

    # ------------------------------------------------------------------ chain API
    def get(self, key: str) -> Chain:
        """``gun.get(key)``: the chain at the root soul ``key`` (``gunrtc_kit.chain``)."""
        if not isinstance(key, str) or not key:
            raise GunError(f"get(key={key!r}): expected a non-empty string")
        return Chain(self, (key,))


def _store_errors_told(
    gun: Gun, hear: Callable[[Message, MeshPeer], None]
) -> Callable[[Message, MeshPeer], None]:
    """``hear``, where a store that cannot be read (a damaged page met by a read on demand)
    is traced and its asker told, as for any request we cannot serve."""

    def guarded(msg: Message, peer: MeshPeer) -> None:
        try:
            hear(msg, peer)
        except StoreError as exc:
            mid = str(msg.get("#", ""))
            gun._error(str(exc), peer.id, mid)
            if "@" not in msg:
                gun.mesh.say({"@": mid, "err": f"Error: {exc}"}, peer)

    return guarded


def _register(registry: dict[str, list[WatchFn]], soul: str, fn: WatchFn) -> Callable[[], None]:
    """Add ``fn`` under ``soul``; returns the function that takes it out again."""
    registry.setdefault(soul, []).append(fn)

    def remove() -> None:
        fns = registry.get(soul)
        if fns and fn in fns:
            fns.remove(fn)
            if not fns:
                del registry[soul]

    return remove
