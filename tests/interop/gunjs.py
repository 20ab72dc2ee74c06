"""Real Gun.js processes for the interop tests: a relay and a peer, driven by JSON lines.

Every process binds 127.0.0.1 on a free port, has multicast off, and is killed when its
``async with`` block ends; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

INTEROP = Path(__file__).resolve().parents[2] / "interop"
NODE = shutil.which("node")


def require_gunjs() -> None:
    if NODE is None:
        pytest.fail("node is not installed; scripts/setup installs the interop dependencies")
    if not (INTEROP / "node_modules" / "gun").is_dir():
        pytest.fail("npm gun missing: run scripts/setup (npm ci in interop/)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    """A node script speaking JSON lines on stdout (events) and stdin (commands)."""

    def __init__(self, script: str, *args: str) -> None:
        require_gunjs()
        self.script = script
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []
        self.log: list[str] = []
        self._new = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = dict(os.environ, MULTICAST="false", NODE_NO_WARNINGS="1")
        assert NODE is not None
        self.proc = await asyncio.create_subprocess_exec(
            NODE,
            str(INTEROP / self.script),
            *self.args,
            cwd=str(INTEROP),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                self._new.set()
                return
            text = line.decode(errors="replace").strip()
            self.log.append(text)
            if text.startswith("{"):
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(text))
                    self._new.set()

    async def wait_event(self, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout):
                seen = 0
                while True:
                    for e in self.events[seen:]:
                        if pred(e):
                            return e
                    seen = len(self.events)
                    if self.proc is not None and self.proc.returncode is not None:
                        raise AssertionError(f"{self.script} exited: {self.log[-20:]}")
                    self._new.clear()
                    await self._new.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.script}: no matching event in {timeout} s; last output {self.log[-15:]}"
            ) from None

    async def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(self.proc.wait(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class GunJsRelay(NodeProcess):
    """npm gun's relay bundle (AXE on) on 127.0.0.1; radisk in ``radisk`` dir, or memory."""

    def __init__(self, radisk: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        args = [str(self.port)] + (["--radisk", str(radisk)] if radisk is not None else [])
        super().__init__("gunjs_relay.js", *args)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/gun"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gun"

    async def __aenter__(self) -> GunJsRelay:
        await self.start()
        await self.wait_event(lambda e: e.get("event") == "listening")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class GunJsPeer(NodeProcess):
    """A plain Gun.js peer (interop/gunjs_peer.js) connected to ``peers``."""

    def __init__(self, peers: list[str]) -> None:
        super().__init__("gunjs_peer.js", *peers)
        self.pid = ""
        self._n = 0

    async def __aenter__(self) -> GunJsPeer:
        await self.start()
        self.pid = str((await self.wait_event(lambda e: e.get("event") == "ready"))["pid"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_hi(self, timeout: float = 10.0) -> None:
        await self.wait_event(lambda e: e.get("event") == "hi", timeout)

    async def on(self, soul: str) -> None:
        await self.send({"cmd": "on", "soul": soul})
        await self.wait_event(lambda e: e.get("event") == "on" and e.get("soul") == soul)

    async def put(
        self, soul: str, data: dict[str, Any], timeout: float = 10.0, ack: bool = True
    ) -> dict[str, Any]:
        """Put through the Gun.js peer; with ``ack`` wait for its callback (a storage ack)."""
        self._n += 1
        cid = f"put{self._n}"
        await self.send({"cmd": "put", "id": cid, "soul": soul, "data": data})
        if not ack:
            return {}
        return await self.wait_event(
            lambda e: e.get("event") == "ack" and e.get("id") == cid, timeout
        )

    async def wait_data(self, soul: str, key: str, timeout: float = 10.0) -> Any:
        e = await self.wait_event(
            lambda e: e.get("event") == "data" and e.get("soul") == soul and e.get("key") == key,
            timeout,
        )
        return e["value"]


class GunJsRtcPeer(GunJsPeer):
    """A Gun.js WebRTC peer (interop/gunjs_rtc_peer.js: gun/gun + gun/lib/webrtc + wrtc)."""

    def __init__(self, relay_url: str, room: str) -> None:
        NodeProcess.__init__(self, "gunjs_rtc_peer.js", relay_url, room)
        self.pid = ""
        self._n = 0

    async def wait_rtc_hi(self, timeout: float = 20.0) -> dict[str, Any]:
        return await self.wait_event(lambda e: e.get("event") == "hi" and e.get("rtc"), timeout)

    async def peers(self) -> list[dict[str, Any]]:
        n = len(self.events)
        await self.send({"cmd": "peers"})
        e = await self.wait_event(
            lambda e: e.get("event") == "peers" and self.events.index(e) >= n, 5
        )
        return list(e["peers"])
