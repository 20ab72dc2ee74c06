"""Step mode for memory wires: frames wait, held, until someone chooses what becomes of them.

Why here, under the mesh: a held frame must be a real frame. It was written by the sender's
mesh (``Said``), and when it is delivered it goes through the receiver's ``hear`` like any
other, so dedup, ``><``, ``@`` routing and HAM act on it in the order chosen. Holding happens
on the wire, the one place that sits between two meshes and changes neither.

A ``Hold`` is the register of held frames shared by the wires of one Lab (``MemoryWire.hold``
points at it, ``MemoryWire.held`` says whether that end's frames wait). Each frame gets a name,
``f1``, ``f2``..., in the order it was held; ``deliver``, ``drop`` and ``duplicate`` take
that name. Every change is traced on the sender's bus: ``Held`` when a frame starts waiting,
``Released`` when it leaves (delivered or dropped; a drop also says ``Dropped`` for each message
in it, cause ``BY_HAND``), so a view or a fate reading the trace knows a held copy is in flight,
not lost. At most ``max_frames`` wait at once; past that a frame is dropped (``HOLD_FULL``)
with an ``Error`` naming the bound, rather than growing without end (a chatty mesh held
for long would).

Everything here runs on the wires' loop thread: the Lab hands each call to it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError

if TYPE_CHECKING:
    from gunrtc_kit.transport.memory import MemoryWire

__all__ = ["MAX_HELD", "Hold", "HeldFrame"]

#: frames that may wait in one ``Hold`` at once
MAX_HELD = 10_000


def _messages(text: str) -> list[dict[str, Any]]:
    """The DAM messages of one frame (a message, or an array of them); [] if not JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    return [m for m in items if isinstance(m, dict)]


@dataclass(slots=True)
class HeldFrame:
    """One frame waiting on a held wire: who wrote it, where it goes, and what is in it.

    ``wire`` is the sender's end (``MemoryWire``); ``held_at`` the sender's bus time when it
    started waiting; ``copy_of`` the frame a duplicate was made from."""

    name: str
    wire: MemoryWire
    text: str
    src: str
    dst: str
    tag: str
    held_at: float
    msgs: list[dict[str, Any]] = field(default_factory=list)
    copy_of: str = ""

    @property
    def msg_ids(self) -> list[str]:
        """The ``#`` of each message in the frame."""
        return [str(m.get("#", "")) for m in self.msgs]


class Hold:
    """The frames held on one Lab's memory wires, oldest first, and the hand that moves them.

    ``on_change`` (if set) is called after every change, on the wires' thread (the Lab uses it
    to know when the hold has gone quiet)."""

    def __init__(self, max_frames: int = MAX_HELD) -> None:
        if max_frames < 1:
            raise GunError(f"max_frames={max_frames!r}, expected an int >= 1")
        self.max_frames = max_frames
        self.frames: dict[str, HeldFrame] = {}
        self._names = itertools.count(1)
        self.refused = 0  # frames dropped because the hold was full
        # frames on the same Lab's wires that are not held, scheduled and not yet arrived,
        # and a count of changes to the hold: how the Lab knows the mesh has gone quiet
        self.in_flight = 0
        self.changes = 0
        self.on_change: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def oldest(self) -> HeldFrame | None:
        """The frame that has waited longest, or None."""
        return next(iter(self.frames.values()), None)

    def get(self, name: str) -> HeldFrame:
        """The held frame called ``name``; a ``GunError`` saying what is held if none is."""
        frame = self.frames.get(name)
        if frame is None:
            held = ", ".join(list(self.frames)[:12]) or "nothing"
            raise GunError(f"no frame {name!r} is held (held now: {held})")
        return frame

    # ------------------------------------------------------------------ in
    def take(self, wire: MemoryWire, text: str, copy_of: str = "") -> HeldFrame | None:
        """Hold ``text``, written on ``wire`` (the sender's end). Returns the frame, or None
        when the hold is full (the frame is then dropped, cause ``HOLD_FULL``, and traced)."""
        if len(self.frames) >= self.max_frames:
            self.refused += 1
            wire._report(
                text,
                trace.DropCause.HOLD_FULL,
                f"hold full ({self.max_frames} frames held): deliver or drop some",
            )
            if wire.mesh is not None:
                wire.mesh.bus.emit(
                    trace.Error(
                        wire.mesh.bus.now(),
                        wire.mesh.pid,
                        wire.peer.id if wire.peer is not None else "",
                        error=f"hold full: {self.max_frames} frames held, a frame was dropped",
                    )
                )
            return None
        mesh = wire.mesh
        bus = mesh.bus if mesh is not None else None
        frame = HeldFrame(
            name=f"f{next(self._names)}",
            wire=wire,
            text=text,
            src=mesh.pid if mesh is not None else "",
            dst=wire.far_pid,
            tag=wire.tag,
            held_at=bus.now() if bus is not None else 0.0,
            msgs=_messages(text),
            copy_of=copy_of,
        )
        self.frames[frame.name] = frame
        if bus is not None and mesh is not None and wire.peer is not None:
            bus.emit(
                trace.Held(
                    frame.held_at,
                    mesh.pid,
                    wire.peer.id,
                    to=frame.dst,
                    frame=frame.name,
                    msg_ids=frame.msg_ids,
                    msgs=frame.msgs,
                    wire=frame.tag,
                    size=len(text),
                    copy_of=copy_of,
                )
            )
        self._changed()
        return frame

    # ------------------------------------------------------------------ out
    def deliver(self, name: str) -> HeldFrame:
        """Hand frame ``name`` to the far end's mesh now (it is a real arrival: dedup and
        routing act on it). A wire closed meanwhile reports it ``WIRE_CLOSED``."""
        frame = self._leave(name, trace.ReleaseAction.DELIVERED)
        far = frame.wire.other
        if far is not None:
            far._deliver(frame.text)
        self._changed()
        return frame

    def drop(self, name: str) -> HeldFrame:
        """Throw frame ``name`` away: the far end never sees it; each message in it is traced
        ``Dropped`` (cause ``BY_HAND``) on the sender's bus."""
        frame = self._leave(name, trace.ReleaseAction.DROPPED)
        frame.wire.dropped += 1
        frame.wire._report(frame.text, trace.DropCause.BY_HAND, "dropped by hand (step mode)")
        self._changed()
        return frame

    def duplicate(self, name: str) -> HeldFrame:
        """Hold a second copy of frame ``name`` on the same wire (the network delivered it
        twice); both can then be delivered or dropped. A ``GunError`` if the hold is full."""
        frame = self.get(name)
        copy = self.take(frame.wire, frame.text, copy_of=frame.name)
        if copy is not None:
            frame.wire.sent += 1  # one more frame on the wire: each has its outcome on record
        if copy is None:
            raise GunError(f"cannot duplicate {name}: the hold is full ({self.max_frames} frames)")
        return copy

    def discard_wire(self, wire: MemoryWire) -> list[HeldFrame]:
        """Forget the frames held on a wire that closed (each is reported ``WIRE_CLOSED``)."""
        gone = [f for f in self.frames.values() if f.wire is wire or f.wire is wire.other]
        for f in gone:
            del self.frames[f.name]
            f.wire._report(f.text, trace.DropCause.WIRE_CLOSED, "wire closed with the frame held")
        if gone:
            self._changed()
        return gone

    def _leave(self, name: str, action: trace.ReleaseAction) -> HeldFrame:
        frame = self.get(name)
        del self.frames[name]
        mesh, peer = frame.wire.mesh, frame.wire.peer
        if mesh is not None and peer is not None:
            mesh.bus.emit(
                trace.Released(
                    mesh.bus.now(),
                    mesh.pid,
                    peer.id,
                    to=frame.dst,
                    frame=frame.name,
                    action=action,
                    wire=frame.tag,
                )
            )
        return frame

    def _changed(self) -> None:
        self.changes += 1
        if self.on_change is not None:
            self.on_change()
