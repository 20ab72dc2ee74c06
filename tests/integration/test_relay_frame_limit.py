"""The relay's default frame limit (``RELAY_MAX_FRAME``, issue 22 "Big frames"): a frame just
over it is refused with Gun's words and a trace error, the connection and every other client go
on; a frame at the limit is taken. Why the limit is below Gun.js's: docs/benchmarks.md "Big
frames" (a bigger frame holds every other client while it is decoded and merged)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from gunrtc_kit import Relay, trace
from gunrtc_kit.cli import main
from gunrtc_kit.core import codec
from gunrtc_kit.errors import GunError
from gunrtc_kit.relay import RELAY_MAX_FRAME


def put_frame(mid: str, soul: str, length: int | None = None) -> str:
    """A put of one value at ``soul``, padded to exactly ``length`` chars when given."""
    state = time.time() * 1000

    def frame(value: str) -> str:
        put = {soul: {"_": {"#": soul, ">": {"v": state}}, "v": value}}
        return json.dumps({"#": mid, "put": put}, separators=(",", ":"))

    if length is None:
        return frame(mid)
    text = frame("")
    return frame("x" * (length - len(text)))


async def reply(ws: ClientConnection, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            data = json.loads(await ws.recv())
            for m in data if isinstance(data, list) else [data]:
                if isinstance(m, dict) and pred(m):
                    return m


async def acked(ws: ClientConnection, mid: str, soul: str) -> dict[str, Any]:
    await ws.send(put_frame(mid, soul))
    return await reply(ws, lambda m: m.get("@") == mid)


def test_the_default_is_below_gun_js_and_a_raised_limit_raises_the_socket_s() -> None:
    relay = Relay()
    assert relay.gun.mesh.max_frame == RELAY_MAX_FRAME < codec.MAX_FRAME
    assert relay.server.max_size >= RELAY_MAX_FRAME  # refused with words, not a 1009 close
    big = Relay(max_frame=200_000_000)
    assert big.gun.mesh.max_frame == big.server.max_size == 200_000_000
    with pytest.raises(GunError, match="max_frame"):
        Relay(max_frame=0)


def test_cli_refuses_a_frame_limit_of_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["relay", "--max-frame", "0"])
    assert exc.value.code == 2
    assert "--max-frame must be > 0" in capsys.readouterr().err


async def test_a_frame_just_over_the_limit_is_refused_and_everyone_goes_on() -> None:
    bus = trace.TraceBus()
    async with Relay(bus=bus) as relay:
        opts: dict[str, Any] = {"max_size": None, "ping_interval": None}
        async with connect(relay.url, **opts) as big, connect(relay.url, **opts) as honest:
            assert (await acked(honest, "h0", "honest/0")).get("ok")
            over = put_frame("over", "big/over", RELAY_MAX_FRAME + 1)
            assert len(over) == RELAY_MAX_FRAME + 1
            await big.send(over)
            refused = await reply(big, lambda m: m.get("dam") == "!")
            assert refused["err"] == "Message too big!"
            errors = [e.error for e in bus.events(trace.Error)]
            assert any(f"over max_frame={RELAY_MAX_FRAME}" in e for e in errors), errors
            # nothing of it was taken, the sender's connection is open, the honest one served
            assert "big/over" not in relay.gun.graph
            assert (await acked(honest, "h1", "honest/1")).get("ok")
            assert (await acked(big, "small", "big/small")).get("ok")
            # a frame of exactly the limit is taken
            await big.send(put_frame("at", "big/at", RELAY_MAX_FRAME))
            assert (await reply(big, lambda m: m.get("@") == "at")).get("ok")
            assert (await acked(honest, "h2", "honest/2")).get("ok")
