"""The flow view's browser side for issue 17: nine lanes at the dashboard's width (every lane
reachable, the message column always in sight), lanes in the order Python sends them, the lost
mark on the sender's side of its arrow, the "next lost / dup / err" buttons, and groups of
repeats that list their copies on a click. Same harness as test_frontend.py (a fake model in
Debian chromium); the screenshot goes to test-artifacts/flow-9-lanes.png."""

from __future__ import annotations

from typing import Any

from tests.lab import test_frontend as fe
from tests.lab.test_frontend import ARTIFACTS, flow_traits, mount, py_send, root, saved, sent, trait

# the harness's fixtures (a served repository, Debian chromium, a page of the harness)
server, browser, page = fe.server, fe.browser, fe.page
# display order (relays first, then peers by name); `lane` is the directory's number, which
# is first-seen order and so differs from the display order
NAMES = ["relay", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
LANE_NO = [4, 0, 7, 2, 1, 3, 8, 5, 6]
LANES = [
    {"id": f"p-{n}", "label": n, "lane": k, "role": "peer"}
    for n, k in zip(NAMES, LANE_NO, strict=True)
]
LANES[0]["role"] = "relay"
DASHBOARD_FLOW_W = 543  # the flow's width in Lab.show() on a 1200 px wide page
ALICE, BOB, HEIDI, RELAY = 0, 7, 6, 4  # directory lane numbers


def rows(n: int = 40) -> list[list[Any]]:
    """Rows on the wire: [pos, t, src, dst, kind, label, mid, mark, tr, reply, n, summary, err]."""
    out: list[list[Any]] = []
    for p in range(n):
        src, dst, mark, err = RELAY, LANE_NO[1 + p % 8], "heard", 0
        if p % 10 == 3:
            mark = "dup"
        if p % 10 == 7:
            src, dst, mark = ALICE, HEIDI, "lost"  # alice -> heidi: seven lanes between them
        if p == 15:
            err = 1
        out.append([p, round(p * 0.001, 3), src, dst, "put", "chat/m1", f"m{p}", mark, "ws", ""])
        out[-1] += [1, "", err]
    return out


def answer_finds(page: Any, h: int, data: list[list[Any]]) -> None:
    """Play Python's `find`: the nearest older row with the mark, wrapping round."""
    page.evaluate(
        """([h, data]) => { const m = gk.views[h].model;
            m.onSend = (msg) => { if (msg.type !== 'find') return;
              const has = (r) => msg.mark === 'err' ? !!r[12] : r[7] === msg.mark;
              const n = data.length; let hit = null;
              for (let k = msg.from - 1; k >= 0 && hit === null; k--) if (has(data[k])) hit = k;
              for (let k = n - 1; k >= msg.from && hit === null; k--) if (has(data[k])) hit = k;
              setTimeout(() => m.py.send({type: 'found', req: msg.req, mark: msg.mark,
                pos: hit, row: hit === null ? null : data[hit]}), 0); }; }""",
        [h, data],
    )


def box(page: Any, selector: str) -> dict[str, float]:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, selector
    return dict(b)


def lane_centres(page: Any, h: int) -> list[float]:
    return list(
        page.evaluate(
            """h => [...document.querySelectorAll(`.mount[data-h="${h}"] .gk-lane-label`)]
                 .map(e => { const b = e.getBoundingClientRect();
                             return b.left + b.width / 2; })""",
            h,
        )
    )


def lanes_area(page: Any, h: int) -> tuple[float, float]:
    """The part of the screen where lanes show: between the pinned time and message columns."""
    s = box(page, f"{root(h)} .gk-scroller")
    t = box(page, f"{root(h)} .gk-lanes-head .gk-col-head")
    m = box(page, f"{root(h)} .gk-col-message")
    return max(s["x"], t["x"] + t["width"]), min(m["x"], s["x"] + s["width"])


def test_nine_lanes_at_dashboard_width(page: Any) -> None:
    data = rows()
    h = mount(
        page,
        "flow",
        flow_traits(lanes=LANES, count=40, total=40, kept=40, window=data),
        width=DASHBOARD_FLOW_W,
    )
    page.wait_for_selector(f'{root(h)} .gk-row[data-pos="39"]')
    labels = page.eval_on_selector_all(
        f"{root(h)} .gk-lane-label", "es => es.map(e => e.textContent)"
    )
    assert labels == NAMES  # Python's display order, not the lane numbers' order
    # every lane is on screen between the pinned columns, or a cue says how many are not
    lo, hi = lanes_area(page, h)
    xs = lane_centres(page, h)
    hidden = [x for x in xs if not lo <= x <= hi]
    more = page.locator(f"{root(h)} .gk-lanes-more-right")
    if hidden:
        assert more.is_visible() and more.get_attribute("data-n") == str(len(hidden))
    else:
        assert not more.is_visible()
    # the message column is inside the view, at its right, with each row's text
    sc = box(page, f"{root(h)} .gk-scroller")
    text = box(page, f'{root(h)} .gk-row[data-pos="39"] .gk-text')
    assert sc["x"] <= text["x"] and text["x"] + 60 <= sc["x"] + sc["width"], (sc, text)
    assert page.locator(f'{root(h)} .gk-row[data-pos="39"] .gk-text').is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(f'.mount[data-h="{h}"]').screenshot(path=str(ARTIFACTS / "flow-9-lanes.png"))


def test_lanes_scroll_under_pinned_columns_with_a_cue(page: Any) -> None:
    data = rows()
    h = mount(
        page, "flow", flow_traits(lanes=LANES, count=40, total=40, kept=40, window=data), width=420
    )
    page.wait_for_selector(f'{root(h)} .gk-row[data-pos="39"]')
    right = page.locator(f"{root(h)} .gk-lanes-more-right")
    n = int(right.get_attribute("data-n") or 0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(f'.mount[data-h="{h}"]').screenshot(path=str(ARTIFACTS / "flow-lanes-cue.png"))
    assert right.is_visible() and n >= 1 and f"{n} more lane" in (right.text_content() or "")
    msg0 = box(page, f'{root(h)} .gk-row[data-pos="39"] .gk-text')
    for _ in range(5):
        if not right.is_visible():
            break
        right.click()
        page.wait_for_timeout(50)
    assert not right.is_visible(), "the cue leads to the last lane"
    page.locator(f'.mount[data-h="{h}"]').screenshot(
        path=str(ARTIFACTS / "flow-lanes-scrolled.png")
    )
    left = page.locator(f"{root(h)} .gk-lanes-more-left")
    assert left.is_visible() and int(left.get_attribute("data-n") or 0) >= 1
    # scrolled to the end: the last lanes are in sight, the message column did not move
    lo, hi = lanes_area(page, h)
    xs = lane_centres(page, h)
    assert all(lo <= x <= hi for x in xs[-3:]), (lo, hi, xs)
    msg1 = box(page, f'{root(h)} .gk-row[data-pos="39"] .gk-text')
    assert abs(msg1["x"] - msg0["x"]) < 1.5, (msg0, msg1)
    t1 = box(page, f'{root(h)} .gk-row[data-pos="39"] .gk-t')
    assert t1["x"] >= box(page, f"{root(h)} .gk-scroller")["x"] - 1
    left.click()
    page.wait_for_timeout(50)
    assert int(right.get_attribute("data-n") or 0) >= 1


def test_lost_mark_sits_off_the_senders_lane(page: Any) -> None:
    data = rows()
    h = mount(
        page,
        "flow",
        flow_traits(lanes=LANES, count=40, total=40, kept=40, window=data),
        width=DASHBOARD_FLOW_W,
    )
    page.wait_for_selector(f'{root(h)} .gk-row[data-pos="37"] .gk-mark-lost')
    cross = box(page, f'{root(h)} .gk-row[data-pos="37"] .gk-mark-lost')
    cx = cross["x"] + cross["width"] / 2
    xs = lane_centres(page, h)
    alice, heidi = xs[NAMES.index("alice")], xs[NAMES.index("heidi")]
    assert alice < cx < heidi  # on the arrow, on the sender's side
    assert abs(cx - alice) <= 12, (cx, alice)
    # never on a third lane's lifeline: nearer the sender's lane than to any other
    others = [abs(cx - x) for i, x in enumerate(xs) if NAMES[i] != "alice"]
    assert min(others) > abs(cx - alice) and min(others) >= 8, (cx, xs)


def test_jump_buttons_scroll_to_and_select(page: Any) -> None:
    data = rows(200)
    h = mount(
        page, "flow", flow_traits(lanes=LANES, count=200, total=200, kept=200, window=data[-40:])
    )
    answer_finds(page, h, data)
    page.wait_for_selector(f'{root(h)} .gk-row[data-pos="199"]')
    page.click(f"{root(h)} .gk-jump-lost")
    page.wait_for_function(f"() => gk.views[{h}].model.get('selected') === 'm197'")
    assert trait(page, h, "follow") is False and saved(page, h)["follow"] is False
    sel = f'{root(h)} .gk-row[data-mid="m197"]'
    assert "gk-selected" in (page.get_attribute(sel, "class") or "")
    assert page.locator(sel).is_visible()
    page.click(f"{root(h)} .gk-jump-lost")  # the next one, older
    page.wait_for_function(f"() => gk.views[{h}].model.get('selected') === 'm187'")
    page.click(f"{root(h)} .gk-jump-dup")
    page.wait_for_function(f"() => gk.views[{h}].model.get('selected') === 'm183'")
    # far down: the row is fetched and scrolled to
    page.click(f"{root(h)} .gk-jump-err")
    page.wait_for_function(f"() => gk.views[{h}].model.get('selected') === 'm15'")
    assert page.locator(f'{root(h)} .gk-row[data-mid="m15"]').is_visible()
    finds = [m for m in sent(page, h) if m.get("type") == "find"]
    assert [f["mark"] for f in finds] == ["lost", "lost", "dup", "err"]
    assert finds[1]["from"] == 197 and finds[2]["from"] == 187


def test_group_row_lists_its_copies(page: Any) -> None:
    data = rows(10)
    data[9] = [9, 0.009, RELAY, BOB, "put", "chat/m1", "m9", "lost", "ws", "", 12]
    data[9] += ["11 heard, 1 lost", 0]
    h = mount(page, "flow", flow_traits(lanes=LANES, count=10, total=21, kept=21, window=data))
    page.wait_for_selector(f'{root(h)} .gk-row[data-pos="9"][data-n="12"]')
    assert "×12" in (page.text_content(f'{root(h)} .gk-row[data-pos="9"] .gk-times') or "")
    page.click(f'{root(h)} .gk-row[data-pos="9"] .gk-text')
    ask = [m for m in sent(page, h) if m.get("type") == "members"]
    assert ask and ask[-1]["pos"] == 9
    copies = [
        [9, 0.009 + i / 1000, RELAY, BOB, "put", "chat/m1", f"c{i}", "heard", "ws", ""]
        for i in range(12)
    ]
    copies[4][7] = "lost"
    py_send(page, h, {"type": "members", "req": ask[-1]["req"], "pos": 9, "rows": copies})
    items = page.locator(f"{root(h)} .gk-detail .gk-members li")
    assert items.count() == 12
    assert page.locator(f'{root(h)} .gk-detail .gk-members li[data-mark="lost"]').count() == 1
    assert "12 copies: 11 heard, 1 lost" in (page.text_content(f"{root(h)} .gk-detail") or "")
    items.nth(4).click()
    assert trait(page, h, "selected") == "c4"
    assert page.locator(f"{root(h)} .gk-detail .gk-members li").count() == 12
    page.click(f"{root(h)} .gk-group")
    assert trait(page, h, "group") is True and saved(page, h)["group"] is True
