"""The trace tells the truth the views need: which wire joins whom (even when nothing gets
through), which messages a wire lost, what a put changed, and every WebRTC layer's state.

Every wait here is on a trace event (``TraceBus.until``), never on a sleep."""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit import Gun, WebRTCOptions, trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.transport.memory import MemoryWire, connect_memory
from tests.netns import require_loopback_only

pytestmark = pytest.mark.asyncio


async def two() -> tuple[Gun, Gun]:
    return await Gun().start(), await Gun().start()


def links(g: Gun) -> list[trace.Link]:
    return g.bus.events(trace.Link)


# ------------------------------------------------------------------------------ memory wires


async def test_a_wire_that_loses_everything_still_names_both_far_ends() -> None:
    a, b = await two()
    wires: list[MemoryWire] = []
    try:
        on_a, on_b = connect_memory(
            a.mesh, b.mesh, loss=1.0, on_wire=lambda x, y: wires.extend([x, y])
        )
        # at once, before any frame could have travelled
        (la,) = links(a)
        (lb,) = links(b)
        assert (la.node, la.peer, la.pid, la.transport) == (a.pid, on_a.id, b.pid, "memory")
        assert (lb.node, lb.peer, lb.pid, lb.transport) == (b.pid, on_b.id, a.pid, "memory")
        assert on_a.id and on_a.id in a.mesh.peers  # the inbound end's random id, not ""
        assert la.props == {"latency": 0.0, "jitter": 0.0, "loss": 1.0, "partitioned": False}
        # the '?' exchange never completes: only the Link knows who is at the far end
        await a.bus.until(
            lambda e: isinstance(e, trace.Dropped) and e.reason == "memory wire loss", 5, past=True
        )
        assert on_a.pid is None and on_b.pid is None
        assert not [e for e in a.bus.events(trace.Hi) if e.pid]
    finally:
        for g in (a, b):
            await g.close()


async def test_lost_puts_are_dropped_by_message_id() -> None:
    a, b = await two()
    wires: list[MemoryWire] = []
    try:
        connect_memory(a.mesh, b.mesh, loss=1.0, on_wire=lambda x, y: wires.extend([x, y]))
        wa = wires[0]
        # a's '?' went alone and opened a batch for this turn: the three puts share one [..]
        puts = [a.get(f"doc{i}").put({"n": i}) for i in range(3)]
        for p in puts:
            got = await a.bus.until(
                lambda e, mid=p.id: isinstance(e, trace.Dropped) and e.msg_id == mid, 5, past=True
            )
            assert wa.peer is not None and got.peer == wa.peer.id
            assert got.reason == "memory wire loss"  # type: ignore[attr-defined]
        assert wa.dropped == 2  # frames ('?' alone, the puts' batch), not messages
        lost = [e for e in a.bus.events(trace.Dropped) if e.reason == "memory wire loss"]
        assert len(lost) == 4 and lost[0].msg_id not in {p.id for p in puts}
        assert "doc0" not in b.graph.nodes
    finally:
        for g in (a, b):
            await g.close()


async def test_partition_drops_name_the_message_and_heal_is_a_link_event() -> None:
    a, b = await two()
    wires: list[MemoryWire] = []
    try:
        connect_memory(a.mesh, b.mesh, on_wire=lambda x, y: wires.extend([x, y]))
        await a.bus.until(lambda e: isinstance(e, trace.Hi) and e.pid == b.pid, 5, past=True)
        wa, wb = wires
        wb.partitioned = True
        changed = await b.bus.until(
            lambda e: isinstance(e, trace.Link) and e.props.get("partitioned") is True,
            5,
            past=True,
        )
        assert (changed.node, changed.pid) == (b.pid, a.pid)
        assert [lk.props["partitioned"] for lk in links(a)] == [False]  # a's end did not change
        put = a.get("doc").put({"title": "lost"})  # a's end is fine, b's end is cut
        dropped = await a.bus.until(
            lambda e: isinstance(e, trace.Dropped) and e.msg_id == put.id, 5, past=True
        )
        assert dropped.reason == "memory wire partitioned"  # type: ignore[attr-defined]
        wb.partitioned = False  # the Link is emitted by the setter itself
        assert [lk.props["partitioned"] for lk in links(b)] == [False, True, False]
    finally:
        for g in (a, b):
            await g.close()


async def test_changing_faults_emits_links_only_on_change_and_validates() -> None:
    a, b = await two()
    wires: list[MemoryWire] = []
    seen: list[str] = []
    try:
        # set inside on_wire: before the wire joined a mesh, no Link yet
        def on_wire(x: MemoryWire, y: MemoryWire) -> None:
            wires.extend([x, y])
            x.latency = 0.02
            seen.extend(e.kind for e in a.bus.history if isinstance(e, trace.Link))

        connect_memory(a.mesh, b.mesh, on_wire=on_wire)
        assert seen == []
        wa = wires[0]
        assert [lk.props["latency"] for lk in links(a)] == [0.02]
        wa.loss = 0.25
        wa.loss = 0.25  # same value: no event
        wa.jitter = 0.01
        wa.latency = 0.05
        assert [lk.props for lk in links(a)][1:] == [
            {"latency": 0.02, "jitter": 0.0, "loss": 0.25, "partitioned": False},
            {"latency": 0.02, "jitter": 0.01, "loss": 0.25, "partitioned": False},
            {"latency": 0.05, "jitter": 0.01, "loss": 0.25, "partitioned": False},
        ]
        assert wa.peer is not None
        assert all(lk.pid == b.pid and lk.peer == wa.peer.id for lk in links(a))
        for name, value in (
            ("loss", 1.5),
            ("loss", float("nan")),
            ("latency", -1),
            ("jitter", -0.1),
        ):
            with pytest.raises(GunError, match=name):
                setattr(wa, name, value)
        assert len(links(a)) == 4  # refused values changed nothing
        assert (wa.loss, wa.latency, wa.jitter) == (0.25, 0.05, 0.01)
        with pytest.raises(GunError, match="loss"):
            MemoryWire(loss=2)
        wa.close()
        wa.loss = 0.5  # a closed wire says nothing more
        assert len(links(a)) == 4
    finally:
        for g in (a, b):
            await g.close()


async def test_an_unreadable_lost_frame_is_one_dropped_without_id() -> None:
    a, b = await two()
    wires: list[MemoryWire] = []
    try:
        connect_memory(a.mesh, b.mesh, loss=1.0, on_wire=lambda x, y: wires.extend([x, y]))
        n = len(a.bus.events(trace.Dropped))
        wires[0].send("not json at all")
        new = a.bus.events(trace.Dropped)[n:]
        assert [(e.msg_id, e.reason) for e in new] == [("", "memory wire loss")]
    finally:
        for g in (a, b):
            await g.close()


# ------------------------------------------------------------------------------ puts


async def test_a_local_put_event_carries_values_and_states() -> None:
    a = await Gun().start()
    try:
        res = a.get("doc").put({"title": "hello", "n": 3, "gone": None})
        ev = await a.bus.until(
            lambda e: isinstance(e, trace.Put) and e.msg_id == res.id, 5, past=True
        )
        assert isinstance(ev, trace.Put)
        assert ev.values == {"doc": {"title": "hello", "n": 3, "gone": None}}
        node = a.graph.nodes["doc"]
        assert ev.states == {"doc": {k: node["_"][">"][k] for k in ("title", "n", "gone")}}
        assert all(isinstance(s, float | int) and s > 0 for s in ev.states["doc"].values())
        # a second put changes one key: the event carries that key only
        res2 = a.get("doc").put({"title": "again", "n": 3})
        ev2 = await a.bus.until(
            lambda e: isinstance(e, trace.Put) and e.msg_id == res2.id, 5, past=True
        )
        assert isinstance(ev2, trace.Put)
        assert ev2.values["doc"]["title"] == "again"
        assert set(ev2.values["doc"]) == set(ev2.states["doc"]) == set(ev2.changes["doc"])
        assert "_" not in ev2.values["doc"]
    finally:
        await a.close()


async def test_until_times_out_with_our_error() -> None:
    a = await Gun().start()
    try:
        with pytest.raises(GunTimeoutError):
            await a.bus.until(lambda e: isinstance(e, trace.Link), 0.05)
    finally:
        await a.close()


# ------------------------------------------------------------------------------ WebRTC layers


def rtc() -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=None, host_addresses=["127.0.0.1"])


def layers(g: Gun, pid: str) -> dict[str, list[trace.RtcState]]:
    out: dict[str, list[trace.RtcState]] = {}
    for e in g.bus.events(trace.RtcState):
        if e.peer == pid:
            out.setdefault(e.layer, []).append(e)
    return out


@pytest.mark.webrtc
async def test_webrtc_link_reports_every_layer() -> None:
    require_loopback_only()
    a = await Gun(rtc=rtc()).start()
    b = await Gun(rtc=rtc()).start()
    try:
        assert a.rtc is not None and b.rtc is not None
        answer = await b.rtc.accept_offer(a.pid, await a.rtc.create_offer(b.pid))
        await a.rtc.accept_answer(b.pid, answer)

        def link_open(g: Gun, pid: str) -> Any:
            return lambda e: (
                isinstance(e, trace.RtcState)
                and e.layer == "link"
                and e.state == "open"
                and e.peer == pid
            )

        await a.bus.until(link_open(a, b.pid), 20, past=True)
        await b.bus.until(link_open(b, a.pid), 20, past=True)
        for g, other in ((a, b), (b, a)):
            seen = layers(g, other.pid)
            states = {layer: [e.state for e in evs] for layer, evs in seen.items()}
            assert "completed" in states["ice"], states
            assert states["ice-gathering"][-1] == "complete", states
            assert "connected" in states["dtls"], states
            assert "connected" in states["sctp"], states
            assert "open" in states["dc"], states
            assert "connected" in states["pc"], states
            (pair,) = seen["pair"]
            assert pair.state == "selected"
            local, remote = pair.detail.split(" <-> ")
            assert local.startswith("127.0.0.1:") and local.endswith(" udp"), pair.detail
            assert remote.startswith("127.0.0.1:") and remote.endswith(" udp"), pair.detail
            # the order aiortc goes through: ICE completes before DTLS connects, the
            # association is up before the link is reported open
            order = [
                (e.layer, e.state) for e in g.bus.events(trace.RtcState) if e.peer == other.pid
            ]
            assert order.index(("ice", "completed")) < order.index(("dtls", "connected"))
            assert order.index(("sctp", "connected")) < order.index(("link", "open"))
        # our own channel starts "connecting"; the remote one arrives open
        dc_a = [(e.detail, e.state) for e in layers(a, b.pid)["dc"]]
        assert ("local", "connecting") in dc_a and ("remote", "open") in dc_a
        # closing reports the layers going down
        await a.rtc.drop(b.pid, "test")
        closed = await a.bus.until(
            lambda e: isinstance(e, trace.RtcState) and e.layer == "pc" and e.state == "closed",
            10,
            past=True,
        )
        assert closed.peer == b.pid
        down = {(e.layer, e.state) for e in a.bus.events(trace.RtcState) if e.peer == b.pid}
        assert {("dtls", "closed"), ("link", "closed"), ("ice", "closed")} <= down, down
    finally:
        await a.close()
        await b.close()
