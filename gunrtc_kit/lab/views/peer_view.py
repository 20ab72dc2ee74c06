"""PeerView: one peer's counters, links and data, from trace events alone.

It reads the hub's ``PeersModel`` (data and links from put/hi/link/bye events, counters from
the mesh model), never the peer's graph, so it shows the same thing for a live peer and for
one in a replayed trace. The whole ``peer`` trait is small and is refreshed at most ``every``
seconds while it changes, and only while a front end shows it (a dashboard has a tab per
peer: the hidden ones send nothing).

A click on a field asks why it holds its value: the front end sends ``{"type": "explain",
"req", "soul", "key"}`` and gets ``{"type": "explain", "req", "soul", "key", "error", ...}``
with the rows and summary of ``gunrtc_kit.diagnose.explain`` (``Explanation.as_dict``). The
answer needs the trace's events and the peer's graph, which the hub's models do not keep, so
the view asks its ``explainer`` (``lab.explain`` for a Lab's peer); without one it answers
with an ``error`` saying so.

Live or frozen (``live`` trait, a checkbox in the header): a live view follows the peer; a
frozen one keeps what was true when it was made (``frozen_at``, the wall-clock time shown in
its header) whatever happens after, until the user ticks "live". Why: an output under a cell
must tell what was true when that cell ran, not what a later cell did (``lab.peer_view(p)``
makes frozen views; the dashboard's tabs are live). ``closed`` turns true when the view's Lab
closes: the front end then says so instead of looking live.

``Published`` (mixed into this view, the SEA view and the dashboard) displays a widget with a
display id, so that closing its Lab can replace each output on the page by a static note
saying it is closed (``IPython.display`` ``update_display``): a closed widget's comm is gone,
and its front end would otherwise just vanish or keep its last live-looking picture.
"""

from __future__ import annotations

import html
import logging
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import traitlets

from gunrtc_kit.diagnose.explain import Explanation
from gunrtc_kit.lab.views.base import View, module
from gunrtc_kit.lab.views.hub import Changes, ViewHub

log = logging.getLogger(__name__)

Explainer = Callable[[str, str], Explanation]
"""What answers a click on a field: ``(soul, key) -> Explanation`` for this view's peer."""

__all__ = ["PeerView", "Published", "clock_text"]


def clock_text() -> str:
    """The wall-clock time now, as a frozen view shows it (``14:03:07``)."""
    return time.strftime("%H:%M:%S")


def _shell() -> Any:
    """The running IPython shell, or None (never imports IPython: not imported, none runs)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    try:
        return get() if get is not None else None
    except Exception:
        return None


class Published:
    """Mixin for a widget that displays itself with a display id (``_ipython_display_``) and
    can later replace each of its outputs with a static note (``mark_closed``).

    Why: when a Lab closes, its widgets are closed (their comms end, nothing leaks), and a
    front end whose widget closed shows nothing or a stale, live-looking picture. Replacing the
    outputs by display id leaves a note on the page, and in the saved notebook, that says the
    Lab is closed (with the last state as text, where the view has one)."""

    def display_ids(self) -> list[str]:
        """The display ids this widget was shown under (one per output on the page)."""
        ids: list[str] = self.__dict__.setdefault("_gk_display_ids", [])
        return ids

    def closed_text(self) -> str:
        """What an output of this widget says once its Lab is closed (plain text)."""
        return f"{type(self).__name__}: closed (its Lab is closed; make a new Lab())"

    def closed_html(self) -> str:
        """The same note as HTML, for the page (subclasses add their last state)."""
        return f"<div class='gk-closed'><i>{html.escape(self.closed_text())}</i></div>"

    def _ipython_display_(self, **kwargs: Any) -> None:
        if getattr(self, "comm", None) is None:  # a closed widget: the note, no widget
            _publish({"text/plain": self.closed_text(), "text/html": self.closed_html()})
            return
        bundle = self._repr_mimebundle_(**kwargs)  # type: ignore[attr-defined]
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        did = uuid.uuid4().hex
        _publish(data, meta, did)
        self.display_ids().append(did)

    def mark_closed(self) -> int:
        """Replace every output this widget was shown in with the closed note (in IPython:
        elsewhere there is no page); returns how many were replaced. Call before closing the
        widget: the note is a plain output, it needs no comm."""
        ids = self.display_ids()
        if not ids or _shell() is None:
            return 0
        data = {"text/plain": self.closed_text(), "text/html": self.closed_html()}
        for did in ids:
            _publish(data, None, did, update=True)
        n = len(ids)
        ids.clear()
        return n


def _publish(
    data: dict[str, Any], meta: Any = None, display_id: str = "", *, update: bool = False
) -> None:
    """Publish one output (``update``: replace the outputs shown under ``display_id``)."""
    from IPython.display import publish_display_data

    transient = {"display_id": display_id} if display_id else None
    publish_display_data(  # type: ignore[no-untyped-call]
        data, meta or {}, transient=transient, update=update
    )


class PeerView(Published, View):
    """One peer: what it heard, said, dropped and merged; its links; its data. ``live=False``
    freezes it at what the peer was when it was made (see the module docstring)."""

    _esm = module("peer.js")
    peer = traitlets.Dict().tag(sync=True)
    live = traitlets.Bool(True).tag(sync=True)
    frozen_at = traitlets.Unicode("").tag(sync=True)
    closed = traitlets.Bool(False).tag(sync=True)

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
        live: bool = True,
    ) -> None:
        self.pid = pid
        self.name = name
        self.explainer = explainer
        self._version = -1
        self._last = 0.0
        super().__init__(hub, height=height, live=live)
        with hub.lock:
            self._refresh_trait()
            if not live:
                self.frozen_at = clock_text()
        self.observe(self._on_live_toggle, names="live")

    def _refresh_trait(self) -> None:
        self._version = self.hub.peers.version(self.pid)
        self._last = self._now()
        self.peer = self.hub.peers.snapshot(self.pid, self.name)

    def _on_live_toggle(self, change: dict[str, Any]) -> None:
        """The live toggle (the front end's checkbox, or ``view.live = ...``): going live
        shows the peer now; freezing keeps what is shown and notes the time."""
        with self.hub.lock:
            if change["new"]:
                self.frozen_at = ""
                self._refresh_trait()
            else:
                self.frozen_at = clock_text()

    def reset(self) -> None:
        """Send the peer's state now (a frozen view keeps its snapshot: its front ends get
        the trait as it is)."""
        if self.live:
            self._refresh_trait()

    def tick(self, ch: Changes) -> None:
        """Refresh the ``peer`` trait when it changed, throttled, only while shown and live."""
        if not self.visible and not ch.flush:
            return  # a hidden tab: refreshed when it is shown again (a plain attribute: most
            # of a dashboard's peer tabs are hidden, and this runs for each, 25 times a second)
        if not self.live or self.closed:
            return  # frozen: what the cell that made it saw stays on the page
        if self.hub.peers.version(self.pid) == self._version:
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
                moved = self.hub.peers.version(self.pid) != self._version
                if not self.live and moved:
                    answer["notes"] = [
                        f"this view is frozen at {self.frozen_at}; the peer has changed since, "
                        "and this answer is about what it holds now",
                        *answer.get("notes", []),
                    ]
            except Exception as exc:  # shown in the view's pane, never lost
                log.warning("explaining %s.%s failed: %r", soul, key, exc)
                answer["error"] = f"explain failed: {exc}"
        self.post(answer)

    # ------------------------------------------------------------------ text
    def closed_text(self) -> str:
        """The closed note, with the last counters and the number of souls shown."""
        p = self.peer or {}
        counters = p.get("counters") or {}
        shown = ", ".join(f"{k} {v}" for k, v in counters.items() if v)
        souls = len(p.get("data") or {})
        return (
            f"peer {self.name or self.pid}: closed (its Lab is closed); last shown: "
            f"{shown or 'no traffic'}, {len(p.get('links') or [])} link(s), {souls} soul(s)"
        )
