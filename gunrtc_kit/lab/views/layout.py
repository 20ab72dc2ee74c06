"""Where each peer is drawn: pure, seeded, and stable from frame to frame.

Nodes that were placed before keep their place (networkx ``spring_layout`` with ``fixed``),
so the mesh does not jump around as peers join. Kept apart from rendering so it can be tested
without drawing anything.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

__all__ = ["place"]

Pos = dict[str, tuple[float, float]]


def place(graph: Any, prev: Pos | None = None, seed: int = 0) -> Pos:
    nodes = list(graph.nodes)
    if not nodes:
        return {}
    prev = {n: p for n, p in (prev or {}).items() if n in graph}
    if len(nodes) == 1:
        return {nodes[0]: prev.get(nodes[0], (0.0, 0.0))}
    if len(prev) == len(nodes):
        return prev
    if not prev:
        pos = nx.circular_layout(graph) if len(nodes) <= 12 else nx.spring_layout(graph, seed=seed)
    else:
        pos = nx.spring_layout(
            graph,
            pos={n: list(p) for n, p in prev.items()} or None,
            fixed=list(prev) or None,
            seed=seed,
        )
    return {n: (float(p[0]), float(p[1])) for n, p in pos.items()}
