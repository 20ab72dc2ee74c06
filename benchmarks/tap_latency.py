"""The latency the tap adds: the same paced Gun puts, straight to a relay and through the tap.

    .venv/bin/python benchmarks/tap_latency.py                  # 5 repeats of 10 s per path
    .venv/bin/python benchmarks/tap_latency.py --repeats 2 --seconds 2   # a quick look

(``run.py --only tap_latency`` runs it and turns it into rows.) Issue 20 bounds it: the tap
adds under 2 ms at p99 at 1,000 frames/s on this machine.

Targets, both real relay processes with their stores, fresh for every sample: **ours**
(``gunrtc-kit relay --store FILE``, SQLite) and **Gun.js** (npm gun's relay with radisk,
``gunrtc_kit.lab.gunjs.GunJsRelay``, i.e. ``interop/gunjs_relay.js``). Paths, measured the
same way against each target in one run:

- ``direct``: the clients dial the relay;
- ``tap``: they dial ``gunrtc-kit tap --listen ... --target RELAY`` (its own process, as a
  user runs it; nothing recorded: its bus keeps no history and has no subscriber);
- ``tap_rec``: the same with ``--trace FILE`` (a ``Recorder`` writes every event as it goes).

One sample: a fresh relay (and tap), two raw WebSocket clients speaking Gun's wire (no Gun
library: neither side's client code is measured) in THIS process, on one asyncio loop, so both
read the same clock (``time.perf_counter``). The receiver GETs a soul (an AXE relay forwards a
put only to peers that asked) and the sender puts one new key of that soul per frame, paced at
``--rate`` frames/s on an absolute schedule (a late frame is sent as soon as the readers had
their turn; no frame goes before its time), each frame a ~``--frame-bytes``
byte put like an app's (a message id, the soul's state vector, one text value). Both clients
answer the relay's ``?`` handshake with a pid, as Gun does. Latency of a frame = the moment the
receiver's loop reads the forwarded put minus the moment just before the sender wrote it. The
first ``--warmup`` seconds are sent but not counted. Paths rotate their order per repeat.

``--interleave``: each sample sends straight to the relay and through a tap in the same
seconds (two lanes, each at ``--rate``, their slots alternating), once with ``tap`` and once
with ``tap_rec``; the relay then carries twice the rate, the tap the same. Sequential samples
compare paths measured seconds apart, so a change in the machine's load between them (other
work on a shared machine) lands in the difference; interleaved ones share it.

CPU over the counted window: this process (the load generator: both clients, the pacing, the
JSON), the tap process and the relay process (``/proc/PID/stat``), each as a share of one core.
Prints one JSON object: every sample, per target and path the medians of p50/p90/p99/p99.9/max
across repeats with min and max, the p99 added by the tap per repeat (tap minus direct, both
from the same repeat) and the load average at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from gunrtc_kit.lab.gunjs import GunJsRelay  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port, stop, wait_port  # noqa: E402  (run.py: the processes helpers, once)

TARGETS = ("ours", "gunjs")
PATHS = ("direct", "tap", "tap_rec")
ALPHA = string.ascii_letters + string.digits
DRAIN = 3.0  # s the receiver has, after the last send, for the last deliveries
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))


def rid(n: int = 9) -> str:
    return "".join(random.choices(ALPHA, k=n))


def cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (``/proc/PID/stat`` fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def child(cmd: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` as a child process of ours, until it listens on ``port``; stopped after."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed below; a pipe could fill)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        wait_port(port, proc)
        yield proc
    finally:
        stop(proc, 10)
        errors.seek(0)
        err = errors.read().decode(errors="replace").strip()
        errors.close()
        if err:
            sys.stderr.write(f"{cmd[3]} said: {err[-2000:]}\n")


@contextlib.contextmanager
def relay(target: str, tmp: Path) -> Iterator[tuple[str, int]]:
    """A fresh relay with a fresh store; yields (ws url, pid)."""
    if target == "gunjs":
        js = GunJsRelay(radisk=True, data_dir=tmp / "radata").start()
        try:
            assert js.process is not None
            yield js.url, js.process.pid
        finally:
            js.stop()
        return
    port = free_port()
    cmd = [sys.executable, "-m", "gunrtc_kit.cli", "relay", "--port", str(port)]
    with child([*cmd, "--store", str(tmp / "ours.sqlite3")], port) as proc:
        yield f"ws://127.0.0.1:{port}/gun", proc.pid


@contextlib.contextmanager
def tap(path: str, target_url: str, tmp: Path) -> Iterator[tuple[str, int | None, Path | None]]:
    """The tap in front of ``target_url`` for ``path`` (none for ``direct``); yields (the url
    the clients dial, the tap's pid, the trace file)."""
    if path == "direct":
        yield target_url, None, None
        return
    port = free_port()
    cmd = [sys.executable, "-m", "gunrtc_kit.cli", "tap", "--listen", f"127.0.0.1:{port}"]
    cmd += ["--target", target_url]
    trace = tmp / "tap.jsonl" if path == "tap_rec" else None
    cmd += ["--trace", str(trace)] if trace is not None else []
    with child(cmd, port) as proc:
        yield f"ws://127.0.0.1:{port}/gun", proc.pid, trace


class Probe:
    """The sender and the receiver of one sample, and what they saw."""

    def __init__(self, total: int) -> None:
        self.soul = "bench/tap/" + rid(6)
        self.sent = array("d", [math.nan]) * total  # frame index -> send time (s)
        self.arrived = array("d", [math.nan]) * total  # frame index -> read time (s)
        self.duplicates = 0
        self.got = 0
        self.all_in = asyncio.Event()
        self.total = total

    async def read(self, ws: ClientConnection, pid: str) -> None:
        """Take every frame (the relay's acks too: an unread socket would be cut), answer
        ``?``, stamp each put of our soul the first time it arrives."""
        async for frame in ws:
            now = time.perf_counter()
            data = json.loads(frame)
            for m in data if isinstance(data, list) else [data]:
                if not isinstance(m, dict):
                    continue
                if m.get("dam") == "?" and "@" not in m:
                    hi = {"#": rid(), "@": m.get("#"), "dam": "?", "pid": pid}
                    await ws.send(json.dumps(hi, separators=(",", ":")))
                    continue
                node = (m.get("put") or {}).get(self.soul)
                if isinstance(node, dict):
                    self.stamp(node, now)

    def stamp(self, node: dict[str, Any], now: float) -> None:
        for key in node:
            if key[:1] != "m" or not key[1:].isdigit():
                continue
            g = int(key[1:])
            if g >= self.total:
                continue
            if math.isnan(self.arrived[g]):
                self.arrived[g] = now
                self.got += 1
                if self.got == self.total:
                    self.all_in.set()
            else:
                self.duplicates += 1

    def frame(self, g: int, pad: str) -> str:
        key = f"m{g}"
        put = {
            "#": rid(),
            "put": {
                self.soul: {
                    "_": {"#": self.soul, ">": {key: time.time() * 1000}},
                    key: f"message {g} from alice: {pad}",
                }
            },
        }
        return json.dumps(put, separators=(",", ":"))


def pad_for(frame_bytes: int) -> str:
    """Text that brings a put frame to about ``frame_bytes`` bytes."""
    bare = len(Probe(1).frame(0, ""))
    return "".join(random.choices(string.ascii_lowercase + " ", k=max(0, frame_bytes - bare)))


class Lane:
    """One path of a sample: its url, its two clients and what it saw."""

    def __init__(self, path: str, url: str, total: int) -> None:
        self.path = path
        self.url = url
        self.probe = Probe(total)
        self.sizes: list[int] = []
        self.late: list[float] = []  # ms each counted frame left after its due time
        self.clients: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        opts: dict[str, Any] = {"ping_interval": None, "compression": None, "max_size": 2**24}
        for _ in range(2):  # receiver, sender
            ws = await connect(self.url, **opts)
            self.clients.append(ws)
            self.readers.append(asyncio.create_task(self.probe.read(ws, rid(12))))

    async def subscribe(self) -> None:
        get = {"#": rid(), "get": {"#": self.probe.soul}}
        await self.clients[0].send(json.dumps(get, separators=(",", ":")))

    async def send(self, g: int, due: float, pad: str, counted: bool) -> None:
        text = self.probe.frame(g, pad)
        now = time.perf_counter()
        self.probe.sent[g] = now
        await self.clients[1].send(text)
        if counted:
            self.late.append((now - due) * 1000)
            self.sizes.append(len(text.encode()))

    async def close(self) -> None:
        for ws in self.clients:
            await ws.close()
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def send_paced(
    lanes: list[Lane], rate: float, counted_from: int, pids: list[int], pad: str
) -> tuple[float, float, list[float]]:
    """Send every lane's frames at ``rate``/s each on an absolute schedule (the lanes' slots
    spread evenly over each period); returns, over the counted frames (index ``counted_from``
    on): the seconds they took, the generator's CPU share and one share per pid."""
    cpu0: list[float] = []
    t0 = gen0 = 0.0
    total = lanes[0].probe.total
    start = time.perf_counter() + 0.01
    for g in range(total):
        if g == counted_from:
            t0, gen0 = time.perf_counter(), time.process_time()
            cpu0 = [cpu_s(p) for p in pids]
        for k, lane in enumerate(lanes):
            due = start + (g + k / len(lanes)) / rate
            wait = due - time.perf_counter()
            # late: send at once, but let the readers in first
            await asyncio.sleep(max(wait, 0.0))
            await lane.send(g, due, pad, g >= counted_from)
    wall = max(time.perf_counter() - t0, 1e-6)
    gen = (time.process_time() - gen0) / wall
    return wall, gen, [(cpu_s(p) - c) / wall for p, c in zip(pids, cpu0, strict=True)]


def nearest(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of sorted values."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def lane_result(lane: Lane, counted_from: int, wall: float) -> dict[str, Any]:
    """Latencies (ms) and pacing of ``lane``'s counted frames."""
    probe = lane.probe
    lat = sorted(
        (probe.arrived[g] - probe.sent[g]) * 1000
        for g in range(counted_from, probe.total)
        if not math.isnan(probe.arrived[g])
    )
    counted = probe.total - counted_from
    out: dict[str, Any] = {"frames": counted, "missing": counted - len(lat)}
    out["duplicates"] = probe.duplicates
    for name, q in QUANTILES:
        out[f"{name}_ms"] = nearest(lat, q) if lat else math.nan
    out["max_ms"] = lat[-1] if lat else math.nan
    late = sorted(lane.late)
    out["rate_achieved"] = len(late) / wall
    out["frame_bytes"] = statistics.mean(lane.sizes)
    out["send_late_p99_ms"] = nearest(late, 0.99)
    out["send_late_over_1ms_share"] = sum(1 for x in late if x > 1.0) / len(late)
    return out


async def measure(
    urls: dict[str, str], a: argparse.Namespace, pids: list[int]
) -> dict[str, dict[str, Any]]:
    """One sample, every path of ``urls`` at ``a.rate`` at once: per path its latencies and
    the CPU shares (generator, relay, tap) over the counted window."""
    counted_from = round(a.rate * a.warmup)
    total = counted_from + round(a.rate * a.seconds)
    lanes = [Lane(path, url, total) for path, url in urls.items()]
    try:
        for lane in lanes:
            await lane.open()
        await asyncio.sleep(0.3)  # the '?' handshakes
        for lane in lanes:
            await lane.subscribe()
        await asyncio.sleep(0.3)
        pad = pad_for(a.frame_bytes)
        wall, gen, cpu = await send_paced(lanes, a.rate, counted_from, pids, pad)
        for lane in lanes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lane.probe.all_in.wait(), DRAIN)
    finally:
        for lane in lanes:
            await lane.close()
    shares = {"generator_cpu": gen, "relay_cpu": cpu[0], "tap_cpu": cpu[1] if cpu[1:] else None}
    return {lane.path: {**lane_result(lane, counted_from, wall), **shares} for lane in lanes}


def one(target: str, paths: tuple[str, ...], a: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """A fresh relay of ``target`` (and a tap if a path needs one), one sample along
    ``paths`` at once (``direct`` and at most one tap path)."""
    tap_path = next((p for p in paths if p != "direct"), "direct")
    with tempfile.TemporaryDirectory(prefix=f"tap-bench-{target}-") as tmp_s:
        tmp = Path(tmp_s)
        with relay(target, tmp) as (target_url, relay_pid), tap(tap_path, target_url, tmp) as t:
            url, tap_pid, trace = t
            pids = [relay_pid] + ([tap_pid] if tap_pid is not None else [])
            time.sleep(0.3)  # both idle a moment after their ports open
            load = os.getloadavg()[0]
            urls = {p: (target_url if p == "direct" else url) for p in paths}
            rs = asyncio.run(measure(urls, a, pids))
        for r in rs.values():
            r["loadavg_1min"] = load
            if trace is not None:
                r["trace_bytes"] = trace.stat().st_size if trace.exists() else 0
        return rs


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


KEYS = ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "generator_cpu", "relay_cpu")


def summarize(
    samples: dict[str, dict[str, list[dict[str, Any]]]], interleave: bool
) -> dict[str, Any]:
    """Per target and path the spread of each figure across repeats, and the tap's added
    latency per repeat (each path minus its ``direct`` of the same repeat)."""
    out: dict[str, Any] = {}
    for target, by_path in samples.items():
        t: dict[str, Any] = {}
        for path, rs in by_path.items():
            keys = [*KEYS, *(("tap_cpu",) if not path.startswith("direct") else ())]
            t[path] = {k: spread([r[k] for r in rs]) for k in keys}
            t[path]["missing"] = sum(r["missing"] for r in rs)
            t[path]["duplicates"] = sum(r["duplicates"] for r in rs)
        for path in PATHS[1:]:
            for q in ("p50_ms", "p99_ms"):
                directs = by_path[base(path, interleave)]
                added = [x[q] - d[q] for x, d in zip(by_path[path], directs, strict=True)]
                t[f"{path}_added_{q}"] = {"samples": added, **spread(added)}
        out[target] = t
    return out


def plan(rep: int, interleave: bool) -> list[tuple[str, ...]]:
    """The samples of one repeat, per target, their order rotated by ``rep``: each path alone,
    or (``interleave``) each tap path at once with its own ``direct``."""
    if interleave:
        pairs: list[tuple[str, ...]] = [("direct", p) for p in PATHS[1:]]
        return pairs if rep % 2 == 0 else pairs[::-1]
    k = rep % len(PATHS)
    return [(p,) for p in PATHS[k:] + PATHS[:k]]


def base(path: str, interleave: bool) -> str:
    """The key of the ``direct`` samples ``path`` is compared with."""
    return f"direct@{path}" if interleave else "direct"


def run(a: argparse.Namespace) -> dict[str, Any]:
    keys = [*PATHS[1:], *(f"direct@{p}" for p in PATHS[1:])] if a.interleave else list(PATHS)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        t: {k: [] for k in keys} for t in a.target
    }
    load = [os.getloadavg()]
    for rep in range(a.repeats):
        for target in a.target if rep % 2 == 0 else a.target[::-1]:
            for paths in plan(rep, a.interleave):
                rs = one(target, paths, a)
                tap_path = paths[-1]
                for path, r in rs.items():
                    r["repeat"] = rep
                    key = base(tap_path, a.interleave) if path == "direct" else path
                    samples[target][key].append(r)
                    sys.stderr.write(
                        f"{target:5} {key:15} rep {rep}: p50 {r['p50_ms']:.3f} p99 "
                        f"{r['p99_ms']:.3f} max {r['max_ms']:.1f} ms, gen "
                        f"{r['generator_cpu']:.0%} tap {r['tap_cpu'] or 0:.0%} relay "
                        f"{r['relay_cpu']:.0%}, load {r['loadavg_1min']:.2f}\n"
                    )
    load.append(os.getloadavg())
    return {
        "rate": a.rate,
        "seconds": a.seconds,
        "warmup": a.warmup,
        "repeats": a.repeats,
        "interleave": a.interleave,
        "frame_bytes_asked": a.frame_bytes,
        "cores": os.cpu_count(),
        "loadavg_start_end": [list(x) for x in load],
        "summary": summarize(samples, a.interleave),
        "samples": samples,
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=5, help="samples per target and path")
    p.add_argument("--seconds", type=float, default=10.0, help="counted seconds per sample")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds sent first, not counted")
    p.add_argument("--rate", type=float, default=1000.0, help="frames per second")
    p.add_argument("--frame-bytes", type=int, default=220, help="about this many bytes a put")
    p.add_argument("--target", action="append", choices=TARGETS, help="default: both")
    p.add_argument(
        "--interleave",
        action="store_true",
        help="send direct and through a tap in the same seconds (each at --rate, slots "
        "alternating), so a change in the machine's load hits both alike",
    )
    a = p.parse_args()
    a.target = tuple(a.target or TARGETS)
    sys.stdout.write(json.dumps(run(a)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
