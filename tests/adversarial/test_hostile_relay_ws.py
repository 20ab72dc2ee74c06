"""A hostile relay against our client peer: plain ``websockets`` servers in the test.

Why: a peer dials whatever URL it is given. A relay that accepts and hangs up at once must not
make us dial it ten times a second (we backed off only before a handshake, then reset; Gun.js
dials about once per 2 s), and a relay that pours junk frames at us must not stall our loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from gunrtc_kit import Gun, trace

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_relay(handler: Handler) -> AsyncIterator[str]:
    """A websockets server on 127.0.0.1 running ``handler`` per connection; yields its URL.
    It shares the test's loop, so a handler must yield (no compression: cheap to send)."""
    async with serve(
        handler, "127.0.0.1", 0, ping_interval=None, close_timeout=0.5, compression=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/gun"


async def test_a_relay_that_accepts_then_closes_is_dialled_with_a_growing_back_off() -> None:
    """Before: ~10 dials/s (the back-off reset after every handshake). Now it doubles from
    0.1 s to Gun.js's 1998 ms while the relay keeps dropping us: 0.1, 0.3, 0.7, 1.5, 3.1 s
    (+-20 % jitter), so about 5 dials in 3 s."""
    dials: list[float] = []

    async def hang_up(conn: ServerConnection) -> None:
        dials.append(time.monotonic())  # returning closes the connection at once

    async with fake_relay(hang_up) as url:
        gun = await Gun([url]).start()
        try:
            await asyncio.sleep(3.0)  # the thing measured is a rate over time
        finally:
            await gun.close()
    assert 2 <= len(dials) <= 8, f"{len(dials)} dials in 3 s"
    gaps = [b - a for a, b in zip(dials, dials[1:], strict=False)]
    assert gaps == sorted(gaps) or max(gaps) >= 1.0, gaps  # growing, up to the cap


async def test_a_relay_pouring_junk_frames_does_not_stall_our_loop() -> None:
    """Endless junk: bad JSON, batches of a million non-objects, batches of empty objects,
    sent as fast as the socket takes them. Our loop must keep turning (a timer that should
    fire every 10 ms is never late by much), and we send at most one ``!`` per frame."""
    big_numbers = "[" + ",".join(["1"] * 1_000_000) + "]"
    empties = "[" + ",".join(["{}"] * 100_000) + "]"
    sent = 0
    bangs = 0

    async def pour(conn: ServerConnection) -> None:
        nonlocal sent, bangs

        async def count_replies() -> None:
            nonlocal bangs
            async for frame in conn:
                bangs += str(frame).count('"dam":"!"')

        reader = asyncio.create_task(count_replies())
        try:
            while True:
                for frame in ("{bad json", big_numbers, empties, "[1,2,3]"):
                    await conn.send(frame)
                    sent += 1
                    await asyncio.sleep(0)  # share the loop with the peer under test
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            await asyncio.wait([reader])

    async with fake_relay(pour) as url:
        gun = await Gun([url]).start()
        # errors are collected as they come: the history (10,000 events) is soon full of the
        # 100k-element batches' messages and would no longer hold them
        seen: list[trace.Error] = []
        gun.bus.subscribe(lambda e: seen.append(e) if isinstance(e, trace.Error) else None)
        try:
            await gun.wait_connected(5)
            worst = 0.0
            t_end = time.monotonic() + 2.0
            last = time.monotonic()
            while time.monotonic() < t_end:
                await asyncio.sleep(0.01)  # the sampler IS the test: its overshoot is the stall
                now = time.monotonic()
                worst = max(worst, now - last - 0.01)
                last = now
            errors = [e for e in seen if e.peer == url]
        finally:
            await gun.close()
    assert sent > 10, f"the junk relay sent only {sent} frames"
    # one turn of our loop handles at most SLICE messages or one frame's parse (~0.1 s for
    # the 2 MB batch on a shared 2-core machine)
    assert worst < 1.0, f"our loop stalled {worst:.2f} s"  # before slicing: 14.8 s
    assert errors, "junk frames were not reported on the trace"
    assert bangs <= sent, f"{bangs} error replies for {sent} frames"
