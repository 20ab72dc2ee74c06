"""``gunrtc-kit tap`` as a real process in front of our relay: it says where it listens and
records, forwards a client's frames, and on SIGINT stops cleanly with the trace on disk."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from gunrtc_kit import Relay, trace

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]
WAIT = 15.0


async def test_the_tap_command_forwards_records_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    relay = await Relay().start()
    path = tmp_path / "tap.jsonl"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gunrtc_kit.cli",
        "tap",
        "--listen",
        "127.0.0.1:0",
        "--target",
        relay.url,
        "--trace",
        str(path),
        cwd=str(ROOT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(WAIT):
            first = (await proc.stdout.readline()).decode()
            second = (await proc.stdout.readline()).decode()
        assert first.startswith("gunrtc-kit tap listening on ws://127.0.0.1:")
        assert f"-> {relay.url}" in first and f"recording to {path}" in second
        url = first.split()[4]
        async with connect(url) as ws:
            hello = await asyncio.wait_for(ws.recv(), WAIT)  # our relay's '?', through the tap
            assert '"dam":"?"' in str(hello) and relay.pid in str(hello)
            await ws.send('{"#":"g1","get":{"#":"cli/x"}}')
            await relay.bus.until(
                lambda e: isinstance(e, trace.Heard) and e.msg.get("#") == "g1", WAIT
            )
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT):
            rest = (await proc.stdout.read()).decode()
            assert await proc.wait() == 0
        assert f"recorded {path.stat().st_size} bytes to {path}" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await relay.stop()
    saved = trace.load(path)
    assert saved.meta["target"] == relay.url
    said = [e for e in saved.events if isinstance(e, trace.Said)]
    assert any(e.node == relay.pid and e.msg.get("dam") == "?" for e in said)
    assert any(e.msg.get("#") == "g1" for e in said)
