"""Mesh scale in one process, ours: N Gun roots on in-memory wires, in the same topology as
gunjs_mesh.js (a ring plus seeded random chords, the same generator). One put floods from
peer 0; prints the time until every peer holds it, the messages sent, the duplicates dedup
dropped, and the Python memory per peer (tracemalloc)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunrtc_kit import Gun, trace  # noqa: E402
from gunrtc_kit.transport.memory import connect_memory  # noqa: E402


def topology(n: int, chords: int) -> list[tuple[int, int]]:
    seed = 12345

    def rand() -> float:
        nonlocal seed
        seed = (seed * 48271) % 2147483647
        return seed / 2147483647

    edges = [(i, (i + 1) % n) for i in range(n)]
    for _ in range(n * chords // 2):
        a, b = int(rand() * n), int(rand() * n)
        if a != b:
            edges.append((a, b))
    return edges


async def run(n: int, chords: int) -> dict[str, float]:
    counts = {"said": 0, "dup": 0}

    def count(e: trace.Event) -> None:
        if isinstance(e, trace.Said):
            counts["said"] += 1
        elif isinstance(e, trace.Dropped) and e.reason == "duplicate":
            counts["dup"] += 1

    bus = trace.TraceBus(keep=0)
    bus.subscribe(count)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    peers = [await Gun(bus=bus).start() for _ in range(n)]
    edges = topology(n, chords)
    for a, b in edges:
        connect_memory(peers[a].mesh, peers[b].mesh)
    await asyncio.sleep(0.5)
    per_peer = (tracemalloc.get_traced_memory()[0] - base) / n
    tracemalloc.stop()
    counts["said"] = counts["dup"] = 0
    done = asyncio.Event()
    have = {0}

    def watcher(i: int) -> None:
        def fn(_s: str, _n: dict[str, object], _m: dict[str, object]) -> None:
            have.add(i)
            if len(have) == n:
                done.set()

        peers[i].watch("flood", fn, subscribe=False)

    for i in range(1, n):
        watcher(i)
    t0 = time.perf_counter()
    peers[0].get("flood").put({"v": 1})
    await asyncio.wait_for(done.wait(), 120)
    ms = (time.perf_counter() - t0) * 1000
    await asyncio.sleep(0.2)
    for p in peers:
        await p.close()
    return {
        "ms": ms,
        "messages": counts["said"],
        "duplicates_dropped": counts["dup"],
        "bytes_per_peer": per_peer,
        "peers": n,
        "edges": len(edges),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    chords = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    sys.stdout.write(json.dumps(asyncio.run(run(n, chords))) + "\n")
