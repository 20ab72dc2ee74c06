"""Which wire an event travelled on, so two wires between the same two peers stay two.

Every event names the remote side by the emitting node's own id for it (``peer``), and the
two ends of one wire use different ids. A wire is told apart from its siblings by its
transport (``ws``, ``dc``, ``memory``) and, where one transport can carry several wires
between the same pair (memory wires), by the tag both ends share (``trace.Link.wire``).
``WireBook`` learns those tags from ``Link`` events and names a wire as ``"<transport>:<tag>"``
(the tag empty for ws and dc: our mesh keeps one WebRTC link per pid, and a peer dials a relay
URL once).

Pure: no clock, no asyncio, no widgets; bounded (``MAX_WIRES`` ids remembered).
"""

from __future__ import annotations

from gunrtc_kit import trace

__all__ = ["MAX_WIRES", "WireBook", "wire_key"]

MAX_WIRES = 100_000  # (node, peer id) -> tag entries kept; the oldest are forgotten first


def wire_key(transport: str, tag: str = "") -> str:
    """The name of a wire among those between one pair of peers: ``"memory:m3"``, ``"dc:"``."""
    return f"{transport or '?'}:{tag}"


class WireBook:
    """Tags of wires, learned from ``trace.Link`` events."""

    def __init__(self) -> None:
        self._tag: dict[tuple[str, str], str] = {}

    def apply(self, e: trace.Event) -> None:
        """Learn the tag of ``e``'s wire when it names one."""
        if isinstance(e, trace.Link) and e.wire and e.peer:
            key = (e.node, e.peer)
            if key not in self._tag and len(self._tag) >= MAX_WIRES:
                del self._tag[next(iter(self._tag))]
            self._tag[key] = e.wire

    def tag(self, node: str, peer: str) -> str:
        """The tag of the wire ``node`` calls ``peer`` (``""`` when it has none)."""
        return self._tag.get((node, peer), "")

    def key(self, node: str, peer: str, transport: str) -> str:
        """The wire ``node`` calls ``peer``, as ``wire_key`` names it."""
        return wire_key(transport, self._tag.get((node, peer), ""))
