"""In-process wires, for teaching and tests: two meshes joined by a pipe you can break.

Faults are the point: ``latency``/``jitter`` delay each frame, ``loss`` drops a share of them,
``partitioned`` drops everything until healed. Every dropped frame is counted on the wire
(``dropped``) and reported as a ``trace.Dropped`` event, so a lost message is visible. Delivery
always goes through the loop (never re-entrant into the sender's mesh).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from gunrtc_kit import trace
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, NetworkError

__all__ = ["MemoryWire", "connect_memory"]

_SHARED_RNG = random.Random()


class MemoryWire:
    """One direction-pair end: ``send`` hands text to the other end's mesh."""

    transport = "memory"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        loss: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        for name, value in (("latency", latency), ("jitter", jitter)):
            if value < 0:
                raise GunError(f"{name}={value!r}, expected a number of seconds >= 0")
        if not 0.0 <= loss <= 1.0:
            raise GunError(f"loss={loss!r}, expected a share between 0 and 1")
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.partitioned = False
        self.rng = rng or _SHARED_RNG  # one Random is ~2.5 KB; wires share one by default
        self.other: MemoryWire | None = None
        self.mesh: Mesh | None = None
        self.peer: MeshPeer | None = None
        self.closed = False
        self.sent = 0
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def send(self, text: str) -> None:
        other = self.other
        if self.closed or other is None or other.closed:
            raise NetworkError("memory wire is closed")
        self.sent += 1
        if self.partitioned or other.partitioned or (self.loss and self.rng.random() < self.loss):
            self.dropped += 1
            if self.mesh is not None and self.peer is not None:
                why = "partitioned" if self.partitioned or other.partitioned else "loss"
                self.mesh.bus.emit(
                    trace.Dropped(
                        self.mesh.bus.now(),
                        self.mesh.pid,
                        self.peer.id,
                        reason=f"memory wire {why}",
                    )
                )
            return
        loop = self._loop or asyncio.get_running_loop()
        delay = self.latency + (self.rng.uniform(0, self.jitter) if self.jitter else 0.0)
        if delay:
            loop.call_later(delay, other._deliver, text)
        else:
            loop.call_soon(other._deliver, text)

    def _deliver(self, text: str) -> None:
        if self.closed or self.mesh is None or self.peer is None:
            return
        self.mesh.hear(text, self.peer)

    def close(self) -> None:
        """Hang up both ends; each mesh sees ``bye``."""
        for end in (self, self.other):
            if end is not None and not end.closed:
                end.closed = True
                if end.mesh is not None and end.peer is not None:
                    end.mesh.bye(end.peer)


def connect_memory(
    a: Mesh,
    b: Mesh,
    *,
    latency: float = 0.0,
    jitter: float = 0.0,
    loss: float = 0.0,
    rng: random.Random | None = None,
    on_wire: Callable[[MemoryWire, MemoryWire], None] | None = None,
) -> tuple[MeshPeer, MeshPeer]:
    """Join two meshes as if ``b`` dialled ``a``: ``a`` sends its ``?``, both learn pids.

    Returns (``b`` as seen by ``a``, ``a`` as seen by ``b``). Must run inside a running loop.
    """
    loop = asyncio.get_running_loop()
    wa = MemoryWire(latency=latency, jitter=jitter, loss=loss, rng=rng)
    wb = MemoryWire(latency=latency, jitter=jitter, loss=loss, rng=rng)
    wa.other, wb.other = wb, wa
    wa._loop = wb._loop = loop
    peer_b = MeshPeer(id="", wire=wa)  # inbound on a: gets a random id and a's '?'
    peer_a = MeshPeer(id=f"mem:{a.pid}", wire=wb)  # dialled from b
    wa.mesh, wa.peer = a, peer_b
    wb.mesh, wb.peer = b, peer_a
    if on_wire is not None:
        on_wire(wa, wb)
    b.hi(peer_a)
    a.hi(peer_b)
    return peer_b, peer_a
