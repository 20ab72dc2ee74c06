"""Sync with real Gun.js (npm gun 0.2020.1241), all on 127.0.0.1.

(a) our Gun peer and a Gun.js peer through a Gun.js relay (radisk on, in a temp dir);
(b) two Gun.js peers through our Relay; (c) a Gun.js relay and our relay peered.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from gunrtc_kit import Gun, Relay
from tests.helpers import asked, until
from tests.interop.gunjs import GunJsPeer, GunJsRelay

pytestmark = [pytest.mark.asyncio, pytest.mark.interop]


async def test_our_peer_and_gunjs_peer_sync_through_gunjs_relay(tmp_path: Path) -> None:
    async with GunJsRelay(radisk=tmp_path / "radata") as relay, GunJsPeer([relay.http_url]) as js:
        ours = await Gun([relay.ws_url]).start()
        try:
            await ours.wait_connected(10)
            seen: dict[str, Any] = {}
            ours.get("interop/a").map().on(lambda v, k: seen.__setitem__(k, v))
            await js.on("interop/a")  # a Gun.js client dials lazily, on its first message
            await js.wait_hi()
            # kept: nothing here can observe the Gun.js relay taking both GETs (subscriptions)
            await asyncio.sleep(0.3)
            # ours -> Gun.js, acked by the Gun.js relay's radisk
            ack = await ours.get("interop/a").get("fromPy").put({"n": 1, "text": "hi js"})
            assert ack["ok"] is True
            got = await js.wait_data("interop/a", "fromPy")
            assert got == {"n": 1, "text": "hi js"}
            # Gun.js -> ours
            js_ack = await js.put("interop/a", {"fromJs": "hi py"})
            assert js_ack["err"] is None
            await until(lambda: seen.get("fromJs") == "hi py")
        finally:
            await ours.close()


async def test_two_gunjs_peers_sync_through_our_relay() -> None:
    relay = await Relay().start()
    try:
        http_url = relay.url.replace("ws://", "http://")
        async with GunJsPeer([http_url]) as a, GunJsPeer([http_url]) as b:
            await b.on("interop/b")
            await a.on("interop/b-unused")
            await a.wait_hi()
            await b.wait_hi()
            await asked(relay, "interop/b")  # b's GET subscribed it on our relay
            ack = await a.put("interop/b", {"x": 1, "y": "two"})
            assert ack["ok"] is True and ack["err"] is None  # our relay acks
            assert await b.wait_data("interop/b", "x") == 1
            assert await b.wait_data("interop/b", "y") == "two"
            # and the relay's graph holds it with Gun.js's own states
            node = relay.gun.graph.nodes["interop/b"]
            assert node["y"] == "two" and isinstance(node["_"][">"]["y"], int | float)
    finally:
        await relay.stop()


async def test_gunjs_relay_and_our_relay_peer(tmp_path: Path) -> None:
    async with GunJsRelay(radisk=tmp_path / "radata") as js_relay:
        ours = await Relay(peers=[js_relay.ws_url]).start()
        try:
            py = await Gun([ours.url]).start()
            async with GunJsPeer([js_relay.http_url]) as js:
                await py.wait_connected(10)
                await until(lambda: len(ours.gun.mesh.peers) >= 2)
                seen: dict[str, Any] = {}
                py.get("interop/c").map().on(lambda v, k: seen.__setitem__(k, v))
                await js.on("interop/c")
                await js.wait_hi()
                # kept: the Gun.js relay taking both GETs (subscriptions) is not observable here
                await asyncio.sleep(0.5)
                await js.put("interop/c", {"fromJs": 1})
                await until(lambda: seen.get("fromJs") == 1)
                await py.get("interop/c").get("fromPy").put(2)
                assert await js.wait_data("interop/c", "fromPy") == 2
            await py.close()
        finally:
            await ours.stop()


async def test_gunjs_relay_pid_exchange_and_number_format(tmp_path: Path) -> None:
    """The handshake and a put as the Gun.js relay sees them, frame by frame."""
    async with GunJsRelay(radisk=tmp_path / "radata") as relay:
        ws = await connect(relay.ws_url)
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert hello["dam"] == "?" and len(hello["pid"]) == 9
            ours = await Gun([relay.ws_url]).start()
            await ours.wait_connected(10)
            ack = await ours.get("fmt").put({"int": 5, "float": 1.5, "big": 1e21})
            assert ack["ok"] is True
            await ws.send(json.dumps({"#": "g1", "get": {"#": "fmt"}}))
            async with asyncio.timeout(5):
                while True:
                    raw = await ws.recv()
                    if '"@":"g1"' in raw and '"put"' in raw:
                        break
            # Gun.js wrote back exactly the JS text of our numbers, and the integral state
            assert '"int":5' in raw and '"float":1.5' in raw and '"big":1e+21' in raw
            await ours.close()
        finally:
            await ws.close()
