"""PeerView: one peer's counters, links and data, from trace events alone.

It reads the hub's ``PeersModel`` (fed by heard/said/put/hi/bye events), never the peer's
graph, so it shows the same thing for a live peer and for one in a replayed trace. The whole
``peer`` trait is small and is refreshed at most ``every`` seconds while it changes, and only
while a front end shows it (a dashboard has a tab per peer: the hidden ones send nothing).
"""

from __future__ import annotations

import traitlets

from gunrtc_kit.lab.views.base import View, module
from gunrtc_kit.lab.views.hub import Changes, ViewHub

__all__ = ["PeerView"]


class PeerView(View):
    """One peer: what it heard, said, dropped and merged; its links; its data."""

    _esm = module("peer.js")
    peer = traitlets.Dict().tag(sync=True)

    kind = "peer"
    every = 0.25

    def __init__(self, hub: ViewHub, pid: str, *, name: str = "", height: int = 300) -> None:
        self.pid = pid
        self.name = name
        self._version = -1
        self._last = 0.0
        super().__init__(hub, height=height)
        with hub.lock:
            self._refresh_trait()

    def _refresh_trait(self) -> None:
        state = self.hub.peers.get(self.pid)
        self._version = state.version
        self._last = self._now()
        self.peer = self.hub.peers.snapshot(self.pid, self.name)

    def reset(self) -> None:
        """Send the peer's state now."""
        self._refresh_trait()

    def tick(self, ch: Changes) -> None:
        """Refresh the ``peer`` trait when it changed, throttled, and only while shown."""
        if not self.visible and not ch.flush:
            return  # a hidden tab: refreshed when it is shown again
        state = self.hub.peers.peers.get(self.pid)
        if state is None or state.version == self._version:
            return
        if ch.flush or self._now() - self._last >= self.every:
            self._refresh_trait()
