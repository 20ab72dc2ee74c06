"""Views of the mesh as ipywidgets, fed by the trace bus; models, layout and drawing apart."""

from gunrtc_kit.lab.views.widgets import FlowView, MeshView, PeerView, SignalingView, View

__all__ = ["FlowView", "MeshView", "PeerView", "SignalingView", "View"]
