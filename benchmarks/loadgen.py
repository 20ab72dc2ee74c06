"""A neutral Gun load generator: raw WebSocket clients speaking Gun's wire, no Gun library.

The same program drives our relay and a Gun.js relay, so neither side's client code is in the
measurement. Subscribers GET the soul (an AXE relay forwards puts only to peers that asked),
writers put one new key per put; every put's send time is kept, so each delivery's latency is
measured, and every ack is matched to its put. Two ways to offer the load:

- fixed rate (``--rate R``): each writer puts R times a second;
- saturation (``--window W``): each writer keeps up to W puts in flight and sends the next as
  soon as one of them is acked or given up. A put is given up 1 s after it was sent without an
  ack (so a relay that never acks still gets ``writers * W`` puts a second at most).

In both, a put counts as acked only if its ack came within 1 s. With ``--relay-pid`` the
relay's CPU time (``/proc/PID/stat`` utime + stime) is read when the first put goes out and
when the run is over, and its peak RSS (``VmHWM``) at the end.

    python benchmarks/loadgen.py ws://127.0.0.1:8765/gun --subscribers 50 --writers 4 \
        --rate 200 --seconds 5
    python benchmarks/loadgen.py ws://127.0.0.1:8765/gun --subscribers 10 --writers 4 \
        --window 1000 --seconds 5 --relay-pid 1234
prints one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import string
import time
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ALPHA = string.digits + string.ascii_uppercase.replace("Y", "") + string.ascii_lowercase
GIVE_UP_MS = 1000.0


def rid(n: int = 9) -> str:
    return "".join(random.choices(ALPHA, k=n))


def now_ms() -> float:
    """One monotonic clock for sends, acks and deliveries (all in this process)."""
    return time.perf_counter() * 1000


class Histogram:
    """Latencies in 0.05 ms bins up to 60 s (exact enough for p50/p99, constant memory:
    a saturated run can make millions of deliveries)."""

    STEP = 0.05

    def __init__(self, limit_ms: float = 60_000.0) -> None:
        self.bins = [0] * (int(limit_ms / self.STEP) + 1)
        self.n = 0
        self.max = 0.0

    def add(self, ms: float) -> None:
        i = min(max(int(ms / self.STEP), 0), len(self.bins) - 1)
        self.bins[i] += 1
        self.n += 1
        if ms > self.max:
            self.max = ms

    def quantile(self, q: float) -> float | None:
        if not self.n:
            return None
        rank = max(1, round(q * self.n))  # nearest rank
        seen = 0
        for i, c in enumerate(self.bins):
            seen += c
            if seen >= rank:
                return (i + 0.5) * self.STEP
        return self.max


class Run:
    """What every client shares: the puts sent (by global index), their acks, deliveries."""

    def __init__(self, soul: str) -> None:
        self.soul = soul
        self.sent = array("d")  # put index -> send time (ms)
        self.put_ids: dict[str, int] = {}  # message id -> put index
        self.acked = bytearray()  # put index -> 1 when acked within 1 s
        self.acks_1s = 0
        self.acks_late = 0
        self.given_up = 0
        self.ack_ms = Histogram()
        self.delivery_ms = Histogram()
        self.deliveries = 0
        self.last_event = 0.0  # time of the last ack or delivery
        self.slot = asyncio.Event()  # set when a window slot frees


class Client:
    def __init__(self, url: str, run: Run, subscriber: bool) -> None:
        self.url = url
        self.run = run
        self.subscriber = subscriber
        self.ws: ClientConnection | None = None
        self.pid = rid()
        self.seen = bytearray()  # put index -> 1 once delivered to this client
        self.inflight: OrderedDict[str, int] = OrderedDict()  # writers: id -> put index
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await connect(self.url, max_size=100 * 2**20, ping_interval=None)
        self.task = asyncio.get_running_loop().create_task(self.read())

    async def read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            now = now_ms()
            data = json.loads(frame)
            for m in data if isinstance(data, list) else [data]:
                if isinstance(m, dict):
                    self.handle(m, now)

    def handle(self, m: dict[str, Any], now: float) -> None:
        r = self.run
        if m.get("dam") == "?" and "@" not in m:
            asyncio.get_running_loop().create_task(
                self.send({"#": rid(), "@": m.get("#"), "dam": "?", "pid": self.pid})
            )
            return
        if "@" in m and "put" not in m:
            if m.get("ok") and not m.get("err"):
                self.ack(str(m["@"]), now)
            return
        node = (m.get("put") or {}).get(r.soul) if self.subscriber else None
        if not isinstance(node, dict):
            return
        for key in node:
            if key == "_" or key[:1] != "p":
                continue
            try:
                g = int(key[1:])
            except ValueError:
                continue
            if g >= len(r.sent):
                continue
            if g >= len(self.seen):
                self.seen.extend(bytes(g + 1024 - len(self.seen)))
            if not self.seen[g]:
                self.seen[g] = 1
                r.deliveries += 1
                r.delivery_ms.add(now - r.sent[g])
                r.last_event = now

    def ack(self, mid: str, now: float) -> None:
        r = self.run
        g = self.inflight.pop(mid, None)
        if g is None:
            if mid in r.put_ids and not r.acked[r.put_ids[mid]]:
                r.acks_late += 1  # given up already, or a second ack
            return
        if now - r.sent[g] <= GIVE_UP_MS:
            r.acked[g] = 1
            r.acks_1s += 1
            r.ack_ms.add(now - r.sent[g])
            r.last_event = now
        else:
            r.acks_late += 1
        r.slot.set()

    def give_up(self, now: float) -> None:
        r = self.run
        while self.inflight:
            mid, g = next(iter(self.inflight.items()))
            if now - r.sent[g] <= GIVE_UP_MS:
                break
            del self.inflight[mid]
            r.given_up += 1
            r.slot.set()

    async def put(self, n: int) -> None:
        r = self.run
        g = len(r.sent)
        key = f"p{g}"
        mid = rid()
        now = now_ms()
        r.sent.append(now)
        r.acked.append(0)
        r.put_ids[mid] = g
        self.inflight[mid] = g
        state = time.time() * 1000  # a fresh wall-clock state, as a Gun client writes
        await self.send(
            {
                "#": mid,
                "put": {r.soul: {"_": {"#": r.soul, ">": {key: state}}, key: f"v{n}"}},
                "ok": {"@": 9, "/": 1},
            }
        )

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(msg, separators=(",", ":")))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()


def proc_cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (``/proc/PID/stat`` fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, field: str) -> int:
    m = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) if m else 0


async def run(
    url: str,
    subscribers: int,
    writers: int,
    seconds: float,
    settle: float,
    rate: float | None = None,
    window: int | None = None,
    relay_pid: int | None = None,
) -> dict[str, Any]:
    if (rate is None) == (window is None):
        raise ValueError("give a rate or a window")
    r = Run("bench/" + rid(6))
    subs = [Client(url, r, True) for _ in range(subscribers)]
    ws = [Client(url, r, False) for _ in range(writers)]
    for c in subs + ws:
        await c.open()
    await asyncio.sleep(0.3)
    for c in subs:
        await c.send({"#": rid(), "get": {"#": r.soul}})
    await asyncio.sleep(0.5)
    stop = asyncio.Event()

    async def reaper() -> None:
        while not stop.is_set():
            now = now_ms()
            for w in ws:
                w.give_up(now)
            await asyncio.sleep(0.01)

    async def fixed_writer(w: Client) -> None:
        assert rate is not None
        interval = 1.0 / rate
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds:
            await w.put(i)
            i += 1
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    async def window_writer(w: Client) -> None:
        assert window is not None
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            if len(w.inflight) >= window:
                r.slot.clear()
                await r.slot.wait()
                continue
            await w.put(i)
            i += 1
            if i % 64 == 0:
                await asyncio.sleep(0)  # let the readers in

    cpu0 = proc_cpu_s(relay_pid) if relay_pid else 0.0
    gen0 = time.process_time()
    reaping = asyncio.get_running_loop().create_task(reaper())
    t0 = now_ms()
    writer = fixed_writer if rate is not None else window_writer
    await asyncio.gather(*(writer(w) for w in ws))
    t_sent = now_ms()
    puts = len(r.sent)
    want = puts * subscribers
    deadline = time.perf_counter() + settle
    while time.perf_counter() < deadline:
        if r.deliveries >= want and not any(w.inflight for w in ws):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await reaping
    gen_cpu = time.process_time() - gen0
    gen_wall_s = max((now_ms() - t0) / 1000, 1e-3)
    relay: dict[str, Any] = {}
    if relay_pid:
        relay_cpu = proc_cpu_s(relay_pid) - cpu0
        busy_s = max(max(r.last_event, t_sent) - t0, 1.0) / 1000
        relay = {
            "relay_cpu_s": relay_cpu,
            "relay_cpu_share": relay_cpu / busy_s,  # of one core, first put to last event
            "relay_peak_rss_kb": proc_status_kb(relay_pid, "VmHWM"),
            "relay_rss_kb": proc_status_kb(relay_pid, "VmRSS"),
        }
    for c in subs + ws:
        await c.close()
    span_s = max(max(r.last_event, t_sent) - t0, 1.0) / 1000
    return {
        "mode": "rate" if rate is not None else "window",
        "rate": rate,
        "window": window,
        "seconds": seconds,
        "subscribers": subscribers,
        "writers": writers,
        "puts": puts,
        "puts_per_s": puts / max((t_sent - t0) / 1000, 1e-3),
        "acked_share": r.acks_1s / puts if puts else 0.0,  # within 1 s
        "acks_late": r.acks_late,
        "given_up": r.given_up,
        "deliveries": r.deliveries,
        "deliveries_expected": want,
        "delivered_share": r.deliveries / want if want else 0.0,
        "deliveries_per_s": r.deliveries / span_s,
        "p50_ms": r.delivery_ms.quantile(0.5),
        "p99_ms": r.delivery_ms.quantile(0.99),
        "ack_p50_ms": r.ack_ms.quantile(0.5),
        "ack_p99_ms": r.ack_ms.quantile(0.99),
        "generator_cpu_share": gen_cpu / gen_wall_s,  # this process, of one core
        **relay,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url")
    p.add_argument("--subscribers", type=int, default=10)
    p.add_argument("--writers", type=int, default=2)
    load = p.add_mutually_exclusive_group()
    load.add_argument("--rate", type=float, help="puts per second per writer (default 100)")
    load.add_argument("--window", type=int, help="puts in flight per writer (saturation)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--settle", type=float, default=10.0, help="longest wait after the last put")
    p.add_argument("--relay-pid", type=int, help="read this relay's CPU time and peak RSS")
    a = p.parse_args()
    rate = a.rate if a.rate is not None or a.window is not None else 100.0
    res = asyncio.run(
        run(
            a.url,
            a.subscribers,
            a.writers,
            a.seconds,
            a.settle,
            rate=rate,
            window=a.window,
            relay_pid=a.relay_pid,
        )
    )
    print(json.dumps(res))  # noqa: T201


if __name__ == "__main__":
    main()
