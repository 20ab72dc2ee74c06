"""The instrument under live traffic on real wires: a relay, four WebRTC peers on loopback, a
memory wire beside one data channel, concurrent puts, a data channel cut while puts fly.

What it holds the views to (the reviewer's cases): the mesh model has one edge per wire, so the
pair with a data channel *and* a partitioned memory wire shows both, each with its own state;
the cut data channel is closed while every other wire is open; fate never leaves a copy between
two traced peers "sent" beside "heard" (only copies on the data channel that was cut under them
may stay without a sign, which is true: such a channel gives no account of its last frames);
the doctor names "cut" with no link only when no path of live wires leads to the data, and after
heal every peer agrees.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import networkx as nx
import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose import doctor as dr
from gunrtc_kit.lab import Lab, LabPeer
from gunrtc_kit.lab.doctor import lab_heal_sync
from tests.netns import require_loopback_only

NAMES = ("p0", "p1", "p2", "p3")


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_loopback_only()
    lab = Lab()
    yield lab
    lab.close()


def _traffic(lab: Lab, peers: dict[str, LabPeer], rounds: int, cut_at: int) -> None:
    """``rounds`` puts from every peer, all in flight together; cut p0-p1 midway."""
    for i in range(rounds):
        for n, p in peers.items():
            p.put(["chat", f"m{i}"], f"{n}-{i}")
        if i == cut_at:
            lab.cut(peers["p0"], peers["p1"])


def _settled(lab: Lab, peers: dict[str, LabPeer], rounds: int) -> None:
    """Wait (bounded) until every peer holds a value for every key written."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(len(p.graph().get("chat") or {}) - 1 >= rounds for p in peers.values()):
            return
        time.sleep(0.05)


def test_wires_fates_and_doctor_hold_under_traffic_with_a_cut(lab: Lab) -> None:
    peers = {n: lab.peer(n) for n in NAMES}
    for a in NAMES:
        for b in NAMES:
            if a < b:
                lab.wait_linked_sync(peers[a], peers[b])
    side = lab.link_memory(peers["p2"], peers["p3"])
    side.set(partitioned=True)
    rounds = 25
    _traffic(lab, peers, rounds, cut_at=10)
    _settled(lab, peers, rounds)
    lab.hub.refresh()
    pid = {n: p.pid for n, p in peers.items()}
    relay = lab.relay
    assert relay is not None
    with lab.hub.lock:
        edges = list(lab.hub.mesh.edges.values())
        rows = list(lab.hub.fate.rows())

    # the mesh model: wires, each with its own state
    def wires(a: str, b: str) -> dict[str, Any]:
        return {e.transport: e for e in edges if {e.a, e.b} == {pid[a], pid[b]}}

    p23 = wires("p2", "p3")
    assert set(p23) == {"dc", "memory"}
    assert p23["dc"].state == "open" and not p23["dc"].partitioned
    assert p23["memory"].state == "open" and p23["memory"].partitioned
    assert wires("p0", "p1")["dc"].state == "closed"
    for a in NAMES:
        for b in NAMES:
            if a < b and {a, b} != {"p0", "p1"}:
                assert wires(a, b)["dc"].state == "open", (a, b)
    g = lab.mesh_view().graph
    assert g.number_of_edges(pid["p2"], pid["p3"]) == 2  # a MultiGraph: two wires, two edges

    # fate: nothing left open between traced peers, but on the channel cut under it
    cut_pair = {"p0", "p1"}
    open_rows = [
        r
        for r in rows
        if r.mark in ("sent", "queued", "heard-only")
        and not ({r.src, r.dst} == cut_pair and r.transport == "dc")
    ]
    assert not open_rows, open_rows[:5]

    # the doctor: a "cut" with no link is true only if no live path leads to the data
    report = lab.doctor()
    live = nx.Graph()
    live.add_nodes_from(pid.values())
    for e in edges:
        if e.state == "open" and not e.partitioned and e.loss != 1.0:
            live.add_edge(e.a, e.b)
    for f in report.findings:
        ahead = {h.pid for h in f.holdings if h.current}
        for r in f.reasons:
            if r.kind == dr.CUT and r.link is None:
                for p in r.peers:
                    assert not any(nx.has_path(live, p, q) for q in ahead), str(report)
    after = lab_heal_sync(lab, rounds=4, fetch_timeout=1.0)
    _settled(lab, peers, rounds)
    converged: Any = lab.converged(souls=["chat"])
    assert converged is True, f"{after}\n{converged}"
    assert lab.bus.events(trace.Dropped)  # the partitioned memory wire ate frames, and said so
