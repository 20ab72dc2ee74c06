"""Mesh scale in one process, ours: N Gun roots on in-memory wires, in the same topology as
gunjs_mesh.js (a ring plus seeded random chords, the same generator). One put floods from
peer 0; reports the time until every peer holds it, the messages and frames sent, the
duplicates dedup dropped, the process RSS (read from /proc/self/status, as gunjs_mesh.js reads
it) and, with ``--heap``, the Python heap per peer (tracemalloc, which slows the build and
inflates RSS, so the scaling curve measures it in separate processes).

    python benchmarks/mesh_bench.py 1000 2          # one run, one JSON object (as before)
    python benchmarks/mesh_bench.py 1000 2 --no-heap --freeze   # gc.freeze() diagnostic
    python benchmarks/mesh_bench.py curve --sizes 100,1000,5000,10000 --repeat 5

``curve`` runs every size ``repeat`` times, each in a fresh process, plus ``heap_repeat``
tracemalloc runs, and prints one JSON object: per size the median, min and max of each figure
(``scaling_curve`` is the same as a function)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunrtc_kit import Gun, trace  # noqa: E402
from gunrtc_kit.transport.memory import MemoryWire, connect_memory  # noqa: E402

SIZES = (100, 1000, 5000, 10000)


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


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process in bytes, from /proc/self/status (Linux)."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) * 1024
    return out


class GcTimer:
    """Collections per generation and the time they took, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.ms = [0.0, 0.0, 0.0]
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            g = info["generation"]
            self.count[g] += 1
            self.ms[g] += (time.perf_counter() - self._t0) * 1000


async def run(
    n: int, chords: int, *, heap: bool = True, freeze: bool = False, keep: int = 0
) -> dict[str, Any]:
    # messages and duplicates are read from the meshes' counters, as gunjs_mesh.js counts
    # frames on its wires: no trace event is built per message (a subscriber counting them
    # made every peer build a Said per copy and a Dropped per duplicate, which Gun.js's side
    # never paid)
    bus = trace.TraceBus(keep=keep)  # 0: no history (the default bus keeps 10,000 events)
    wires: list[MemoryWire] = []
    gc.collect()
    rss0 = proc_status()["VmRSS"]
    if heap:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if heap else 0
    t_build = time.perf_counter()
    peers = [await Gun(bus=bus).start() for _ in range(n)]
    edges = topology(n, chords)
    for a, b in edges:
        connect_memory(peers[a].mesh, peers[b].mesh, on_wire=lambda x, y: wires.extend((x, y)))
    build_ms = (time.perf_counter() - t_build) * 1000
    await asyncio.sleep(0.5)
    per_peer = (tracemalloc.get_traced_memory()[0] - base) / n if heap else None
    if heap:
        tracemalloc.stop()
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
    gc.collect()  # every run starts the flood with the same (empty) young generations
    tracked = len(gc.get_objects())
    if freeze:
        gc.freeze()  # diagnostic only: the built mesh is no longer scanned by the collector
    rss_built = proc_status()["VmRSS"]
    said0 = sum(p.mesh.said for p in peers)
    dups0 = sum(p.mesh.duplicates for p in peers)
    frames0 = sum(w.sent for w in wires)
    gct = GcTimer()
    gc.callbacks.append(gct)
    t0 = time.perf_counter()
    peers[0].get("flood").put({"v": 1})
    await asyncio.wait_for(done.wait(), 300)
    ms = (time.perf_counter() - t0) * 1000
    gc.callbacks.remove(gct)
    await asyncio.sleep(0.2)
    status = proc_status()
    frames = sum(w.sent for w in wires) - frames0
    messages = sum(p.mesh.said for p in peers) - said0
    duplicates = sum(p.mesh.duplicates for p in peers) - dups0
    for p in peers:
        await p.close()
    return {
        "ms": ms,
        "us_per_message": ms * 1000 / messages if messages else None,
        "messages": messages,
        "frames": frames,
        "duplicates_dropped": duplicates,
        "bytes_per_peer": per_peer,  # tracemalloc, Python's own heap figure (None: not asked)
        "rss_per_peer": (rss_built - rss0) / n,  # RSS grown by building the mesh
        "peak_rss_per_peer": (status["VmHWM"] - rss0) / n,  # peak, flood included
        "rss_built_mb": rss_built / 2**20,
        "peak_rss_mb": status["VmHWM"] / 2**20,
        "gc_tracked_per_peer": tracked / n,
        "gc_collections": gct.count,  # during the flood, per generation
        "gc_ms": round(sum(gct.ms), 3),
        "gc_ms_by_generation": [round(x, 3) for x in gct.ms],
        "build_ms": build_ms,
        "freeze": freeze,
        "keep": keep,
        "tracemalloc": heap,
        "peers": n,
        "edges": len(edges),
    }


def _one(n: int, chords: int, *flags: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(n), str(chords), *flags],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


CURVE_KEYS = (
    "ms",
    "us_per_message",
    "messages",
    "frames",
    "duplicates_dropped",
    "rss_per_peer",
    "peak_rss_per_peer",
    "peak_rss_mb",
    "gc_ms",
    "gc_tracked_per_peer",
    "build_ms",
)


def scaling_curve(
    sizes: tuple[int, ...] = SIZES,
    repeat: int = 5,
    chords: int = 2,
    heap_repeat: int = 1,
    freeze: bool = False,
) -> dict[str, Any]:
    """The flood at each size, ``repeat`` fresh processes each (RSS and time, no tracemalloc)
    and ``heap_repeat`` more with tracemalloc for the heap per peer. Sizes are interleaved
    (100, 1000, ..., 100, 1000, ...) so that a burst of load from elsewhere spreads over all
    of them. Returns {"side": "ours", "sizes": {n: {key: {median, min, max}}}, "runs": ...}."""
    flags = ["--no-heap"] + (["--freeze"] if freeze else [])
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    for _ in range(repeat):
        for n in sizes:
            runs[n].append(_one(n, chords, *flags))
    heaps: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(heap_repeat):
        for n in sizes:
            heaps[n].append(float(_one(n, chords, "--heap")["bytes_per_peer"]))
    table: dict[str, dict[str, Any]] = {}
    for n in sizes:
        row: dict[str, Any] = {k: spread([float(r[k]) for r in runs[n]]) for k in CURVE_KEYS}
        row["heap_per_peer"] = spread(heaps[n]) if heaps[n] else None
        row["heap_source"] = "tracemalloc, in separate runs"
        table[str(n)] = row
    return {
        "side": "ours",
        "chords": chords,
        "repeat": repeat,
        "freeze": freeze,
        "python": sys.version.split()[0],
        "sizes": table,
        "runs": {str(n): runs[n] for n in sizes},
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "curve":
        p = argparse.ArgumentParser(description="the scaling curve, fresh process per run")
        p.add_argument("curve")
        p.add_argument("--sizes", default=",".join(map(str, SIZES)))
        p.add_argument("--repeat", type=int, default=5)
        p.add_argument("--heap-repeat", type=int, default=1)
        p.add_argument("--chords", type=int, default=2)
        p.add_argument("--freeze", action="store_true", help="diagnostic: gc.freeze() first")
        a = p.parse_args()
        sizes = tuple(int(s) for s in a.sizes.split(","))
        out = scaling_curve(sizes, a.repeat, a.chords, a.heap_repeat, a.freeze)
    else:
        p = argparse.ArgumentParser(description="one flood, one JSON object")
        p.add_argument("n", type=int, nargs="?", default=100)
        p.add_argument("chords", type=int, nargs="?", default=2)
        p.add_argument("--heap", action=argparse.BooleanOptionalAction, default=True)
        p.add_argument("--freeze", action="store_true", help="diagnostic: gc.freeze() first")
        p.add_argument("--keep", type=int, default=0, help="trace history kept (bus keep=)")
        a = p.parse_args()
        out = asyncio.run(run(a.n, a.chords, heap=a.heap, freeze=a.freeze, keep=a.keep))
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip tearing down millions of objects at exit (not measured anyway)


if __name__ == "__main__":
    main()
