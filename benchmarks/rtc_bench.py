"""WebRTC benchmarks, ours vs Gun.js (npm gun's lib/webrtc on @roamhq/wrtc), on loopback.

Run inside a network namespace that has only ``lo`` (``run.py`` starts it with ``unshare -n``):
nothing here can send a packet elsewhere. Both pairs signal through the same relay (our
built-in one, in this process), so only the peers differ.

- link setup: from the joining peer being ready (Node start-up excluded) until the data
  channel is open and ``hi`` has run on both sides;
- data-channel throughput: the relay is stopped, one peer puts ``n`` keys one put at a time,
  the other counts them arriving; puts per second from the first put to the last arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunrtc_kit import Gun, Relay, WebRTCOptions  # noqa: E402
from tests.interop.gunjs import GunJsRtcPeer  # noqa: E402
from tests.netns import loopback_only  # noqa: E402


def opts(room: str) -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"])


async def ours_pair(room: str, relay: Relay) -> tuple[Gun, Gun, float]:
    a = await Gun([relay.url], rtc=opts(room)).start()
    await a.wait_connected()
    await asyncio.sleep(0.2)
    t0 = time.perf_counter()
    b = await Gun([relay.url], rtc=opts(room)).start()
    assert a.rtc is not None and b.rtc is not None
    await asyncio.gather(a.rtc.wait_open(b.pid, 30), b.rtc.wait_open(a.pid, 30))
    return a, b, (time.perf_counter() - t0) * 1000


async def gunjs_pair(room: str, relay: Relay) -> tuple[GunJsRtcPeer, GunJsRtcPeer, float]:
    http = relay.url.replace("ws://", "http://")
    a = GunJsRtcPeer(http, room)
    await a.__aenter__()
    await a.on("warmup")
    await a.wait_hi()
    await asyncio.sleep(0.2)
    b = GunJsRtcPeer(http, room)
    await b.__aenter__()
    ready = next(e for e in b.events if e.get("event") == "ready")
    await b.on("warmup")
    ha = await a.wait_rtc_hi(30)
    hb = await b.wait_rtc_hi(30)
    return a, b, float(max(ha["t"], hb["t"]) - ready["t"])


async def ours_throughput(n: int) -> float:
    relay = await Relay().start()
    a, b, _ = await ours_pair("tp", relay)
    try:
        await relay.stop()
        done = asyncio.Event()
        got: set[str] = set()

        def on(_v: Any, k: str) -> None:
            got.add(k)
            if len(got) >= n:
                done.set()

        b.get("bench/dc").map().on(on)
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        for i in range(n):
            a.get("bench/dc").get(f"k{i}").put(i)
            if i % 200 == 199:
                await asyncio.sleep(0)  # let the loop send, as Gun.js's timers do
        await asyncio.wait_for(done.wait(), 120)
        return n / (time.perf_counter() - t0)
    finally:
        await a.close()
        await b.close()


async def gunjs_throughput(n: int) -> float:
    relay = await Relay().start()
    a, b, _ = await gunjs_pair("tp", relay)
    try:
        await relay.stop()
        await b.send({"cmd": "count", "soul": "bench/dc", "n": n})
        await b.wait_event(lambda e: e.get("event") == "counting")
        await asyncio.sleep(0.2)
        await a.send({"cmd": "burst", "soul": "bench/dc", "n": n})
        start = await a.wait_event(lambda e: e.get("event") == "burst-start")
        end = await b.wait_event(lambda e: e.get("event") == "counted", 120)
        return n / ((end["t"] - start["t"]) / 1000)
    finally:
        await a.stop()
        await b.stop()


async def setup_times(rounds: int) -> dict[str, float]:
    ours: list[float] = []
    js: list[float] = []
    for r in range(rounds):
        relay = await Relay().start()
        a, b, ms = await ours_pair(f"o{r}", relay)
        ours.append(ms)
        await a.close()
        await b.close()
        await relay.stop()
        relay = await Relay().start()
        ja, jb, ms = await gunjs_pair(f"j{r}", relay)
        js.append(ms)
        await ja.stop()
        await jb.stop()
        await relay.stop()
    return {"ours": statistics.median(ours), "gunjs": statistics.median(js)}


async def main(quick: bool) -> dict[str, Any]:
    ok, why = loopback_only()
    if not ok:
        return {"skipped": why}
    n = 2000 if quick else 10000
    setup = await setup_times(3 if quick else 10)
    return {
        "setup_ms": setup,
        "throughput": {
            "ours": await ours_throughput(n),
            "gunjs": await gunjs_throughput(n),
            "n": n,
        },
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(main(args.quick))) + "\n")
