"""The link view's Python side, fed synthetic ``LinkStats`` samples through a hub: what the
model keeps (per link, the latest link id, a bounded rate series, what changed) and what the
view sends (rows with names, a browser tab marked, state and failure class; the selected
link's candidates, pairs with the selected one, states, rates and failure sentence)."""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkmodel import LinkModel, link_key
from gunrtc_kit.diagnose.linkreport import LinkFailure, LinkReport
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.views.hub import ViewHub
from gunrtc_kit.lab.views.link_view import LinkView

A, B, TAB = "pid-a", "pid-b", "pid-tab"


def cand(address: str, port: int, family: str = "ipv4", resolved: str = "") -> Any:
    return {
        "address": address,
        "resolved": resolved or (address if family != "mdns" else ""),
        "port": port,
        "type": "host",
        "protocol": "udp",
        "family": family,
    }


def healthy(node: str, peer: str, t: float, sent: int, received: int, **kw: Any) -> trace.LinkStats:
    """An open link's sample from ``node``: one host pair selected."""
    mine, theirs = ("127.0.0.1:5000", "127.0.0.1:6000")
    if node > peer:
        mine, theirs = theirs, mine
    pair: Any = {"local": mine, "remote": theirs, "state": "succeeded", "nominated": True}
    other: Any = {"local": mine, "remote": "[::1]:7000", "state": "failed", "nominated": False}
    fields: dict[str, Any] = {
        "link": f"{node}-link1",
        "phase": "open",
        "opened": True,
        "age": 1.0,
        "pc": "connected",
        "ice": "completed",
        "gathering": "complete",
        "dtls": "connected",
        "sctp": "connected",
        "local_candidates": [cand("127.0.0.1", int(mine.rsplit(":", 1)[1]))],
        "remote_candidates": [
            cand("127.0.0.1", int(theirs.rsplit(":", 1)[1])),
            cand("::1", 7000, "ipv6"),
        ],
        "pairs": [pair, other],
        "selected": pair,
        "rtt": 0.0021,
        "messages_sent": sent,
        "messages_received": received,
        "bytes_sent": sent * 100,
        "bytes_received": received * 100,
        "buffered": 64,
    }
    fields.update(kw)
    return trace.LinkStats(t, node, peer, **fields)


def failing(t: float) -> trace.LinkStats:
    """A tab's link that never opened: the remote offered only an mDNS name nobody resolved."""
    return trace.LinkStats(
        t,
        A,
        TAB,
        link="a-tab-1",
        phase="pending",
        age=t - 100.0,
        pc="failed",
        ice="failed",
        dtls="new",
        sctp="new",
        local_candidates=[cand("127.0.0.1", 5001)],
        remote_candidates=[cand("3f2c9a1b-77aa.local", 9000, "mdns")],
        stalled=True,
    )


def make(events: list[trace.Event]) -> tuple[ViewHub, LinkView]:
    d = Directory()
    d.name(A, "alice", "peer")
    d.name(B, "bob", "peer")
    d.name(TAB, "tab", "browser")
    hub = ViewHub(d)
    view = LinkView(hub)
    hub.feed_many(events)
    hub.refresh()
    return hub, view


def traffic(seconds: int, start: float = 100.0) -> list[trace.Event]:
    """Both ends of a healthy a-b link, once a second: a sends 10/s, b 4/s."""
    out: list[trace.Event] = []
    for i in range(1, seconds + 1):
        t = start + i
        out.append(healthy(A, B, t, sent=10 * i, received=4 * i, age=float(i)))
        out.append(healthy(B, A, t + 0.01, sent=4 * i, received=10 * i, age=float(i)))
    return out


def test_model_reads_only_link_stats_and_says_what_changed() -> None:
    m = LinkModel()
    assert m.reads == frozenset({trace.LinkStats})
    m.apply(trace.Said(1.0, A, B))
    assert not m.links
    for e in traffic(3):
        m.apply(e)
    key = link_key(A, B)
    assert m.take_changed() == {key}
    assert m.take_changed() == set()
    assert set(m.links[key].sides) == {A, B}
    m.apply(healthy(A, B, 200.0, 500, 200, age=100.0))
    assert m.take_changed() == {key}


def test_model_rates_are_the_reports_rates_and_bounded() -> None:
    events = traffic(30)
    m = LinkModel(points=20)
    for e in events:
        m.apply(e)
    live = m.report(link_key(A, B))
    whole = LinkReport.from_events(events, A, B)
    assert live is not None and whole is not None
    for mine, theirs in zip(live.sides, whole.sides, strict=True):
        assert len(mine.rates) == 20  # bounded
        assert mine.rates == theirs.rates[-20:]  # the same computation as the report's
        assert mine.failure is None and theirs.failure is None
    assert live.side(A) is not None
    assert live.side(A).rates[-1].sent_per_s == pytest.approx(10.0)  # type: ignore[union-attr]


def test_a_new_link_id_starts_the_side_afresh() -> None:
    m = LinkModel()
    for e in traffic(5):
        m.apply(e)
    m.apply(healthy(A, B, 300.0, 3, 1, link="pid-a-link2", age=1.0))
    side = m.links[link_key(A, B)].sides[A]
    assert side.link == "pid-a-link2" and side.samples == 1
    assert [r.sent_per_s for r in side.rates] == [pytest.approx(3.0)]


def test_view_sends_a_healthy_link_with_candidates_pairs_states_and_rates() -> None:
    hub, view = make(traffic(10))
    key = link_key(A, B)
    assert view.links == [
        {
            "id": key,
            "a": A,
            "b": B,
            "label_a": "alice",
            "label_b": "bob",
            "browser_a": False,
            "browser_b": False,
            "state": "open",
            "failure": "",
        }
    ]
    assert view.selected == key  # the first link is shown without a click
    d = view.detail
    assert d["state"] == "open" and d["failure"] == "" and d["why"] == ""
    side_a, side_b = d["sides"]
    assert side_a["node_label"] == "alice" and side_b["node_label"] == "bob"
    assert side_a["states"]["ice"] == "completed" and side_a["sctp"] == "connected"
    assert [c["address"] for c in side_a["local"]] == ["127.0.0.1"]
    assert [(c["address"], c["family"]) for c in side_a["remote"]] == [
        ("127.0.0.1", "ipv4"),
        ("::1", "ipv6"),
    ]
    chosen = [p for p in side_a["pairs"] if p["selected"]]
    assert chosen == [
        {
            "local": "127.0.0.1:5000",
            "remote": "127.0.0.1:6000",
            "state": "succeeded",
            "nominated": True,
            "selected": True,
        }
    ]
    assert side_a["selected"] == {"local": "127.0.0.1:5000", "remote": "127.0.0.1:6000"}
    assert side_a["rtt_ms"] == pytest.approx(2.1) and side_a["buffered"] == 64
    s = d["series"]
    assert len(s["t"]) == 10 and s["t"][-1] == 0
    assert s["ab"][-1] == pytest.approx(10.0) and s["ba"][-1] == pytest.approx(4.0)
    sent = view.detail
    hub.feed_many(traffic(12)[-2:])  # one more second each side: the chart moves
    hub.refresh()
    assert view.detail is not sent and view.detail["version"] > sent["version"]


def test_view_sends_a_failing_tab_link_with_its_class_and_sentence() -> None:
    hub, view = make([*traffic(3), failing(110.0), failing(111.0)])
    rows = {r["id"]: r for r in view.links}
    tab = rows[link_key(A, TAB)]
    assert tab["state"] == "failed" and tab["failure"] == str(LinkFailure.MDNS_UNRESOLVED)
    assert tab["browser_b"] is True and tab["label_b"] == "tab"
    assert rows[link_key(A, B)]["failure"] == ""
    view.select("alice", "tab")  # names work, as pids and peers do
    d = view.detail
    assert d["id"] == link_key(A, TAB)
    assert d["failure"] == "mDNS name not resolvable"
    assert "tab offered only mDNS names" in d["why"] and "3f2c" in d["why"]
    (side,) = d["sides"]
    assert side["remote"][0]["family"] == "mdns" and side["remote"][0]["resolved"] == ""
    assert side["pairs"] == [] and side["selected"] is None


def test_select_refuses_an_unknown_link_and_a_tick_without_samples_sends_nothing() -> None:
    hub, view = make(traffic(2))
    with pytest.raises(GunError, match="no WebRTC link between alice and tab"):
        view.select(A, TAB)
    before = view.detail
    hub.feed(trace.Said(200.0, A, B))  # not a sample: nothing for this view
    hub.refresh()
    assert view.detail is before


def test_dashboard_has_the_links_tab_and_a_dc_click_selects_the_link() -> None:
    from gunrtc_kit.lab.views.dashboard import Dashboard, close_tree
    from gunrtc_kit.lab.views.flow_view import FlowView
    from gunrtc_kit.lab.views.mesh_view import MeshView
    from gunrtc_kit.lab.views.signaling_view import SignalingView

    hub, view = make([*traffic(3), failing(110.0)])
    board = Dashboard(MeshView(hub), FlowView(hub), SignalingView(hub), links=view)
    try:
        assert board.tabs.children[1] is view and board.tabs.get_title(1) == "WebRTC links"
        board.mesh.selected_edge = f"{A}|{TAB}|dc|"
        assert view.selected == link_key(A, TAB)
    finally:
        close_tree(board)


def test_a_replay_shows_the_links_as_they_were_at_the_instant_chosen() -> None:
    from gunrtc_kit.lab.views.replay import Replay

    events = [healthy(A, B, float(t), sent=10 * t, received=5 * t) for t in range(1, 6)]
    replay = Replay(events, {"names": {A: "a", B: "b"}})
    board = replay.show()
    view = replay.link_view()
    assert view in board.tabs.children  # the replay's dashboard has its links tab
    replay.seek(replay.duration)
    assert [(r["label_a"], r["label_b"], r["state"]) for r in view.links] == [("a", "b", "open")]
    replay.seek(0.0)  # before the second sample only the first one is known
    with replay.hub.lock:
        side = replay.hub.links.links[link_key(A, B)].sides[A]
    assert side.last.messages_sent == 10
