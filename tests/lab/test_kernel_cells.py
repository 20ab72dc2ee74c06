"""A WebRTC link made in one cell keeps delivering while the kernel is idle, during an
awaiting cell and during a blocking cell, in a real kernel, under ipykernel 7 and 6.

ipykernel 7 is the one in the venv; ipykernel 6 is installed apart by scripts/setup-tests
(``.cache/ipykernel6``, put first on the kernel's PYTHONPATH). Messages flow only over the
data channel: the relay is stopped after linking.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.netns import require_loopback_only

ROOT = Path(__file__).resolve().parents[2]
IPK6 = ROOT / ".cache" / "ipykernel6"

SETUP = """
import time, asyncio, ipykernel
from gunrtc_kit.lab import Lab
lab = Lab()
a, b = lab.peer("a"), lab.peer("b")
lab.wait_linked_sync(a, b)
lab.stop_relay_sync()                      # from now on only the data channel carries data

async def pump():
    i = 0
    while True:
        a.gun.get("tick").get(f"k{i}").put(i)
        i += 1
        await asyncio.sleep(0.02)

pumping = lab.rt.submit(pump())            # runs on the Lab's loop, not the kernel's
def count():  # keys b holds under 'tick' ('_' aside; 0 before the first put arrives)
    return max(len(b.gun.graph.nodes.get("tick", {})) - 1, 0)
print("VERSION", ipykernel.__version__)
"""


def run(kc: Any, code: str, timeout: float = 60) -> str:
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["header"]["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["header"]["msg_type"] == "error":
            out.append("ERROR " + "\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    text = "".join(out)
    assert reply["content"]["status"] == "ok", text
    return text


def number(text: str, key: str) -> int:
    m = re.search(rf"{key} (\d+)", text)
    assert m, text
    return int(m.group(1))


def kernel_spec(tmp: Path, version: str) -> Path:
    spec = tmp / "kernels" / f"gunrtc-ipk{version}"
    spec.mkdir(parents=True)
    env = {"PYTHONPATH": str(IPK6)} if version == "6" else {}
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"ipykernel {version}",
                "language": "python",
                "env": env,
            }
        )
    )
    return tmp / "kernels"


@pytest.mark.parametrize("version", ["7", "6"])
def test_link_keeps_delivering_between_and_during_cells(version: str, tmp_path: Path) -> None:
    require_loopback_only()
    if version == "6" and not (IPK6 / "ipykernel").is_dir():
        pytest.fail(f"ipykernel 6 is missing from {IPK6}: run scripts/setup-tests")
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager(kernel_dirs=[str(kernel_spec(tmp_path, version))])
    km = KernelManager(kernel_name=f"gunrtc-ipk{version}", kernel_spec_manager=ksm)
    km.start_kernel(cwd=str(ROOT), env=dict(os.environ))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        text = run(kc, SETUP)
        assert text.split("VERSION ")[1].startswith(version), text
        n0 = number(run(kc, "print('N', count())"), "N")
        time.sleep(1.0)  # the kernel is idle between cells
        n1 = number(run(kc, "print('N', count())"), "N")
        awaited = number(
            run(kc, "n = count(); await asyncio.sleep(1); print('D', count() - n)"), "D"
        )
        blocked = number(run(kc, "n = count(); time.sleep(1); print('D', count() - n)"), "D")
        sys.stderr.write(
            f"ipykernel {version}: idle {n1 - n0}, awaiting {awaited}, "
            f"blocking {blocked} messages per ~1 s\n"
        )
        # ~50 puts/s are sent; each phase must have delivered most of them
        assert n1 - n0 >= 25 and awaited >= 25 and blocked >= 25, (n1 - n0, awaited, blocked)
        run(kc, "pumping.cancel(); lab.close()")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
