"""Each traced peer as the trace shows it: counters, links and the data it merged.

Fed from trace events only (``Put`` carries the values a merge changed), never by reading a
peer's graph, so the same model works on a live Lab and on a replayed trace. A peer's
counters (said, heard, dropped, lost, puts, errors) are the ``MeshModel``'s: the mesh model
counts every event anyway, and counting each a second time here cost a fifth of the views'
work at 50 puts/s. A hub hands its mesh model in and feeds this model only the events it
reads (``reads``); used alone, the model keeps a mesh model of its own and feeds it.

Bounded: at most ``max_souls`` souls per peer and ``max_keys`` keys per soul are kept, and
long values are cut (``truncated`` says so). Pure: no asyncio, no widgets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose.mesh import MeshModel
from gunrtc_kit.diagnose.peers import Directory

__all__ = ["PeerState", "PeersModel"]

_VALUE_CHARS = 200
MAX_PEERS = 10_000  # traced peers followed (a trace file could name any number)
MAX_LINKS = 1_000  # links listed per peer
COUNTERS = ("heard", "said", "dropped", "lost", "puts", "errors")  # a peer's counters, in order


@dataclass
class PeerState:
    """One peer: whom it is linked to, and its data (its counters: ``PeersModel.counters``)."""

    pid: str
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncated: bool = False
    version: int = 0


class PeersModel:
    """``PeerState`` per traced peer, counters read from ``mesh`` (its own when not given)."""

    def __init__(
        self,
        directory: Directory | None = None,
        max_souls: int = 500,
        max_keys: int = 200,
        *,
        mesh: MeshModel | None = None,
    ) -> None:
        self.directory = directory or Directory()
        self.max_souls = max_souls
        self.max_keys = max_keys
        self._own_mesh = mesh is None
        self.mesh = MeshModel(self.directory) if mesh is None else mesh
        self._on: dict[type, Callable[[Any, PeerState], None]] = {
            trace.Put: self._put,
            trace.Hi: self._linked,
            trace.Link: self._linked,
            trace.Bye: self._bye,
        }
        self.reads = frozenset(self._on)  # the events ``apply`` needs from a hub
        self.peers: dict[str, PeerState] = {}

    def get(self, pid: str) -> PeerState:
        """The state of peer ``pid`` (kept only while under ``MAX_PEERS``)."""
        p = self.peers.get(pid)
        if p is None:
            p = PeerState(pid)
            if len(self.peers) < MAX_PEERS:
                self.peers[pid] = p
        return p

    def counters(self, pid: str) -> dict[str, int]:
        """What peer ``pid`` did, as counted by the mesh model (zeros for a peer not seen)."""
        n = self.mesh.nodes.get(pid)
        if n is None:
            return dict.fromkeys(COUNTERS, 0)
        return {
            "heard": n.heard,
            "said": n.said,
            "dropped": n.dropped,
            "lost": n.lost,
            "puts": n.puts,
            "errors": n.errors,
        }

    def version(self, pid: str) -> int:
        """A number that changes whenever peer ``pid``'s state or counters do (views compare
        it to know when to send the peer again)."""
        p = self.peers.get(pid)
        n = self.mesh.nodes.get(pid)
        moved = 0 if p is None else p.version
        if n is not None:  # counters only grow, so their sum moves whenever one does
            moved += n.said + n.heard + n.dropped + n.lost + n.puts + n.errors
        return moved

    def apply(self, e: trace.Event) -> None:
        """Apply one trace event to the peer that emitted it (the directory has seen it).
        One lookup by the event's type picks the handler: this runs per event of a live
        mesh, and a hub calls it only for the events in ``reads``."""
        if self._own_mesh:
            self.mesh.apply(e)
        handler = self._on.get(type(e))
        if handler is None or not e.node:
            return
        p = self.peers.get(e.node)
        if p is None:
            if len(self.peers) >= MAX_PEERS:
                return
            p = self.get(e.node)
        handler(e, p)
        p.version += 1

    def _put(self, e: trace.Put, p: PeerState) -> None:
        self._merge(p, e.values or {})

    def _linked(self, e: trace.Hi | trace.Link, p: PeerState) -> None:
        other = self.directory.resolve(e.node, e.peer) or getattr(e, "pid", "")
        if other and (other in p.links or len(p.links) < MAX_LINKS):
            p.links[other] = (e.transport or "?", "open")

    def _bye(self, e: trace.Bye, p: PeerState) -> None:
        other = self.directory.resolve(e.node, e.peer)
        if other in p.links:
            p.links[other] = (p.links[other][0], "closed")

    def _merge(self, p: PeerState, values: dict[str, dict[str, Any]]) -> None:
        for soul, node in values.items():
            held = p.data.get(soul)
            if held is None:
                if len(p.data) >= self.max_souls:
                    p.truncated = True
                    continue
                held = p.data[soul] = {}
            for key, value in node.items():
                if key not in held and len(held) >= self.max_keys:
                    p.truncated = True
                    continue
                held[key] = _short(value)

    def snapshot(self, pid: str, name: str = "") -> dict[str, Any]:
        """The peer as the peer view's front end takes it."""
        p = self.get(pid)
        label = self.directory.label
        return {
            "name": name or label(pid),
            "pid": pid,
            "counters": self.counters(pid),
            "links": [
                {"peer": label(other), "transport": tr, "state": st}
                for other, (tr, st) in sorted(p.links.items(), key=lambda kv: label(kv[0]))
            ],
            "data": {s: dict(n) for s, n in sorted(p.data.items())},
            "truncated": p.truncated,
        }


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _VALUE_CHARS:
        return value[: _VALUE_CHARS - 1] + "…"
    if isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, default=repr)
        return value if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"
    return value
