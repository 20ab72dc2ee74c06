"""The ``Gun`` root: graph + mesh + wires (+ WebRTC), the low-level API the chain builds on.

What the root does with a message the mesh hands it (matched to gun.js's root ``universe``):
a ``put`` is merged through HAM (request or reply alike); a reply (``@``) goes to whoever here
asked for it, else is routed back toward the asker; a ``get`` is answered from the graph in
Gun's chunks of 9 keys; requests are then relayed to the other peers. Invalid puts are not
relayed; the sender gets ``{'@': id, 'err': "Error: Invalid graph! ..."}`` (gun.js sends nothing
back, which leaves writers waiting for a timeout; an ``err`` ack is what Gun's own callbacks
understand, so it is compatible).

Acks: a root built with ``store`` (the relay) acks every put that wrote at least one key, after
the write is committed; puts whose keys all lose HAM get no ack, as gun.js's storage does.
Plain peers hold a memory graph only and, like a memory-only Gun.js peer, do not ack.

The chain API (``gun.get(...)``) lives in ``gunrtc_kit.chain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gunrtc_kit import trace
from gunrtc_kit.chain import Chain
from gunrtc_kit.core.dup import Dup
from gunrtc_kit.core.graph import Deferred, Graph
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.core.state import MachineClock
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, InvalidDataError, LimitError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.transport.websocket import WebSocketClient

if TYPE_CHECKING:
    from gunrtc_kit.store import SQLiteStore
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


@dataclass
class _Ask:
    fn: AskFn
    expires: float


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


class Gun:
    """A Gun peer: ``await Gun(peers=[url]).start()``, then ``gun.get(...)`` chains."""

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
        self.rtc_options = rtc
        self.rtc: WebRTCManager | None = None
        self._asks: dict[str, _Ask] = {}
        self._watch: dict[str, list[WatchFn]] = {}
        self._heard_puts: dict[str, list[WatchFn]] = {}
        self._clients: list[WebSocketClient] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_acks: list[Message] = []
        self._deferred_acks: set[str] = set()
        self._housekeeper: asyncio.Task[None] | None = None
        self.started = False
        if store is not None:
            for soul, node in store.load():
                self.graph.nodes[soul] = node

    # ------------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> str:
        return self.mesh.pid

    async def start(self) -> Gun:
        """Dial the peers (reconnecting forever) and start WebRTC if asked. Returns self."""
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
        """Hang up everything this peer opened; leaves no task or socket behind."""
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
        tasks = list(self._tasks)
        if self._housekeeper is not None:
            tasks.append(self._housekeeper)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._housekeeper = None
        for a in list(self._asks):
            self._asks.pop(a, None)
        self._flush_acks()
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
        """Dedup expiry and reply-listener expiry: Gun's timers, run from one owned task."""
        while True:
            await asyncio.sleep(0.5)
            self.mesh.expire()
            now = self._loop.time() if self._loop else 0.0
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
        if put is not None:
            if not self._merge_heard(msg, peer):
                return
        if isinstance(ack, str):
            listener = self._asks.get(ack)
            if listener is not None:
                listener.expires = (self._loop or asyncio.get_running_loop()).time() + ASK_LIFE
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
            else:
                self.mesh.say(msg)  # route it back toward the asker
            return
        get = msg.get("get")
        if get is not None:
            self._answer_get(msg, peer)
        self.mesh.say(msg)  # relay requests, as a Gun peer does

    def _merge_heard(self, msg: Message, peer: MeshPeer) -> bool:
        put = msg["put"]
        mid = str(msg.get("#", ""))
        if not isinstance(put, dict):
            self._reject(msg, peer, "Error: Invalid graph! put is not an object.")
            return False
        if "#" in put and "." in put:
            return False  # gun.js ignores the single-key internal form on the wire
        result = self.graph.merge(put, self.machine())
        for soul in [s for s in self._heard_puts if s in put]:
            node = put[soul]
            if isinstance(node, dict):
                for fn in list(self._heard_puts.get(soul, ())):
                    fn(soul, node, msg)
        self._after_merge(result.diff, result.deferred, msg, mid)
        if result.error is not None:
            self._reject(msg, peer, result.error)
            return False
        if self.acks and "@" not in msg:
            if result.accepted:
                self._queue_ack(mid)
            elif result.deferred:
                self._deferred_acks.add(mid)
        return True

    def _reject(self, msg: Message, peer: MeshPeer, err: str) -> None:
        mid = str(msg.get("#", ""))
        self._error(err, peer.id, mid)
        if "@" not in msg:
            self.mesh.say({"@": mid, "err": err}, peer)

    def _after_merge(
        self, diff: dict[str, dict[str, Any]], deferred: list[Deferred], msg: Message, mid: str
    ) -> None:
        if diff:
            if self.store is not None:
                self.store.write(diff)
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
                )
            )
            for soul, node in diff.items():
                for fn in list(self._watch.get(soul, ())):
                    try:
                        fn(soul, node, msg)
                    except Exception as exc:
                        log.exception("watcher of %r failed", soul)
                        self._error(f"callback for {soul!r} failed: {exc!r}", msg_id=mid)
        for d in deferred:
            delay = min(max(d.state - self.machine(), 0.0), MAX_DEFER_MS) / 1000.0
            self._later(delay + 0.001, functools.partial(self._apply_deferred, d, msg))

    def _apply_deferred(self, d: Deferred, msg: Message) -> None:
        node = {"_": {"#": d.soul, ">": {d.key: d.state}}, d.key: d.value}
        result = self.graph.merge({d.soul: node}, self.machine())
        mid = str(msg.get("#", ""))
        self._after_merge(result.diff, result.deferred, msg, mid)
        if result.accepted and mid in self._deferred_acks:
            self._deferred_acks.discard(mid)
            self._queue_ack(mid)

    def _queue_ack(self, mid: str) -> None:
        if not self._pending_acks:
            self._call_soon(self._flush_acks)
        self._pending_acks.append({"@": mid, "ok": True})

    def _flush_acks(self) -> None:
        """Group commit: one disk commit for the puts of this turn, then their acks."""
        if self.store is not None:
            try:
                self.store.commit()
            except Exception as exc:
                for a in self._pending_acks:
                    a.pop("ok", None)
                    a["err"] = f"store failed: {exc}"
        acks, self._pending_acks = self._pending_acks, []
        for a in acks:
            self.mesh.say(a)

    def _answer_get(self, msg: Message, peer: MeshPeer) -> None:
        get = msg["get"]
        mid = str(msg.get("#", ""))
        if not isinstance(get, dict) or "#" not in get:
            self._error("get without a soul ('#')", peer.id, mid)
            return
        try:
            found = self.graph.read(get)
        except (InvalidDataError, TypeError, ValueError) as exc:
            self._error(f"bad get: {exc}", peer.id, mid)
            return
        if not found:
            if self.acks:
                self.mesh.say({"@": mid}, peer)  # "not found" from a store (gun store.js)
            return
        chunks = self.graph.chunks(found)
        ids = [random_id(9) for _ in chunks]
        for i, chunk in enumerate(chunks):
            reply: Message = {"#": ids[i], "@": mid, "put": chunk}
            if i + 1 < len(chunks):
                reply["%"] = ids[i + 1]
            self.mesh.say(reply, peer)

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
        self, graph: dict[str, dict[str, Any]], *, budget: int | None = 9, msg_id: str | None = None
    ) -> PutResult:
        """Apply a graph locally, send it to every peer, and return the awaitable first ack."""
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        mid = msg_id or random_id(9)
        msg: Message = {"#": mid, "put": graph}
        if budget is not None:
            msg["ok"] = {"@": budget + 1}
        result = self.graph.merge(graph, self.machine())
        if result.error is not None:
            future.set_exception(InvalidDataError(result.error))
            return PutResult(future, mid, next(iter(graph), ""))
        self.dup.track(mid)
        self._after_merge(result.diff, result.deferred, msg, mid)

        def on_ack(reply: Message) -> None:
            if future.done():
                return
            self.unask(mid, on_ack)
            if reply.get("err"):
                future.set_exception(GunError(str(reply["err"])))
            else:
                future.set_result(reply)

        self.ask(on_ack, mid, life=self.ack_timeout)

        def timeout() -> None:
            if not future.done():
                self.unask(mid, on_ack)
                future.set_exception(
                    GunTimeoutError(f"no ack for put {mid} within {self.ack_timeout} s")
                )

        self._later(self.ack_timeout, timeout)
        try:
            self.mesh.say(msg)
        except LimitError as exc:
            self.unask(mid, on_ack)
            if not future.done():
                future.set_exception(exc)
        return PutResult(future, mid, next(iter(graph), ""))

    async def fetch(self, get: dict[str, Any], timeout: float = 5.0) -> bool:
        """Ask the peers for ``get`` and merge what comes back. True if any data came."""
        if not self.mesh.peers:
            return False
        loop = self._loop or asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
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
                loop.call_later(0.1, settle)

        def settle() -> None:
            if not done.done():
                done.set_result(state["data"])

        mid = self.ask(on_reply)
        self.mesh.say({"#": mid, "get": dict(get)})
        try:
            return await asyncio.wait_for(done, timeout)
        except TimeoutError:
            return state["data"]
        finally:
            self.unask(mid)

    # ------------------------------------------------------------------ chain API
    def get(self, key: str) -> Chain:
        if not isinstance(key, str) or not key:
            raise GunError(f"get(key={key!r}): expected a non-empty string")
        return Chain(self, (key,))


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
