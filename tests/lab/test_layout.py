"""Stable positions: a new peer never reorders the others, relays sit in the middle, a ring
drawn in the order it was built stays a ring."""

from __future__ import annotations

import math

from gunrtc_kit.lab.views.layout import RingLayout


def angle(p: tuple[float, float]) -> float:
    return math.atan2(p[1], p[0]) % (2 * math.pi)


def order(layout: RingLayout, nodes: list[str]) -> list[str]:
    start = angle(layout.pos[nodes[0]])
    return sorted(nodes, key=lambda n: (angle(layout.pos[n]) - start) % (2 * math.pi))


def test_new_peers_keep_the_order_of_the_others_and_relays_stay_in_the_middle() -> None:
    lay = RingLayout()
    roles = {"relay": "relay"}
    nodes = ["relay", "p0", "p1", "p2"]
    lay.update(nodes, roles)
    assert lay.pos["relay"] == (0.0, 0.0)
    before = order(lay, ["p0", "p1", "p2"])
    for i in range(3, 12):
        nodes.append(f"p{i}")
        moved = lay.update(nodes, roles)
        assert f"p{i}" in moved and "relay" not in moved
        peers = [n for n in nodes if n != "relay"]
        assert order(lay, peers)[: len(before)] == before  # nobody jumped past another
        before = order(lay, peers)
        assert all(math.isclose(math.hypot(*lay.pos[n]), 1.0, abs_tol=1e-3) for n in peers)
    assert lay.update(nodes, roles) == {}  # nothing new, nothing moves


def test_a_ring_stays_a_ring() -> None:
    lay = RingLayout()
    nodes = [f"p{i}" for i in range(12)]
    lay.update(nodes, {})
    # each ring neighbour is the nearest node: the picture is a ring
    for i, n in enumerate(nodes):
        nxt = nodes[(i + 1) % 12]
        others = sorted(nodes, key=lambda m: math.dist(lay.pos[n], lay.pos[m]))
        assert nxt in others[1:3]


def test_many_peers_use_concentric_rings_and_spring_is_repeatable() -> None:
    lay = RingLayout(per_ring=20)
    nodes = [f"p{i}" for i in range(55)]
    lay.update(nodes, {})
    radii = {round(math.hypot(*p), 2) for p in lay.pos.values()}
    assert len(radii) == 3
    xs = sorted(lay.pos.values())
    assert all(math.dist(a, b) > 0.05 for a, b in zip(xs, xs[1:], strict=False))
    edges = [(nodes[i], nodes[(i + 1) % 55]) for i in range(55)]
    one = RingLayout().relayout(nodes, edges, {}, "spring", seed=3)
    two = RingLayout().relayout(nodes, edges, {}, "spring", seed=3)
    assert one == two and all(-1.0 <= c <= 1.0 for p in one.values() for c in p)
