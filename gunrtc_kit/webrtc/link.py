"""One WebRTC link as the manager keeps it, and the wire the mesh sees it through.

Kept apart from the manager so every collaborator can name a ``Link`` without importing the
manager's module (which imports them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import NetworkError

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.webrtc.manager import WebRTCManager
    from gunrtc_kit.webrtc.peer import WebRTCPeer

__all__ = ["DcWire", "Link"]


class DcWire:
    """The mesh's view of a WebRTC link: DAM text over the data channel."""

    transport = "dc"

    def __init__(self, link: Link) -> None:
        self.link = link
        self.closed = False

    @property
    def ordered(self) -> bool:
        """As the channel was asked for: Gun's default ``ordered=False`` lets SCTP hand over a
        message before an earlier one that is still being retransmitted."""
        return self.link.peer.options.channel.ordered

    @property
    def reliable(self) -> bool:
        """Only without ``max_retransmits``: Gun's ``maxRetransmits: 2`` gives a message up
        after two retransmissions."""
        return self.link.peer.options.channel.max_retransmits is None

    def send(self, text: str) -> None:
        """Send one frame; ``NetworkError`` when the wire or channel is closed or its buffer is
        past the high-water mark (the mesh then queues the frame, bounded), ``LimitError``
        when it is over the far end's ``max-message-size``."""
        if self.closed:
            # the connection closes in a task; until then its channel would still carry frames
            raise NetworkError(f"data channel to {self.link.pid} is closed")
        self.link.peer.send(text)

    def close(self) -> None:
        """The mesh hangs up: drop exactly this link (not a newer one with the same pid)."""
        self.closed = True
        self.link.manager.table.drop_soon(self.link, "closed")


@dataclass(eq=False)
class Link:
    """One WebRTC link (pending or open) with a remote pid."""

    manager: WebRTCManager
    pid: str
    peer: WebRTCPeer
    role: str  # "offerer" or "answerer" or "manual"
    reply_to: str | None = None  # the message id our candidates answer (gun: msg['#'])
    ask_id: str | None = None
    mesh_peer: MeshPeer | None = None
    remote_set: bool = False
    remote_pending: bool = False  # an answer is being applied (a second one is refused)
    started: float = 0.0
    timer: asyncio.TimerHandle | None = None
    # the mesh peer (a relay connection, a direct peer) its signalling came through; None for
    # links we were asked for here (manual signalling): pending links are capped per source
    source: MeshPeer | None = None
    answer_timer: asyncio.TimerHandle | None = None  # our offer's UNANSWERED_LIFE
    held: list[dict[str, Any]] = field(default_factory=list)
    candidates: int = 0  # remote candidates taken (held or applied), bounded
    offer: dict[str, Any] | None = None  # our offer once made (sent again in glare we win)

    @property
    def open(self) -> bool:
        """The data channel opened and the link joined the mesh."""
        return self.mesh_peer is not None and self.mesh_peer.met is not None

    @property
    def offering(self) -> bool:
        """Our offer is out and unanswered: the only state in which an offer from the same
        pid is glare (both sides offered) rather than a duplicate to ignore."""
        return (
            self.role == "offerer"
            and not self.open
            and not self.remote_set
            and not self.remote_pending
        )
