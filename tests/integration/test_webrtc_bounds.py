"""Real aiortc links under races and a stalled far end: a second offer for a pid never leaves
two RTCPeerConnections for it (nor one open and unreferenced after close), hostile offers stop
at max_connections, and a far end that stops reading does not grow our send buffering without
bound. Loopback only (see tests/netns.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiortc
import pytest

from gunrtc_kit import Gun, WebRTCOptions, trace
from tests.helpers import until
from tests.netns import require_loopback_only

pytestmark = [pytest.mark.asyncio, pytest.mark.webrtc]


def rtc(**kw: Any) -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=None, host_addresses=["127.0.0.1"], **kw)


@pytest.fixture
def made_pcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every RTCPeerConnection made during the test (``WebRTCPeer`` looks the class up on
    the ``aiortc`` module each time it makes one)."""
    made: list[Any] = []

    class Counted(aiortc.RTCPeerConnection):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            made.append(self)

    monkeypatch.setattr(aiortc, "RTCPeerConnection", Counted)
    yield made


def still_open(pcs: list[Any]) -> list[Any]:
    return [pc for pc in pcs if pc.connectionState != "closed"]


async def test_second_offer_race_leaves_one_connection_per_pid(made_pcs: list[Any]) -> None:
    require_loopback_only()
    # a's pid sorts above b's: when both offer, b's offer wins and a answers it
    a = await Gun(rtc=rtc(), pid="yyyyyyyyy").start()
    b = await Gun(rtc=rtc(), pid="AAAAAAAAA").start()
    try:
        assert a.rtc is not None and b.rtc is not None
        await a.rtc.create_offer(b.pid)  # a's own offer, pending (glare)
        offer = await b.rtc.create_offer(a.pid)
        # the same offer reaches a twice: the second time just as the connection that a's own
        # offer made is closed for the glare (the window where a link could be overwritten)
        a.rtc.handle_rtc_message({"#": "o1", "ok": {"rtc": {"id": b.pid, "offer": offer}}})
        await a.bus.until(
            lambda e: isinstance(e, trace.RtcState) and e.layer == "pc" and e.state == "closed",
            timeout=10,
            past=True,
        )
        a.rtc.handle_rtc_message({"#": "o2", "ok": {"rtc": {"id": b.pid, "offer": offer}}})
        said = await a.bus.until(
            lambda e: (
                isinstance(e, trace.RtcSignal) and e.step == "answer" and e.direction == "out"
            ),
            timeout=20,
            past=True,
        )
        assert isinstance(said, trace.RtcSignal)
        await b.rtc.accept_answer(a.pid, said.data)
        await a.rtc.wait_open(b.pid, 20)
        await b.rtc.wait_open(a.pid, 20)
        await until(lambda: len(still_open(made_pcs)) == 2, timeout=10)
        mine = {id(a.rtc.links[b.pid].peer.pc), id(b.rtc.links[a.pid].peer.pc)}
        assert {id(pc) for pc in still_open(made_pcs)} == mine
        a.get("after-race").put({"ok": 1})
        await until(lambda: (b.graph.nodes.get("after-race") or {}).get("ok") == 1)
    finally:
        await a.close()
        await b.close()
    assert not still_open(made_pcs)


async def test_offers_from_many_pids_stop_at_max_connections(made_pcs: list[Any]) -> None:
    require_loopback_only()
    a = await Gun(rtc=rtc(max_connections=2)).start()
    b = await Gun(rtc=rtc()).start()
    try:
        assert a.rtc is not None and b.rtc is not None
        offer = await b.rtc.create_offer(a.pid)
        for i in range(40):  # one real offer replayed under 40 invented pids
            a.rtc.handle_rtc_message(
                {"#": f"f{i}", "ok": {"rtc": {"id": f"FAKE{i:05d}", "offer": offer}}}
            )
        await a.bus.until(
            lambda e: (
                isinstance(e, trace.RtcSignal) and e.step == "answer" and e.direction == "out"
            ),
            timeout=20,
            past=True,
        )
        assert len(a.rtc.links) == 2 and a.rtc.refused == 38
        assert len(made_pcs) == 3  # b's one and a's two
    finally:
        await a.close()
        await b.close()
    assert not still_open(made_pcs)


async def test_a_far_end_that_stops_reading_does_not_grow_our_buffers() -> None:
    require_loopback_only()
    high, low, queue_limit = 256 * 1024, 64 * 1024, 20
    a = await Gun(rtc=rtc()).start()
    b = await Gun(rtc=rtc()).start()
    try:
        assert a.rtc is not None and b.rtc is not None
        a.rtc.send_high_water, a.rtc.send_low_water = high, low
        a.mesh.queue_limit = queue_limit
        answer = await b.rtc.accept_offer(a.pid, await a.rtc.create_offer(b.pid))
        await a.rtc.accept_answer(b.pid, answer)
        await a.rtc.wait_open(b.pid, 20)
        await b.rtc.wait_open(a.pid, 20)
        link = a.rtc.links[b.pid]
        assert link.mesh_peer is not None

        async def deaf(data: bytes) -> None:
            """b's SCTP stops taking packets: no data read, no SACK sent."""

        sctp: Any = b.rtc.links[a.pid].peer.pc.sctp
        sctp._handle_data = deaf
        channels = [link.peer.channel, link.peer.remote_channel]
        value = "x" * 8000
        most = 0
        for i in range(400):  # 3.2 MB toward a far end that reads nothing
            a.get(f"flood{i}").put({"v": value})
            buffered = sum(ch.bufferedAmount for ch in channels if ch is not None)
            most = max(most, buffered)
            assert buffered <= high + 9_000, f"{buffered} bytes buffered after {i + 1} puts"
            assert len(link.mesh_peer.queue or ()) <= queue_limit
            if i % 20 == 19:
                await asyncio.sleep(0)  # let aiortc move what it can
        assert most > low  # the far end really stopped
        assert any("queue full" in e.reason for e in a.bus.events(trace.Dropped))
    finally:
        await a.close()
        await b.close()
