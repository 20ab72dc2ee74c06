"""Test helpers shared by the suites: a recording wire and a fake clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from gunrtc_kit.errors import NetworkError


class FakeClock:
    """Milliseconds that only move when a test says so."""

    def __init__(self, start: float = 1_795_544_504_602.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms


class RecordingWire:
    """The edge a mesh unit test controls: records every frame; can refuse like a closed socket."""

    transport = "memory"

    def __init__(self, open_: bool = True) -> None:
        self.frames: list[str] = []
        self.open = open_
        self.closed = False

    def send(self, text: str) -> None:
        if not self.open:
            raise NetworkError("not open")
        self.frames.append(text)

    def close(self) -> None:
        self.closed = True
        self.open = False

    def messages(self) -> list[dict[str, Any]]:
        """Every message sent, batches unpacked."""
        out: list[dict[str, Any]] = []
        for f in self.frames:
            data = json.loads(f)
            out.extend(data if isinstance(data, list) else [data])
        return out


async def until(pred: Callable[[], object], timeout: float = 15.0) -> None:
    """Wait, bounded, until ``pred()`` is true (checked every 10 ms)."""
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)
