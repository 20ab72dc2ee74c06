"""Many Gun roots joined by in-memory wires: flooding, dedup, routing and faults."""

from __future__ import annotations

import random

import pytest

from gunrtc_kit import trace
from tests.helpers import FakeClock, MemoryNet, MeshPair

pytestmark = pytest.mark.asyncio


async def test_ring_floods_each_put_to_everyone_once() -> None:
    async with MemoryNet(8, links=[(i, (i + 1) % 8) for i in range(8)]) as net:
        peers, bus = net.peers, net.bus
        peers[0].get("news").put({"headline": "ring"})
        await net.until(lambda: all("news" in p.graph.nodes for p in peers))
        assert all(p.graph.nodes["news"]["headline"] == "ring" for p in peers)
        # every peer handled the put once; the copies that came around the ring were dropped
        puts = [e for e in bus.events(trace.Put)]
        assert sorted(e.node for e in puts) == sorted(p.pid for p in peers)
        await net.wait_for(trace.Dropped, cause=trace.DropCause.DUPLICATE)


async def test_get_reply_is_routed_back_through_a_chain() -> None:
    async with MemoryNet(4) as net:
        far = net[3]
        far.graph.merge(
            {"far/data": {"_": {"#": "far/data", ">": {"x": 1.0}}, "x": 42}}, far.machine()
        )
        assert await net[0].get("far/data").get("x").once(timeout=3) == 42


async def test_partition_then_heal_converges_by_ham() -> None:
    clock = FakeClock()
    async with MeshPair(clock=clock) as net:
        a, b = net.a, net.b
        for w in net.ends():
            w.partitioned = True
        pa = a.get("doc").put({"title": "from a"})
        await net.wait_for(trace.Dropped, msg_id=pa.id, cause=trace.DropCause.PARTITIONED)
        clock.advance(10)  # the clock is ours: b writes 10 ms after a, no sleep
        pb = b.get("doc").put({"title": "from b"})  # later state: wins everywhere after heal
        await net.wait_for(trace.Dropped, msg_id=pb.id, cause=trace.DropCause.PARTITIONED)
        assert a.graph.nodes["doc"]["title"] == "from a"
        assert sum(w.dropped for w in net.ends()) >= 2
        for w in net.ends():
            w.partitioned = False
        # resync as a reconnect does: ask each other for the node
        assert await a.fetch({"#": "doc"}, timeout=2)
        assert await b.fetch({"#": "doc"}, timeout=2)
        assert a.graph.nodes["doc"]["title"] == "from b" == b.graph.nodes["doc"]["title"]


async def test_lossy_latent_wires_still_deliver_with_many_paths() -> None:
    rng = random.Random(7)
    async with MemoryNet(10) as net:  # a chain keeps it connected
        for i in range(10):
            for j in range(i + 1, 10):
                if rng.random() < 0.5:
                    net.link(i, j, latency=0.002, jitter=0.003, loss=0.1, rng=rng)
        for i, p in enumerate(net.peers):
            p.get("votes").get(f"p{i}").put(i)
        await net.until(
            lambda: all(len(p.graph.nodes.get("votes", {})) == 11 for p in net.peers), 5
        )


async def test_closing_a_wire_says_bye_on_both_sides() -> None:
    async with MeshPair() as net:
        a, b = net.a, net.b
        assert a.mesh.near == 1 and b.mesh.near == 1
        net.wire.close()
        assert a.mesh.near == 0 and b.mesh.near == 0
        assert a.bus.events(trace.Bye) and b.bus.events(trace.Bye)
