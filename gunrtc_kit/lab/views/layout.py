"""Where each peer is drawn: stable, so a picture can be read as it changes.

The default is a ring in the order peers appeared, with relays in the middle. A new peer takes
the next place on the ring and the others slide along it to make room: their order never
changes, so nothing jumps across the picture (the browser animates the slide), and a mesh
built as a ring is drawn as a ring. With many peers the ring is split into concentric rings
(at most ``per_ring`` each) so labels do not collide.

``relayout(method)`` is the explicit way to ask for something else: ``"spring"`` places peers
with networkx's force-directed layout (relays pinned to the middle), seeded so it is
repeatable. After that, new peers are placed next to what they link to, and the others stay.
Positions are in layout units, x and y in [-1, 1] (y grows downwards, as on screen).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["CENTRE_ROLES", "Pos", "RingLayout"]

Pos = dict[str, tuple[float, float]]
CENTRE_ROLES = frozenset({"relay", "external"})  # drawn in the middle: relays, ours or not


class RingLayout:
    """Stable positions for entities; ``update`` returns the ones that moved."""

    def __init__(self, per_ring: int = 40) -> None:
        self.per_ring = per_ring
        self.pos: Pos = {}
        self.method = "ring"
        self._order: list[str] = []
        self._centre: list[str] = []

    def update(self, nodes: Sequence[str], roles: dict[str, str]) -> Pos:
        """Place ``nodes`` (in the order they appeared); returns {entity: new position} for
        each one placed or moved."""
        known = set(self._order) | set(self._centre)
        fresh = [n for n in nodes if n not in known]
        gone = known - set(nodes)
        if not fresh and not gone and not self._roles_changed(roles):
            return {}
        self._order = [n for n in self._order if n not in gone]
        self._centre = [n for n in self._centre if n not in gone]
        for n in fresh:
            (self._centre if roles.get(n) in CENTRE_ROLES else self._order).append(n)
        # a peer that became a relay (its name arrived late) moves to the middle
        for n in [n for n in self._order if roles.get(n) in CENTRE_ROLES]:
            self._order.remove(n)
            self._centre.append(n)
        if self.method == "spring" and not gone:
            new = dict(self.pos)
            new.update(self._near_links(fresh))
        else:
            new = self._ring()
        moved = {n: p for n, p in new.items() if self.pos.get(n) != p}
        self.pos = {n: new[n] for n in nodes if n in new}
        return moved

    def _roles_changed(self, roles: dict[str, str]) -> bool:
        return any(roles.get(n) in CENTRE_ROLES for n in self._order) or any(
            roles.get(n) not in CENTRE_ROLES for n in self._centre
        )

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
    ) -> Pos:
        """Place every node again by ``method`` (``"ring"`` or ``"spring"``); returns all."""
        if method not in ("ring", "spring"):
            raise ValueError(f"method={method!r}, expected 'ring' or 'spring'")
        self.method = method
        self.pos = {}
        self._order, self._centre = [], []
        if method == "ring":
            return self.update(nodes, roles)
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(nodes)
        g.add_edges_from((a, b) for a, b in edges if a in g and b in g)
        centre = [n for n in nodes if roles.get(n) in CENTRE_ROLES]
        fixed = {n: (0.0, 0.0) for n in centre}
        if not g.number_of_nodes():
            return {}
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
        self._order = [n for n in nodes if n not in fixed]
        self._centre = centre
        return dict(self.pos)
