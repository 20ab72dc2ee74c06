"""Our WebSocket client wire against small ``websockets`` servers written in the test.

Why: the client's life cycle (dial, back off, notice a dead relay, hang up) is where tasks
leak and cancellations get lost; each test drives one of those paths to its end, bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

from gunrtc_kit import Gun, GunError, trace
from gunrtc_kit.transport.websocket import RETRY_FIRST, WebSocketClient
from tests.helpers import until

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    """A websockets server on 127.0.0.1 running ``handler`` per connection; yields its URL."""
    async with serve(handler, "127.0.0.1", 0, ping_interval=None, close_timeout=0.5) as s:
        port = next(iter(s.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/gun"


async def mute(conn: ServerConnection) -> None:
    """A relay that accepts, then neither reads nor answers anything (pings, close frames)."""
    conn.transport.pause_reading()
    await conn.wait_closed()  # ends when the test's server closes and cuts it


@contextlib.asynccontextmanager
async def client(gun: Gun, url: str, **kw: float | None) -> AsyncIterator[WebSocketClient]:
    c = WebSocketClient(gun.mesh, url, **kw)  # type: ignore[arg-type]
    c.start()
    try:
        yield c
    finally:
        await c.close()


async def test_keepalive_notices_a_relay_that_went_silent() -> None:
    """Pings with a timeout: a relay that stopped answering is left (``bye``) and redialled,
    instead of being held open forever (no pings before)."""
    async with server(mute) as url, Gun() as gun, client(gun, url, keepalive=0.2) as c:
        await asyncio.wait_for(c.connected.wait(), 5)
        t0 = gun.bus.now()
        bye = await gun.bus.until(lambda e: isinstance(e, trace.Bye) and e.peer == url, 5)
        # a ping every 0.2 s, 0.2 s for its pong, then a close handshake of at most 1 s
        assert bye.t - t0 < 2.5
        await gun.bus.until(lambda e: isinstance(e, trace.Hi) and e.peer == url and e.t > bye.t, 5)


async def test_back_off_starts_over_after_a_connection_that_stayed_up() -> None:
    """A relay that keeps dropping us gets a growing back-off; one that served us for
    ``healthy`` seconds and then went away (a restart) is redialled at once again."""
    dials: list[float] = []
    hold = asyncio.Event()

    async def handler(conn: ServerConnection) -> None:
        dials.append(time.monotonic())
        if hold.is_set():
            await asyncio.sleep(0.5)  # up longer than healthy=0.3

    async with server(handler) as url, Gun() as gun, client(gun, url, healthy=0.3) as c:
        await until(lambda: len(dials) >= 4, 10)  # dropped at once 4 times: back-off grew
        assert c.delay >= 8 * RETRY_FIRST
        hold.set()
        await until(lambda: len(dials) >= 6, 10)
    # the dial after the long-lived connection came after the first back-off step, not the
    # grown one (0.8 s or more by then)
    assert dials[5] - dials[4] < 0.5 + 2 * RETRY_FIRST + 0.3, dials


async def test_close_does_not_swallow_the_callers_cancellation() -> None:
    """``close`` waits for its own task without taking on a cancellation meant for its
    caller (before: ``suppress(CancelledError)`` around the await ate it)."""
    async with server(mute) as url, Gun() as gun:
        c = WebSocketClient(gun.mesh, url)
        c.start()
        await asyncio.wait_for(c.connected.wait(), 5)
        closing = asyncio.create_task(c.close())
        await asyncio.sleep(0.1)  # inside close: the mute relay never answers the close frame
        assert not closing.done()
        closing.cancel()
        await asyncio.wait([closing], timeout=5)
        assert closing.cancelled(), "close() swallowed its caller's cancellation"
        await c.close()  # a second close finishes the job


async def test_close_with_a_relay_that_ignores_the_close_handshake_is_bounded() -> None:
    """Hanging up on a relay that never answers the close frame takes about ``CLOSE_TIMEOUT``
    (1 s; websockets' default was 10 s), and leaves no task behind: the close started by the
    mesh (a sync ``wire.close()``) is kept by the wire and awaited by ``close``."""
    before = asyncio.all_tasks()
    async with server(mute) as url, Gun() as gun:
        c = WebSocketClient(gun.mesh, url)
        c.start()
        await asyncio.wait_for(c.connected.wait(), 5)
        t0 = time.monotonic()
        gun.mesh.disconnect(c.peer)  # what the mesh does to a peer with our own pid
        await c.close()
        took = time.monotonic() - t0
    await asyncio.sleep(0)  # tasks finished by the exits above are collected
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert not left, left
    assert took < 3, f"close took {took:.1f} s"


@pytest.mark.parametrize("bad", [0, -5, 2.5])
async def test_wire_budget_is_checked(bad: float) -> None:
    async with Gun() as gun:
        with pytest.raises(GunError, match="wire_budget"):
            WebSocketClient(gun.mesh, "ws://127.0.0.1:1/gun", wire_budget=bad)  # type: ignore[arg-type]
