"""The routes a DAM mesh keeps in its dedup table: where a reply goes back, whom a broadcast
goes to, and who was told each message (so a reply is taken only from them).

Gun routes a reply hop by hop through the ``via`` its request was heard from, and a broadcast
skips the peers the sender lists in ``><``. We also remember, per message said, whom it went
to (``DupEntry.to``: a few ids, or for a wide broadcast the time, meaning "every peer
connected then"), which Gun.js does not: a reply from anyone else is a forgery or a mistake.
The mesh asks; this class reads and writes dedup entries and says on the trace (``Reporter``)
why a reply has no way back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core.dup import Dup
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.dam.report import Reporter

__all__ = ["MAX_TO", "Routes", "yo_of"]

Message = dict[str, Any]

MAX_TO = 32  # recipients remembered per message by id; a wider broadcast remembers its time
_NOBODY: frozenset[str] = frozenset()  # no ``><``: one shared empty set, not one per message


class Routes:
    """Reply routes and recipients, kept in ``dup`` for the peers in ``peers``."""

    __slots__ = ("dup", "peers", "clock_ms", "report")  # one per mesh: no per-instance dict

    def __init__(
        self,
        dup: Dup,
        peers: dict[str, MeshPeer],
        clock_ms: Callable[[], float],
        report: Reporter,
    ) -> None:
        self.dup = dup
        self.peers = peers
        self.clock_ms = clock_ms
        self.report = report

    def back(self, mid: str, ack: str, current: tuple[Message, MeshPeer] | None) -> MeshPeer | None:
        """The peer a reply to ``ack`` goes back to (the request's ``via``, or the one whose
        message is being handled now); None, with a ``Dropped`` saying why, when there is
        none: the request was ours, its route expired, or its peer left."""
        req = self.dup.get(ack)
        peer: MeshPeer | None = None
        if req is not None and isinstance(req.via, MeshPeer):
            peer = req.via
        elif current is not None and current[0].get("#") == ack:
            peer = current[1]
        if peer is None:
            if req is not None:
                self.report.dropped(
                    None,
                    mid,
                    trace.DropCause.OWN_REQUEST,
                    f"reply to our own request {ack!r}: not relayed",
                )
            else:
                self.report.dropped(
                    None, mid, trace.DropCause.NO_ROUTE, f"lost route: no request {ack!r} in dedup"
                )
            return None
        if peer.wire is None and peer.id not in self.peers:
            self.report.dropped(
                peer, mid, trace.DropCause.PEER_LEFT, "route back leads to a peer that left"
            )
            return None
        return peer

    def not_found_suppressed(self, msg: Message, mid: str, ack: str, peer: MeshPeer | None) -> bool:
        """A not-found reply to a request that has data already is not sent (gun.js)."""
        req = self.dup.get(ack)
        it = req.it if req is not None else None
        if "put" not in msg and "##" not in msg and isinstance(it, dict) and "##" in it:
            self.report.dropped(
                peer,
                mid,
                trace.DropCause.NOT_FOUND_SUPPRESSED,
                "not-found reply to a request that has data",
            )
            return True
        return False

    def recipients(
        self, msg: Message, via: MeshPeer | None, targets: Iterable[MeshPeer] | None
    ) -> list[MeshPeer]:
        """Whom a broadcast goes to: every peer (or ``targets``) but the one it came from and
        those its ``><`` says were told already."""
        yo = yo_of(msg)
        to: list[MeshPeer] = []
        for p in list(self.peers.values()) if targets is None else list(targets):
            if p is via or (yo and (p.url in yo or p.pid in yo or p.id in yo)):
                continue
            to.append(p)
        return to

    def note_sent(self, mid: str, ids: Sequence[str]) -> None:
        """Remember who was sent ``mid`` (a few ids, or, for a wide broadcast, the time: every
        peer connected then got it), so the mesh can refuse replies from anyone else."""
        entry = self.dup.get(mid) or self.dup.track(mid)
        to = entry.to
        # a tuple of str, not a set: the garbage collector stops tracking it, and a relay keeps
        # one per message it said for 9-18 s
        if isinstance(to, float):
            return
        ids = tuple(ids) if to is None else (*to, *ids)
        entry.to = self.clock_ms() if len(ids) > MAX_TO else ids

    def sent_to(self, mid: str, peer: MeshPeer) -> bool:
        """Whether ``mid`` was said to ``peer`` (as far as the dedup entry remembers)."""
        entry = self.dup.get(mid)
        to = entry.to if entry is not None else None
        if to is None:
            return False
        if isinstance(to, float):
            return peer.met is not None and peer.met <= to
        return peer.id in to


def yo_of(msg: Message) -> frozenset[str]:
    """Peers the sender says it already reached (``><``, first 99 chars as gun.js)."""
    seen = msg.get("><")
    if not isinstance(seen, str) or not seen:
        return _NOBODY
    return frozenset(seen[:99].split(","))
