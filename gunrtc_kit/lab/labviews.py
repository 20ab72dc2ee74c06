"""The views a Lab makes and keeps: mesh, flow, signalling, one per peer, the dashboard.

Why apart: making a view needs of the Lab only its hub (the models the views read), its view
cache and the widgets it closes with it, and its peers by name; ``Lab`` takes these methods
from ``LabViews`` so ``lab.py`` holds the peers, links and lifecycle, and this file the views.

The mesh, flow and signalling views a Lab makes get its hand for step mode (``_stepper``): a
click on a held frame in them delivers, drops or duplicates it through ``lab.deliver`` and
its siblings, as a cell would.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.lifecycle import _Owned
from gunrtc_kit.lab.peers import LabPeer
from gunrtc_kit.lab.viewcache import ViewCache
from gunrtc_kit.lab.views.hub import ViewHub

if TYPE_CHECKING:
    from gunrtc_kit.diagnose.explain import Explanation
    from gunrtc_kit.lab.steps import Pending
    from gunrtc_kit.lab.views.flow_view import FlowView
    from gunrtc_kit.lab.views.link_view import LinkView
    from gunrtc_kit.lab.views.mesh_view import MeshView
    from gunrtc_kit.lab.views.peer_view import PeerView
    from gunrtc_kit.lab.views.signaling_view import SignalingView
    from gunrtc_kit.lab.views.stepping import StepView

__all__ = ["LabViews"]

T = TypeVar("T")
V = TypeVar("V", bound="StepView")


class LabViews:
    """The view-making half of ``Lab`` (a Lab is one): each view is made on first use, kept
    in ``views`` and closed with the Lab."""

    _hub: ViewHub
    _owned: _Owned
    views: ViewCache
    peers: dict[str, LabPeer]
    names: dict[str, str]
    directory: Directory

    if TYPE_CHECKING:

        def _check_open(self, action: str) -> None: ...

        def _own(self, action: str, *peers: LabPeer | str) -> list[LabPeer]: ...

        def explain(
            self, peer: LabPeer | str, path: str, key: str | None = None
        ) -> Explanation: ...

        def deliver(self, x: Pending | str) -> Pending: ...

        def drop(self, x: Pending | str) -> Pending: ...

        def duplicate(self, x: Pending | str) -> Pending: ...

    @property
    def hub(self) -> ViewHub:
        """The models every view of this Lab reads (fed by the Lab's trace bus)."""
        return self._hub

    def _view(self, key: str, make: Any) -> Any:
        # a closed Lab's views are closed widgets: nothing to show or to read from
        self._check_open(f"the {key.split(':')[0]} view")
        return self.views.get_or_make(key, make)

    def _keep(self, widget: T) -> T:
        """Record a widget this Lab made, to close it with the Lab (``close()``)."""
        return self._owned.keep(widget)

    def _stepper(self) -> Callable[[str, str], str]:
        """The hand a view's step menu moves held frames with: ``(action, frame) -> what it
        did``. It holds the Lab weakly (a view in ipywidgets' registry must not keep the Lab
        alive); a gone or closed Lab is a ``GunError`` the menu shows."""
        lab = weakref.ref(self)

        def act(action: str, frame: str) -> str:
            found = lab()
            if found is None:
                raise GunError(f"{action}({frame!r}): this view's Lab is gone")
            if action == "deliver":
                return f"delivered {found.deliver(frame).label}"
            if action == "drop":
                return f"dropped {found.drop(frame).label}"
            if action == "duplicate":
                copy = found.duplicate(frame)
                return f"{copy.name} holds a copy of {frame}: {copy.label}"
            raise GunError(f"{action}({frame!r}): expected deliver, drop or duplicate")

        return act

    def _stepping(self, view: V) -> V:
        """``view`` with this Lab's hand for its step menu."""
        view.step_action = self._stepper()
        return view

    def mesh_view(self) -> MeshView:
        """The Lab's live mesh (one per Lab: displaying it again shows the same view)."""
        from gunrtc_kit.lab.views.mesh_view import MeshView

        return self._view("mesh", lambda: self._stepping(MeshView(self._hub)))  # type: ignore[no-any-return]

    def flow_view(self, *, group: bool = False, **filters: Any) -> FlowView:
        """The Lab's live message flow. Without arguments: the one flow of the dashboard
        (``show()``), the same view each time. With filters (``peer``, ``kind``, ``soul``,
        ``transport``, ``hide_signaling``, ``pair``) or ``group=True`` (group repeats): a new
        view of its own, so a cell's output keeps the filters that cell asked for whatever
        later cells show. ``peer`` and ``pair`` take peers or their names (an unknown name
        raises ``GunError``); ``soul`` is exact, or a prefix ending in ``*`` (``"chat/*"``)."""
        from gunrtc_kit.lab.views.flow_view import FlowView

        if not filters and not group:
            return self._view("flow", lambda: self._stepping(FlowView(self._hub)))  # type: ignore[no-any-return]
        if "peer" in filters and filters["peer"]:
            filters["peer"] = self._peer_pid(filters["peer"], "flow_view(peer=...)")
        if "pair" in filters and filters["pair"]:
            pair = list(filters["pair"])
            if len(pair) != 2:
                raise GunError(f"flow_view(pair={filters['pair']!r}): expected two peers")
            filters["pair"] = [self._peer_pid(x, "flow_view(pair=...)") for x in pair]
        return self._stepping(FlowView(self._hub, group=group, **filters))

    def _peer_pid(self, who: Any, action: str) -> str:
        """The pid of ``who`` (a LabPeer, a name or a pid this Lab's trace knows); a name
        that matches no peer raises instead of quietly matching nothing."""
        if isinstance(who, LabPeer):
            return who.pid
        with self._hub.lock:
            names = {**self.directory.names, **self.names}
        if who in names:
            return str(who)
        pid = next((p for p, n in names.items() if n == who), None)
        if pid is None:
            known = ", ".join(sorted(set(names.values()))) or "none yet"
            raise GunError(f"{action}: no peer is named {who!r}; known peers: {known}")
        return pid

    def signaling_view(
        self, a: LabPeer | str | None = None, b: LabPeer | str | None = None
    ) -> SignalingView:
        """The Lab's WebRTC signalling timeline; with two peers, showing only their link."""
        from gunrtc_kit.lab.views.signaling_view import SignalingView

        view: SignalingView = self._view(
            "signaling", lambda: self._stepping(SignalingView(self._hub))
        )
        if a is not None and b is not None:
            a, b = self._own("signaling_view", a, b)
            with self._hub.lock:
                view.show_link(a.pid, b.pid)
        return view

    def link_view(self, a: Any = None, b: Any = None) -> LinkView:
        """The Lab's WebRTC links, the selected one explained (candidates, pairs, states, a
        rate chart, failure); with two peers (peers or their names, or pids), selecting their
        link. One per Lab: the dashboard's "WebRTC links" tab is the same view."""
        from gunrtc_kit.lab.views.link_view import LinkView

        view: LinkView = self._view("links", lambda: LinkView(self._hub))
        if a is not None and b is not None:
            self._hub.refresh()  # the samples so far applied: their link can be selected
            view.select(a, b)
        return view

    def peer_view(self, p: LabPeer | str, *, live: bool = False) -> PeerView:
        """One peer's counters, links and data (from the trace; works on replays too).

        Frozen by default: a new view of what the peer is now, which later traffic does not
        change (an output under a cell tells what was true when that cell ran); tick "live"
        in it, or set ``view.live = True``, to follow the peer. ``live=True`` gives the
        Lab's one live view of the peer (the dashboard's tab): showing it again reuses it.
        ``p`` is a ``LabPeer`` or its name."""
        from gunrtc_kit.lab.views.peer_view import PeerView

        (p,) = self._own("peer_view", p)
        # a weak hold of the Lab: a view in ipywidgets' registry must not keep it alive
        lab, name = weakref.ref(self), p.name

        def explainer(soul: str, key: str) -> Any:
            found = lab()
            if found is None:
                raise GunError(f"peer {name}: its Lab is gone")
            return found.explain(name, soul, key)

        def make() -> PeerView:
            return PeerView(self._hub, p.pid, name=p.name, explainer=explainer, live=live)

        if live:
            return self._view(f"peer:{p.name}", make)  # type: ignore[no-any-return]
        self._hub.refresh()  # every event so far applied: the snapshot is of now
        return self._keep(make())

    def compact(self) -> MeshView:
        """A small mesh view to display again next to the cell you are working in (the same
        models: it costs one more front end, not more work)."""
        from gunrtc_kit.lab.views.mesh_view import MeshView

        return self._view(  # type: ignore[no-any-return]
            "compact",
            lambda: self._stepping(MeshView(self._hub, height=240, title="Mesh (compact)")),
        )

    def _new_peer_view(self, p: LabPeer) -> None:
        board = self.views.get("dashboard")
        if board is not None:
            view = self.peer_view(p, live=True)
            with self._hub.lock:
                board.add_peer(p.pid, view)

    def refresh(self) -> None:
        """Apply every event so far to the views' models and send the changes now (tests and
        headless runs; live views update by themselves every 40 ms). Waits for a round of
        the view pump in progress rather than running beside it (one lock, see ``hub.py``)."""
        self._hub.refresh()

    def pause(self) -> None:
        """Freeze every view at this instant (the peers go on; the views catch up on
        ``resume``)."""
        self._hub.pause()

    def resume(self) -> None:
        """Let the views move again, catching up with what happened meanwhile."""
        self._hub.resume()
