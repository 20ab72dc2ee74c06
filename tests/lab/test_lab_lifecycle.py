"""A Lab's life from a notebook's side (issue 17, items 6.2-6.6): closing it closes every widget it
made and leaves "closed" on the page; ``show()`` shows itself and refuses a closed Lab; a peer
that cannot connect leaves nothing behind; a read of a missing value says what was asked and of
whom; every peer name that is not known is an error listing the known ones.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from ipywidgets.widgets.widget import _instances

from gunrtc_kit.errors import GunError, NetworkError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.lab import NoValueWarning
from tests.netns import require_loopback_only

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------- 2. closing


def test_close_closes_every_widget_the_lab_made_and_marks_its_views() -> None:
    before = set(_instances)
    lab = Lab(relay=False)
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    board = lab.show()
    frozen = lab.peer_view(a)
    lab.compact()
    lab.memory_peer("c")  # after show(): gets a dashboard tab too
    assert len(set(_instances) - before) > 15
    views = [board.mesh, board.flow, board.signaling, frozen, *board.peer_views.values()]
    lab.close()
    assert set(_instances) - before == set()  # not one widget left open
    for v in views:
        assert v.comm is None
        if v.has_trait("closed"):
            assert v.closed
    with pytest.raises(GunError, match="this Lab is closed; make a new Lab"):
        lab.show()
    with pytest.raises(GunError, match="this Lab is closed"):
        lab.peer_view(a)


def test_rerunning_the_lab_cell_closes_the_old_labs_widgets() -> None:
    before = set(_instances)
    first = Lab(relay=False)
    first._claim_cell("cell-1", 1)
    first.memory_peer("a")
    first.show()
    second = Lab(relay=False)
    try:
        second._claim_cell("cell-1", 2)  # the same cell, run again
        assert first.closed
        assert set(_instances) - before == set()  # the first run's 18 widgets are gone
        second.memory_peer("a")
        second.show()
        assert len(set(_instances) - before) > 0
    finally:
        second.close()
    assert set(_instances) - before == set()


# ---------------------------------------------------------------------- 3. a failed peer


def test_a_peer_that_cannot_connect_leaves_nothing_behind(lab: Lab) -> None:
    require_loopback_only()
    lab.memory_peer("a")
    lab.refresh()
    events, nodes = len(lab.bus.history), set(lab.hub.mesh.nodes)
    t0 = time.monotonic()
    with pytest.raises(NetworkError) as info:
        lab.peer("y", relay_url="ws://127.0.0.1:9/gun")
    assert time.monotonic() - t0 < 5  # refused at once, not after 10 s
    text = str(info.value)
    assert "ws://127.0.0.1:9/gun" in text and "refused" in text and "no peer was made" in text
    assert list(lab.peers) == ["a"] and "y" not in lab.names.values()
    assert len(lab._owned.guns) == 1
    lab.refresh()
    assert len(lab.bus.history) == events  # nothing traced: no node, no lane
    assert set(lab.hub.mesh.nodes) == nodes
    with pytest.raises(NetworkError, match="cannot reach ws://127.0.0.1:9/gun"):
        lab.attach("z", "ws://127.0.0.1:9/gun")
    assert list(lab.peers) == ["a"]
    lab.peer("y", rtc=False, room=False, relay_url=None)  # the name is free again


# ---------------------------------------------------------------------- 5. missing values


def test_a_read_that_finds_nothing_says_what_was_asked_and_of_whom(lab: Lab) -> None:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    lab.link_memory(a, b)
    with pytest.warns(NoValueWarning) as caught:
        assert b.get_sync("nope.nope", timeout=0.3) is None
    text = str(caught[0].message)
    assert "bob.get('nope.nope')" in text and "(alice)" in text and "none of the peers" in text
    assert b.last_read is not None and not b.last_read.found
    assert "nope.nope" in b.last_read._repr_html_()
    lone = lab.memory_peer("lone")
    with pytest.warns(NoValueWarning, match="asked nobody"):
        assert lone.get_sync(["x", "y"], timeout=0.2) is None
    a.put("chat.hi", "hello")
    assert b.get_sync("chat.hi", timeout=2) == "hello"
    assert b.last_read is not None and b.last_read.found


# ---------------------------------------------------------------------- 6. names


def test_every_unknown_peer_name_lists_the_known_ones(lab: Lab) -> None:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    calls: list[Any] = [
        lambda: lab.peers["zed"],
        lambda: lab.peer_view("zed"),
        lambda: lab.explain("zed", "doc.k"),
        lambda: lab.cut("alice", "zed"),
        lambda: lab.link_memory("zed", b),
        lambda: lab.signaling_view(a, "zed"),
        lambda: lab.sea_sync("zed", "alice"),
    ]
    for call in calls:
        with pytest.raises(GunError, match="'zed'.*known: alice, bob"):
            call()
    link = lab.link_memory("alice", "bob")  # a known name is as good as the peer
    assert link.ends == ("alice", "bob")
    assert lab.peer_view("bob").pid == b.pid


# ---------------------------------------------------------------------- 2 and 4 in a kernel


def _execute(kc: Any, code: str) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    reply = kc.execute_interactive(code, timeout=60, output_hook=msgs.append)
    errors = [m["content"] for m in msgs if m["header"]["msg_type"] == "error"]
    assert reply["content"]["status"] == "ok", errors
    return msgs


def _outputs(msgs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m["content"] for m in msgs if m["header"]["msg_type"] == kind]


WIDGET = "application/vnd.jupyter.widget-view+json"


def test_in_a_kernel_show_displays_once_and_close_leaves_closed_on_the_page() -> None:
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT), env=dict(os.environ))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        # the README's snippet as one cell: show() is not its last line
        msgs = _execute(
            kc,
            "from gunrtc_kit.lab import Lab\nlab = Lab(relay=False)\na = lab.memory_peer('a')\n"
            "lab.show()\nb = lab.memory_peer('b')\nv = lab.peer_view(a)\nv",
        )
        shown = _outputs(msgs, "display_data")
        assert [WIDGET in d["data"] for d in shown] == [True, True]  # dashboard, peer view
        ids = [d["transient"]["display_id"] for d in shown]
        # show() as the last line: displayed once, not again as the cell's value
        again = _execute(kc, "lab.show()")
        assert len(_outputs(again, "display_data")) == 1
        assert _outputs(again, "execute_result") == []
        ids.append(_outputs(again, "display_data")[0]["transient"]["display_id"])

        closing = _execute(
            kc,
            "from ipywidgets.widgets.widget import _instances\n"
            "n = len(_instances)\nlab.close()\nprint('LEFT', len(_instances), 'OF', n)",
        )
        updates = _outputs(closing, "update_display_data")
        assert sorted(u["transient"]["display_id"] for u in updates) == sorted(ids)
        assert all("closed" in u["data"]["text/plain"] for u in updates)
        assert all(WIDGET not in u["data"] for u in updates)
        printed = "".join(m["text"] for m in _outputs(closing, "stream"))
        assert "LEFT 0 OF" in printed, printed

        refused = kc.execute_interactive("lab.show()", timeout=60, output_hook=lambda m: None)
        assert refused["content"]["status"] == "error"
        assert "this Lab is closed; make a new Lab()" in refused["content"]["evalue"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# ---------------------------------------------------------------------- 2 and 4 in JupyterLab

JLAB_CELLS = [
    # the README's way: show() first, more lines after it, a frozen peer view last
    """from gunrtc_kit.lab import Lab
lab = Lab(relay=False)
a, b = lab.memory_peer("a"), lab.memory_peer("b")
lab.show()
lab.link_memory(a, b)
lab.peer_view(a)""",
    "import time; time.sleep(6)  # the page draws the widgets meanwhile",
    "lab.close()",
]


def test_in_jupyterlab_show_draws_once_and_close_says_closed(tmp_path: Path) -> None:
    require_loopback_only()
    from tests.jlab import notebook_page

    with notebook_page(tmp_path, "close", JLAB_CELLS) as page:
        # while the second cell sleeps: one dashboard, and the frozen peer view
        page.wait_for_selector(".gk-dashboard [data-view=mesh]", timeout=60_000)
        page.wait_for_selector("[data-view=peer][data-live=false]", timeout=30_000)
        assert page.locator(".gk-dashboard").count() == 1
        frozen = page.locator("[data-view=peer][data-live=false]")
        assert not frozen.locator("input.gk-live-toggle").is_checked()
        assert "as of" in (frozen.locator(".gk-frozen-at").text_content() or "")
        # after lab.close(): each output says the Lab is closed, nothing live is left
        page.wait_for_selector("text=Lab dashboard: closed", timeout=60_000)
        page.wait_for_selector("text=peer a: closed", timeout=10_000)
        assert page.locator("[data-view=mesh]").count() == 0
        assert page.locator(".gk-dashboard").count() == 0
