"""What every reason family needs besides the trace: the snapshots, the names, the time.

Why one small object: each family words its reasons the same way (peers by name, links as
``alice\u2194bob``, times as "N s ago" from the moment judged) and suggests the same re-get,
so the texts stay alike across families and a family's signature stays short.
"""

from __future__ import annotations

from gunrtc_kit.diagnose.doctor.kinds import REGET
from gunrtc_kit.diagnose.doctor.report import Action, PeerSnapshot
from gunrtc_kit.diagnose.doctor.trace_index import TraceIndex

__all__ = ["Context"]


class Context:
    """The trace index and snapshots, with the wording the reasons share."""

    def __init__(
        self,
        index: TraceIndex,
        snapshots: dict[str, PeerSnapshot],
        names: dict[str, str],
        at: float,
        ack_timeout: float,
        in_flight_for: float,
    ) -> None:
        self.index = index
        self.snapshots = snapshots
        self.names = names
        self.at = at
        self.ack_timeout = ack_timeout
        self.in_flight_for = in_flight_for
        self.relays = {pid for pid, snap in snapshots.items() if snap.relay}

    def name_of(self, pid: str) -> str:
        """The name of ``pid`` in the texts."""
        return self.names.get(pid) or self.index.directory.label(pid) or pid

    def relay_name(self, pid: str) -> str:
        """``relay <name>``, or the name alone when it already says relay."""
        name = self.name_of(pid)
        return name if "relay" in name.lower() else f"relay {name}"

    def ago(self, t: float) -> str:
        """Trace time ``t`` as "N s ago" from the time the report is judged at."""
        return f"{max(self.at - t, 0.0):.1f} s ago"

    def link_text(self, a: str, b: str) -> str:
        """A link as ``alice\u2194bob`` (names sorted, so both ends say it alike)."""
        x, y = sorted((self.name_of(a), self.name_of(b)))
        return f"{x}\u2194{y}"

    def reget(self, pid: str, soul: str) -> Action:
        """The action: ``pid`` asks for ``soul`` again."""
        text = f"{self.name_of(pid)} asks for {soul!r} again (get)"
        return Action(REGET, text, peer=pid, soul=soul)
