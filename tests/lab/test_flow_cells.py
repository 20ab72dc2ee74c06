"""Issue 17, the flow's Python side: a filtered ``flow_view`` is a view of its own (an earlier
cell's output keeps its filters), lanes in the mesh's order (relays, then peers by name, or
the user's), rows in the trace's emission order even within one millisecond, soul filters
exact unless they end in ``*``, unknown peer names raising, groups of repeats, and the
"next lost / dup / err" search."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.views import FlowView, ViewHub
from gunrtc_kit.lab.views.flow_view import soul_test
from tests.helpers import front, record


@pytest.fixture
def hub() -> Iterator[ViewHub]:
    d = Directory()
    h = ViewHub(d)
    yield h
    h.close()


def link(hub: ViewHub, a: str, b: str, t: float = 0.0) -> None:
    """Both ends of a memory wire between pids ``a`` and ``b`` (each calls the other by pid)."""
    hub.feed(trace.Link(t, a, b, pid=b, transport="memory"))
    hub.feed(trace.Link(t, b, a, pid=a, transport="memory"))


def put(mid: str, soul: str = "s") -> dict[str, Any]:
    return {"#": mid, "put": {soul: {"_": {"#": soul}, "x": 1}}}


def said(hub: ViewHub, t: float, a: str, b: str, msg: dict[str, Any]) -> None:
    hub.feed(trace.Said(t, a, b, msg=msg, transport="memory"))


def heard(hub: ViewHub, t: float, b: str, a: str, msg: dict[str, Any]) -> None:
    hub.feed(trace.Heard(t, b, a, msg=msg, transport="memory"))


# ---------------------------------------------------------------- 1. views keep their filters
def test_a_filtered_flow_view_is_its_own_view(lab: Lab) -> None:
    a, b, c = lab.memory_peer("a"), lab.memory_peer("b"), lab.memory_peer("c")
    lab.link_memory(a, b)
    lab.link_memory(b, c)
    shared = lab.flow_view()
    cell2 = lab.flow_view(kind="put")  # notebook 04, cell 2
    cell3 = lab.flow_view(kind="get", peer="c")  # a later cell: must not change cell 2's
    assert cell2 is not cell3 and shared not in (cell2, cell3)
    assert lab.flow_view() is shared  # the dashboard's flow stays the one flow
    assert cell2.filters["kind"] == "put" and cell2.filters["peer"] == ""
    assert cell3.filters["kind"] == "get" and cell3.filters["peer"] == c.pid
    assert shared.filters["kind"] == "" and shared.filters["peer"] == ""
    a.put("doc", {"n": 1})
    b.get_sync("doc")
    lab.refresh()
    assert cell2.rows and all(r.kind == "put" for r in cell2.rows)
    cell3.set_filters(soul="far")  # filtering one view from Python leaves the others
    assert cell2.filters["soul"] == "" and shared.filters["soul"] == ""
    assert len(shared.rows) > len(cell2.rows)
    assert lab.flow_view(group=True) is not shared and shared.group is False


def test_unknown_peer_names_raise(lab: Lab) -> None:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    lab.link_memory(a, b)
    a.put("doc", {"n": 1})
    assert lab.messages(by="alice") and lab.messages(by=a) == lab.messages(by="alice")
    with pytest.raises(GunError, match=r"'bbo'.*alice, bob"):
        lab.messages(by="bbo")
    with pytest.raises(GunError, match=r"'carol'.*alice, bob"):
        lab.flow_view(peer="carol")
    with pytest.raises(GunError, match="no peer is named"):
        lab.flow_view(pair=["alice", "zed"])
    assert lab.flow_view(pair=["alice", "bob"]).filters["pair"] == [a.pid, b.pid]


# ---------------------------------------------------------------- 8. soul: exact or prefix*
def test_soul_filter_is_exact_unless_it_ends_in_a_star(lab: Lab) -> None:
    test = soul_test("chat/m49")
    assert test is not None and test("chat/m49") and not test("chat/m490")
    star = soul_test("chat/*")
    assert star is not None and star("chat/m490") and not star("char/x")
    assert soul_test("  ") is None
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    m49, m490 = a.put("chat/m49", {"n": 49}), a.put("chat/m490", {"n": 490})
    lab.refresh()
    assert m49 in lab.messages(soul="chat/m49") and m490 not in lab.messages(soul="chat/m49")
    assert {m49, m490} <= set(lab.messages(soul="chat/*"))
    exact = lab.flow_view(soul="chat/m49")
    assert exact.rows and {r.mid for r in exact.rows if r.kind == "put"} == {m49}
    prefix = lab.flow_view(soul="chat/*")
    assert {m49, m490} <= {r.mid for r in prefix.rows}


# ---------------------------------------------------------------- 3. lane order
def test_lanes_relays_first_then_peers_by_name_or_chosen(hub: ViewHub) -> None:
    d = hub.directory
    for pid, name in [("P3", "carol"), ("R", "relay"), ("P10", "peer10"), ("P2", "peer2")]:
        d.name(pid, name, "relay" if pid == "R" else "peer")
    d.name("P1", "alice")
    flow = FlowView(hub)
    # first seen: carol, relay, bob (no name: its id), alice, peer10, peer2
    link(hub, "P3", "R")
    link(hub, "R", "Pbob")
    link(hub, "R", "P1")
    link(hub, "R", "P10")
    link(hub, "R", "P2")
    for i, (x, y) in enumerate(
        [("P3", "R"), ("R", "Pbob"), ("R", "P1"), ("R", "P10"), ("R", "P2")]
    ):
        said(hub, 0.1, x, y, put(f"m{i}"))
    hub.refresh()
    seen = [d.label(e) for e in d.lanes]  # the directory numbers lanes as it meets them
    assert seen != ["relay", "alice", "carol", "peer2", "peer10", "Pbob"], seen
    assert flow.lane_names == ["relay", "alice", "carol", "peer2", "peer10", "Pbob"]
    assert flow.lane_order(["peer10", "carol"]) is flow
    hub.refresh()
    assert flow.lane_names == ["peer10", "carol", "relay", "alice", "peer2", "Pbob"]
    # rows name lanes by their directory number, which `lanes` maps to a column
    col = {x["lane"]: x["label"] for x in flow.lanes}
    sent = record(flow)
    front(flow, {"type": "rows", "req": 1, "from": 0, "to": 5})
    drawn = [(col[r[2]], col[r[3]]) for r in sent[-1]["rows"]]
    assert drawn == [("carol", "relay"), ("relay", "Pbob"), ("relay", "alice")] + [
        ("relay", "peer10"),
        ("relay", "peer2"),
    ]
    with pytest.raises(GunError, match="list of peer names"):
        flow.lane_order("alice")


# ---------------------------------------------------------------- 4. causal order within a ms
def test_rows_keep_emission_order_within_one_millisecond(hub: ViewHub) -> None:
    d = hub.directory
    for pid in "ABC":
        d.name(pid, pid.lower())
    link(hub, "A", "B")
    link(hub, "B", "C")
    flow = FlowView(hub)
    t = 5.0  # every event in the same millisecond; C's clock even runs 3 ms behind
    m1, m2 = put("m1"), put("m2")
    said(hub, t, "A", "B", m1)
    heard(hub, t, "B", "A", m1)
    said(hub, t, "B", "C", m1)  # relayed after B heard it
    heard(hub, t - 0.003, "C", "B", m1)
    said(hub, t - 0.003, "C", "B", {"#": "r1", "@": "m1", "ok": 1})  # C answers
    heard(hub, t, "B", "C", {"#": "r1", "@": "m1", "ok": 1})
    said(hub, t, "A", "B", m2)
    hub.refresh()
    order = [(r.mid, r.src, r.dst) for r in flow.rows]
    assert order == [("m1", "a", "b"), ("m1", "b", "c"), ("r1", "c", "b"), ("m2", "a", "b")]
    assert [r.seq for r in flow.rows] == sorted(r.seq for r in flow.rows)
    sent = record(flow)
    front(flow, {"type": "rows", "req": 1, "from": 0, "to": 4})
    assert [r[6] for r in sent[-1]["rows"]] == ["m1", "m1", "r1", "m2"]
    assert [r[0] for r in sent[-1]["rows"]] == [0, 1, 2, 3]


# ---------------------------------------------------------------- 6. jumps
def test_find_the_next_lost_dup_or_err(hub: ViewHub) -> None:
    d = hub.directory
    d.name("A", "a")
    d.name("B", "b")
    link(hub, "A", "B")
    flow = FlowView(hub)
    for i in range(30):
        m = put(f"m{i}")
        said(hub, i * 0.01, "A", "B", m)
        if i in (5, 20):
            cause = trace.DropCause.LOSS
            hub.feed(trace.Dropped(i * 0.01, "A", "B", msg_id=f"m{i}", cause=cause))
        else:
            heard(hub, i * 0.01, "B", "A", m)
        if i == 12:
            hub.feed(trace.Error(i * 0.01, "B", "A", error="bad", msg_id="m12"))
    hub.refresh()
    mids = [r.mid for r in flow.rows]
    lost = [mids.index("m5"), mids.index("m20")]
    assert [flow.rows[k].mark for k in lost] == ["lost", "lost"]
    assert flow.find("lost") == lost[1]  # from the newest, going older
    assert flow.find("lost", lost[1]) == lost[0]
    assert flow.find("lost", lost[0]) == lost[1]  # wraps round
    assert flow.find("err") == mids.index("m12")
    assert flow.find("dup") is None
    sent = record(flow)
    front(flow, {"type": "find", "req": 9, "mark": "lost", "from": lost[1]})
    assert sent[-1]["type"] == "found" and sent[-1]["req"] == 9
    assert sent[-1]["pos"] == lost[0] and sent[-1]["row"][6] == "m5"
    front(flow, {"type": "find", "req": 10, "mark": "dup", "from": 3})
    assert sent[-1]["pos"] is None and sent[-1]["row"] is None
    with pytest.raises(GunError, match="expected one of"):
        flow.find("heard")


# ---------------------------------------------------------------- 7. groups of repeats
def test_groups_collapse_repeats_at_50_puts_a_second(hub: ViewHub) -> None:
    d = hub.directory
    for pid, name in [("A", "alice"), ("R", "relay"), ("B", "bob"), ("C", "carol")]:
        d.name(pid, name, "relay" if pid == "R" else "peer")
    link(hub, "A", "R")
    link(hub, "R", "B")
    link(hub, "R", "C")
    plain = FlowView(hub)
    grouped = FlowView(hub, group=True)
    for i in range(100):  # 2 s of 50 puts/s: alice -> relay -> bob, carol
        t, m = i * 0.02, put(f"m{i}")
        said(hub, t, "A", "R", m)
        heard(hub, t, "R", "A", m)
        for p in "BC":
            said(hub, t, "R", p, m)
            if (i, p) == (42, "C"):
                hub.feed(trace.Dropped(t, "R", p, msg_id=m["#"], cause=trace.DropCause.LOSS))
            else:
                heard(hub, t, p, "R", m)
    hub.refresh()
    assert plain.count == 300
    assert grouped.count <= 9  # three links, a group a second each (plus edges)
    assert len(grouped.rows) == 300  # `rows` still lists every copy, in order
    sent = record(grouped)
    front(grouped, {"type": "rows", "req": 1, "from": 0, "to": grouped.count})
    rows = sent[-1]["rows"]
    assert sum(r[10] for r in rows) == 300
    lossy = [r for r in rows if r[7] == "lost"]  # a group shows its worst mark
    assert len(lossy) == 1 and "1 lost" in lossy[0][11] and lossy[0][10] > 1
    assert grouped.find("lost") == lossy[0][0]
    front(grouped, {"type": "members", "req": 2, "pos": lossy[0][0]})
    members = sent[-1]["rows"]
    assert sent[-1]["req"] == 2 and len(members) == lossy[0][10]
    assert [r[7] for r in members].count("lost") == 1 and "m42" in {r[6] for r in members}
    # turning grouping off gives every copy its position again
    grouped.group = False
    assert grouped.count == 300 and sent[-1]["type"] == "reset"
