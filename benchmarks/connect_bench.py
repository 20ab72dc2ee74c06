"""How long N raw WebSocket clients take to connect to a relay and get its ``?`` hello, for our
relay and for npm Gun.js's, with the same client, each relay fresh, sides alternating.

    python benchmarks/connect_bench.py --clients 2000 --repeats 5

prints one line per run and a JSON summary (median, min, max per side). The clients are one
asyncio process of plain ``websockets`` connections (no Gun code); a connection counts when its
first frame (the relay's ``{dam: '?'}``) arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_relay(side: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    if side == "ours":
        cmd = [sys.executable, "-m", "gunrtc_kit.cli", "relay", "--port", str(port)]
        cwd = ROOT
    else:
        cmd = ["node", str(ROOT / "interop" / "gunjs_relay.js"), str(port)]
        cwd = ROOT / "interop"
    env = {**os.environ, "MULTICAST": "false", "NODE_NO_WARNINGS": "1"}
    # stdin kept open: the Gun.js relay script exits when its stdin closes
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # both print one line once they listen
    return proc, f"ws://127.0.0.1:{port}/gun"


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+)", text)
    return int(m.group(1)) / 1024 if m else 0.0


async def one(url: str, conns: list[ClientConnection], t0: float, times: list[float]) -> None:
    ws = await connect(url, ping_interval=None, open_timeout=60, max_size=None)
    conns.append(ws)
    await asyncio.wait_for(ws.recv(), 60)
    times.append(time.perf_counter() - t0)


async def run_once(side: str, clients: int) -> dict[str, float]:
    proc, url = start_relay(side)
    conns: list[ClientConnection] = []
    try:
        await asyncio.sleep(0.5)
        times: list[float] = []
        t0 = time.perf_counter()
        await asyncio.gather(*(one(url, conns, t0, times) for _ in range(clients)))
        took = time.perf_counter() - t0
        times.sort()
        return {
            "seconds": took,
            "p50": times[len(times) // 2],
            "p99": times[int(len(times) * 0.99)],
            "over_1s": float(sum(t > 1.0 for t in times)),
            "relay_rss_mb": rss_mb(proc.pid),
        }
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        proc.kill()
        proc.wait(10)
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "gunjs": []}
    for r in range(args.repeats):
        order = ("ours", "gunjs") if r % 2 == 0 else ("gunjs", "ours")
        for side in order:
            res = await run_once(side, args.clients)
            runs[side].append(res)
            print(
                f"{side:5} run {r}: {args.clients} connections in {res['seconds']:.2f} s "
                f"(p50 {res['p50']:.2f} s, p99 {res['p99']:.2f} s, {res['over_1s']:.0f} over "
                f"1 s), relay RSS {res['relay_rss_mb']:.0f} MB",
                file=sys.stderr,
            )
    summary = {
        side: {
            key: {
                "median": statistics.median(x[key] for x in rs),
                "min": min(x[key] for x in rs),
                "max": max(x[key] for x in rs),
            }
            for key in ("seconds", "p99", "relay_rss_mb")
        }
        for side, rs in runs.items()
    }
    print(json.dumps({"clients": args.clients, "repeats": args.repeats, **summary}, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
