"""Notebook cost, ours only (Gun.js has no notebook layer): a real kernel holds a Lab of 55
in-memory peers with live mesh and flow views while 50 puts per second flow; we count the
views' redraws per second and time a trivial cell (``1 + 1``) from request to reply."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import asyncio, random, time
from gunrtc_kit.lab import Lab
lab = Lab(relay=False)
peers = [lab.memory_peer(f"p{i}") for i in range(55)]
rng = random.Random(1)
for i in range(55):
    lab.link_memory(peers[i], peers[(i + 1) % 55])
for _ in range(30):
    i, j = rng.sample(range(55), 2)
    lab.link_memory(peers[i], peers[j])
mesh, flow = lab.mesh_view(), lab.flow_view()
async def pump():
    i = 0
    while True:
        peers[i % 55].gun.get("load").get(f"k{i}").put(i)
        i += 1
        await asyncio.sleep(0.02)
task = lab.rt.submit(pump())
"""


def run(kc: Any, code: str) -> float:
    t0 = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=120, output_hook=lambda m: None)
    assert reply["content"]["status"] == "ok", reply["content"]
    return (time.perf_counter() - t0) * 1000


def main() -> dict[str, float]:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        run(kc, SETUP)
        run(kc, "r0 = (mesh.redraws, flow.redraws); t0 = time.time()")
        time.sleep(5)
        lat = [run(kc, "1 + 1") for _ in range(20)]
        out: dict[str, Any] = {}

        def hook(m: dict[str, Any]) -> None:
            if m["header"]["msg_type"] == "stream":
                out.update(json.loads(m["content"]["text"]))

        kc.execute_interactive(
            "import json; dt = time.time() - t0; print(json.dumps({'mesh': (mesh.redraws - "
            "r0[0]) / dt, 'flow': (flow.redraws - r0[1]) / dt}))",
            timeout=60,
            output_hook=hook,
        )
        run(kc, "task.cancel(); lab.close()")
        return {
            "mesh_redraws_per_s": out["mesh"],
            "flow_redraws_per_s": out["flow"],
            "trivial_cell_ms_p50": statistics.median(lat),
            "trivial_cell_ms_max": max(lat),
        }
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main()) + "\n")
