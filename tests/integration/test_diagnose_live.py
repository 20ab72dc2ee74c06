"""The diagnose models read real traces truthfully: Gun peers on memory wires emit the events,
the models must say what really happened (checked against the peers' graphs and wires).

Waits are on trace events (``TraceBus.until``) or bounded conditions, never on sleeps."""

from __future__ import annotations

import pytest

from gunrtc_kit import Gun, Relay, trace
from gunrtc_kit.diagnose import Directory, FateModel, MeshModel, PeersModel
from tests.helpers import MemoryNet, until

pytestmark = pytest.mark.asyncio


def models(names: dict[str, str]) -> tuple[Directory, FateModel, MeshModel, PeersModel]:
    d = Directory(names)
    return d, FateModel(d), MeshModel(d), PeersModel(d)


def feed(bus: trace.TraceBus, *ms: object) -> None:
    d = ms[0]
    assert isinstance(d, Directory)
    for e in bus.history:
        d.apply(e)
        for m in ms[1:]:
            m.apply(e)  # type: ignore[attr-defined]


async def test_fate_of_a_put_in_a_ring_hops_dedup_and_loss() -> None:
    async with MemoryNet(4, links=[(i, (i + 1) % 4) for i in range(4)]) as net:
        peers, bus = net.peers, net.bus
        names = {p.pid: f"p{i}" for i, p in enumerate(peers)}
        # p2-p3 loses everything: the put must reach p3 the other way round (p0 -> p3)
        for w in net.wires[(2, 3)]:
            w.loss = 1.0
        put = peers[0].get("news").put({"headline": "ring"})
        await until(lambda: all("news" in p.graph.nodes for p in peers))
        await bus.until(lambda e: isinstance(e, trace.Dropped) and e.msg_id == put.id, 5, past=True)
        await until(
            lambda: (
                sum(
                    1 for e in bus.history if isinstance(e, trace.Said) and e.msg.get("#") == put.id
                )
                >= 4
            )
        )
        d, fate, mesh, _ = models(names)
        feed(bus, d, fate, mesh)
        f = fate.fate(put.id)
        assert f.kind == "put" and f.origin == "p0"
        assert set(f.heard_by) == {"p1", "p2", "p3"}
        # p1 and p3 forward it; who forwards depends on order, but someone relayed it
        assert f.relayed_by and set(f.relayed_by) <= {"p1", "p2", "p3"}
        # what the trace says happened on the lossy wire
        lost = [
            e
            for e in bus.history
            if isinstance(e, trace.Dropped)
            and e.msg_id == put.id
            and e.cause is trace.DropCause.LOSS
        ]
        assert f.lost == len(lost) >= 1
        dups = [
            e
            for e in bus.history
            if isinstance(e, trace.Dropped)
            and e.msg_id == put.id
            and e.cause is trace.DropCause.DUPLICATE
        ]
        assert f.duplicates == len(dups)
        marks = {r.mark for r in fate.rows() if r.mid == put.id}
        assert "heard" in marks and "lost" in marks
        # every row names real peers, never a raw id
        assert {r.src for r in fate.rows()} | {r.dst for r in fate.rows()} <= set(names.values())
        # plain peers do not ack: after the ack timeout the model says so, not before
        assert not f.never_acked and "no ack yet" in f.summary
        fate.now += fate.ack_timeout + 1
        assert fate.fate(put.id).never_acked
        # the mesh has exactly the four peers and four links, the lossy one counted
        assert sorted(mesh.labels()) == ["p0", "p1", "p2", "p3"]
        assert len(mesh.edges) == 4
        (bad,) = [e for e in mesh.edges.values() if {e.a, e.b} == {peers[2].pid, peers[3].pid}]
        assert bad.lost >= 1 and bad.loss == 1.0
        assert mesh.partitions() == 1  # the ring still joins everyone without p2-p3


async def test_a_wire_that_never_completes_its_handshake_draws_no_phantom() -> None:
    async with MemoryNet(3, links=[(0, 1)]) as net:
        a, b, c = net.peers
        bus = net.bus
        names = {a.pid: "a", b.pid: "b", c.pid: "c"}
        net.link(1, 2, loss=1.0)
        await bus.until(lambda e: isinstance(e, trace.Hi) and e.pid, 5, past=True)
        a.get("status").put({"ok": True})
        await bus.until(
            lambda e: (
                isinstance(e, trace.Dropped)
                and e.reason == "memory wire loss"
                and e.node == b.pid
                and e.msg_id != ""
            ),
            5,
            past=True,
        )
        d, fate, mesh, peers = models(names)
        feed(bus, d, fate, mesh, peers)
        assert sorted(mesh.labels()) == ["a", "b", "c"]
        assert sorted((x, y) for x, y, *_ in mesh.links()) == [("a", "b"), ("b", "c")]
        assert mesh.partitions() == 2  # c is cut off: everything on b-c is lost
        lanes = [d.label(x) for x in d.lanes]
        assert sorted(lanes) == ["a", "b", "c"]
        lost = [r for r in fate.rows() if r.mark == "lost"]
        assert lost and all((r.src, r.dst) == ("b", "c") for r in lost if r.kind == "put")
        # the peer model has the data from the trace alone (Put carries the values)
        snap = peers.snapshot(b.pid)
        assert snap["data"]["status"]["ok"] is True
        assert "status" not in peers.snapshot(c.pid)["data"]


async def test_ack_and_get_reply_are_joined_to_their_requests() -> None:
    bus = trace.TraceBus()
    relay = await Relay(bus=bus).start()
    alice = await Gun([relay.url], bus=bus).start()
    bob = await Gun([relay.url], bus=bus).start()
    names = {relay.pid: "relay", alice.pid: "alice", bob.pid: "bob"}
    try:
        await alice.wait_connected(5)
        await bob.wait_connected(5)
        put = alice.get("chat").get("m1").put({"text": "hi"})
        await put
        assert (await bob.get("chat").get("m1").once(timeout=5)) == {"text": "hi"}
        d, fate, mesh, _ = models(names)
        d.name(relay.url, "relay", "relay")
        d.alias(relay.url, relay.pid)
        feed(bus, d, fate, mesh)
        f = fate.fate(put.id)
        assert f.acked and not f.never_acked and "relay" in f.heard_by
        assert "answered by relay" in f.summary
        assert f.replies  # the ack, joined to the put by '@'
        ack = fate.fate(f.replies[0])
        assert ack.request == put.id and ack.kind == "ack"
        gets = [m for m in fate.msgs.values() if m.kind == "get" and m.origin == bob.pid]
        assert gets
        answered = [g for g in gets if g.answered_at is not None]
        assert answered and fate.msgs[answered[0].replies[0]].kind == "reply"
        # every lane is a real peer by name, the relay included (no URL or socket id)
        assert sorted(d.label(x) for x in d.lanes) == ["alice", "bob", "relay"]
        assert sorted((x, y, t) for x, y, t, *_ in mesh.links()) == [
            ("alice", "relay", "ws"),
            ("bob", "relay", "ws"),
        ]
    finally:
        await alice.close()
        await bob.close()
        await relay.stop()
