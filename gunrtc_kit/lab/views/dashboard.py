"""The views put together: mesh and flow side by side, signalling and a tab per peer below.

Clicking a peer in the mesh opens its tab; clicking a link filters the flow to that link
(click the background to clear). The dashboard holds views, it does not own them: the Lab
(or the replay) keeps one of each, so showing it again makes no new views.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from gunrtc_kit.lab.views.flow_view import FlowView
from gunrtc_kit.lab.views.mesh_view import MeshView
from gunrtc_kit.lab.views.peer_view import PeerView
from gunrtc_kit.lab.views.signaling_view import SignalingView

__all__ = ["Dashboard"]


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """Mesh + flow, then tabs: signalling and one per peer."""

    def __init__(
        self,
        mesh: MeshView,
        flow: FlowView,
        signaling: SignalingView,
        peers: dict[str, PeerView] | None = None,
        slider: Any = None,
    ) -> None:
        self.mesh, self.flow, self.signaling = mesh, flow, signaling
        self.peer_views: dict[str, PeerView] = {}
        mesh.layout = widgets.Layout(flex="2 1 380px", min_width="320px")
        flow.layout = widgets.Layout(flex="3 1 480px", min_width="380px")
        top = widgets.HBox([mesh, flow], layout=widgets.Layout(width="100%", flex_flow="row wrap"))
        self.tabs = widgets.Tab(children=[signaling])
        self.tabs.set_title(0, "signalling")
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
            self.tabs.selected_index = list(self.peer_views).index(pid) + 1

    def _edge_clicked(self, change: dict[str, Any]) -> None:
        eid = change.get("new") or ""
        pair = eid.split("|") if "|" in eid else []
        self.flow.set_filters(pair=pair)
