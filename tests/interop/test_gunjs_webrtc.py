"""WebRTC links between our peers and real Gun.js WebRTC peers (npm gun's lib/webrtc on
@roamhq/wrtc), both directions, syncing over the data channel and after the relay is gone.
Loopback only: these run inside a network namespace that has nothing but lo."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gunrtc_kit import Gun, Relay, WebRTCOptions, trace
from tests.helpers import until
from tests.interop.gunjs import GunJsRtcPeer
from tests.netns import require_loopback_only

pytestmark = [pytest.mark.asyncio, pytest.mark.interop, pytest.mark.webrtc]


def rtc(room: str) -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"])


def heard_over_dc(g: Gun, soul: str) -> bool:
    return any(
        isinstance(e, trace.Heard) and e.transport == "dc" and soul in (e.msg.get("put") or {})
        for e in g.bus.history
    )


async def exchange_and_kill_relay(py: Gun, js: GunJsRtcPeer, relay: Relay, soul: str) -> None:
    assert py.rtc is not None
    await py.rtc.wait_open(js.pid, 20)
    await js.wait_rtc_hi(20)
    seen: dict[str, Any] = {}
    py.get(soul).map().on(lambda v, k: seen.__setitem__(k, v))
    await js.on(soul)
    await asyncio.sleep(0.3)
    py.get(soul).put({"fromPy": "hello js"})
    assert await js.wait_data(soul, "fromPy") == "hello js"
    await js.put(soul, {"fromJs": "hello py"})
    await until(lambda: seen.get("fromJs") == "hello py")
    assert heard_over_dc(py, soul)
    await relay.stop()
    await until(lambda: not any(p.transport == "ws" and p.met for p in py.mesh.peers.values()))
    py.get(soul).put({"afterRelay": 1})
    assert await js.wait_data(soul, "afterRelay") == 1
    await js.put(soul, {"afterRelayJs": 2}, ack=False)  # no storage peer left to ack
    await until(lambda: seen.get("afterRelayJs") == 2)


async def test_gunjs_offers_and_we_answer() -> None:
    require_loopback_only()
    relay = await Relay().start()
    http = relay.url.replace("ws://", "http://")
    async with GunJsRtcPeer(http, "room1") as js:
        await js.on("warmup")  # the Gun.js client dials its relay lazily
        await js.wait_hi()
        await asyncio.sleep(0.5)  # Gun.js announced first: it is the older peer, it offers
        py = await Gun([relay.url], rtc=rtc("room1")).start()
        try:
            await exchange_and_kill_relay(py, js, relay, "rtc/interop1")
            steps = [(e.step, e.direction) for e in py.bus.events(trace.RtcSignal)]
            assert ("offer", "in") in steps and ("answer", "out") in steps
        finally:
            await py.close()
    await relay.stop()


async def test_we_offer_and_gunjs_answers() -> None:
    require_loopback_only()
    relay = await Relay().start()
    http = relay.url.replace("ws://", "http://")
    py = await Gun([relay.url], rtc=rtc("room2")).start()
    try:
        await py.wait_connected()
        await asyncio.sleep(0.3)
        async with GunJsRtcPeer(http, "room2") as js:
            await js.on("warmup")
            await exchange_and_kill_relay(py, js, relay, "rtc/interop2")
            steps = [(e.step, e.direction) for e in py.bus.events(trace.RtcSignal)]
            assert ("offer", "out") in steps and ("answer", "in") in steps
    finally:
        await py.close()
        await relay.stop()
