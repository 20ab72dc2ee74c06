"""What a mesh has said but not yet written: each peer's open batch, its flush, and the
bounded queue of frames waiting for a wire.

Gun joins the messages said to one peer within one turn of the loop into one ``[..]`` frame
(at most ``pack`` characters); the first message of a burst goes out alone and opens the batch,
since most bursts are one message. The mesh decides what is said and to whom; the outbox
decides how it reaches the wire, and says on the trace (``Reporter``) what it could not write
(one ``Dropped`` per message of the frame, and an ``Error``). Sans-I/O like the
mesh: a flush is handed to ``call_soon`` (the owner's loop) or, without one, left for
``flush_all()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.dam.report import Reporter
from gunrtc_kit.errors import LimitError, NetworkError

__all__ = ["Outbox"]


class Outbox:
    """Batches, flushes and queues for the peers of one mesh (``peers``: the mesh's own
    table, read to tell a peer that left from one not connected yet)."""

    # one per mesh, and a scaling run holds thousands of meshes: no per-instance dict
    __slots__ = (
        "peers",
        "pack",
        "queue_chars",
        "call_soon",
        "report",
        "_dirty",
        "_due",
        "_due_at",
        "_flush_due_cb",
    )

    def __init__(
        self,
        peers: dict[str, MeshPeer],
        *,
        pack: int,
        queue_chars: int,
        call_soon: Callable[[Callable[[], None]], Any] | None,
        report: Reporter,
    ) -> None:
        self.peers = peers
        self.pack = pack
        self.queue_chars = queue_chars
        self.call_soon = call_soon
        self.report = report
        self._dirty: dict[MeshPeer, None] = {}  # a set, as a dict: lighter empty, one per peer
        # peers whose flush was handed to call_soon, oldest first: each scheduled call
        # flushes the oldest, so no closure is made per batch; a list read from ``_due_at``
        # (lighter than a deque for a mesh that has no batch open most of the time)
        self._due: list[MeshPeer] = []
        self._due_at = 0
        self._flush_due_cb = self._flush_due

    @property
    def pending(self) -> int:
        """Flushes handed to ``call_soon`` and kept in the list (flushed ones included until
        the list is trimmed): bounded even on a mesh whose loop never runs dry."""
        return len(self._due)

    def join(self, raw: str, peer: MeshPeer) -> bool:
        """Join ``raw`` to ``peer``'s open batch when it has room (True). Else (False) close a
        full batch, open a new one with ``raw`` as its first message, which the caller sends
        alone with ``write`` once it has traced the saying."""
        if peer.batch_size:
            if peer.batch_size + len(raw) + 1 <= self.pack:
                if peer.batch is None:
                    peer.batch = [raw]
                else:
                    peer.batch.append(raw)
                peer.batch_size += len(raw) + 1
                return True
            self.flush(peer)
        peer.batch_size = 1  # the '['; no list yet
        if peer not in self._dirty:
            self._dirty[peer] = None
            if self.call_soon is not None:
                self.call_soon(self._flush_due_cb)
                self._due.append(peer)
        return False

    def _flush_due(self) -> None:
        """A flush handed to ``call_soon``: they run in the order they were scheduled, so the
        oldest peer waiting is the one this call was scheduled for."""
        due = self._due
        if self._due_at < len(due):
            peer = due[self._due_at]
            self._due_at += 1
            if self._due_at == len(due):
                due.clear()
                self._due_at = 0
            elif self._due_at > 64 and self._due_at * 2 > len(due):
                # a busy mesh may never run dry: drop the flushed head now and then
                del due[: self._due_at]
                self._due_at = 0
            self.flush(peer)

    def flush(self, peer: MeshPeer) -> None:
        """Send ``peer``'s open batch as one ``[..]`` frame, if it holds anything, and close it."""
        self._dirty.pop(peer, None)
        batch, peer.batch, peer.batch_size = peer.batch, None, 0
        if batch:
            self.write(codec.encode_batch(batch), peer, batch)

    def flush_all(self) -> None:
        """Flush every open batch now (a mesh with no ``call_soon``)."""
        for peer in list(self._dirty):
            self.flush(peer)

    def write(self, raw: str, peer: MeshPeer, parts: list[str] | None = None) -> None:
        """Write ``raw`` to ``peer``'s wire, or queue it (bounded) until the wire opens.
        ``parts``: the messages a batch frame joins; a batch over the wire's size limit goes
        out as its messages one by one, so only a message too big itself is lost."""
        if peer.wire is not None and peer.met is not None:
            try:
                peer.wire.send(raw)
                return
            except NetworkError:
                pass
            except LimitError as exc:
                if parts is not None and len(parts) > 1:
                    for part in parts:
                        self.write(part, peer)
                else:
                    self._too_big(peer, raw, exc)
                return
        if peer.url is None and peer.met is None and self.peers.get(peer.id) is not peer:
            # an inbound, memory or WebRTC peer that left never comes back on this object:
            # a queued frame would wait for good, so say it is lost instead
            self.report.dropped_frame(
                peer, raw, trace.DropCause.PEER_LEFT, "the peer left the mesh"
            )
            return
        queue = peer.queue
        if queue is None:
            queue = peer.queue = deque()
        if len(queue) >= peer.queue_limit:
            why = f"queue full (queue_limit={peer.queue_limit})"
            self.report.dropped_frame(peer, raw, trace.DropCause.QUEUE_FULL, why)
            self.report.error(
                peer, f"peer {peer.id!r} queue is full (queue_limit={peer.queue_limit})"
            )
            return
        if peer.queued_chars + len(raw) > self.queue_chars:
            # a count alone would let queue_limit frames of up to max_frame each wait
            why = f"queue full (queue_chars={self.queue_chars})"
            self.report.dropped_frame(peer, raw, trace.DropCause.QUEUE_FULL, why)
            self.report.error(
                peer,
                f"peer {peer.id!r} queue holds {peer.queued_chars} chars; "
                f"a frame of {len(raw)} would pass queue_chars={self.queue_chars}",
            )
            return
        queue.append(raw)
        peer.queued_chars += len(raw)

    def drain(self, peer: MeshPeer) -> None:
        """The wire opened: send what waited for it, in order, while it takes frames."""
        queue = peer.queue
        while queue and peer.wire is not None:
            raw = queue.popleft()
            try:
                peer.wire.send(raw)
            except NetworkError:
                queue.appendleft(raw)
                break
            except LimitError as exc:
                self._too_big(peer, raw, exc)
            peer.queued_chars -= len(raw)
        if not queue:
            peer.queued_chars = 0

    def _too_big(self, peer: MeshPeer, raw: str, exc: LimitError) -> None:
        """The wire refused a frame over its size limit (a data channel takes 256 KiB): no
        retry can help, so its messages are reported lost, never raised into whoever said
        them (a relay relaying one big put would fail for everyone)."""
        self.report.dropped_frame(peer, raw, trace.DropCause.FRAME_TOO_BIG, str(exc))
        self.report.error(peer, f"frame of {len(raw)} chars not sent to {peer.id!r}: {exc}")

    def close(self, peer: MeshPeer) -> None:
        """The peer left: its open batch is lost with the wire (an inbound, memory or WebRTC
        peer, reported) or queued for the next connection (a peer we dial)."""
        self._dirty.pop(peer, None)
        batch = peer.batch
        peer.batch, peer.batch_size = None, 0
        if batch and peer.url is None:
            # said (traced) but never written: the wire is gone before the batch's flush
            self.report.dropped_frame(
                peer,
                codec.encode_batch(batch),
                trace.DropCause.WIRE_CLOSED,
                "the wire closed before the batch was sent",
            )
        elif batch:
            self.write(codec.encode_batch(batch), peer)
