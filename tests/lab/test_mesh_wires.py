"""Wires drawn as wires: two peers may share several wires (a dc, a ws, memory wires), each its
own edge in ``MeshView.graph`` and its own arc in the picture; no wire is drawn over a node
other than its ends; the ring is ordered by name with relays in the middle."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gunrtc_kit.diagnose.mesh import EdgeState, NodeState
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.lab.views import MeshView, ViewHub
from gunrtc_kit.lab.views.export import mesh_figure, to_png
from gunrtc_kit.lab.views.layout import (
    NODE_RADIUS,
    Curve,
    Pos,
    RingLayout,
    Wire,
    bezier_point,
    curve_clearance,
    name_key,
    wire_curves,
)


def wid(a: str, b: str, transport: str, tag: str = "") -> str:
    lo, hi = sorted((a, b))
    return f"{lo}|{hi}|{transport}|{tag}"


def wire(a: str, b: str, transport: str, tag: str = "") -> Wire:
    lo, hi = sorted((a, b))
    return Wire(wid(a, b, transport, tag), lo, hi, transport, tag)


def hits(pos: Pos, wires: list[Wire], curves: dict[str, Curve]) -> list[tuple[str, str, float]]:
    """(wire, node, distance) for every node a drawn wire passes within NODE_RADIUS of."""
    out = []
    for w in wires:
        c = curves[w.id]
        for n, (x, y) in pos.items():
            if n in (w.a, w.b):
                continue
            # measured finely here (256 pieces), not with the drawing's own 16
            d = curve_clearance(c, x, y, samples=256)
            if d < NODE_RADIUS - 1e-9:
                out.append((w.id, n, round(d, 4)))
    return out


def straight(pos: Pos, wires: list[Wire]) -> dict[str, Curve]:
    """The old drawing: every wire a straight chord."""
    return {
        w.id: Curve(*pos[w.a], *pos[w.a], *pos[w.b]) for w in wires if w.a in pos and w.b in pos
    }


def ring(names: dict[str, str], roles: dict[str, str]) -> RingLayout:
    lay = RingLayout()
    lay.update(list(names), roles, names.__getitem__)
    return lay


def test_notebook_01_the_dc_is_not_drawn_under_the_relay() -> None:
    # the notebook-01 situation: a relay, alice and bob, a dc between them and ws spokes
    names = {"p9f": "relay", "p3c": "bob", "p7a": "alice"}
    lay = ring(names, {"p9f": "relay"})
    assert lay.pos["p9f"] == (0.0, 0.0)
    wires = [wire("p7a", "p3c", "dc"), wire("p9f", "p7a", "ws"), wire("p9f", "p3c", "ws")]
    # the two peers stand opposite each other: their straight chord runs through the relay
    assert [h[:2] for h in hits(lay.pos, wires, straight(lay.pos, wires))] == [(wires[0].id, "p9f")]
    curves = wire_curves(lay.pos, wires)
    assert hits(lay.pos, wires, curves) == []
    dc = curves[wires[0].id]
    assert not dc.straight and (dc.x0, dc.y0) == lay.pos[wires[0].a]
    assert curves[wires[1].id].straight and curves[wires[2].id].straight  # spokes stay lines


@pytest.mark.parametrize("extra", [False, True])
def test_eight_peers_and_a_relay_no_wire_over_a_node(extra: bool) -> None:
    names = {f"p{i:02d}": f"peer{i}" for i in (5, 1, 8, 3, 2, 7, 4, 6)}  # not in name order
    names["r0"] = "relay"
    lay = ring(names, {"r0": "relay"})
    peers = [p for p in names if p != "r0"]
    wires = [wire("r0", p, "ws") for p in peers]
    wires += [wire(a, b, "dc") for i, a in enumerate(peers) for b in peers[i + 1 :]]
    if extra:  # parallel memory wires beside some dcs (opposite peers among them)
        wires += [wire("p01", "p05", "memory", "w1"), wire("p01", "p05", "memory", "w2")]
        wires += [wire("p02", "p03", "memory", "w3"), wire("r0", "p04", "memory", "w4")]
    assert hits(lay.pos, wires, straight(lay.pos, wires)), "the straight drawing hides wires"
    curves = wire_curves(lay.pos, wires)
    assert set(curves) == {w.id for w in wires}
    assert hits(lay.pos, wires, curves) == []


def test_parallel_wires_are_drawn_apart_symmetrically_in_a_stable_order() -> None:
    pos: Pos = {"a": (-1.0, 0.0), "b": (1.0, 0.0)}
    mem = wire("a", "b", "memory", "t1")
    dc = wire("a", "b", "dc")
    ws = wire("a", "b", "ws")
    curves = wire_curves(pos, [ws, mem, dc])
    apex = {w.transport: bezier_point(curves[w.id], 0.5)[1] for w in (ws, mem, dc)}
    # dc, memory, ws from one side to the other, the middle one on the chord
    assert apex["dc"] == pytest.approx(-apex["ws"]) and apex["dc"] != 0
    assert apex["memory"] == pytest.approx(0.0)
    assert wire_curves(pos, [dc, ws, mem]) == curves  # the order they came in does not matter
    two = wire_curves(pos, [mem, dc])
    y = sorted(bezier_point(c, 0.5)[1] for c in two.values())
    assert y[0] == pytest.approx(-y[1]) and y[1] > 0.02  # two wires: either side of the chord
    # a wire named b->a is the same arc, drawn from its own first end
    back = Wire("x", "b", "a", "dc")
    c = wire_curves(pos, [back, mem])["x"]
    assert (c.x0, c.y0) == pos["b"] and (c.x1, c.y1) == pos["a"]


def test_ring_is_ordered_by_name_with_relays_first() -> None:
    names = {"e1": "carol", "e2": "peer10", "e3": "alice", "e4": "peer2", "e5": "hub"}
    lay = ring(names, {"e5": "relay"})
    assert lay.pos["e5"] == (0.0, 0.0)
    start = math.atan2(lay.pos["e3"][1], lay.pos["e3"][0])

    def turn(n: str) -> float:
        return (math.atan2(lay.pos[n][1], lay.pos[n][0]) - start) % (2 * math.pi)

    assert sorted(["e1", "e2", "e3", "e4"], key=turn) == ["e3", "e1", "e4", "e2"]
    assert name_key("peer2") < name_key("peer10") < name_key("Peer11")
    # a name that arrives late moves its peer to its place; nothing else moves
    names["e1"] = "zed"
    moved = lay.update(list(names), {"e5": "relay"}, names.__getitem__)
    assert "e1" in moved and "e5" not in moved
    assert sorted(["e1", "e2", "e3", "e4"], key=turn)[-1] == "e1"


def test_spring_relayout_still_works() -> None:
    names = {f"n{i}": f"peer{i}" for i in range(6)} | {"r": "relay"}
    lay = RingLayout()
    edges = [("r", f"n{i}") for i in range(6)] + [("n0", "n3"), ("n0", "n3")]
    pos = lay.relayout(list(names), edges, {"r": "relay"}, "spring", label=names.__getitem__)
    assert set(pos) == set(names) and all(-1.0 <= c <= 1.0 for p in pos.values() for c in p)
    assert lay.method == "spring"
    assert lay.update([*names, "late"], {"r": "relay"}, lambda n: names.get(n, n)) == {
        "late": lay.pos["late"]
    }


# ---------- MeshView with wires (a model filled by hand) ----------


def wired_hub() -> tuple[ViewHub, dict[str, str]]:
    d = Directory(names={"pr": "relay", "pa": "alice", "pb": "bob"}, roles={"pr": "relay"})
    hub = ViewHub(d)
    m = hub.mesh
    for n in ("pr", "pa", "pb"):
        m.nodes[n] = NodeState(n, traced=True)
    ids = {
        "dc": wid("pa", "pb", "dc"),
        "mem": wid("pa", "pb", "memory", "m1"),
        "wa": wid("pr", "pa", "ws"),
        "wb": wid("pr", "pb", "ws"),
    }
    m.edges[ids["dc"]] = EdgeState(ids["dc"], "pa", "pb", "dc", count=4)
    m.edges[ids["mem"]] = EdgeState(ids["mem"], "pa", "pb", "memory", "m1", partitioned=True)
    m.edges[ids["wa"]] = EdgeState(ids["wa"], "pa", "pr", "ws", state="closed")
    m.edges[ids["wb"]] = EdgeState(ids["wb"], "pb", "pr", "ws", state="closed")
    with hub.lock:
        hub.layout.update(list(m.nodes), d.roles, d.label)
    return hub, ids


def test_graph_is_a_multigraph_with_one_edge_per_wire() -> None:
    import networkx as nx

    hub, ids = wired_hub()
    view = MeshView(hub)
    g = view.graph
    assert isinstance(g, nx.MultiGraph)
    assert g.number_of_edges("pa", "pb") == 2  # the dc and the memory wire, not collapsed
    between = g.get_edge_data("pa", "pb")
    assert set(between) == {ids["dc"], ids["mem"]}
    assert between[ids["mem"]]["tag"] == "m1" and between[ids["mem"]]["partitioned"]
    assert between[ids["dc"]]["tag"] == "" and between[ids["dc"]]["transport"] == "dc"
    assert view.edge_dict(hub.mesh.edges[ids["mem"]])["tag"] == "m1"
    assert g.number_of_edges() == 4
    snap = view.snapshot
    assert sorted(e["id"] for e in snap["edges"]) == sorted(ids.values())
    view.relayout("spring")
    view.relayout("ring")
    assert hub.layout.pos["pr"] == (0.0, 0.0)


def test_closed_is_a_synced_trait() -> None:
    hub, _ = wired_hub()
    view = MeshView(hub)
    assert view.closed is False
    assert "closed" in view.trait_names(sync=lambda v: v)
    view.closed = True
    assert view.closed is True


def figure_wires(fig: Any) -> dict[str, Any]:
    ax = fig.axes[0]
    return {p.get_gid()[5:]: p for p in ax.patches if (p.get_gid() or "").startswith("wire:")}


def test_png_export_draws_parallel_wires_apart() -> None:
    hub, ids = wired_hub()
    view = MeshView(hub)
    with hub.lock:
        state = view._everything()
    fig = mesh_figure({**state, "closed": True})
    drawn = figure_wires(fig)
    assert set(drawn) == set(ids.values())
    dc = drawn[ids["dc"]].get_path().vertices
    mem = drawn[ids["mem"]].get_path().vertices
    assert (dc[0] == mem[0]).all() and (dc[-1] == mem[-1]).all()  # the same two ends...
    assert math.dist(dc[1], mem[1]) > 0.05  # ...but apart
    assert drawn[ids["mem"]].get_edgecolor()[:3] == pytest.approx((220 / 255, 38 / 255, 38 / 255))
    assert drawn[ids["dc"]].get_edgecolor()[:3] == pytest.approx((22 / 255, 163 / 255, 74 / 255))
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "relay (stopped)" in labels and "alice" in labels  # both its wires are closed
    assert any("Lab closed" in t.get_text() for t in fig.texts)
    assert to_png(fig)[:4] == b"\x89PNG"
    assert view.to_png()[:4] == b"\x89PNG"
