"""The test kit shared by the suites: a recording wire, a fake clock, a bounded ``until``,
and ``MemoryNet``/``MeshPair``: real ``Gun`` roots on memory wires, one bus, awaited by events.

Why a kit: most behaviour worth testing needs a pair of real peers and a wire we control
(h11's ``ConnectionPair``, trio's ``memory_stream_pair``); built by hand in every file, the pair
grew sleeps and copies. ``async with MeshPair() as net`` gives two started, linked peers whose
``Link`` events were seen, and closes them whatever the test does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, Self, TypeVar

from gunrtc_kit import Gun, Relay, trace
from gunrtc_kit.errors import NetworkError
from gunrtc_kit.transport.memory import MemoryWire, connect_memory

E = TypeVar("E", bound=trace.Event)
WAIT = 5.0  # seconds any kit wait gives an event before failing the test


class FakeClock:
    """Milliseconds that only move when a test says so."""

    def __init__(self, start: float = 1_795_544_504_602.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms

    def seconds(self) -> float:
        """The same instant in seconds: what ``Gun(clock=...)`` takes."""
        return self.now / 1000.0


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


# ----------------------------------------------------------------------------- peers on memory
class MemoryNet:
    """``n`` started ``Gun`` roots on one shared ``bus``, joined by memory wires.

    ``links`` lists the ``(i, j)`` pairs to join on entry (``j`` dials ``i``); the default is a
    chain 0-1-2-... ``clock`` (a ``FakeClock``) drives every peer's HAM states and dedup ages,
    so a test owns time; None keeps the wall clock. ``faults`` (latency, loss, ...) apply to the
    wires made on entry. Entering waits for each peer's ``Link`` on the bus (no sleep); leaving
    closes every peer.
    """

    def __init__(
        self,
        n: int,
        *,
        links: Iterable[tuple[int, int]] | None = None,
        clock: FakeClock | None = None,
        acks: bool = False,
        bus: trace.TraceBus | None = None,
        **faults: Any,
    ) -> None:
        self.bus = bus or trace.TraceBus()
        self.clock = clock
        seconds = clock.seconds if clock is not None else time.time
        self.peers = [Gun(bus=self.bus, acks=acks, clock=seconds) for _ in range(n)]
        self._links = list(links) if links is not None else [(i, i + 1) for i in range(n - 1)]
        self._faults = faults
        #: both ends of each wire made by ``link``, keyed by the pair of peer indexes
        self.wires: dict[tuple[int, int], tuple[MemoryWire, MemoryWire]] = {}

    def __getitem__(self, i: int) -> Gun:
        return self.peers[i]

    async def __aenter__(self) -> Self:
        try:
            for g in self.peers:
                await g.start()
            for i, j in self._links:
                self.link(i, j, **self._faults)
            for i, j in self._links:
                await self.linked(i, j)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for g in self.peers:
            await g.close()

    def link(self, i: int, j: int, **faults: Any) -> tuple[MemoryWire, MemoryWire]:
        """Join peers ``i`` and ``j`` (``j`` dials ``i``); returns (``i``'s end, ``j``'s end)."""
        ends: list[MemoryWire] = []
        connect_memory(
            self.peers[i].mesh,
            self.peers[j].mesh,
            on_wire=lambda x, y: ends.extend([x, y]),
            **faults,
        )
        self.wires[(i, j)] = (ends[0], ends[1])
        return ends[0], ends[1]

    async def linked(self, i: int, j: int, timeout: float = WAIT) -> None:
        """Wait until both ends of the ``i``-``j`` wire have said ``Link``."""
        pi, pj = self.peers[i].pid, self.peers[j].pid
        await self.wait_for(trace.Link, timeout, node=pi, pid=pj)
        await self.wait_for(trace.Link, timeout, node=pj, pid=pi)

    def ends(self) -> list[MemoryWire]:
        """Every wire end, in the order the wires were made."""
        return [end for pair in self.wires.values() for end in pair]

    async def wait_for(
        self, kind: type[E], timeout: float = WAIT, *, past: bool = True, **fields: Any
    ) -> E:
        """The first ``kind`` event on the bus whose fields equal ``fields`` (by default one
        already emitted counts too); fails the test after ``timeout`` seconds."""

        def match(e: trace.Event) -> bool:
            return isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())

        event = await self.bus.until(match, timeout, past=past)
        assert isinstance(event, kind)
        return event

    async def until(self, pred: Callable[[], object], timeout: float = WAIT) -> None:
        """Wait, bounded, until ``pred()`` holds (for state no event names, e.g. a graph)."""
        await until(pred, timeout)


class MeshPair(MemoryNet):
    """Two peers on one memory wire: ``a`` (dialled), ``b`` (dialler), ``wire`` = ``a``'s end."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(2, **kw)

    @property
    def a(self) -> Gun:
        return self.peers[0]

    @property
    def b(self) -> Gun:
        return self.peers[1]

    @property
    def wire(self) -> MemoryWire:
        return self.wires[(0, 1)][0]


# ----------------------------------------------------------------------------- a relay
async def relay_peer(relay: Relay, **kw: Any) -> Gun:
    """A started ``Gun`` dialling ``relay``, once its socket is connected."""
    g = await Gun([relay.url], **kw).start()
    await g.wait_connected(WAIT)
    return g


async def asked(relay: Relay, soul: str, timeout: float = WAIT) -> None:
    """Wait until ``relay`` has heard a GET of ``soul``. Asking is what subscribes a peer to
    a relay's updates (AXE, gun-wire.md 5.7): a test that ``on``s then writes from another
    peer waits for this, not for a sleep. The relay handles the GET in the same turn it
    traces it, so once this returns the subscription is in place."""

    def is_get(e: trace.Event) -> bool:
        get = e.msg.get("get") if isinstance(e, trace.Heard) else None
        return isinstance(get, dict) and get.get("#") == soul

    await relay.bus.until(is_get, timeout, past=True)


# ----------------------------------------------------------------------------- views
def record(view: Any) -> list[dict[str, Any]]:
    """Messages the view sends to its front ends, recorded instead of sent."""
    sent: list[dict[str, Any]] = []
    view.send = lambda msg, buffers=None: sent.append(msg)
    return sent


def front(view: Any, msg: dict[str, Any]) -> None:
    """A message from the browser, as the comm would deliver it."""
    view._on_front_message(view, msg, [])
