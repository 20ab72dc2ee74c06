"""WebSocket wires on ``websockets``: the client that dials a relay, and the server side.

Facts matched from Gun.js (gun-wire section 1): text frames only, path ``/gun`` (a query string
is ignored, any other path gets HTTP 400 unless the server's ``http`` hook serves it: a relay's
pages), the server sends ``[]`` every 20 s, a client that
loses its socket says ``bye`` and dials again, and the server offers no permessage-deflate (ws 7,
which Gun.js runs, has it off on the server side).

The incoming frame limit is raised from websockets' 1 MiB default to ``MAX_WS_FRAME`` (100 MiB,
the ws 7 default Gun.js runs with) and stays bounded; a wire sends no frame over its own
``max_size`` either (``LimitError``), rather than have the far end drop the connection on it.

Theory of operation, and why:

- ``send`` is synchronous for the mesh and writes straight into the socket's buffer (websockets'
  ``broadcast``, which skips flow control). No outbox, no writer task: a wire costs no task, and
  what a wire holds unsent is exactly the transport's write buffer, counted in bytes.
- A wire whose unsent bytes would pass ``wire_budget`` (default 16 MiB) is a reader that does
  not keep up: it is cut at once (the socket aborted, the peer out of the mesh) with a
  ``trace.Error`` and a ``trace.Dropped`` naming the budget, so nobody else waits and the relay
  cannot grow without bound. One frame is always let through onto an empty buffer, so a big but
  allowed put is never refused for its size alone.
- All of a server's wires together may hold ``total_budget`` bytes unsent (default 256 MiB):
  a wire holding over ``SHARED_CHECK`` (1 MiB) that would take the sum past it is cut the same
  way, so a hundred readers that never drain cannot hold a hundred ``wire_budget`` s.
- The server's ``[]`` heartbeat is one task over all connections, not one per connection.
- The client backs off while a relay keeps dropping it: 0.1 s doubling up to Gun.js's flat
  1998 ms, reset only after a connection stayed up ``HEALTHY`` seconds (an accept-then-close
  relay is dialled about once per 2 s, as Gun.js does; a relay restart is still noticed
  quickly). The client pings (``keepalive``) so a relay that went silent is noticed.
- Closing is bounded: a close handshake waits ``close_timeout`` (1 s), then the socket is cut;
  ``WebSocketServer.close`` cuts whatever still hangs after that, so ``Relay.stop`` is quick
  even with a client that ignores the handshake or never reads.
- Every task started here is kept and awaited on close; a cancellation of the caller is never
  swallowed (only that of a task we cancelled ourselves, awaited with ``asyncio.wait``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import NoReturn
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.http11 import Request, Response
from websockets.protocol import State

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.dam.mesh import SLICE, Mesh, Parsed
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, LimitError, NetworkError

__all__ = [
    "MAX_WS_FRAME",
    "HttpHook",
    "OriginHook",
    "WIRE_BUDGET",
    "WebSocketClient",
    "WebSocketServer",
    "WsWire",
    "normalize_url",
]

log = logging.getLogger(__name__)

MAX_WS_FRAME = 100 * 1024 * 1024
HEARTBEAT = 20.0
WIRE_BUDGET = 16 * 1024 * 1024  # bytes a wire may hold unsent before it is cut
CLOSE_TIMEOUT = 1.0  # seconds a close handshake may take before the socket is cut
KEEPALIVE = 20.0  # client ping interval, and how long a pong may take
RETRY_FIRST = 0.1
RETRY_MAX = 1.998  # gun.js: wait = 2 * 999 ms
HEALTHY = 5.0  # seconds a connection must stay up before the back-off starts over
BACKLOG = 2048  # pending TCP connections (asyncio's default 100 drops SYNs under a burst)
THREAD_PARSE = 1 << 20  # frames longer than this (chars) are parsed in a worker thread
TURN = 0.005  # seconds one connection's frames may hold the loop before it yields
TOTAL_BUDGET = 256 * 1024 * 1024  # bytes all of a server's wires may hold unsent together
SHARED_CHECK = 1 << 20  # a wire holding more than this checks the server's total
# frames websockets reads ahead per connection before TCP pushes back (its default is 16: with
# 100 MiB frames, 1.6 GB a client could make us hold); the pump takes them one at a time
MAX_QUEUE = 2

Connection = ClientConnection | ServerConnection
# a server's answer to a plain HTTP GET (a page it serves), or None for "not mine"
HttpHook = Callable[[ServerConnection, Request], Response | None]
# whether a WebSocket handshake from a browser page of ``origin`` (not in allowed_origins) is
# let in all the same: a relay's rule for its own pages reached through a proxy
OriginHook = Callable[[ServerConnection, Request, str], bool]
OverBudget = Callable[["WsWire", int, str], None]


def normalize_url(url: str) -> str:
    """``http(s)://h:p/gun`` -> ``ws(s)://h:p/gun``, as Gun's client swaps the scheme."""
    if not isinstance(url, str):
        raise GunError(f"peer url={url!r}, expected a string like 'ws://127.0.0.1:8765/gun'")
    if url.startswith("http"):
        url = "ws" + url[4:]
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise GunError(f"peer url={url!r}, expected ws://host:port/gun (or http://...)")
    return url


def _check_budget(wire_budget: int) -> int:
    if not isinstance(wire_budget, int) or isinstance(wire_budget, bool) or wire_budget <= 0:
        raise GunError(f"wire_budget={wire_budget!r}, expected a number of bytes > 0")
    return wire_budget


async def _settle(task: asyncio.Task[None]) -> None:
    """Wait for ``task`` to finish without taking on its cancellation (it is ours to end);
    a cancellation of the caller still propagates, and a failure is logged, not lost."""
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s failed: %r", task.get_name(), task.exception())


async def _stop(task: asyncio.Task[None] | None) -> None:
    """Cancel a task we own and wait for it to end (see ``_settle``)."""
    if task is not None:
        task.cancel()
        await _settle(task)


class SendBudget:
    """The unsent bytes all wires of one server may hold together (see the module notes).

    The sum is taken only when one wire already holds over ``SHARED_CHECK`` bytes: that is
    rare for readers that keep up, so the O(wires) sum costs nothing in normal traffic."""

    def __init__(self, total: int) -> None:
        self.total = _check_budget(total)
        self.wires: set[WsWire] = set()

    def over(self, extra: int) -> int | None:
        """The sum with ``extra`` more bytes, if it passes ``total``; else None."""
        used = extra + sum(w.buffered() for w in self.wires if not w.closed)
        return used if used > self.total else None


class WsWire:
    """A mesh wire over one open websockets connection.

    ``send`` writes now or raises ``NetworkError``; past ``budget`` unsent bytes the wire cuts
    its socket and calls ``on_over(wire, bytes)`` (its owner takes the peer out of the mesh and
    says why on the trace). A frame over ``max_frame`` bytes raises ``LimitError`` and leaves
    the wire open: the far end would close the connection on it (1009, message too big), and
    we assume it takes what we take (our client, our relay and ws 7 all default to
    ``MAX_WS_FRAME``). ``close`` starts a bounded close handshake in a task the wire keeps;
    ``aclose`` finishes it (the owner of the connection awaits that).
    """

    transport = "ws"
    #: TCP under one websocket: frames arrive in the order sent, all of them, while it is open
    ordered = True
    reliable = True

    def __init__(
        self,
        conn: Connection,
        *,
        budget: int = WIRE_BUDGET,
        close_timeout: float = CLOSE_TIMEOUT,
        on_over: OverBudget | None = None,
        shared: SendBudget | None = None,
        max_frame: int = MAX_WS_FRAME,
    ) -> None:
        self.conn = conn
        self.max_frame = max_frame
        self.budget = _check_budget(budget)
        self.shared = shared
        self.close_timeout = close_timeout
        self.on_over = on_over
        self.closed = False
        self.over_budget = False
        self._closer: asyncio.Task[None] | None = None

    def buffered(self) -> int:
        """Bytes written to this wire that the socket has not taken yet."""
        return self.conn.transport.get_write_buffer_size()

    def send(self, text: str) -> None:
        """Write one frame now (no await): raises ``NetworkError`` when closed or cut."""
        if (
            self.closed
            or self.conn.protocol.state is not State.OPEN
            or self.conn.transport.is_closing()
        ):
            raise NetworkError("websocket is closed")
        data = text.encode()
        if len(data) > self.max_frame:
            raise LimitError(
                f"frame of {len(data)} bytes over the websocket's max_frame={self.max_frame}"
            )
        waiting = self.buffered()
        if waiting and waiting + len(data) > self.budget:
            self._cut(waiting + len(data), f"wire_budget={self.budget}")
        if self.shared is not None and waiting > SHARED_CHECK:
            used = self.shared.over(len(data))
            if used is not None:
                self._cut(waiting + len(data), f"total_budget={self.shared.total} ({used} in all)")
        try:
            broadcast([self.conn], data, raise_exceptions=True, text=True)
        except ExceptionGroup as group:
            raise NetworkError(f"websocket write failed: {group.exceptions[0]!r}") from None

    def _cut(self, waiting: int, limit: str) -> NoReturn:
        self.closed = True
        self.over_budget = True
        self.conn.transport.abort()
        if self.on_over is not None:
            self.on_over(self, waiting, limit)
        raise NetworkError(f"websocket cut: {waiting} bytes unsent, over {limit}")

    def close(self) -> None:
        """Hang up (the mesh calls this synchronously); the handshake runs in a kept task."""
        self.closed = True
        if self._closer is None:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to close on
                self._closer = asyncio.get_running_loop().create_task(
                    self._close_conn(), name="ws-close"
                )

    async def aclose(self) -> None:
        """Close (bounded by ``close_timeout``, then the socket is cut) and wait for it."""
        self.closed = True
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(
                self._close_conn(), name="ws-close"
            )
        await _settle(self._closer)

    async def _close_conn(self) -> None:
        if self.over_budget:
            self.conn.transport.abort()
        try:
            # websockets bounds the wait for the peer's close frame, but not the drain of a
            # full write buffer before it: bound both
            async with asyncio.timeout(self.close_timeout + 0.5):
                await self.conn.close()
        except TimeoutError:
            self.conn.transport.abort()
        await self.conn.wait_closed()


async def _pump(conn: Connection, mesh: Mesh, peer: MeshPeer, wire: WsWire) -> None:
    """Feed every frame of ``conn`` to the mesh until it closes; once ``wire`` is closed on our
    side, frames still arriving (sent before the far end heard of it) are read and dropped, so
    the peer that left says nothing more and the close handshake is not held up. A batch is
    handled ``SLICE`` messages per turn of the loop, so one huge frame delays its sender, not
    everyone; and the loop gets a turn at least every ``TURN`` seconds, so an endless stream
    of frames holds no one else. Frames that arrive together are handled in one turn while
    that lasts: what they make us say is then batched per wire and committed to the store
    together (yielding after every frame cost 9x the frames out and a commit per put)."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(ConnectionClosed):
        turn = loop.time()
        async for raw in conn:
            if wire.closed:
                continue
            parsed: Parsed | GunError | None = None
            if isinstance(raw, str) and len(raw) > THREAD_PARSE:
                # a big frame is parsed in a worker thread: json's C decoder holds the GIL
                # while it runs (0.2 s for 9.5 MB), but the walk over a batch's elements is
                # Python, and the loop thread gets its turns during it
                try:
                    parsed = await asyncio.to_thread(codec.parse, raw, mesh.max_frame)
                except GunError as exc:
                    parsed = exc
            msgs = mesh.frame(raw, peer, parsed)
            if len(msgs) <= SLICE:
                mesh.hear_all(msgs, peer, len(raw) if len(msgs) == 1 else 0)
                if loop.time() - turn > TURN:
                    await asyncio.sleep(0)
                    turn = loop.time()
                continue
            for i in range(0, len(msgs), SLICE):
                mesh.hear_all(msgs[i : i + SLICE], peer)
                await asyncio.sleep(0)
            turn = loop.time()
            del msgs


def _over_budget(mesh: Mesh, peer: MeshPeer) -> OverBudget:
    """What a wire does when it is cut for its budget: say so on the trace, leave the mesh."""

    def over(wire: WsWire, waiting: int, limit: str) -> None:
        text = (
            f"{peer.id} cut: {waiting} bytes unsent, over {limit} (a reader that does not keep up)"
        )
        log.warning("websocket %s", text)
        now = mesh.bus.now()
        mesh.bus.emit(trace.Error(now, mesh.pid, peer.id, error=text))
        mesh.bus.emit(
            trace.Dropped(
                now,
                mesh.pid,
                peer.id,
                reason=f"{limit} exceeded",
                cause=trace.DropCause.BUDGET,
                transport=peer.transport,
            )
        )
        mesh.bye(peer)
        peer.queue = None
        peer.queued_chars = 0

    return over


class WebSocketClient:
    """Dials ``url``, joins the mesh on open, says ``bye`` on close and dials again.

    ``attempts`` counts dials; ``delay`` is the wait before the next one (it grows while the
    relay keeps dropping us). ``keepalive`` is the ping interval and pong timeout in seconds
    (None: no pings).
    """

    def __init__(
        self,
        mesh: Mesh,
        url: str,
        *,
        max_size: int = MAX_WS_FRAME,
        wire_budget: int = WIRE_BUDGET,
        keepalive: float | None = KEEPALIVE,
        healthy: float = HEALTHY,
    ) -> None:
        self.mesh = mesh
        self.url = normalize_url(url)
        self.max_size = max_size
        self.wire_budget = _check_budget(wire_budget)
        self.keepalive = keepalive
        self.healthy = healthy
        self.peer = MeshPeer(id=self.url, url=self.url)
        self.connected = asyncio.Event()
        self.attempts = 0
        self.delay = RETRY_FIRST
        self._task: asyncio.Task[None] | None = None
        self._wire: WsWire | None = None
        self._closing = False

    def start(self) -> None:
        """Join the mesh (frames queue until open) and start dialling."""
        self.mesh.add(self.peer)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ws {self.url}")

    async def _wait(self) -> None:
        """Sleep the current back-off (with jitter), then double it up to the cap."""
        await asyncio.sleep(self.delay * (0.8 + 0.4 * random.random()))
        self.delay = min(self.delay * 2, RETRY_MAX)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            self.attempts += 1
            try:
                conn = await connect(
                    self.url,
                    max_size=self.max_size,
                    open_timeout=5,
                    ping_interval=self.keepalive,
                    ping_timeout=self.keepalive,
                    close_timeout=CLOSE_TIMEOUT,
                )
            except (OSError, WebSocketException, TimeoutError, EOFError) as exc:
                log.debug("dial %s failed: %r", self.url, exc)
                await self._wait()
                continue
            opened = loop.time()
            wire = self._wire = WsWire(
                conn,
                budget=self.wire_budget,
                on_over=_over_budget(self.mesh, self.peer),
                max_frame=self.max_size,
            )
            self.peer.wire = wire
            self.mesh.hi(self.peer)
            self.connected.set()
            try:
                await _pump(conn, self.mesh, self.peer, wire)
            finally:
                self.connected.clear()
                wire.closed = True
                self.mesh.bye(self.peer)
                self.peer.wire = None
                await wire.aclose()
                self._wire = None
            if loop.time() - opened >= self.healthy:
                self.delay = RETRY_FIRST  # it was up a while: this is a restart, not a refusal
            if not self._closing:
                self.mesh.add(self.peer)  # frames said while we redial wait in its queue
                await self._wait()

    async def close(self) -> None:
        """Stop dialling and hang up; returns once the socket is closed."""
        self._closing = True
        await _stop(self._task)
        self._task = None
        if self._wire is not None:
            await self._wire.aclose()
            self._wire = None
        self.mesh.peers.pop(self.peer.id, None)


class WebSocketServer:
    """Accepts Gun peers on ``ws://host:port/gun``; each socket becomes an inbound mesh peer.

    ``wire_budget``: bytes a connection may hold unsent before it is cut (see the module
    docstring). ``allowed_origins``: None accepts any ``Origin`` (Gun.js does); an iterable
    accepts requests without an ``Origin`` header (not from a browser) or with one listed, and
    answers others HTTP 403, so a web page open in the user's browser cannot use a local relay.
    ``http``: called with each plain HTTP request (no WebSocket upgrade) for another path; what
    it returns is the answer (a page the server serves), None leaves the HTTP 400.
    ``let_origin`` (an attribute, None by default): asked about a handshake whose ``Origin``
    is not in ``allowed_origins``; True lets it in (the relay's rule for its own pages behind
    a proxy, see ``gunrtc_kit.relay``).
    """

    def __init__(
        self,
        mesh: Mesh,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path: str = "/gun",
        max_size: int = MAX_WS_FRAME,
        heartbeat: float = HEARTBEAT,
        wire_budget: int = WIRE_BUDGET,
        total_budget: int = TOTAL_BUDGET,
        allowed_origins: Iterable[str] | None = None,
        close_timeout: float = CLOSE_TIMEOUT,
        on_connect: Callable[[MeshPeer], Awaitable[None] | None] | None = None,
        http: HttpHook | None = None,
    ) -> None:
        if isinstance(allowed_origins, str):
            raise GunError(
                f"allowed_origins={allowed_origins!r}: expected a list of origins such as "
                "['https://example.org'], or None for any"
            )
        self.mesh = mesh
        self.host = host
        self.port = port
        self.path = path
        self.max_size = max_size
        self.heartbeat = heartbeat
        self.wire_budget = _check_budget(wire_budget)
        self.sending = SendBudget(total_budget)
        self.allowed_origins = frozenset(allowed_origins) if allowed_origins is not None else None
        self.close_timeout = close_timeout
        self.server: Server | None = None
        self.connections: dict[ServerConnection, MeshPeer] = {}
        self._on_connect = on_connect
        #: answers plain HTTP requests for paths other than ``path`` (None: HTTP 400)
        self.http = http
        #: a second look at an Origin not in ``allowed_origins`` (None: refused)
        self.let_origin: OriginHook | None = None
        self._beat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen; ``port`` is the real one afterwards (when 0 was asked)."""
        self.server = await serve(
            self._handle,
            self.host,
            self.port,
            max_size=self.max_size,
            process_request=self._check_request,
            ping_interval=None,
            close_timeout=self.close_timeout,
            compression=None,
            max_queue=MAX_QUEUE,
            backlog=BACKLOG,
        )
        sock = next(iter(self.server.sockets))
        self.port = sock.getsockname()[1]
        self._beat = asyncio.get_running_loop().create_task(self._beat_all(), name="ws-heartbeat")

    @property
    def url(self) -> str:
        """``ws://host:port/gun``."""
        return f"ws://{self.host}:{self.port}{self.path}"

    def _check_request(self, conn: ServerConnection, request: Request) -> Response | None:
        # ws 7 (Gun.js npm) matches the path and ignores the query string; others get 400
        if urlsplit(request.path).path != self.path:
            if self.http is not None and "Upgrade" not in request.headers:
                answer = self.http(conn, request)
                if answer is not None:
                    return answer
            return conn.respond(HTTPStatus.BAD_REQUEST, "Gun relay: connect to /gun\n")
        origin = request.headers.get("Origin")
        if self.allowed_origins is not None and origin is not None:
            let = self.let_origin
            if origin not in self.allowed_origins and not (
                let is not None and let(conn, request, origin)
            ):
                return conn.respond(
                    HTTPStatus.FORBIDDEN,
                    f"Gun relay: Origin {origin!r} is not allowed (allowed_origins)\n",
                )
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        peer = MeshPeer(id="")
        wire = WsWire(
            conn,
            budget=self.wire_budget,
            close_timeout=self.close_timeout,
            on_over=_over_budget(self.mesh, peer),
            shared=self.sending,
            max_frame=self.max_size,
        )
        peer.wire = wire
        self.connections[conn] = peer
        self.sending.wires.add(wire)
        try:
            self.mesh.hi(peer)
            await _pump(conn, self.mesh, peer, wire)
        finally:
            wire.closed = True
            self.sending.wires.discard(wire)
            self.connections.pop(conn, None)
            self.mesh.bye(peer)
            peer.queue = None
            peer.queued_chars = 0
            await wire.aclose()

    async def _beat_all(self) -> None:
        """Gun's ``[]`` every ``heartbeat`` seconds to every connection, from one task."""
        while True:
            await asyncio.sleep(self.heartbeat)
            for peer in list(self.connections.values()):
                if peer.wire is not None:
                    with contextlib.suppress(NetworkError):
                        peer.wire.send("[]")

    async def close(self) -> None:
        """Stop listening and close every connection, in about ``close_timeout`` at most."""
        if self.server is None:
            return
        server, self.server = self.server, None
        await _stop(self._beat)
        self._beat = None
        server.close()
        closed = asyncio.ensure_future(server.wait_closed())
        try:
            done, _ = await asyncio.wait([closed], timeout=self.close_timeout + 1.0)
            if not done:
                # a client that never reads can hold a close handshake forever: cut it
                for conn in list(self.connections):
                    conn.transport.abort()
            await closed
        finally:
            if not closed.done():
                closed.cancel()
