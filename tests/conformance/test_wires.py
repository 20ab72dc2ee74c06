"""Every wire passes ``wires.check_wire``: memory (lossless, and lossy with jitter), websocket
(our relay's server end against our client end, loopback) and data channel (two real aiortc
peers on loopback, ``ice_servers=[]``; reliable, and Gun's ``ordered=False, max_retransmits=2``
tested as unreliable). One test per wire and check, each on a fresh pair.

The pairs are built from the wires' owners, as the mesh meets them (``connect_memory``,
``WebSocketServer`` + ``WebSocketClient``, ``WebRTCManager`` with manual signalling), fed into
``Consumer`` meshes; only the root above the WebRTC manager is a stand-in (``_Root``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.errors import WebRTCError
from gunrtc_kit.transport.memory import MemoryWire, connect_memory
from gunrtc_kit.transport.websocket import WebSocketClient, WebSocketServer, WsWire
from gunrtc_kit.webrtc.manager import WebRTCManager
from gunrtc_kit.webrtc.options import DataChannelOptions, WebRTCOptions
from tests.conformance.wires import CHECKS, WAIT, Consumer, Pair, check_wire
from tests.netns import require_loopback_only

WS_LIMIT = 1 << 20  # the websocket pair's max_size (bytes): 100 MiB frames would be slow


# ----------------------------------------------------------------------------- memory
@asynccontextmanager
async def memory_pair(**faults: Any) -> AsyncIterator[Pair]:
    """Two ``Consumer`` meshes joined by ``connect_memory`` (``faults`` as it takes them)."""
    bus = trace.TraceBus()
    mesh_a, mesh_b = Consumer(bus), Consumer(bus)
    ends: list[MemoryWire] = []
    connect_memory(mesh_a, mesh_b, on_wire=lambda x, y: ends.extend([x, y]), **faults)
    try:
        yield Pair(ends[0], ends[1], mesh_a, mesh_b, max_frame=None)
    finally:
        for end in ends:
            end.close()


# ----------------------------------------------------------------------------- websocket
@asynccontextmanager
async def websocket_pair() -> AsyncIterator[Pair]:
    """Our client end (``a``) dialling our relay's server end (``b``) on loopback."""
    bus = trace.TraceBus()
    mesh_c, mesh_s = Consumer(bus), Consumer(bus)
    server = WebSocketServer(mesh_s, max_size=WS_LIMIT, heartbeat=3600.0)
    await server.start()
    client = WebSocketClient(mesh_c, server.url, max_size=WS_LIMIT, keepalive=None)
    try:
        client.start()
        await mesh_c.until(lambda: client.peer.met is not None)
        await mesh_s.until(lambda: any(p.met for p in server.connections.values()))
        client_wire = client.peer.wire
        server_wire = next(iter(server.connections.values())).wire
        assert isinstance(client_wire, WsWire) and server_wire is not None

        async def settle() -> None:
            """The close handshake is done (the closed wire's task has finished)."""
            await client_wire.aclose()

        yield Pair(client_wire, server_wire, mesh_c, mesh_s, max_frame=WS_LIMIT, settle=settle)
    finally:
        await client.close()
        await server.close()


# ----------------------------------------------------------------------------- data channel
class _Root:
    """What ``WebRTCManager`` needs from a ``Gun`` root, for manual signalling only: the mesh,
    its bus and owned tasks. Room discovery (asks, watches, puts) is not used here."""

    def __init__(self, mesh: Consumer) -> None:
        self.consumer = mesh
        self.mesh: Mesh = mesh
        self.bus = mesh.bus
        self.tasks: set[asyncio.Task[Any]] = set()

    @property
    def pid(self) -> str:
        return self.mesh.pid

    def machine(self) -> float:
        return time.time() * 1000.0

    def ask(
        self, fn: Callable[[dict[str, Any]], None], msg_id: str | None = None, life: float = 9.0
    ) -> str:
        raise AssertionError("no signalling through the mesh in a wire check")

    def unask(self, msg_id: str, fn: Callable[[dict[str, Any]], None] | None = None) -> None:
        pass

    def watch(
        self,
        soul: str,
        fn: Callable[[str, dict[str, Any], dict[str, Any]], None],
        *,
        subscribe: bool = True,
    ) -> Callable[[], None]:
        raise AssertionError("no room in a wire check")

    def on_heard_put(
        self, soul: str, fn: Callable[[str, dict[str, Any], dict[str, Any]], None]
    ) -> Callable[[], None]:
        raise AssertionError("no room in a wire check")

    def put_graph(self, graph: dict[str, dict[str, Any]], **kw: Any) -> Any:
        raise AssertionError("no room in a wire check")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def settle(self) -> None:
        """Every task started so far (link closes) has finished."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=WAIT)


@asynccontextmanager
async def datachannel_pair(ordered: bool, max_retransmits: int | None) -> AsyncIterator[Pair]:
    """Two ``WebRTCManager`` s linked by hand (offer, answer) on loopback, no ICE servers."""
    require_loopback_only()
    from aiortc.rtcsctptransport import LOCAL_MAX_MESSAGE_SIZE

    options = WebRTCOptions(
        ice_servers=[],
        room=None,
        host_addresses=["127.0.0.1"],
        data_channel=DataChannelOptions(ordered=ordered, max_retransmits=max_retransmits),
    )
    bus = trace.TraceBus()
    root_a, root_b = _Root(Consumer(bus)), _Root(Consumer(bus))
    rtc_a, rtc_b = WebRTCManager(root_a, options), WebRTCManager(root_b, options)
    try:
        await rtc_a.start()
        await rtc_b.start()
        pid_a, pid_b = root_a.pid, root_b.pid
        answer = await rtc_b.accept_offer(pid_a, await rtc_a.create_offer(pid_b))
        await rtc_a.accept_answer(pid_b, answer)
        await rtc_a.wait_open(pid_b, WAIT)
        await rtc_b.wait_open(pid_a, WAIT)
        ends = [rtc.links[pid].mesh_peer for rtc, pid in ((rtc_a, pid_b), (rtc_b, pid_a))]
        wires = [p.wire for p in ends if p is not None and p.wire is not None]
        if len(wires) != 2:
            raise WebRTCError("a link opened without a mesh peer")

        async def settle() -> None:
            await root_a.settle()
            await root_b.settle()

        yield Pair(
            wires[0],
            wires[1],
            root_a.consumer,
            root_b.consumer,
            # both ends are aiortc: each advertises its own limit as a=max-message-size
            max_frame=LOCAL_MAX_MESSAGE_SIZE,
            settle=settle,
        )
    finally:
        await rtc_a.close()
        await rtc_b.close()
        await root_a.settle()
        await root_b.settle()


# ----------------------------------------------------------------------------- the table
WIRES: dict[str, Callable[[], AbstractAsyncContextManager[Pair]]] = {
    "memory": memory_pair,
    "memory-lossy": lambda: memory_pair(loss=0.3, jitter=0.002, rng=random.Random(7)),
    "websocket": websocket_pair,
    "dc-reliable": lambda: datachannel_pair(ordered=True, max_retransmits=None),
    "dc-gun": lambda: datachannel_pair(ordered=False, max_retransmits=2),
}
#: (wire, check) -> why that wire fails that check today (a strict xfail: fixing it must
#: remove the entry)
KNOWN: dict[tuple[str, str], str] = {}


def _cases() -> list[Any]:
    cases = []
    for wire in WIRES:
        for check in CHECKS:
            marks: list[Any] = [pytest.mark.webrtc] if wire.startswith("dc") else []
            if (wire, check) in KNOWN:
                marks.append(pytest.mark.xfail(reason=KNOWN[wire, check], strict=True))
            cases.append(pytest.param(wire, check, id=f"{wire}-{check}", marks=marks))
    return cases


@pytest.mark.parametrize(("wire", "check"), _cases())
async def test_wire(wire: str, check: str) -> None:
    await check_wire(WIRES[wire], only=[check])


async def test_check_wire_runs_every_check() -> None:
    """Called as a suite, ``check_wire`` runs each check on a pair of its own and names the
    checks that do not apply (a memory wire has no frame limit)."""
    assert await check_wire(memory_pair) == ["over_limit_refused"]


def test_declarations() -> None:
    """Each wire says what it promises, and the pairs above test it as declared."""
    assert (WsWire.ordered, WsWire.reliable) == (True, True)
    plain = MemoryWire()
    assert (plain.ordered, plain.reliable) == (True, True)
    lossy = MemoryWire(loss=0.3, jitter=0.002)
    assert (lossy.ordered, lossy.reliable) == (False, False)
    plain.partitioned = True
    assert (plain.ordered, plain.reliable) == (True, False)
