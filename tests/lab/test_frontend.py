"""The views' ES modules in a real browser, without Jupyter.

tests/lab/frontend/harness.html mounts a module from gunrtc_kit/lab/views/static/ with a fake
anywidget model (tests/lab/frontend/fake_model.js): the test plays Python (sets traits,
delivers custom messages, reads what the view sent) and asserts on the DOM. The repository is
served over http on 127.0.0.1 (ES module imports need http), the browser is Debian's chromium
driven headless by Playwright, never a downloaded one. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import functools
import http.server
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit.lab.views.flow_view import default_filters
from tests.jlab import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".css": "text/css",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(ROOT))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="frontend-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian chromium missing: scripts/setup-tests installs it (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    p = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.goto(f"{server}/tests/lab/frontend/harness.html")
    p.wait_for_function("() => window.gk && window.gk.ready")
    yield p
    p.close()
    assert not errors, errors


# ---------- helpers: play Python ----------


def mount(page: Any, name: str, traits: dict[str, Any], **opts: Any) -> int:
    return int(page.evaluate("([n, t, o]) => gk.mount(n, t, o)", [name, traits, opts]))


def py_send(page: Any, h: int, msg: dict[str, Any]) -> None:
    page.evaluate("([h, m]) => gk.views[h].model.py.send(m)", [h, msg])


def py_set(page: Any, h: int, name: str, value: Any) -> None:
    page.evaluate("([h, n, v]) => gk.views[h].model.py.set(n, v)", [h, name, value])


def sent(page: Any, h: int) -> list[dict[str, Any]]:
    return list(page.evaluate("h => gk.views[h].model.sent", h))


def trait(page: Any, h: int, name: str) -> Any:
    return page.evaluate("([h, n]) => gk.views[h].model.get(n)", [h, name])


def saved(page: Any, h: int) -> dict[str, Any]:
    """Every trait the view saved (the last value of each)."""
    out: dict[str, Any] = {}
    for s in page.evaluate("h => gk.views[h].model.saves", h):
        out.update(s)
    return out


def root(h: int) -> str:
    return f'.mount[data-h="{h}"] > .gk-view'


def updates(page: Any, h: int) -> int:
    return int(page.get_attribute(root(h), "data-updates") or 0)


def luminance(css: str) -> float:
    """Relative luminance of a computed colour: rgb()/rgba(), or color(srgb r g b) from
    color-mix() (alpha ignored)."""
    inner = css[css.index("(") + 1 : css.index(")")]
    scale = 1.0 if css.startswith("color(") else 255.0
    nums = [float(x) for x in inner.replace("srgb", "").replace("/", " ").replace(",", " ").split()]
    r, g, b = (c / scale for c in nums[:3])

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def shot(page: Any, selector: str, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(selector).screenshot(path=str(ARTIFACTS / f"frontend-{name}.png"))


# ---------- fixtures of data ----------


def node(pid: str, label: str, x: float, y: float, role: str = "peer", **kw: Any) -> dict[str, Any]:
    d = {
        "id": pid,
        "pid": pid,
        "label": label,
        "role": role,
        "x": x,
        "y": y,
        "said": 0,
        "heard": 0,
        "dropped": 0,
        "lost": 0,
        "errors": 0,
        "puts": 0,
    }
    d.update(kw)
    return d


def edge(a: str, b: str, transport: str = "ws", state: str = "open", **kw: Any) -> dict[str, Any]:
    a, b = sorted((a, b))
    d = {
        "id": f"{a}|{b}",
        "a": a,
        "b": b,
        "transport": transport,
        "state": state,
        "count": 0,
        "rate": 0.0,
        "lost": 0,
        "latency": None,
        "loss": None,
        "partitioned": False,
    }
    d.update(kw)
    return d


def small_mesh() -> dict[str, Any]:
    nodes = [
        node("p-relay", "relay", 0.0, 0.0, "relay", said=120, heard=118),
        node("p-alice", "alice", -0.8, -0.6, said=40, heard=77, puts=3),
        node("p-bob", "bob", 0.8, -0.6, said=31, heard=80, dropped=4),
        node("p-carol", "carol", -0.8, 0.7, lost=2),
        node("p-dave", "dave", 0.8, 0.7, errors=1),
        node("p-gun", "gun.js relay", 0.45, -0.95, "external"),
        node("p-erin", "erin", 0.0, 0.95),
    ]
    edges = [
        edge("p-relay", "p-alice", "ws", count=50, rate=12.0),
        edge("p-relay", "p-bob", "ws", count=48, rate=3.0),
        edge("p-alice", "p-bob", "dc", count=20, rate=30.0),
        edge("p-relay", "p-carol", "memory", count=9, rate=1.0, latency=0.05, loss=0.1),
        edge("p-relay", "p-dave", "memory", count=2, partitioned=True),
        edge("p-carol", "p-dave", "dc", "connecting"),
        edge("p-relay", "p-gun", "ws", count=7, rate=0.5),
        edge("p-erin", "p-dave", "dc", "closed", count=3),
        edge("p-erin", "p-relay", "ws", count=11, rate=2.0),
    ]
    return {
        "type": "reset",
        "v": 1,
        "nodes": nodes,
        "edges": edges,
        "stats": {"peers": 7, "links": 9, "partitions": 2},
    }


def ids(page: Any, selector: str) -> list[str]:
    found = page.eval_on_selector_all(selector, "es => es.map(e => e.getAttribute('data-id'))")
    return sorted(found)


MESH = {"height": 420, "title": "Mesh", "selected_node": "", "selected_edge": ""}


def mesh_diff(v: int, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": "diff",
        "from": v,
        "v": v + 1,
        "nodes": [],
        "edges": [],
        "gone_nodes": [],
        "gone_edges": [],
        "pulses": [],
    }
    d.update(kw)
    return d


def centre(page: Any, selector: str) -> tuple[float, float]:
    b = page.locator(selector).bounding_box()
    return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2


WIDTH = "e => parseFloat(e.style.strokeWidth)"


# ---------- MeshView ----------


def test_mesh_reset_and_diff(page: Any) -> None:
    h = mount(page, "mesh", MESH)
    assert sent(page, h) == [{"type": "hello"}]
    reset = small_mesh()
    py_send(page, h, reset)
    assert ids(page, ".gk-node") == sorted(n["id"] for n in reset["nodes"])
    assert ids(page, ".gk-edge") == sorted(e["id"] for e in reset["edges"])
    assert page.text_content(".gk-status") == "7 peers · 9 links · 2 partitions"
    labels = page.eval_on_selector_all(".gk-edge-label", "es => es.map(e => e.textContent)")
    assert sorted(labels) == ["50 ms · 10% loss", "partitioned"]
    assert "gk-s-connecting" in page.get_attribute('.gk-edge[data-id="p-carol|p-dave"]', "class")
    assert "gk-t-dc" in page.get_attribute('.gk-edge[data-id="p-alice|p-bob"]', "class")
    w_fast = page.eval_on_selector('.gk-edge[data-id="p-alice|p-bob"]', WIDTH)
    w_slow = page.eval_on_selector('.gk-edge[data-id="p-gun|p-relay"]', WIDTH)
    assert w_fast == pytest.approx(min(8, 1.5 + math.log2(31)), abs=0.13) and w_slow < w_fast
    assert updates(page, h) == 1

    # mark every element, then a diff naming one node and one edge
    before = page.evaluate("() => gk.scenarios.snapshotMesh(true)")
    bob = dict(reset["nodes"][2], label="bobby", heard=81)
    ab = dict(reset["edges"][2], state="connecting", rate=1.0)
    frank = node("p-frank", "frank", 0.55, 0.05)
    fe = edge("p-frank", "p-relay", "ws")
    gone = {"gone_nodes": ["p-gun"], "gone_edges": ["p-gun|p-relay"]}
    py_send(page, h, mesh_diff(1, nodes=[bob, frank], edges=[ab, fe], **gone))
    after = page.evaluate("() => gk.scenarios.snapshotMesh(false)")
    changed = {"p-bob", "p-alice|p-bob", "p-frank", "p-frank|p-relay"}
    for k, (html_, marked) in after.items():
        if k in changed:
            continue
        assert marked, f"{k} was re-created"
        assert html_ == before[k][0], f"{k} changed though the diff did not name it"
    assert after["p-bob"][1] and after["p-alice|p-bob"][1], "changed elements are updated in place"
    assert page.text_content('.gk-node[data-id="p-bob"] .gk-node-label') == "bobby"
    assert "gk-s-connecting" in page.get_attribute('.gk-edge[data-id="p-alice|p-bob"]', "class")
    assert "p-gun" not in ids(page, ".gk-node") and "p-frank" in ids(page, ".gk-node")
    assert updates(page, h) == 2

    # a diff from another version is ignored and the view asks for a reset again
    py_send(page, h, mesh_diff(7, gone_nodes=["p-bob"]))
    assert "p-bob" in ids(page, ".gk-node")
    assert sent(page, h).count({"type": "hello"}) == 2
    shot(page, root(h), "mesh")


def test_mesh_hover_click_zoom_pan(page: Any) -> None:
    h = mount(page, "mesh", MESH)
    py_send(page, h, small_mesh())
    page.hover('.gk-node[data-id="p-alice"] .gk-shape')
    tip = page.locator(".gk-tooltip")
    tip.wait_for(state="visible")
    text = tip.text_content() or ""
    assert "alice" in text and "p-alice" in text and "heard77" in text.replace(" ", ""), text

    page.click('.gk-node[data-id="p-bob"] .gk-shape')
    assert trait(page, h, "selected_node") == "p-bob"
    assert saved(page, h)["selected_node"] == "p-bob"
    assert "gk-selected" in page.get_attribute('.gk-node[data-id="p-bob"]', "class")

    # an edge: hover and click half-way between its two ends
    alice = '.gk-node[data-id="p-alice"] .gk-shape'
    ax, ay = centre(page, alice)
    bx, by = centre(page, '.gk-node[data-id="p-bob"] .gk-shape')
    mx, my = (ax + bx) / 2, (ay + by) / 2
    page.mouse.move(mx, my)
    assert "dc" in (tip.text_content() or "") and "alice ↔ bob" in (tip.text_content() or "")
    page.mouse.click(mx, my)
    assert trait(page, h, "selected_edge") == "p-alice|p-bob"
    assert trait(page, h, "selected_node") == "p-bob"  # an edge click leaves the node alone
    # the background clears both
    stage = page.locator(".gk-stage").bounding_box()
    page.mouse.click(stage["x"] + 8, stage["y"] + stage["height"] - 8)
    assert trait(page, h, "selected_edge") == "" and trait(page, h, "selected_node") == ""

    # wheel zooms around the pointer: the point under it stays put
    vp = ".gk-viewport"
    t0 = page.get_attribute(vp, "transform")
    page.mouse.move(ax, ay)
    page.mouse.wheel(0, -400)
    changed = f"() => document.querySelector('{vp}').getAttribute('transform') !== {json.dumps(t0)}"
    page.wait_for_function(changed)
    t1 = page.get_attribute(vp, "transform")
    k = float(t1.split("scale(")[1].rstrip(")"))
    assert k > 1.5, t1
    ax2, ay2 = centre(page, alice)
    assert abs(ax2 - ax) < 2 and abs(ay2 - ay) < 2, "the point under the pointer stays put"
    # dragging the background pans
    page.mouse.move(stage["x"] + 10, stage["y"] + 10)
    page.mouse.down()
    page.mouse.move(stage["x"] + 60, stage["y"] + 40, steps=4)
    page.mouse.up()
    ax3, ay3 = centre(page, alice)
    assert ax3 - ax2 == pytest.approx(50, abs=2) and ay3 - ay2 == pytest.approx(30, abs=2)
    assert trait(page, h, "selected_node") == ""  # a drag is not a click
    page.click(".gk-fit")
    assert "scale(" in page.get_attribute(vp, "transform")
    box = page.locator(".gk-nodes").bounding_box()
    assert box["x"] >= stage["x"] and box["x"] + box["width"] <= stage["x"] + stage["width"] + 1


def test_mesh_pulses_move_and_are_capped(page: Any) -> None:
    h = mount(page, "mesh", MESH)
    py_send(page, h, small_mesh())
    pulses = [["p-alice|p-relay", "p-alice", "put"]] * 100
    py_send(page, h, mesh_diff(1, pulses=pulses))
    assert page.locator(".gk-pulse").count() == 60
    assert page.get_attribute(".gk-pulse", "fill") == "#16a34a"
    where = "e => [+e.getAttribute('cx'), +e.getAttribute('cy')]"
    first = page.eval_on_selector(".gk-pulse", where)
    page.wait_for_timeout(150)
    later = page.eval_on_selector(".gk-pulse", where)
    assert first != later, "the dot moves along the edge"
    page.wait_for_function("() => !document.querySelector('.gk-pulse')", timeout=2000)
    # 25 diffs/s with 10 pulses each for a second: never more than 60 alive
    peak = page.evaluate("h => gk.scenarios.pulseStorm(gk.views[h].model, 2)", h)
    assert 30 <= peak <= 60


def test_mesh_55_nodes_1500_edges_25_diffs_per_second(page: Any) -> None:
    h = mount(
        page, "mesh", {"height": 520, "title": "Mesh", "selected_node": "", "selected_edge": ""}
    )
    result = page.evaluate("h => gk.scenarios.bigMesh(gk.views[h].model)", h)
    assert result["edges"] == 1485 and result["nodes"] == 55
    assert result["kept"], "diffs must update edges in place, never re-create them"
    # how long the diffs take is measured by benchmarks/notebook_bench.py (frames, frame time
    # p95), not asserted here: a duration on a loaded 2-core CI run only measures the load
    shot(page, root(h), "mesh-55")


# ---------- FlowView ----------

LANES = [
    {"id": "p-alice", "label": "alice"},
    {"id": "p-bob", "label": "bob"},
    {"id": "ws://relay:8765/gun", "label": "relay"},
    {"id": "p-carol", "label": "carol"},
]


def flow_traits(**kw: Any) -> dict[str, Any]:
    t = {
        "lanes": LANES,
        "count": 0,
        "base": 0,
        "total": 0,
        "kept": 0,
        "cap": 100000,
        "filters": default_filters(),
        "filter_defaults": default_filters(),
        "kinds": ["put", "get", "ack", "reply", "rtc:offer", "dam:?"],
        "selected": "",
        "detail": {},
        "paused": False,
        "follow": True,
        "window": [],
        "height": 460,
    }
    t.update(kw)
    return t


def row_requests(page: Any, h: int) -> list[dict[str, Any]]:
    return [m for m in sent(page, h) if m.get("type") == "rows"]


def visible_positions(page: Any) -> list[int]:
    """data-pos of the rows whose box intersects the scroller's rows area."""
    return list(page.evaluate("() => gk.scenarios.visiblePositions()"))


def test_flow_virtual_scrolling(page: Any) -> None:
    h = mount(page, "flow", flow_traits(count=100_000, total=183_214, kept=100_000), autoRows=True)
    first = sent(page, h)
    assert (
        first[0] == {"type": "hello"}
        and first[1]["type"] == "viewport"
        and 10 <= first[1]["n"] <= 30
    )
    page.wait_for_selector('.gk-row[data-pos="99999"][data-mid="m99999"]')
    n_rows = page.locator(".gk-row").count()
    assert 10 <= n_rows <= 60, n_rows
    count = page.text_content(".gk-count") or ""
    assert "of 100,000" in count and "183,214 recorded" in count and "100,000 kept" in count, count
    assert count.startswith("showing 1–")
    assert visible_positions(page)[0] == 99999

    # scroll half-way: the rows shown and the rows asked for are the logical positions there
    before = len(row_requests(page, h))
    geo = page.evaluate(
        """() => { const s = document.querySelector('.gk-scroller');
                   const max = s.scrollHeight - s.clientHeight; s.scrollTop = Math.round(max / 2);
                   return {max, top: s.scrollTop, view: s.clientHeight - 26,
                           spacer: document.querySelector('.gk-spacer').offsetHeight}; }"""
    )
    assert geo["spacer"] <= 1_000_000  # capped: 100,000 rows would be 2.2 Mpx
    virt_max = 100_000 * 22 - geo["view"]
    k0 = int(geo["top"] / geo["max"] * virt_max // 22)
    top_pos = 99_999 - k0
    page.wait_for_function(
        f"() => !!document.querySelector('.gk-row[data-pos=\"{top_pos - 5}\"][data-mid]')"
    )
    vis = visible_positions(page)
    assert abs(vis[0] - top_pos) <= 1, (vis[:3], top_pos)
    reqs = row_requests(page, h)[before:]
    assert reqs, "scrolling asks for rows"
    assert all(0 < r["to"] - r["from"] <= 256 for r in reqs), reqs
    assert any(r["from"] <= vis[-1] and vis[0] < r["to"] for r in reqs), (reqs, vis)
    assert all(abs(r["from"] - top_pos) < 400 for r in reqs), (reqs, top_pos)
    # once scrolling settles, one request asks for exactly the rows on screen (+ overscan)
    page.wait_for_timeout(300)
    last = row_requests(page, h)[-1]
    assert last["from"] <= vis[-1] and vis[0] < last["to"] and last["to"] - last["from"] <= 80, last
    chunked = row_requests(page, h)[:-1]
    spans = sorted((r["from"], r["to"]) for r in chunked)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), (
        "no position is asked twice"
    )
    assert page.locator(".gk-row").count() <= 60

    # a million rows: the bottom of the scrollbar is the oldest row, one wheel notch = 10 rows
    py_set(page, h, "count", 1_000_000)
    py_set(page, h, "total", 1_000_000)
    page.evaluate(
        "() => { const s = document.querySelector('.gk-scroller'); s.scrollTop = s.scrollHeight; }"
    )
    page.wait_for_selector('.gk-row[data-pos="0"][data-mid="m0"]')
    assert page.locator(".gk-row").count() <= 60
    assert "of 1,000,000" in (page.text_content(".gk-count") or "")
    page.evaluate("() => { const s = document.querySelector('.gk-scroller'); s.scrollTop = 0; }")
    page.wait_for_selector('.gk-row[data-pos="999999"][data-mid]')
    box = page.locator(".gk-scroller").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.wheel(0, 220)
    page.wait_for_function(
        "() => !!document.querySelector('.gk-row[data-pos=\"999989\"][data-mid]')"
    )
    page.wait_for_timeout(50)
    assert visible_positions(page)[0] == 999_989


def test_flow_selection_survives_traffic(page: Any) -> None:
    h = mount(page, "flow", flow_traits(count=1000, total=1000, kept=1000), autoRows=True)
    page.wait_for_selector('.gk-row[data-pos="995"][data-mid]')
    page.click(".gk-follow")
    assert trait(page, h, "follow") is False and saved(page, h)["follow"] is False
    assert page.get_attribute(".gk-follow", "aria-pressed") == "false"
    page.click('.gk-row[data-pos="995"] .gk-text')
    assert trait(page, h, "selected") == "m995"
    assert saved(page, h)["selected"] == "m995"
    sel = page.locator('.gk-row[data-mid="m995"]')
    assert "gk-selected" in (sel.get_attribute("class") or "")
    # pos 996 answers m995: a reply, highlighted and joined by the gutter connector
    assert "gk-related" in (page.get_attribute('.gk-row[data-pos="996"]', "class") or "")
    assert "gk-related" not in (page.get_attribute('.gk-row[data-pos="997"]', "class") or "")
    assert page.locator('.gk-connector[data-request="m995"]').count() == 1
    y0 = sel.bounding_box()["y"]

    # 500 newer rows arrive; follow is off, so the user keeps looking at the same rows
    py_send(
        page, h, {"type": "tick", "count": 1500, "base": 0, "total": 1500, "kept": 1500, "rows": []}
    )
    assert "of 1,500" in (page.text_content(".gk-count") or "")
    sel = page.locator('.gk-row[data-mid="m995"]')
    assert "gk-selected" in (sel.get_attribute("class") or "")
    assert abs(sel.bounding_box()["y"] - y0) < 1
    assert trait(page, h, "selected") == "m995"
    # old rows discarded (base moves): still the same rows on screen
    py_send(
        page,
        h,
        {"type": "tick", "count": 1300, "base": 200, "total": 1500, "kept": 1300, "rows": []},
    )
    assert abs(page.locator('.gk-row[data-mid="m995"]').bounding_box()["y"] - y0) < 1

    # the detail pane
    py_set(
        page,
        h,
        "detail",
        {
            "mid": "m995",
            "kind": "reply",
            "json": '{"#":"m995","@":"m994","put":{}}',
            "summary": "alice answered bob's get",
            "related": ["m996"],
            "fate": [
                {"t": 9.95, "text": "alice said it", "mark": "sent"},
                {"t": 9.96, "text": "bob heard it", "mark": "heard"},
                {"t": 9.97, "text": "carol dropped a copy", "mark": "dup"},
            ],
        },
    )
    det = page.text_content(".gk-detail") or ""
    assert (
        "alice answered bob's get" in det and "carol dropped a copy" in det and '"@": "m994"' in det
    )
    assert page.locator(".gk-detail .gk-fate li").count() == 3
    shot(page, root(h), "flow-light")

    # follow back on: the newest rows come to the top
    page.click(".gk-follow")
    py_send(
        page,
        h,
        {
            "type": "tick",
            "count": 1310,
            "base": 200,
            "total": 1510,
            "kept": 1310,
            "rows": [page.evaluate(f"() => gk.genRow({p})") for p in range(1500, 1510)],
        },
    )
    assert visible_positions(page)[0] == 1509


def test_flow_holds_still_while_pointing_under_traffic(page: Any) -> None:
    h = mount(page, "flow", flow_traits(count=1000, total=1000, kept=1000), autoRows=True)
    page.wait_for_selector('.gk-row[data-pos="999"][data-mid]')
    assert trait(page, h, "follow") is not False
    target = page.locator('.gk-row[data-pos="995"]')
    y0 = target.bounding_box()["y"]
    page.hover('.gk-row[data-pos="995"] .gk-text')  # the pointer rests on a row
    for n in (1050, 1100, 1200):  # traffic goes on, auto-scroll is on
        py_send(page, h, {"type": "tick", "count": n, "base": 0, "total": n, "kept": n, "rows": []})
    # the row under the pointer did not move, so the click lands on it
    assert abs(page.locator('.gk-row[data-pos="995"]').bounding_box()["y"] - y0) < 1
    assert "held while pointing" in (page.text_content(".gk-count") or "")
    page.click('.gk-row[data-pos="995"] .gk-text')
    assert trait(page, h, "selected") == "m995"
    # the pointer leaves: back to the newest rows
    page.mouse.move(1, 1)
    page.wait_for_selector('.gk-row[data-pos="1199"]')
    assert "held" not in (page.text_content(".gk-count") or "")


def test_flow_marks_are_distinct(page: Any) -> None:
    rows = [page.evaluate(f"() => gk.genRow({p})") for p in range(10)]
    h = mount(page, "flow", flow_traits(count=10, total=10, kept=10, window=rows))
    shapes = {}
    for mark in ["heard", "sent", "dup", "lost", "heard-only"]:
        row = f'.gk-row[data-mark="{mark}"]'
        assert page.locator(row).count() == 2
        shapes[mark] = page.eval_on_selector(
            f"{row} .gk-mark",
            """e => [e.tagName, e.getAttribute('class'),
                     [...e.children].map(c => c.tagName).join(','),
                     getComputedStyle(e).fill !== 'none' && e.tagName === 'polygon']""",
        )
    assert len({json.dumps(s) for s in shapes.values()}) == 5, shapes
    assert shapes["heard"][3] is True  # a filled arrowhead
    assert (
        page.eval_on_selector('.gk-row[data-mark="sent"] .gk-mark', "e => e.tagName") == "polyline"
    )
    red = page.eval_on_selector(
        '.gk-row[data-mark="lost"] .gk-mark line', "e => getComputedStyle(e).stroke"
    )
    assert red == "rgb(220, 38, 38)"
    dashed = page.eval_on_selector(
        '.gk-row[data-pos="0"] .gk-arrow', "e => getComputedStyle(e).strokeDasharray"
    )
    assert dashed not in ("none", ""), "dc is dashed"
    assert (
        page.get_attribute('.gk-row[data-pos="0"] .gk-arrow', "stroke") == "#16a34a"
    )  # put is green
    assert sent(page, h)[0] == {"type": "hello"}
    assert not row_requests(page, h), "rows from `window` need no request"


def test_flow_filters(page: Any) -> None:
    h = mount(page, "flow", flow_traits(count=50, total=80, kept=80), autoRows=True)
    page.wait_for_selector(".gk-row[data-mid]")
    page.select_option(".gk-filter-kind", "put")
    f = trait(page, h, "filters")
    assert f["kind"] == "put" and f["peer"] == "" and f["hide_signaling"] is False
    assert saved(page, h)["filters"]["kind"] == "put"
    page.select_option(".gk-filter-peer", "p-bob")
    page.check(".gk-filter-hide")
    page.fill(".gk-filter-soul", "users/alice")
    page.wait_for_function(f"() => gk.views[{h}].model.get('filters').soul === 'users/alice'")
    f = trait(page, h, "filters")
    assert f == {
        "peer": "p-bob",
        "kind": "put",
        "soul": "users/alice",
        "transport": "",
        "hide_signaling": True,
        "pair": [],
    }
    # Python rebuilt the sequence: drop the cache and ask again
    n = len(row_requests(page, h))
    py_send(page, h, {"type": "reset", "count": 7, "base": 0, "total": 80, "kept": 80})
    page.wait_for_function("() => document.querySelectorAll('.gk-row[data-mid]').length === 7")
    assert row_requests(page, h)[n:] == [
        {"type": "rows", "req": row_requests(page, h)[n]["req"], "from": 0, "to": 7}
    ]
    # a link filter set from Python shows as a chip that clears it
    py_set(page, h, "filters", dict(f, pair=["p-alice", "p-bob"]))
    assert "alice ↔ bob" in (page.text_content(".gk-pair-chip") or "")
    page.click(".gk-pair-clear")
    assert trait(page, h, "filters")["pair"] == []
    page.click(".gk-pause")
    assert (
        trait(page, h, "paused") is True
        and page.get_attribute(".gk-pause", "aria-pressed") == "true"
    )


def test_flow_before_first_paint(page: Any) -> None:
    """Messages delivered before the view is in the document (no size yet) still show."""
    h = mount(page, "flow", flow_traits(), detached=True)
    rows = [page.evaluate(f"() => gk.genRow({p})") for p in range(30)]
    py_send(
        page, h, {"type": "tick", "count": 30, "base": 0, "total": 30, "kept": 30, "rows": rows}
    )
    page.evaluate("h => gk.attach(h)", h)
    page.wait_for_function("() => document.querySelectorAll('.gk-row[data-mid]').length >= 15")
    assert visible_positions(page)[0] == 29
    m = mount(
        page,
        "mesh",
        {"height": 300, "title": "Mesh", "selected_node": "", "selected_edge": ""},
        detached=True,
    )
    py_send(page, m, small_mesh())
    page.evaluate("h => gk.attach(h)", m)
    page.wait_for_timeout(100)
    stage = page.locator(f"{root(m)} .gk-stage").bounding_box()
    nodes = page.locator(f"{root(m)} .gk-nodes").bounding_box()
    assert nodes["x"] >= stage["x"] and nodes["y"] >= stage["y"]
    assert nodes["x"] + nodes["width"] <= stage["x"] + stage["width"] + 1
    assert nodes["y"] + nodes["height"] <= stage["y"] + stage["height"] + 1


# ---------- SignalingView, PeerView, TimeSlider ----------


def test_signaling_steps_and_sdp(page: Any) -> None:
    links = [
        {"id": "p-alice|p-bob", "label": "alice ↔ bob"},
        {"id": "p-alice|p-carol", "label": "alice ↔ carol"},
    ]
    h = mount(page, "signaling", {"links": links, "link": "", "height": 360})
    assert sent(page, h) == [{"type": "hello"}]

    def step(i: int, t: float, st: str, link: str = "p-alice|p-bob", **kw: Any) -> dict[str, Any]:
        d = {
            "i": i,
            "t": t,
            "node": "alice",
            "peer": "bob",
            "link": link,
            "step": st,
            "direction": "out",
            "layer": "",
            "text": st,
            "has_sdp": False,
        }
        d.update(kw)
        return d

    steps = [
        step(0, 0.12, "announce", direction=""),
        step(1, 0.2, "offer", has_sdp=True),
        step(2, 0.31, "answer", direction="in", has_sdp=True),
        step(3, 0.4, "candidate", text="host udp 127.0.0.1:50000"),
        step(4, 0.9, "state", direction="", layer="ice", text="completed"),
        step(5, 1.2, "state", direction="", layer="dtls", text="connected"),
        step(6, 1.3, "offer", link="p-alice|p-carol", peer="carol"),
    ]
    py_send(page, h, {"type": "reset", "v": 1, "steps": steps})
    assert page.locator(".gk-step").count() == 7
    assert page.text_content('.gk-step[data-i="0"] .gk-time') == "+0.120 s"
    assert page.text_content('.gk-step[data-i="4"] .gk-layer') == "ICE"
    assert page.text_content('.gk-step[data-i="5"] .gk-layer') == "DTLS"
    assert page.text_content('.gk-step[data-i="2"] .gk-dir') == "←"
    py_send(
        page,
        h,
        {
            "type": "diff",
            "from": 1,
            "v": 2,
            "steps": [step(7, 1.5, "state", direction="", layer="dc", text="open")],
        },
    )
    assert page.text_content('.gk-step[data-i="7"] .gk-layer') == "data channel"
    page.click('.gk-step[data-i="1"] .gk-sdp-toggle')
    assert sent(page, h)[-1] == {"type": "sdp", "i": 1}
    py_send(
        page,
        h,
        {
            "type": "sdp",
            "i": 1,
            "lines": [
                ["v=0", ""],
                [
                    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
                    "a data channel over SCTP over DTLS",
                ],
                ["a=fingerprint:sha-256 AB:CD", "the DTLS certificate the answer must match"],
                [
                    "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
                    "a host candidate on loopback",
                ],
            ],
        },
    )
    lines = page.locator('.gk-sdp[data-i="1"] tr')
    assert lines.count() == 4
    assert "the DTLS certificate" in (page.text_content('.gk-sdp[data-i="1"]') or "")
    assert page.locator('.gk-sdp[data-i="1"] tr.gk-sdp-annotated').count() == 3
    page.select_option(".gk-link-filter", "p-alice|p-carol")
    assert trait(page, h, "link") == "p-alice|p-carol"
    assert page.locator(".gk-step:visible").count() == 1
    assert "1 of 8 steps" in (page.text_content(".gk-count") or "")
    page.select_option(".gk-link-filter", "")
    shot(page, root(h), "signaling")


def test_peer_view(page: Any) -> None:
    peer = {
        "name": "alice",
        "pid": "p-alice",
        "counters": {"heard": 1234, "said": 56, "dropped": 7, "lost": 0, "puts": 3, "errors": 0},
        "links": [
            {"peer": "relay", "transport": "ws", "state": "open"},
            {"peer": "bob", "transport": "dc", "state": "connecting"},
        ],
        "data": {"users/alice": {"name": "Alice", "age": 30, "friend": {"#": "users/bob"}}},
        "truncated": False,
    }
    h = mount(page, "peer", {"peer": peer})
    val = page.text_content('.gk-counter[data-counter="heard"] .gk-counter-value')
    assert val == "1,234"
    assert page.text_content(".gk-title") == "alice"
    assert page.locator(".gk-links tbody tr").count() == 2
    data = page.text_content(".gk-data") or ""
    assert '"Alice"' in data and "→ users/bob" in data
    py_set(page, h, "peer", dict(peer, counters=dict(peer["counters"], lost=2), truncated=True))
    assert page.text_content('.gk-counter[data-counter="lost"] .gk-counter-value') == "2"
    assert "gk-warn" in (page.get_attribute('.gk-counter[data-counter="lost"]', "class") or "")
    assert "truncated" in (page.text_content(".gk-peer") or "")
    assert updates(page, h) == 1
    shot(page, root(h), "peer")
    # Python's `error` trait shows as a banner, and goes away when cleared
    py_set(page, h, "error", "PeerView: KeyError('p-alice')")
    assert page.locator(f"{root(h)} .gk-error").text_content() == "PeerView: KeyError('p-alice')"
    py_set(page, h, "error", "")
    assert page.locator(f"{root(h)} .gk-error").is_hidden()
    # hidden (as in a tab not chosen), it tells Python to stop refreshing it; shown, to resume
    page.wait_for_function(
        "h => gk.views[h].model.sent.some(m => m.type === 'visible' && m.on === true)", arg=h
    )
    page.evaluate(
        "h => { document.querySelector('[data-view=peer]').parentElement"
        ".parentElement.style.display = 'none'; }",
        h,
    )
    page.wait_for_function(
        "h => gk.views[h].model.sent.filter(m => m.type === 'visible').at(-1).on === false",
        arg=h,
    )


def test_time_slider(page: Any) -> None:
    h = mount(page, "timeline", {"t0": 10.0, "t1": 70.0, "t": 10.0, "playing": False, "speed": 1})
    page.fill(".gk-slider", "40")
    page.wait_for_function(f"() => gk.views[{h}].model.get('t') === 40")
    assert "+30.000 s" in (page.text_content(".gk-time") or "")
    page.select_option(".gk-speed", "10")
    assert trait(page, h, "speed") == 10
    page.click(".gk-play")
    assert trait(page, h, "playing") is True
    page.wait_for_function(f"() => gk.views[{h}].model.get('t') > 41")
    page.click(".gk-play")
    assert trait(page, h, "playing") is False
    py_set(page, h, "t", 25.5)
    assert "+15.500 s" in (page.text_content(".gk-time") or "")
    assert abs(float(page.input_value(".gk-slider")) - 25.5) < 1e-6
    shot(page, root(h), "timeline")


# ---------- theme, cleanup ----------


def test_dark_theme(page: Any) -> None:
    f = mount(page, "flow", flow_traits(count=400, total=400, kept=400), dark=True, autoRows=True)
    m = mount(
        page,
        "mesh",
        {"height": 380, "title": "Mesh", "selected_node": "", "selected_edge": ""},
        dark=True,
    )
    py_send(page, m, small_mesh())
    page.wait_for_selector(f"{root(f)} .gk-row[data-mid]")
    page.click(f'{root(f)} .gk-row[data-pos="396"] .gk-text')
    py_send(page, m, mesh_diff(1, pulses=[["p-alice|p-bob", "p-alice", "put"]] * 3))
    for r in (root(f), root(m)):
        style = page.eval_on_selector(
            r, "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        )
        assert luminance(style[0]) > 0.6 and luminance(style[1]) < 0.05, style
    label = page.eval_on_selector(f"{root(m)} .gk-node-label", "e => getComputedStyle(e).fill")
    assert luminance(label) > 0.6, label
    sel = page.eval_on_selector(
        f"{root(f)} .gk-filter-kind", "e => getComputedStyle(e).backgroundColor"
    )
    assert luminance(sel) < 0.05, sel
    kind = page.eval_on_selector(
        f"{root(f)} .gk-row[data-mid] .gk-kind", "e => getComputedStyle(e).color"
    )
    assert luminance(kind) > 0.15, kind
    # what is on screen, not only what the styles say: the drawing areas are dark overall
    from io import BytesIO

    from PIL import Image, ImageStat

    for area in (f"{root(m)} .gk-stage", f"{root(f)} .gk-scroller", f"{root(f)} .gk-toolbar"):
        img = Image.open(BytesIO(page.locator(area).screenshot())).convert("L")
        assert ImageStat.Stat(img).mean[0] < 70, (area, ImageStat.Stat(img).mean)
    shot(page, root(f), "flow-dark")
    shot(page, root(m), "mesh-dark")


def test_cleanup_removes_listeners(page: Any) -> None:
    for name, traits in [
        ("mesh", {"height": 300, "title": "Mesh", "selected_node": "", "selected_edge": ""}),
        ("flow", flow_traits(count=100, total=100, kept=100)),
        ("signaling", {"links": [], "link": "", "height": 200}),
        ("peer", {"peer": {}}),
        ("timeline", {"t0": 0.0, "t1": 5.0, "t": 0.0, "playing": True, "speed": 1}),
    ]:
        h = mount(page, name, traits)
        assert page.get_attribute(root(h), "data-view") == name
        if name == "mesh":
            py_send(page, h, small_mesh())
            py_send(page, h, mesh_diff(1, pulses=[["p-alice|p-bob", "p-alice", "put"]] * 5))
        left = page.evaluate("h => gk.unmount(h)", h)
        assert left == 0, f"{name} left {left} listeners on the model"
        # nothing fires afterwards (a cancelled animation frame, no errors)
        late = {"type": "reset", "v": 9, "nodes": [], "edges": [], "steps": [], "count": 0}
        py_send(page, h, late)
    page.wait_for_timeout(100)
    assert page.locator(".gk-view").count() == 0


# ---------- the real Python views, bridged to the browser through the fake model ----------


class Bridge:
    """Carries one Python view's messages and trait changes to its browser view (fake
    model) and back, as the comm would; `pump()` moves what is waiting both ways."""

    SKIP = frozenset({"layout", "tabbable", "tooltip", "comm", "keys", "log"})

    def __init__(self, page: Any, view: Any, name: str) -> None:
        self.page, self.view, self.out = page, view, []  # type: ignore[var-annotated]
        names = [
            k
            for k in view.trait_names(sync=lambda x: x)
            if not k.startswith("_") and k not in self.SKIP
        ]
        view.send = lambda msg, buffers=None: self.out.append(["msg", json.loads(json.dumps(msg))])
        view.observe(
            lambda ch: self.out.append(["trait", ch["name"], json.loads(json.dumps(ch["new"]))]),
            names=names,
        )
        self.h = mount(page, name, json.loads(json.dumps({k: getattr(view, k) for k in names})))
        self.n_sent = self.n_saves = 0

    def pump(self) -> None:
        sent, saves = self.page.evaluate(
            "([h, a, b]) => [gk.views[h].model.sent.slice(a), gk.views[h].model.saves.slice(b)]",
            [self.h, self.n_sent, self.n_saves],
        )
        self.n_sent += len(sent)
        self.n_saves += len(saves)
        for s in saves:
            for k, v in s.items():
                setattr(self.view, k, v)
        for m in sent:
            self.view._on_front_message(self.view, m, [])
        out, self.out = self.out, []
        if out:
            self.page.evaluate(
                """([h, out]) => { const m = gk.views[h].model;
                   for (const o of out) {
                     if (o[0] === 'msg') m.py.send(o[1]); else m.py.set(o[1], o[2]); } }""",
                [self.h, out],
            )


def test_real_python_views(page: Any) -> None:
    """MeshView and FlowView from a Lab of memory peers, through the fake model: the two
    halves of the protocol agree (hello, reset, diffs, ticks, rows, selection, detail)."""
    from gunrtc_kit.lab import Lab

    lab = Lab(relay=False)
    try:
        a, b, c = (lab.memory_peer(n) for n in ("alice", "bob", "carol"))
        lab.link_memory(a, b)
        lab.link_memory(b, c, latency=0.02, loss=0.1)
        bridges = [Bridge(page, lab.mesh_view(), "mesh"), Bridge(page, lab.flow_view(), "flow")]
        mesh, flow = bridges

        def spin(n: int) -> None:
            for _ in range(n):
                lab.refresh()
                for br in bridges:
                    br.pump()
                page.wait_for_timeout(30)

        for i in range(40):
            (a, b, c)[i % 3].put(f"doc{i % 5}", {"n": i})
            if i % 4 == 0:
                spin(1)
        spin(15)
        m, f = root(mesh.h), root(flow.h)
        labels = page.eval_on_selector_all(
            f"{m} .gk-node-label", "es => es.map(e => e.textContent)"
        )
        assert sorted(labels) == ["alice", "bob", "carol"]
        assert page.locator(f"{m} .gk-edge").count() == 2
        assert (page.text_content(f"{m} .gk-edge-label") or "").endswith("10% loss")
        assert int(page.get_attribute(m, "data-updates") or 0) >= 2  # a reset and diffs
        count = flow.view.count
        assert count > 40 and f"of {count:,}" in (page.text_content(f"{f} .gk-count") or "")
        assert visible_positions(page)[0] == flow.view.base + count - 1  # newest at the top
        top = page.locator(f'{f} .gk-row[data-pos="{flow.view.base + count - 1}"]')
        mid = top.get_attribute("data-mid")
        assert mid
        top.locator(".gk-text").click()
        spin(5)
        assert flow.view.selected == mid and flow.view.detail.get("mid") == mid
        assert mid in (page.text_content(f"{f} .gk-detail") or "")
        assert page.locator(f"{f} .gk-detail .gk-fate li").count() >= 1
    finally:
        lab.close()
