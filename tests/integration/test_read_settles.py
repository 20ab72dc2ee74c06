"""A read right after a write sees it even when the writer's clock ran a little ahead: HAM
holds a future state back until our clock gets there (as Gun does), and ``fetch`` waits for
keys of the soul it read that are held back at most ``root.SETTLE_MS`` (a loaded CI run of
``test_set_adds_items_with_fresh_souls`` read one item of two: the second write's state was a
fraction of a millisecond ahead of the reader's clock)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gunrtc_kit import Gun, Relay, root
from tests.helpers import relay_peer

pytestmark = pytest.mark.asyncio


async def reader(relay: Relay, behind_s: float) -> Gun:
    return await relay_peer(relay, clock=lambda: time.time() - behind_s)


async def test_a_write_a_little_ahead_of_the_readers_clock_is_waited_for(relay: Relay) -> None:
    writer = await Gun([relay.url]).start()
    await writer.wait_connected(5)
    late = await reader(relay, 0.04)  # its clock 40 ms behind: the write is 40 ms "ahead"
    try:
        await writer.get("doc").get("title").put("fresh")
        t0 = asyncio.get_running_loop().time()
        assert await late.get("doc").get("title").once(timeout=5) == "fresh"
        took = asyncio.get_running_loop().time() - t0
        assert took < 1.0, took
    finally:
        await writer.close()
        await late.close()


async def test_a_state_far_in_the_future_is_not_waited_for(relay: Relay) -> None:
    writer = await Gun([relay.url]).start()
    await writer.wait_connected(5)
    late = await reader(relay, 5.0)  # 5 s behind: past SETTLE_MS, the read does not wait
    try:
        await writer.get("doc").get("title").put("from the future")
        t0 = asyncio.get_running_loop().time()
        assert await late.get("doc").get("title").once(timeout=5) is None
        assert asyncio.get_running_loop().time() - t0 < 1.0
        assert root.SETTLE_MS < 5000
    finally:
        await writer.close()
        await late.close()
