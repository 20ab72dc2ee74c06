"""Benchmarks: gunrtc_kit side by side with Gun.js on this machine, in one run, as ratios.

    python benchmarks/run.py --quick      # < 10 minutes on 2 cores
    python benchmarks/run.py              # the full sizes

Writes ``benchmarks/results.json`` (a list of {name, ours, gunjs, unit, ratio, better}) and
prints a table. Installs nothing: it uses what ``scripts/setup`` installed (the venv and
``interop/node_modules``). WebRTC benchmarks run only inside a loopback-only network namespace
(``unshare -n``), as the tests do; elsewhere they are skipped and say so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "interop"
PY = sys.executable
sys.path.insert(0, str(ROOT))

Result = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def process(cmd: list[str], port: int, cwd: Path = ROOT) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, MULTICAST="false")
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield proc
    finally:
        proc.kill()
        proc.wait(5)


def loadgen(url: str, subs: int, writers: int, rate: float, seconds: float) -> Result:
    out = subprocess.run(
        [
            PY,
            str(ROOT / "benchmarks" / "loadgen.py"),
            url,
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
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_relay(quick: bool) -> list[Result]:
    """1. Relay throughput: the same neutral load through our relay and a Gun.js relay."""
    subs, writers, rate, seconds = (20, 4, 100, 4) if quick else (50, 4, 250, 10)
    figures: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        with process(
            [
                PY,
                "-m",
                "gunrtc_kit.cli",
                "relay",
                "--port",
                str(port),
                "--store",
                str(Path(tmp) / "ours.sqlite3"),
            ],
            port,
        ):
            figures["ours"] = loadgen(f"ws://127.0.0.1:{port}/gun", subs, writers, rate, seconds)
        port = free_port()
        with process(
            [
                "node",
                str(INTEROP / "gunjs_relay.js"),
                str(port),
                "--radisk",
                str(Path(tmp) / "radata"),
            ],
            port,
            cwd=INTEROP,
        ):
            figures["gunjs"] = loadgen(f"ws://127.0.0.1:{port}/gun", subs, writers, rate, seconds)
    load = f"{subs} subscribers, {writers} writers x {rate}/s for {seconds}s"
    o, g = figures["ours"], figures["gunjs"]
    return [
        row(
            "relay deliveries per second (" + load + ")",
            o["deliveries_per_s"],
            g["deliveries_per_s"],
            "deliveries/s",
            "higher",
        ),
        row("relay put-to-delivery p50", o["p50_ms"], g["p50_ms"], "ms", "lower"),
        row("relay put-to-delivery p99", o["p99_ms"], g["p99_ms"], "ms", "lower"),
        row("relay share of puts acked", o["acked_share"], g["acked_share"], "share", "higher"),
        row(
            "relay share of deliveries made",
            o["delivered_share"],
            g["delivered_share"],
            "share",
            "higher",
        ),
    ]


def row(name: str, ours: float | None, gunjs: float | None, unit: str, better: str) -> Result:
    ratio = (ours / gunjs) if ours is not None and gunjs else None
    return {
        "name": name,
        "ours": ours,
        "gunjs": gunjs,
        "unit": unit,
        "ratio": ratio,
        "better": better,
    }


def bench_rtc(quick: bool) -> list[Result]:
    """2-3. Link setup and data-channel throughput, in a loopback-only network namespace."""
    cmd = [PY, str(ROOT / "benchmarks" / "rtc_bench.py")] + (["--quick"] if quick else [])
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"rtc_bench failed: {out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if "skipped" in data:
        sys.stderr.write(f"rtc: skipped: {data['skipped']}\n")
        return []
    su, tp = data["setup_ms"], data["throughput"]
    return [
        row(
            "WebRTC link setup (join room -> dc open + hi on both sides)",
            su["ours"],
            su["gunjs"],
            "ms",
            "lower",
        ),
        row(
            f"data-channel throughput ({tp['n']} puts, relay stopped)",
            tp["ours"],
            tp["gunjs"],
            "puts/s",
            "higher",
        ),
        row(
            f"data-channel share of the {tp['n']} puts delivered (maxRetransmits 2)",
            tp["ours_share"],
            tp["gunjs_share"],
            "share",
            "higher",
        ),
    ] + (
        [
            row(
                "live WebRTC links one peer holds (of 55)",
                data["links"]["held"],
                None,
                "links",
                "higher",
            )
        ]
        if "links" in data
        else []
    )


def node_json(args: list[str], timeout: float = 300) -> Result:
    out = subprocess.run(
        ["node", "--expose-gc", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def py_json(args: list[str], timeout: float = 600) -> Result:
    out = subprocess.run(
        [PY, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_mesh(quick: bool) -> list[Result]:
    """4. In-memory mesh of N peers (ring + random chords), one put flooding to all."""
    rows: list[Result] = []
    for n in (100, 1000):
        o = py_json([str(ROOT / "benchmarks" / "mesh_bench.py"), str(n), "2"])
        g = node_json([str(ROOT / "benchmarks" / "gunjs_mesh.js"), str(n), "2"])
        rows += [
            row(f"mesh of {n}: put reaches every peer", o["ms"], g["ms"], "ms", "lower"),
            row(
                f"mesh of {n}: messages sent for one put",
                o["messages"],
                g["messages"],
                "messages",
                "lower",
            ),
            row(
                f"mesh of {n}: duplicates dropped by dedup",
                o["duplicates_dropped"],
                None,
                "messages",
                "lower",
            ),
            row(
                f"mesh of {n}: memory per peer",
                o["bytes_per_peer"] / 1024,
                g["heap_per_peer"] / 1024,
                "KiB",
                "lower",
            ),
        ]
    return rows


def bench_notebook(quick: bool) -> list[Result]:
    """5. The views' cost (ours only), measured in JupyterLab + chromium: 55 peers, 50
    puts/s, ``lab.show()`` on screen; median and spread over repeated windows."""
    args = ["--windows", "3", "--seconds", "5" if quick else "10"]
    o = py_json([str(ROOT / "benchmarks" / "notebook_bench.py"), *args])

    def spread_row(key: str, name: str, unit: str, better: str, scale: float = 1.0) -> Result:
        s = o[key]
        r = row(name, s["median"] * scale, None, unit, better)
        r["spread"] = [s["min"] * scale, s["max"] * scale]
        return r

    load = "55 peers, 50 puts/s, in chromium"
    return [
        spread_row("mesh_updates_per_s", f"notebook: mesh view updates ({load})", "updates/s",
                   "higher"),
        spread_row("flow_updates_per_s", "notebook: flow view updates (same)", "updates/s",
                   "higher"),
        spread_row("views_cpu_share", "notebook: kernel CPU spent on views", "% of a core",
                   "lower", 100.0),
        spread_row("kernel_cpu_share", "notebook: kernel CPU in all (mesh + views)",
                   "% of a core", "lower", 100.0),
        spread_row("ws_bytes_per_s", "notebook: bytes to the browser", "KB/s", "lower",
                   1 / 1000),
        spread_row("frames_per_s", "notebook: browser frames drawn", "frames/s", "higher"),
        spread_row("frame_p95_ms", "notebook: browser frame time p95", "ms", "lower"),
        row("notebook: a trivial cell returns, p50 (same load)", o["trivial_cell_ms"]["p50"],
            None, "ms", "lower"),
        row("notebook: a trivial cell returns, worst of 20", o["trivial_cell_ms"]["max"], None,
            "ms", "lower"),
    ]


BENCHES: dict[str, Callable[[bool], list[Result]]] = {
    "relay": bench_relay,
    "rtc": bench_rtc,
    "mesh": bench_mesh,
    "notebook": bench_notebook,
}


def fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.0f}"
    return str(x)


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | ours | Gun.js | unit | ratio (ours/Gun.js) | better |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        ours = fmt(r["ours"])
        if r.get("spread"):
            lo, hi = r["spread"]
            ours += f" ({fmt(lo)}–{fmt(hi)})"
        lines.append(
            f"| {r['name']} | {ours} | {fmt(r['gunjs'])} | {r['unit']} | "
            f"{fmt(r['ratio'])} | {r['better']} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", action="append", choices=sorted(BENCHES))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    a = p.parse_args()
    if shutil.which("node") is None or not (INTEROP / "node_modules" / "gun").is_dir():
        sys.stderr.write("run scripts/setup first (node and interop/node_modules)\n")
        return 2
    results: list[Result] = []
    for name in a.only or list(BENCHES):
        t0 = time.perf_counter()
        results.extend(BENCHES[name](a.quick))
        sys.stderr.write(f"{name}: {time.perf_counter() - t0:.0f} s\n")
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''} "
        f"Python {platform.python_version()}, Node {node}"
    )
    sys.stdout.write(f"{table(results)}\n\nmachine: {machine}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
