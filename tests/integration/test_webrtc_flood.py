"""A room flooded through the relay: made-up announcements and candidates keep coming, and an
honest newcomer still links with the peer under attack. What is asserted are counts: the
pending links one relay connection makes us hold never pass ``max_pending_per_source``, the
cap is reached (and reported as ``trace.Dropped``), the early-candidate store stays within its
bounds. Loopback only (see tests/netns.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from gunrtc_kit import Gun, Relay, WebRTCOptions, trace
from tests.helpers import until
from tests.netns import require_loopback_only

pytestmark = [pytest.mark.asyncio, pytest.mark.webrtc]

ROOM = "flooded"
SOUL = f"/RTC/{ROOM}<?99"


def rtc(room: str | None = ROOM) -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"])


def fake_candidate(i: int) -> dict[str, Any]:
    line = f"candidate:{i} 1 udp 2130706431 127.0.0.1 {10000 + i % 50000} typ host"
    return {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}


async def flood(attacker: Gun, target: Gun, stop: asyncio.Event, count: list[int]) -> int:
    """Made-up pids announced in the room (about 20 a second) and candidates for other made-up
    pids sent to ``target`` as replies to its announcement, until ``stop``; ``count[0]``: the
    announcements so far."""
    assert target.rtc is not None
    sent = 0
    while not stop.is_set():
        fake = f"FAKE{sent:06d}"
        graph = {SOUL: {"_": {"#": SOUL, ">": {"+": attacker.machine()}}, "+": fake}}
        attacker.put_graph(graph, budget=None)
        announced = target.rtc.announce_id
        for j in range(5):
            rtc_ = {"candidate": fake_candidate(sent * 5 + j), "id": f"GHOST{sent:06d}{j}"}
            attacker.mesh.say({"@": announced, "ok": {"rtc": rtc_}})
        sent += 1
        count[0] = sent
        await asyncio.sleep(0.05)  # the flood's pace, not a wait for anything
    return sent


async def test_an_honest_newcomer_links_while_the_room_is_flooded() -> None:
    require_loopback_only()
    relay = await Relay().start()
    a = await Gun([relay.url], rtc=rtc()).start()
    attacker = await Gun([relay.url]).start()
    newcomer: Gun | None = None
    stop = asyncio.Event()
    flooding: asyncio.Task[int] | None = None
    try:
        await a.wait_connected()
        await attacker.wait_connected()
        assert a.rtc is not None
        cap = a.rtc.max_pending_per_source
        slots = a.rtc.options.max_connections
        count = [0]
        flooding = asyncio.create_task(flood(attacker, a, stop, count))
        # the flood has reached the cap on pending links through the relay's connection, and
        # has announced more made-up pids than a has link slots (without the cap, every slot
        # would now be pending for a minute)
        await a.bus.until(
            lambda e: isinstance(e, trace.Dropped) and "max_pending_per_source" in e.reason,
            timeout=30,
            past=True,
        )
        await until(lambda: count[0] > slots + cap, timeout=30)
        newcomer = await Gun([relay.url], rtc=rtc()).start()
        await newcomer.wait_connected()
        assert newcomer.rtc is not None
        await a.rtc.wait_open(newcomer.pid, 30)
        await newcomer.rtc.wait_open(a.pid, 30)
        assert not flooding.done()  # linked during the flood, not after it
        stop.set()
        sent = await flooding
        table = a.rtc.table
        assert sent > cap
        assert 0 < table.pending_high <= cap
        assert table.evicted > 0
        assert len(a.rtc.links) <= cap + 1  # the fakes still pending, and the honest link
        assert len(a.rtc.held.by_pid) <= a.rtc.max_held_pids
        assert a.rtc.held.bytes <= a.rtc.max_held_bytes
        relay_conn = next(p for p in a.mesh.peers.values() if p.transport == "ws")
        assert len(table.pending_from(relay_conn)) <= cap
        # the honest link came through the same relay connection as the flood
        assert a.rtc.links[newcomer.pid].source is relay_conn
        assert a.rtc.links[newcomer.pid].open
        linked = newcomer.rtc
        await until(lambda: a.pid in linked.connected())
    finally:
        stop.set()
        if flooding is not None:
            with contextlib.suppress(Exception):
                await flooding
        if newcomer is not None:
            await newcomer.close()
        await attacker.close()
        await a.close()
        await relay.stop()


async def test_an_offer_nobody_answers_is_dropped_after_its_life(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_loopback_only()
    from gunrtc_kit.webrtc import limits

    monkeypatch.setattr(limits, "UNANSWERED_LIFE", 0.3)
    relay = await Relay().start()
    a = await Gun([relay.url], rtc=rtc()).start()
    attacker = await Gun([relay.url]).start()
    try:
        await a.wait_connected()
        await attacker.wait_connected()
        assert a.rtc is not None
        graph = {SOUL: {"_": {"#": SOUL, ">": {"+": attacker.machine()}}, "+": "NOBODY123"}}
        attacker.put_graph(graph, budget=None)
        gone = await a.bus.until(
            lambda e: (
                isinstance(e, trace.RtcState)
                and e.layer == "link"
                and e.state == "closed"
                and e.detail == "unanswered"
            ),
            timeout=20,
            past=True,
        )
        assert isinstance(gone, trace.RtcState) and gone.peer == "NOBODY123"
        assert "NOBODY123" not in a.rtc.links
    finally:
        await attacker.close()
        await a.close()
        await relay.stop()
