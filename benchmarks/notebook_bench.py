"""What the views cost, measured where the user sees them (ours only: Gun.js has no notebook).

JupyterLab on 127.0.0.1 shows ``lab.show()`` of 55 in-memory peers (a ring plus 30 chords)
while 50 puts a second flood the mesh, in Debian's chromium driven by Playwright. Over
``--windows`` windows of ``--seconds`` each we read:

- in the browser: how many updates the mesh and flow views applied (their ``data-updates``),
  how many frames the page drew and how long the slowest ones took (requestAnimationFrame),
  and how many bytes the kernel's websocket delivered;
- in the kernel, through a second client of the same kernel: the CPU time the views' pump
  spent (``lab.hub.cpu``, thread time) and the whole kernel process's, and how long a
  trivial cell (``1 + 1``) takes to come back.

Prints one JSON object: per measure the median, the min and max, and each window's value.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.jlab import chromium, jupyterlab, run_all, write_notebook  # noqa: E402

CELLS = [
    """import asyncio, random, time
from gunrtc_kit.lab import Lab
lab = Lab(relay=False)
peers = [lab.memory_peer(f"p{i}") for i in range(55)]
rng = random.Random(1)
for i in range(55):
    lab.link_memory(peers[i], peers[(i + 1) % 55])
for _ in range(30):
    i, j = rng.sample(range(55), 2)
    lab.link_memory(peers[i], peers[j])
lab.show()""",
    """async def load():
    i = 0
    while True:
        peers[i % 55].gun.get("load").get(f"k{i}").put(i)
        i += 1
        await asyncio.sleep(0.02)
task = lab.rt.submit(load())""",
]

PAGE_PROBE = """() => {
    window.__gk = {frames: [], last: performance.now()};
    const tick = t => { window.__gk.frames.push(t - window.__gk.last);
                        window.__gk.last = t; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
}"""

PAGE_READ = """() => {
    const u = v => +(document.querySelector(`[data-view=${v}]`) || {dataset: {}})
        .dataset.updates || 0;
    const f = window.__gk.frames; window.__gk.frames = [];
    return {mesh: u('mesh'), flow: u('flow'), frames: f};
}"""


def kernel_client(runtime_dir: Path) -> Any:
    from jupyter_client import BlockingKernelClient

    deadline = time.monotonic() + 60
    while True:
        files = sorted(runtime_dir.glob("kernel-*.json"))
        if files:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("no kernel connection file appeared")
        time.sleep(0.2)
    kc = BlockingKernelClient(connection_file=str(files[0]))
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return kc


def run(kc: Any, code: str, expr: str | None = None) -> tuple[float, Any]:
    """Execute ``code`` (and evaluate ``expr``) and wait for the reply on the shell channel
    only: the iopub channel carries the views' traffic, which this client does not read."""
    t0 = time.perf_counter()
    exprs = {"x": expr} if expr else {}
    msg_id = kc.execute(code, silent=True, store_history=False, user_expressions=exprs)
    while True:
        reply = kc.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    ms = (time.perf_counter() - t0) * 1000
    content = reply["content"]
    if content["status"] != "ok":
        raise RuntimeError(f"kernel: {content}")
    value = None
    if expr:
        got = content["user_expressions"]["x"]
        if got.get("status") != "ok":
            raise RuntimeError(f"kernel: {got}")
        value = json.loads(ast.literal_eval(got["data"]["text/plain"]))
    return ms, value


KERNEL_READ = (
    "__import__('json').dumps({'cpu': lab.hub.cpu, "
    "'proc': __import__('time').process_time(), 'wall': __import__('time').monotonic(), "
    "'events': lab.hub.applied, 'queued': lab.hub.queued, 'overflow': lab.hub.overflow})"
)


def spread(xs: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "windows": xs}


PROFILE_START = """import cProfile as _cp
_gk_prof = _cp.Profile(__import__("time").thread_time)
_gk_step = lab.hub.step
def _gk_profiled(flush=False):
    _gk_prof.enable()
    try:
        return _gk_step(flush)
    finally:
        _gk_prof.disable()
lab.hub.step = _gk_profiled"""

PROFILE_STOP = "lab.hub.step = _gk_step; _gk_prof.dump_stats({path!r})"


def main(windows: int = 3, seconds: float = 10.0, profile: str | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_notebook(folder / "bench.ipynb", CELLS)
        with jupyterlab(folder) as (base, token), sync_playwright() as pw:
            browser = chromium(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            received = [0]

            def on_ws(ws: Any) -> None:
                def count(payload: Any) -> None:
                    received[0] += len(payload)

                ws.on("framereceived", count)

            page.on("websocket", on_ws)
            try:
                page.goto(f"{base}/lab/tree/bench.ipynb?token={token}", timeout=60_000)
                run_all(page)
                page.wait_for_function(
                    "() => document.querySelectorAll('[data-view=mesh] .gk-node').length === 55",
                    timeout=120_000,
                )
                page.wait_for_selector(".jp-InputPrompt:has-text('[2]')", timeout=60_000)
                kc = kernel_client(folder / ".jrt")
                try:
                    page.evaluate(PAGE_PROBE)
                    page.wait_for_timeout(3000)  # the load settles
                    rows: dict[str, list[float]] = {}
                    if profile:  # the pump's rounds under cProfile (slower: read shares only)
                        run(kc, PROFILE_START)
                    for _ in range(windows):
                        k0 = run(kc, "", KERNEL_READ)[1]
                        b0 = page.evaluate(PAGE_READ)
                        r0 = received[0]
                        page.wait_for_timeout(int(seconds * 1000))
                        k1 = run(kc, "", KERNEL_READ)[1]
                        b1 = page.evaluate(PAGE_READ)
                        r1 = received[0]
                        dt = k1["wall"] - k0["wall"]
                        frames = sorted(b1["frames"])
                        for key, value in {
                            "mesh_updates_per_s": (b1["mesh"] - b0["mesh"]) / dt,
                            "flow_updates_per_s": (b1["flow"] - b0["flow"]) / dt,
                            "views_cpu_share": (k1["cpu"] - k0["cpu"]) / dt,
                            "kernel_cpu_share": (k1["proc"] - k0["proc"]) / dt,
                            "ws_bytes_per_s": (r1 - r0) / dt,
                            "frames_per_s": len(frames) / dt,
                            "frame_p95_ms": frames[int(len(frames) * 0.95)] if frames else 0.0,
                            "events_per_s": (k1["events"] - k0["events"]) / dt,
                        }.items():
                            rows.setdefault(key, []).append(value)
                        assert k1["overflow"] == 0, "the views fell behind: events overflowed"
                    if profile:
                        run(kc, PROFILE_STOP.format(path=str(Path(profile).resolve())))
                    lat = [run(kc, "1 + 1")[0] for _ in range(20)]
                    run(kc, "task.cancel(); lab.close()")
                finally:
                    kc.stop_channels()
            finally:
                browser.close()
    out: dict[str, Any] = {k: spread(v) for k, v in rows.items()}
    out["trivial_cell_ms"] = {"p50": statistics.median(lat), "max": max(lat)}
    out["windows"] = windows
    out["seconds"] = seconds
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument(
        "--profile", metavar="FILE", help="write cProfile stats of the views' pump rounds to FILE"
    )
    a = p.parse_args()
    sys.stdout.write(json.dumps(main(a.windows, a.seconds, a.profile)) + "\n")
