"""SignalingView: every WebRTC signalling step and state change, timed, with SDP explained.

Steps are appended as they happen (a ``diff`` per tick with the new ones); the SDP of an offer
or answer is sent only when the user opens it, annotated line by line (what ``a=candidate``,
``a=fingerprint``, ``m=application`` mean), so a 55-link room does not ship megabytes of SDP.
State steps carry the layer aiortc reported (peer connection, ICE, DTLS, SCTP, data channel,
the selected candidate pair).

Step mode: the frames held on the Lab's memory wires that carry signalling (an offer, answer
or candidate, a room announcement: a peer with ``rtc`` on ``Lab(relay="memory")`` signals
through the memory relay) are listed as in flight (the ``held`` trait, at most
``MAX_HELD_SHOWN``); with a ``step_action`` a click on one offers deliver / drop / duplicate,
as in the mesh and flow views (``stepping.py``).
"""

from __future__ import annotations

from typing import Any

import traitlets

from gunrtc_kit.diagnose.mesh import edge_id
from gunrtc_kit.diagnose.signaling import Step, annotate_sdp
from gunrtc_kit.lab.views.base import module
from gunrtc_kit.lab.views.hub import Changes, ViewHub
from gunrtc_kit.lab.views.stepping import StepView

__all__ = ["SignalingView"]

RESET_STEPS = 3000  # a reset sends at most the newest this many steps
SNAPSHOT_STEPS = 500  # the snapshot trait holds the newest this many
SNAPSHOT_EVERY = 2.0
MAX_HELD_SHOWN = 100  # held signalling frames listed at most (the oldest)


class SignalingView(StepView):
    """Offer, answer, candidates and state changes of WebRTC links (``link``: one link's id
    ``"pidA|pidB"``, or ``""`` for all)."""

    _esm = module("signaling.js")
    snapshot = traitlets.Dict().tag(sync=True)
    links: traitlets.List[Any] = traitlets.List().tag(sync=True)
    link = traitlets.Unicode("").tag(sync=True)
    held: traitlets.List[Any] = traitlets.List().tag(sync=True)

    kind = "signaling"

    def __init__(self, hub: ViewHub, *, link: str = "", height: int = 320) -> None:
        self._v = 0
        self._next = 0
        self._n_links = -1
        self._names_version = -1
        self._last_snapshot = 0.0
        self._held_version = -1
        super().__init__(hub, height=height, link=link)
        with hub.lock:
            self._update_held()
            self._next = hub.signaling.count
            self._update_links()
            self._take_snapshot()

    def _take_snapshot(self) -> None:
        """The newest steps at this view's version, as a trait: it reaches a front end even
        while a running cell keeps the kernel from answering ``hello``."""
        d = self.hub.directory
        steps = self.hub.signaling.steps[-SNAPSHOT_STEPS:]
        self.snapshot = {"v": self._v, "steps": [s.as_dict(d) for s in steps]}
        self._last_snapshot = self._now()

    def show_link(self, a: str, b: str) -> None:
        """Show only the link between pids ``a`` and ``b``."""
        self.link = edge_id(a, b, "dc")

    @property
    def steps(self) -> list[Step]:
        """The kept steps of the link shown (all links when ``link`` is empty)."""
        with self.hub.lock:
            steps = list(self.hub.signaling.steps)
        return [s for s in steps if not self.link or s.link == self.link]

    def _update_links(self) -> None:
        sig = self.hub.signaling
        d = self.hub.directory
        if len(sig.links) != self._n_links or d.version != self._names_version:
            self.links = [
                {"id": lid, "label": f"{d.label(a)} ↔ {d.label(b)}"}
                for lid, (a, b) in sig.links.items()
            ]
            self._n_links = len(sig.links)
            self._names_version = d.version

    def _update_held(self) -> None:
        """The held frames that carry signalling, named, when they changed."""
        mesh = self.hub.mesh
        if mesh.held_version == self._held_version:
            return
        self._held_version = mesh.held_version
        label = self.hub.directory.label
        out: list[dict[str, Any]] = []
        for tok in mesh.held.values():
            if not tok.sig:
                continue
            if len(out) >= MAX_HELD_SHOWN:
                break
            what = ", ".join(f"{k} #{i}" for k, i in zip(tok.kinds, tok.ids, strict=False))
            copy = f" (copy of {tok.copy_of})" if tok.copy_of else ""
            text = f"{tok.frame} {label(tok.src)} \u2192 {label(tok.dst)} · {what}{copy}"
            out.append({**tok.as_dict(), "text": text})
        if out != self.held:
            self.held = out

    def reset(self) -> None:
        """Send the newest steps (at most ``RESET_STEPS``) and the links."""
        sig = self.hub.signaling
        d = self.hub.directory
        self._v += 1
        self._next = sig.count
        self._update_links()
        steps = sig.steps[-RESET_STEPS:]
        self.post({"type": "reset", "v": self._v, "steps": [s.as_dict(d) for s in steps]})

    def tick(self, ch: Changes) -> None:
        """Send the steps made since the last tick (or refresh the snapshot when idle)."""
        self._update_held()
        sig = self.hub.signaling
        if sig.count == self._next:
            if self.snapshot.get("v") != self._v and (
                ch.flush or self._now() - self._last_snapshot >= SNAPSHOT_EVERY
            ):
                self._take_snapshot()
            return
        new = sig.since(self._next)
        self._next = sig.count
        self._update_links()
        d = self.hub.directory
        self.post(
            {
                "type": "diff",
                "from": self._v,
                "v": self._v + 1,
                "steps": [s.as_dict(d) for s in new],
            }
        )
        self._v += 1

    def handle(self, content: dict[str, Any]) -> None:
        """Answer ``sdp``: one step's SDP, line by line with its meaning."""
        if content.get("type") == "sdp":
            i = content.get("i")
            step = self.hub.signaling.get(i) if isinstance(i, int) else None
            lines = annotate_sdp(step.sdp) if step is not None and step.sdp else []
            self.post({"type": "sdp", "i": i, "lines": [list(x) for x in lines]})
