"""Where each peer is drawn, and how each wire between two peers is drawn: stable, so a
picture can be read as it changes, and honest, so no wire hides behind another or a node.

The default is a ring with relays in the middle, peers ordered by name (``peer2`` before
``peer10``), so a mesh built as a ring of names is drawn as a ring and its edges do not cross
needlessly. A new peer takes its place on the ring and the others slide along it to make room:
their order never changes (only a name that arrives late moves its peer), so nothing jumps
across the picture (the browser animates the slide). With many peers the ring is split into
concentric rings (at most ``per_ring`` each) so labels do not collide.

``relayout(method)`` is the explicit way to ask for something else: ``"spring"`` places peers
with networkx's force-directed layout (relays pinned to the middle), seeded so it is
repeatable. After that, new peers are placed next to what they link to, and the others stay.
Positions are in layout units, x and y in [-1, 1] (y grows downwards, as on screen).

``wire_curves`` says how each wire is drawn: two peers may share several wires (a ws, a dc,
memory wires), drawn apart as symmetric arcs around their chord in a stable order (transport,
then tag); and a wire whose chord would pass over a third node (a chord between opposite peers
passes under a central relay) is bent around it. ``static/mesh.js`` runs the same steps in
pixels; ``export.mesh_figure`` uses this one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

__all__ = [
    "CENTRE_ROLES",
    "NODE_RADIUS",
    "WIRE_SPACING",
    "Curve",
    "Pos",
    "RingLayout",
    "Wire",
    "bezier_point",
    "curve_clearance",
    "name_key",
    "wire_curves",
]

Pos = dict[str, tuple[float, float]]
CENTRE_ROLES = frozenset({"relay", "external"})  # drawn in the middle: relays, ours or not
NODE_RADIUS = 0.08  # layout units a wire keeps clear of a node's centre (a node and a margin)
WIRE_SPACING = 0.07  # layout units between the apexes of two parallel wires
SAMPLES = 16  # segments a curve is cut into when its distance to a node is measured


def name_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for names with numbers in them: ``peer2`` before ``peer10``."""
    parts = re.split(r"(\d+)", name.casefold())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


class RingLayout:
    """Stable positions for entities; ``update`` returns the ones that moved."""

    def __init__(self, per_ring: int = 40) -> None:
        self.per_ring = per_ring
        self.pos: Pos = {}
        self.method = "ring"
        self._order: list[str] = []
        self._centre: list[str] = []

    def update(
        self,
        nodes: Sequence[str],
        roles: dict[str, str],
        label: Callable[[str], str] | None = None,
    ) -> Pos:
        """Place ``nodes``: relays in the middle, peers on the ring by ``label`` (their name;
        the entity itself when not given). Returns {entity: new position} for each one placed
        or moved."""
        known = set(self._order) | set(self._centre)
        fresh = [n for n in nodes if n not in known]
        gone = known - set(nodes)
        centre, order = self._sorted(nodes, roles, label)
        if not fresh and not gone and centre == self._centre and order == self._order:
            return {}
        self._centre, self._order = centre, order
        if self.method == "spring" and not gone:
            new = dict(self.pos)
            new.update(self._near_links(fresh))
        else:
            new = self._ring()
        moved = {n: p for n, p in new.items() if self.pos.get(n) != p}
        self.pos = {n: new[n] for n in nodes if n in new}
        return moved

    @staticmethod
    def _sorted(
        nodes: Sequence[str], roles: dict[str, str], label: Callable[[str], str] | None
    ) -> tuple[list[str], list[str]]:
        """(centre, ring): each by name, then entity (two peers may share a name)."""

        def key(n: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
            return name_key(label(n) if label else n), n

        centre = sorted((n for n in nodes if roles.get(n) in CENTRE_ROLES), key=key)
        ring = sorted((n for n in nodes if roles.get(n) not in CENTRE_ROLES), key=key)
        return centre, ring

    def _ring(self) -> Pos:
        out: Pos = {}
        k = len(self._centre)
        for i, n in enumerate(self._centre):
            if k == 1:
                out[n] = (0.0, 0.0)
            else:
                a = 2 * math.pi * i / k - math.pi / 2
                out[n] = (round(0.22 * math.cos(a), 4), round(0.22 * math.sin(a), 4))
        rings = max(1, math.ceil(len(self._order) / self.per_ring))
        for i, n in enumerate(self._order):
            ring = i // self.per_ring
            on_ring = min(self.per_ring, len(self._order) - ring * self.per_ring)
            j = i - ring * self.per_ring
            radius = 1.0 - 0.55 * ring / rings if rings > 1 else 1.0
            a = 2 * math.pi * j / max(on_ring, 1) - math.pi / 2 + (0.5 * ring / max(on_ring, 1))
            out[n] = (round(radius * math.cos(a), 4), round(radius * math.sin(a), 4))
        return out

    def _near_links(self, fresh: Iterable[str]) -> Pos:
        out: Pos = {}
        for i, n in enumerate(fresh):
            a = 2 * math.pi * ((len(self.pos) + i) * 0.618034 % 1.0)
            out[n] = (round(0.95 * math.cos(a), 4), round(0.95 * math.sin(a), 4))
        return out

    def relayout(
        self,
        nodes: Sequence[str],
        edges: Iterable[tuple[str, str]],
        roles: dict[str, str],
        method: str = "spring",
        seed: int = 7,
        label: Callable[[str], str] | None = None,
    ) -> Pos:
        """Place every node again by ``method`` (``"ring"`` or ``"spring"``); returns all."""
        if method not in ("ring", "spring"):
            raise ValueError(f"method={method!r}, expected 'ring' or 'spring'")
        self.method = method
        self.pos = {}
        self._order, self._centre = [], []
        if method == "ring":
            return self.update(nodes, roles, label)
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(nodes)
        g.add_edges_from((a, b) for a, b in edges if a in g and b in g)
        if not g.number_of_nodes():
            return {}
        self._centre, self._order = self._sorted(nodes, roles, label)
        fixed = {n: (0.0, 0.0) for n in self._centre}
        raw = nx.spring_layout(
            g,
            pos={n: list(p) for n, p in fixed.items()} or None,
            fixed=list(fixed) or None,
            seed=seed,
        )
        xs = [abs(float(p[0])) for p in raw.values()] + [abs(float(p[1])) for p in raw.values()]
        scale = max(xs) or 1.0
        self.pos = {
            n: (round(float(p[0]) / scale, 4), round(float(p[1]) / scale, 4))
            for n, p in raw.items()
        }
        return dict(self.pos)


# ---------------------------------------------------------------------- wires
class Wire(NamedTuple):
    """What the drawing needs of one wire: its id, its two ends, transport and tag."""

    id: str
    a: str
    b: str
    transport: str = "?"
    tag: str = ""


class Curve(NamedTuple):
    """A wire as a quadratic Bézier: from ``a``'s centre through control ``c`` to ``b``'s."""

    x0: float
    y0: float
    cx: float
    cy: float
    x1: float
    y1: float

    @property
    def straight(self) -> bool:
        """True when the control point lies on the chord (drawn as a line)."""
        cross = (self.x1 - self.x0) * (self.cy - self.y0) - (self.y1 - self.y0) * (
            self.cx - self.x0
        )
        return abs(cross) < 1e-12


def bezier_point(c: Curve, t: float) -> tuple[float, float]:
    """The point at ``t`` in [0, 1] along ``c`` (0 at ``a``, 1 at ``b``)."""
    u = 1.0 - t
    return (
        u * u * c.x0 + 2 * u * t * c.cx + t * t * c.x1,
        u * u * c.y0 + 2 * u * t * c.cy + t * t * c.y1,
    )


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / n))
    return math.hypot(ax + t * dx - px, ay + t * dy - py)


def curve_clearance(c: Curve, x: float, y: float, samples: int = SAMPLES) -> float:
    """How close ``c`` comes to the point (x, y) (measured on ``samples`` straight pieces)."""
    if c.straight:
        return _segment_distance(x, y, c.x0, c.y0, c.x1, c.y1)
    pts = [bezier_point(c, i / samples) for i in range(samples + 1)]
    return min(_segment_distance(x, y, *p, *q) for p, q in zip(pts, pts[1:], strict=False))


def _pair_curve(pa: tuple[float, float], pb: tuple[float, float], offset: float) -> Curve:
    """The arc from ``pa`` to ``pb`` whose apex stands ``offset`` off the chord's middle, on
    the left of pa->pb (negative: the right)."""
    (x0, y0), (x1, y1) = pa, pb
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    nx_, ny_ = -(y1 - y0) / length, (x1 - x0) / length
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    return Curve(x0, y0, mx + 2 * offset * nx_, my + 2 * offset * ny_, x1, y1)


def _worst(curves: Sequence[Curve], others: Sequence[tuple[float, float]]) -> float:
    """The smallest distance between any of ``curves`` and any point of ``others``."""
    best = math.inf
    for c in curves:
        lo_x = min(c.x0, c.x1, c.cx) - NODE_RADIUS * 4
        hi_x = max(c.x0, c.x1, c.cx) + NODE_RADIUS * 4
        lo_y = min(c.y0, c.y1, c.cy) - NODE_RADIUS * 4
        hi_y = max(c.y0, c.y1, c.cy) + NODE_RADIUS * 4
        for x, y in others:
            if lo_x <= x <= hi_x and lo_y <= y <= hi_y:
                best = min(best, curve_clearance(c, x, y))
    return best


def _bend(
    pa: tuple[float, float],
    pb: tuple[float, float],
    offsets: Sequence[float],
    others: Sequence[tuple[float, float]],
    radius: float,
) -> float:
    """The smallest shift of a bundle of wires (apex ``offsets``) that keeps every wire at
    least ``radius`` from every point of ``others``; the best one found when none does."""
    length = math.hypot(pb[0] - pa[0], pb[1] - pa[1])
    if length == 0:
        return 0.0
    nx_, ny_ = -(pb[1] - pa[1]) / length, (pb[0] - pa[0]) / length
    mx, my = (pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2
    dist = {p: _segment_distance(p[0], p[1], pa[0], pa[1], pb[0], pb[1]) for p in others}
    near = [p for p in others if dist[p] < radius * 3]
    side = 1.0
    if near:
        x, y = min(near, key=lambda p: dist[p])
        side = -1.0 if (x - mx) * nx_ + (y - my) * ny_ > 1e-9 else 1.0
    step = radius / 2
    best, best_gap = 0.0, -1.0
    for k in range(int(0.6 * length / step) + 1):
        for shift in (0.0,) if k == 0 else (side * k * step, -side * k * step):
            gap = _worst([_pair_curve(pa, pb, shift + o) for o in offsets], others)
            if gap >= radius:
                return shift
            if gap > best_gap:
                best, best_gap = shift, gap
    return best


def wire_curves(
    pos: Pos,
    wires: Iterable[Wire],
    radius: float = NODE_RADIUS,
    spacing: float = WIRE_SPACING,
) -> dict[str, Curve]:
    """How each wire is drawn (by wire id): the wires of one pair as symmetric arcs around
    their chord, ordered by transport then tag, the bundle bent (as little as it can be) so
    that no wire passes within ``radius`` of a node other than its ends. Wires whose ends
    have no position are left out."""
    pairs: dict[tuple[str, str], list[Wire]] = {}
    for w in wires:
        if w.a in pos and w.b in pos and w.a != w.b:
            pairs.setdefault((min(w.a, w.b), max(w.a, w.b)), []).append(w)
    out: dict[str, Curve] = {}
    for (a, b), ws in pairs.items():
        ws.sort(key=lambda w: (w.transport, w.tag, w.id))
        offsets = [(i - (len(ws) - 1) / 2) * spacing for i in range(len(ws))]
        others = [p for n, p in pos.items() if n != a and n != b]
        shift = _bend(pos[a], pos[b], offsets, others, radius)
        for w, o in zip(ws, offsets, strict=True):
            c = _pair_curve(pos[a], pos[b], shift + o)
            # each wire's own a->b direction: the same arc, drawn from its own first end
            out[w.id] = c if w.a == a else Curve(c.x1, c.y1, c.cx, c.cy, c.x0, c.y0)
    return out
