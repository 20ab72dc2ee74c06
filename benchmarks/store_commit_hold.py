"""Does running SQLite's writes and commits in one worker thread help the loop? (issue 22)

    python benchmarks/store_commit_hold.py --seconds 10 --rate 1000 --group 10

The relay's group commit runs on the event loop: the puts of one turn are written
(``SQLiteStore.write``) and committed together, then acked. This measures that path as the
relay runs it (``inline``) beside the same writes handed to one writer thread (``thread``: a
``ThreadPoolExecutor(1)``, the ack sent when its commit is done, so the ack stays after the
commit), on the same file, with the same load: ``--rate`` turns per second on an absolute
schedule, each turn ``--group`` puts of one new soul with two keys (~100 bytes of text).

Per mode: how long the loop is held by the store per turn (inline: the write and the commit;
thread: handing the work over), the loop's lag (a ticker that asks to wake every 0.5 ms: how
late it woke), and the ack latency (turn start to commit done). Median / p99 / max. The store
file is fresh per run; ``--souls`` first fills it with that many souls (a bigger file, a
deeper index). WAL mode, ``synchronous=NORMAL`` as the relay (a commit writes the WAL, the
checkpoint every ~1,000 pages writes the file and syncs it: the long tail).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gunrtc_kit.store import SQLiteStore  # noqa: E402


def q(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "median": statistics.median(xs),
        "p99": xs[int(len(xs) * 0.99)],
        "max": xs[-1],
        "n": len(xs),
    }


def turn(base: int, group: int) -> dict[str, dict[str, Any]]:
    now = time.time() * 1000
    return {
        f"p{base + i}": {
            "_": {"#": f"p{base + i}", ">": {"a": now, "b": now}},
            "a": "x" * 90,
            "b": base + i,
        }
        for i in range(group)
    }


async def run(mode: str, store: SQLiteStore, args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    holds: list[float] = []
    acks: list[float] = []
    lags: list[float] = []
    stop = loop.time() + args.seconds
    pool = concurrent.futures.ThreadPoolExecutor(1) if mode == "thread" else None
    pending: set[asyncio.Future[None]] = set()

    def work(diff: dict[str, dict[str, Any]]) -> None:
        store.write(diff)
        store.commit()

    async def ticker() -> None:
        while loop.time() < stop:
            t = time.perf_counter()
            await asyncio.sleep(0.0005)
            lags.append((time.perf_counter() - t - 0.0005) * 1000)

    tick = asyncio.create_task(ticker())
    n = 0
    t0 = loop.time()
    while loop.time() < stop:
        n += 1
        due = t0 + n / args.rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        diff = turn(n * args.group, args.group)
        start = time.perf_counter()
        if pool is None:
            work(diff)
            end = time.perf_counter()
            holds.append((end - start) * 1000)
            acks.append((end - start) * 1000)
        else:
            fut = loop.run_in_executor(pool, work, diff)
            holds.append((time.perf_counter() - start) * 1000)
            pending.add(fut)

            def done(f: asyncio.Future[None], start: float = start) -> None:
                pending.discard(f)
                acks.append((time.perf_counter() - start) * 1000)

            fut.add_done_callback(done)
    if pending:
        await asyncio.wait(pending)
    await tick
    if pool is not None:
        pool.shutdown()
    return {
        "turns": n,
        "hold_ms": q(holds),
        "lag_ms": q(lags),
        "ack_ms": q(acks),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=1000, help="turns per second")
    ap.add_argument("--group", type=int, default=10, help="puts per turn")
    ap.add_argument("--souls", type=int, default=0, help="fill the store with this many first")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out: dict[str, list[dict[str, Any]]] = {"inline": [], "thread": []}
    for k in range(args.repeats):
        for mode in ("inline", "thread") if k % 2 == 0 else ("thread", "inline"):
            with tempfile.TemporaryDirectory(prefix="commit-hold-") as tmp:
                store = SQLiteStore(Path(tmp) / "s.sqlite3")
                for lo in range(0, args.souls, 50_000):
                    store.write(turn(10**9 + lo, min(50_000, args.souls - lo)))
                store.commit()
                r = asyncio.run(run(mode, store, args))
                store.close()
            out[mode].append(r)
            print(
                f"{mode:6} #{k}: {r['turns']} turns; hold median {r['hold_ms']['median']:.3f} "
                f"p99 {r['hold_ms']['p99']:.3f} max {r['hold_ms']['max']:.2f} ms; lag p99 "
                f"{r['lag_ms']['p99']:.2f} max {r['lag_ms']['max']:.2f} ms; ack median "
                f"{r['ack_ms']['median']:.3f} p99 {r['ack_ms']['p99']:.2f} max "
                f"{r['ack_ms']['max']:.2f} ms",
                flush=True,
            )
    if args.out is not None:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, **out}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
