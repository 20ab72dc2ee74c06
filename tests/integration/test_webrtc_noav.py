"""A peer with WebRTC links never loads PyAV (aiortc imports it for media we never send), and
PyAV imported later is the real one, with aiortc's media path working. In a fresh interpreter
(this suite's own imports load aiortc the ordinary way). Loopback only (see tests/netns.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netns import require_loopback_only

pytestmark = [pytest.mark.webrtc]

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import asyncio, fractions, json, sys
from gunrtc_kit import Gun, WebRTCOptions

async def main():
    opts = WebRTCOptions(ice_servers=[], room=None, host_addresses=["127.0.0.1"])
    a = await Gun(rtc=opts).start()
    b = await Gun(rtc=opts).start()
    try:
        answer = await b.rtc.accept_offer(a.pid, await a.rtc.create_offer(b.pid))
        await a.rtc.accept_answer(b.pid, answer)
        await a.rtc.wait_open(b.pid, 20)
        await b.rtc.wait_open(a.pid, 20)
        linked_without_av = "av" not in sys.modules
    finally:
        await a.close()
        await b.close()
    import av
    from aiortc.codecs.opus import OpusEncoder
    frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
    frame.sample_rate, frame.pts, frame.time_base = 48000, 0, fractions.Fraction(1, 48000)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    payloads, _ = OpusEncoder().encode(frame)
    print(json.dumps({"linked_without_av": linked_without_av, "opus": len(payloads),
                      "real_av": type(av).__name__ == "module" and hasattr(av, "__file__")}))

asyncio.run(main())
"""


def test_links_open_without_pyav_and_pyav_works_after() -> None:
    require_loopback_only()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GUNRTC_KIT_LOAD_AV", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"linked_without_av": True, "opus": 1, "real_av": True}
