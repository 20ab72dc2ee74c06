"""The tap: a transparent WebSocket proxy in front of any Gun relay, recording what passes.

Why: the meshes people debug are not ones we built. Their Gun.js app talks to their relay;
a tap placed in between (clients dial the tap instead of the relay) sees every frame of every
client, and says it on a trace bus the readers already understand (``gunrtc_kit.tap.observe``
says which events and why).

Theory of operation, and why:

- For every client that connects, the tap dials the target with the path and query the client
  asked for (``/gun``, ``/gun?x=1``), then pumps frames both ways, one task per direction.
  Each frame read from one side is written to the other at once, as the same bytes and the same
  kind of frame (text stays text, binary stays binary): websockets hands a text frame over as
  ``str``, decoded from UTF-8 it has already validated, and encoding it again gives the very
  bytes that arrived. Nothing is ever parsed before it is forwarded, and nothing is
  re-serialised: the parse that names the messages for the trace runs after the write (a
  frame over ``THREAD_PARSE`` chars in a worker thread, so the loop keeps forwarding others).
- Writes go straight into the receiver's socket buffer (no outbox, no writer task), so order
  per direction is the order read. A receiver that does not keep up is cut as our relay cuts
  one: when its unsent bytes plus the next frame would pass ``budget`` (one frame always goes
  onto an empty buffer), that frame is not written, the pair is closed (the slow socket
  reset), and the trace says so (``Error``, and ``Dropped`` with cause ``budget`` per
  message of the frame). Never a frame dropped while forwarding goes on: a gap in a stream of
  Gun messages is a lie told to the app. All directions of all pairs together may hold
  ``total_budget`` bytes unsent (the sum is taken only when one holds over ``SHARED_CHECK``),
  so many slow readers cannot each hold a ``budget``.
- A frame over ``max_frame`` bytes (default the relay's ``MAX_WS_FRAME``): websockets refuses
  it whole while reading (close 1009), so nothing of it is forwarded; the pair is closed with
  an ``Error`` and a ``Dropped`` (cause ``frame_too_big``).
- At most ``max_connections`` pairs at once; a client past that is answered HTTP 503 and an
  ``Error`` says so.
- The target refuses, or does not finish its handshake in ``connect_timeout``: the client is
  closed (1014, bad gateway) with an ``Error``. The target (or the client) closes: the other
  side is closed with the same code and reason when that code may be sent, else 1001 (going
  away: the side vanished without a close frame); a cut closes the other side with 1011. Frames
  that could not be written because their receiver had gone are recorded as not delivered
  (``Dropped`` cause ``wire_closed``). Closing is bounded by ``close_timeout``, then sockets
  are cut.
- No pings from the tap (``ping_interval=None`` both ways): Gun's heartbeat is the ``[]``
  frame, which is forwarded like any other; pings the tap answered would hide a dead side.

The tap runs on whatever loop calls ``start``: a Lab can run it on its runtime loop and give it
its bus. Events are emitted on that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.tap.observe import CLIENT, RELAY, Pair, parse
from gunrtc_kit.transport.websocket import (
    CLOSE_TIMEOUT,
    MAX_QUEUE,
    MAX_WS_FRAME,
    SHARED_CHECK,
    THREAD_PARSE,
    TOTAL_BUDGET,
    WIRE_BUDGET,
    normalize_url,
)

__all__ = ["CONNECT_TIMEOUT", "MAX_CONNECTIONS", "FrameHook", "Tap"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds the target may take to accept a client's connection
MAX_CONNECTIONS = 1000  # pairs a tap proxies at once
Conn = ClientConnection | ServerConnection
FrameHook = Callable[[Pair, str, str | bytes], None]
# close codes a peer may send (RFC 6455 7.4): others (1005, 1006, 1015...) are only reported
_SENDABLE = (
    frozenset(range(1000, 1004)) | frozenset(range(1007, 1015)) | frozenset(range(3000, 5000))
)


class _Cut(Exception):
    """A pump ended the pair on purpose: ``why`` says it in words (already on the trace)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Tap:
    """Proxies every client of ``ws://host:port/...`` to ``target``, recording on ``bus``.

    ``target``: the relay's URL (``ws://``, ``wss://`` or ``http(s)://``; its scheme and
    address are used, the path is each client's own). ``bus``: where events go (a Lab gives its
    own; default a fresh ``TraceBus``). ``budget``: bytes one direction may hold unsent for a
    slow receiver before the pair is cut, ``total_budget`` all directions of all pairs together;
    ``max_frame``: the largest frame passed on;
    ``max_connections``: pairs at once; ``connect_timeout``/``close_timeout``: seconds.
    ``await start()`` listens (``port`` is then the real one), ``await stop()`` closes
    everything, bounded. ``pairs`` are the live ``observe.Pair`` s. ``on_frame`` (an attribute,
    None by default) is called with ``(pair, side, raw)`` for each frame right after it was
    forwarded whole: a raw capture, or a test's proof that what arrived is what was sent.
    """

    def __init__(
        self,
        target: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bus: trace.TraceBus | None = None,
        budget: int = WIRE_BUDGET,
        total_budget: int = TOTAL_BUDGET,
        max_frame: int = MAX_WS_FRAME,
        max_connections: int = MAX_CONNECTIONS,
        connect_timeout: float = CONNECT_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        for name, value in (
            ("budget", budget),
            ("total_budget", total_budget),
            ("max_frame", max_frame),
            ("max_connections", max_connections),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise GunError(f"{name}={value!r}, expected an int > 0")
        self.target = normalize_url(target)
        self.host = host
        self.port = port
        self.bus = bus if bus is not None else trace.TraceBus()
        self.budget = budget
        self.total_budget = total_budget
        self.max_frame = max_frame
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        self.pairs: dict[ServerConnection, Pair] = {}
        self.refused = 0  # clients answered 503 (max_connections)
        self._server: Server | None = None
        self._upstreams: set[ClientConnection] = set()
        self.on_frame: FrameHook | None = None
        #: pid -> (side, who) that said it first: a claim of another's pid is not believed
        self.owners: dict[str, tuple[str, str]] = {}

    @property
    def name(self) -> str:
        """How the tap names itself on the trace: ``tap:host:port``."""
        return f"tap:{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """What clients dial instead of the relay: ``ws://host:port`` + the target's path."""
        path = urlsplit(self.target).path or "/gun"
        return f"ws://{self.host}:{self.port}{path}"

    async def start(self) -> Tap:
        """Listen; returns self (``port`` is the real one afterwards)."""
        if self._server is not None:
            return self
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            max_size=self.max_frame,
            process_request=self._admit,
            ping_interval=None,
            close_timeout=self.close_timeout,
            compression=None,
            max_queue=MAX_QUEUE,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and close every pair, in about ``close_timeout`` (then cut)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        closing = asyncio.ensure_future(server.wait_closed())
        try:
            done, _ = await asyncio.wait([closing], timeout=self.close_timeout + 1.0)
            if not done:
                stuck: list[Conn] = [*self.pairs, *self._upstreams]
                for conn in stuck:
                    _reset(conn)
            await closing
        finally:
            if not closing.done():
                closing.cancel()

    # ------------------------------------------------------------------ one client
    def _admit(self, conn: ServerConnection, request: Request) -> Response | None:
        if len(self.pairs) < self.max_connections:
            return None
        self.refused += 1
        text = f"refused a client: {self.max_connections} connections already (max_connections)"
        log.warning("tap %s", text)
        self.bus.emit(trace.Error(self.bus.now(), self.name, _address(conn), error=text))
        return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Gun tap: too many connections\n")

    def _dial_url(self, request_path: str) -> str:
        t = urlsplit(self.target)
        asked = urlsplit(request_path)
        return urlunsplit((t.scheme, t.netloc, asked.path or t.path, asked.query, ""))

    async def _handle(self, conn: ServerConnection) -> None:
        client = _address(conn)
        path = conn.request.path if conn.request is not None else "/gun"
        target = self._dial_url(path)
        here = f"ws://{self.host}:{self.port}{path}"
        pair = Pair(self.bus, self.name, client, here, target, self.owners)
        self.pairs[conn] = pair
        try:
            upstream = await self._dial(conn, pair, target)
            if upstream is None:
                return
            self._upstreams.add(upstream)
            try:
                pair.opened()
                await self._run(conn, upstream, pair)
            finally:
                self._upstreams.discard(upstream)
                pair.closed()
        finally:
            self.pairs.pop(conn, None)

    async def _dial(
        self, conn: ServerConnection, pair: Pair, target: str
    ) -> ClientConnection | None:
        try:
            return await connect(
                target,
                max_size=self.max_frame,
                open_timeout=self.connect_timeout,
                ping_interval=None,
                close_timeout=self.close_timeout,
                compression=None,
                max_queue=MAX_QUEUE,
            )
        except (OSError, WebSocketException, TimeoutError, EOFError) as exc:
            why = (
                f"target {target} did not answer within connect_timeout={self.connect_timeout:g} s"
                if isinstance(exc, TimeoutError)
                else f"target {target} refused: {exc!r}"
            )
            log.warning("tap: %s", why)
            pair.error(CLIENT, why + "; client closed")
            await _close(conn, CloseCode.BAD_GATEWAY, "tap: target unreachable", self.close_timeout)
            return None

    async def _run(self, conn: ServerConnection, upstream: ClientConnection, pair: Pair) -> None:
        up = asyncio.create_task(self._pump(conn, upstream, pair, CLIENT), name="tap up")
        down = asyncio.create_task(self._pump(upstream, conn, pair, RELAY), name="tap down")
        try:
            await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended = [t for t in (up, down) if t.done()]
            for task in (up, down):
                if not task.done():
                    task.cancel()
            await asyncio.wait([up, down])
        code, reason = _ending(ended)
        await asyncio.gather(
            _close(conn, code, reason, self.close_timeout),
            _close(upstream, code, reason, self.close_timeout),
        )

    async def _pump(self, src: Conn, dst: Conn, pair: Pair, side: str) -> tuple[int, str]:
        """Forward ``src``'s frames to ``dst`` until ``src`` closes; returns the close code and
        reason to pass on. Raises ``_Cut`` when the pair must end for a bound."""
        try:
            async for raw in src:
                data = raw.encode() if isinstance(raw, str) else bytes(raw)
                refused = self._refusal(dst, len(data))
                if refused is None:
                    try:
                        broadcast([dst], data, text=isinstance(raw, str), raise_exceptions=True)
                        if self.on_frame is not None:
                            self._hook(pair, side, raw)
                    except ExceptionGroup as group:
                        refused = (
                            trace.DropCause.WIRE_CLOSED,
                            f"write to the {_far(side)} failed: {group.exceptions[0]!r}",
                        )
                await self._record(pair, side, raw, len(data), refused)
                if refused is not None:
                    cause, why = refused
                    if cause is trace.DropCause.BUDGET:
                        _reset(dst)
                        pair.error(_other(side), why)
                        raise _Cut(why)
                    return CloseCode.GOING_AWAY, ""
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                why = f"a frame over max_frame={self.max_frame} bytes, not forwarded"
                log.warning("tap: %s %s", pair.names[side], why)
                pair.error(side, why + "; pair closed")
                self.bus.emit(
                    trace.Dropped(
                        self.bus.now(),
                        pair.names[side],
                        pair.wires[side],
                        reason=why,
                        cause=trace.DropCause.FRAME_TOO_BIG,
                        transport="ws",
                    )
                )
                raise _Cut(why) from None
        rcvd = src.close_code
        if rcvd in _SENDABLE:
            return rcvd, src.close_reason or ""
        return CloseCode.GOING_AWAY, ""  # it vanished (no close frame): the other side goes too

    def _hook(self, pair: Pair, side: str, raw: str | bytes) -> None:
        assert self.on_frame is not None
        try:
            self.on_frame(pair, side, raw)
        except Exception as exc:  # a capture's bug must not cut the app's connection
            log.exception("tap on_frame hook failed")
            pair.error(side, f"on_frame hook failed: {exc!r}")

    def _refusal(self, dst: Conn, size: int) -> tuple[trace.DropCause, str] | None:
        """Why a frame of ``size`` bytes cannot be written to ``dst`` now, or None."""
        if dst.protocol.state is not State.OPEN or dst.transport.is_closing():
            return trace.DropCause.WIRE_CLOSED, "its receiver had closed"
        waiting = dst.transport.get_write_buffer_size()
        if waiting and waiting + size > self.budget:
            return (
                trace.DropCause.BUDGET,
                f"cut: {waiting + size} bytes unsent, over budget={self.budget} "
                "(a reader that does not keep up)",
            )
        if waiting > SHARED_CHECK:
            conns: list[Conn] = [*self.pairs, *self._upstreams]
            used = size + sum(c.transport.get_write_buffer_size() for c in conns)
            if used > self.total_budget:
                return (
                    trace.DropCause.BUDGET,
                    f"cut: {waiting + size} bytes unsent, over total_budget="
                    f"{self.total_budget} ({used} in all; a reader that does not keep up)",
                )
        return None

    async def _record(
        self,
        pair: Pair,
        side: str,
        raw: str | bytes,
        size: int,
        refused: tuple[trace.DropCause, str] | None,
    ) -> None:
        parsed = None
        if isinstance(raw, str):
            if len(raw) > THREAD_PARSE:
                parsed = await asyncio.to_thread(parse, raw, self.max_frame)
            else:
                parsed = parse(raw, self.max_frame)
        cause, why = refused if refused is not None else (None, "")
        pair.frame(side, raw, size, parsed, refused is None, cause, why)


def _other(side: str) -> str:
    return RELAY if side == CLIENT else CLIENT


def _far(side: str) -> str:
    return "relay" if side == CLIENT else "client"


def _address(conn: Conn) -> str:
    addr = conn.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


def _ending(ended: list[asyncio.Task[tuple[int, str]]]) -> tuple[int, str]:
    """The close code and reason to give both sides, from the pumps that had ended (a cut
    first: when one pump cuts a socket, the other may end at the same time reading it)."""
    outcomes = []
    for task in ended:
        exc = None if task.cancelled() else task.exception()  # retrieved, so never "lost"
        outcomes.append((task, exc))
    for _task, exc in outcomes:
        if isinstance(exc, _Cut):
            return CloseCode.INTERNAL_ERROR, _short(f"tap: {exc.why}")
    for task, exc in outcomes:
        if exc is not None:
            log.warning("tap pump failed: %r", exc)
            return CloseCode.INTERNAL_ERROR, "tap: internal error"
        if not task.cancelled():
            return task.result()
    return CloseCode.GOING_AWAY, ""


def _reset(conn: Conn) -> None:
    """Cut ``conn`` with a TCP reset: a plain close would queue its FIN behind the bytes the
    reader never took, so a reader that does not read would not learn it was cut."""
    sock = conn.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.transport.abort()


def _short(reason: str) -> str:
    """A close reason that fits a close frame (123 bytes of UTF-8)."""
    return reason.encode()[:123].decode(errors="ignore")


async def _close(conn: Conn, code: int, reason: str, timeout: float) -> None:
    """Close ``conn`` with ``code``/``reason``, bounded by ``timeout``, then cut it."""
    try:
        async with asyncio.timeout(timeout + 0.5):
            await conn.close(code, reason)
    except TimeoutError:
        _reset(conn)
    with contextlib.suppress(Exception):
        await conn.wait_closed()
