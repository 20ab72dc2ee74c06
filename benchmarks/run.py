"""Benchmarks: gunrtc_kit side by side with Gun.js on this machine, in one run, as ratios.

    python benchmarks/run.py --quick      # 2 repeats per row, smaller loads
    python benchmarks/run.py              # the full sizes, 5 repeats per row
    python benchmarks/run.py --quick --tiny --only relay --only mesh   # seconds (the test)

Every row is measured ``--repeats`` times (full: 5, quick: 2), each time in fresh processes,
alternating which side goes first (ours, Gun.js; then Gun.js, ours; ...), and stores per side
the median, min, max and every sample. Both sides are driven the same way:

- relay / capacity: a fresh relay process with a fresh store (ours: SQLite; Gun.js: radisk)
  driven by the same neutral load generator (``loadgen.py``, raw WebSocket clients), which
  also reads the relay's CPU time (``/proc/PID/stat``) over the run and its peak RSS
  (``VmHWM``). ``relay``: a fixed rate; ``capacity``: saturation, each writer keeping up to
  1,000 puts in flight, a put given up after 1 s without an ack;
- rtc: every peer is its own process speaking the same JSON-line protocol (ours:
  ``py_rtc_peer.py``, Gun.js: ``interop/gunjs_rtc_peer.js``), see ``rtc_bench.py``;
- link_setup: a fresh chromium tab (``lab.browser()``) links by WebRTC with a peer already in
  the Lab's room: ours a Python Lab peer, Gun.js ``interop/gunjs_rtc_peer.js``; timed from the
  tab's Gun start to the data channel open on both sides, see ``link_setup.py``;
- tap_latency: the latency ``gunrtc-kit tap`` adds, the same paced puts straight to a relay
  and through the tap (with and without ``--trace``), against our relay and npm Gun.js's
  (columns are the target), see ``tap_latency.py``;
- mesh: ``mesh_bench.py`` and ``gunjs_mesh.js`` unchanged; memory is read by this script's
  hooks around their own memory reads, the same way for both: process RSS (kernel resident
  pages) after a full GC, before the peers are built and after they are built and settled
  (0.5 s), just before the flood; each runtime's own heap figure beside it (Python:
  tracemalloc, in a separate run since tracing inflates RSS; Node: V8 ``heapUsed``);
- notebook (ours only): the windows of one JupyterLab session.

Writes ``benchmarks/results.json``: {"meta": machine, versions, commit, mode, ...,
"rows": [{name, unit, better, ours: {median, min, max, n, samples} | null, gunjs: ...,
ratio}]} and prints a table of median (min-max). Installs nothing: it uses what
``scripts/setup`` installed (the venv and ``interop/node_modules``). WebRTC benchmarks run
only inside a loopback-only network namespace (``--webrtc unshare``, the default, makes one
with ``unshare -n``; ``--webrtc here`` runs them only if this process already is in one);
elsewhere they are skipped and the JSON says why.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
INTEROP = ROOT / "interop"
PY = sys.executable
SIDES = ("ours", "gunjs")

Result = dict[str, Any]

# ---------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    repeats: int
    relay: tuple[int, int, float, float]  # subscribers, writers, rate per writer, seconds
    capacity_subs: tuple[int, ...]
    capacity: tuple[int, int, float]  # writers, window, seconds
    mesh: tuple[int, ...]
    rtc: str  # rtc_bench.py's size flag
    notebook: tuple[int, float]  # windows, seconds


FULL = Sizes(5, (50, 4, 250, 10), (10, 50), (4, 1000, 10), (100, 1000, 5000, 10000), "", (5, 10))
QUICK = Sizes(2, (20, 4, 100, 4), (10, 50), (4, 1000, 4), (100, 1000), "--quick", (3, 5))
TINY = Sizes(2, (3, 2, 50, 1), (2, 4), (2, 100, 1), (20,), "--tiny", (2, 3))


@dataclass
class Config:
    sizes: Sizes
    repeats: int
    webrtc: str  # unshare | here | skip
    skipped: dict[str, str] = field(default_factory=dict)


def order(rep: int) -> tuple[str, str]:
    """Alternate who goes first, so a drift in machine load does not favour one side."""
    return SIDES if rep % 2 == 0 else SIDES[::-1]


# ---------------------------------------------------------------------------- rows


class Rows:
    """Samples per (row, side), in the order rows are first named."""

    def __init__(self, bench: str) -> None:
        self.bench = bench
        self.rows: dict[str, Result] = {}

    def add(
        self,
        name: str,
        side: str,
        value: float | None,
        unit: str,
        better: str,
        **extra: Any,
    ) -> None:
        r = self.rows.setdefault(
            name,
            {
                "name": name,
                "bench": self.bench,
                "unit": unit,
                "better": better,
                "samples": {s: [] for s in SIDES},
                **extra,
            },
        )
        r["samples"][side].append(value)

    def results(self) -> list[Result]:
        out = []
        for r in self.rows.values():
            samples = r.pop("samples")
            for side in SIDES:
                r[side] = summary(samples[side])
            o, g = r["ours"], r["gunjs"]
            r["ratio"] = o["median"] / g["median"] if o and g and g["median"] else None
            out.append(r)
        return out


def summary(samples: list[float | None]) -> Result | None:
    values = [float(v) for v in samples if v is not None]
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "samples": values,
        **({"missing": len(samples) - len(values)} if len(values) < len(samples) else {}),
    }


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(
    port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0, poll: float = 0.05
) -> None:
    """Until something listens on 127.0.0.1:``port``, checked every ``poll`` seconds (a
    benchmark that times start-up polls finely); an error if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(poll)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Terminate ``proc``; kill it if it has not ended within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def relay(side: str, tmp: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A fresh relay process with a fresh store in ``tmp``; yields (process, ws url)."""
    port = free_port()
    if side == "ours":
        cmd = [
            PY,
            "-m",
            "gunrtc_kit.cli",
            "relay",
            "--port",
            str(port),
            "--store",
            str(tmp / "ours.sqlite3"),
        ]
        cwd = ROOT
    else:
        cmd = ["node", str(INTEROP / "gunjs_relay.js"), str(port), "--radisk", str(tmp / "radata")]
        cwd = INTEROP
    env = dict(os.environ, MULTICAST="false", NODE_NO_WARNINGS="1")
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        yield proc, f"ws://127.0.0.1:{port}/gun"
    finally:
        stop(proc)


def last_json(
    cmd: list[str], timeout: float, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> Result:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... exited {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def loadgen(side: str, args: list[str], timeout: float) -> Result:
    """One run of the load generator against a fresh relay of ``side``."""
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp,
        relay(side, Path(tmp)) as (proc, url),
    ):
        time.sleep(0.3)  # both relays idle a moment after their port opens
        idle_rss = status_kb(proc.pid, "VmRSS")
        r = last_json(
            [PY, str(BENCH / "loadgen.py"), url, *args, "--relay-pid", str(proc.pid)], timeout
        )
        r["relay_idle_rss_kb"] = idle_rss
        return r


def status_kb(pid: int, fld: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(fld + ":"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------- relay


def relay_rows(rows: Rows, side: str, r: Result, prefix: str, ack_latency: bool) -> None:
    add = rows.add
    add(f"{prefix}: deliveries per second", side, r["deliveries_per_s"], "deliveries/s", "higher")
    add(f"{prefix}: put-to-delivery p50", side, r["p50_ms"], "ms", "lower")
    add(f"{prefix}: put-to-delivery p99", side, r["p99_ms"], "ms", "lower")
    add(f"{prefix}: share of puts acked within 1 s", side, r["acked_share"], "share", "higher")
    add(f"{prefix}: share of deliveries made", side, r["delivered_share"], "share", "higher")
    if ack_latency:
        add(f"{prefix}: put-to-ack p50", side, r["ack_p50_ms"], "ms", "lower")
        add(f"{prefix}: put-to-ack p99", side, r["ack_p99_ms"], "ms", "lower")
    add(f"{prefix}: relay CPU", side, 100 * r["relay_cpu_share"], "% of a core", "lower")
    add(f"{prefix}: relay peak RSS", side, r["relay_peak_rss_kb"] / 1024, "MiB", "lower")
    add(
        f"{prefix}: load generator CPU (same program both sides)",
        side,
        100 * r["generator_cpu_share"],
        "% of a core",
        "lower",
    )


def bench_relay(cfg: Config) -> list[Result]:
    """Relay at a fixed offered load: the same neutral generator through both relays."""
    subs, writers, rate, seconds = cfg.sizes.relay
    rows = Rows("relay")
    prefix = f"relay, {subs} subscribers, {writers} writers x {rate:g}/s for {seconds:g}s"
    args = [
        "--subscribers",
        str(subs),
        "--writers",
        str(writers),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--settle",
        "15",
    ]
    for rep in range(cfg.repeats):
        for side in order(rep):
            r = loadgen(side, args, seconds + 90)
            relay_rows(rows, side, r, prefix, ack_latency=False)
    return rows.results()


def bench_capacity(cfg: Config) -> list[Result]:
    """Relay capacity: the generator at saturation (each writer keeps ``window`` puts in
    flight; a put is given up 1 s after it was sent without an ack)."""
    writers, window, seconds = cfg.sizes.capacity
    rows = Rows("capacity")
    for subs in cfg.sizes.capacity_subs:
        prefix = (
            f"capacity, {subs} subscribers, {writers} writers x {window} in flight for {seconds:g}s"
        )
        args = [
            "--subscribers",
            str(subs),
            "--writers",
            str(writers),
            "--window",
            str(window),
            "--seconds",
            str(seconds),
            "--settle",
            "20",
        ]
        for rep in range(cfg.repeats):
            for side in order(rep):
                r = loadgen(side, args, seconds + 120)
                rows.add(f"{prefix}: puts per second", side, r["puts_per_s"], "puts/s", "higher")
                # a relay that drops deliveries must not look faster: raw puts/s x the share of
                # the deliveries it owed (every put to every subscriber) that it made
                rows.add(
                    f"{prefix}: delivered puts per second (puts/s x share of deliveries made)",
                    side,
                    r["puts_per_s"] * r["delivered_share"],
                    "puts/s",
                    "higher",
                )
                # and one a relay that queues deliveries cannot flatter either: puts/s counts
                # the sending window only, deliveries may come up to the 20 s settle later
                rows.add(
                    f"{prefix}: puts delivered to every subscriber per second, to the last "
                    "delivery (deliveries/s / subscribers)",
                    side,
                    r["deliveries_per_s"] / subs,
                    "puts/s",
                    "higher",
                )
                relay_rows(rows, side, r, prefix, ack_latency=True)
    return rows.results()


# ---------------------------------------------------------------------------- rtc


def in_loopback_netns() -> tuple[bool, str]:
    sys.path.insert(0, str(ROOT))
    from tests.netns import loopback_only

    return loopback_only()


def in_webrtc_netns(cfg: Config, bench: str, cmd: list[str]) -> list[str] | None:
    """``cmd`` to run in a loopback-only network namespace (``--webrtc unshare``: a fresh one
    when ``unshare -n`` works; ``here``: this one, if it is one), or None when ``bench`` is
    skipped (``cfg.skipped`` says why). The scripts check the namespace themselves too."""
    if cfg.webrtc == "skip":
        cfg.skipped[bench] = "--webrtc skip"
        return None
    if cfg.webrtc == "unshare":
        if (
            shutil.which("unshare")
            and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
        ):
            cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
        return cmd
    ok, why = in_loopback_netns()
    if not ok:
        cfg.skipped[bench] = why
        return None
    return cmd


def bench_rtc(cfg: Config) -> list[Result]:
    """Link setup, per-peer RSS and data-channel throughput, every peer its own process;
    links one peer holds (ours only). Inside a loopback-only network namespace."""
    cmd = [PY, str(BENCH / "rtc_bench.py"), "--repeats", str(cfg.repeats)]
    cmd += [cfg.sizes.rtc] if cfg.sizes.rtc else []
    wrapped = in_webrtc_netns(cfg, "rtc", cmd)
    if wrapped is None:
        return []
    data = last_json(wrapped, timeout=900 + 300 * cfg.repeats)
    if "skipped" in data:
        cfg.skipped["rtc"] = data["skipped"]
        return []
    rows = Rows("rtc")
    for side in SIDES:
        for v in data["setup_ms"][side]:
            rows.add(
                "WebRTC link setup (joining peer's process ready -> dc open + hi on both sides)",
                side,
                v,
                "ms",
                "lower",
            )
    for side in SIDES:
        for v in data["peer_rss_kb"][side]:
            rows.add("WebRTC peer process RSS with one link up", side, v / 1024, "MiB", "lower")
    n = data["throughput"]["n"]
    for side in SIDES:
        for v in data["throughput"][side]:
            rows.add(
                f"data-channel throughput ({n} puts, relay stopped)", side, v, "puts/s", "higher"
            )
    for side in SIDES:
        for v in data["throughput"][side + "_share"]:
            rows.add(
                f"data-channel share of the {n} puts delivered (maxRetransmits 2)",
                side,
                v,
                "share",
                "higher",
            )
    k = data["links"]["of"]
    for v in data["links"]["held"]:
        rows.add(
            f"live WebRTC links one peer holds (of {k}, one process)",
            "ours",
            v,
            "links",
            "higher",
            ours_only=True,
        )
    return rows.results()


# ---------------------------------------------------------------------------- link setup

LINK_SETUP_ROWS = (
    ("both_ms", "WebRTC link setup from a chromium tab (tab's Gun start -> dc open on both sides)"),
    ("tab_ms", "WebRTC link setup from a chromium tab: dc open on the tab's side"),
    ("far_ms", "WebRTC link setup from a chromium tab: dc open on the far peer's side"),
    (
        "phase_offer_in_ms",
        "WebRTC link setup from a chromium tab: the far peer's offer reaches the tab",
    ),
)


def bench_link_setup(cfg: Config) -> list[Result]:
    """A fresh chromium tab links by WebRTC with a peer already in the Lab's room: ours a
    Python Lab peer, Gun.js a Node Gun.js peer (``link_setup.py``); each sample a fresh Lab
    and tab, sides alternating. Inside a loopback-only network namespace."""
    cmd = [PY, str(BENCH / "link_setup.py"), "--repeats", str(cfg.repeats)]
    cmd += ["--warmup", "0"] if cfg.sizes.rtc == "--tiny" else []
    wrapped = in_webrtc_netns(cfg, "link_setup", cmd)
    if wrapped is None:
        return []
    data = last_json(wrapped, timeout=300 + 60 * cfg.repeats)
    if "skipped" in data:
        cfg.skipped["link_setup"] = data["skipped"]
        return []
    rows = Rows("link_setup")
    for key, name in LINK_SETUP_ROWS:
        for side in SIDES:
            for v in data[key][side]:
                rows.add(name, side, v, "ms", "lower")
    results = rows.results()
    for r, (key, _) in zip(results, LINK_SETUP_ROWS, strict=True):
        for side in SIDES:
            if r[side] is not None:
                r[side]["p90"] = data[key + "_summary"][side]["p90"]
    return results


# ---------------------------------------------------------------------------- tap latency

TAP_PATHS = (
    ("direct", "straight to the relay"),
    ("tap", "through the tap"),
    ("tap_rec", "through the tap, recording"),
)


def bench_tap_latency(cfg: Config) -> list[Result]:
    """The latency the tap adds (``tap_latency.py``): the same 1,000 puts/s from a sender to a
    receiver, straight to a relay and through ``gunrtc-kit tap`` (without and with ``--trace``),
    per target relay: the columns here are the TARGET (ours: our relay; Gun.js: npm gun's), not
    who is measured, since the tap is ours in both. Each sample a fresh relay and tap."""
    secs = {"": 10.0, "--quick": 5.0, "--tiny": 1.0}[cfg.sizes.rtc]
    cmd = [PY, str(BENCH / "tap_latency.py"), "--repeats", str(cfg.repeats)]
    cmd += ["--seconds", str(secs)] + (["--warmup", "0.5"] if secs < 5 else [])
    data = last_json(cmd, timeout=120 + 12 * cfg.repeats * (secs + 4))
    rows = Rows("tap_latency")
    what = f"tap latency (column: the target relay), {data['rate']:.0f} puts/s for {secs:g} s"
    extra = {"sides_are": "target relay (the tap is ours in both columns)"}
    for path, words in TAP_PATHS:
        for q in ("p50", "p99", "max"):
            for side in SIDES:
                for r in data["samples"][side][path]:
                    rows.add(f"{what}, {words}: {q}", side, r[f"{q}_ms"], "ms", "lower", **extra)
    for path, words in TAP_PATHS[1:]:
        for q in ("p50", "p99"):
            for side in SIDES:
                for v in data["summary"][side][f"{path}_added_{q}_ms"]["samples"]:
                    rows.add(f"{what}: {q} added {words}", side, v, "ms", "lower", **extra)
        for side in SIDES:
            for r in data["samples"][side][path]:
                rows.add(
                    f"{what}: tap CPU, {words}",
                    side,
                    100 * r["tap_cpu"],
                    "% of a core",
                    "lower",
                    **extra,
                )
    for side in SIDES:
        for r in data["samples"][side]["direct"]:
            rows.add(
                f"{what}: load generator CPU (direct)",
                side,
                100 * r["generator_cpu"],
                "% of a core",
                "lower",
                **extra,
            )
    results = rows.results()
    for r in results:
        r["ratio"] = None  # the columns are two targets of one tap, not two implementations
    return results


# ---------------------------------------------------------------------------- mesh

# Hooks around the mesh scripts' own memory reads (the scripts themselves are unchanged).
# Ours: mesh_bench.py reads tracemalloc.get_traced_memory() before building the peers and
# after they are built and settled; the shim collects garbage, reads the RSS there and
# (mode "rss") replaces tracemalloc with a no-op, since tracing inflates RSS, or (mode
# "heap") keeps it and reads the traced heap. Marks go to $BENCH_MEM_OUT as they are taken
# (the script may leave with os._exit).
PY_MEM_HOOK = r"""
import gc, json, os, runpy, sys, types
import tracemalloc as _tm
PAGE = os.sysconf("SC_PAGE_SIZE")
TRACE = os.environ["BENCH_MEM_MODE"] == "heap"
marks = []
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE
def get_traced_memory():
    gc.collect()
    cur = _tm.get_traced_memory() if TRACE else (0, 0)
    marks.append({"rss": rss(), "heap": cur[0]})
    with open(os.environ["BENCH_MEM_OUT"], "w") as f:
        json.dump(marks, f)
    return cur
shim = types.ModuleType("tracemalloc")
shim.__dict__.update({k: getattr(_tm, k) for k in dir(_tm) if not k.startswith("__")})
shim.get_traced_memory = get_traced_memory
if not TRACE:
    shim.start = lambda *a, **k: None
    shim.stop = lambda: None
    shim.is_tracing = lambda: False
sys.modules["tracemalloc"] = shim
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

# Gun.js: gunjs_mesh.js reads process.memoryUsage() after a full GC before building and
# right after building; the hook reads RSS and heapUsed at those calls and once more 500 ms
# after the second (its timer goes in before the script's own 500 ms one: just before the
# flood, where ours takes its second mark), after a full GC.
JS_MEM_HOOK = r"""
const fs = require('fs');
const real = process.memoryUsage;
const marks = [];
const mark = () => {
  if (global.gc) global.gc();
  const m = real.call(process);
  marks.push({ rss: m.rss, heap: m.heapUsed });
  fs.writeFileSync(process.env.BENCH_MEM_OUT, JSON.stringify(marks));
};
let calls = 0;
const hooked = function () {
  calls += 1;
  if (calls <= 2) mark();
  if (calls === 2) setTimeout(mark, 500);
  return real.call(process);
};
hooked.rss = real.rss;
process.memoryUsage = hooked;
"""


def mesh_run(side: str, n: int, mode: str, tmp: Path) -> tuple[Result, list[Result]]:
    marks = tmp / f"marks-{side}-{mode}-{n}.json"
    marks.unlink(missing_ok=True)
    env = dict(os.environ, BENCH_MEM_OUT=str(marks), BENCH_MEM_MODE=mode)
    if side == "ours":
        cmd = [PY, "-c", PY_MEM_HOOK, str(BENCH / "mesh_bench.py"), str(n), "2"]
    else:
        hook = tmp / "mem_hook.js"
        hook.write_text(JS_MEM_HOOK)
        cmd = [
            "node",
            "--expose-gc",
            "--require",
            str(hook),
            str(BENCH / "gunjs_mesh.js"),
            str(n),
            "2",
        ]
    r = last_json(cmd, timeout=600, env=env)
    m = json.loads(marks.read_text()) if marks.exists() else []
    want = 2 if side == "ours" else 3
    if len(m) < want:
        raise RuntimeError(
            f"mesh {side} {n}: the memory hook saw {len(m)} of {want} reads; "
            "did the script change how it reads memory?"
        )
    return r, [m[0], m[want - 1]]


def bench_mesh(cfg: Config) -> list[Result]:
    """In-memory mesh of N peers (ring + random chords), one put flooding to all."""
    rows = Rows("mesh")
    with tempfile.TemporaryDirectory(prefix="bench-mesh-") as tmp_s:
        tmp = Path(tmp_s)
        for n in cfg.sizes.mesh:
            for rep in range(cfg.repeats):
                for side in order(rep):
                    r, (before, built) = mesh_run(side, n, "rss", tmp)
                    if side == "ours":  # the heap figure in a run of its own
                        _, (h0, h1) = mesh_run(side, n, "heap", tmp)
                        heap = (h1["heap"] - h0["heap"]) / n
                    else:
                        heap = (built["heap"] - before["heap"]) / n
                    rows.add(f"mesh of {n}: put reaches every peer", side, r["ms"], "ms", "lower")
                    rows.add(
                        f"mesh of {n}: messages sent for one put",
                        side,
                        r["messages"],
                        "messages",
                        "lower",
                    )
                    if side == "ours":
                        rows.add(
                            f"mesh of {n}: duplicates dropped by dedup",
                            side,
                            r["duplicates_dropped"],
                            "messages",
                            "lower",
                            ours_only=True,
                        )
                    rows.add(
                        f"mesh of {n}: process RSS growth per peer (built + 0.5 s, "
                        "after a full GC)",
                        side,
                        (built["rss"] - before["rss"]) / n / 1024,
                        "KiB",
                        "lower",
                    )
                    rows.add(
                        f"mesh of {n}: runtime's own heap per peer (tracemalloc / V8 "
                        "heapUsed, same moment)",
                        side,
                        heap / 1024,
                        "KiB",
                        "lower",
                    )
    return rows.results()


# ---------------------------------------------------------------------------- notebook


def bench_notebook(cfg: Config) -> list[Result]:
    """The views' cost (ours only), measured in JupyterLab + chromium: 55 peers, 50
    puts/s, ``lab.show()`` on screen; the samples are the windows of one session."""
    windows, seconds = cfg.sizes.notebook
    windows = max(windows, cfg.repeats)
    o = last_json(
        [
            PY,
            str(BENCH / "notebook_bench.py"),
            "--windows",
            str(windows),
            "--seconds",
            str(seconds),
        ],
        timeout=900,
    )
    out: list[Result] = []

    def spread_row(key: str, name: str, unit: str, better: str, scale: float = 1.0) -> None:
        s = o[key]
        ours = {
            "median": s["median"] * scale,
            "min": s["min"] * scale,
            "max": s["max"] * scale,
            "n": windows,
            "samples": None,
        }
        out.append(
            {
                "name": name,
                "bench": "notebook",
                "unit": unit,
                "better": better,
                "ours_only": True,
                "samples_are": "windows of one session",
                "ours": ours,
                "gunjs": None,
                "ratio": None,
            }
        )

    load = "55 peers, 50 puts/s, in chromium"
    spread_row("mesh_updates_per_s", f"notebook: mesh view updates ({load})", "updates/s", "higher")
    spread_row("flow_updates_per_s", "notebook: flow view updates (same)", "updates/s", "higher")
    spread_row(
        "views_cpu_share", "notebook: kernel CPU spent on views", "% of a core", "lower", 100.0
    )
    spread_row(
        "kernel_cpu_share",
        "notebook: kernel CPU in all (mesh + views)",
        "% of a core",
        "lower",
        100.0,
    )
    spread_row("ws_bytes_per_s", "notebook: bytes to the browser", "KB/s", "lower", 1 / 1000)
    spread_row("frames_per_s", "notebook: browser frames drawn", "frames/s", "higher")
    spread_row("frame_p95_ms", "notebook: browser frame time p95", "ms", "lower")
    tc = o["trivial_cell_ms"]
    for name, v in (
        ("notebook: a trivial cell returns, p50 (same load)", tc["p50"]),
        ("notebook: a trivial cell returns, worst of 20", tc["max"]),
    ):
        out.append(
            {
                "name": name,
                "bench": "notebook",
                "unit": "ms",
                "better": "lower",
                "ours_only": True,
                "samples_are": "20 cells in one session",
                "ours": {"median": v, "min": v, "max": v, "n": 1, "samples": [v]},
                "gunjs": None,
                "ratio": None,
            }
        )
    return out


SEA_ROWS = (
    ("sign", "SEA sign (a small object)", "ops/s", "higher"),
    ("verify", "SEA verify (same)", "ops/s", "higher"),
    ("encrypt", "SEA encrypt with a pair (same)", "ops/s", "higher"),
    ("decrypt", "SEA decrypt with a pair (same)", "ops/s", "higher"),
    ("auth_ms", "SEA login crypto: work(password, salt) + decrypt the keys", "ms", "lower"),
)


def bench_sea(cfg: Config) -> list[Result]:
    """SEA's functions, ours (``sea_bench.py --one``) and Gun.js's (``gunjs_sea_bench.js``),
    each repeat a fresh process per side, sides alternating."""
    secs = {"": 1.0, "--quick": 0.4, "--tiny": 0.1}[cfg.sizes.rtc]
    rows = Rows("sea")
    for rep in range(cfg.repeats):
        for side in order(rep):
            cmd = (
                [PY, str(BENCH / "sea_bench.py"), "--one", "--seconds", str(secs)]
                if side == "ours"
                else ["node", str(BENCH / "gunjs_sea_bench.js"), str(secs)]
            )
            o = last_json(cmd, timeout=120)
            for key, name, unit, better in SEA_ROWS:
                rows.add(name, side, o.get(key), unit, better)
    return rows.results()


BENCHES: dict[str, Callable[[Config], list[Result]]] = {
    "relay": bench_relay,
    "capacity": bench_capacity,
    "rtc": bench_rtc,
    "link_setup": bench_link_setup,
    "tap_latency": bench_tap_latency,
    "mesh": bench_mesh,
    "notebook": bench_notebook,
    "sea": bench_sea,
}

# ---------------------------------------------------------------------------- meta


def run_text(cmd: list[str], cwd: Path = ROOT, strip: bool = True) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=20, check=True
        ).stdout
        return out.strip() if strip else out.rstrip("\n")
    return ""


def machine() -> Result:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kb = int(line.split()[1])
    return {
        "cpu_model": cpu or platform.processor(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(ram_kb / 2**20, 2),
        "kernel": f"{platform.system()} {platform.release()}",
    }


def meta(a: argparse.Namespace, cfg: Config) -> Result:
    gun_pkg = INTEROP / "node_modules" / "gun" / "package.json"
    status = run_text(["git", "status", "--porcelain", "--untracked-files=no"], strip=False)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "node": run_text(["node", "--version"]),
        "gun_version": json.loads(gun_pkg.read_text())["version"] if gun_pkg.exists() else None,
        "commit": run_text(["git", "rev-parse", "HEAD"]),
        "dirty": bool(status),
        "dirty_files": status.splitlines(),
        "quick": bool(a.quick),
        "tiny": bool(a.tiny),
        "mode": "tiny" if a.tiny else "quick" if a.quick else "full",
        "repeats": cfg.repeats,
        "sizes": cfg.sizes.__dict__,
        "webrtc": cfg.webrtc,
        "benches": a.only or list(BENCHES),
    }


# ---------------------------------------------------------------------------- output


def fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.0f}"
    return str(x)


def cell(s: Result | None) -> str:
    if s is None:
        return "-"
    if s["n"] < 2 or s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | ours | Gun.js | unit | ratio (ours/Gun.js) | better |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {cell(r['ours'])} | {cell(r['gunjs'])} | {r['unit']} | "
            f"{fmt(r['ratio'])} | {r['better']} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smaller loads, 2 repeats per row")
    p.add_argument(
        "--tiny",
        action="store_true",
        help="with --quick: the smallest sizes (seconds; for the test suite)",
    )
    p.add_argument("--repeats", type=int, help="runs per row (default: full 5, quick 2)")
    p.add_argument("--only", action="append", choices=sorted(BENCHES))
    p.add_argument(
        "--webrtc",
        choices=("unshare", "here", "skip"),
        default="unshare",
        help="unshare: make a loopback-only network namespace for the WebRTC "
        "benches; here: run them only if already in one; skip",
    )
    p.add_argument(
        "--capacity-subs",
        type=int,
        action="append",
        metavar="N",
        help="capacity: only the row with N subscribers (repeatable; default: all of the size)",
    )
    p.add_argument("--out", default=str(BENCH / "results.json"))
    a = p.parse_args()
    if a.tiny and not a.quick:
        p.error("--tiny goes with --quick")
    if shutil.which("node") is None or not (INTEROP / "node_modules" / "gun").is_dir():
        sys.stderr.write("run scripts/setup first (node and interop/node_modules)\n")
        return 2
    sizes = TINY if a.tiny else QUICK if a.quick else FULL
    minimum = 2 if a.quick else 5
    repeats = a.repeats if a.repeats is not None else sizes.repeats
    if repeats < minimum:
        p.error(f"--repeats: at least {minimum} ({'quick' if a.quick else 'full'})")
    if a.capacity_subs:
        sizes = dataclasses.replace(sizes, capacity_subs=tuple(a.capacity_subs))
    cfg = Config(sizes, repeats, a.webrtc)
    info = meta(a, cfg)
    results: list[Result] = []
    failed: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for name in a.only or list(BENCHES):
        t0 = time.perf_counter()
        try:
            results.extend(BENCHES[name](cfg))
        except Exception as exc:  # keep the other benches' figures; say what failed
            failed[name] = f"{type(exc).__name__}: {exc}"[-3000:]
            sys.stderr.write(f"{name}: FAILED: {failed[name]}\n")
        seconds[name] = round(time.perf_counter() - t0, 1)
        sys.stderr.write(f"{name}: {seconds[name]:.0f} s\n")
    info.update(
        skipped=cfg.skipped, failed=failed, seconds=seconds, loadavg_at_end=list(os.getloadavg())
    )
    Path(a.out).write_text(json.dumps({"meta": info, "rows": results}, indent=2) + "\n")
    m = info["machine"]
    sys.stdout.write(
        f"{table(results)}\n\n"
        f"median (min–max) of {repeats} runs per side, fresh processes, sides alternating "
        f"({info['mode']})\n"
        f"machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['kernel']}; "
        f"Python {info['python']}, Node {info['node']}, gun {info['gun_version']}\n"
        f"commit: {info['commit'][:12]}{' (dirty tree)' if info['dirty'] else ''}; "
        f"load average {info['loadavg_at_start'][0]:.2f} -> {info['loadavg_at_end'][0]:.2f}\n"
        + "".join(f"skipped {k}: {v}\n" for k, v in cfg.skipped.items())
        + "".join(f"FAILED {k}: {v}\n" for k, v in failed.items())
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
