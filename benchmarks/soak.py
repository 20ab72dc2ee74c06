"""Soak: our relay's memory over minutes of steady load while some readers never read.

    python benchmarks/soak.py --quick        # 20 s
    python benchmarks/soak.py                # 180 s
    python benchmarks/soak.py --seconds 600 --slow 8 --rate 1000

Starts ``python -m gunrtc_kit.cli relay --port 0 --store <tmp>/soak.sqlite3`` as a child
process and drives it from this process with raw ``websockets`` clients speaking Gun's wire
(no Gun code on the client side, as ``loadgen.py``):

- ``--writers`` writers put at a steady offered rate (``--rate`` puts/s in all, open loop: a
  writer does not wait for its acks; values padded to ``--value-bytes``) and match every
  ``{'@': id, 'ok': ..}`` ack to its put. Each writes its own ``--souls`` souls over a bounded
  key space (``--keys`` keys a soul), so the graph the relay holds stops growing after the first
  lap and any growth left is buffering or a leak;
- ``--subscribers`` honest subscribers ``get`` every soul and read everything;
- ``--slow`` slow readers connect (a tiny ``SO_RCVBUF``, websockets' receive queue at 1 frame),
  ``get`` every soul and then never read, so TCP backs up into the relay. Every ``--probe``
  seconds each writes a ``[]`` heartbeat: once the relay has dropped it, that write is reset,
  which is how a slow reader sees its socket closed. At the end each reads for up to
  ``--drain`` s to catch a close that came in behind data it never read.

The relay's ``VmRSS`` (``/proc/PID/status``) is sampled every ``--interval`` s. The verdict is
"flat" when the least-squares slope of RSS over the second half of the run is under
``--threshold`` MB/min, else "GROWING". Prints a table (stdout; progress on stderr) and writes
``benchmarks/soak.json``: the args, the machine, the git commit, every sample and the figures.
Exits 0 when the run completed, whatever the verdict (``--strict``: 1 when GROWING).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ALPHA = string.digits + string.ascii_letters

Result = dict[str, Any]


def rid(n: int = 9) -> str:
    return "".join(random.choices(ALPHA, k=n))


def dumps(msg: Any) -> str:
    return json.dumps(msg, separators=(",", ":"))


def messages(frame: str | bytes) -> list[Any]:
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


# ---------------------------------------------------------------------------- the relay


def status_kb(pid: int, fld: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(rf"^{fld}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (``/proc/PID/stat`` fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def relay_process(
    tmp: Path, timeout: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Our relay in a child process with a SQLite store; yields (process, ws url). Its stdout
    and stderr go to files (a pipe nobody reads could block it); always stopped on exit."""
    out, err = tmp / "relay.out", tmp / "relay.err"
    cmd = [PY, "-m", "gunrtc_kit.cli", "relay", "--port", "0", "--store", str(tmp / "soak.sqlite3")]
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)
    try:
        deadline = time.monotonic() + timeout
        while True:
            text = out.read_text(errors="replace")
            m = re.search(r"ws://\S+/gun", text.split("\n", 1)[0]) if "\n" in text else None
            if m:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = err.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"relay did not start (exit {proc.poll()}): {text!r} {tail}")
            time.sleep(0.05)
        yield proc, m.group(0)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------------------- the clients


@dataclass
class Stats:
    puts: int = 0
    skipped: int = 0  # sends a writer that fell > 1 s behind its schedule gave up
    acks: int = 0
    nacks: int = 0  # replies with err, or without ok
    ack_ms: list[float] = field(default_factory=list)
    deliveries: int = 0
    lag_ms: list[float] = field(default_factory=list)  # subscriber receive time - put state
    errors: list[str] = field(default_factory=list)


class Honest:
    """A client that reads everything: a writer (acks) or a subscriber (deliveries)."""

    def __init__(self, url: str, stats: Stats, souls: set[str], subscriber: bool) -> None:
        self.url = url
        self.stats = stats
        self.souls = souls
        self.subscriber = subscriber
        self.pid = rid()
        self.pending: dict[str, float] = {}  # put id -> perf_counter at send
        self.ws: ClientConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False

    async def open(self) -> None:
        self.ws = await connect(self.url, max_size=None, ping_interval=None, open_timeout=10)
        self.task = asyncio.get_running_loop().create_task(self.read())

    async def send(self, msg: Any) -> None:
        assert self.ws is not None
        await self.ws.send(dumps(msg))

    async def read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                now_pc, now_ms = time.perf_counter(), time.time() * 1000
                for m in messages(frame):
                    if isinstance(m, dict):
                        self.handle(m, now_pc, now_ms)
            if not self.closing:
                self.stats.errors.append("honest client: the relay closed the connection")
        except ConnectionClosed as exc:
            self.stats.errors.append(f"honest client closed: {exc!r}")
        except Exception as exc:  # a bad frame: note it, as the run must go on
            self.stats.errors.append(f"honest client reader failed: {exc!r}")

    def handle(self, m: dict[str, Any], now_pc: float, now_ms: float) -> None:
        if m.get("dam") == "!" or (m.get("err") and "@" not in m):
            self.stats.errors.append(f"relay said: {dumps(m)[:300]}")
            return
        if m.get("dam") == "?" and "@" not in m:
            reply = {"#": rid(), "@": m.get("#"), "dam": "?", "pid": self.pid}
            asyncio.get_running_loop().create_task(self.send(reply))
            return
        at = m.get("@")
        if at is not None and "put" not in m:
            t0 = self.pending.pop(at, None) if isinstance(at, str) else None
            if t0 is not None:
                if m.get("ok") and not m.get("err"):
                    self.stats.acks += 1
                    self.stats.ack_ms.append((now_pc - t0) * 1000)
                else:
                    self.stats.nacks += 1
            return
        if self.subscriber and at is None and isinstance(m.get("put"), dict):
            for soul, node in m["put"].items():
                if soul not in self.souls or not isinstance(node, dict):
                    continue
                states = (node.get("_") or {}).get(">") or {}
                for key in node:
                    if key != "_":
                        self.stats.deliveries += 1
                        state = states.get(key)
                        if isinstance(state, int | float):
                            self.stats.lag_ms.append(now_ms - state)

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


class Slow:
    """Subscribes, then never reads: a tiny receive buffer and websockets' queue at one frame."""

    def __init__(self, url: str, rcvbuf: int) -> None:
        self.url = url
        self.rcvbuf = rcvbuf
        self.ws: ClientConnection | None = None
        self.dropped_at: float | None = None  # seconds into the load
        self.dropped_how = ""
        self.drained_frames = 0

    async def open(self) -> None:
        host, port = re.match(r"ws://([^:/]+):(\d+)", self.url).groups()  # type: ignore[union-attr]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)  # before connect
        sock.setblocking(False)
        try:
            async with asyncio.timeout(10):
                await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
            self.ws = await connect(
                self.url,
                sock=sock,
                max_size=None,
                max_queue=1,
                ping_interval=None,
                open_timeout=10,
                close_timeout=1,
            )
        except BaseException:
            sock.close()
            raise

    async def send(self, text: str) -> None:
        assert self.ws is not None
        async with asyncio.timeout(5):
            await self.ws.send(text)

    async def probe(self, every: float, t0: float) -> None:
        """Write a ``[]`` every ``every`` s until the socket is found closed."""
        while self.dropped_at is None:
            await asyncio.sleep(every)
            try:
                await self.send("[]")
            except (ConnectionClosed, OSError) as exc:
                self.dropped_at = time.perf_counter() - t0
                self.dropped_how = f"write failed: {type(exc).__name__}"
            except TimeoutError:
                pass  # the relay is not reading us either: not a close

    async def drain(self, seconds: float, t0: float) -> None:
        """Read for up to ``seconds``: a close behind unread data shows up here."""
        if self.ws is None or self.dropped_at is not None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                try:
                    while True:
                        await self.ws.recv()
                        self.drained_frames += 1
                except ConnectionClosed as exc:
                    self.dropped_at = time.perf_counter() - t0
                    self.dropped_how = f"closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self.ws.close()
            self.ws.transport.abort()


# ---------------------------------------------------------------------------- the run


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))]


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


async def soak(proc: subprocess.Popen[bytes], url: str, a: argparse.Namespace) -> Result:
    pid = proc.pid
    run = rid(6)
    stats = Stats()
    souls_of = [[f"soak/{run}/w{n}s{j}" for j in range(a.souls)] for n in range(a.writers)]
    all_souls = {s for ss in souls_of for s in ss}
    idle_mb = status_kb(pid, "VmRSS") / 1024
    writers = [Honest(url, stats, all_souls, subscriber=False) for _ in range(a.writers)]
    subs = [Honest(url, stats, all_souls, subscriber=True) for _ in range(a.subscribers)]
    slows = [Slow(url, a.rcvbuf) for _ in range(a.slow)]
    samples: list[Result] = []
    tasks: list[asyncio.Future[Any]] = []
    clients: list[Honest | Slow] = [*writers, *subs, *slows]
    try:
        for c in clients:
            await c.open()
        for soul in sorted(all_souls):
            for sub in subs:
                await sub.send({"#": rid(), "get": {"#": soul}})
            for slow in slows:
                await slow.send(dumps({"#": rid(), "get": {"#": soul}}))
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        end = t0 + a.seconds
        cpu0 = cpu_seconds(pid)

        def sample() -> None:
            if proc.poll() is not None:
                raise RuntimeError(f"the relay exited ({proc.returncode}) during the soak")
            t = time.perf_counter() - t0
            samples.append(
                {
                    "t": round(t, 3),
                    "rss_mb": status_kb(pid, "VmRSS") / 1024,
                    "hwm_mb": status_kb(pid, "VmHWM") / 1024,
                    "relay_cpu_s": round(cpu_seconds(pid) - cpu0, 3),
                    "puts": stats.puts,
                    "acks": stats.acks,
                    "deliveries": stats.deliveries,
                    "slow_dropped": sum(s.dropped_at is not None for s in slows),
                }
            )

        async def sampler() -> None:
            n = 0
            next_progress = 0.0
            while True:
                sample()
                s = samples[-1]
                if s["t"] >= next_progress:
                    next_progress += a.progress
                    sys.stderr.write(
                        f"t={s['t']:5.0f}s rss={s['rss_mb']:7.1f} MB puts={s['puts']} "
                        f"acks={s['acks']} slow dropped={s['slow_dropped']}/{a.slow}\n"
                    )
                n += 1
                await asyncio.sleep(max(0.0, t0 + n * a.interval - time.perf_counter()))

        async def writer(w: Honest, souls: list[str]) -> None:
            interval = a.writers / a.rate
            i = 0
            nxt = time.perf_counter()
            while nxt < end:
                soul = souls[i % len(souls)]
                key = f"k{(i // len(souls)) % a.keys}"
                state = time.time() * 1000
                mid = rid()
                w.pending[mid] = time.perf_counter()
                value = f"v{i}:".ljust(a.value_bytes, "x")
                put = {soul: {"_": {"#": soul, ">": {key: state}}, key: value}}
                await w.send({"#": mid, "put": put})
                stats.puts += 1
                i += 1
                nxt += interval
                now = time.perf_counter()
                if now - nxt > 1.0:  # fell behind by a second: give those sends up, no burst
                    missed = int((now - nxt) / interval)
                    stats.skipped += missed
                    nxt += missed * interval
                await asyncio.sleep(max(0.0, nxt - now))

        loop = asyncio.get_running_loop()
        sampling: asyncio.Future[Any] = loop.create_task(sampler())
        tasks.append(sampling)
        tasks += [loop.create_task(s.probe(a.probe, t0)) for s in slows]
        load: asyncio.Future[Any] = asyncio.gather(
            *(writer(w, ss) for w, ss in zip(writers, souls_of, strict=True))
        )
        tasks.append(load)
        done, _ = await asyncio.wait(
            [load, sampling], timeout=a.seconds + 30, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            raise TimeoutError(f"the writers did not finish within {a.seconds + 30:g} s")
        for t in done:
            t.result()  # raises what stopped the writers or the sampler
        # the last acks (bounded), then the final sample, then the slow readers' drain
        for _ in range(int(a.settle / 0.05)):
            if not any(w.pending for w in writers):
                break
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        sample()
        loaded_s = time.perf_counter() - t0
        dropped_during = sum(s.dropped_at is not None for s in slows)
        await asyncio.gather(*(s.drain(a.drain, t0) for s in slows))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    rss = [s["rss_mb"] for s in samples]
    half = [(s["t"], s["rss_mb"]) for s in samples if s["t"] >= a.seconds / 2]
    mid_sample = min(samples, key=lambda s: abs(s["t"] - a.seconds / 2))
    slope_half = slope_per_min(half)
    unacked = sum(len(w.pending) for w in writers)
    expected = stats.puts * a.subscribers
    if slope_half is None:
        verdict = "n/a (too few samples in the second half)"
    else:
        verdict = "flat" if slope_half < a.threshold else "GROWING"
    return {
        "verdict": verdict,
        "threshold_mb_per_min": a.threshold,
        "slope_mb_per_min": {
            "second_half": slope_half,
            "whole": slope_per_min([(s["t"], s["rss_mb"]) for s in samples]),
        },
        "rss_mb": {
            "idle": idle_mb,
            "start": rss[0],
            "middle": mid_sample["rss_mb"],
            "end": rss[-1],
            "min": min(rss),
            "max": max(rss),
            "second_half_min": min(p[1] for p in half) if half else None,
            "second_half_max": max(p[1] for p in half) if half else None,
            "peak_hwm": max(s["hwm_mb"] for s in samples),
        },
        "relay_cpu_share": samples[-1]["relay_cpu_s"] / max(loaded_s, 1e-9),
        "puts_sent": stats.puts,
        "puts_skipped": stats.skipped,
        "offered_rate": a.rate,
        "sent_rate": stats.puts / a.seconds,
        "acks": stats.acks,
        "nacks": stats.nacks,
        "unacked": unacked,
        "acked_share": stats.acks / stats.puts if stats.puts else 0.0,
        "ack_ms": {
            "p50": pct(stats.ack_ms, 0.5),
            "p99": pct(stats.ack_ms, 0.99),
            "max": max(stats.ack_ms, default=None),
        },
        "deliveries": stats.deliveries,
        "deliveries_expected": expected,
        "delivered_share": stats.deliveries / expected if expected else 0.0,
        "delivery_lag_ms": {"p50": pct(stats.lag_ms, 0.5), "p99": pct(stats.lag_ms, 0.99)},
        "slow_readers": {
            "count": a.slow,
            "dropped": sum(s.dropped_at is not None for s in slows),
            "dropped_during_load": dropped_during,
            "dropped_at_s": [
                None if s.dropped_at is None else round(s.dropped_at, 1) for s in slows
            ],
            "how": [s.dropped_how for s in slows],
            "frames_read_in_drain": [s.drained_frames for s in slows],
        },
        "client_errors": stats.errors[:20],
        "samples": samples,
    }


# ---------------------------------------------------------------------------- reporting


def git(*args: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20, check=True
        )
        return out.stdout.strip()
    return ""


def machine() -> Result:
    return {
        "summary": (
            f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''} "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
        ),
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
    }


def fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


def table(r: Result) -> str:
    m, sl, ack, lag, sr = (
        r["rss_mb"],
        r["slope_mb_per_min"],
        r["ack_ms"],
        r["delivery_lag_ms"],
        r["slow_readers"],
    )
    at = [t for t in sr["dropped_at_s"] if t is not None]
    when = f"at {fmt(min(at), 0)}–{fmt(max(at), 0)} s" if at else "never"
    rows = [
        (
            "relay RSS idle / start / middle / end",
            f"{fmt(m['idle'])} / {fmt(m['start'])} / {fmt(m['middle'])} / {fmt(m['end'])}",
            "MB",
        ),
        (
            "relay RSS min-max over the second half",
            f"{fmt(m['second_half_min'])}–{fmt(m['second_half_max'])}",
            "MB",
        ),
        (
            "relay RSS slope, second half (whole run)",
            f"{fmt(sl['second_half'], 2)} ({fmt(sl['whole'], 2)})",
            "MB/min",
        ),
        (
            "puts sent / offered rate",
            f"{r['puts_sent']} at {fmt(r['sent_rate'], 0)}/s "
            f"(offered {fmt(float(r['offered_rate']), 0)}/s)",
            "puts",
        ),
        ("acks received (share of puts)", f"{r['acks']} ({fmt(r['acked_share'], 4)})", "acks"),
        (
            "ack latency p50 / p99 / max",
            f"{fmt(ack['p50'], 2)} / {fmt(ack['p99'], 2)} / {fmt(ack['max'], 0)}",
            "ms",
        ),
        (
            "subscriber deliveries (share expected)",
            f"{r['deliveries']} ({fmt(r['delivered_share'], 4)})",
            "deliveries",
        ),
        ("put-to-subscriber lag p50 / p99", f"{fmt(lag['p50'], 2)} / {fmt(lag['p99'], 2)}", "ms"),
        (
            "slow readers dropped by the relay (of them during load; when)",
            f"{sr['dropped']} of {sr['count']} ({sr['dropped_during_load']}; {when})",
            "readers; s",
        ),
        ("relay CPU", f"{fmt(100 * r['relay_cpu_share'], 0)}", "% of a core"),
    ]
    lines = ["| measure | value | unit |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {unit} |" for name, value, unit in rows]
    return "\n".join(lines)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20 s instead of 180 s")
    p.add_argument("--seconds", type=float, help="length of the load (default 180, --quick 20)")
    p.add_argument("--rate", type=float, default=800.0, help="puts per second, all writers")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--subscribers", type=int, default=4)
    p.add_argument("--slow", type=int, default=4, help="slow readers (never read)")
    p.add_argument("--souls", type=int, default=2, help="souls per writer")
    p.add_argument("--keys", type=int, default=64, help="keys per soul (the key space is bounded)")
    p.add_argument(
        "--value-bytes",
        type=int,
        default=1024,
        help="each put's value is padded to this many chars (with 800 puts/s a reader that\n"
        "never reads is owed ~1 MB/s, so a 32 MiB per-connection budget is hit in ~35 s)",
    )
    p.add_argument("--rcvbuf", type=int, default=4096, help="slow readers' SO_RCVBUF, bytes")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between RSS samples")
    p.add_argument("--probe", type=float, default=1.0, help="slow readers write [] this often")
    p.add_argument("--settle", type=float, default=10.0, help="max wait for the last acks")
    p.add_argument("--drain", type=float, default=5.0, help="slow readers read at most this long")
    p.add_argument("--threshold", type=float, default=2.0, help="flat below this, MB/min")
    p.add_argument("--progress", type=float, default=10.0, help="stderr line every N s")
    p.add_argument("--strict", action="store_true", help="exit 1 when GROWING")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "soak.json"))
    a = p.parse_args()
    if a.seconds is None:
        a.seconds = 20.0 if a.quick else 180.0
    if a.seconds <= 0 or a.rate <= 0 or a.writers < 1 or a.souls < 1 or a.keys < 1:
        p.error("--seconds, --rate, --writers, --souls and --keys must be positive")
    if not Path("/proc/self/status").exists():
        p.error("needs Linux /proc to read the relay's RSS")
    signal.signal(signal.SIGTERM, _terminate)  # stop the relay on SIGTERM too, as on Ctrl-C
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    mach = machine()
    with tempfile.TemporaryDirectory(prefix="gunrtc-soak-") as tmp:
        with relay_process(Path(tmp)) as (proc, url):
            sys.stderr.write(
                f"relay {proc.pid} at {url}: {a.writers} writers at {a.rate:g} puts/s in all, "
                f"{a.subscribers} subscribers, {a.slow} slow readers, {a.seconds:g} s\n"
            )
            res = asyncio.run(soak(proc, url, a))
            code = proc.poll()
            if code is not None:
                raise RuntimeError(f"the relay exited ({code}) during the soak")
        store_bytes = 0  # measured after the relay stopped (its last commit is in)
        for f in Path(tmp).glob("soak.sqlite3*"):
            store_bytes += f.stat().st_size
    result: Result = {
        "name": "relay soak: RSS under steady load with slow readers",
        "started": started,
        "args": vars(a),
        "machine": mach,
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        # the relay runs from the working tree: which uncommitted state of gunrtc_kit it was
        "gunrtc_kit_diff_sha1": hashlib.sha1(
            git("diff", "HEAD", "--", "gunrtc_kit").encode()
        ).hexdigest(),
        "relay_cmd": "python -m gunrtc_kit.cli relay --port 0 --store <tmp>/soak.sqlite3",
        "store_bytes_at_end": store_bytes,
        **res,
    }
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    sl = res["slope_mb_per_min"]["second_half"]
    sys.stdout.write(
        f"{table(res)}\n\n"
        f"verdict: {res['verdict']} (RSS slope over the second half {fmt(sl, 2)} MB/min; "
        f"flat means < {a.threshold:g} MB/min)\n"
        f"machine: {mach['summary']}, load average at start {mach['loadavg_at_start'][0]:.2f}\n"
        f"commit: {result['git_commit'][:12]}{' (dirty tree)' if result['git_dirty'] else ''}\n"
        f"wrote {a.out}\n"
    )
    return 1 if a.strict and res["verdict"] != "flat" else 0


if __name__ == "__main__":
    raise SystemExit(main())
