"""MeshView: the live mesh in the browser, drawn as SVG from incremental changes.

Structure (a peer or a link appearing, a link changing state, faults, positions) is sent on
the next tick; counters and rates at most every ``counts_every`` seconds; pulses (a dot per
message crossing a link) every tick, capped. ``snapshot`` (a synced trait, so a saved
notebook still shows the mesh without a kernel) is refreshed at most every 2 s.
Positions come from a stable layout (see ``layout.py``); ``relayout("spring")`` asks for
networkx's force-directed one. ``to_png()``/``to_svg()`` export a static picture with
matplotlib (for reports and nbconvert).

An edge is a *wire*: two peers may share several (a ws, a dc, memory wires), each with its own
id (``a|b|transport|tag``), state and faults. The browser draws each one apart (see
``layout.wire_curves``), so a partitioned memory wire shows red beside an open dc, and
``graph`` is a ``MultiGraph`` keyed by wire id. ``closed`` (set by the Lab when it closes)
puts a banner on the view: what it shows no longer changes.

Step mode: each held frame is a token on the wire it waits on (``held`` in a reset, a diff
or the snapshot: every token, when they changed, at most ``MAX_TOKENS``), showing its frame
name and kind; a wire's ``held`` counts them. With a ``step_action`` (a Lab's view) a click on
a token offers deliver / drop / duplicate (see ``stepping.py``); a replay's view draws them
only.
"""

from __future__ import annotations

from typing import Any

import traitlets

from gunrtc_kit.diagnose.mesh import EdgeState
from gunrtc_kit.lab.views.base import module
from gunrtc_kit.lab.views.hub import Changes, ViewHub
from gunrtc_kit.lab.views.stepping import StepView

__all__ = ["MAX_TOKENS", "MeshView"]

MAX_TOKENS = 300  # held frames sent to the browser at most (the oldest; ``held_total`` says all)


class MeshView(StepView):
    """Peers and wires: colour by transport, dashes by state, width by rate, faults on memory
    wires, a dot per message along the wire it was said on, a token per frame held on it
    (step mode). Hover a node for its counters; click a node (``selected_node``) or a wire
    (``selected_edge``, its wire id), or a held token to deliver, drop or duplicate it. A
    relay whose every wire is closed is drawn stopped; ``closed`` shows a "Lab closed"
    banner."""

    _esm = module("mesh.js")
    snapshot = traitlets.Dict().tag(sync=True)
    selected_node = traitlets.Unicode("").tag(sync=True)
    selected_edge = traitlets.Unicode("").tag(sync=True)
    title = traitlets.Unicode("Mesh").tag(sync=True)
    closed = traitlets.Bool(False).tag(sync=True)

    kind = "mesh"
    counts_every = 0.5
    snapshot_every = 2.0

    def __init__(self, hub: ViewHub, *, height: int = 420, title: str = "Mesh") -> None:
        self._v = 0
        self._nodes: set[str] = set()
        self._edges: set[str] = set()
        self._counted_nodes: set[str] = set()
        self._counted_edges: set[str] = set()
        self._last_counts = 0.0
        self._last_snapshot = 0.0
        self._snapshot_due = True
        self._stats: dict[str, int] = {}
        self._held_version = -1
        super().__init__(hub, height=height, title=title)
        with hub.lock:
            self._take_snapshot()

    # ------------------------------------------------------------------ shapes
    def node_dict(self, entity: str) -> dict[str, Any]:
        """One node as the front end takes it."""
        d = self.hub.directory
        n = self.hub.mesh.nodes[entity]
        x, y = self.hub.layout.pos.get(entity, (0.0, 0.0))
        return {
            "id": entity,
            "pid": entity,
            "label": d.label(entity),
            "role": d.role(entity),
            "agent": d.agent(entity),
            "x": x,
            "y": y,
            "said": n.said,
            "heard": n.heard,
            "dropped": n.dropped,
            "lost": n.lost,
            "errors": n.errors,
            "puts": n.puts,
        }

    @staticmethod
    def edge_dict(e: EdgeState) -> dict[str, Any]:
        """One wire as the front end takes it."""
        return {
            "id": e.id,
            "a": e.a,
            "b": e.b,
            "transport": e.transport,
            "tag": e.tag,  # memory wires: one tag each
            "state": e.state,
            "count": e.count,
            "rate": e.rate,
            "lost": e.lost,
            "latency": e.latency,
            "loss": e.loss,
            "partitioned": e.partitioned,
            "tapped": e.tapped,  # a tap forwards its frames: drawn as such
            "held": e.held,  # frames held on it (step mode)
        }

    def held_tokens(self) -> list[dict[str, Any]]:
        """The held frames as the front end takes them (the oldest ``MAX_TOKENS``)."""
        held = self.hub.mesh.held
        out: list[dict[str, Any]] = []
        for tok in held.values():
            if len(out) >= MAX_TOKENS:
                break
            out.append(tok.as_dict())
        return out

    def stats(self) -> dict[str, int]:
        """Peers, open links and partitions, for the status line."""
        m = self.hub.mesh
        return {
            "peers": len(m.nodes),
            "links": sum(1 for e in m.edges.values() if e.state == "open"),
            "partitions": m.partitions(),
        }

    def _everything(self) -> dict[str, Any]:
        m = self.hub.mesh
        return {
            "v": self._v,
            "nodes": [self.node_dict(n) for n in m.nodes],
            "edges": [self.edge_dict(e) for e in m.edges.values()],
            "stats": self.stats(),
            "held": self.held_tokens(),
            "held_total": len(m.held),
        }

    def _take_snapshot(self) -> None:
        self.snapshot = self._everything()
        self._last_snapshot = self._now()
        self._snapshot_due = False

    # ------------------------------------------------------------------ hub
    def reset(self) -> None:
        """Send every node and link (a new front end, or a new layout)."""
        self._v += 1
        self._nodes.clear()
        self._edges.clear()
        self._counted_nodes.clear()
        self._counted_edges.clear()
        self._stats = self.stats()
        self._held_version = self.hub.mesh.held_version
        self.post({"type": "reset", **self._everything()})

    def tick(self, ch: Changes) -> None:
        """Send changed nodes and links (counters at most every ``counts_every``) and pulses."""
        m = self.hub.mesh
        self._nodes |= ch.nodes
        self._edges |= ch.edges
        self._counted_nodes |= ch.counted_nodes
        self._counted_edges |= ch.counted_edges
        now = self._now()
        if ch.flush or now - self._last_counts >= self.counts_every:
            self._nodes |= self._counted_nodes
            self._edges |= self._counted_edges
            self._counted_nodes, self._counted_edges = set(), set()
            self._last_counts = now
        pulses = [list(p) for p in ch.pulses]  # the hub took at most PULSES_PER_TICK
        structural = bool(ch.nodes or ch.edges)
        held_moved = m.held_version != self._held_version
        if self._nodes or self._edges or pulses or held_moved:
            msg: dict[str, Any] = {
                "type": "diff",
                "from": self._v,
                "v": self._v + 1,
                "nodes": [self.node_dict(n) for n in self._nodes if n in m.nodes],
                "edges": [self.edge_dict(m.edges[e]) for e in self._edges if e in m.edges],
                "gone_nodes": [],
                "gone_edges": [],
                "pulses": pulses,
            }
            if held_moved:
                msg["held"], msg["held_total"] = self.held_tokens(), len(m.held)
                self._held_version = m.held_version
                self._snapshot_due = True
            if structural:
                stats = self.stats()
                if stats != self._stats:
                    msg["stats"] = self._stats = stats
            self._snapshot_due = self._snapshot_due or bool(self._nodes or self._edges)
            self._nodes, self._edges = set(), set()
            self._v += 1
            self.post(msg)
        if self._snapshot_due and now - self._last_snapshot >= self.snapshot_every:
            self._take_snapshot()

    # ------------------------------------------------------------------ questions
    @property
    def graph(self) -> Any:
        """The mesh as a networkx ``MultiGraph`` (nodes by pid with ``label``; one edge per
        wire, keyed by its wire id, with its transport, tag, state, count...), for graph
        questions: paths, components, degrees. Parallel wires stay apart: two peers joined by
        a dc and a memory wire have two edges (``nx.Graph(view.graph)`` collapses them)."""
        import networkx as nx

        g = nx.MultiGraph()
        with self.hub.lock:
            for n in self.hub.mesh.nodes:
                g.add_node(n, **self.node_dict(n))
            for e in self.hub.mesh.edges.values():
                g.add_edge(e.a, e.b, key=e.id, **self.edge_dict(e))
        return g

    def links(self) -> list[tuple[str, str, str, str, int]]:
        """(name, name, transport, state, messages) per wire, sorted."""
        with self.hub.lock:
            return self.hub.mesh.links()

    def labels(self) -> list[str]:
        """The names of the peers drawn, in the order they appeared."""
        with self.hub.lock:
            return self.hub.mesh.labels()

    def relayout(self, method: str = "spring") -> None:
        """Place every peer again: ``"spring"`` (force-directed, relays in the middle) or
        ``"ring"`` (the default: relays in the middle, peers on a ring by name)."""
        with self.hub.lock:
            m = self.hub.mesh
            self.hub.layout.relayout(
                list(m.nodes),
                [(e.a, e.b) for e in m.edges.values()],
                self.hub.directory.roles,
                method,
                label=self.hub.directory.label,
            )
            self.reset()

    # ------------------------------------------------------------------ static export
    def to_png(self, dpi: int = 144) -> bytes:
        """The mesh as it is now, as a PNG (matplotlib; for reports and nbconvert)."""
        from gunrtc_kit.lab.views.export import mesh_figure, to_png

        with self.hub.lock:
            fig = mesh_figure({**self._everything(), "closed": self.closed})
        return to_png(fig, dpi)

    def to_svg(self) -> str:
        """The mesh as it is now, as SVG text."""
        from gunrtc_kit.lab.views.export import mesh_figure, to_svg

        with self.hub.lock:
            fig = mesh_figure({**self._everything(), "closed": self.closed})
        return to_svg(fig)
