"""The views tell the truth under live traffic, in the real thing: JupyterLab on 127.0.0.1,
Debian's chromium driven headless by Playwright (the harness of test_browser.py).

A notebook makes a Lab of three WebRTC peers, adds a partitioned memory wire between bob and
carol beside their data channel, shows the dashboard and keeps ~50 puts a second going. On
the page:

- the mesh draws two wires between bob and carol, apart (different paths) and each in its own
  style (an open dc, a partitioned memory wire);
- no wire passes over the relay's node but the relay's own spokes;
- the flow shows every lane and its message column inside its visible width (or says which
  lanes are out of sight, and a click on the cue brings them in);
- a click on a field in a peer tab shows that field's explanation on screen;
- a second Lab of a relay and eight peers: every lane of its flow can be reached.

And in the frontend harness (a fake model): each of fate's nine marks is drawn its own way,
named on its row and in the legend, with what it means as the tooltip.

Screenshots: test-artifacts/truth-*.png (look at them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jlab import ARTIFACTS, dismiss_news, notebook_page
from tests.lab import test_frontend as fe
from tests.lab.test_frontend import flow_traits, mount, root
from tests.netns import require_loopback_only

# the frontend harness's fixtures (a served repository, Debian chromium, a page of it)
server, browser, page = fe.server, fe.browser, fe.page


CELLS = [
    """import asyncio
from gunrtc_kit.lab import Lab
lab = Lab()
alice, bob, carol = lab.peer("alice"), lab.peer("bob"), lab.peer("carol")
lab.wait_linked_sync(alice, bob)
lab.wait_linked_sync(alice, carol)
lab.wait_linked_sync(bob, carol)
side = lab.link_memory(bob, carol)
side.set(partitioned=True)""",
    """lab.show()""",
    """async def traffic():
    i = 0
    while True:
        p = (alice, bob, carol)[i % 3]
        p.gun.get("chat").get(f"m{i}").put({"n": i, "from": p.name})
        i += 1
        await asyncio.sleep(0.02)
task = lab.rt.submit(traffic())
heard = []
def enough(e):  # 40 of the chat puts merged at bob: traffic is flowing
    if e.kind == "put" and e.node == bob.pid and "chat" in e.changes:
        heard.append(e)
    return len(heard) >= 40
lab.bus.wait_for(enough, timeout=30, past=True)
print("traffic flowing")""",
    """many = Lab()
crowd = [many.peer(f"peer{i}", rtc=False) for i in range(8)]
for i, p in enumerate(crowd):
    p.gun.get("crowd").get(f"k{i}").put({"i": i})
many.bus.wait_for(lambda e: e.kind == "put" and e.node == crowd[0].pid, timeout=20, past=True)
many.flow_view()""",
]

# In the browser: a path's points (sampled along it) in page coordinates, its class and style.
PATH_FACTS = """e => {
  const s = getComputedStyle(e);
  const L = e.getTotalLength();
  const m = e.getScreenCTM();
  const pts = [];
  for (let i = 0; i <= 128; i++) {
    const p = e.getPointAtLength(L * i / 128);
    const q = new DOMPoint(p.x, p.y).matrixTransform(m);
    pts.push([q.x, q.y]);
  }
  return {id: e.dataset.id, d: e.getAttribute('d'), cls: e.getAttribute('class') || '',
          stroke: s.stroke, dash: s.strokeDasharray, shown: !e.hasAttribute('hidden')
          && s.display !== 'none' && s.visibility !== 'hidden', pts};
}"""
# the relay's drawn shape (not its label), in page coordinates
SHAPE_BOX = """g => {
  const shape = [...g.children].find(c => !c.classList.contains('gk-node-label')
      && !c.classList.contains('gk-node-badge') && c.getBoundingClientRect().width > 0);
  const b = (shape || g).getBoundingClientRect();
  return [b.left, b.top, b.right, b.bottom];
}"""


def inside(pt: list[float], box: list[float], pad: float = 0.0) -> bool:
    x, y = pt
    return box[0] - pad <= x <= box[2] + pad and box[1] - pad <= y <= box[3] + pad


def gap(a: list[list[float]], b: list[list[float]]) -> float:
    """How far apart two sampled paths are at their middles."""
    mx, my = a[len(a) // 2]
    return float(min(((x - mx) ** 2 + (y - my) ** 2) ** 0.5 for x, y in b))


def node_ids(mesh: Any) -> dict[str, str]:
    """Label -> pid of the mesh's nodes."""
    pairs = mesh.evaluate(
        """m => [...m.querySelectorAll('.gk-node')].map(g =>
            [g.querySelector('.gk-node-label').textContent, g.dataset.id])"""
    )
    return {str(label).replace(" (stopped)", ""): str(pid) for label, pid in pairs}


def check_mesh(page: Any, mesh: Any) -> None:
    """Two wires between bob and carol, apart and styled by their own state; no wire but
    the relay's spokes over the relay's node."""
    page.wait_for_function(
        """() => {
            const m = document.querySelector('[data-view=mesh]');
            return m && m.querySelectorAll('.gk-node').length === 4
                && m.querySelectorAll('.gk-edge.gk-t-memory').length >= 1
                && m.querySelectorAll('.gk-edge.gk-t-dc').length >= 3;
        }""",
        timeout=60_000,
    )
    page.wait_for_timeout(1500)  # let the layout's slide settle
    ids = node_ids(mesh)
    assert sorted(ids) == ["alice", "bob", "carol", "relay"], ids
    bob, carol, relay = ids["bob"], ids["carol"], ids["relay"]
    paths = mesh.locator(".gk-edge").evaluate_all(f"es => es.map({PATH_FACTS})")
    shown = [p for p in paths if p["shown"]]

    def ends(p: dict[str, Any]) -> set[str]:
        return set(str(p["id"]).split("|")[:2])

    pair = [p for p in shown if ends(p) == {bob, carol}]
    assert len(pair) == 2, [p["id"] for p in pair]
    dc = next(p for p in pair if str(p["id"]).split("|")[2] == "dc")
    mem = next(p for p in pair if str(p["id"]).split("|")[2] == "memory")
    assert dc["d"] != mem["d"], "the two wires are drawn on one path"
    assert gap(dc["pts"], mem["pts"]) > 6, "the two wires are not drawn apart"
    assert "gk-s-open" in dc["cls"] and dc["dash"] == "none", dc["cls"]
    assert "gk-partitioned" in mem["cls"] and mem["dash"] != "none", mem["cls"]
    assert dc["stroke"] != mem["stroke"], (dc["stroke"], mem["stroke"])
    box = mesh.locator(f'.gk-node[data-id="{relay}"]').evaluate(SHAPE_BOX)
    for p in shown:
        if relay in ends(p):
            continue
        over = [pt for pt in p["pts"] if inside(pt, box, pad=2)]
        assert not over, f"wire {p['id']} passes over the relay ({over[0]} in {box})"
    labels = mesh.locator(".gk-edge-label").all_text_contents()
    assert "partitioned" in labels, labels


FLOW_FIT = """f => {
  const sc = f.querySelector('.gk-scroller').getBoundingClientRect();
  const lanes = [...f.querySelectorAll('.gk-lane-label')].map(l => {
      const b = l.getBoundingClientRect();
      const x = (b.left + b.right) / 2;
      return {label: l.textContent, x, in: x >= sc.left && x <= sc.right};
  });
  const mh = f.querySelector('.gk-col-message').getBoundingClientRect();
  const cue = b => b && !b.hidden ? +b.dataset.n : 0;
  return {lanes, message: mh.left >= sc.left - 1 && mh.left + 60 <= sc.right + 1,
          left: cue(f.querySelector('.gk-lanes-more-left')),
          right: cue(f.querySelector('.gk-lanes-more-right'))};
}"""


def check_flow_lanes(flow: Any, names: list[str]) -> dict[str, Any]:
    """Every lane of ``flow`` in its visible width, or counted by a 'more lanes' cue whose
    click brings the rest in; the message column always in sight."""
    fit = flow.evaluate(FLOW_FIT)
    labels = sorted(str(lane["label"]) for lane in fit["lanes"])
    assert labels == sorted(names), labels
    assert fit["message"], "the message column is out of sight"
    out = [lane for lane in fit["lanes"] if not lane["in"]]
    assert len(out) == fit["left"] + fit["right"], ("lanes out of sight but no cue", fit)
    seen = {lane["label"] for lane in fit["lanes"] if lane["in"]}
    for side in ("right", "left"):
        for _ in range(len(names)):
            cue = flow.locator(f".gk-lanes-more-{side}")
            if cue.is_hidden():
                break
            cue.click()
            flow.page.wait_for_timeout(200)
            now = flow.evaluate(FLOW_FIT)
            assert now["message"], "the message column went out of sight"
            seen |= {lane["label"] for lane in now["lanes"] if lane["in"]}
    assert seen == set(names), ("lanes never reached", set(names) - seen)
    return dict(fit)


def check_explain_in_sight(page: Any) -> None:
    """Open bob's tab, click a field of its data: the field's explanation is on screen."""
    page.locator(".lm-TabBar-tabLabel:text-is('bob')").first.click()
    view = page.locator("[data-view=peer]:visible").first
    view.locator("tr.gk-field").first.wait_for(timeout=30_000)
    page.wait_for_function(
        "v => v.querySelectorAll('tr.gk-field').length >= 40",
        arg=view.element_handle(),
        timeout=30_000,
    )
    view.scroll_into_view_if_needed()
    field = view.locator("tr.gk-field").nth(3)
    soul, key = field.get_attribute("data-soul"), field.get_attribute("data-key")
    field.click()
    why = view.locator(".gk-explain")
    why.locator(".gk-explain-summary:not(:empty), .gk-explain-status:not(:empty)").first.wait_for(
        timeout=20_000
    )
    assert f"{soul}.{key}" in (why.locator(".gk-explain-field").text_content() or "")
    why.locator(".gk-explain-summary:not(:empty)").wait_for(timeout=20_000)
    page.wait_for_timeout(400)  # a smooth scroll, if any, comes to rest
    # the explanation (heading and answer) is on screen, and not hidden by the peer view's
    # own scrolling; the field clicked is still in sight above it
    shown = why.evaluate(
        """(w, sel) => {
            const vh = window.innerHeight;
            const body = w.closest('.gk-peer-body').getBoundingClientRect();
            const seen = b => b.top >= Math.max(0, body.top) - 1
                && b.bottom <= Math.min(vh, body.bottom) + 1;
            const h = w.querySelector('h5').getBoundingClientRect();
            const s = w.querySelector('.gk-explain-summary').getBoundingClientRect();
            const f = w.closest('.gk-peer').querySelector(sel).getBoundingClientRect();
            const all = w.getBoundingClientRect();
            return {head: seen(h), summary: seen(s), pane: seen(all),
                    all: [all.top, all.bottom], field: seen(f) && f.bottom <= h.top + 1,
                    h: [h.top, h.bottom], f: [f.top, f.bottom], body: [body.top, body.bottom],
                    vh};
        }""",
        f'tr.gk-field[data-soul="{soul}"][data-key="{key}"]',
    )
    assert shown["head"] and shown["summary"], ("the explanation is out of sight", shown)
    assert shown["pane"], ("the explanation is cut off", shown)
    assert shown["field"], ("the field clicked went out of sight", shown)


def test_truth_under_live_traffic(tmp_path: Path) -> None:
    require_loopback_only()
    with notebook_page(tmp_path, "truth", CELLS) as page:
        mesh = page.locator("[data-view=mesh]").first
        flow = page.locator("[data-view=flow]").first
        check_mesh(page, mesh)
        mesh.scroll_into_view_if_needed()
        page.wait_for_selector("text=traffic flowing", timeout=90_000)
        page.wait_for_selector("[data-view=flow] .gk-row[data-kind=put]", timeout=60_000)
        mesh.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "truth-dashboard.png"))
        mesh.screenshot(path=str(ARTIFACTS / "truth-mesh.png"))
        check_flow_lanes(flow, ["relay", "alice", "bob", "carol"])
        flow.screenshot(path=str(ARTIFACTS / "truth-flow.png"))
        dismiss_news(page)  # the toast comes late; it would cover the peer tab
        check_explain_in_sight(page)
        page.screenshot(path=str(ARTIFACTS / "truth-explain.png"))
        # the crowd: a relay and eight peers, every lane within reach
        crowd = page.locator("[data-view=flow]").nth(1)
        crowd.scroll_into_view_if_needed()
        page.wait_for_function(
            """() => {
                const f = document.querySelectorAll('[data-view=flow]')[1];
                return f && f.querySelectorAll('.gk-lane-label').length === 9
                    && f.querySelector('.gk-row[data-kind=put]');
            }""",
            timeout=90_000,
        )
        crowd.scroll_into_view_if_needed()
        crowd.screenshot(path=str(ARTIFACTS / "truth-flow-9.png"))
        check_flow_lanes(crowd, ["relay", *(f"peer{i}" for i in range(8))])
        # nothing went wrong anywhere on the page
        assert not page.query_selector_all(".jp-OutputArea-output[data-mime-type*='error']")
        assert not page.query_selector_all(".gk-error:not(:empty)")


MARKS = [
    "heard",
    "heard-only",
    "sent",
    "dup",
    "lost",
    "refused",
    "untraced",
    "answered",
    "queued",
    "held",
]
MARK_LANES = [
    {"id": "p-relay", "label": "relay", "lane": 0, "role": "relay"},
    {"id": "p-alice", "label": "alice", "lane": 1, "role": "peer"},
    {"id": "p-bob", "label": "bob", "lane": 2, "role": "peer"},
]


def test_every_mark_drawn_its_own_way(page: Any) -> None:
    """One row per mark (alice -> bob): each row carries its mark's own drawing, no two
    drawings alike; the new marks are named on their rows; the legend lists all nine, each
    with its meaning."""
    n = len(MARKS)
    rows = [
        [p, round(0.1 * p, 3), 1, 2, "put", "chat/m1", f"m{p}", m, "dc", "", 1, "", 0]
        for p, m in enumerate(MARKS)
    ]
    h = mount(page, "flow", flow_traits(lanes=MARK_LANES, count=n, total=n, kept=n, window=rows))
    page.wait_for_selector(f'{root(h)} .gk-row[data-pos="{n - 1}"]')
    drawings = {}
    for p, m in enumerate(MARKS):
        row = page.locator(f'{root(h)} .gk-row[data-pos="{p}"]')
        assert row.get_attribute("data-mark") == m
        assert row.locator(f".gk-mark-{m}").count() == 1, f"{m}: not drawn as itself"
        drawings[m] = row.locator("svg").evaluate(
            's => s.innerHTML.replace(/(stroke|fill)="[^"]*"/g, \'\')'
        )
        if m in ("refused", "untraced", "answered", "queued"):
            assert row.locator(".gk-markname").text_content() == m
    alike = [(a, b) for a in MARKS for b in MARKS if a < b and drawings[a] == drawings[b]]
    assert not alike, f"marks drawn alike: {alike}"
    # queued stays on the sender's side, like lost: just off alice's lane
    q = page.locator(f'{root(h)} .gk-row[data-pos="{MARKS.index("queued")}"] .gk-mark-queued')
    lanes = page.locator(f"{root(h)} .gk-lane-label").evaluate_all(
        "es => es.map(e => { const b = e.getBoundingClientRect(); return b.left + b.width / 2; })"
    )
    qb = q.bounding_box()
    assert qb is not None
    qx = qb["x"] + qb["width"] / 2
    assert lanes[1] < qx < lanes[2] and qx - lanes[1] <= 12, (qx, lanes)
    legend = page.locator(f"{root(h)} .gk-flow-legend .gk-legend-item").evaluate_all(
        "es => es.map(e => [e.dataset.mark, e.title, e.textContent.trim()])"
    )
    assert [m for m, _, _ in legend] == MARKS
    meaning = {m: title for m, title, _ in legend}
    assert "refused" in meaning["refused"] and "unknown" in meaning["untraced"]
    assert "answered" in meaning["answered"] and "queue" in meaning["queued"]
    assert all(text.endswith(m) for m, _, text in legend)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(f'.mount[data-h="{h}"]').screenshot(path=str(ARTIFACTS / "truth-marks.png"))


if __name__ == "__main__":  # pragma: no cover - run by hand to look at the page
    pytest.main([__file__, "-q"])
