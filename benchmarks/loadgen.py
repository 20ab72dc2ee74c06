"""A neutral Gun load generator: raw WebSocket clients speaking Gun's wire, no Gun library.

The same program drives our relay and a Gun.js relay, so neither side's client code is in the
measurement. Subscribers GET the soul (an AXE relay forwards puts only to peers that asked),
writers put keys at a fixed rate; every put carries its send time so each delivery's latency
is measured, and every ack is matched to its put.

    python benchmarks/loadgen.py ws://127.0.0.1:8765/gun --subscribers 50 --writers 4 \
        --rate 200 --seconds 5
prints one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import string
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ALPHA = string.digits + string.ascii_uppercase.replace("Y", "") + string.ascii_lowercase


def rid(n: int = 9) -> str:
    return "".join(random.choices(ALPHA, k=n))


class Client:
    def __init__(self, url: str, soul: str) -> None:
        self.url = url
        self.soul = soul
        self.ws: ClientConnection | None = None
        self.pid = rid()
        self.seen: dict[str, float] = {}
        self.acks: dict[str, float] = {}
        self.got_reply = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await connect(self.url, max_size=100 * 2**20, ping_interval=None)
        self.task = asyncio.get_running_loop().create_task(self.read())

    async def read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            now = time.time() * 1000
            data = json.loads(frame)
            for m in data if isinstance(data, list) else [data]:
                self.handle(m, now)

    def handle(self, m: dict[str, Any], now: float) -> None:
        if m.get("dam") == "?" and "@" not in m:
            asyncio.get_running_loop().create_task(
                self.send({"#": rid(), "@": m.get("#"), "dam": "?", "pid": self.pid})
            )
            return
        if "@" in m and "put" not in m:
            if m.get("ok") and not m.get("err"):
                self.acks.setdefault(m["@"], now)
            return
        if "@" in m:
            self.got_reply.set()
        node = (m.get("put") or {}).get(self.soul)
        if isinstance(node, dict):
            for key in node:
                if key != "_" and key not in self.seen:
                    self.seen[key] = now

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(msg, separators=(",", ":")))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()


async def run(
    url: str, subscribers: int, writers: int, rate: float, seconds: float, settle: float
) -> dict[str, Any]:
    soul = "bench/" + rid(6)
    subs = [Client(url, soul) for _ in range(subscribers)]
    ws = [Client(url, soul) for _ in range(writers)]
    for c in subs + ws:
        await c.open()
    await asyncio.sleep(0.3)
    for c in subs:
        await c.send({"#": rid(), "get": {"#": soul}})
    await asyncio.sleep(0.5)
    sent: dict[str, float] = {}  # key -> send time (ms)
    put_ids: dict[str, str] = {}  # put id -> key
    counter = [0]

    async def writer(w: Client, n: int) -> None:
        interval = 1.0 / rate
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds:
            key = f"w{n}k{i}"
            counter[0] += 1
            now = time.time() * 1000
            state = now  # a fresh wall-clock state, as a Gun client writes
            pid = rid()
            put_ids[pid] = key
            sent[key] = now
            await w.send(
                {
                    "#": pid,
                    "put": {soul: {"_": {"#": soul, ">": {key: state}}, key: f"v{i}"}},
                    "ok": {"@": 9, "/": 1},
                }
            )
            i += 1
            target = start + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    t0 = time.time() * 1000
    await asyncio.gather(*(writer(w, n) for n, w in enumerate(ws)))
    t_sent = time.time() * 1000
    want = len(sent) * subscribers
    deadline = time.perf_counter() + settle
    while time.perf_counter() < deadline:
        got = sum(len(s.seen) for s in subs)
        acked = sum(len(w.acks) for w in ws)
        if got >= want and acked >= len(put_ids):
            break
        await asyncio.sleep(0.05)
    lat = [s.seen[k] - sent[k] for s in subs for k in s.seen if k in sent]
    delivered = len(lat)
    last = max((s.seen[k] for s in subs for k in s.seen), default=t_sent)
    acked = sum(1 for w in ws for a in w.acks if a in put_ids)
    for c in subs + ws:
        await c.close()
    span = max(last - t0, 1.0) / 1000
    lat.sort()
    return {
        "puts": len(sent),
        "subscribers": subscribers,
        "writers": writers,
        "deliveries": delivered,
        "deliveries_expected": want,
        "delivered_share": delivered / want if want else 0.0,
        "acked_share": acked / len(put_ids) if put_ids else 0.0,
        "deliveries_per_s": delivered / span,
        "p50_ms": statistics.median(lat) if lat else None,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url")
    p.add_argument("--subscribers", type=int, default=10)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--rate", type=float, default=100.0, help="puts per second per writer")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--settle", type=float, default=10.0)
    a = p.parse_args()
    res = asyncio.run(run(a.url, a.subscribers, a.writers, a.rate, a.seconds, a.settle))
    print(json.dumps(res))  # noqa: T201


if __name__ == "__main__":
    main()
