"""The live views: anywidget widgets fed by a hub of pure models (see docs/views.md).

``MeshView``, ``FlowView``, ``SignalingView``, ``LinkView`` and ``PeerView`` draw in the
browser from incremental changes; ``Replay`` and ``TimeSlider`` open a saved trace and move
every view in time; ``Dashboard`` puts them together. A ``Lab`` makes and keeps one of each for you.

Names are imported on first use, so ``gunrtc_kit.lab.views.hub`` (which a Lab needs at once)
does not load anywidget, ipywidgets or matplotlib before a view is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gunrtc_kit.lab.views.base import View
    from gunrtc_kit.lab.views.dashboard import Dashboard
    from gunrtc_kit.lab.views.flow_view import FlowView
    from gunrtc_kit.lab.views.hub import ViewHub
    from gunrtc_kit.lab.views.link_view import LinkView
    from gunrtc_kit.lab.views.mesh_view import MeshView
    from gunrtc_kit.lab.views.peer_view import PeerView
    from gunrtc_kit.lab.views.replay import Replay, TimeSlider
    from gunrtc_kit.lab.views.signaling_view import SignalingView

__all__ = [
    "Dashboard",
    "FlowView",
    "LinkView",
    "MeshView",
    "PeerView",
    "Replay",
    "SignalingView",
    "TimeSlider",
    "View",
    "ViewHub",
]

_WHERE = {
    "View": "base",
    "Dashboard": "dashboard",
    "FlowView": "flow_view",
    "ViewHub": "hub",
    "LinkView": "link_view",
    "MeshView": "mesh_view",
    "PeerView": "peer_view",
    "Replay": "replay",
    "TimeSlider": "replay",
    "SignalingView": "signaling_view",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
