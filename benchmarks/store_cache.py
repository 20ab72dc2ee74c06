"""A relay whose store outgrows memory (issue 22, part 1): ours (SQLite, memory a cache of it)
beside npm Gun.js (radisk, its default file store in Node) holding the same souls.

    python benchmarks/store_cache.py --souls 1000000            # what docs/benchmarks.md shows
    python benchmarks/store_cache.py --souls 10000000 --repeats 1   # the issue's size
    python benchmarks/store_cache.py --souls 20000 --reads 2000 --repeats 1   # a quick look

Builds, once per size (kept in ``--dir``, reused when already there), a store of N souls of
two keys each (``v``: the number, ``t``: "text N", state 1000): ours with the store's own
API in one transaction, Gun.js's with ``gunjs_radisk_fill.js`` (radisk keys as npm gun's store
adapter writes them). Then, per side, ``--repeats`` times, each time in a fresh relay process:

- start: seconds from spawning the relay to its port accepting a connection (the same poll
  for both, every 5 ms), the OS page cache warm (the file was just written or read);
- reads: a client (this script, raw WebSockets) GETs ``--reads`` random souls, ``--window``
  in flight; the relay's RSS is sampled every 0.1 s (``VmRSS``) and its peak read at the end
  (``VmHWM``); every answer (its replies up to the one without ``%``) is checked to hold the
  soul's two keys and values, and the answers that do not are counted (``wrong``); a GET
  not answered within 5 s is counted (``unanswered``) and not waited for;
- cold: then, one at a time, GETs of ``--cold`` souls the relay never read, each timed from
  send to the reply carrying its data (milliseconds; "cold" means not in the relay's memory:
  the file may well be in the OS page cache, the same for both).

Prints a table (median, min-max) and writes JSON (``--out``, default
``benchmarks/store_cache.json``; it never touches ``benchmarks/results.json``). Not run in CI:
tests/integration/test_store_cache.py checks the same behaviour at 100,000 souls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "interop"
PY = sys.executable
STATE = 1000
LOST_AFTER = 5.0  # seconds without an answer: a GET is counted unanswered
BATCH = 50_000  # souls per store.write while building ours (one transaction for all)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port, status_kb, stop, wait_port  # noqa: E402  (the process helpers, once)


def soul(i: int) -> str:
    return f"s{i:07}"


# ---------------------------------------------------------------------------- building


def build_ours(path: Path, n: int) -> float:
    """N souls in one transaction through ``SQLiteStore.write``; seconds taken."""
    sys.path.insert(0, str(ROOT))
    from gunrtc_kit.store import SQLiteStore

    t0 = time.perf_counter()
    part = path.with_suffix(".part")
    part.unlink(missing_ok=True)
    store = SQLiteStore(part)
    for lo in range(0, n, BATCH):
        store.write(
            {
                soul(i): {
                    "_": {"#": soul(i), ">": {"v": STATE, "t": STATE}},
                    "v": i,
                    "t": f"text {i}",
                }
                for i in range(lo, min(lo + BATCH, n))
            }
        )
    store.commit()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    part.rename(path)
    return time.perf_counter() - t0


def build_gunjs(dir_: Path, n: int) -> float:
    """N souls in a radisk directory, as npm gun's store adapter writes them; seconds."""
    part = dir_.with_suffix(".part")
    subprocess.run(["rm", "-rf", str(part)], check=True)
    t0 = time.perf_counter()
    env = dict(os.environ, NODE_PATH=str(INTEROP / "node_modules"))
    subprocess.run(
        ["node", str(ROOT / "benchmarks" / "gunjs_radisk_fill.js"), str(n), str(part), str(STATE)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    part.rename(dir_)
    return time.perf_counter() - t0


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size


# ---------------------------------------------------------------------------- a relay


@contextlib.contextmanager
def relay(side: str, data: Path, cache_mb: float) -> Iterator[tuple[int, str, float]]:
    """A relay of ``side`` on ``data``; yields (pid, ws url, seconds until it listened)."""
    port = free_port()
    if side == "ours":
        cmd = [PY, "-m", "gunrtc_kit.cli", "relay", "--port", str(port), "--store", str(data)]
        cmd += ["--cache-mb", str(cache_mb)]
        cwd = ROOT
    else:
        cmd = ["node", str(INTEROP / "gunjs_relay.js"), str(port), "--radisk", str(data)]
        cwd = INTEROP
    env = dict(os.environ, MULTICAST="false", NODE_NO_WARNINGS="1", PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, proc, timeout=600, poll=0.005)  # 10M souls: startup is what is timed
        yield proc.pid, f"ws://127.0.0.1:{port}/gun", time.perf_counter() - t0
    finally:
        stop(proc, 10)


# ---------------------------------------------------------------------------- the client


def frames(text: str | bytes) -> list[dict[str, Any]]:
    data = json.loads(text)
    return [m for m in (data if isinstance(data, list) else [data]) if isinstance(m, dict)]


async def reads(url: str, pid: int, n: int, souls: int, window: int) -> dict[str, Any]:
    """GET ``n`` random souls, ``window`` in flight, sampling the relay's RSS."""
    rng = random.Random(n)
    rss: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            rss.append(status_kb(pid, "VmRSS"))
            await asyncio.sleep(0.1)

    want: dict[str, int] = {}
    have: dict[str, dict[str, Any]] = {}
    since: dict[str, float] = {}
    bad = lost = 0
    async with connect(url, max_size=None, ping_interval=None) as ws:
        sampler = asyncio.create_task(sample())
        t0 = time.perf_counter()
        sent = got = 0
        while got < n:
            while sent < n and len(want) < window:
                i = rng.randrange(souls)
                mid = f"r{sent}"
                want[mid], have[mid], since[mid] = i, {}, time.perf_counter()
                await ws.send(json.dumps({"#": mid, "get": {"#": soul(i)}}))
                sent += 1
            try:
                frame = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                frame = "[]"
            for m in frames(frame):
                ack = m.get("@")
                if ack not in want or not isinstance(m.get("put"), dict):
                    continue
                mid = str(ack)
                i = want[mid]
                node = have[mid]
                node.update(m["put"].get(soul(i)) or {})
                if "%" not in m:  # the last reply of the answer: is the node whole and right?
                    bad += node.get("v") != i or node.get("t") != f"text {i}"
                    del want[mid], have[mid], since[mid]
                    got += 1
            late = [mid for mid, t in since.items() if time.perf_counter() - t > LOST_AFTER]
            for mid in late:  # never answered (Gun.js drops some): counted, not waited for
                del want[mid], have[mid], since[mid]
                lost += 1
                got += 1
        took = time.perf_counter() - t0
        done.set()
        await sampler
    return {
        "reads_per_s": n / took,
        "rss_max_mb": max(rss) / 1024,
        "rss_end_mb": status_kb(pid, "VmRSS") / 1024,
        "hwm_mb": status_kb(pid, "VmHWM") / 1024,
        "wrong": bad,
        "unanswered": lost,
    }


async def cold(url: str, n: int, souls: int, seed: int) -> list[float]:
    """Milliseconds per GET of a soul the relay never read (one at a time)."""
    rng = random.Random(seed)
    out: list[float] = []
    async with connect(url, max_size=None, ping_interval=None) as ws:
        for k in range(n):
            i = rng.randrange(souls)
            mid = f"c{k}"
            t0 = time.perf_counter()
            await ws.send(json.dumps({"#": mid, "get": {"#": soul(i)}}))
            hit: list[dict[str, Any]] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LOST_AFTER):
                    while not hit:
                        hit = [
                            m for m in frames(await ws.recv()) if m.get("@") == mid and "put" in m
                        ]
            if not hit:
                continue  # unanswered: not a latency (counted by the caller: n - len(out))
            out.append((time.perf_counter() - t0) * 1000)
            assert (hit[0]["put"].get(soul(i)) or {}).get("v") == i, hit
    return out


# ---------------------------------------------------------------------------- the run


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def one(side: str, data: Path, args: argparse.Namespace, k: int) -> dict[str, Any]:
    with relay(side, data, args.cache_mb) as (pid, url, started):
        idle = status_kb(pid, "VmRSS") / 1024
        cold_ms = asyncio.run(asyncio.wait_for(cold(url, args.cold, args.souls, 1000 + k), 600))
        r = asyncio.run(
            asyncio.wait_for(reads(url, pid, args.reads, args.souls, args.window), 1800)
        )
    r.update(start_s=started, idle_rss_mb=idle, cold_ms=cold_ms)
    r["cold_unanswered"] = args.cold - len(cold_ms)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--souls", type=int, default=1_000_000)
    ap.add_argument("--reads", type=int, default=100_000)
    ap.add_argument("--cold", type=int, default=200)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--cache-mb", type=float, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--side", action="append", choices=("ours", "gunjs"), default=None)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/store-cache-bench"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "store_cache.json")
    args = ap.parse_args()
    sides = args.side or ["ours", "gunjs"]
    args.dir.mkdir(parents=True, exist_ok=True)
    data = {
        "ours": args.dir / f"ours-{args.souls}.sqlite3",
        "gunjs": args.dir / f"radata-{args.souls}",
    }
    built: dict[str, Any] = {}
    for side in sides:
        if not data[side].exists():
            took = (build_ours if side == "ours" else build_gunjs)(data[side], args.souls)
            built[side] = {"seconds": took}
            print(f"built {side}: {args.souls} souls in {took:.1f} s", flush=True)
        built.setdefault(side, {})["bytes"] = size_of(data[side])
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    for k in range(args.repeats):
        for side in sides if k % 2 == 0 else reversed(sides):  # alternate who goes first
            r = one(side, data[side], args, k)
            runs[side].append(r)
            print(
                f"{side:5} #{k}: start {r['start_s']:.2f} s, idle {r['idle_rss_mb']:.0f} MB, "
                f"reads {r['reads_per_s']:.0f}/s rss max {r['rss_max_mb']:.0f} MB "
                f"(hwm {r['hwm_mb']:.0f}), cold median {statistics.median(r['cold_ms']):.2f} ms, "
                f"wrong {r['wrong']}, unanswered {r['unanswered']}+{r['cold_unanswered']}",
                flush=True,
            )
    rows: dict[str, dict[str, Any]] = {}
    for side, rs in runs.items():
        rows[side] = {
            "start_s": spread([r["start_s"] for r in rs]),
            "idle_rss_mb": spread([r["idle_rss_mb"] for r in rs]),
            "rss_max_mb": spread([r["rss_max_mb"] for r in rs]),
            "hwm_mb": spread([r["hwm_mb"] for r in rs]),
            "reads_per_s": spread([r["reads_per_s"] for r in rs]),
            "cold_ms_median": spread([statistics.median(r["cold_ms"]) for r in rs]),
            "cold_ms_p90": spread(
                [statistics.quantiles(r["cold_ms"], n=10)[-1] for r in rs if len(r["cold_ms"]) > 1]
                or [0.0]
            ),
            "wrong": sum(r["wrong"] for r in rs),
            "unanswered": sum(r["unanswered"] for r in rs),
            "cold_unanswered": sum(r["cold_unanswered"] for r in rs),
        }
    out = {
        "souls": args.souls,
        "reads": args.reads,
        "cold": args.cold,
        "window": args.window,
        "cache_mb": args.cache_mb,
        "repeats": args.repeats,
        "built": built,
        "rows": rows,
        "runs": runs,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\n{args.souls} souls; median (min-max) of {args.repeats}")
    for name in (
        "start_s",
        "idle_rss_mb",
        "rss_max_mb",
        "hwm_mb",
        "reads_per_s",
        "cold_ms_median",
        "cold_ms_p90",
    ):
        cells = [
            f"{rows[s][name]['median']:.2f} ({rows[s][name]['min']:.2f}-{rows[s][name]['max']:.2f})"
            for s in sides
        ]
        print(f"{name:15} " + "  ".join(f"{s}: {c:28}" for s, c in zip(sides, cells, strict=True)))
    for name in ("wrong", "unanswered", "cold_unanswered"):
        print(f"{name:15} " + "  ".join(f"{s}: {rows[s][name]}" for s in sides))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
