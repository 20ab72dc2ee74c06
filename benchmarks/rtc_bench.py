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
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunrtc_kit import Gun, Relay, WebRTCOptions  # noqa: E402
from tests.interop.gunjs import GunJsRtcPeer, NodeProcess  # noqa: E402
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


class PyRtcPeer(GunJsRtcPeer):
    """Our peer in its own process (benchmarks/py_rtc_peer.py), same protocol as Gun.js's."""

    def __init__(self, relay_url: str, room: str) -> None:
        NodeProcess.__init__(self, "gunjs_rtc_peer.js", relay_url, room)
        self.pid = ""
        self._n = 0

    async def start(self) -> None:
        env = dict(os.environ)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("py_rtc_peer.py")),
            *self.args,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())


async def gunjs_pair(
    room: str, relay: Relay, kind: type[GunJsRtcPeer] = GunJsRtcPeer
) -> tuple[GunJsRtcPeer, GunJsRtcPeer, float]:
    http = relay.url.replace("ws://", "http://")
    a = kind(http, room)
    await a.__aenter__()
    await a.on("warmup")
    await a.wait_hi()
    await asyncio.sleep(0.2)
    b = kind(http, room)
    await b.__aenter__()
    ready = next(e for e in b.events if e.get("event") == "ready")
    await b.on("warmup")
    ha = await a.wait_rtc_hi(30)
    hb = await b.wait_rtc_hi(30)
    return a, b, float(max(ha["t"], hb["t"]) - ready["t"])


async def process_throughput(n: int, kind: type[GunJsRtcPeer]) -> tuple[float, float]:
    """Two peers in two processes: one bursts ``n`` puts over the data channel, the other
    counts (the same driver for ours and Gun.js)."""
    relay = await Relay().start()
    a, b, _ = await gunjs_pair("tp", relay, kind)
    try:
        await relay.stop()
        await b.send({"cmd": "count", "soul": "bench/dc", "n": n})
        await b.wait_event(lambda e: e.get("event") == "counting")
        await asyncio.sleep(0.2)
        await a.send({"cmd": "burst", "soul": "bench/dc", "n": n})
        start = await a.wait_event(lambda e: e.get("event") == "burst-start")
        seen, since = -1, time.perf_counter()
        while True:
            await asyncio.sleep(0.25)
            prog = [e for e in b.events if e.get("event") in ("progress", "counted")]
            if prog and prog[-1]["event"] == "counted":
                end = prog[-1]
                break
            if prog and prog[-1]["n"] != seen:
                seen, since = prog[-1]["n"], time.perf_counter()
            elif time.perf_counter() - since > 3.0:
                end = prog[-1] if prog else {"n": 0, "last": start["t"]}
                break
        got = n if end["event"] == "counted" else end["n"]
        return got / (max(end["last"] - start["t"], 1) / 1000), got / n
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


async def links_held(k: int = 55) -> dict[str, float]:
    """One hub peer links with ``k`` spokes in this process (Gun's cap is 55 per peer); how
    many links are open at once, and how long setting them all up took."""
    hub = await Gun(rtc=WebRTCOptions(ice_servers=[], host_addresses=["127.0.0.1"])).start()
    spokes = [
        await Gun(rtc=WebRTCOptions(ice_servers=[], host_addresses=["127.0.0.1"])).start()
        for _ in range(k)
    ]
    t0 = time.perf_counter()
    try:
        assert hub.rtc is not None
        for s in spokes:
            assert s.rtc is not None
            answer = await s.rtc.accept_offer(hub.pid, await hub.rtc.create_offer(s.pid))
            await hub.rtc.accept_answer(s.pid, answer)
        for s in spokes:
            with contextlib.suppress(Exception):
                await hub.rtc.wait_open(s.pid, 30)
        held = len(hub.rtc.connected())
        return {"held": held, "seconds": time.perf_counter() - t0}
    finally:
        for g in [hub, *spokes]:
            await g.close()


async def main(quick: bool) -> dict[str, Any]:
    ok, why = loopback_only()
    if not ok:
        return {"skipped": why}
    n = 2000 if quick else 10000
    setup = await setup_times(3 if quick else 10)
    ours_rate, ours_share = await process_throughput(n, PyRtcPeer)
    js_rate, js_share = await process_throughput(n, GunJsRtcPeer)
    return {
        "links": await links_held(55),
        "setup_ms": setup,
        "throughput": {
            "ours": ours_rate,
            "gunjs": js_rate,
            "n": n,
            "ours_share": ours_share,
            "gunjs_share": js_share,
        },
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(main(args.quick))) + "\n")
