"""WebSocket wires on ``websockets``: the client that dials a relay, and the server side.

Facts matched from Gun.js (gun-wire section 1): text frames only, path ``/gun`` (a query string
is ignored, any other path gets HTTP 400), the server sends ``[]`` every 20 s, a client that
loses its socket says ``bye`` and dials again. Gun.js waits a flat 1998 ms between attempts; we
back off from 0.1 s doubling up to that same 1998 ms, so a relay restart is noticed quickly
without hammering a dead one.

The incoming frame limit is raised from websockets' 1 MiB default to ``MAX_WS_FRAME`` (100 MiB,
the ws 7 default Gun.js runs with) and stays bounded. ``send`` is synchronous for the mesh; a
bounded outbox and one writer task per connection do the awaiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.http11 import Request, Response

from gunrtc_kit.dam.mesh import SLICE, Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, NetworkError

__all__ = ["MAX_WS_FRAME", "WebSocketClient", "WebSocketServer", "WsWire", "normalize_url"]

log = logging.getLogger(__name__)

MAX_WS_FRAME = 100 * 1024 * 1024
HEARTBEAT = 20.0
OUTBOX_LIMIT = 100_000
RETRY_FIRST = 0.1
RETRY_MAX = 1.998  # gun.js: wait = 2 * 999 ms

Connection = ClientConnection | ServerConnection


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


class WsWire:
    """A mesh wire over one open websockets connection."""

    transport = "ws"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._outbox: deque[str] = deque()
        self._ready = asyncio.Event()
        self.closed = False
        self.writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.writer = asyncio.get_running_loop().create_task(self._write(), name="ws-writer")

    def send(self, text: str) -> None:
        if self.closed:
            raise NetworkError("websocket is closed")
        if len(self._outbox) >= OUTBOX_LIMIT:
            raise NetworkError(f"websocket outbox full (limit {OUTBOX_LIMIT})")
        self._outbox.append(text)
        self._ready.set()

    async def _write(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._outbox:
                    await self.conn.send(self._outbox.popleft())
        except ConnectionClosed:
            self.closed = True
        except asyncio.CancelledError:
            raise

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self.conn.close())

    async def aclose(self) -> None:
        self.closed = True
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self.writer
        await self.conn.close()


async def _pump(conn: Connection, mesh: Mesh, peer: MeshPeer) -> None:
    """Feed every frame of ``conn`` to the mesh until it closes. A batch is handled ``SLICE``
    messages per turn of the loop, so one huge frame delays its sender, not everyone."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in conn:
            msgs = mesh.frame(raw, peer)
            if len(msgs) <= SLICE:
                mesh.hear_all(msgs, peer, len(raw) if len(msgs) == 1 else 0)
                continue
            for i in range(0, len(msgs), SLICE):
                mesh.hear_all(msgs[i : i + SLICE], peer)
                await asyncio.sleep(0)
            del msgs


class WebSocketClient:
    """Dials ``url``, joins the mesh on open, says ``bye`` on close and dials again."""

    def __init__(self, mesh: Mesh, url: str, *, max_size: int = MAX_WS_FRAME) -> None:
        self.mesh = mesh
        self.url = normalize_url(url)
        self.max_size = max_size
        self.peer = MeshPeer(id=self.url, url=self.url)
        self.connected = asyncio.Event()
        self.attempts = 0
        self._task: asyncio.Task[None] | None = None
        self._wire: WsWire | None = None
        self._closing = False

    def start(self) -> None:
        self.mesh.add(self.peer)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ws {self.url}")

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while not self._closing:
            self.attempts += 1
            try:
                conn = await connect(
                    self.url, max_size=self.max_size, open_timeout=5, ping_interval=None
                )
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                log.debug("dial %s failed: %s", self.url, exc)
                await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            wire = self._wire = WsWire(conn)
            wire.start()
            self.peer.wire = wire
            self.mesh.hi(self.peer)
            self.connected.set()
            try:
                await _pump(conn, self.mesh, self.peer)
            finally:
                self.connected.clear()
                wire.closed = True
                self.mesh.bye(self.peer)
                self.peer.wire = None
                await wire.aclose()
                self._wire = None
            if not self._closing:
                self.mesh.add(self.peer)  # frames said while we redial wait in its queue
                await asyncio.sleep(RETRY_FIRST)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._wire is not None:
            await self._wire.aclose()
        self.mesh.peers.pop(self.peer.id, None)


class WebSocketServer:
    """Accepts Gun peers on ``ws://host:port/gun``; each socket becomes an inbound mesh peer."""

    def __init__(
        self,
        mesh: Mesh,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path: str = "/gun",
        max_size: int = MAX_WS_FRAME,
        heartbeat: float = HEARTBEAT,
        on_connect: Callable[[MeshPeer], Awaitable[None] | None] | None = None,
    ) -> None:
        self.mesh = mesh
        self.host = host
        self.port = port
        self.path = path
        self.max_size = max_size
        self.heartbeat = heartbeat
        self.server: Server | None = None
        self.connections: dict[ServerConnection, MeshPeer] = {}
        self._on_connect = on_connect

    async def start(self) -> None:
        self.server = await serve(
            self._handle,
            self.host,
            self.port,
            max_size=self.max_size,
            process_request=self._check_path,
            ping_interval=None,
        )
        sock = next(iter(self.server.sockets))
        self.port = sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.path}"

    def _check_path(self, conn: ServerConnection, request: Request) -> Response | None:
        # ws 7 (Gun.js npm) matches the path and ignores the query string; others get 400
        if urlsplit(request.path).path != self.path:
            return conn.respond(HTTPStatus.BAD_REQUEST, "Gun relay: connect to /gun\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        wire = WsWire(conn)
        wire.start()
        peer = MeshPeer(id="", wire=wire)
        self.connections[conn] = peer
        beat = asyncio.get_running_loop().create_task(self._beat(wire), name="ws-heartbeat")
        try:
            self.mesh.hi(peer)
            await _pump(conn, self.mesh, peer)
        finally:
            beat.cancel()
            wire.closed = True
            self.connections.pop(conn, None)
            self.mesh.bye(peer)
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await wire.aclose()

    async def _beat(self, wire: WsWire) -> None:
        while not wire.closed:
            await asyncio.sleep(self.heartbeat)
            with contextlib.suppress(NetworkError):
                wire.send("[]")

    async def close(self) -> None:
        if self.server is None:
            return
        self.server.close()
        await self.server.wait_closed()
        self.server = None
