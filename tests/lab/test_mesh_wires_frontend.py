"""Wires drawn as wires, in a real browser (the harness of test_frontend.py): two wires
between one pair are two paths apart, each styled by its own transport and state; a pulse
follows the wire it was said on; hovering or clicking a wire picks that wire; a relay whose
wires all closed is drawn stopped; a closed Lab puts a banner on the view."""

from __future__ import annotations

from typing import Any

from tests.lab import test_frontend as fe
from tests.lab.test_frontend import (
    ARTIFACTS,
    MESH,
    edge,
    mesh_diff,
    mount,
    node,
    py_send,
    py_set,
    root,
    trait,
)

# the browser, the harness's http server and a page with it loaded, as test_frontend.py has them
server, browser, page = fe.server, fe.browser, fe.page

DC = "p-alice|p-bob|dc|"
MEM = "p-alice|p-bob|memory|w1"
WS_A = "p-alice|p-relay|ws|"
WS_B = "p-bob|p-relay|ws|"


def wire(a: str, b: str, transport: str, tag: str = "", **kw: Any) -> dict[str, Any]:
    d = edge(a, b, transport, **kw)
    d["id"] = f"{d['a']}|{d['b']}|{transport}|{tag}"
    d["tag"] = tag
    return d


def two_wires() -> dict[str, Any]:
    """Notebook 01's mesh (a relay in the middle, alice and bob opposite on the ring) with a
    partitioned memory wire beside an open dc between alice and bob."""
    return {
        "type": "reset",
        "v": 1,
        "nodes": [
            node("p-relay", "relay", 0.0, 0.0, "relay"),
            node("p-alice", "alice", 0.0, -1.0),
            node("p-bob", "bob", 0.0, 1.0),
        ],
        "edges": [
            wire("p-alice", "p-bob", "dc", count=12, rate=4.0),
            wire("p-alice", "p-bob", "memory", "w1", partitioned=True),
            wire("p-relay", "p-alice", "ws", count=5),
            wire("p-relay", "p-bob", "ws", count=5),
        ],
        "stats": {"peers": 3, "links": 4, "partitions": 1},
    }


# In the browser: facts about a path (its geometry from the SVG itself).
PATH_FACTS = """e => {
  const s = getComputedStyle(e);
  const L = e.getTotalLength();
  const pts = [];
  for (let i = 0; i <= 256; i++) {
    const p = e.getPointAtLength(L * i / 256);
    pts.push([p.x, p.y]);
  }
  return {tag: e.tagName, d: e.getAttribute('d'), cls: e.getAttribute('class'), stroke: s.stroke,
          dash: s.strokeDasharray, pts};
}"""
NODE_AT = """e => { const m = e.getCTM(); return [m.e, m.f]; }"""


def dist_to(pts: list[list[float]], x: float, y: float) -> float:
    return float(min(((px - x) ** 2 + (py - y) ** 2) ** 0.5 for px, py in pts))


def client_mid(page: Any, eid: str) -> tuple[float, float]:
    """The middle of a wire's path, in page coordinates (for the mouse)."""
    xy = page.eval_on_selector(
        f'.gk-edge[data-id="{eid}"]',
        """e => { const L = e.getTotalLength(); const p = e.getPointAtLength(L / 2);
                  const q = new DOMPoint(p.x, p.y).matrixTransform(e.getScreenCTM());
                  return [q.x, q.y]; }""",
    )
    return float(xy[0]), float(xy[1])


def test_two_wires_between_one_pair(page: Any) -> None:
    h = mount(page, "mesh", MESH)
    py_send(page, h, two_wires())
    dc = page.eval_on_selector(f'.gk-edge[data-id="{DC}"]', PATH_FACTS)
    mem = page.eval_on_selector(f'.gk-edge[data-id="{MEM}"]', PATH_FACTS)
    # two distinct paths with different geometry...
    assert dc["tag"] == mem["tag"] == "path"
    assert dc["d"] != mem["d"] and "Q" in dc["d"] and "Q" in mem["d"]
    assert dc["pts"][0] == mem["pts"][0] or dc["pts"][-1] == mem["pts"][-1]  # same ends
    mid_gap = dist_to(mem["pts"], *dc["pts"][128])
    assert mid_gap > 6, f"the two wires are drawn apart ({mid_gap:.1f} px at the middle)"
    # ...and their own styles: an open green dc, a red dashed partitioned memory wire
    assert "gk-t-dc" in dc["cls"] and "gk-s-open" in dc["cls"] and dc["dash"] == "none"
    assert "gk-t-memory" in mem["cls"] and "gk-partitioned" in mem["cls"]
    assert dc["stroke"] == "rgb(22, 163, 74)" and mem["stroke"] == "rgb(220, 38, 38)"
    assert mem["dash"] != "none"
    # neither runs under the relay in the middle (its straight chord would)
    rx, ry = page.eval_on_selector('.gk-node[data-id="p-relay"]', NODE_AT)
    for facts in (dc, mem):
        assert dist_to(facts["pts"], rx, ry) > 11 + 4, "a wire passes over the relay"
    # the spokes stay straight lines
    assert "Q" not in page.get_attribute(f'.gk-edge[data-id="{WS_A}"]', "d")
    labels = page.eval_on_selector_all(".gk-edge-label", "es => es.map(e => e.textContent)")
    assert labels == ["partitioned"]

    # a pulse said on the memory wire travels along the memory wire's curve
    py_send(page, h, mesh_diff(1, pulses=[[MEM, "p-bob", "put"]]))
    page.wait_for_timeout(180)
    cx, cy = page.eval_on_selector(
        ".gk-pulse", "e => [+e.getAttribute('cx'), +e.getAttribute('cy')]"
    )
    assert dist_to(mem["pts"], cx, cy) < 1.5 and dist_to(dc["pts"], cx, cy) > 3, (cx, cy)

    # hover and click each wire: that wire, its transport and state named
    tip = page.locator(".gk-tooltip")
    page.mouse.move(*client_mid(page, MEM))
    text = tip.text_content() or ""
    assert "alice ↔ bob" in text and "memory" in text and "partitioned" in text, text
    page.mouse.click(*client_mid(page, MEM))
    assert trait(page, h, "selected_edge") == MEM
    page.mouse.move(*client_mid(page, DC))
    text = tip.text_content() or ""
    assert "dc" in text and "open" in text and "memory" not in text, text
    page.mouse.click(*client_mid(page, DC))
    assert trait(page, h, "selected_edge") == DC
    assert "gk-selected" in (page.get_attribute(f'.gk-edge[data-id="{DC}"]', "class") or "")
    assert page.get_attribute(".gk-edge-halo", "d") == dc["d"]
    page.mouse.move(5, 5)
    page.wait_for_function("() => !document.querySelector('.gk-pulse')", timeout=2000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(root(h)).screenshot(path=str(ARTIFACTS / "mesh-two-wires.png"))


def test_a_wire_removed_lets_the_other_straighten_and_a_stopped_relay(page: Any) -> None:
    h = mount(page, "mesh", MESH)
    reset = two_wires()
    # bob beside alice (not opposite): the pair's chord is clear of the relay
    reset["nodes"][2] = node("p-bob", "bob", 0.9, -1.0)
    py_send(page, h, reset)
    assert "Q" in (page.get_attribute(f'.gk-edge[data-id="{DC}"]', "d") or "")
    py_send(page, h, mesh_diff(1, gone_edges=[MEM]))
    assert "Q" not in (page.get_attribute(f'.gk-edge[data-id="{DC}"]', "d") or "")
    label = '.gk-node[data-id="p-relay"] .gk-node-label'
    assert page.text_content(label) == "relay"
    closed = [wire("p-relay", p, "ws", state="closed") for p in ("p-alice", "p-bob")]
    py_send(page, h, mesh_diff(2, edges=closed))
    assert page.text_content(label) == "relay (stopped)"
    relay = '.gk-node[data-id="p-relay"]'
    assert "gk-stopped" in (page.get_attribute(relay, "class") or "")
    assert float(page.eval_on_selector(relay, "e => getComputedStyle(e).opacity")) < 0.7
    assert "(stopped)" not in (page.text_content('.gk-node[data-id="p-alice"]') or "")
    py_send(page, h, mesh_diff(3, edges=[wire("p-relay", "p-bob", "ws")]))
    assert page.text_content(label) == "relay"


def test_closed_lab_banner(page: Any) -> None:
    h = mount(page, "mesh", {**MESH, "closed": False})
    py_send(page, h, two_wires())
    banner = page.locator(f"{root(h)} .gk-closed-banner")
    assert not banner.is_visible()
    py_set(page, h, "closed", True)
    assert banner.is_visible()
    assert banner.text_content() == "Lab closed — this view no longer updates"
    assert (page.text_content(f"{root(h)} .gk-title") or "").endswith("(closed)")
    assert (page.text_content(f"{root(h)} .gk-status") or "").endswith("· closed")
    page.locator(root(h)).screenshot(path=str(ARTIFACTS / "mesh-closed.png"))
    py_set(page, h, "closed", False)
    assert not banner.is_visible()


# Every drawn wire's smallest distance (px) to the centre of a node other than its ends.
CLEARANCES = """() => {
  const at = {};
  for (const g of document.querySelectorAll('.gk-node')) {
    const m = g.getCTM(); at[g.getAttribute('data-id')] = [m.e, m.f];
  }
  const out = [];
  for (const e of document.querySelectorAll('path.gk-edge')) {
    const [a, b] = e.getAttribute('data-id').split('|');
    const L = e.getTotalLength();
    let worst = Infinity, near = '';
    for (let i = 0; i <= 200; i++) {
      const p = e.getPointAtLength(L * i / 200);
      for (const [id, [x, y]] of Object.entries(at)) {
        if (id === a || id === b) continue;
        const d = Math.hypot(p.x - x, p.y - y);
        if (d < worst) { worst = d; near = id; }
      }
    }
    out.push([e.getAttribute('data-id'), near, worst]);
  }
  return out;
}"""


def test_eight_peers_and_a_relay_no_wire_drawn_over_a_node(page: Any) -> None:
    from gunrtc_kit.lab.views.layout import RingLayout

    names = {f"p{i}": f"peer{i}" for i in range(1, 9)} | {"r0": "relay"}
    lay = RingLayout()
    lay.update(list(names), {"r0": "relay"}, names.__getitem__)
    peers = [p for p in names if p != "r0"]
    nodes = [node(p, names[p], *lay.pos[p], "relay" if p == "r0" else "peer") for p in names]
    edges = [wire("r0", p, "ws") for p in peers]
    edges += [wire(a, b, "dc") for i, a in enumerate(peers) for b in peers[i + 1 :]]
    edges += [wire("p1", "p5", "memory", "m1"), wire("p1", "p5", "memory", "m2")]
    h = mount(page, "mesh", {**MESH, "height": 520})
    py_send(page, h, {"type": "reset", "v": 1, "nodes": nodes, "edges": edges})
    found = page.evaluate(CLEARANCES)
    assert len(found) == len(edges) == 8 + 28 + 2
    # a peer is drawn with radius 8, the relay a 22 px square (its corners ~15.6 px out)
    close = [(w, n, round(d, 1)) for w, n, d in found if d < (16 if n == "r0" else 9)]
    assert close == []
    page.locator(root(h)).screenshot(path=str(ARTIFACTS / "mesh-eight-peers.png"))
