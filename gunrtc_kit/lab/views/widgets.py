"""The views as ipywidgets: each holds a model fed by the trace bus and redraws, throttled.

Events arrive on whatever thread emits them (the Lab's runtime thread); the view only queues
them (under a lock) and marks itself dirty. One redraw thread per process wakes every
``interval`` seconds, applies the queued events to the dirty views' models, renders, and sets
the widgets' values inside ``hold_sync()`` — one comm message per widget per frame, never an
``Output`` widget written from another thread. A view subscribes through a weak reference, so
a view nobody holds is collected and unsubscribes itself; an error while drawing is shown in
the view, not lost.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

import ipywidgets as widgets

from gunrtc_kit import trace
from gunrtc_kit.lab.views.layout import Pos, place
from gunrtc_kit.lab.views.model import FlowModel, FlowRow, MeshModel, SignalingModel
from gunrtc_kit.lab.views.render import render_flow, render_mesh

__all__ = ["FlowView", "MeshView", "PeerView", "SignalingView", "View"]

log = logging.getLogger(__name__)


class _Redrawer:
    """One daemon thread redrawing dirty views at most every ``interval`` seconds."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.views: weakref.WeakSet[View] = weakref.WeakSet()
        self._wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gunrtc-kit-views", daemon=True)
        self.thread.start()

    def add(self, view: View) -> None:
        self.views.add(view)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            for view in list(self.views):
                if view.dirty:
                    view.refresh()
            time.sleep(self.interval)


_redrawer: _Redrawer | None = None
_redrawer_lock = threading.Lock()


def _get_redrawer() -> _Redrawer:
    global _redrawer
    with _redrawer_lock:
        if _redrawer is None:
            _redrawer = _Redrawer()
        return _redrawer


class View:
    """Base: queue events from the bus, apply and draw them on ``refresh``."""

    title = "view"

    def __init__(
        self,
        bus: trace.TraceBus | None = None,
        events: Iterable[trace.Event] = (),
        names: dict[str, str] | None = None,
        live: bool = True,
    ) -> None:
        self.names = dict(names or {})
        self._lock = threading.Lock()
        self._pending: list[trace.Event] = list(events)
        self.dirty = bool(self._pending)
        self.redraws = 0
        self.error = widgets.HTML()
        self.widget = self._build()
        self._unsubscribe = None
        if bus is not None:
            with self._lock:
                self._pending = list(bus.history) + self._pending
                self.dirty = True
            ref = weakref.ref(self)

            def deliver(e: trace.Event, ref: weakref.ref[View] = ref) -> None:
                view = ref()
                if view is None:
                    unsub()
                else:
                    view.feed(e)

            unsub = bus.subscribe(deliver)
            self._unsubscribe = unsub
        if live:
            _get_redrawer().add(self)
        else:
            self.refresh()

    def _build(self) -> widgets.Widget:
        raise NotImplementedError

    def feed(self, event: trace.Event) -> None:
        with self._lock:
            self._pending.append(event)
            self.dirty = True

    def _apply(self, events: list[trace.Event]) -> None:
        raise NotImplementedError

    def _draw(self) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        """Apply queued events to the model and redraw (the redraw thread calls this)."""
        with self._lock:
            events, self._pending = self._pending, []
            self.dirty = False
        try:
            self._apply(events)
            with self.widget.hold_sync():
                self._draw()
            self.redraws += 1
            if self.error.value:
                self.error.value = ""
        except Exception as exc:  # shown in the view, never lost
            log.exception("%s failed to draw", type(self).__name__)
            self.error.value = (
                f"<pre style='color:#b00'>{html.escape(type(self).__name__)}: "
                f"{html.escape(repr(exc))}</pre>"
            )

    def rename(self, pid: str, name: str) -> None:
        self.names[pid] = name
        with self._lock:
            self.dirty = True

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]


class MeshView(View):
    """The live mesh: peers and links, coloured by transport, dotted when not open, with the
    number of messages each link carried. ``graph`` is the networkx graph it draws."""

    title = "mesh"

    def _build(self) -> widgets.Widget:
        self.model = MeshModel(names=self.names)
        self.pos: Pos = {}
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="440px"))
        self.table = widgets.HTML()
        return widgets.VBox([widgets.HTML("<b>Mesh</b>"), self.image, self.table, self.error])

    @property
    def graph(self) -> Any:
        return self.model.graph

    def _apply(self, events: list[trace.Event]) -> None:
        for pid, name in self.names.items():
            if self.model.names.get(pid) != name:
                self.model.rename(pid, name)
        for e in events:
            self.model.apply(e)

    def _draw(self) -> None:
        self.pos = place(self.model.graph, self.pos)
        self.image.value = render_mesh(self.model.graph, self.pos)
        rows = "".join(
            f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{t}</td><td>{s}</td>"
            f"<td>{n}</td></tr>"
            for a, b, t, s, n in self.model.links()
        )
        peers = ", ".join(
            html.escape(str(d["label"])) for _, d in self.model.graph.nodes(data=True)
        )
        self.table.value = (
            f"<div class='gunrtc-mesh-peers'>peers: {peers}</div>"
            "<table class='gunrtc-mesh-links'><tr><th>peer</th><th>peer</th><th>transport</th>"
            f"<th>state</th><th>messages</th></tr>{rows}</table>"
        )


class FlowView(View):
    """Message flow as a sequence diagram; filter by peer, kind and soul; pick a row to see its
    JSON. ``rows`` holds what is shown."""

    title = "flow"
    max_drawn = 60

    def _build(self) -> widgets.Widget:
        self.model = FlowModel(names=self.names)
        self.peer = widgets.Text(placeholder="peer", layout=widgets.Layout(width="120px"))
        self.kind = widgets.Dropdown(
            options=["", "put", "get", "ack", "reply", "rtc", "dam"],
            value="",
            layout=widgets.Layout(width="100px"),
        )
        self.soul = widgets.Text(placeholder="soul prefix", layout=widgets.Layout(width="140px"))
        self.pick = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="98%"))
        self.json = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="520px"))
        self.summary = widgets.HTML()
        for w in (self.peer, self.kind, self.soul):
            w.observe(lambda _c: self._mark(), names="value")
        self.pick.observe(self._show_json, names="value")
        return widgets.VBox(
            [
                widgets.HTML("<b>Message flow</b>"),
                widgets.HBox([self.peer, self.kind, self.soul]),
                self.summary,
                self.image,
                self.pick,
                self.json,
                self.error,
            ]
        )

    def _mark(self) -> None:
        with self._lock:
            self.dirty = True

    @property
    def rows(self) -> list[FlowRow]:
        return self.model.filtered(
            self.peer.value or None, self.kind.value or None, self.soul.value or None
        )

    def _apply(self, events: list[trace.Event]) -> None:
        self.model.names.update(self.names)
        for e in events:
            self.model.apply(e)

    def _draw(self) -> None:
        rows = self.rows
        shown = rows[-self.max_drawn :]
        lifelines: list[str] = []
        for r in shown:
            for p in (r.src, r.dst):
                if p not in lifelines:
                    lifelines.append(p)
        self.image.value = render_flow(
            shown, lifelines, f"last {len(shown)} of {len(rows)} messages"
        )
        kinds: dict[str, int] = {}
        for r in rows:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        dc = sum(1 for r in rows if r.transport == "dc")
        self.summary.value = (
            f"<div class='gunrtc-flow-summary'>{len(rows)} messages ({dc} over data channels): "
            + ", ".join(f"{html.escape(k)} {n}" for k, n in sorted(kinds.items()))
            + "</div>"
        )
        self.pick.options = [
            (f"{r.t:8.3f}s {r.src} → {r.dst} {r.kind} {' '.join(r.souls)[:30]} #{r.msg_id}", i)
            for i, r in list(enumerate(rows))[-200:]
        ]

    def _show_json(self, change: dict[str, Any]) -> None:
        i = change.get("new")
        rows = self.rows
        if isinstance(i, int) and 0 <= i < len(rows):
            text = json.dumps(rows[i].msg, indent=1, ensure_ascii=False, default=repr)
            self.json.value = f"<pre class='gunrtc-flow-json'>{html.escape(text)}</pre>"

    def mermaid(self) -> str:
        return self.model.mermaid(self.rows)


class SignalingView(View):
    """Offer, answer and candidates of WebRTC links as they pass (one link, or all)."""

    title = "signaling"

    def __init__(
        self, bus: trace.TraceBus | None = None, link: tuple[str, str] | None = None, **kw: Any
    ) -> None:
        self.link = link
        super().__init__(bus, **kw)

    def _build(self) -> widgets.Widget:
        self.model = SignalingModel(names=self.names)
        self.html = widgets.HTML()
        return widgets.VBox([widgets.HTML("<b>WebRTC signalling</b>"), self.html, self.error])

    @property
    def steps(self) -> list[dict[str, Any]]:
        if self.link is None:
            return self.model.steps
        return self.model.for_link(*self.link)

    def _apply(self, events: list[trace.Event]) -> None:
        self.model.names.update(self.names)
        for e in events:
            self.model.apply(e)

    def _draw(self) -> None:
        items = []
        for s in self.steps[-40:]:
            text = html.escape(str(s["text"]))
            body = (
                f"<details><summary>{len(text)} chars</summary><pre>{text}</pre></details>"
                if len(text) > 80
                else f"<code>{text}</code>"
            )
            items.append(
                f"<tr><td>{html.escape(s['node'])}</td><td>{s['direction']}</td>"
                f"<td>{html.escape(s['peer'])}</td><td><b>{s['step']}</b></td>"
                f"<td>{body}</td></tr>"
            )
        self.html.value = (
            "<table class='gunrtc-signaling'><tr><th>peer</th><th></th><th>with"
            "</th><th>step</th><th>data</th></tr>" + "".join(items) + "</table>"
        )


class PeerView(View):
    """One peer: its graph data, its links and its counters."""

    title = "peer"

    def __init__(self, peer: Any, bus: trace.TraceBus | None = None, **kw: Any) -> None:
        self.peer = peer
        super().__init__(bus, **kw)

    def _build(self) -> widgets.Widget:
        self.counters: dict[str, int] = {"heard": 0, "said": 0, "put": 0, "error": 0}
        self.html = widgets.HTML()
        return widgets.VBox(
            [widgets.HTML(f"<b>Peer {html.escape(self.peer.name)}</b>"), self.html, self.error]
        )

    def _apply(self, events: list[trace.Event]) -> None:
        pid = self.peer.pid
        for e in events:
            if e.node == pid and e.kind in self.counters:
                self.counters[e.kind] += 1

    def _draw(self) -> None:
        snap = self.peer.snapshot()
        graph = "".join(
            f"<tr><td>{html.escape(soul)}</td><td><code>{html.escape(json.dumps(node))[:200]}"
            "</code></td></tr>"
            for soul, node in sorted(snap["graph"].items())[:50]
        )
        links = "".join(f"<li>{html.escape(str(link))}</li>" for link in snap["links"])
        counters = ", ".join(f"{k}={v}" for k, v in self.counters.items())
        self.html.value = (
            f"<div>pid <code>{snap['pid']}</code>; {counters}</div>"
            f"<ul>{links}</ul><table>{graph}</table>"
        )
