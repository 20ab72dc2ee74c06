"""How the mesh and its collaborators (``Routes``, ``Outbox``) say on the trace bus what they
dropped and what went wrong: one small object per mesh, shared by the three, so each reports
where it decides and none holds a callback into another."""

from __future__ import annotations

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.dam.peer import MeshPeer

__all__ = ["Reporter"]


class Reporter:
    """``Dropped`` and ``Error`` events of the mesh ``pid``, on ``bus``."""

    __slots__ = ("bus", "pid")  # one per mesh, and a scaling run holds thousands of meshes

    def __init__(self, bus: trace.TraceBus, pid: str) -> None:
        self.bus = bus
        self.pid = pid

    def error(self, peer: MeshPeer | None, text: str, msg_id: str = "") -> None:
        """Something about ``peer``'s input or our handling of it went wrong."""
        bus = self.bus
        bus.emit(
            trace.Error(bus.now(), self.pid, peer.id if peer else "", error=text, msg_id=msg_id)
        )

    def dropped(
        self, peer: MeshPeer | None, msg_id: str, cause: trace.DropCause, reason: str
    ) -> None:
        """Message ``msg_id`` was not handled or not sent, for ``cause``."""
        bus = self.bus
        if not bus.wants(trace.Dropped):
            return  # every duplicate on every hop is one: built only for someone who looks
        bus.emit(
            trace.Dropped(
                bus.now(),
                self.pid,
                peer.id if peer else "",
                msg_id=msg_id,
                reason=reason,
                cause=cause,
                transport=peer.transport if peer else "",
            )
        )

    def dropped_frame(self, peer: MeshPeer, raw: str, cause: trace.DropCause, reason: str) -> None:
        """A whole frame (maybe a batch) was discarded: one ``Dropped`` per message in it."""
        if self.bus.wants(trace.Dropped):
            for mid in codec.message_ids(raw):
                self.dropped(peer, mid, cause, reason)
