"""``GunJsClient``: a real npm Gun.js client in Node that a notebook starts, drives and asks
what it holds (through its own Gun), stopped with it; bounded waits and clear errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.gunjs import find_interop
from gunrtc_kit.lab.gunjs_client import GunJsClient
from tests.netns import require_loopback_only

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not (find_interop() / "node_modules" / "gun").is_dir(),
        reason="npm gun is not installed in interop/ (scripts/setup, or npm ci there)",
    ),
]


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_loopback_only()
    lab = Lab()
    yield lab
    lab.close()


def test_two_gunjs_clients_put_subscribe_and_read_through_a_relay(lab: Lab) -> None:
    assert lab.relay is not None
    with (
        GunJsClient(lab.relay.url, name="alice") as alice,
        GunJsClient(lab.relay.url, name="bob") as bob,
    ):
        assert alice.pid and bob.pid and alice.pid != bob.pid
        alice.subscribe_sync("chat")
        ack = bob.put_sync("chat", {"hello": "from bob"})
        assert ack.get("err") is None and ack.get("ok") is not None, ack
        deadline = time.monotonic() + 10
        while alice.data("chat").get("hello") != "from bob" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alice.data("chat") == {"hello": "from bob"}
        assert alice.read_sync("chat") == {"hello": "from bob"}  # its own Gun holds it
        assert asyncio.run(bob.read("chat")) == {"hello": "from bob"}
        assert "alice" in repr(alice) and "running" in repr(alice)
        proc = alice.process
    assert proc is not None and proc.poll() is not None  # stopped with the block
    with pytest.raises(GunError, match="not running"):
        alice.put_sync("chat", {"late": 1})


def test_a_missing_install_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUNRTC_INTEROP", str(tmp_path))
    with pytest.raises(GunError, match="npm ci"):
        GunJsClient("ws://127.0.0.1:9/gun").start()
