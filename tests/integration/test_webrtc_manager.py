"""The WebRTC manager under hostile signalling, with no network: every map a remote can grow
stays under its limit (and expires), a second offer never leaves two connections for one pid,
the room announcement keeps its put's own ack listener, and a channel whose far end stops
reading does not grow our send buffering. Links use ``FakePeer`` (no RTCPeerConnection, no
sockets) except in the send tests, which use a real but never-connected ``WebRTCPeer``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from gunrtc_kit import Gun, WebRTCOptions, trace
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import NetworkError, WebRTCError
from gunrtc_kit.webrtc import limits
from gunrtc_kit.webrtc import manager as manager_mod
from gunrtc_kit.webrtc.manager import WebRTCManager
from gunrtc_kit.webrtc.peer import WebRTCPeer
from tests.helpers import RecordingWire, until

pytestmark = pytest.mark.asyncio

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP x\r\n"


def rtc(room: str | None = None, **kw: Any) -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"], **kw)


def cand(i: int) -> dict[str, Any]:
    return {
        "candidate": f"candidate:{i} 1 udp 2122260223 127.0.0.1 {10000 + i} typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


def msg(pid: str, **rtc_fields: Any) -> dict[str, Any]:
    return {"#": f"m{id(rtc_fields)}", "ok": {"rtc": {"id": pid, **rtc_fields}}}


class FakePeer:
    """Stands in for ``WebRTCPeer``: no aiortc. ``close`` yields to the loop, as aiortc's does,
    so that code awaiting it can be overtaken by other tasks."""

    made: list[FakePeer] = []

    def __init__(self, remote_pid: str, options: WebRTCOptions, **kw: Any) -> None:
        self.remote_pid = remote_pid
        self.on_open: Callable[[], None] = kw["on_open"]
        self.on_close: Callable[[], None] = kw["on_close"]
        self.on_writable: Callable[[], None] | None = kw.get("on_writable")
        self.closed = False
        self.remote: Any = None
        self.candidates: list[Any] = []
        self.frames: list[str] = []
        self.writable = True
        FakePeer.made.append(self)

    async def create_offer(self) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "offer", "sdp": SDP}

    async def create_answer(self) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "answer", "sdp": SDP}

    async def set_remote_description(self, desc: Any) -> None:
        await asyncio.sleep(0)
        self.remote = desc

    async def add_ice_candidate(self, c: Any) -> None:
        self.candidates.append(c)

    def send(self, text: str) -> None:
        if not self.writable:
            raise NetworkError("buffer full")
        self.frames.append(text)

    async def close(self) -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if not self.closed:
            self.closed = True
            self.on_close()


@pytest.fixture
def fake_peers(monkeypatch: pytest.MonkeyPatch) -> list[FakePeer]:
    FakePeer.made = []
    monkeypatch.setattr(manager_mod, "WebRTCPeer", FakePeer)
    return FakePeer.made


@pytest.fixture
async def gun() -> AsyncIterator[Gun]:
    g = await Gun(rtc=rtc(), pid="MMMMMMMMM").start()
    yield g
    await g.close()


def mgr(g: Gun) -> WebRTCManager:
    assert g.rtc is not None
    return g.rtc


async def settle(g: Gun) -> None:
    """Wait (bounded) until every task the root owns has finished, new ones included."""
    async with asyncio.timeout(5):
        while g._tasks:
            await asyncio.wait(set(g._tasks))


def dropped(g: Gun, text: str) -> list[trace.Dropped]:
    return [e for e in g.bus.events(trace.Dropped) if text in e.reason]


def maps_of(m: WebRTCManager) -> list[dict[Any, Any]]:
    return [v for v in vars(m).values() if isinstance(v, dict)]


# ---------------------------------------------------------------- bounds


async def test_candidates_from_many_unknown_pids_stay_bounded(gun: Gun) -> None:
    m = mgr(gun)
    for i in range(2000):
        m.handle_rtc_message(msg(f"FAKE{i:05d}", candidate=cand(i)))
    for i in range(500):
        m.handle_rtc_message(msg("ONEPID000", candidate=cand(i)))
    await settle(gun)
    held: dict[str, list[Any]] = m._held
    assert 0 < len(held) <= 100  # 2000 pids named: a small map all the same
    assert len(held) <= m.max_held_pids
    assert all(len(v) <= m.max_held_candidates for v in held.values())
    assert m._held_bytes <= m.max_held_bytes
    assert m._held_bytes == sum(h[2] for v in held.values() for h in v)
    assert dropped(gun, "max_held_pids")
    assert dropped(gun, "max_held_candidates")


async def test_held_candidates_and_announcements_expire(
    gun: Gun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "HELD_CANDIDATES_LIFE", 0.05)
    monkeypatch.setattr(limits, "ROUTE_LIFE", 0.05)
    monkeypatch.setattr(limits, "SWEEP_EVERY", 0.05)
    m = mgr(gun)
    m.start_state = float("inf")  # every announcement is "old": remembered, never offered to
    for i in range(10):
        m.handle_rtc_message(msg(f"FAKE{i:05d}", candidate=cand(i)))
        m._on_room("/RTC/x<?99", {"_": {">": {"+": 1}}, "+": f"ANN{i:06d}"}, {"#": f"a{i}"})
    await settle(gun)
    assert m._held and m._announced
    await until(lambda: not m._held and not m._announced, timeout=5)
    assert m._held_bytes == 0


async def test_announcements_from_many_pids_stay_bounded(gun: Gun) -> None:
    m = mgr(gun)
    m.start_state = float("inf")
    for i in range(3000):
        m._on_room("/RTC/x<?99", {"_": {">": {"+": 1}}, "+": f"ANN{i:06d}"}, {"#": f"a{i}"})
    assert len(m._announced) <= 1000
    assert len(m._announced) <= m.max_announced
    assert "ANN002999" in m._announced  # the newest is kept, the oldest go
    assert dropped(gun, "max_announced")
    assert not m.links


async def test_junk_offers_from_many_pids_make_no_connection(gun: Gun) -> None:
    m = mgr(gun)
    for i in range(200):
        m.handle_rtc_message(msg(f"OFF{i:06d}", offer={"type": "offer", "sdp": "junk"}))
    await settle(gun)
    assert not m.links
    assert not gun.bus.events(trace.RtcState)  # no RTCPeerConnection was ever made
    assert len([e for e in gun.bus.events(trace.Error) if "bad offer" in e.error]) == 200


async def test_valid_offers_from_many_pids_stop_at_max_connections(
    fake_peers: list[FakePeer],
) -> None:
    g = await Gun(rtc=rtc(max_connections=3), pid="MMMMMMMMM").start()
    try:
        m = mgr(g)
        for i in range(100):
            m.handle_rtc_message(msg(f"OFF{i:06d}", offer={"type": "offer", "sdp": SDP}))
        await settle(g)
        assert len(m.links) == 3 and len(fake_peers) == 3
        assert m.refused == 97
    finally:
        await g.close()
    assert all(p.closed for p in fake_peers)


async def test_candidates_for_one_link_are_bounded(gun: Gun, fake_peers: list[FakePeer]) -> None:
    m = mgr(gun)
    for i in range(30):  # early: before the offer, held for it
        m.handle_rtc_message(msg("AAAAAAAAA", candidate=cand(i)))
    m.handle_rtc_message(
        {"#": "o1", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": {"type": "offer", "sdp": SDP}}}}
    )
    for i in range(30, 1000):
        m.handle_rtc_message(msg("AAAAAAAAA", candidate=cand(i)))
    await settle(gun)
    (peer,) = fake_peers
    assert len(peer.candidates) <= 100
    assert len(peer.candidates) == m.max_link_candidates
    assert dropped(gun, "max_link_candidates")
    assert "AAAAAAAAA" not in m._held


async def test_oversized_candidate_is_dropped(gun: Gun) -> None:
    m = mgr(gun)
    big = cand(1)
    big["candidate"] += " x" * 5000
    m.handle_rtc_message(msg("BIGBIGBIG", candidate=big))
    await settle(gun)
    assert not m._held
    assert dropped(gun, "MAX_CANDIDATE_CHARS")


async def test_wait_open_timeout_leaves_nothing_behind(gun: Gun) -> None:
    m = mgr(gun)
    for i in range(50):
        with pytest.raises(WebRTCError):
            await m.wait_open(f"NOPE{i:05d}", 0.001)
    assert not any(any(str(k).startswith("NOPE") for k in d) for d in maps_of(m))


# ---------------------------------------------------------------- one link per pid


async def test_second_offer_during_glare_leaves_one_connection(
    fake_peers: list[FakePeer],
) -> None:
    g = await Gun(rtc=rtc(), pid="ZZZZZZZZZ").start()  # our pid is higher: theirs wins glare
    try:
        m = mgr(g)
        await m.create_offer("AAAAAAAAA")  # our offer, pending
        offer = {"type": "offer", "sdp": SDP}
        m.handle_rtc_message({"#": "o1", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": offer}}})
        m.handle_rtc_message({"#": "o2", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": offer}}})
        await settle(g)
        live = [p for p in fake_peers if not p.closed]
        assert len(live) == 1
        assert m.links.get("AAAAAAAAA") is not None
        assert m.links["AAAAAAAAA"].peer is cast(Any, live[0])
        assert m.links["AAAAAAAAA"].role == "answerer"
        assert any("while a link with it is pending" in e.error for e in g.bus.events(trace.Error))
    finally:
        await g.close()
    assert all(p.closed for p in fake_peers)


async def test_offer_for_an_open_link_is_ignored(gun: Gun, fake_peers: list[FakePeer]) -> None:
    m = mgr(gun)
    offer = {"type": "offer", "sdp": SDP}
    m.handle_rtc_message({"#": "o1", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": offer}}})
    await settle(gun)
    fake_peers[0].on_open()
    assert m.connected() == ["AAAAAAAAA"]
    m.handle_rtc_message({"#": "o2", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": offer}}})
    await settle(gun)
    assert len(fake_peers) == 1 and not fake_peers[0].closed
    assert m.connected() == ["AAAAAAAAA"]


async def test_stale_close_callback_does_not_drop_the_new_link(
    gun: Gun, fake_peers: list[FakePeer]
) -> None:
    m = mgr(gun)
    offer = {"type": "offer", "sdp": SDP}
    m.handle_rtc_message({"#": "o1", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": offer}}})
    await settle(gun)
    first = m.links["AAAAAAAAA"]
    await m.drop("AAAAAAAAA")
    m.handle_rtc_message({"#": "o2", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": offer}}})
    await settle(gun)
    second = m.links["AAAAAAAAA"]
    assert second is not first
    cast(FakePeer, first.peer).on_close()  # a late close event from the first connection
    first.mesh_peer.wire.close()  # type: ignore[union-attr]
    await settle(gun)
    assert m.links.get("AAAAAAAAA") is second


async def test_close_cancels_signalling_and_closes_every_connection(
    fake_peers: list[FakePeer], monkeypatch: pytest.MonkeyPatch
) -> None:
    never = asyncio.Event()

    async def stuck(self: FakePeer) -> dict[str, Any]:
        await never.wait()  # an answer that never comes (ICE gathering that hangs)
        raise AssertionError("unreachable")

    monkeypatch.setattr(FakePeer, "create_answer", stuck)
    g = await Gun(rtc=rtc(), pid="MMMMMMMMM").start()
    try:
        m = mgr(g)
        offer = {"type": "offer", "sdp": SDP}
        for i in range(5):
            m.handle_rtc_message({"#": f"o{i}", "ok": {"rtc": {"id": f"P{i:08d}", "offer": offer}}})
        await until(lambda: len([p for p in fake_peers if p.remote is not None]) == 5, 5)
        await m.close()  # the manager's own close: its tasks end with it, not later
        left = [t for t in asyncio.all_tasks() if t.get_name().startswith("answer ")]
        assert not left, left
        assert not m.links and len(fake_peers) == 5
        assert all(p.closed for p in fake_peers)
    finally:
        await g.close()


# ---------------------------------------------------------------- the announcement's ack


async def test_announce_keeps_the_puts_ack_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    g = Gun(rtc=rtc(room="r1"), pid="MMMMMMMMM")
    results: list[Any] = []
    put_graph = g.put_graph

    def spy(*a: Any, **kw: Any) -> Any:
        r = put_graph(*a, **kw)
        results.append(r)
        return r

    monkeypatch.setattr(g, "put_graph", spy)
    await g.start()
    try:
        m = mgr(g)
        wire = RecordingWire()
        relay = MeshPeer(id="relay", wire=wire)
        g.mesh.hi(relay)
        m.announce()  # again, now that a peer hears it (replies come from peers it went to)
        put = results[-1]
        assert put.id == m.announce_id and len(results) == 2
        g.mesh.hear(json.dumps({"#": "ack000001", "@": put.id, "ok": 1}), relay)
        async with asyncio.timeout(2):
            reply = await put
        assert reply["ok"] == 1
        # the manager listens on the announcement's id from then on
        await until(lambda: m.announce_id in g._asks, timeout=2)
        junk = {"type": "offer", "sdp": "junk"}
        g.mesh.hear(
            json.dumps(
                {"#": "off000001", "@": put.id, "ok": {"rtc": {"id": "OTHER0001", "offer": junk}}}
            ),
            relay,
        )
        assert any("bad offer from OTHER0001" in e.error for e in g.bus.events(trace.Error))
    finally:
        await g.close()


async def test_offer_that_settles_the_announcement_is_handled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    g = await Gun(rtc=rtc(room="r2"), pid="MMMMMMMMM").start()
    try:
        m = mgr(g)
        relay = MeshPeer(id="relay", wire=RecordingWire())
        g.mesh.hi(relay)
        m.announce()
        junk = {"type": "offer", "sdp": "junk"}
        g.mesh.hear(
            json.dumps(
                {
                    "#": "off000002",
                    "@": m.announce_id,
                    "ok": {"rtc": {"id": "OTHER0002", "offer": junk}},
                }
            ),
            relay,
        )
        await g.bus.until(
            lambda e: isinstance(e, trace.Error) and "bad offer from OTHER0002" in e.error,
            timeout=2,
            past=True,
        )
    finally:
        await g.close()


# ---------------------------------------------------------------- sending


class StalledChannel:
    """A data channel whose far end stopped reading: what is sent stays buffered."""

    readyState = "open"

    def __init__(self) -> None:
        self.bufferedAmount = 0
        self.bufferedAmountLowThreshold = 0
        self.handlers: dict[str, Callable[[], None]] = {}

    def on(self, event: str, fn: Callable[[], None]) -> None:
        self.handlers[event] = fn

    def send(self, text: str) -> None:
        self.bufferedAmount += len(text.encode())

    def drain(self) -> None:
        low = self.bufferedAmount > self.bufferedAmountLowThreshold
        self.bufferedAmount = 0
        if low and "bufferedamountlow" in self.handlers:
            self.handlers["bufferedamountlow"]()


async def test_send_to_a_stalled_far_end_is_bounded() -> None:
    writable: list[int] = []
    peer = WebRTCPeer(
        "FARFARFAR",
        rtc(),
        on_message=lambda _: None,
        on_open=lambda: None,
        on_close=lambda: None,
    )
    try:
        ch = StalledChannel()
        peer.channel = cast(Any, ch)
        peer._watch(ch, "local")
        frame = "x" * 10_000
        refused = 0
        for _ in range(1000):  # 10 MB at a far end that reads nothing
            try:
                peer.send(frame)
            except NetworkError:
                refused += 1
        assert ch.bufferedAmount <= peer.high_water + len(frame)
        assert refused > 0 and peer.refused_sends == refused
        peer._on_writable = lambda: writable.append(1)
        ch.drain()  # the far end reads again
        assert writable == [1]
        peer.send(frame)
    finally:
        await peer.close()


async def test_mesh_queue_drains_when_the_channel_is_writable_again(
    gun: Gun, fake_peers: list[FakePeer]
) -> None:
    m = mgr(gun)
    offer = {"type": "offer", "sdp": SDP}
    m.handle_rtc_message({"#": "o1", "ok": {"rtc": {"id": "AAAAAAAAA", "offer": offer}}})
    await settle(gun)
    (peer,) = fake_peers
    peer.on_open()
    mesh_peer = m.links["AAAAAAAAA"].mesh_peer
    assert mesh_peer is not None
    peer.writable = False
    for i in range(5):
        gun.mesh.say({"#": f"q{i}", "dam": "x"}, mesh_peer)
        gun.mesh.flush(mesh_peer)
    assert mesh_peer.queue and not peer.frames
    peer.writable = True
    assert peer.on_writable is not None
    peer.on_writable()
    assert not mesh_peer.queue and peer.frames


async def test_an_offer_in_the_same_frame_as_the_ack_is_not_lost() -> None:
    g = await Gun(rtc=rtc(room="r3"), pid="MMMMMMMMM").start()
    try:
        m = mgr(g)
        relay = MeshPeer(id="relay", wire=RecordingWire())
        g.mesh.hi(relay)
        m.announce()
        aid = m.announce_id
        junk = {"type": "offer", "sdp": "junk"}
        frame = [
            {"#": "ack000003", "@": aid, "ok": 1},
            {"#": "off000003", "@": aid, "ok": {"rtc": {"id": "OTHER0003", "offer": junk}}},
        ]
        g.mesh.hear(json.dumps(frame), relay)  # one turn: the ack, then an offer
        await g.bus.until(
            lambda e: isinstance(e, trace.Error) and "bad offer from OTHER0003" in e.error,
            timeout=2,
            past=True,
        )
    finally:
        await g.close()


async def test_glare_we_win_sends_our_offer_again_on_the_way_theirs_came(
    fake_peers: list[FakePeer],
) -> None:
    """Our offer answered an announcement we learned from a relay's GET answer: its route ends
    at the relay, which drops it. Their offer (a reply to our announcement) then arrives; our
    pid is the lower, so ours stands, and it goes again as a reply to theirs (a way that works)
    instead of both sides waiting on each other for 60 s (seen as a flaky 4-peer test)."""
    g = await Gun(rtc=rtc(room="r9"), pid="AAAAAAAAA").start()
    try:
        m = mgr(g)
        wire = RecordingWire()
        relay = MeshPeer(id="relay", wire=wire)
        g.mesh.hi(relay)
        m.announce()
        m._start_offer("ZZZZZZZZZ", "annZ00001")  # lost at the relay (a reply to its own reply)
        await settle(g)
        ours = m.links["ZZZZZZZZZ"]
        their = {"type": "offer", "sdp": SDP}
        g.mesh.hear(
            json.dumps(
                {
                    "#": "zoff00001",
                    "@": m.announce_id,
                    "ok": {"rtc": {"id": "ZZZZZZZZZ", "offer": their}},
                }
            ),
            relay,
        )
        await settle(g)
        g.mesh.flush_all()
        again = [
            x
            for x in wire.messages()
            if x.get("@") == "zoff00001" and "offer" in (x.get("ok") or {}).get("rtc", {})
        ]
        assert len(again) == 1 and again[0]["ok"]["rtc"]["id"] == "AAAAAAAAA"
        assert m.links["ZZZZZZZZZ"] is ours and ours.role == "offerer"  # theirs not answered
        # their side drops its offer and answers ours, as a reply to the offer we sent again
        answer = {"type": "answer", "sdp": SDP}
        g.mesh.hear(
            json.dumps(
                {
                    "#": "zans00001",
                    "@": again[0]["#"],
                    "ok": {"rtc": {"id": "ZZZZZZZZZ", "answer": answer}},
                }
            ),
            relay,
        )
        await settle(g)
        assert ours.remote_set and cast(FakePeer, ours.peer).remote == answer
    finally:
        await g.close()
