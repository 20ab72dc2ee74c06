"""A hostile relay against our peer: an endless ``%`` chunk chain, a flood of unsolicited
souls, replies to nothing. The peer stays bounded, keeps working, and closes at once
(hardening issue items 7 and 8)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from gunrtc_kit import Gun, root, trace
from gunrtc_kit.core.ids import random_id
from tests.adversarial.hostile import messages

pytestmark = pytest.mark.asyncio

Behaviour = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def hostile_relay(behaviour: Behaviour) -> AsyncIterator[str]:
    """A WebSocket server on 127.0.0.1 that runs ``behaviour`` for each connection."""

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            await behaviour(ws)

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/gun"


def node(soul: str, **kv: Any) -> dict[str, Any]:
    st = time.time() * 1000
    return {soul: {"_": {"#": soul, ">": {k: st for k in kv}}, **kv}}


async def endless_chunks(ws: ServerConnection) -> None:
    """Answer every GET with a chunk chain that never ends, each chunk a new soul."""
    async for frame in ws:
        for m in messages(frame):
            if "get" in m:
                i = 0
                while True:
                    i += 1
                    nxt = random_id(9)
                    await ws.send(
                        json.dumps(
                            {
                                "#": random_id(9),
                                "@": m["#"],
                                "%": nxt,
                                "put": node(f"chain/{i}", v="x" * 200),
                            }
                        )
                    )
                    if i % 50 == 0:
                        await asyncio.sleep(0)  # a loop turn: the flood yields, as a socket would


FLOOD_ERRS: list[str] = []  # what our peer answered the flood with


async def soul_flood(ws: ServerConnection) -> None:
    """Push puts of new souls, unasked, as fast as the socket takes them (and note the errors
    our peer sends back)."""

    async def read() -> None:
        async for frame in ws:
            FLOOD_ERRS.extend(str(m.get("err")) for m in messages(frame) if m.get("err"))

    reader = asyncio.ensure_future(read())
    i = 0
    try:
        while True:
            batch = [{"#": random_id(9), "put": node(f"flood/{i + j}", v=i + j)} for j in range(50)]
            i += 50
            await ws.send(json.dumps(batch))
            await asyncio.sleep(0)  # a loop turn: the flood yields, as a socket would
    finally:
        reader.cancel()
        await asyncio.wait([reader])


async def test_an_endless_chunk_chain_is_stopped_and_close_is_prompt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_REPLY_CHUNKS", 300)
    async with hostile_relay(endless_chunks) as url:
        gun = await Gun([url], max_nodes=2000).start()
        try:
            await gun.wait_connected()
            read = asyncio.ensure_future(gun.get("anything").once(timeout=8.0))
            stopped = await gun.bus.until(
                lambda e: isinstance(e, trace.Error) and "stopped following" in e.error,
                10,
                past=True,
            )
            assert stopped.msg_id
            at_stop = len(gun.graph.nodes)
            await gun.bus.until(
                lambda e: isinstance(e, trace.Dropped) and "past MAX_REPLY_CHUNKS" in e.reason,
                10,
            )
            assert len(gun.graph.nodes) == at_stop <= 301  # the tail is not merged
            read.cancel()
            await asyncio.wait([read])
        finally:
            t0 = time.perf_counter()
            await gun.close()
            took = time.perf_counter() - t0
        assert took < 2.0, f"close() took {took:.1f} s"


async def test_a_flood_of_unsolicited_souls_stops_at_max_nodes() -> None:
    async with hostile_relay(soul_flood) as url:
        gun = await Gun([url], max_nodes=1000).start()
        try:
            await gun.wait_connected()
            await gun.bus.until(
                lambda e: isinstance(e, trace.Error) and "graph full" in e.error, 10
            )
            await asyncio.sleep(0.3)  # the flood goes on
            assert len(gun.graph.nodes) == 1000
            assert any("graph full (max_nodes=1000)" in e for e in FLOOD_ERRS)  # told the sender
            # and the peer still works: a local write is taken
            gun.get("mine").put({"ok": True})
            assert gun.graph.nodes["mine"]["ok"] is True
        finally:
            await gun.close()
