"""Tapped clients drawn in a real browser (the harness of test_frontend.py): the mesh a Lab's
views hold after two raw Gun clients talked to the Lab's relay through ``lab.tap``, sent as
the view sends it; each tapped client is a diamond of its own colour, a Lab peer stays a
circle, the relay a square, and the tap's wires say so in their tooltip. Screenshot:
test-artifacts/frontend-lab-tap.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gunrtc_kit.lab import Lab
from tests.lab import test_frontend as fe
from tests.lab.test_frontend import MESH, mount, py_send, root, shot
from tests.lab.test_lab_tap import run_put_through_tap

server, browser, page = fe.server, fe.browser, fe.page


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    yield lab
    lab.close()


def test_tapped_clients_are_diamonds_of_their_own(lab: Lab, page: Any) -> None:
    alice = lab.peer("alice", rtc=False)  # a Lab peer beside them, for the contrast
    tap, a, b, _got = run_put_through_tap(lab, close=False)
    try:
        alice.put("tapped.seen", "yes")
        view = lab.mesh_view()
        lab._hub.refresh()
        with lab._hub.lock:
            reset = {"type": "reset", **view._everything()}
    finally:
        a.close()
        b.close()
        tap.close()
    h = mount(page, "mesh", MESH)
    py_send(page, h, reset)
    roles = page.eval_on_selector_all(
        ".gk-node",
        "es => es.map(e => [e.textContent.trim(), e.getAttribute('class'),"
        " e.querySelector('.gk-shape').tagName])",
    )
    looks = {label: (cls, tag) for label, cls, tag in roles}
    for client in ("rawA", "rawB"):
        cls, tag = next(v for k, v in looks.items() if k.startswith(client))
        assert "gk-role-tapped" in cls and tag == "path", (client, cls, tag)
    cls, tag = next(v for k, v in looks.items() if k.startswith("alice"))
    assert "gk-role-peer" in cls and tag == "circle"
    cls, tag = next(v for k, v in looks.items() if k.startswith("relay"))
    assert "gk-role-relay" in cls and tag == "rect"
    fill = page.eval_on_selector(
        ".gk-node.gk-role-tapped .gk-shape", "e => getComputedStyle(e).fill"
    )
    peer_fill = page.eval_on_selector(
        ".gk-node.gk-role-peer .gk-shape", "e => getComputedStyle(e).fill"
    )
    assert fill != peer_fill, (fill, peer_fill)
    assert page.locator(".gk-edge.gk-tapped").count() == 2  # the two wires through the tap
    page.hover(".gk-edge.gk-tapped >> nth=0", force=True)
    tip = page.locator(".gk-tooltip")
    tip.wait_for(state="visible")
    assert "tappedbytap:127.0.0.1:" in (tip.text_content() or "").replace(" ", "")
    shot(page, root(h), "lab-tap")
