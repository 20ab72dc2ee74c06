"""WebRTC benchmarks, ours vs Gun.js (npm gun's lib/webrtc on @roamhq/wrtc), on loopback.

Run inside a network namespace that has only ``lo`` (``run.py`` starts it with ``unshare -n``):
nothing here can send a packet elsewhere. Both sides are driven the same way: every peer is a
process of its own speaking the same JSON-line protocol (ours: ``py_rtc_peer.py``, Gun.js:
``interop/gunjs_rtc_peer.js``), signalling through a fresh relay (our built-in one, in this
driver process) each time; each figure is taken ``--repeats`` times per side, sides
alternating.

- link setup: from the joining peer's process saying ``ready`` (its runtime and WebRTC
  library loaded, not yet connected) until both peers' processes have said ``hi`` over the
  data channel; both stamps are whole ms since the epoch, taken in the peers' processes;
- peer RSS: VmRSS of each of the two peer processes once their link is up;
- data-channel throughput: the relay is stopped, one peer puts ``n`` keys one put at a time,
  the other counts them arriving; puts per second from the first put to the last arrival;
- links held (ours only): one hub peer links with ``k`` spokes in one process (fresh for
  every repeat), how many links are open at once.

Prints one JSON object of samples (lists, one entry per repeat; peer RSS: two per repeat).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
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


def rss_kb(peer: GunJsRtcPeer) -> int:
    """VmRSS of a peer's process (the interpreter itself: python or node, no wrapper)."""
    assert peer.proc is not None
    for line in Path(f"/proc/{peer.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def setup_times(rounds: int) -> dict[str, dict[str, list[float]]]:
    """Each round, for each side (alternating who goes first): a fresh relay, peer A in its
    own process, then peer B; from B's process saying ready (its runtime and WebRTC library
    loaded, nothing connected yet) until both processes have said hi over the data channel.
    Both stamps are ms since the epoch as whole ms (Date.now() in Node, floored in ours).
    Then the RSS of both peer processes, with the one link up."""
    kinds: dict[str, type[GunJsRtcPeer]] = {"ours": PyRtcPeer, "gunjs": GunJsRtcPeer}
    ms: dict[str, list[float]] = {"ours": [], "gunjs": []}
    rss: dict[str, list[float]] = {"ours": [], "gunjs": []}
    for r in range(rounds):
        for side in ("ours", "gunjs") if r % 2 == 0 else ("gunjs", "ours"):
            relay = await Relay().start()
            try:
                a, b, took = await gunjs_pair(f"{side}{r}", relay, kinds[side])
                try:
                    ms[side].append(took)
                    rss[side] += [rss_kb(a), rss_kb(b)]
                finally:
                    await a.stop()
                    await b.stop()
            finally:
                await relay.stop()
    return {"setup_ms": ms, "peer_rss_kb": rss}


async def throughputs(n: int, rounds: int) -> dict[str, Any]:
    kinds: dict[str, type[GunJsRtcPeer]] = {"ours": PyRtcPeer, "gunjs": GunJsRtcPeer}
    res: dict[str, Any] = {"n": n, "ours": [], "gunjs": [], "ours_share": [], "gunjs_share": []}
    for r in range(rounds):
        for side in ("ours", "gunjs") if r % 2 == 0 else ("gunjs", "ours"):
            rate, share = await process_throughput(n, kinds[side])
            res[side].append(rate)
            res[side + "_share"].append(share)
    return res


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


def links_in_fresh_processes(k: int, rounds: int) -> dict[str, Any]:
    held: list[int] = []
    seconds: list[float] = []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, __file__, "--links", str(k)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        held.append(r["held"])
        seconds.append(r["seconds"])
    return {"of": k, "held": held, "seconds": seconds}


async def main(size: str, rounds: int) -> dict[str, Any]:
    ok, why = loopback_only()
    if not ok:
        return {"skipped": why}
    n = {"full": 10000, "quick": 2000, "tiny": 300}[size]
    k = 4 if size == "tiny" else 55
    res: dict[str, Any] = await setup_times(rounds)
    res["throughput"] = await throughputs(n, rounds)
    res["links"] = await asyncio.to_thread(links_in_fresh_processes, k, rounds)
    res["rounds"] = rounds
    return res


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tiny", action="store_true", help="the smallest sizes (the test suite)")
    p.add_argument("--repeats", type=int, default=5, help="rounds per figure, sides alternating")
    p.add_argument("--links", type=int, help="only: links one peer holds with this many")
    args = p.parse_args()
    if args.links is not None:
        res = asyncio.run(links_held(args.links))
    else:
        size = "tiny" if args.tiny else "quick" if args.quick else "full"
        res = asyncio.run(main(size, args.repeats))
    sys.stdout.write(json.dumps(res) + "\n")
