"""Step mode in a real browser (the harness of test_frontend.py, Debian chromium): the mesh and
flow views of a held Lab, bridged to their Python views; a click on a held token opens the
menu, "deliver" reaches the Lab, and the DOM shows the frame arrived (its token gone, its row
heard); a click on a held row of the flow drops the ack. Screenshots go to /tmp/stepviews-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gunrtc_kit.lab import Lab
from tests.lab import test_frontend as fe
from tests.lab.test_frontend import Bridge, root

server, browser, page = fe.server, fe.browser, fe.page

SHOTS = Path("/tmp")


def shot(page: Any, selector: str, name: str) -> None:
    page.locator(selector).screenshot(path=str(SHOTS / f"stepviews-{name}.png"))


def test_click_a_held_token_deliver_it_and_see_it_arrive(page: Any) -> None:
    lab = Lab(relay="memory", seed=2)
    try:
        alice = lab.peer("alice", rtc=False)
        lab.peer("bob", rtc=False)
        lab.hold()
        mesh = Bridge(page, lab.mesh_view(), "mesh")
        flow = Bridge(page, lab.flow_view(), "flow")
        bridges = (mesh, flow)

        def spin(n: int = 4) -> None:
            for _ in range(n):
                lab.refresh()
                for br in bridges:
                    br.pump()
                page.wait_for_timeout(30)

        mid = alice.put("chat.hello", "hi")
        (pending,) = lab.pending()
        frame = pending.name
        spin()
        m, f = root(mesh.h), root(flow.h)
        token = f'{m} .gk-held-token[data-frame="{frame}"]'
        # the token: on alice's wire to the relay, its frame name and kind; the wire's count
        page.wait_for_selector(token)
        assert page.text_content(token) == f"{frame} put"
        eid = page.get_attribute(token, "data-edge") or ""
        assert {lab.names[p] for p in eid.split("|")[:2]} == {"alice", "relay"}, eid
        plates = page.eval_on_selector_all(
            f"{m} .gk-edge-label", "es => es.map(e => [e.dataset.id, e.textContent])"
        )
        assert [eid, "1 held"] in plates, plates
        assert "1 frame held" in (page.text_content(f"{m} .gk-status") or "")
        # the flow: alice -> relay in flight, naming the frame
        row = f'{f} .gk-row[data-mid="{mid}"]'
        page.wait_for_selector(row)
        assert page.get_attribute(row, "data-mark") == "held"
        assert page.get_attribute(row, "data-frame") == frame
        assert "in flight" in (page.get_attribute(row, "title") or "")
        assert page.locator(f"{row} .gk-mark-held").count() == 1
        shot(page, m, "mesh-held")
        shot(page, f, "flow-held")

        # click the token: the menu, deliver
        page.locator(token).click()
        menu = f"{m} .gk-step-menu"
        page.wait_for_selector(menu, state="visible")
        assert frame in (page.text_content(f"{menu} .gk-step-title") or "")
        shot(page, m, "mesh-menu")
        page.click(f"{menu} .gk-step-deliver")
        spin()
        answer = page.locator(f"{menu} .gk-step-answer")
        assert answer.get_attribute("data-ok") == "1"
        assert (answer.text_content() or "").startswith(f"delivered {frame} alice→relay put")
        # it arrived: its token is gone, its row heard; the ack it caused is held in its turn
        assert page.locator(token).count() == 0
        page.wait_for_function(
            "s => document.querySelector(s)?.dataset.mark === 'heard'", arg=row, timeout=3000
        )
        acks = [p for p in lab.pending() if p.kinds == ("ack",)]
        assert len(acks) == 1
        ack = acks[0].name
        page.wait_for_selector(f'{m} .gk-held-token[data-frame="{ack}"]')
        shot(page, m, "mesh-delivered")

        # the ack's row in the flow: click it, drop it
        ack_row = f'{f} .gk-row[data-frame="{ack}"]'
        page.wait_for_selector(ack_row)
        page.locator(f"{ack_row} .gk-text").click()
        fmenu = f"{f} .gk-step-menu"
        page.wait_for_selector(fmenu, state="visible")
        shot(page, f, "flow-menu")
        page.click(f"{fmenu} .gk-step-drop")
        spin()
        assert page.get_attribute(f"{fmenu} .gk-step-answer", "data-ok") == "1"
        page.wait_for_function(
            "([s, id]) => [...document.querySelectorAll(s)].some("
            "e => e.dataset.mid === id && e.dataset.mark === 'lost')",
            arg=[f"{f} .gk-row", acks[0].ids[0]],
            timeout=3000,
        )
        assert page.locator(f'{m} .gk-held-token[data-frame="{ack}"]').count() == 0
        shot(page, f, "flow-dropped")
    finally:
        lab.close()


def test_a_replay_shows_tokens_without_a_menu(page: Any, tmp_path: Path) -> None:
    from gunrtc_kit.lab.views.replay import Replay

    lab = Lab(relay="memory", seed=4)
    try:
        alice = lab.peer("alice", rtc=False)
        lab.peer("bob", rtc=False)
        lab.hold()
        alice.put("chat.hello", "hi")
        (frame,) = [p.name for p in lab.pending()]
        path = lab.save_trace(tmp_path / "held.jsonl")
    finally:
        lab.close()
    replay = Replay.open(path)
    br = Bridge(page, replay.mesh_view(), "mesh")
    for _ in range(3):
        replay.hub.refresh()
        br.pump()
        page.wait_for_timeout(30)
    token = f'{root(br.h)} .gk-held-token[data-frame="{frame}"]'
    page.wait_for_selector(token)
    page.locator(token).hover()
    assert "replay" in (page.text_content(f"{root(br.h)} .gk-tooltip") or "")
    page.locator(token).click()
    page.wait_for_timeout(100)
    assert not page.is_visible(f"{root(br.h)} .gk-step-menu")
    assert not [
        m for m in page.evaluate(f"() => gk.views[{br.h}].model.sent") if m.get("type") == "step"
    ]
    shot(page, root(br.h), "replay")


def test_signalling_view_lists_held_signalling_and_delivers_it(page: Any) -> None:
    lab = Lab(relay="memory", seed=8)
    try:
        lab.peer("alice")
        lab.hold()
        lab.peer("bob")
        sig = Bridge(page, lab.signaling_view(), "signaling")

        def spin(n: int = 3) -> None:
            for _ in range(n):
                lab.refresh()
                sig.pump()
                page.wait_for_timeout(30)

        spin()
        r = root(sig.h)
        frame = sig.view.held[0]["frame"]
        chip = f'{r} .gk-held-chip[data-frame="{frame}"]'
        page.wait_for_selector(chip)
        assert "bob → relay · get" in (page.text_content(chip) or "")
        assert page.is_visible(f"{r} .gk-sig-held")
        page.click(chip)
        menu = f"{r} .gk-step-menu"
        page.wait_for_selector(menu, state="visible")
        shot(page, r, "signaling-menu")
        page.click(f"{menu} .gk-step-deliver")
        spin()
        assert page.get_attribute(f"{menu} .gk-step-answer", "data-ok") == "1"
        assert page.locator(chip).count() == 0
        chips = page.eval_on_selector_all(f"{r} .gk-held-chip", "es => es.map(e => e.textContent)")
        assert any("relay → alice · get" in c for c in chips), chips
        shot(page, r, "signaling-delivered")
    finally:
        lab.close()


def test_a_wire_holding_many_frames_draws_the_oldest_whole_and_counts_the_rest(page: Any) -> None:
    """Dozens held on one wire (step mode under live traffic): the tokens drawn do not overlap
    (each can be read and clicked), the oldest is drawn, and a "+N held" chip counts the rest,
    so drawn + N is every frame held on that side."""
    lab = Lab(relay="memory", seed=4)
    try:
        alice = lab.peer("alice", rtc=False)
        lab.peer("bob", rtc=False)
        lab.hold()
        mesh = Bridge(page, lab.mesh_view(), "mesh")
        ids = [alice.put(f"chat.m{i}", i) for i in range(30)]
        assert len(lab.pending()) == 30 and ids
        for _ in range(4):
            lab.refresh()
            mesh.pump()
            page.wait_for_timeout(30)
        m = root(mesh.h)
        page.wait_for_selector(f"{m} .gk-more")
        boxes = page.eval_on_selector_all(
            f"{m} .gk-held-token",
            """els => els.filter(e => e.getAttribute('visibility') !== 'hidden').map(e => {
                const r = e.getBoundingClientRect();
                return [e.dataset.frame || 'more', r.left, r.top, r.right, r.bottom];
            })""",
        )
        drawn = [b for b in boxes if b[0] != "more"]
        assert drawn and drawn[0][0] == lab.pending()[0].name  # the oldest is drawn
        for i, a in enumerate(boxes):  # nothing drawn overlaps anything else drawn
            for b in boxes[i + 1 :]:
                apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
                assert apart, (a, b)
        (chip,) = page.locator(f"{m} .gk-more").all_text_contents()
        assert chip == f"+{30 - len(drawn)} held", (chip, len(drawn))
        shot(page, m, "mesh-many")
    finally:
        lab.close()
