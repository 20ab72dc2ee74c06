"""The tap (``gunrtc_kit.tap``) on loopback: frames pass byte for byte, in order, both ways,
whatever they hold; each bound (frame size, slow reader, connections, recording size) cuts
with an event and leaves the other clients alone; a target that refuses, hangs, closes or
answers garbage is reported and both sides are closed. Our own relay behind the tap: a put,
its delivery and its ack are in the trace, the peers named by their pids.

The target in most tests is a scripted WebSocket server (``Target``) that records every frame
it gets and sends what the test tells it: it sees exactly what the tap forwarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gunrtc_kit import Gun, Relay, trace
from gunrtc_kit.tap import Recorder, Tap
from tests.helpers import asked

pytestmark = pytest.mark.asyncio

WAIT = 10.0  # seconds any wait here gives the tap before the test fails

Frame = str | bytes
E = TypeVar("E", bound=trace.Event)


class Target:
    """A WebSocket server that records what it receives, per connection, and sends on request.

    ``close_with``: close each connection with this (code, reason) after its first frame.
    """

    def __init__(self, close_with: tuple[int, str] | None = None) -> None:
        self.close_with = close_with
        self.server: Server | None = None
        self.conns: dict[str, ServerConnection] = {}  # by the query the client dialled with
        self.got: dict[str, list[Frame]] = {}
        self.paths: list[str] = []
        self.new = asyncio.Event()

    async def start(self) -> Target:
        self.server = await serve(self._handle, "127.0.0.1", 0, max_size=None, compression=None)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/gun"

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        self.paths.append(conn.request.path)
        n = conn.request.path.partition("?")[2]
        self.conns[n] = conn
        self.got[n] = []
        self.new.set()
        with contextlib.suppress(ConnectionClosed):
            async for raw in conn:
                self.got[n].append(raw)
                self.new.set()
                if self.close_with is not None:
                    await conn.close(*self.close_with)

    async def wait(self, n: str, count: int) -> list[Frame]:
        """The frames of the connection dialled with query ``n``, once it has ``count``."""
        async with asyncio.timeout(WAIT):
            while n not in self.got or len(self.got[n]) < count:
                self.new.clear()
                await self.new.wait()
        return self.got[n]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@contextlib.asynccontextmanager
async def running(target_url: str, **kw: Any) -> AsyncIterator[Tap]:
    tap = await Tap(target_url, **kw).start()
    try:
        yield tap
    finally:
        await tap.stop()


@contextlib.asynccontextmanager
async def target(**kw: Any) -> AsyncIterator[Target]:
    t = await Target(**kw).start()
    try:
        yield t
    finally:
        await t.close()


async def recv_n(conn: ClientConnection, n: int) -> list[Frame]:
    async with asyncio.timeout(WAIT):
        return [await conn.recv() for _ in range(n)]


def digest(frames: list[Frame]) -> list[tuple[str, str]]:
    """Each frame's kind and SHA-256 of its bytes: equal lists mean the same frames, in order."""
    return [
        ("text", hashlib.sha256(f.encode()).hexdigest())
        if isinstance(f, str)
        else ("binary", hashlib.sha256(f).hexdigest())
        for f in frames
    ]


# frames no Gun peer would send alike: a message, a batch, a heartbeat, spacing and unicode
# a re-serialiser would change, garbage, binary
ODD_FRAMES: list[Frame] = [
    '{"#":"m1","dam":"?","pid":"client1"}',
    '[{"#":"m2","get":{"#":"s"}},{"#":"m3","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":"v"}}}]',
    "[]",
    '  {"#" : "m4",  "x":1.0e0, "u":"\\u00e9 é 😀"}  ',
    "hello, not json",
    '{"#":"m5","n":12345678901234567890}',
    b"\x00\xffbinary\x80",
    "",
]


def kinds(tap: Tap, kind: type[E]) -> list[E]:
    return tap.bus.events(kind)


async def first(tap: Tap, kind: type[E], pred: Callable[[E], object] = bool) -> E:
    """The first event of ``kind`` on the tap's bus that ``pred`` accepts (waited for)."""
    e = await tap.bus.until(lambda e: isinstance(e, kind) and pred(e), WAIT, past=True)
    assert isinstance(e, kind)
    return e


async def test_frames_pass_byte_for_byte_both_ways_in_order() -> None:
    async with target() as tgt, running(tgt.url) as tap:
        async with connect(tap.url + "?x=1", compression=None) as client:
            for f in ODD_FRAMES:
                await client.send(f)
            got = await tgt.wait("x=1", len(ODD_FRAMES))
            assert digest(got) == digest(ODD_FRAMES)
            assert tgt.paths == ["/gun?x=1"]  # the client's path and query, as asked
            back = ['{"#":"r1","dam":"?","pid":"relay1"}', *reversed(ODD_FRAMES[1:])]
            for f in back:
                await tgt.conns["x=1"].send(f)
            assert digest(await recv_n(client, len(back))) == digest(back)
        await tap.bus.until(lambda e: isinstance(e, trace.Bye), WAIT, past=True)
    tapped = kinds(tap, trace.Tapped)
    assert len(tapped) == 2 * len(ODD_FRAMES) and all(e.delivered for e in tapped)
    assert [e.binary for e in tapped].count(True) == 2
    heartbeat = next(e for e in tapped if e.size == 2 and e.messages == 0)
    assert heartbeat.node in ("client1", "127.0.0.1:" + heartbeat.node.split(":")[-1])
    # garbage and binary are passed on and reported, once per frame and side
    errors = [e.error for e in kinds(tap, trace.Error)]
    assert sum("binary frame" in e for e in errors) == 2
    assert sum("not Gun JSON" in e for e in errors) == 4  # "hello..." and "" each way
    # "[]" is a heartbeat: no message, no error
    # pids learned from the '?' of each side name them afterwards
    said = kinds(tap, trace.Said)
    up = [e for e in said if e.peer.startswith("ws://")]  # the client's wire is the URL it dialled
    assert {e.node for e in up if e.msg.get("#") in ("m2", "m3", "m5")} == {"client1"}
    down = [e for e in said if e.peer.startswith("tap:")]  # the relay's wire
    assert {e.node for e in down} == {"relay1"} and len(down) == 5
    put = next(e for e in kinds(tap, trace.Put) if e.msg_id == "m3" and e.peer.startswith("ws:"))
    assert put.node == "client1" and put.values == {"s": {"k": "v"}}
    assert put.states == {"s": {"k": 1}}
    assert all(e.batched for e in up if e.msg.get("#") in ("m2", "m3"))


async def test_a_frame_over_max_frame_is_cut_whole_and_others_go_on() -> None:
    async with target() as tgt, running(tgt.url, max_frame=1000) as tap:
        async with connect(tap.url + "?big") as big, connect(tap.url + "?other") as other:
            await tgt.wait("other", 0)
            await big.send('{"#":"ok1"}')
            await tgt.wait("big", 1)
            await big.send('{"#":"big","x":"' + "a" * 2000 + '"}')
            with pytest.raises(ConnectionClosed):
                await recv_n(big, 1)
            assert big.close_code == 1009  # the tap refused the frame while reading it
            await other.send('{"#":"after"}')
            assert await tgt.wait("other", 1) == ['{"#":"after"}']
            await tgt.conns["other"].send('{"#":"down"}')
            assert await recv_n(other, 1) == ['{"#":"down"}']
        dropped = await first(
            tap, trace.Dropped, lambda e: e.cause is trace.DropCause.FRAME_TOO_BIG
        )
        assert dropped.node.startswith("127.0.0.1:")
    assert tgt.got["big"] == ['{"#":"ok1"}']  # nothing of the big frame reached the target
    assert any("over max_frame=1000" in e.error for e in kinds(tap, trace.Error))


@pytest.mark.parametrize(
    ("bounds", "said"),
    [
        ({"budget": 256 * 1024}, "over budget=262144"),
        ({"total_budget": 2 * 1024 * 1024}, "over total_budget=2097152"),
    ],
)
async def test_a_client_that_never_reads_is_cut_and_another_keeps_its_frames(
    bounds: dict[str, int], said: str
) -> None:
    chunk = '{"#":"%s","x":"' + "z" * 60_000 + '"}'
    async with target() as tgt, running(tgt.url, **bounds) as tap:
        async with (
            connect(tap.url + "?slow", max_queue=1) as slow,
            connect(tap.url + "?fast") as fast,
        ):
            await slow.send("[]")
            await tgt.wait("slow", 1)
            await fast.send("[]")
            await tgt.wait("fast", 1)
            cut = asyncio.ensure_future(
                first(tap, trace.Dropped, lambda e: e.cause is trace.DropCause.BUDGET)
            )
            sent_fast: list[str] = []
            for i in range(400):  # ~24 MB for the slow client: more than the kernel buffers
                if cut.done():
                    break
                with contextlib.suppress(ConnectionClosed):
                    await tgt.conns["slow"].send(chunk % f"s{i}")
                if i % 10 == 0:
                    frame = f'{{"#":"f{i}"}}'
                    await tgt.conns["fast"].send(frame)
                    sent_fast.append(frame)
            dropped = await cut
            # after the cut the other client still gets every frame, in order
            for i in range(5):
                frame = f'{{"#":"after{i}"}}'
                await tgt.conns["fast"].send(frame)
                sent_fast.append(frame)
            assert await recv_n(fast, len(sent_fast)) == sent_fast
            await fast.send('{"#":"up"}')
            assert (await tgt.wait("fast", 2))[-1] == '{"#":"up"}'
    assert dropped.msg_id.startswith("s")
    assert any(said in e.error for e in kinds(tap, trace.Error))
    undelivered = [e for e in kinds(tap, trace.Tapped) if not e.delivered]
    assert len(undelivered) == 1  # the one frame refused; none forwarded after it


async def test_a_target_that_refuses_is_reported_and_the_client_closed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    async with running(f"ws://127.0.0.1:{port}/gun") as tap:
        async with connect(tap.url) as client:
            with pytest.raises(ConnectionClosed):
                await recv_n(client, 1)
            assert client.close_code == 1014
        e = await first(tap, trace.Error)
    assert "refused" in e.error and not kinds(tap, trace.Tapped)


async def test_a_target_that_hangs_is_given_up_after_connect_timeout() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def mute(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)  # accepts TCP, never answers the WebSocket handshake

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running(f"ws://127.0.0.1:{port}/gun", connect_timeout=0.5) as tap:
            async with connect(tap.url) as client:
                with pytest.raises(ConnectionClosed):
                    await recv_n(client, 1)
                assert client.close_code == 1014
            e = await first(tap, trace.Error)
            assert "did not answer within connect_timeout=0.5 s" in e.error
    finally:
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()


async def test_a_target_that_closes_passes_its_close_on() -> None:
    async with target(close_with=(4001, "go away")) as tgt, running(tgt.url) as tap:
        async with connect(tap.url) as client:
            await client.send('{"#":"one"}')
            with pytest.raises(ConnectionClosed):
                await recv_n(client, 1)
            assert (client.close_code, client.close_reason) == (4001, "go away")
        await tap.bus.until(lambda e: isinstance(e, trace.Bye), WAIT, past=True)
    byes = kinds(tap, trace.Bye)
    assert len(byes) == 2 and not tap.pairs


async def test_max_connections_refuses_the_next_client() -> None:
    async with target() as tgt, running(tgt.url, max_connections=1) as tap:
        async with connect(tap.url) as first:
            await first.send("[]")
            await tgt.wait("", 1)
            with pytest.raises(InvalidStatus) as info:
                async with connect(tap.url):
                    pass
            assert info.value.response.status_code == 503
            await first.send('{"#":"still"}')
            assert (await tgt.wait("", 2))[-1] == '{"#":"still"}'
    assert tap.refused == 1
    assert any("max_connections" in e.error for e in kinds(tap, trace.Error))


async def test_the_recording_stops_at_its_limit_and_the_tap_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "tap.jsonl"
    async with target() as tgt, running(tgt.url) as tap:
        rec = Recorder(path, tap.bus, limit=16_384, meta={"tap": tap.name}, node=tap.name).start()
        try:
            async with connect(tap.url) as client:
                frames = [
                    f'{{"#":"p{i}","put":{{"s":{{"k{i}":"{"v" * 200}"}}}}}}' for i in range(60)
                ]
                for f in frames:
                    await client.send(f)
                assert await tgt.wait("", len(frames)) == frames  # forwarding never stopped
            stop = await first(tap, trace.Error, lambda e: "recording stopped" in e.error)
        finally:
            rec.close()
    assert rec.stopped == stop.error and path.stat().st_size <= 16_384
    saved = trace.load(path)
    assert saved.meta == {"tap": tap.name}
    assert isinstance(saved.events[-1], trace.Error) and saved.events[-1].error == rec.stopped
    assert any(isinstance(e, trace.Tapped) for e in saved.events)


async def test_our_relay_behind_the_tap_put_delivery_and_ack_in_the_trace() -> None:
    relay = await Relay().start()
    try:
        async with running(relay.url) as tap:
            a = await Gun([tap.url]).start()
            b = await Gun([tap.url]).start()
            try:
                await a.wait_connected(WAIT)
                await b.wait_connected(WAIT)
                seen: dict[str, Any] = {}
                b.get("tap/ours").map().on(lambda v, k: seen.__setitem__(k, v))
                await asked(relay, "tap/ours")
                ack = await a.get("tap/ours").get("x").put({"n": 1})
                assert ack.get("ok")
                b_wire = next(
                    p.wires["relay"] for p in tap.pairs.values() if p.names["client"] == b.pid
                )
                # the relay's copy of a's put, on b's wire
                to_b = await tap.bus.until(
                    lambda e: (
                        isinstance(e, trace.Said)
                        and e.node == relay.pid
                        and e.peer == b_wire
                        and "tap/ours" in str(e.msg.get("put"))
                    ),
                    WAIT,
                    past=True,
                )
                assert await tap.bus.until(
                    lambda e: (
                        isinstance(e, trace.Tapped)
                        and e.node == relay.pid
                        and e.peer == b_wire
                        and e.to == b.pid
                        and e.delivered
                        and e.t >= to_b.t
                    ),
                    WAIT,
                    past=True,
                )
            finally:
                await a.close()
                await b.close()
    finally:
        await relay.stop()
    said = kinds(tap, trace.Said)
    put = next(e for e in said if e.node == a.pid and "put" in e.msg)
    mid = put.msg["#"]
    acks = [e for e in kinds(tap, trace.Ack) if e.reply_to == mid]
    assert acks and acks[0].node == a.pid and acks[0].ok
    links = {(e.node, e.pid) for e in kinds(tap, trace.Link)}
    assert {(a.pid, relay.pid), (relay.pid, a.pid), (b.pid, relay.pid)} <= links
    assert not any(isinstance(e, trace.Heard) for e in tap.bus.history)


async def test_stop_closes_every_pair_both_ways() -> None:
    async with target() as tgt:
        tap = await Tap(tgt.url).start()
        try:
            async with connect(tap.url + "?live") as client:
                await client.send("[]")
                await tgt.wait("live", 1)
                await tap.stop()
                with pytest.raises(ConnectionClosed):
                    await recv_n(client, 1)
                assert client.close_code == 1001  # going away, as a relay that stops says
            await first(tap, trace.Bye)
            async with asyncio.timeout(WAIT):
                await tgt.conns["live"].wait_closed()
        finally:
            await tap.stop()
    assert not tap.pairs and len(kinds(tap, trace.Bye)) == 2
