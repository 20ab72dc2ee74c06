"""Shared tools of the adversarial suite: our relay as a real process, its memory, raw clients.

The relay runs as ``python -m gunrtc_kit.cli relay`` in its own process so that its memory is its
own (``VmRSS``/``VmHWM`` from ``/proc``) and a test can ``kill -9`` it. Clients here speak the
wire with plain ``websockets`` and no help from our peer code, as an attacker would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]


class RelayProcess:
    """``gunrtc-kit relay`` on 127.0.0.1 in a child process; ``url`` once it listens."""

    def __init__(self, *args: str, store: Path | None = None, env: dict[str, str] | None = None):
        cmd = [sys.executable, "-m", "gunrtc_kit.cli", "relay", "--port", "0", *args]
        if store is not None:
            cmd += ["--store", str(store)]
        # the log goes to a file, not a pipe nobody drains: a relay that logs a lot must not
        # block on a full pipe (and a test can read how much it logged)
        self._log = tempfile.NamedTemporaryFile(prefix="relay-log-", suffix=".txt", delete=False)
        self.log_path = Path(self._log.name)
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"ws://\S+/gun", line)
        if m is None:
            self.proc.kill()
            self.proc.wait(5)
            err = self.log_text()
            raise RuntimeError(f"relay did not start: {line!r} {err[-2000:]}")
        self.url = m.group(0)
        self.first_line = line

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmRSS") / 1024

    def peak_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def log_text(self) -> str:
        """Everything the relay wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_files()
        return self.proc.returncode

    def _close_files(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        self._close_files()


def _status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


@contextlib.contextmanager
def relay_process(*args: str, store: Path | None = None) -> Iterator[RelayProcess]:
    relay = RelayProcess(*args, store=store)
    try:
        yield relay
    finally:
        relay.stop()


@contextlib.asynccontextmanager
async def raw_client(url: str, **kw: Any) -> AsyncIterator[ClientConnection]:
    """A bare WebSocket client (no Gun code): sends and reads frames as given."""
    async with connect(url, max_size=None, ping_interval=None, open_timeout=10, **kw) as ws:
        yield ws


def messages(frame: str | bytes) -> list[dict[str, Any]]:
    """The messages of one frame (an object or a batch)."""
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


async def wait_reply(ws: ClientConnection, to: str, timeout: float) -> dict[str, Any]:
    """The first message with ``@ == to`` (frames in between are read and skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            for m in messages(await ws.recv()):
                if isinstance(m, dict) and m.get("@") == to:
                    return m


async def put_ack_time(url: str, soul: str, timeout: float = 10.0) -> float:
    """Seconds from a honest client's put to its ack from the relay (raises on no ack)."""
    async with raw_client(url) as ws:
        mid = f"probe{time.monotonic_ns() % 10**9}"
        state = time.time() * 1000
        put = {soul: {"_": {"#": soul, ">": {"v": state}}, "v": mid}}
        t0 = time.perf_counter()
        await ws.send(json.dumps({"#": mid, "put": put}))
        reply = await wait_reply(ws, mid, timeout)
        took = time.perf_counter() - t0
        assert reply.get("ok") and not reply.get("err"), reply
        return took


async def worst_ack_while(url: str, attack: asyncio.Task[Any], every: float = 0.1) -> float:
    """The slowest ack a second client gets while ``attack`` runs (at least one probe)."""
    worst = 0.0
    n = 0
    while not attack.done() or n == 0:
        worst = max(worst, await put_ack_time(url, f"probe/{n}"))
        n += 1
        await asyncio.sleep(every)  # probe pacing IS the measurement, not a wait
    return worst


def run(argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
