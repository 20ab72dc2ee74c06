"""PeerView: one peer's counters, links and data, from trace events alone.

It reads the hub's ``PeersModel`` (fed by heard/said/put/hi/bye events), never the peer's
graph, so it shows the same thing for a live peer and for one in a replayed trace. The whole
``peer`` trait is small and is refreshed at most ``every`` seconds while it changes, and only
while a front end shows it (a dashboard has a tab per peer: the hidden ones send nothing).

A click on a field asks why it holds its value: the front end sends ``{"type": "explain",
"req", "soul", "key"}`` and gets ``{"type": "explain", "req", "soul", "key", "error", ...}``
with the rows and summary of ``gunrtc_kit.diagnose.explain`` (``Explanation.as_dict``). The
answer needs the trace's events and the peer's graph, which the hub's models do not keep, so
the view asks its ``explainer`` (``lab.explain`` for a Lab's peer); without one it answers
with an ``error`` saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import traitlets

from gunrtc_kit.diagnose.explain import Explanation
from gunrtc_kit.lab.views.base import View, module
from gunrtc_kit.lab.views.hub import Changes, ViewHub

log = logging.getLogger(__name__)

Explainer = Callable[[str, str], Explanation]
"""What answers a click on a field: ``(soul, key) -> Explanation`` for this view's peer."""

__all__ = ["PeerView"]


class PeerView(View):
    """One peer: what it heard, said, dropped and merged; its links; its data."""

    _esm = module("peer.js")
    peer = traitlets.Dict().tag(sync=True)

    kind = "peer"
    every = 0.25

    def __init__(
        self,
        hub: ViewHub,
        pid: str,
        *,
        name: str = "",
        height: int = 300,
        explainer: Explainer | None = None,
    ) -> None:
        self.pid = pid
        self.name = name
        self.explainer = explainer
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

    def handle(self, content: dict[str, Any]) -> None:
        """Answer ``explain`` (a click on a field): why the peer holds what it holds there.

        The answer always goes back, with ``error`` set when there is none to give (no
        explainer, a bad request, or the explainer failed: its error is shown, not raised)."""
        if content.get("type") != "explain":
            return
        soul, key, req = content.get("soul"), content.get("key"), content.get("req")
        answer: dict[str, Any] = {"type": "explain", "req": req, "soul": soul, "key": key}
        if not isinstance(soul, str) or not soul or not isinstance(key, str) or not key:
            answer["error"] = f"explain needs a soul and a key, got {soul!r} and {key!r}"
        elif self.explainer is None:
            answer["error"] = (
                "this view has no trace to explain from: make it with lab.peer_view(peer), "
                "or give PeerView an explainer"
            )
        else:
            try:
                answer.update(self.explainer(soul, key).as_dict())
                answer["error"] = ""
            except Exception as exc:  # shown in the view's pane, never lost
                log.warning("explaining %s.%s failed: %r", soul, key, exc)
                answer["error"] = f"explain failed: {exc}"
        self.post(answer)
