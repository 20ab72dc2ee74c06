"""Time travel: a saved trace opened as views, with a slider that moves them all in time.

``Replay`` holds a trace's events and its metadata (peer names, roles) and a hub of its own.
Moving the slider forwards applies the events up to that instant; moving it backwards
rebuilds the models from the first event (the models are cheap to rebuild and exact, where
undoing events would not be). Every view made from the replay (mesh, flow, signalling, peer)
follows. The ``TimeSlider`` plays the trace at 1x to 10x from the browser.
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from gunrtc_kit import trace
from gunrtc_kit.diagnose.fate import Fate
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.viewcache import ViewCache
from gunrtc_kit.lab.views.base import View, module
from gunrtc_kit.lab.views.flow_view import FlowView
from gunrtc_kit.lab.views.hub import Changes, ViewHub
from gunrtc_kit.lab.views.link_view import LinkView
from gunrtc_kit.lab.views.mesh_view import MeshView
from gunrtc_kit.lab.views.peer_view import PeerView
from gunrtc_kit.lab.views.signaling_view import SignalingView

__all__ = ["Replay", "TimeSlider"]


class TimeSlider(View):
    """The instant every view of a replay shows (``t``, seconds from the trace's start)."""

    _esm = module("timeline.js")
    t0 = traitlets.Float(0.0).tag(sync=True)
    t1 = traitlets.Float(0.0).tag(sync=True)
    t = traitlets.Float(0.0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    speed = traitlets.Float(1.0).tag(sync=True)

    kind = "timeline"

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        super().__init__(replay.hub, height=56, t0=0.0, t1=replay.duration, t=replay.t)
        self.observe(self._moved, names="t")

    def _moved(self, change: dict[str, Any]) -> None:
        new = change.get("new")
        if isinstance(new, int | float) and new != self.replay.t:
            self.replay.seek(float(new))

    def reset(self) -> None:
        """Nothing to resend: the slider's state is its traits."""
        pass

    def tick(self, ch: Changes) -> None:
        """Nothing to send per tick: the slider moves when ``t`` is set."""
        pass


class Replay:
    """A saved trace, shown by views that a slider moves in time."""

    def __init__(self, events: Sequence[trace.Event], meta: dict[str, Any] | None = None) -> None:
        if not events:
            raise GunError("this trace holds no events")
        self.meta = dict(meta or {})
        self.events = list(events)
        self._times = [e.t for e in self.events]
        if any(b < a for a, b in zip(self._times, self._times[1:], strict=False)):
            order = sorted(range(len(self.events)), key=lambda i: self._times[i])
            self.events = [self.events[i] for i in order]
            self._times = [self._times[i] for i in order]
        self.start = self._times[0]
        self.duration = self._times[-1] - self.start
        self.hub = ViewHub(Directory.from_meta(self.meta))
        self.t = 0.0
        self._applied = 0  # events[:_applied] are in the models
        #: makes a fork (``Lab.open_trace`` sets it; a replay made otherwise cannot fork)
        self.forker: Callable[..., Any] | None = None
        self._views = ViewCache()
        self.seek(self.duration)

    @classmethod
    def open(cls, path: str | Path) -> Replay:
        """Open a trace saved by ``Lab.save_trace`` (JSONL, gzip or not)."""
        f = trace.load(path)
        return cls(f.events, f.meta)

    # ------------------------------------------------------------------ time
    def seek(self, t: float) -> None:
        """Show every view as it was ``t`` seconds after the trace began."""
        t = min(max(float(t), 0.0), self.duration)
        upto = bisect.bisect_right(self._times, self.start + t)
        hub = self.hub
        if upto >= self._applied:
            hub.feed_many(self.events[self._applied : upto])
        else:
            hub.rebuild(self.events[:upto])
        if upto == len(self.events):
            with hub.lock:
                hub.apply_pending()
                hub.fate.settle()  # the trace is over: nobody is left to name a sender
        hub.step()
        self._applied = upto
        self.t = t
        slider = self._views.get("slider")
        if slider is not None and slider.t != t:
            slider.t = t

    @property
    def now(self) -> int:
        """How many events the views show."""
        return self._applied

    # ------------------------------------------------------------------ views
    def _view(self, key: str, make: Any) -> Any:
        return self._views.get_or_make(key, make)

    def mesh_view(self) -> MeshView:
        """The replay's mesh (one per replay)."""
        return self._view("mesh", lambda: MeshView(self.hub, title="Mesh (replay)"))  # type: ignore[no-any-return]

    def flow_view(self) -> FlowView:
        """The replay's message flow (one per replay)."""
        return self._view("flow", lambda: FlowView(self.hub))  # type: ignore[no-any-return]

    def signaling_view(self) -> SignalingView:
        """The replay's signalling timeline (one per replay)."""
        return self._view("signaling", lambda: SignalingView(self.hub))  # type: ignore[no-any-return]

    def link_view(self) -> LinkView:
        """The replay's WebRTC links (one per replay)."""
        return self._view("links", lambda: LinkView(self.hub))  # type: ignore[no-any-return]

    def peer_view(self, who: str) -> PeerView:
        """The view of one peer, by name or pid."""
        d = self.hub.directory
        pid = next((p for p, n in d.names.items() if n == who), who)
        return self._view(f"peer:{pid}", lambda: PeerView(self.hub, pid, name=d.label(pid)))  # type: ignore[no-any-return]

    def slider(self) -> TimeSlider:
        """The slider that moves every view of this replay in time."""
        return self._view("slider", lambda: TimeSlider(self))  # type: ignore[no-any-return]

    def show(self) -> widgets.Widget:
        """Slider, mesh and flow side by side, signalling and WebRTC links below."""
        from gunrtc_kit.lab.views.dashboard import Dashboard

        return self._view(
            "dashboard",
            lambda: Dashboard(
                self.mesh_view(),
                self.flow_view(),
                self.signaling_view(),
                slider=self.slider(),
                links=self.link_view(),
            ),
        )

    def fork(self, t: float | None = None, *, seed: int | str = 0) -> Any:
        """A new ``Lab`` of memory peers where the trace stood ``t`` seconds after it began
        (None: the instant the slider shows), held, with the frames then in flight held: to
        try "what if this message had been dropped, or delivered first"."""
        if self.forker is None:
            raise GunError("this replay cannot fork: open the trace with Lab.open_trace(path)")
        return self.forker(self.events, self.meta, self.t if t is None else t, seed=seed)

    def fate(self, mid: str) -> Fate:
        """What became of message ``mid`` up to the instant shown."""
        with self.hub.lock:
            return self.hub.fate.fate(mid)

    def _repr_html_(self) -> str:
        names = ", ".join(sorted(set(self.hub.directory.names.values())))
        return (
            f"<div class='gk-repr'><b>Replay</b> of {len(self.events)} events over "
            f"{self.duration:.3f} s; peers: {html.escape(names) or '(unnamed)'}; showing "
            f"+{self.t:.3f} s</div>"
        )
