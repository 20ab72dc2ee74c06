"""The views in the real thing: JupyterLab on 127.0.0.1, Debian's chromium driven headless by
Playwright. A notebook makes a Lab of three peers with traffic running and a replay of its
trace; the test uses the page as a person would and asserts on the DOM:

- the mesh draws exactly the Lab's peers, and hovering a peer shows its name and counters;
- clicking a flow row while traffic keeps coming shows *that* message's JSON and fate, and
  it stays selected (by id) as rows move;
- the replay's slider moves its views back in time and forward again;
- the dark theme renders dark backgrounds with light text.

Screenshots are kept in test-artifacts/ (look at them)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.jlab import ARTIFACTS, notebook_page
from tests.netns import require_loopback_only

CELLS = [
    """import asyncio, pathlib, tempfile
from gunrtc_kit.lab import Lab
lab = Lab()
alice, bob, carol = lab.peer("alice"), lab.peer("bob"), lab.peer("carol")
lab.show()""",
    """lab.wait_linked_sync(alice, bob)
lab.wait_linked_sync(alice, carol)
async def traffic():
    i = 0
    while True:
        p = (alice, bob, carol)[i % 3]
        p.gun.get("chat").get(f"m{i}").put({"n": i, "from": p.name})
        i += 1
        await asyncio.sleep(0.05)
task = lab.rt.submit(traffic())
heard = []
def enough(e):  # 30 of the chat puts merged at carol: a trace worth replaying
    if e.kind == "put" and e.node == carol.pid and "chat" in e.changes:
        heard.append(e)
    return len(heard) >= 30
lab.bus.wait_for(enough, timeout=30, past=True)""",
    """path = lab.save_trace(pathlib.Path(tempfile.mkdtemp()) / "trace.jsonl")
replay = Lab.open_trace(path)
replay.show()""",
]


def count_shown(text: str) -> int:
    """The N of 'showing a–b of N (...)'."""
    m = re.search(r"of ([\d,]+)", text)
    assert m, text
    return int(m.group(1).replace(",", ""))


def luminance(rgb: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def colours(page: Any, selector: str) -> tuple[str, str]:
    """(background, text colour) of the first element matching ``selector``, the background
    taken from the nearest ancestor that has one."""
    return tuple(  # type: ignore[return-value]
        page.eval_on_selector_all(
            selector,
            """els => {
                const el = els.find(x => x.isConnected && x.getClientRects().length);
                const svg = el instanceof SVGElement;
                const color = svg ? getComputedStyle(el).fill : getComputedStyle(el).color;
                const clear = c => !c || c === 'rgba(0, 0, 0, 0)' || c === 'transparent';
                let e = el, bg = '';
                while (e && clear(bg)) {
                    bg = getComputedStyle(e).backgroundColor; e = e.parentElement;
                }
                return [bg, color];
            }""",
        )
    )


def test_views_in_jupyterlab(tmp_path: Path) -> None:
    require_loopback_only()
    with notebook_page(tmp_path, "views", CELLS) as page:
        mesh = page.locator("[data-view=mesh]").first
        flow = page.locator("[data-view=flow]").first
        # the mesh: exactly the Lab's peers, named
        page.wait_for_function(
            """() => {
                const m = document.querySelector('[data-view=mesh]');
                return m && m.querySelectorAll('.gk-node').length === 4;
            }""",
            timeout=90_000,
        )
        labels = sorted(mesh.locator(".gk-node .gk-node-label").all_text_contents())
        assert labels == ["alice", "bob", "carol", "relay"], labels
        # hover a peer: its tooltip names it and gives its counters
        mesh.locator(".gk-node", has_text="alice").first.hover()
        tip = mesh.locator(".gk-tooltip")
        tip.wait_for(state="visible", timeout=10_000)
        text = tip.text_content() or ""
        assert "alice" in text and "said" in text and "heard" in text, text
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-hover.png"))
        # the flow under traffic: click a put, the detail is that put, and stays so
        page.wait_for_selector("[data-view=flow] .gk-row[data-kind=put]", timeout=60_000)
        page.wait_for_timeout(1500)  # let traffic flow: rows keep moving
        # as a person does: the pointer goes to the rows (they hold still under it,
        # while new ones keep arriving above), then clicks the put it is on
        flow.locator(".gk-scroller").hover()
        page.wait_for_timeout(300)
        # a put row wholly on screen (rows above and below are drawn but clipped)
        pos = flow.evaluate(
            """f => {
                const box = f.querySelector('.gk-scroller').getBoundingClientRect();
                const rows = [...f.querySelectorAll('.gk-row[data-kind=put]')].filter(r => {
                    const b = r.getBoundingClientRect();
                    return b.top >= box.top + 30 && b.bottom <= box.bottom - 5;
                });
                return rows.length ? rows[Math.floor(rows.length / 2)].dataset.pos : null;
            }"""
        )
        assert pos is not None, "no put row on screen"
        row = flow.locator(f'.gk-row[data-pos="{pos}"]')
        mid = row.get_attribute("data-mid")
        assert mid
        row.locator(".gk-text").first.click()
        # the detail pane that opens shrinks the rows' box, which can leave the pointer below
        # it (a leave, so nothing is held): point into the rows again, near their top
        flow.locator(".gk-scroller").hover(position={"x": 150, "y": 40})
        # traffic goes on above the pointer: the rows under it hold still, and say so
        flow.locator(".gk-count", has_text="held while pointing").wait_for(timeout=10_000)
        detail = flow.locator(".gk-detail")
        detail.get_by_text(f"#{mid}").first.wait_for(timeout=15_000)
        page.wait_for_function(
            "mid => document.querySelector('[data-view=flow] .gk-detail')"
            ".textContent.includes('heard')",
            arg=mid,
            timeout=15_000,
        )
        page.mouse.move(5, 5)  # the pointer leaves: auto-scroll follows the traffic again
        before = count_shown(flow.locator(".gk-count").text_content() or "")
        page.wait_for_timeout(2500)  # more traffic: more rows, the selection must not move
        after = count_shown(flow.locator(".gk-count").text_content() or "")
        assert after > before, (before, after)
        body = detail.text_content() or ""
        assert f"#{mid}" in body and f'"#": "{mid}"' in body and '"put"' in body, body[:400]
        assert "put" in body and "heard" in body
        selected = flow.locator(".gk-row.gk-selected")
        assert all(r.get_attribute("data-mid") == mid for r in selected.all()), (
            "another message got selected"
        )
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-flow-selected.png"))
        # the replay: the slider moves its views in time
        replay_flow = page.locator("[data-view=flow]").nth(1)
        slider = page.locator("[data-view=timeline] input.gk-slider").first
        slider.scroll_into_view_if_needed()
        replay_flow.locator(".gk-row").first.wait_for(timeout=30_000)
        full = count_shown(replay_flow.locator(".gk-count").text_content() or "")
        assert full > 20, full

        def move(to: str) -> None:
            slider.evaluate(
                f"""el => {{ el.value = el.{to}; el.dispatchEvent(new Event('input',
                    {{bubbles: true}})); el.dispatchEvent(new Event('change',
                    {{bubbles: true}})); }}"""
            )

        def replay_count() -> int:
            return count_shown(replay_flow.locator(".gk-count").text_content() or "")

        def until(pred: Any, what: str, timeout: float = 20.0) -> None:
            deadline = time.monotonic() + timeout
            while not pred():
                if time.monotonic() > deadline:
                    raise AssertionError(f"{what}: the replay shows {replay_count()} rows")
                page.wait_for_timeout(100)

        move("min")
        until(lambda: replay_count() < full / 4, f"back to the start (of {full})")
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-replay-start.png"))
        move("max")
        until(lambda: replay_count() == full, f"forward to the end ({full})")
        # nothing went wrong anywhere on the page
        assert not page.query_selector_all(".jp-OutputArea-output[data-mime-type*='error']")
        assert not page.query_selector_all(".gk-error:not(:empty)")
        # the dark theme
        page.click(".lm-MenuBar-itemLabel:text-is('Settings')")
        page.hover(".lm-Menu-itemLabel:text-is('Theme')")
        page.click(".lm-Menu-itemLabel:text-is('JupyterLab Dark')")
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000
        )
        page.wait_for_timeout(1000)
        mesh.scroll_into_view_if_needed()
        bg, fg = colours(page, "[data-view=mesh] .gk-node-label")
        assert luminance(bg) < 80 and luminance(fg) > 150, (bg, fg)
        bg, fg = colours(page, "[data-view=flow] .gk-count")
        assert luminance(bg) < 80 and luminance(fg) > 120, (bg, fg)
        bg, fg = colours(page, "[data-view=flow] .gk-row .gk-kind")
        assert luminance(bg) < 80 and luminance(fg) > 60, (bg, fg)  # kind colours on dark
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-dark.png"))


if __name__ == "__main__":  # pragma: no cover - run by hand to look at the page
    pytest.main([__file__, "-q"])
