"""In-process wires, for teaching and tests: two meshes joined by a pipe you can break.

Faults are the point: ``latency``/``jitter`` delay each frame, ``loss`` drops a share of them,
``partitioned`` drops everything until healed. Every dropped frame is counted on the wire
(``dropped``) and each message in it is reported as a ``trace.Dropped`` event carrying its
``#``, so a lost message is visible and can be followed by id. Delivery always goes through the
loop (never re-entrant into the sender's mesh).

``connect_memory`` emits a ``trace.Link`` for each end at once (it knows both pids, and a wire
that loses everything never completes the ``?`` exchange); changing a fault on a connected wire
emits another ``Link`` with the new ``props``, so views draw faults as they are injected.
Both ends share a ``tag`` (carried by ``Link.wire``), so two wires between the same two peers
stay two wires in every view.

Step mode: an end whose ``held`` is true hands each frame it sends to its ``hold`` (a
``hold.Hold`` shared by a Lab's wires) instead of the loop; it arrives only when someone
delivers it (see ``hold.py``). Faults act first: a frame lost or partitioned is never held.

Ground truth: a frame that reaches a closed end is reported as ``Dropped`` (cause
``WIRE_CLOSED``) on the sender's bus, never dropped silently; and ``record`` (a callable set on a
wire end) is told the outcome of every frame sent from that end: delivered, or the drop cause.
It is the record the diagnose models are tested against, kept apart from the trace they read.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import GunError, NetworkError
from gunrtc_kit.transport.hold import Hold

__all__ = ["DELIVERED", "FrameRecord", "MemoryWire", "connect_memory"]

_SHARED_RNG = random.Random()
_TAGS = itertools.count(1)  # wire tags: m1, m2, ... (unique in a process)
DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """What became of one frame on a memory wire: ``outcome`` is ``DELIVERED`` (handed to the
    far mesh) or the ``trace.DropCause`` that ate it. ``src``/``dst`` are the meshes' pids."""

    tag: str
    src: str
    dst: str
    text: str
    outcome: str


class MemoryWire:
    """One direction-pair end: ``send`` hands text to the other end's mesh."""

    transport = "memory"
    #: the ``record`` every new wire end starts with (a test sets it to hear every frame of
    #: wires made for it, from their first ``?``); None: no record
    recorder: ClassVar[Callable[[FrameRecord], None] | None] = None

    def __init__(
        self,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        loss: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self._announced = False  # set once connect_memory has sent this end's first Link
        self.far_pid = ""  # the pid of the mesh at the other end, once connected
        self._latency = _seconds("latency", latency)
        self._jitter = _seconds("jitter", jitter)
        self._loss = _share("loss", loss)
        self._partitioned = False
        self.rng = rng or _SHARED_RNG  # one Random is ~2.5 KB; wires share one by default
        self._other: MemoryWire | None = None
        # the far end's ``_deliver`` and ``_arrive``, bound once: a frame in flight then holds
        # no bound method of its own (a flood keeps thousands in flight, all scanned by the
        # garbage collector)
        self._far_deliver: Callable[[str], None] | None = None
        self._far_arrive: Callable[[str], None] | None = None
        self.mesh: Mesh | None = None
        self.peer: MeshPeer | None = None
        self.closed = False
        self.sent = 0
        self.dropped = 0
        self.tag = ""  # shared by both ends (connect_memory sets it)
        self.hold: Hold | None = None  # where this end's frames wait while ``held``
        self.held = False
        # ground truth (see the module doc); a wire made while ``recorder`` is set starts with it
        self.record: Callable[[FrameRecord], None] | None = MemoryWire.recorder
        self._loop: asyncio.AbstractEventLoop | None = None
        # the context deliveries run in: copied once, when connected, as asyncio's socket
        # transports copy it once per reader (None: a copy per frame, call_soon's default)
        self._context: contextvars.Context | None = None

    @property
    def other(self) -> MemoryWire | None:
        """The far end of this wire (None until connected)."""
        return self._other

    @other.setter
    def other(self, end: MemoryWire | None) -> None:
        self._other = end
        self._far_deliver = end._deliver if end is not None else None
        self._far_arrive = end._arrive if end is not None else None

    # ------------------------------------------------------------------ faults
    @property
    def latency(self) -> float:
        """Seconds each frame takes to arrive (>= 0)."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        value = _seconds("latency", value)
        if value != self._latency:
            self._latency = value
            self._announce()

    @property
    def jitter(self) -> float:
        """Up to this many extra seconds, drawn per frame (>= 0)."""
        return self._jitter

    @jitter.setter
    def jitter(self, value: float) -> None:
        value = _seconds("jitter", value)
        if value != self._jitter:
            self._jitter = value
            self._announce()

    @property
    def loss(self) -> float:
        """Share of frames sent from this end that are dropped (0..1)."""
        return self._loss

    @loss.setter
    def loss(self, value: float) -> None:
        value = _share("loss", value)
        if value != self._loss:
            self._loss = value
            self._announce()

    @property
    def partitioned(self) -> bool:
        """While true, every frame in either direction is dropped (until healed)."""
        return self._partitioned

    @partitioned.setter
    def partitioned(self, value: bool) -> None:
        value = bool(value)
        if value != self._partitioned:
            self._partitioned = value
            self._announce()

    @property
    def ordered(self) -> bool:
        """Frames arrive in the order sent while no ``jitter`` is set: each waits the same
        ``latency`` on one loop (lowering ``latency`` with frames in flight can pass them)."""
        return self._jitter == 0

    @property
    def reliable(self) -> bool:
        """Every frame sent arrives while the wire is open: no ``loss`` on this end, and
        neither end partitioned."""
        far = self._other
        return self._loss == 0 and not self._partitioned and (far is None or not far._partitioned)

    @property
    def props(self) -> dict[str, Any]:
        """This end's faults, as ``trace.Link.props`` carries them."""
        return {
            "latency": self._latency,
            "jitter": self._jitter,
            "loss": self._loss,
            "partitioned": self._partitioned,
        }

    def _announce(self) -> None:
        """Emit a ``trace.Link`` with this end's current props (connected to a mesh, not closed)."""
        if not self._announced or self.closed or self.mesh is None or self.peer is None:
            return
        self.mesh.bus.emit(
            trace.Link(
                self.mesh.bus.now(),
                self.mesh.pid,
                self.peer.id,
                pid=self.far_pid,
                transport=self.transport,
                props=self.props,
                wire=self.tag,
            )
        )

    # ------------------------------------------------------------------ frames
    def send(self, text: str) -> None:
        other = self._other
        if self.closed or other is None or other.closed:
            raise NetworkError("memory wire is closed")
        self.sent += 1
        if (
            self._partitioned
            or other._partitioned
            or (self._loss and self.rng.random() < self._loss)
        ):
            self.dropped += 1
            partitioned = self._partitioned or other._partitioned
            cause = trace.DropCause.PARTITIONED if partitioned else trace.DropCause.LOSS
            self._report(text, cause, f"memory wire {cause.value}")
            return
        if self.held and self.hold is not None:
            self.hold.take(self, text)
            return
        loop = self._loop or asyncio.get_running_loop()
        delay = self._latency + (self.rng.uniform(0, self._jitter) if self._jitter else 0.0)
        if self.hold is not None:  # a Lab's wire: the Lab counts what is on its way
            self.hold.in_flight += 1
            deliver = self._far_arrive or other._arrive
        else:
            deliver = self._far_deliver or other._deliver
        if delay:
            loop.call_later(delay, deliver, text, context=self._context)
        else:
            loop.call_soon(deliver, text, context=self._context)

    def _arrive(self, text: str) -> None:
        """A scheduled frame arrives on a Lab's wire: no longer on its way, then delivered."""
        if self.hold is not None:
            self.hold.in_flight -= 1
        self._deliver(text)

    def _deliver(self, text: str) -> None:
        if self.closed or self.mesh is None or self.peer is None:
            # the wire closed while the frame was on it: the sender's side says so
            if self._other is not None:
                self._other._report(
                    text, trace.DropCause.WIRE_CLOSED, "memory wire closed with the frame on it"
                )
            return
        sender = self._other
        if sender is not None and sender.record is not None:
            sender.record(FrameRecord(sender.tag, sender._pid(), self._pid(), text, DELIVERED))
        self.mesh.hear(text, self.peer)

    def _pid(self) -> str:
        return self.mesh.pid if self.mesh is not None else ""

    def _report(self, text: str, cause: trace.DropCause, reason: str) -> None:
        """A frame sent from this end was dropped: tell ``record`` and the trace (a
        ``Dropped`` per message in the frame, on this end's bus)."""
        if self.record is not None:
            far = self._other._pid() if self._other is not None else ""
            self.record(FrameRecord(self.tag, self._pid(), far, text, cause))
        if self.mesh is None or self.peer is None:
            return
        bus, node, peer_id = self.mesh.bus, self.mesh.pid, self.peer.id
        for mid in codec.message_ids(text):
            bus.emit(
                trace.Dropped(
                    bus.now(),
                    node,
                    peer_id,
                    msg_id=mid,
                    reason=reason,
                    cause=cause,
                    transport=self.transport,
                )
            )

    def close(self) -> None:
        """Hang up both ends; each mesh sees ``bye``."""
        if self.hold is not None:
            self.hold.discard_wire(self)
        for end in (self, self.other):
            if end is not None and not end.closed:
                end.closed = True
                if end.mesh is not None and end.peer is not None:
                    end.mesh.bye(end.peer)


def _seconds(name: str, value: float) -> float:
    if not value >= 0:  # also refuses NaN
        raise GunError(f"{name}={value!r}, expected a number of seconds >= 0")
    return value


def _share(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise GunError(f"{name}={value!r}, expected a share between 0 and 1")
    return value


def connect_memory(
    a: Mesh,
    b: Mesh,
    *,
    latency: float = 0.0,
    jitter: float = 0.0,
    loss: float = 0.0,
    rng: random.Random | None = None,
    on_wire: Callable[[MemoryWire, MemoryWire], None] | None = None,
    tag: str | None = None,
    hold: Hold | None = None,
    held: bool = False,
) -> tuple[MeshPeer, MeshPeer]:
    """Join two meshes as if ``b`` dialled ``a``: ``a`` sends its ``?``, both learn pids.

    ``rng`` draws the wire's loss and jitter (a seeded one makes them repeatable; the id
    ``a`` gives ``b``'s end comes from ``a``'s own generator); ``tag`` names the wire
    (default ``m1``, ``m2``... counted in the process); ``hold``: the register both ends use
    in step mode, and with ``held`` they start held in it, so even the first ``?`` waits to
    be delivered.

    Returns (``b`` as seen by ``a``, ``a`` as seen by ``b``). Must run inside a running loop.
    Once both ends have joined their meshes, each mesh's bus gets a ``trace.Link`` naming the
    far end's pid and the wire's faults.
    """
    loop = asyncio.get_running_loop()
    wa = MemoryWire(latency=latency, jitter=jitter, loss=loss, rng=rng)
    wb = MemoryWire(latency=latency, jitter=jitter, loss=loss, rng=rng)
    wa.other, wb.other = wb, wa
    wa.tag = wb.tag = tag or f"m{next(_TAGS)}"
    if hold is not None:
        wa.hold = wb.hold = hold
        wa.held = wb.held = held
    wa._loop = wb._loop = loop
    wa._context = wb._context = contextvars.copy_context()  # deliveries never nest: one will do
    # inbound on a: a random id (as an accepted socket gets) and a's '?'
    peer_b = MeshPeer(id=random_id(9, a.rng), wire=wa)  # a names it, from its own draws
    # dialled from b: named by a's pid and the wire's tag, so a second wire to the same mesh
    # is a second peer (one id per wire, as two sockets to one relay get two ids)
    peer_a = MeshPeer(id=f"mem:{a.pid}/{wa.tag}", wire=wb)
    wa.mesh, wa.peer, wa.far_pid = a, peer_b, b.pid
    wb.mesh, wb.peer, wb.far_pid = b, peer_a, a.pid
    if on_wire is not None:
        on_wire(wa, wb)
    # the wire is named (its tag, both pids) before anything travels on it, so every view
    # files the Hi and the first frames under this wire and no other
    for end in (wa, wb):
        end._announced = True
        end._announce()
    b.hi(peer_a)
    a.hi(peer_b, greet=True)
    return peer_b, peer_a
