"""The link view's front end (static/links.js) in a real browser (the harness of
test_frontend.py), fed what the Python view really sends (``LinkView`` over synthetic samples,
see test_link_view.py): the list with a tab marked, the candidates and the selected pair, the
failure sentence, a click selecting a link, and a rate chart whose path moves with traffic."""

from __future__ import annotations

from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkmodel import link_key
from gunrtc_kit.lab.views.link_view import LinkView
from tests.lab import test_frontend as fe
from tests.lab.test_frontend import mount, py_set, root, saved, shot, updates
from tests.lab.test_link_view import TAB, A, B, failing, healthy, make, traffic

# the browser, the harness's http server and a page with it loaded, as test_frontend.py has them
server, browser, page = fe.server, fe.browser, fe.page


def traits(view: LinkView) -> dict[str, Any]:
    return {
        "links": view.links,
        "selected": view.selected,
        "detail": view.detail,
        "title": view.title,
        "height": 620,
        "error": "",
    }


def send(page: Any, h: int, view: LinkView) -> None:
    """Play Python: the view's traits as they are now, then wait for the redraw."""
    n = updates(page, h)
    py_set(page, h, "links", view.links)
    py_set(page, h, "detail", view.detail)
    py_set(page, h, "selected", view.selected)
    page.wait_for_function(
        "([s, n]) => +document.querySelector(s).dataset.updates > n", arg=[root(h), n]
    )


def chart_path(page: Any, h: int) -> str:
    return str(page.get_attribute(f"{root(h)} path.gk-chart-ab", "d") or "")


def test_link_view_shows_candidates_selected_pair_and_a_chart_that_moves(page: Any) -> None:
    events: list[trace.Event] = [*traffic(20), failing(110.0)]
    hub, view = make(events)
    h = mount(page, "links", traits(view))
    r = root(h)
    rows = page.locator(f"{r} .gk-link-row")
    assert rows.count() == 2
    assert page.locator(f'{r} .gk-link-row[aria-pressed="true"]').get_attribute(
        "data-id"
    ) == link_key(A, B)
    tab_row = page.locator(f'{r} .gk-link-row[data-id="{link_key(A, TAB)}"]')
    assert tab_row.locator(".gk-badge-browser").inner_text() == "browser"
    assert "mDNS name not resolvable" in tab_row.inner_text()

    # the selected link: both ends' candidates, the selected pair highlighted, states, RTT
    detail = page.locator(f"{r} .gk-link-detail")
    assert detail.get_attribute("data-id") == link_key(A, B)
    sides = detail.locator(".gk-link-side")
    assert sides.count() == 2
    assert sides.nth(0).locator(".gk-cand-address").all_inner_texts() == [
        "127.0.0.1",
        "127.0.0.1",
        "::1",
    ]
    selected = sides.nth(0).locator("tr.gk-pair-selected")
    assert selected.count() == 1
    assert "127.0.0.1:5000" in selected.inner_text() and "selected" in selected.inner_text()
    assert sides.nth(0).locator("tr.gk-pair").count() == 2  # the failed pair listed too
    states = detail.locator(".gk-link-states").inner_text()
    assert "completed" in states and "2.1 ms" in states and "64 B" in states
    assert "alice → bob: 10 msg/s" in detail.locator(".gk-chart-legend").inner_text()

    # more traffic: the chart's path moves
    before = chart_path(page, h)
    assert before.startswith("M")
    # five more seconds, a sending 40/s instead of 10/s
    more = [e for i in range(21, 26) for e in traffic_step(i, 200 + 40 * (i - 20))]
    hub.feed_many(more)
    hub.refresh()
    send(page, h, view)
    after = chart_path(page, h)
    assert after and after != before
    assert "alice → bob: 40 msg/s" in detail.locator(".gk-chart-legend").inner_text()
    shot(page, r, "links")

    # a click selects the failing tab link (the front end tells Python); Python answers
    tab_row.click()
    assert saved(page, h)["selected"] == link_key(A, TAB)
    view.selected = link_key(A, TAB)
    send(page, h, view)
    failure = detail.locator(".gk-link-failure")
    assert "mDNS name not resolvable" in failure.inner_text()
    assert "tab offered only mDNS names" in failure.inner_text()
    assert detail.locator(".gk-cand-resolved").all_inner_texts()[-1] == "not resolved"
    shot(page, r, "links-failed")


def traffic_step(i: int, sent_total: int) -> list[trace.Event]:
    """Second ``i`` of the a-b link with a's total ``sent_total`` (b's side follows)."""
    t = 100.0 + i
    return [
        healthy(A, B, t, sent=sent_total, received=4 * i, age=float(i)),
        healthy(B, A, t + 0.01, sent=4 * i, received=sent_total, age=float(i)),
    ]


def test_link_view_reads_in_a_dark_theme(page: Any) -> None:
    _hub, view = make([*traffic(20), failing(110.0)])
    h = fe.mount(page, "links", traits(view), dark=True)
    r = root(h)
    label = page.locator(f"{r} .gk-link-head .gk-link-who").first
    assert fe.luminance(label.evaluate("e => getComputedStyle(e).color")) > 0.5  # light text
    shot(page, f'.mount[data-h="{h}"]', "links-dark")
