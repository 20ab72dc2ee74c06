"""A burst of puts between two of our peers in one process, over a memory wire: the cost of
making a put (the send loop) and of it arriving and being merged on the other side, in
microseconds per put. The microbenchmark behind the data-channel row's changes (README), and
the quickest way to see what a change to the put path buys; ``--profile`` prints cProfile's
top functions (which inflate call-heavy code: use py-spy for shares).

    python benchmarks/put_burst.py [N] [--repeats 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunrtc_kit import Gun  # noqa: E402
from gunrtc_kit.transport.memory import connect_memory  # noqa: E402


async def burst(n: int, profile: bool) -> tuple[float, float]:
    a, b = Gun(), Gun()
    a.bus.keep = b.bus.keep = 0
    await a.start()
    await b.start()
    try:
        connect_memory(a.mesh, b.mesh)
        got: set[str] = set()
        done = asyncio.Event()

        def seen(_v: object, k: str) -> None:
            got.add(k)
            if len(got) == n:
                done.set()

        b.get("bench/dc").map().on(seen)
        await asyncio.sleep(0.1)  # the link's handshake and the subscription settle
        prof = cProfile.Profile() if profile else None
        if prof is not None:
            prof.enable()
        t0 = time.perf_counter()
        for i in range(n):
            a.get("bench/dc").get(f"k{i}").put(i)
        t1 = time.perf_counter()
        await asyncio.wait_for(done.wait(), 60)
        t2 = time.perf_counter()
        if prof is not None:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return (t1 - t0) * 1e6 / n, (t2 - t0) * 1e6 / n
    finally:
        await a.close()
        await b.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", nargs="?", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=5, help="fresh peers each time")
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    sends, arrives = [], []
    for _ in range(1 if a.profile else a.repeats):
        s, r = asyncio.run(burst(a.n, a.profile))
        sends.append(s)
        arrives.append(r)
    for name, xs in (("send", sends), ("arrive", arrives)):
        sys.stdout.write(
            f"{name}: {statistics.median(xs):.1f} us per put "
            f"(min {min(xs):.1f}, max {max(xs):.1f}, {len(xs)} runs of {a.n} puts)\n"
        )


if __name__ == "__main__":
    main()
