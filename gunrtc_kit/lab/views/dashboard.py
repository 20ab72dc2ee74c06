"""The views put together: mesh and flow side by side, then tabs: signalling, the WebRTC links
(when given a ``LinkView``) and one per peer.

Clicking a peer in the mesh opens its tab; clicking a link filters the flow to that link
(click the background to clear), and a WebRTC (``dc``) link is also selected in the links
tab. The dashboard holds views, it does not own them: the Lab (or the replay) keeps one of
each, so showing it again makes no new views.

``close_tree`` closes a widget with everything it made for itself (its layout, its style, the
boxes inside it): what a Lab calls on close, so that no widget of a closed Lab stays in
ipywidgets' registry. The dashboard styles its views through their own layouts rather than
new ``Layout`` objects (a replaced layout would be a widget nobody closes).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from gunrtc_kit.lab.views.flow_view import FlowView
from gunrtc_kit.lab.views.link_view import LinkView
from gunrtc_kit.lab.views.mesh_view import MeshView
from gunrtc_kit.lab.views.peer_view import PeerView, Published, _shell
from gunrtc_kit.lab.views.signaling_view import SignalingView

__all__ = ["Dashboard", "close_tree"]


def close_tree(w: Any, seen: set[int] | None = None) -> None:
    """Close widget ``w``, the widgets inside it (``children``) and its ``layout`` and
    ``style`` widgets; each once. Setting ``closed`` first where the widget has that trait, so
    the front end hears it before the comm ends."""
    seen = set() if seen is None else seen
    if not isinstance(w, widgets.Widget) or id(w) in seen:
        return
    seen.add(id(w))
    if w.has_trait("closed") and w.comm is not None:
        w.closed = True
    for child in list(getattr(w, "children", ()) or ()):
        close_tree(child, seen)
    for part in ("layout", "style"):
        inner = getattr(w, part, None) if w.has_trait(part) else None
        if isinstance(inner, widgets.Widget):
            inner.close()
    w.close()


class Dashboard(Published, widgets.VBox):  # type: ignore[misc]
    """Mesh + flow, then tabs: signalling, WebRTC links (``links``) and one per peer."""

    closed = traitlets.Bool(False)  # its Lab is closed (kept on the Python side only)

    def __init__(
        self,
        mesh: MeshView,
        flow: FlowView,
        signaling: SignalingView,
        peers: dict[str, PeerView] | None = None,
        slider: Any = None,
        links: LinkView | None = None,
    ) -> None:
        self.mesh, self.flow, self.signaling, self.links = mesh, flow, signaling, links
        self.peer_views: dict[str, PeerView] = {}
        mesh.layout.flex, mesh.layout.min_width = "2 1 380px", "320px"
        flow.layout.flex, flow.layout.min_width = "3 1 480px", "380px"
        top = widgets.HBox([mesh, flow], layout=widgets.Layout(width="100%", flex_flow="row wrap"))
        self.tabs = widgets.Tab(children=[signaling] + ([links] if links is not None else []))
        self.tabs.set_title(0, "signalling")
        if links is not None:
            self.tabs.set_title(1, "WebRTC links")
        self._first_peer_tab = len(self.tabs.children)
        children: list[Any] = ([slider] if slider is not None else []) + [top, self.tabs]
        super().__init__(children=children, layout=widgets.Layout(width="100%"))
        self.add_class("gk-dashboard")
        for pid, view in (peers or {}).items():
            self.add_peer(pid, view)
        mesh.observe(self._node_clicked, names="selected_node")
        mesh.observe(self._edge_clicked, names="selected_edge")

    def add_peer(self, pid: str, view: PeerView) -> None:
        """Add a tab for one peer (once)."""
        if pid in self.peer_views:
            return
        self.peer_views[pid] = view
        self.tabs.children = [*self.tabs.children, view]
        self.tabs.set_title(len(self.tabs.children) - 1, view.name or pid)

    def _node_clicked(self, change: dict[str, Any]) -> None:
        pid = change.get("new")
        if pid in self.peer_views:
            self.tabs.selected_index = list(self.peer_views).index(pid) + self._first_peer_tab

    def _edge_clicked(self, change: dict[str, Any]) -> None:
        eid = change.get("new") or ""
        pair = eid.split("|")[:2] if "|" in eid else []  # a wire id: a|b|transport|tag
        self.flow.set_filters(pair=pair)
        if self.links is not None and eid.split("|")[2:3] == ["dc"]:
            key = self.links.hub.links.key_of(*pair)
            if key is not None:
                self.links.selected = key

    # ------------------------------------------------------------------ in a notebook
    _echo_at: int | None = None  # the execution whose ``show()`` displayed it already

    def shown_by_show(self) -> None:
        """Display the dashboard now (``lab.show()`` does, wherever it sits in its cell), and
        remember that this execution showed it: were ``show()`` the cell's last line, the
        value it returns would be displayed a second time below the first."""
        from IPython.display import display

        display(self)  # type: ignore[no-untyped-call]
        self._echo_at = getattr(_shell(), "execution_count", None)

    def _ipython_display_(self, **kwargs: Any) -> None:
        shell = _shell()
        count = getattr(shell, "execution_count", None)
        if self._echo_at is not None and count == self._echo_at:
            self._echo_at = None  # the cell's value, just displayed by show(): once is enough
            return
        Published._ipython_display_(self, **kwargs)

    def closed_text(self) -> str:
        """The note a closed Lab's dashboard leaves on the page."""
        return "Lab dashboard: closed (its Lab is closed; make a new Lab() and show() it)"
