"""Each traced peer as the trace shows it: counters, links and the data it merged.

Fed from trace events only (``Put`` carries the values a merge changed), never by reading a
peer's graph, so the same model works on a live Lab and on a replayed trace. Bounded: at most
``max_souls`` souls per peer and ``max_keys`` keys per soul are kept, and long values are cut
(``truncated`` says so). Pure: no asyncio, no widgets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose.peers import Directory

__all__ = ["PeerState", "PeersModel"]

_VALUE_CHARS = 200
MAX_PEERS = 10_000  # traced peers followed (a trace file could name any number)
MAX_LINKS = 1_000  # links listed per peer


@dataclass
class PeerState:
    """One peer: what it did, whom it is linked to, and its data."""

    pid: str
    counters: dict[str, int] = field(
        default_factory=lambda: {
            "heard": 0,
            "said": 0,
            "dropped": 0,
            "lost": 0,
            "puts": 0,
            "errors": 0,
        }
    )
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncated: bool = False
    version: int = 0


class PeersModel:
    """``PeerState`` per traced peer."""

    def __init__(
        self, directory: Directory | None = None, max_souls: int = 500, max_keys: int = 200
    ) -> None:
        self.directory = directory or Directory()
        self.max_souls = max_souls
        self.max_keys = max_keys
        self.peers: dict[str, PeerState] = {}

    def get(self, pid: str) -> PeerState:
        """The state of peer ``pid`` (kept only while under ``MAX_PEERS``)."""
        p = self.peers.get(pid)
        if p is None:
            p = PeerState(pid)
            if len(self.peers) < MAX_PEERS:
                self.peers[pid] = p
        return p

    def apply(self, e: trace.Event) -> None:
        """Apply one trace event to the peer that emitted it."""
        if not e.node:
            return
        p = self.peers.get(e.node)
        if p is None:
            if len(self.peers) >= MAX_PEERS:
                return
            p = self.get(e.node)
        c = p.counters
        if isinstance(e, trace.Heard):
            c["heard"] += 1
        elif isinstance(e, trace.Said):
            c["said"] += 1
        elif isinstance(e, trace.Dropped):
            c["lost" if e.cause.on_wire else "dropped"] += 1
        elif isinstance(e, trace.Error):
            c["errors"] += 1
        elif isinstance(e, trace.Put):
            c["puts"] += 1
            self._merge(p, getattr(e, "values", {}) or {})
        elif isinstance(e, trace.Hi | trace.Link):
            other = self.directory.resolve(e.node, e.peer) or getattr(e, "pid", "")
            if other and (other in p.links or len(p.links) < MAX_LINKS):
                p.links[other] = (e.transport or "?", "open")
        elif isinstance(e, trace.Bye):
            other = self.directory.resolve(e.node, e.peer)
            if other in p.links:
                p.links[other] = (p.links[other][0], "closed")
        else:
            return
        p.version += 1

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
            "counters": dict(p.counters),
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
