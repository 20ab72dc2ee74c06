"""An inspector a cell shows says what was true when that cell ran (issue 17, item 6.1).

``lab.peer_view(p)`` and ``lab.sea_sync(...)`` are frozen by default: later traffic,
``lab.refresh()``, the pump's ticks and a front end's ``hello`` leave them as they were; the
``live`` trait (the widget's checkbox, or ``live=True``) makes them follow the peer. The story
that went wrong in notebook 08: an inspector shown under a wrong-password login read "auth
succeeded" after a later cell logged in right.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from gunrtc_kit.errors import GunError, SeaError
from gunrtc_kit.lab import Lab
from tests.lab import test_frontend as fe

# the harness's fixtures, under the names pytest looks for
server = fe.server
browser = fe.browser
page = fe.page

PASSWORD = "correct horse battery"


def _data(view: object) -> dict[str, object]:
    return dict(view.peer.get("data") or {})  # type: ignore[attr-defined]


def test_a_peer_view_keeps_what_was_true_when_it_was_made(lab: Lab) -> None:
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    a.put("doc.k", 1)
    frozen = lab.peer_view(a)
    assert not frozen.live and frozen.frozen_at  # the time it shows in its header
    assert _data(frozen) == {"doc": {"k": 1}}
    live = lab.peer_view("a", live=True)
    assert live is not frozen and lab.peer_view(a, live=True) is live  # one live view
    assert lab.peer_view(a) is not frozen  # each cell gets its own snapshot

    a.put("doc.k", 2)
    lab.refresh()  # a flush: every live view is brought up to date
    assert _data(live) == {"doc": {"k": 2}}
    assert _data(frozen) == {"doc": {"k": 1}}
    frozen._on_front_message(frozen, {"type": "hello"}, [])  # a new front end renders it
    frozen._on_front_message(frozen, {"type": "visible", "on": True}, [])
    assert _data(frozen) == {"doc": {"k": 1}}

    frozen.live = True  # the checkbox: follow the peer from now on
    assert _data(frozen) == {"doc": {"k": 2}} and frozen.frozen_at == ""
    frozen.live = False  # and freeze again, at this instant
    a.put("doc.k", 3)
    lab.refresh()
    assert _data(frozen) == {"doc": {"k": 2}} and frozen.frozen_at


def test_a_frozen_peer_views_why_pane_says_the_peer_moved_on(lab: Lab) -> None:
    a = lab.memory_peer("a")
    a.put("doc.k", 1)
    view = lab.peer_view(a)
    sent: list[dict[str, Any]] = []
    view.post = sent.append  # type: ignore[method-assign,assignment]
    a.put("doc.k", 2)
    lab.refresh()
    view._on_front_message(view, {"type": "explain", "req": 1, "soul": "doc", "key": "k"}, [])
    notes = sent[-1]["notes"]
    assert isinstance(notes, list) and "frozen at" in notes[0] and "holds now" in notes[0]


def test_the_sea_inspector_under_a_failed_login_stays_failed(lab: Lab) -> None:
    alice, bob = lab.memory_peer("alice"), lab.memory_peer("bob")
    lab.link_memory(alice, bob)
    alice.user.create_sync("alice", PASSWORD, timeout=20)
    with pytest.raises(SeaError, match="Wrong user or password"):
        bob.user.auth_sync("alice", "not the password", timeout=5)
    failed = lab.sea_sync(bob, "alice")  # what notebook 08's cell shows under the failed login
    assert failed.auth["summary"].startswith("auth failed")
    assert not failed.live and "frozen at" in failed.to_text()

    bob.user.auth_sync("alice", PASSWORD)  # a later cell logs in right
    lab.refresh()
    ticks = lab.hub.ticks + 15  # the pump's own rounds (40 ms each), past the view's throttle
    deadline = time.monotonic() + 10
    while lab.hub.ticks < ticks:
        assert time.monotonic() < deadline, "the view pump stopped"
        time.sleep(0.02)
    failed._on_front_message(failed, {"type": "hello"}, [])
    failed._on_front_message(failed, {"type": "refresh"}, [])  # no button while frozen
    assert failed.auth["summary"].startswith("auth failed")
    with pytest.raises(GunError, match="frozen at .* lab.sea_sync"):
        failed.refresh()

    now = lab.sea_sync("bob", "alice")  # a new snapshot, for the new cell
    assert now is not failed and not now.auth["summary"].startswith("auth failed")
    failed.live = True  # the checkbox: the old output follows the peer, if asked
    assert failed.auth["summary"] == now.auth["summary"]


# ---------------------------------------------------------------------- in chromium


def test_the_browser_shows_frozen_then_live_then_closed(page: Any, lab: Lab) -> None:
    a = lab.memory_peer("a")
    a.put("doc.k", 1)
    view = lab.peer_view(a)
    br = fe.Bridge(page, view, "peer")
    r = fe.root(br.h)
    br.pump()  # the view's hello: a frozen view answers with nothing new
    toggle = page.locator(f"{r} input.gk-live-toggle")
    assert not toggle.is_checked() and not toggle.is_disabled()
    assert (page.text_content(f"{r} .gk-frozen-at") or "") == f"as of {view.frozen_at}"
    value = page.locator(f"{r} tr.gk-field td.gk-value")
    assert value.text_content() == "1"

    a.put("doc.k", 2)
    lab.refresh()
    br.pump()
    assert value.text_content() == "1"  # frozen: the page keeps what the cell saw
    toggle.click()  # the user asks to follow the peer
    br.pump()  # the checkbox's save reaches Python, which sends the peer now
    br.pump()
    assert view.live and value.text_content() == "2"
    assert (page.text_content(f"{r} .gk-frozen-at") or "") == ""

    view.closed = True  # what Lab.close() sets before it closes the widget
    br.pump()
    note = page.locator(f"{r} .gk-closed")
    assert note.is_visible() and "closed" in (note.text_content() or "")
    assert toggle.is_disabled() and (page.text_content(f"{r} .gk-frozen-at") or "") == "closed"
