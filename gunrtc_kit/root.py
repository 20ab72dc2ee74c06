"""The ``Gun`` root: graph + mesh + wires (+ WebRTC), the low-level API the chain builds on.

What the root does with a message the mesh hands it (matched to gun.js's root ``universe``):
a ``put`` is merged through HAM (request or reply alike); a reply (``@``) goes to whoever here
asked for it, else is routed back toward the asker; a ``get`` is answered from the graph in
Gun's chunks of 9 keys; requests are then relayed: by a plain peer to every other peer (Gun
without AXE), by a relay (``super_peer``) only to the peers subscribed to the souls in question
and to relays it dialled (AXE, see ``_route``). Invalid puts are not
relayed; the sender gets ``{'@': id, 'err': "Error: Invalid graph! ..."}`` (gun.js sends nothing
back, which leaves writers waiting for a timeout; an ``err`` ack is what Gun's own callbacks
understand, so it is compatible).

Acks: a root built with ``store`` (the relay) acks every put that wrote at least one key, after
the write is committed; puts whose keys all lose HAM get no ack, as gun.js's storage does.
Plain peers hold a memory graph only and, like a memory-only Gun.js peer, do not ack.

Bounds (each reached limit is a trace event and, where there is a sender, an ``err`` to it):
``MAX_DEFERRED`` keys waiting for a future state (one queue, one timer), ``max_nodes`` souls a
plain peer takes from remote puts, ``MAX_REPLY_CHUNKS`` messages of one reply stream,
``MAX_GET_SOULS`` souls per lex GET (answered ``GET_SLICE`` replies per loop turn),
``MAX_SUBS_PER_PEER`` subscriptions per connection on a relay, ``MAX_SEA_KEYS`` signed keys
one put may ask us to verify (checked ``SEA_SLICE`` per loop turn, ``MAX_SEA_PENDING`` such
puts at once).

The chain API (``gun.get(...)``) lives in ``gunrtc_kit.chain``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from gunrtc_kit import trace
from gunrtc_kit.chain import Chain
from gunrtc_kit.core import codec
from gunrtc_kit.core.dup import Dup
from gunrtc_kit.core.graph import Deferred, Graph
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.core.state import MachineClock
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, InvalidDataError, LimitError, StoreError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.transport.websocket import WebSocketClient

if TYPE_CHECKING:
    from gunrtc_kit.errors import SeaError
    from gunrtc_kit.sea.keys import PairLike
    from gunrtc_kit.store import SQLiteStore
    from gunrtc_kit.user import User, UserChain
    from gunrtc_kit.webrtc.manager import WebRTCManager
    from gunrtc_kit.webrtc.options import WebRTCOptions

__all__ = ["Gun", "PutResult"]

log = logging.getLogger(__name__)

Message = dict[str, Any]
AskFn = Callable[[Message], None]
WatchFn = Callable[[str, dict[str, Any], Message], None]

ACK_TIMEOUT = 9.0  # gun.js opt.lack: 9 s without an ack is "No ACK yet."
ASK_LIFE = 9.0  # a reply listener lives 9 s after its last reply (gun ask.js)
MAX_DEFER_MS = 2_147_483_647  # setTimeout's cap, as gun.js defers at most this long
MAX_DEFERRED = 10_000  # keys held for a future state at once; past it such puts get ``err``
MAX_NODES = 50_000  # souls a plain peer takes from remote puts; past it new souls are refused
MAX_REPLY_CHUNKS = 20_000  # ``%`` chunks one read follows before it stops listening
MAX_GET_SOULS = 10_000  # souls one lex GET is answered with
MAX_SUBS_PER_PEER = 10_000  # souls a relay follows for one connection
SETTLE_MS = 100.0  # a read waits for keys of its soul held back at most this long (ms)
SEA_SLICE = 64  # signed keys verified per loop turn (a bigger put is checked by a task)
MAX_SEA_KEYS = 20_000  # keys of ~/# souls one put may ask us to verify (1.6 s of CPU)
MAX_SEA_PENDING = 64  # big puts being verified at once, across all connections
SEA_TRACED = 10  # refused keys of one put traced one by one (then one event for the rest)
GET_SLICE = 64  # reply messages sent per loop turn while a big GET is answered
CLOSED = "closed"


@dataclass
class _Ask:
    fn: AskFn
    expires: float


_MISSING = object()  # an undo record's "the key was not there"


class PutResult:
    """What ``put``/``set`` return: the write is already applied and sent; await it for the
    first ack (``GunError`` on ``err``, ``gunrtc_kit.errors.TimeoutError`` when none comes)."""

    def __init__(self, future: asyncio.Future[Message], msg_id: str, soul: str) -> None:
        self.future = future
        self.id = msg_id
        self.soul = soul
        # never let an un-awaited put log "exception was never retrieved"
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def __await__(self) -> Generator[Any, None, Message]:
        return self.future.__await__()

    def done(self) -> bool:
        return self.future.done()


class _PutWait:
    """One put waiting for its first ack: it is the put's reply listener (called with each
    reply) and its timeout (``expire``, called by the root's one timeout queue). One small
    object per put in place of two closures and their five cells: a burst of puts keeps every
    one alive for the ack timeout, and the garbage collector walked them all."""

    __slots__ = ("gun", "future", "mid", "on_reply")

    def __init__(
        self, gun: Gun, future: asyncio.Future[Message], mid: str, on_reply: AskFn | None
    ) -> None:
        self.gun = gun
        self.future = future
        self.mid = mid
        self.on_reply = on_reply

    def __call__(self, reply: Message) -> None:
        if self.on_reply is not None:
            self.on_reply(reply)
        future = self.future
        if future.done():
            return
        if self.on_reply is None:
            self.gun.unask(self.mid, self)
        if reply.get("err"):
            future.set_exception(GunError(str(reply["err"])))
        else:
            future.set_result(reply)

    def expire(self) -> None:
        """The ack timeout: fail the put if no ack came."""
        if not self.future.done():
            if self.on_reply is None:
                self.gun.unask(self.mid, self)
            self.future.set_exception(
                GunTimeoutError(f"no ack for put {self.mid} within {self.gun.ack_timeout} s")
            )


class Gun:
    """A Gun peer: ``await Gun(peers=[url]).start()``, then ``gun.get(...)`` chains."""

    # the attributes live in slots, not in a dict per peer: a mesh of 10,000 in-memory peers
    # held 1.5 KiB of instance dict each. ``__dict__`` stays, for whoever adds an attribute
    # (made only then), and ``__weakref__`` for weak references to a peer.
    __slots__ = (
        "_asks",
        "_clients",
        "_commit_scheduled",
        "_deferred",
        "_deferred_acks",
        "_deferred_seq",
        "_deferred_timer",
        "_failed_group",
        "_group_forwards",
        "_heard_puts",
        "_housekeeper",
        "_loop",
        "_peer_subs",
        "_pending_acks",
        "_sea_pending",
        "_subs",
        "_tasks",
        "_timeout_timer",
        "_timeouts",
        "_timers",
        "_uncommitted",
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
        ack_timeout: float = ACK_TIMEOUT,
        max_frame: int | None = None,
        max_nodes: int | None = None,
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
        self.graph = Graph()
        self.store = store
        self.acks = acks or store is not None
        self.super_peer = super_peer
        self.ack_timeout = ack_timeout
        self.mesh = Mesh(
            pid,
            clock_ms=self._wall_ms,
            bus=self.bus,
            dup=self.dup,
            on_message=self._on_message,
            call_soon=self._call_soon,
            **({"max_frame": max_frame} if max_frame is not None else {}),
        )
        self.mesh.on_hi.append(self._on_hi)
        self.mesh.on_bye.append(self._on_bye)
        self.rtc_options = rtc
        self.rtc: WebRTCManager | None = None
        self._asks: dict[str, _Ask] = {}
        self._watch: dict[str, list[WatchFn]] = {}
        self._heard_puts: dict[str, list[WatchFn]] = {}
        self._clients: list[WebSocketClient] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        # every put's ack timeout, oldest first, and the one timer that wakes for the oldest: a
        # timer per put cost 14% of a burst of puts (a heap entry, a handle, a set entry each)
        # (made at the first put: an empty deque is 760 bytes, and a mesh of 10,000 in-memory
        # peers that never put would hold one each)
        self._timeouts: collections.deque[tuple[float, _PutWait]] | None = None
        self._timeout_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_acks: list[Message] = []
        self._deferred_acks: set[str] = set()
        # keys waiting for their future state, soonest first, and the one timer that wakes them
        self._deferred: list[tuple[float, int, Deferred, Message]] = []
        self._deferred_seq = 0
        self._deferred_timer: asyncio.TimerHandle | None = None
        # undo records of the store writes not yet committed: (msg id, [(soul, key, old)])
        self._uncommitted: list[tuple[str, list[tuple[str, str, Any]]]] = []
        self._waiting: set[asyncio.Future[Any]] = set()  # failed with "closed" by close()
        self._commit_scheduled = False
        self._group_forwards: list[tuple[Message, MeshPeer]] = []
        self._failed_group: set[str] = set()
        # AXE-style subscriptions on a relay: soul -> peers that asked, peer -> its souls
        self._subs: dict[str, dict[MeshPeer, None]] = {}
        self._peer_subs: dict[MeshPeer, set[str]] = {}
        self._housekeeper: asyncio.Task[None] | None = None
        self.max_nodes = max_nodes if max_nodes is not None else (None if super_peer else MAX_NODES)
        self.started = False
        self.closed = False
        # the logged-in user's keys (gun.user()): local puts into its space are signed
        self.sea_pair: PairLike | None = None
        self._user: User | None = None
        self._sea_pending = 0  # big signed puts being verified a slice per turn
        if store is not None:
            for soul, node in store.load():
                self.graph.nodes[soul] = node

    # ------------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> str:
        return self.mesh.pid

    async def start(self) -> Gun:
        """Dial the peers (reconnecting forever) and start WebRTC if asked. Returns self."""
        if self.closed:
            raise GunError(f"peer {self.pid} is {CLOSED}; make a new Gun")
        if self.started:
            return self
        self._loop = asyncio.get_running_loop()
        self.started = True
        self._housekeeper = self._loop.create_task(self._housekeep(), name="gun-housekeeping")
        for url in self.peer_urls:
            self.connect(url)
        if self.rtc_options is not None and self.rtc_options.enabled:
            from gunrtc_kit.webrtc.manager import WebRTCManager

            self.rtc = WebRTCManager(self, self.rtc_options)
            await self.rtc.start()
        return self

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
        self._flush_acks()
        if self.rtc is not None:
            await self.rtc.close()
        for c in self._clients:
            await c.close()
        self._clients.clear()
        for peer in list(self.mesh.peers.values()):
            self.mesh.disconnect(peer)
        for h in self._timers:
            h.cancel()
        self._timers.clear()
        if self._timeout_timer is not None:
            self._timeout_timer.cancel()
            self._timeout_timer = None
        self._timeouts = None
        if self._deferred_timer is not None:
            self._deferred_timer.cancel()
            self._deferred_timer = None
        self._deferred.clear()
        tasks = list(self._tasks)
        if self._housekeeper is not None:
            tasks.append(self._housekeeper)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)  # raises CancelledError only if *we* are cancelled
        self._housekeeper = None
        self._asks.clear()
        for fut in list(self._waiting):
            if not fut.done():
                fut.set_exception(GunError(f"{CLOSED}: peer {self.pid} was closed while waiting"))
        self._waiting.clear()
        self.started = False

    async def __aenter__(self) -> Gun:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _call_soon(self, fn: Callable[[], None]) -> None:
        loop = self._loop or asyncio.get_running_loop()
        loop.call_soon(fn)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        loop = self._loop or asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def run() -> None:
            self._timers.discard(handle)
            fn()

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    def _on_ack_timeout(self, wait: _PutWait) -> None:
        """Expire ``wait`` ``ack_timeout`` seconds from now. The deadlines queue in arrival order,
        so one timer serves them all; after ``ack_timeout`` is shortened, a later deadline can
        wait behind an earlier one by up to the old timeout."""
        loop = self._loop or asyncio.get_running_loop()
        when = loop.time() + self.ack_timeout
        if self._timeouts is None:
            self._timeouts = collections.deque()
        self._timeouts.append((when, wait))
        if self._timeout_timer is None:
            self._timeout_timer = loop.call_at(when, self._run_timeouts)

    def _run_timeouts(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        self._timeout_timer = None
        queue = self._timeouts
        if queue is None:
            return
        now = loop.time()
        while queue and queue[0][0] <= now:
            queue.popleft()[1].expire()
        if queue and self._timeout_timer is None and not self.closed:
            self._timeout_timer = loop.call_at(queue[0][0], self._run_timeouts)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a task this root owns (cancelled by ``close``); its failure becomes a trace
        error, never a lost 'exception was never retrieved'."""
        loop = self._loop or asyncio.get_running_loop()
        task: asyncio.Task[Any] = loop.create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self._error(f"{name} failed: {t.exception()!r}")

        task.add_done_callback(done)
        return task

    async def _housekeep(self) -> None:
        """Dedup expiry and reply-listener expiry: Gun's timers, run from one owned task that
        sleeps until the next deadline (not a poll): the dedup sweep's time, or the soonest
        listener expiry, or, with neither, one dedup age (a new entry's sweep is never sooner).
        """
        loop = asyncio.get_running_loop()
        while True:
            now_ms = self._wall_ms()
            due = self.mesh.next_deadline()
            wait = (due - now_ms) / 1000.0 if due is not None else self.dup.age / 1000.0
            if self._asks:
                wait = min(wait, min(a.expires for a in self._asks.values()) - loop.time())
            await asyncio.sleep(max(wait, 0.05))
            self.mesh.expire()
            now = loop.time()
            for key, ask in list(self._asks.items()):
                if ask.expires <= now:
                    self._asks.pop(key, None)

    def _error(self, text: str, peer: str = "", msg_id: str = "") -> None:
        self.bus.emit(trace.Error(self.bus.now(), self.pid, peer, error=text, msg_id=msg_id))

    # ------------------------------------------------------------------ reply listeners
    def ask(self, fn: AskFn, msg_id: str | None = None, life: float = ASK_LIFE) -> str:
        """Listen for replies (``@ == id``); each reply extends the listener's life."""
        msg_id = msg_id or random_id(9)
        now = (self._loop or asyncio.get_running_loop()).time()
        self._asks[msg_id] = _Ask(fn, now + life)
        return msg_id

    def unask(self, msg_id: str, fn: AskFn | None = None) -> None:
        """Stop listening on ``msg_id`` (only if ``fn`` is still its listener, when given)."""
        ask = self._asks.get(msg_id)
        if ask is not None and (fn is None or ask.fn is fn):
            del self._asks[msg_id]

    # ------------------------------------------------------------------ incoming
    def _on_message(self, msg: Message, peer: MeshPeer) -> None:
        ack = msg.get("@")
        put = msg.get("put")
        listener = self._asks.get(ack) if isinstance(ack, str) else None
        if put is not None:
            if isinstance(ack, str) and not self._solicited(ack, listener, peer, msg):
                return
            if _sea_guarded(put):
                checked = self._sea_heard(msg, peer)
                if checked is None:
                    return
                msg = checked
            if not self._merge_heard(msg, peer):
                return
        self._after_heard(msg, peer, ack, listener)

    def _after_heard(self, msg: Message, peer: MeshPeer, ack: Any, listener: _Ask | None) -> None:
        """What follows the merge of a message heard: a reply goes to its listener or back
        toward the asker; a get is answered; the rest is relayed or routed."""
        put = msg.get("put")
        if isinstance(ack, str):
            if listener is not None:
                self._deliver(msg, peer, ack, listener)
            else:
                self.mesh.say(msg)  # route it back toward the asker
            return
        get = msg.get("get")
        if get is not None:
            if self.super_peer:
                self._subscribe(peer, get)
            self._answer_get(msg, peer)
        if not self.super_peer:
            self.mesh.say(msg)  # relay requests, as a Gun peer without AXE does
        elif put is not None and self.store is not None:
            self._group_forwards.append((msg, peer))  # relayed once it is on disk
            self._schedule_commit()
        else:
            self._route(msg, peer)

    def _solicited(self, ack: str, listener: _Ask | None, peer: MeshPeer, msg: Message) -> bool:
        """Whether a reply carrying data is merged: it answers a request this peer sent or
        forwarded, whose dedup entry still lives (9-18 s, as Gun keeps a route), and that
        request has had fewer than ``MAX_REPLY_CHUNKS`` replies. A late answer to a read that
        already settled still counts (its data may be newer); an answer to nothing asked (an
        unsolicited put) or the tail of an endless ``%`` chain does not."""
        entry = self.dup.get(ack)
        if entry is None:
            if listener is None:
                self._dropped(
                    peer,
                    msg,
                    trace.DropCause.UNSOLICITED_REPLY,
                    f"reply to {ack!r}, which nobody here asked for",
                )
                return False
            return True
        n = entry.extra["replies"] = entry.extra.get("replies", 0) + 1
        if n <= MAX_REPLY_CHUNKS:
            return True
        if n == MAX_REPLY_CHUNKS + 1:
            if listener is not None:
                self.unask(ack, listener.fn)
            self._error(
                f"reply stream to {ack!r} passed {MAX_REPLY_CHUNKS} messages; stopped "
                "following it (a relay sending an endless '%' chain?)",
                peer.id,
                ack,
            )
        self._dropped(
            peer,
            msg,
            trace.DropCause.REPLY_CAP,
            f"reply to {ack!r} past MAX_REPLY_CHUNKS={MAX_REPLY_CHUNKS}",
        )
        return False

    def _deliver(self, msg: Message, peer: MeshPeer, ack: str, listener: _Ask) -> None:
        now = (self._loop or asyncio.get_running_loop()).time()
        listener.expires = max(listener.expires, now + ASK_LIFE)
        self.bus.emit(
            trace.Ack(
                self.bus.now(),
                self.pid,
                peer.id,
                msg_id=str(msg.get("#", "")),
                reply_to=ack,
                ok=msg.get("ok"),
                err=str(msg.get("err") or ""),
            )
        )
        listener.fn(msg)

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

    # ------------------------------------------------------------------ AXE-style routing
    # A relay (super peer) routes as Gun.js's AXE does on npm relays: a put goes to the peers
    # that asked for (GET) one of its souls, and to the relays we dialled; a GET goes to those
    # same peers; nothing else is relayed. Idle sockets then cost nothing and a client sees only
    # what it subscribed to. Unlike AXE we forward the put as it came (same ``#``, all its keys)
    # rather than a per-subscriber rewrite with a new id and ack backtracking: acks then route
    # back by ``@`` through the dedup table, as on a Gun relay without AXE.

    def _subscribe(self, peer: MeshPeer, get: Any) -> None:
        soul = get.get("#") if isinstance(get, dict) else None
        if not isinstance(soul, str) or not soul:
            return  # lex GETs are answered, not remembered
        mine = self._peer_subs.setdefault(peer, set())
        if soul in mine:
            return
        if len(mine) >= MAX_SUBS_PER_PEER:
            self._error(
                f"peer {peer.id} asked for more than {MAX_SUBS_PER_PEER} souls; "
                f"{soul!r} is answered but not followed",
                peer.id,
            )
            return
        mine.add(soul)
        self._subs.setdefault(soul, {})[peer] = None

    def _unsubscribe_all(self, peer: MeshPeer) -> None:
        for soul in self._peer_subs.pop(peer, ()):
            subs = self._subs.get(soul)
            if subs is not None:
                subs.pop(peer, None)
                if not subs:
                    del self._subs[soul]

    def _route(self, msg: Message, peer: MeshPeer) -> None:
        put = msg.get("put")
        get = msg.get("get")
        if put is None and get is None:
            self._dropped(
                peer, msg, trace.DropCause.NOTHING_TO_RELAY, "nothing to relay: no put, get or @"
            )
            return
        souls: list[Any] = []
        if isinstance(put, dict):
            souls = list(put)
        elif isinstance(get, dict) and isinstance(get.get("#"), str):
            souls = [get["#"]]
        targets: dict[MeshPeer, None] = {p: None for p in self.mesh.peers.values() if p.url}
        for soul in souls:
            targets.update(self._subs.get(soul, {}))
        targets.pop(peer, None)
        if targets:
            self.mesh.say(msg, targets=targets)

    def _on_bye(self, peer: MeshPeer) -> None:
        self._unsubscribe_all(peer)

    # ------------------------------------------------------------------ merging
    def _merge_heard(self, msg: Message, peer: MeshPeer) -> bool:
        put = msg["put"]
        mid = str(msg.get("#", ""))
        if not isinstance(put, dict):
            self._reject(msg, peer, "Error: Invalid graph! put is not an object.")
            return False
        if "#" in put and "." in put:
            return False  # gun.js ignores the single-key internal form on the wire
        if self.max_nodes is not None:
            put = self._admit(put, peer, mid, msg)
            if not put:
                return False
        undo = self._undo_record(put) if self.store is not None else None
        result = self.graph.merge(put, self.machine())
        for soul in [s for s in self._heard_puts if s in put]:
            node = put[soul]
            if isinstance(node, dict):
                for fn in list(self._heard_puts.get(soul, ())):
                    fn(soul, node, msg)
        if not self._after_merge(result.diff, result.deferred, msg, mid, undo):
            return False
        refused = self._defer(result.deferred, msg)
        if result.error is not None:
            self._reject(msg, peer, result.error)
            return False
        if refused:
            self._reject(
                msg,
                peer,
                f"Error: {refused} keys with a future state refused: {MAX_DEFERRED} are "
                "already waiting for their time.",
            )
            return False
        if self.acks and "@" not in msg:
            if result.accepted:
                self._queue_ack(mid)
            elif result.deferred:
                self._deferred_acks.add(mid)
        return True

    def _admit(
        self, put: dict[str, Any], peer: MeshPeer, mid: str, put_msg: Message
    ) -> dict[str, Any]:
        """The part of a remote put a plain peer takes: souls it holds, and new ones while it
        holds fewer than ``max_nodes`` (a relay that floods us with souls cannot grow us
        without bound; Gun.js has no such limit)."""
        assert self.max_nodes is not None
        nodes = self.graph.nodes
        room = self.max_nodes - len(nodes)
        new = [s for s in put if s not in nodes]
        if len(new) <= room:
            return put
        keep = set(new[: max(room, 0)])
        admitted = {s: n for s, n in put.items() if s in nodes or s in keep}
        err = (
            f"graph full (max_nodes={self.max_nodes}): {len(new) - len(keep)} new souls of a "
            "put refused"
        )
        self._error(err, peer.id, mid)
        if "@" not in put_msg:
            self.mesh.say({"@": mid, "err": f"Error: {err}."}, peer)  # tell the sender
        return admitted

    def _reject(self, msg: Message, peer: MeshPeer, err: str) -> None:
        mid = str(msg.get("#", ""))
        self._error(err, peer.id, mid)
        if "@" not in msg:
            self.mesh.say({"@": mid, "err": err}, peer)

    def _undo_record(self, put: dict[str, Any]) -> list[tuple[str, str, Any]]:
        """What the keys of ``put`` hold now, to put back if the store fails to keep them."""
        undo: list[tuple[str, str, Any]] = []
        nodes = self.graph.nodes
        for soul, node in put.items():
            if not isinstance(node, dict):
                continue
            have = nodes.get(soul)
            for key in node:
                if key == "_":
                    continue
                if have is None or key not in have:
                    undo.append((soul, key, _MISSING))
                else:
                    undo.append((soul, key, (have[key], have["_"][">"].get(key))))
        return undo

    def _after_merge(
        self,
        diff: dict[str, dict[str, Any]],
        deferred: list[Deferred],
        msg: Message,
        mid: str,
        undo: list[tuple[str, str, Any]] | None = None,
        held: bool = False,
    ) -> bool:
        """Persist, trace and tell watchers what a merge changed (``held``: a key applied late,
        once its future state was reached). False when the store could
        not take it: memory is then rolled back (with the rest of this turn's group), and the
        writers of the group get ``err``."""
        if not diff:
            return True
        if self.store is not None:
            try:
                self.store.write(diff)
            except StoreError as exc:
                self._rollback_group(undo or [], str(exc), mid)
                return False
            self._uncommitted.append((mid, undo or []))
            self._schedule_commit()
        if self.bus.wants(trace.Put):
            self._emit_put(diff, deferred, mid, held)
        for soul, node in diff.items():
            for fn in list(self._watch.get(soul, ())):
                try:
                    fn(soul, node, msg)
                except Exception as exc:
                    log.warning("watcher of %r failed: %r", soul, exc)
                    self._error(f"callback for {soul!r} failed: {exc!r}", msg_id=mid)
        return True

    def _emit_put(
        self, diff: dict[str, dict[str, Any]], deferred: list[Deferred], mid: str, held: bool
    ) -> None:
        self.bus.emit(
            trace.Put(
                self.bus.now(),
                self.pid,
                msg_id=mid,
                changes={s: [k for k in n if k != "_"] for s, n in diff.items()},
                deferred=len(deferred),
                values={s: {k: v for k, v in n.items() if k != "_"} for s, n in diff.items()},
                states={
                    s: {
                        k: st
                        for k, st in ((n.get("_") or {}).get(">") or {}).items()
                        if k in n and k != "_"
                    }
                    for s, n in diff.items()
                },
                held=held,
            )
        )

    # ------------------------------------------------------------------ deferred states
    def _defer(self, deferred: list[Deferred], msg: Message) -> int:
        """Hold keys whose state is in the future until their time (gun.js defers them with a
        timer each; we keep one queue and one timer). Returns how many were refused because
        ``MAX_DEFERRED`` keys already wait."""
        refused = 0
        for d in deferred:
            if len(self._deferred) >= MAX_DEFERRED:
                refused += 1
                continue
            self._deferred_seq += 1
            heapq.heappush(self._deferred, (d.due, self._deferred_seq, d, msg))
        if refused:
            self._error(f"{refused} deferred keys refused (max {MAX_DEFERRED} waiting)")
        if deferred:
            self._arm_deferred()
        return refused

    def _arm_deferred(self) -> None:
        if self._deferred_timer is not None:
            self._deferred_timer.cancel()
            self._deferred_timer = None
        if not self._deferred or self.closed:
            return
        due = self._deferred[0][0]
        delay = min(max(due - self.machine(), 0.0), MAX_DEFER_MS) / 1000.0
        loop = self._loop or asyncio.get_running_loop()
        self._deferred_timer = loop.call_later(delay + 0.001, self._run_deferred)

    def _run_deferred(self) -> None:
        self._deferred_timer = None
        now = self.machine()
        while self._deferred and self._deferred[0][0] <= now:
            _, _, d, msg = heapq.heappop(self._deferred)
            self._apply_deferred(d, msg)
        self._arm_deferred()

    def _apply_deferred(self, d: Deferred, msg: Message) -> None:
        node = {"_": {"#": d.soul, ">": {d.key: d.state}}, d.key: d.value}
        undo = self._undo_record({d.soul: node}) if self.store is not None else None
        result = self.graph.merge({d.soul: node}, self.machine())
        mid = str(msg.get("#", ""))
        if not self._after_merge(result.diff, result.deferred, msg, mid, undo, held=True):
            return
        self._defer(result.deferred, msg)
        if result.accepted and mid in self._deferred_acks:
            self._deferred_acks.discard(mid)
            self._queue_ack(mid)

    # ------------------------------------------------------------------ group commit
    def _queue_ack(self, mid: str) -> None:
        self._pending_acks.append({"@": mid, "ok": True})
        self._schedule_commit()

    def _schedule_commit(self) -> None:
        if not self._commit_scheduled:
            self._commit_scheduled = True
            self._call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        """Group commit: one disk commit for the writes of this turn, then their acks and (on a
        relay) the forwarding of their puts. If the commit fails, every write of the group is
        taken back out of memory and its writer gets ``err``; the next turn starts afresh."""
        self._commit_scheduled = False
        if self.store is not None and self._uncommitted:
            try:
                self.store.commit()
            except StoreError as exc:
                self._rollback_group([], str(exc), "")
        self._uncommitted.clear()
        acks, self._pending_acks = self._pending_acks, []
        forwards, self._group_forwards = self._group_forwards, []
        for a in acks:
            self.mesh.say(a)
        for msg, peer in forwards:
            if str(msg.get("#", "")) not in self._failed_group:
                self._route(msg, peer)
        self._failed_group.clear()

    def _rollback_group(self, undo: list[tuple[str, str, Any]], why: str, mid: str) -> None:
        """The store lost this turn's writes: restore memory to before them, and turn every
        pending ack of the group into an ``err`` (the store rolled its transaction back)."""
        groups = [*self._uncommitted, (mid, undo)]
        self._uncommitted.clear()
        with contextlib.suppress(StoreError):
            assert self.store is not None
            self.store.rollback()
        nodes = self.graph.nodes
        failed = {m for m, _ in groups if m}
        for _, records in reversed(groups):
            for soul, key, old in reversed(records):
                node = nodes.get(soul)
                if node is None:
                    continue
                if old is _MISSING:
                    node.pop(key, None)
                    node["_"][">"].pop(key, None)
                    if len(node) == 1:
                        del nodes[soul]
                else:
                    node[key], node["_"][">"][key] = old
        self._failed_group.update(failed)
        err = f"store failed: {why}"
        self._error(f"{err}; {len(failed)} writes rolled back", msg_id=mid)
        for a in self._pending_acks:
            if a.get("@") in failed:
                a.pop("ok", None)
                a["err"] = err
        for m in failed - {a.get("@") for a in self._pending_acks}:
            self._pending_acks.append({"@": m, "err": err})
        self._schedule_commit()

    # ------------------------------------------------------------------ answering GETs
    def _answer_get(self, msg: Message, peer: MeshPeer) -> None:
        get = msg["get"]
        mid = str(msg.get("#", ""))
        if not isinstance(get, dict) or "#" not in get:
            self._bad_get(msg, peer, "get without a soul ('#')")
            return
        try:
            found = self.graph.read(get)
        except (InvalidDataError, TypeError, ValueError) as exc:
            self._bad_get(msg, peer, f"bad get: {exc}")
            return
        if not found:
            if self.acks:
                self.mesh.say({"@": mid}, peer)  # "not found" from a store (gun store.js)
            return
        if len(found) > MAX_GET_SOULS:
            self._error(
                f"lex get matched {len(found)} souls; answered with the first {MAX_GET_SOULS}",
                peer.id,
                mid,
            )
            found = dict(itertools.islice(found.items(), MAX_GET_SOULS))
        replies = self._reply_graphs(found)
        if len(replies) <= GET_SLICE:
            self._send_replies(mid, replies, peer)
        else:
            self.spawn(self._send_replies_slowly(mid, replies, peer), f"answer {mid}")

    def _bad_get(self, msg: Message, peer: MeshPeer, err: str) -> None:
        """A GET we cannot read: traced, and the asker told (Gun.js ignores it in silence)."""
        mid = str(msg.get("#", ""))
        self._error(err, peer.id, mid)
        self.mesh.say({"@": mid, "err": err}, peer)

    def _reply_graphs(self, found: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """One soul: gun's 9-key chunks. Many souls (a lex GET): chunks packed together into
        replies of about ``codec.PACK`` characters each, so 100k souls are not 100k replies."""
        chunks = self.graph.chunks(found)
        if len(found) == 1:
            return chunks
        packed: list[dict[str, Any]] = []
        size = 0
        for chunk in chunks:
            n = len(codec.dumps(chunk))
            if packed and size + n <= codec.PACK and not (set(chunk) & set(packed[-1])):
                packed[-1].update(chunk)
                size += n
            else:
                packed.append(dict(chunk))
                size = n
        return packed

    @staticmethod
    def _chained(mid: str, replies: list[dict[str, Any]]) -> Iterator[Message]:
        """The reply messages of one answer, each naming the next in ``%`` (gun's chunks)."""
        ids = [random_id(9) for _ in replies]
        for i, graph in enumerate(replies):
            reply: Message = {"#": ids[i], "@": mid, "put": graph}
            if i + 1 < len(replies):
                reply["%"] = ids[i + 1]
            yield reply

    def _send_replies(self, mid: str, replies: list[dict[str, Any]], peer: MeshPeer) -> None:
        for reply in self._chained(mid, replies):
            self.mesh.say(reply, peer)

    async def _send_replies_slowly(
        self, mid: str, replies: list[dict[str, Any]], peer: MeshPeer
    ) -> None:
        """A big answer, ``GET_SLICE`` replies per turn, so other clients are not held up."""
        for i, reply in enumerate(self._chained(mid, replies)):
            if peer.met is None:
                return  # the asker left
            self.mesh.say(reply, peer)
            if i % GET_SLICE == GET_SLICE - 1:
                await asyncio.sleep(0)

    def _on_hi(self, peer: MeshPeer) -> None:
        """A new peer: re-ask for what we watch, so an AXE relay sends us updates (gun.js)."""
        if self.super_peer:
            return
        for soul in list(self._watch):
            self.mesh.say({"get": {"#": soul}}, peer)

    # ------------------------------------------------------------------ low-level API
    def watch(self, soul: str, fn: WatchFn, *, subscribe: bool = True) -> Callable[[], None]:
        """Call ``fn(soul, changed_node, msg)`` whenever ``soul`` changes; asks peers for it."""
        first = soul not in self._watch
        unwatch = _register(self._watch, soul, fn)
        if first and subscribe and self.started:
            self.mesh.say({"get": {"#": soul}})
        return unwatch

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
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        mid = msg_id or random_id(9)
        msg: Message = {"#": mid, "put": graph}
        if budget is not None:
            msg["ok"] = {"@": budget + 1}
        if self.closed:
            future.set_exception(GunError(f"{CLOSED}: peer {self.pid} was closed; put refused"))
            return PutResult(future, mid, next(iter(graph), ""))
        if _sea_guarded(graph):
            graph, refused = self._sea_local(graph)
            if refused is not None:  # Gun's text, as the err a peer would ack it with
                future.set_exception(refused)
                return PutResult(future, mid, next(iter(graph), ""))
            msg["put"] = graph
        undo = self._undo_record(graph) if self.store is not None else None
        result = self.graph.merge(graph, self.machine())
        if result.error is not None:
            future.set_exception(InvalidDataError(result.error))
            return PutResult(future, mid, next(iter(graph), ""))
        self.dup.track(mid)
        if not self._after_merge(result.diff, result.deferred, msg, mid, undo):
            future.set_exception(StoreError(f"put {mid}: the store could not keep it"))
            return PutResult(future, mid, next(iter(graph), ""))
        self._defer(result.deferred, msg)
        self._waiting.add(future)
        future.add_done_callback(self._waiting.discard)
        wait = _PutWait(self, future, mid, on_reply)
        self.ask(wait, mid, life=max(self.ack_timeout, reply_life or 0.0))
        self._on_ack_timeout(wait)
        try:
            self.mesh.say(msg)
        except LimitError as exc:
            self.unask(mid, wait)
            if not future.done():
                future.set_exception(exc)
        return PutResult(future, mid, next(iter(graph), ""))

    async def fetch(self, get: dict[str, Any], timeout: float = 5.0) -> bool:
        """Ask the peers for ``get`` and merge what comes back. True if any data came."""
        if self.closed:
            raise GunError(f"{CLOSED}: peer {self.pid} was closed; nothing to read from")
        if not self.mesh.peers:
            return False
        loop = self._loop or asyncio.get_running_loop()
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
                self._later(0.1, settle)

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
            await self._settle_deferred(soul, deadline)
        return got

    async def _settle_deferred(self, soul: str, deadline: float) -> None:
        """Wait (until ``deadline`` at most) for keys of ``soul`` that HAM holds back for at
        most ``SETTLE_MS``: a write made in the same millisecond on a peer whose clock ran a
        fraction ahead is deferred until ours gets there, and a read right after it should
        see it, not miss it by a millisecond. Further-future states are not waited for."""
        loop = self._loop or asyncio.get_running_loop()
        clock = self.machine
        while True:
            now = math.floor(clock.now_ms()) + clock.drift
            due = [d.due for d, _ in ((e[2], e[3]) for e in self._deferred) if d.soul == soul]
            soon = [t for t in due if t <= now + SETTLE_MS]
            left = deadline - loop.time()
            if not soon or left <= 0 or self.closed:
                return
            await asyncio.sleep(min(max(min(soon) - now, 0.0) / 1000.0 + 0.002, left))

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

    def _sea_heard(self, msg: Message, peer: MeshPeer) -> Message | None:
        """SEA's write checks (``gunrtc_kit.sea.check``) on a put from the wire, before the
        merge: a refused key is neither merged, stored nor relayed (the message goes on as a
        copy holding the admitted keys; None if none is left), and the sender gets ``err``
        with Gun's text (the first refusal's; each is traced with its soul and key)."""
        from gunrtc_kit.sea.check import check_graph, guarded_keys

        mid = str(msg.get("#", ""))
        n = guarded_keys(msg["put"])
        if n > MAX_SEA_KEYS:
            why = f"SEA: {n} keys to verify in one put, over MAX_SEA_KEYS={MAX_SEA_KEYS}"
            self._error(f"{why}; refused whole", peer.id, mid)
            if "@" not in msg:
                self.mesh.say({"@": mid, "err": why}, peer)
            return None
        if n > SEA_SLICE:
            self._sea_sliced(msg, peer)
            return None
        admitted, refused = check_graph(msg["put"], self.graph.nodes)
        return self._sea_verdict(msg, peer, admitted, refused)

    def _sea_sliced(self, msg: Message, peer: MeshPeer) -> None:
        """A put of many signed keys: verified ``SEA_SLICE`` keys per loop turn by a task of
        this root (each verification is about 80 us; 10,000 at once held the loop 0.8 s for
        every other connection), then merged and passed on as if it arrived then (Gun.js too
        verifies asynchronously). At most ``MAX_SEA_PENDING`` such puts wait at once; past
        that the sender gets ``err`` and may send again."""
        mid = str(msg.get("#", ""))
        if self._sea_pending >= MAX_SEA_PENDING:
            why = f"SEA: {self._sea_pending} big puts already being verified; send it again later"
            self._error(why, peer.id, mid)
            if "@" not in msg:
                self.mesh.say({"@": mid, "err": why}, peer)
            return
        self._sea_pending += 1
        self.spawn(self._sea_check_slowly(msg, peer), f"SEA check of {mid}")

    async def _sea_check_slowly(self, msg: Message, peer: MeshPeer) -> None:
        from gunrtc_kit.sea.check import check_graph_steps

        try:
            steps = check_graph_steps(msg["put"], self.graph.nodes, every=SEA_SLICE)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    admitted, refused = done.value
                    break
                await asyncio.sleep(0)  # the next slice in a later turn: others go first
        finally:
            self._sea_pending -= 1
        if self.closed:
            return
        checked = self._sea_verdict(msg, peer, admitted, refused)
        if checked is None or not self._merge_heard(checked, peer):
            return
        ack = checked.get("@")
        listener = self._asks.get(ack) if isinstance(ack, str) else None
        self._after_heard(checked, peer, ack, listener)

    def _sea_verdict(
        self, msg: Message, peer: MeshPeer, admitted: dict[str, Any], refused: list[Any]
    ) -> Message | None:
        """The message to go on with after SEA's checks (None: nothing admitted); each
        refusal traced, and the sender told the first with ``err``."""
        if not refused:
            return msg
        mid = str(msg.get("#", ""))
        for r in refused[:SEA_TRACED]:
            self._error(f"SEA refused {r.soul!r} key {r.key!r}: {r.why}", peer.id, mid)
        if len(refused) > SEA_TRACED:
            more = len(refused) - SEA_TRACED
            self._error(f"SEA refused {more} more keys of this put", peer.id, mid)
        if "@" not in msg:
            self.mesh.say({"@": mid, "err": refused[0].why}, peer)
        return {**msg, "put": admitted} if admitted else None

    def _sea_local(
        self, graph: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, dict[str, Any]], SeaError | None]:
        """A local put: signed in the logged-in user's space (``sign_graph``), then checked as
        a put from the wire is. Returns the (signed) graph, and the error for the writer if
        any key is refused: a local put is then refused whole, nothing applied or sent (Gun.js
        writes its other keys; a half-applied write that raises is harder to reason about)."""
        from gunrtc_kit.errors import SeaError
        from gunrtc_kit.sea.check import check_graph, sign_graph

        if self.sea_pair is not None:
            try:
                graph = sign_graph(graph, self.sea_pair)
            except SeaError as exc:
                return {}, exc
        _, refused = check_graph(graph, self.graph.nodes)
        for r in refused:
            self._error(f"SEA refused {r.soul!r} key {r.key!r}: {r.why}")
        return graph, SeaError(refused[0].why) if refused else None

    # ------------------------------------------------------------------ chain API
    def get(self, key: str) -> Chain:
        if not isinstance(key, str) or not key:
            raise GunError(f"get(key={key!r}): expected a non-empty string")
        return Chain(self, (key,))


def _sea_guarded(put: Any) -> bool:
    """Whether a put holds a soul SEA checks (a ``~`` or ``#`` in it): the one test a graph
    of ordinary souls pays (``gunrtc_kit.sea.check.guarded``, inlined here)."""
    if isinstance(put, dict):
        for soul in put:
            if isinstance(soul, str) and ("~" in soul or "#" in soul):
                return True
    return False


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
