"""The link view on a real aiortc link between two Lab peers: under puts, the view's rate for
the link goes above zero both ways and moves with more traffic, and it shows the selected
pair, the candidates and the states; drawn in chromium for a screenshot. Loopback only, in a
network namespace of its own:

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/pytest -q tests/lab/test_link_view*.py'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkmodel import link_key
from gunrtc_kit.lab import Lab
from tests.lab import test_frontend as fe
from tests.lab.test_frontend import mount, root, shot
from tests.netns import require_loopback_only

pytestmark = [pytest.mark.webrtc]

# the browser, the harness's http server and a page with it loaded, as test_frontend.py has them
server, browser, page = fe.server, fe.browser, fe.page


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_loopback_only()
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()


def counted(node: str, peer: str, n: int) -> Callable[[trace.Event], bool]:
    """A sample of ``node`` about ``peer`` with at least ``n`` messages in."""

    def test(e: trace.Event) -> bool:
        return (
            isinstance(e, trace.LinkStats)
            and e.node == node
            and e.peer == peer
            and e.messages_received >= n
        )

    return test


def burst(lab: Lab, a: Any, b: Any, sent: dict[str, int], na: int, nb: int) -> None:
    """``na`` puts from ``a`` and ``nb`` from ``b`` (``sent`` counts each end's puts so far),
    then wait until each end's sample counts at least the other's puts in: every put crosses
    the data channel."""
    for i in range(max(na, nb)):
        if i < na:
            a.put(f"p{sent['a'] + i}.a", i)
        if i < nb:
            b.put(f"p{sent['b'] + i}.b", i)
    sent["a"] += na
    sent["b"] += nb
    lab.bus.wait_for(counted(b.pid, a.pid, sent["a"]), 20, past=True)
    lab.bus.wait_for(counted(a.pid, b.pid, sent["b"]), 20, past=True)
    lab.refresh()


def test_link_view_rates_move_under_traffic(lab: Lab, page: Any) -> None:
    a, b = lab.peer("a"), lab.peer("b")
    lab.wait_linked_sync(a, b)
    sent = {"a": 0, "b": 0}
    burst(lab, a, b, sent, 120, 40)
    view = lab.link_view(a, b)
    assert view.selected == link_key(a.pid, b.pid)
    assert lab.show().tabs.children[1] is view  # the dashboard's "WebRTC links" tab
    first = view.detail
    row = next(r for r in view.links if r["id"] == view.selected)
    assert (row["label_a"], row["label_b"]) == ("a", "b")  # the Lab's first peer first
    assert first["state"] == "open" and first["failure"] == ""
    s = first["series"]
    assert max(s["ab"]) > 0 and max(s["ba"]) > 0, s
    for side in first["sides"]:
        assert side["states"]["ice"] in ("completed", "connected") and side["sctp"] == "connected"
        assert side["local"] and side["remote"]
        assert side["selected"] is not None
        assert [p for p in side["pairs"] if p["selected"]], side["pairs"]

    burst(lab, a, b, sent, 30, 150)
    later = view.detail
    assert later["version"] > first["version"]
    assert later["series"] != first["series"]  # the chart moves under traffic

    h = mount(
        page,
        "links",
        {
            "links": view.links,
            "selected": view.selected,
            "detail": later,
            "title": view.title,
            "height": 640,
            "error": "",
        },
    )
    r = root(h)
    assert page.locator(f"{r} tr.gk-pair-selected").count() == 2  # one per end
    assert page.get_attribute(f"{r} path.gk-chart-ab", "d")
    shot(page, r, "links-live")
