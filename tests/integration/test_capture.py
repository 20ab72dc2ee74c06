"""The real npm Gun.js relay records a frame capture (``interop/gunjs_relay.js --capture``),
and ``gunrtc_kit.capture`` reads it as trace events that fate, explain and ``Lab.open_trace``
understand: two raw WebSocket clients speaking Gun on 127.0.0.1, a put from one seen by the
other, its ack; and the recorder's size limit. Every process is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

from gunrtc_kit import capture, trace
from gunrtc_kit.diagnose.explain import explain
from gunrtc_kit.diagnose.fate import FateModel
from gunrtc_kit.diagnose.peers import Directory
from tests.interop.gunjs import INTEROP, NODE, free_port, require_gunjs

pytestmark = [pytest.mark.asyncio, pytest.mark.interop]

Message = dict[str, Any]


class CapturingRelay:
    """``node gunjs_relay.js PORT --radisk DIR --capture FILE [--capture-max N]``; its stdout
    and stderr lines are kept, each wait bounded."""

    def __init__(self, tmp: Path, max_bytes: int | None = None) -> None:
        require_gunjs()
        self.port = free_port()
        self.file = tmp / "relay.capture.jsonl"
        self.args = [str(self.port), "--radisk", str(tmp / "radata"), "--capture", str(self.file)]
        if max_bytes is not None:
            self.args += ["--capture-max", str(max_bytes)]
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._new = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self.pid = ""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gun"

    async def start(self) -> None:
        assert NODE is not None
        self.proc = await asyncio.create_subprocess_exec(
            NODE,
            str(INTEROP / "gunjs_relay.js"),
            *self.args,
            cwd=str(INTEROP),
            env=dict(os.environ, MULTICAST="false", NODE_NO_WARNINGS="1"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        loop = asyncio.get_running_loop()
        self._readers = [
            loop.create_task(self._read(s)) for s in (self.proc.stdout, self.proc.stderr)
        ]
        line = await self.wait_line(lambda s: '"listening"' in s)
        self.pid = json.loads(line)["pid"]

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").strip())
            self._new.set()
        self._new.set()

    async def wait_line(self, pred: Callable[[str], bool], timeout: float = 20.0) -> str:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for s in self.lines:
                        if pred(s):
                            return s
                    assert self.proc is not None and self.proc.returncode is None, self.lines[-20:]
                    self._new.clear()
                    await self._new.wait()
        except TimeoutError:
            raise AssertionError(f"no such line from the relay; last: {self.lines[-15:]}") from None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(self.proc.wait(), 5)
        for task in self._readers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def relay_running(tmp: Path, max_bytes: int | None = None) -> AsyncIterator[CapturingRelay]:
    relay = CapturingRelay(tmp, max_bytes)
    try:
        await relay.start()
        yield relay
    finally:
        await relay.stop()


async def expect(ws: Any, pred: Callable[[Message], bool], timeout: float = 10.0) -> Message:
    """The first message (of any frame, batches split) ``pred`` accepts."""
    async with asyncio.timeout(timeout):
        while True:
            data = json.loads(await ws.recv())
            for msg in data if isinstance(data, list) else [data]:
                if isinstance(msg, dict) and pred(msg):
                    return msg


def answers(mid: str) -> Callable[[Message], bool]:
    """A test for the reply to message ``mid``."""
    return lambda m: m.get("@") == mid


async def hello(ws: Any, pid: str) -> None:
    await ws.send(json.dumps({"#": f"hi-{pid}", "dam": "?", "pid": pid}))
    await expect(ws, lambda m: m.get("dam") == "?" and answers(f"hi-{pid}")(m))


async def wait_lines(path: Path, pred: Callable[[list[str]], bool], timeout: float = 10.0) -> None:
    """Until the capture file's lines satisfy ``pred`` (the relay writes them on its own
    schedule: a socket closing is seen a moment after the client closed it)."""
    async with asyncio.timeout(timeout):
        while not pred((await asyncio.to_thread(path.read_text)).splitlines()):
            await asyncio.sleep(0.02)


PUT = {"#": "pa1", "put": {"s1": {"_": {"#": "s1", ">": {"k": 1700000000000}}, "k": "v"}}}


async def test_a_gunjs_relay_capture_reads_as_a_trace(tmp_path: Path) -> None:
    async with relay_running(tmp_path) as relay:
        async with websockets.connect(relay.url) as a, websockets.connect(relay.url) as b:
            await hello(a, "clientA")
            await hello(b, "clientB")
            await b.send(json.dumps({"#": "gb1", "get": {"#": "s1"}}))
            await expect(b, answers("gb1"))  # not found yet: b now subscribes
            await a.send(json.dumps(PUT))
            pushed = await expect(b, lambda m: "put" in m)
            assert pushed["put"]["s1"]["k"] == "v"
            ack = await expect(a, answers("pa1"))
            assert ack.get("ok") and not ack.get("err")
        await wait_lines(relay.file, lambda ls: sum('"dir":"close"' in s for s in ls) == 2)
        events, meta = capture.read_capture(relay.file)

    info = meta["capture"]
    assert info["relay"] == relay.pid and info["bad_lines"] == info["bad_frames"] == 0
    assert not info["truncated"]
    assert {e.node for e in events} == {relay.pid}
    d = Directory.from_meta(meta)
    for e in events:
        d.apply(e)
    conn_a = next(c for c, v in info["conns"].items() if v["pid"] == "clientA")
    conn_b = next(c for c, v in info["conns"].items() if v["pid"] == "clientB")
    assert d.resolve(relay.pid, conn_a) == "clientA" and d.resolve(relay.pid, conn_b) == "clientB"
    assert d.label(relay.pid) == "relay" and d.claims() == []

    # the put heard from client A, taken (as carried), said on to client B, acked to A
    (heard,) = [e for e in events if isinstance(e, trace.Heard) and e.msg.get("#") == "pa1"]
    assert heard.peer == conn_a and heard.transport == "ws"
    (put,) = [e for e in events if isinstance(e, trace.Put)]
    assert put.msg_id == "pa1" and put.values == {"s1": {"k": "v"}}
    said_b = [
        e for e in events if isinstance(e, trace.Said) and "put" in e.msg and e.peer == conn_b
    ]
    assert said_b and said_b[0].msg["put"]["s1"]["k"] == "v" and said_b[0].t >= heard.t
    (acked,) = [e for e in events if isinstance(e, trace.Said) and e.msg.get("@") == "pa1"]
    assert acked.peer == conn_a and acked.msg.get("ok")
    assert sorted(e.peer for e in events if isinstance(e, trace.Bye)) == sorted([conn_a, conn_b])

    # the readers of our own traces work on it
    fm = FateModel(Directory.from_meta(meta))
    for e in events:
        fm.feed(e)
    fm.settle()
    fate = fm.fate("pa1")
    assert fate.origin == "clientA" and "relay" in fate.heard_by
    assert str(fate).startswith("put #pa1 from clientA (s1)") and "ack #" in str(fate)
    why = explain(events, relay.pid, "s1", "k", None, Directory.from_meta(meta))
    assert why.rows[0].value == "v" and why.rows[0].sender == "clientA"

    # and so do Lab.load_trace / Lab.open_trace, told a capture by its first line
    from gunrtc_kit.lab import Lab

    assert Lab.load_trace(relay.file) == events
    replay = Lab.open_trace(relay.file)
    try:
        assert replay.fate("pa1").origin == "clientA"
    finally:
        replay.hub.close()


async def test_the_capture_stops_at_its_limit_and_the_relay_runs_on(tmp_path: Path) -> None:
    async with relay_running(tmp_path, max_bytes=3000) as relay:
        async with websockets.connect(relay.url) as a:
            await hello(a, "clientA")

            def stopped(line: str) -> bool:
                return "capture stopped" in line

            sent = 0
            # about 150 bytes a line each way: the limit comes within 20 puts; a put past it
            # is still acked (the relay runs on, unrecorded)
            while sent < 40 and (sent < 2 or not any(map(stopped, relay.lines))):
                mid = f"put-{sent}-x"  # (npm gun left the acks of ids p10, p20... unsent)
                body = {"#": mid, "put": {"s": {"_": {"#": "s", ">": {"k": 1e12 + sent}}, "k": 1}}}
                await a.send(json.dumps(body))
                await expect(a, answers(mid))
                sent += 1
            said = await relay.wait_line(stopped)
            assert str(relay.file) in said and "3000" in said
            await a.send(
                json.dumps({"#": "after", "put": {"t": {"_": {"#": "t", ">": {"k": 1}}, "k": 1}}})
            )
            await expect(a, answers("after"))
        lines = relay.file.read_text().splitlines()
        assert json.loads(lines[-1])["dir"] == "limit"
        assert sum(len(s) + 1 for s in lines[:-1]) <= 3000
        events, meta = capture.read_capture(relay.file)
    assert "size limit" in meta["capture"]["truncated"]
    heard = [e.msg["#"] for e in events if isinstance(e, trace.Heard) and "put" in e.msg]
    # what was heard before the limit is all there, in order; the put after it is not
    assert heard and heard == [f"put-{i}-x" for i in range(len(heard))] and len(heard) <= sent
    assert not [e for e in events if getattr(e, "msg", {}).get("#") == "after"]
