"""Many Gun roots joined by in-memory wires: flooding, dedup, routing and faults."""

from __future__ import annotations

import asyncio
import random

import pytest

from gunrtc_kit import Gun, trace
from gunrtc_kit.transport.memory import MemoryWire, connect_memory
from tests.helpers import until

pytestmark = pytest.mark.asyncio


async def make(n: int, bus: trace.TraceBus | None = None) -> list[Gun]:
    return [await Gun(bus=bus).start() for _ in range(n)]


async def test_ring_floods_each_put_to_everyone_once() -> None:
    bus = trace.TraceBus()
    peers = await make(8, bus)
    try:
        for i in range(8):
            connect_memory(peers[i].mesh, peers[(i + 1) % 8].mesh)
        await asyncio.sleep(0.05)
        peers[0].get("news").put({"headline": "ring"})
        await until(lambda: all("news" in p.graph.nodes for p in peers))
        assert all(p.graph.nodes["news"]["headline"] == "ring" for p in peers)
        # every peer handled the put once; the copies that came around the ring were dropped
        puts = [e for e in bus.events(trace.Put)]
        assert sorted(e.node for e in puts) == sorted(p.pid for p in peers)
        assert any(e.reason == "duplicate" for e in bus.events(trace.Dropped))
    finally:
        for p in peers:
            await p.close()


async def test_get_reply_is_routed_back_through_a_chain() -> None:
    peers = await make(4)
    try:
        for i in range(3):
            connect_memory(peers[i].mesh, peers[i + 1].mesh)
        await asyncio.sleep(0.05)
        far = peers[3]
        far.graph.merge(
            {"far/data": {"_": {"#": "far/data", ">": {"x": 1.0}}, "x": 42}}, far.machine()
        )
        assert await peers[0].get("far/data").get("x").once(timeout=3) == 42
    finally:
        for p in peers:
            await p.close()


async def test_partition_then_heal_converges_by_ham() -> None:
    a, b = await make(2)
    wires: list[MemoryWire] = []
    try:
        connect_memory(a.mesh, b.mesh, on_wire=lambda x, y: wires.extend([x, y]))
        await asyncio.sleep(0.02)
        for w in wires:
            w.partitioned = True
        a.get("doc").put({"title": "from a"})
        await asyncio.sleep(0.01)
        b.get("doc").put({"title": "from b"})  # later state: wins everywhere after heal
        await asyncio.sleep(0.05)
        assert a.graph.nodes["doc"]["title"] == "from a"
        assert sum(w.dropped for w in wires) >= 2
        for w in wires:
            w.partitioned = False
        # resync as a reconnect does: ask each other for the node
        assert await a.fetch({"#": "doc"}, timeout=2)
        assert await b.fetch({"#": "doc"}, timeout=2)
        assert a.graph.nodes["doc"]["title"] == "from b" == b.graph.nodes["doc"]["title"]
    finally:
        for p in (a, b):
            await p.close()


async def test_lossy_latent_wires_still_deliver_with_many_paths() -> None:
    rng = random.Random(7)
    peers = await make(10)
    try:
        for i in range(10):
            for j in range(i + 1, 10):
                if rng.random() < 0.5:
                    connect_memory(
                        peers[i].mesh, peers[j].mesh, latency=0.002, jitter=0.003, loss=0.1, rng=rng
                    )
        for i in range(9):  # keep it connected
            connect_memory(peers[i].mesh, peers[i + 1].mesh, latency=0.001)
        await asyncio.sleep(0.1)
        for i, p in enumerate(peers):
            p.get("votes").get(f"p{i}").put(i)
        await until(lambda: all(len(p.graph.nodes.get("votes", {})) == 11 for p in peers), 5)
    finally:
        for p in peers:
            await p.close()


async def test_closing_a_wire_says_bye_on_both_sides() -> None:
    a, b = await make(2)
    wires: list[MemoryWire] = []
    try:
        connect_memory(a.mesh, b.mesh, on_wire=lambda x, y: wires.extend([x, y]))
        await until(lambda: a.mesh.near == 1 and b.mesh.near == 1)
        wires[0].close()
        assert a.mesh.near == 0 and b.mesh.near == 0
        assert a.bus.events(trace.Bye) and b.bus.events(trace.Bye)
    finally:
        for p in (a, b):
            await p.close()
