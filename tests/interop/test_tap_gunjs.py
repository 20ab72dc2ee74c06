"""The tap in front of the real npm Gun.js relay (0.2020.1241), all on 127.0.0.1.

(a) Two Gun.js clients behind the tap: a put reaches the other client and is acked, and the
trace holds the put (said by the writer, by its pid), its copy delivered to the other client,
and the ack, with every side named by its pid. (b) A raw WebSocket client speaking Gun behind
the tap: every frame it sent is what the tap read and forwarded, every frame it got is what
the relay sent through the tap, hashed, in order; garbage in between is passed on, reported,
and changes nothing after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect

from gunrtc_kit import trace
from gunrtc_kit.tap import Pair, Tap
from tests.interop.gunjs import GunJsPeer, GunJsRelay

pytestmark = [pytest.mark.asyncio, pytest.mark.interop]

WAIT = 15.0
E = TypeVar("E", bound=trace.Event)


@contextlib.asynccontextmanager
async def tapped(relay: GunJsRelay) -> AsyncIterator[Tap]:
    tap = await Tap(relay.ws_url).start()
    try:
        yield tap
    finally:
        await tap.stop()


async def first(tap: Tap, kind: type[E], pred: Any = bool) -> E:
    e = await tap.bus.until(lambda e: isinstance(e, kind) and pred(e), WAIT, past=True)
    assert isinstance(e, kind)
    return e


def relay_pid(relay: GunJsRelay) -> str:
    return str(next(e for e in relay.events if e.get("event") == "listening")["pid"])


def get_of(soul: str) -> Any:
    return lambda e: isinstance(e.msg.get("get"), dict) and e.msg["get"].get("#") == soul


async def test_two_gunjs_clients_behind_the_tap(tmp_path: Path) -> None:
    async with GunJsRelay(radisk=tmp_path / "radata") as relay, tapped(relay) as tap:
        rpid = relay_pid(relay)
        http = tap.url.replace("ws://", "http://")
        async with GunJsPeer([http]) as a, GunJsPeer([http]) as b:
            await b.on("tap/js")
            await a.on("tap/js-other")  # a Gun.js client dials on its first message
            await a.wait_hi()
            await b.wait_hi()
            for js in (a, b):
                await first(tap, trace.Link, lambda e, js=js: e.node == js.pid)
            b_pair = next(p for p in tap.pairs.values() if p.names["client"] == b.pid)
            # a Gun.js client sends what it queued (b's GET) before the relay's '?' reaches it
            # and it answers with its pid: until then the tap knows it by its address
            b_names = (b.pid, b_pair.address)
            get = await first(tap, trace.Said, lambda e: e.node in b_names and get_of("tap/js")(e))
            # the relay answered b's GET: it has taken it (and subscribed b), seen on the wire
            await first(
                tap, trace.Said, lambda e: e.node == rpid and e.msg.get("@") == get.msg["#"]
            )
            ack = await a.put("tap/js", {"x": 1, "y": "two"})
            assert ack["err"] is None
            assert await b.wait_data("tap/js", "x") == 1
            put = await first(
                tap, trace.Said, lambda e: e.node == a.pid and "tap/js" in (e.msg.get("put") or {})
            )
            b_wire = next(
                p.wires["relay"] for p in tap.pairs.values() if p.names["client"] == b.pid
            )
            copy = await first(
                tap,
                trace.Said,
                lambda e: (
                    e.node == rpid and e.peer == b_wire and "tap/js" in (e.msg.get("put") or {})
                ),
            )
            await first(
                tap,
                trace.Tapped,
                lambda e: e.node == rpid and e.to == b.pid and e.delivered and e.t >= copy.t,
            )
            acked = await first(tap, trace.Ack, lambda e: e.reply_to == put.msg["#"])
            assert acked.node == a.pid and acked.err == ""
            wrote = await first(tap, trace.Put, lambda e: e.msg_id == put.msg["#"])
            assert wrote.node == a.pid and wrote.values["tap/js"] == {"x": 1, "y": "two"}
            assert set(wrote.states["tap/js"]) == {"x", "y"}
            names = [(p.names["client"], p.names["relay"]) for p in tap.pairs.values()]
            assert sorted(names) == sorted([(a.pid, rpid), (b.pid, rpid)])
    # nothing claims the relay or a client handled (heard) anything: the tap cannot know
    assert not tap.bus.events(trace.Heard)


async def _recv_all(conn: ClientConnection, got: list[str | bytes]) -> None:
    async for raw in conn:
        got.append(raw)


def digest(frames: Sequence[str | bytes]) -> list[str]:
    return [hashlib.sha256(f.encode() if isinstance(f, str) else f).hexdigest() for f in frames]


async def test_a_raw_client_behind_the_tap_frames_arrive_unchanged(tmp_path: Path) -> None:
    async with GunJsRelay(radisk=tmp_path / "radata") as relay, tapped(relay) as tap:
        rpid = relay_pid(relay)
        seen: dict[str, list[str | bytes]] = {"client": [], "relay": []}

        def capture(_pair: Pair, side: str, raw: str | bytes) -> None:
            seen[side].append(raw)

        tap.on_frame = capture
        sent: list[str] = []
        got: list[str | bytes] = []
        async with connect(tap.url, compression=None) as ws:
            reader = asyncio.ensure_future(_recv_all(ws, got))
            try:
                hello = await first(tap, trace.Said, lambda e: e.msg.get("dam") == "?")
                frames = [
                    json.dumps({"#": "rq1", "dam": "?", "pid": "rawpid", "@": hello.msg["#"]}),
                    "this is not json",
                    '[{"#":"g1","get":{"#":"tap/raw"}} , {"#":"g2","get":{"#":"tap/none"}}]',
                    '{"#":"p1","put":{"tap/raw":{"_":{"#":"tap/raw",">":{"k":1}},"k":"v é"}}}',
                ]
                for f in frames:
                    await ws.send(f)
                    sent.append(f)
                ack = await first(tap, trace.Ack, lambda e: e.reply_to == "p1")
                assert ack.node == "rawpid" and ack.ok
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        bad = await first(tap, trace.Error, lambda e: "not Gun JSON" in e.error)
        assert bad.node == "rawpid"  # named by the pid it gave, once given
    assert digest(seen["client"]) == digest(sent)
    assert digest(got) == digest(seen["relay"][: len(got)]) and got
    pair_names = {e.node for e in tap.bus.events(trace.Link)}
    assert {"rawpid", rpid} <= pair_names
