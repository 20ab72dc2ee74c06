"""PeerView's "why": a click on a field asks Python to explain it, in a real browser.

The page is the front-end harness of test_frontend.py (Debian's chromium, a fake anywidget
model); the first test bridges it to a real ``PeerView`` of a real Lab, so the click travels
to ``lab.explain`` and back; the second plays Python by hand to check requests, stale answers,
errors and closing. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.views import PeerView
from tests.lab import test_frontend as fe

# the harness's fixtures, under the names pytest looks for
server = fe.server
browser = fe.browser
page = fe.page


def heard(lab: Lab, node: str, mid: str) -> None:
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Heard) and e.node == node and e.msg.get("#") == mid,
        10,
        past=True,
    )


def test_clicking_a_field_shows_every_write_and_the_winner(page: Any, tmp_path: Path) -> None:
    lab = Lab(relay=False)
    try:
        # alice's clock runs 50 ms ahead: bob's later write is never ahead of her clock, so
        # she takes it on arrival (within one millisecond bob's state can be a fraction ahead
        # of hers, and HAM then rightly defers it: a 'deferred' verdict CI saw under load)
        alice = lab.memory_peer("alice", clock_skew=0.05)
        bob = lab.memory_peer("bob")
        lab.link_memory(alice, bob)
        first = alice.put("doc.title", "alice's draft")
        heard(lab, bob.pid, first)
        # bob writes once his clock has passed alice's state, so his is the later state
        mine = alice.graph()["doc"]["_"][">"]["title"]
        while time.time() * 1000 < mine + 2:
            time.sleep(0.001)
        second = bob.put("doc.title", "bob's edit")  # a later state: it wins
        heard(lab, alice.pid, second)
        view = PeerView(
            lab.hub,
            alice.pid,
            name="alice",
            height=640,
            explainer=lambda s, k: lab.explain(alice, s, k),
        )
        br = fe.Bridge(page, view, "peer")
        r = fe.root(br.h)

        def spin(n: int = 3) -> None:
            for _ in range(n):
                lab.refresh()
                br.pump()
                page.wait_for_timeout(20)

        spin()
        field = page.locator(f'{r} tr.gk-field[data-soul="doc"][data-key="title"]')
        field.wait_for()
        assert "bob's edit" in (field.text_content() or "")
        field.click()
        assert "asking" in (page.text_content(f"{r} .gk-explain-status") or "")
        spin()
        rows = page.locator(f"{r} .gk-explain-row")
        rows.first.wait_for()
        # every write alice saw: her own, then bob's over the memory wire
        assert rows.count() == 2
        froms = page.eval_on_selector_all(
            f"{r} .gk-explain-from", "es => es.map(e => e.textContent)"
        )
        vias = page.eval_on_selector_all(f"{r} .gk-explain-via", "es => es.map(e => e.textContent)")
        assert froms == ["this peer", "bob"] and vias == ["local", "memory"]
        # the starred row is the value alice's graph holds, with its verdict and reason
        held = alice.graph()["doc"]["title"]
        win = page.locator(f'{r} .gk-explain-row[data-winner="true"]')
        assert win.count() == 1
        assert json.dumps(held) in (win.locator(".gk-value").text_content() or "")
        assert win.get_attribute("data-verdict") == "accepted"
        assert "newer" in (win.locator(".gk-explain-why").text_content() or "")
        summary = page.text_content(f"{r} .gk-explain-summary") or ""
        assert "bob's write" in summary and "doc.title" in summary
        assert "gk-selected" in (field.get_attribute("class") or "")
        page.locator(r).screenshot(path=str(tmp_path / "peer-explain.png"))
        assert (tmp_path / "peer-explain.png").stat().st_size > 0
    finally:
        lab.close()


def test_requests_stale_answers_errors_and_close(page: Any, tmp_path: Path) -> None:
    peer = {
        "name": "alice",
        "pid": "p-alice",
        "counters": {},
        "links": [],
        "data": {"users/alice": {"name": "Alice", "age": 30}},
        "truncated": False,
    }
    h = fe.mount(page, "peer", {"peer": peer})
    r = fe.root(h)
    page.click(f'{r} tr.gk-field[data-key="name"]')
    page.locator(f'{r} tr.gk-field[data-key="age"]').focus()
    page.keyboard.press("Enter")
    asks = [m for m in fe.sent(page, h) if m.get("type") == "explain"]
    assert [(m["soul"], m["key"], m["req"]) for m in asks] == [
        ("users/alice", "name", 1),
        ("users/alice", "age", 2),
    ]
    assert page.text_content(f"{r} .gk-explain-field") == "users/alice.age"
    row = {"n": 1, "at": 0.5, "value": '"Alice"', "state": 5, "state_text": "5"}
    row |= {"from": "bob", "via": "dc", "verdict": "accepted", "reason": "first", "winner": True}
    # the answer to the first click comes late: it is not shown
    fe.py_send(page, h, {"type": "explain", "req": 1, "rows": [row], "summary": "old", "error": ""})
    assert page.locator(f"{r} .gk-explain-row").count() == 0
    fe.py_send(page, h, {"type": "explain", "req": 2, "rows": [], "error": "explain failed: x"})
    assert page.text_content(f"{r} .gk-explain-status") == "explain failed: x"
    page.click(f'{r} tr.gk-field[data-key="age"]')
    fe.py_send(
        page,
        h,
        {"type": "explain", "req": 3, "rows": [row], "summary": "why", "error": "", "notes": ["n"]},
    )
    assert page.locator(f'{r} .gk-explain-row[data-verdict="accepted"]').count() == 1
    assert page.text_content(f"{r} .gk-explain-summary") == "why"
    page.locator(r).screenshot(path=str(tmp_path / "peer-explain-fake.png"))
    page.click(f"{r} .gk-explain-close")
    assert page.locator(f"{r} .gk-explain").is_hidden()
    assert page.locator(f"{r} tr.gk-selected").count() == 0
    assert page.evaluate("h => gk.unmount(h)", h) == 0  # no listener left behind
