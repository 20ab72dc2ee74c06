"""Two of our peers link by WebRTC through our relay, sync over the data channel, and keep
syncing after the relay is gone. Loopback only (see tests/netns.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gunrtc_kit import Gun, Relay, WebRTCOptions, trace
from gunrtc_kit.errors import WebRTCError
from gunrtc_kit.webrtc.signaling import candidates_from_sdp
from tests.helpers import until
from tests.netns import require_loopback_only

pytestmark = [pytest.mark.asyncio, pytest.mark.webrtc]


def rtc(room: str | None = "test", **kw: Any) -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"], **kw)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Gun, Gun]]:
    """Two of our peers with WebRTC and no room: linked only by hand."""
    require_loopback_only()
    a = await Gun(rtc=rtc(room=None)).start()
    b = await Gun(rtc=rtc(room=None)).start()
    assert a.rtc is not None and b.rtc is not None
    yield a, b
    await a.close()
    await b.close()


def dc_heard(g: Gun, soul: str) -> bool:
    return any(
        isinstance(e, trace.Heard) and e.transport == "dc" and soul in (e.msg.get("put") or {})
        for e in g.bus.history
    )


async def test_room_discovery_links_and_survives_relay_loss() -> None:
    require_loopback_only()
    relay = await Relay().start()
    a = await Gun([relay.url], rtc=rtc()).start()
    await a.wait_connected()
    await asyncio.sleep(0.2)
    b = await Gun([relay.url], rtc=rtc()).start()
    try:
        await b.wait_connected()
        assert a.rtc is not None and b.rtc is not None
        await a.rtc.wait_open(b.pid, 20)
        await b.rtc.wait_open(a.pid, 20)
        steps = [(e.step, e.direction) for e in a.bus.events(trace.RtcSignal)]
        assert ("offer", "out") in steps and ("answer", "in") in steps  # a was older: offered
        steps_b = [(e.step, e.direction) for e in b.bus.events(trace.RtcSignal)]
        assert ("offer", "in") in steps_b and ("answer", "out") in steps_b
        seen: dict[str, Any] = {}
        b.get("rtc/chat").map().on(lambda v, k: seen.__setitem__(k, v))
        await a.get("rtc/chat").get("m1").put({"t": "over dc"})
        await until(lambda: seen.get("m1") == {"t": "over dc"})
        assert dc_heard(b, "rtc/chat") or dc_heard(b, "rtc/chat/m1")
        await relay.stop()
        await until(lambda: not any(p.transport == "ws" and p.met for p in a.mesh.peers.values()))
        a.get("rtc/chat").get("m2").put({"t": "relay gone"})
        await until(lambda: seen.get("m2") == {"t": "relay gone"})
        assert a.rtc.send_message(b.pid, '{"#":"direct1","dam":"hi"}') == "dc"
    finally:
        await a.close()
        await b.close()
        await relay.stop()


async def test_manual_signalling_step_by_step(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    assert a.rtc is not None and b.rtc is not None
    offer = await a.rtc.create_offer(b.pid)
    assert offer["type"] == "offer" and "a=candidate:" in offer["sdp"]
    assert "127.0.0.1" in offer["sdp"]
    answer = await b.rtc.accept_offer(a.pid, offer)
    assert answer["type"] == "answer"
    await a.rtc.accept_answer(b.pid, answer)
    await a.rtc.wait_open(b.pid, 20)
    await b.rtc.wait_open(a.pid, 20)
    a.get("manual").put({"x": 1})  # no store on b: nobody acks, the data still syncs
    await until(lambda: (b.graph.nodes.get("manual") or {}).get("x") == 1)
    with pytest.raises(WebRTCError):
        await b.rtc.accept_answer(a.pid, answer)  # b made no offer


async def test_bad_signalling_is_reported_and_links_survive() -> None:
    require_loopback_only()
    a = await Gun(rtc=rtc(room=None, max_connections=1)).start()
    b = await Gun(rtc=rtc(room=None)).start()
    try:
        assert a.rtc is not None and b.rtc is not None
        answer = await b.rtc.accept_offer(a.pid, await a.rtc.create_offer(b.pid))
        await a.rtc.accept_answer(b.pid, answer)
        await a.rtc.wait_open(b.pid, 20)
        bad = [
            {
                "#": "x1",
                "ok": {"rtc": {"id": "ZZZZZZZZZ", "offer": {"type": "offer", "sdp": "not sdp"}}},
            },
            {
                "#": "x2",
                "ok": {
                    "rtc": {
                        "id": "QQQQQQQQQ",
                        "candidate": {
                            "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                            "sdpMid": "0",
                            "sdpMLineIndex": 0,
                        },
                    }
                },
            },
            {
                "#": "x3",
                "ok": {"rtc": {"id": "WWWWWWWWW", "answer": {"type": "answer", "sdp": "v=0"}}},
            },
            {"#": "x4", "ok": {"rtc": {"id": a.pid, "offer": {"type": "offer", "sdp": ""}}}},
        ]
        for m in bad:
            a.rtc.handle_rtc_message(m)
        refusals = ("max_connections=1", "unknown peer QQQQQQQQQ", "made it no offer", "our own")
        await until(
            lambda: all(
                r in " | ".join(e.error for e in a.bus.events(trace.Error)) for r in refusals
            )
        )
        errors = " | ".join(e.error for e in a.bus.events(trace.Error))
        assert "max_connections=1" in errors  # the bogus offer was refused: a already has one
        assert "unknown peer QQQQQQQQQ" in errors
        assert "made it no offer" in errors
        assert "our own pid" in errors
        # the existing link still carries data
        a.get("after-bad").put({"ok": True})
        await until(lambda: (b.graph.nodes.get("after-bad") or {}).get("ok") is True)
    finally:
        await a.close()
        await b.close()


async def test_candidates_trickled_in_gun_format_are_enough(pair: tuple[Gun, Gun]) -> None:
    """Strip every candidate from the SDPs and send them one by one, as browsers do."""
    a, b = pair
    assert a.rtc is not None and b.rtc is not None
    offer = await a.rtc.create_offer(b.pid)
    cands = candidates_from_sdp(offer["sdp"])
    assert cands and all(c["candidate"].startswith("candidate:") for c in cands)
    assert all("127.0.0.1" in c["candidate"] for c in cands)
    bare = {"type": "offer", "sdp": strip_candidates(offer["sdp"])}
    answer = await b.rtc.accept_offer(a.pid, bare)
    for c in cands:
        await b.rtc.add_candidate(a.pid, c)
    back = candidates_from_sdp(answer["sdp"])
    await a.rtc.accept_answer(b.pid, {"type": "answer", "sdp": strip_candidates(answer["sdp"])})
    for c in back:
        await a.rtc.add_candidate(b.pid, c)
    await a.rtc.wait_open(b.pid, 20)
    await b.rtc.wait_open(a.pid, 20)


def strip_candidates(sdp: str) -> str:
    return "".join(
        line + "\r\n"
        for line in sdp.splitlines()
        if not line.startswith("a=candidate:") and not line.startswith("a=end-of-candidates")
    )


async def test_pending_link_is_dropped_after_the_timeout() -> None:
    require_loopback_only()
    a = await Gun(rtc=rtc(room=None)).start()
    try:
        assert a.rtc is not None
        a.rtc.pending_timeout = 0.5  # gun's is 60 s
        await a.rtc.create_offer("NOBODY123")
        assert "NOBODY123" in a.rtc.links
        links = a.rtc.links
        await until(lambda: "NOBODY123" not in links, 5)
        assert any("did not open" in e.error for e in a.bus.events(trace.Error))
        assert [e.state for e in a.bus.events(trace.RtcState)][-1] == "closed"
    finally:
        await a.close()


async def test_invalid_offer_sdp_is_an_error_event() -> None:
    require_loopback_only()
    b = await Gun(rtc=rtc(room=None)).start()
    try:
        assert b.rtc is not None
        b.rtc.handle_rtc_message(
            {
                "#": "x1",
                "ok": {"rtc": {"id": "ZZZZZZZZZ", "offer": {"type": "offer", "sdp": "not sdp"}}},
            }
        )
        await b.bus.until(
            lambda e: isinstance(e, trace.Error) and "bad offer from ZZZZZZZZZ" in e.error,
            5,
            past=True,
        )
        assert "ZZZZZZZZZ" not in b.rtc.links
        with pytest.raises(WebRTCError):
            await b.rtc.accept_offer("YYYYYYYYY", {"type": "offer", "sdp": "v=0\r\nbroken"})
    finally:
        await b.close()


async def test_peers_joining_at_once_all_link() -> None:
    """Four peers join a room back to back: every pair links (stale announcements and
    crossing offers must not leave a pair without a link)."""
    require_loopback_only()
    relay = await Relay().start()
    peers = [await Gun([relay.url], rtc=rtc("crowd")).start() for _ in range(4)]
    try:
        for i, a in enumerate(peers):
            for b in peers[i + 1 :]:
                assert a.rtc is not None and b.rtc is not None
                await a.rtc.wait_open(b.pid, 20)
                await b.rtc.wait_open(a.pid, 20)
        assert all(len(p.rtc.connected()) == 3 for p in peers if p.rtc)
    finally:
        for p in peers:
            await p.close()
        await relay.stop()
