"""``lab.explain`` on a live Lab: two peers on the relay write one field at the same time; each
peer's explanation names both writes, who sent each and over which wire, and its winner is the
value its graph holds (the same on both peers, since HAM converges).

Waits are on trace events or bounded conditions, never on sleeps. The relay listens on
127.0.0.1 (run it where loopback is up: ``unshare -n`` with ``lo`` up, as scripts/test does).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.explain import ACCEPTED, DEFERRED, IGNORED, KEPT
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    yield lab
    lab.close()


def heard(lab: Lab, node: str, mid: str) -> None:
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Heard) and e.node == node and e.msg.get("#") == mid,
        10,
        past=True,
    )


def transport_of(lab: Lab, node: str, mid: str) -> str:
    return next(
        e.transport
        for e in lab.bus.history
        if isinstance(e, trace.Heard) and e.node == node and e.msg.get("#") == mid
    )


def test_two_concurrent_writes_are_explained_on_both_peers(lab: Lab) -> None:
    alice = lab.peer("alice", rtc=False)
    bob = lab.peer("bob", rtc=False)
    relay = lab.relay
    assert relay is not None
    for p in (alice, bob):  # the relay routes a put to the peers that asked for its soul
        p.get_sync("doc.title", timeout=1)

    def asked() -> int:
        return sum(
            1
            for e in list(lab.bus.history)
            if isinstance(e, trace.Heard)
            and e.node == relay.pid
            and isinstance(e.msg.get("get"), dict)
            and e.msg["get"].get("#") == "doc"
        )

    lab.bus.wait_for(lambda _e: asked() >= 2, 10, past=True)

    def both() -> tuple[str, str]:  # in one turn of the loop: neither has heard the other
        a = alice.gun.get("doc").get("title").put("alice's title")
        b = bob.gun.get("doc").get("title").put("bob's title")
        return a.id, b.id

    mid_a, mid_b = lab.rt.call(both)
    heard(lab, alice.pid, mid_b)
    heard(lab, bob.pid, mid_a)
    holds = {p.name: p.graph()["doc"]["title"] for p in (alice, bob)}
    assert holds["alice"] == holds["bob"]  # HAM converged

    for me, other, mine, theirs in ((alice, bob, mid_a, mid_b), (bob, alice, mid_b, mid_a)):
        ex = lab.explain(me, "doc.title")
        assert ex.name == me.name and ex.soul == "doc" and ex.key == "title"
        by_mid = {r.mid: r for r in ex.rows}
        assert set(by_mid) == {mine, theirs}
        own, heard_row = by_mid[mine], by_mid[theirs]
        assert own.source == "local" and own.verdict == ACCEPTED
        # the other's write came through the relay, over the websocket, written by the other
        assert heard_row.source == "heard" and heard_row.sender_name == "relay"
        assert heard_row.via == transport_of(lab, me.pid, theirs) == "ws"
        assert heard_row.author == other.pid and heard_row.author_name == other.name
        # written in the same turn, the other's state may be a fraction of a ms ahead of
        # this peer's clock: HAM then defers it until the clock gets there (as Gun does)
        assert heard_row.verdict in (ACCEPTED, KEPT, IGNORED, DEFERRED)
        # the winner is what the graph holds, and its row is the one marked
        graph = me.graph()["doc"]
        assert ex.value == graph["title"] and ex.state == graph["_"][">"]["title"]
        winner = ex.rows[ex.winner - 1]
        assert winner.winner and winner.value == graph["title"]
        if heard_row.verdict != DEFERRED:  # a deferred write may win once applied
            assert (winner.mid == theirs) == (heard_row.verdict == ACCEPTED)
        assert f"#{winner.n}" in ex.summary and other.name in str(ex)


def test_explain_names_what_it_does_not_know(lab: Lab) -> None:
    alice = lab.peer("alice", rtc=False)
    lab.peer("bob", rtc=False)
    with pytest.raises(GunError, match="no peer named 'zed'; known: alice, bob"):
        lab.explain("zed", "doc.title")
    with pytest.raises(GunError, match="soul.key"):
        lab.explain(alice, "nodot")
    with pytest.raises(GunError, match="give a soul and a key"):
        lab.explain(alice, "doc", "")
    ex = lab.explain("alice", "doc.title")
    assert ex.rows == () and "never written" in ex.summary


def test_a_soul_with_dots_is_split_at_the_last_dot(lab: Lab) -> None:
    alice = lab.peer("alice", rtc=False)
    mid = alice.put(["v1.2/users", "name"], "ann")
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Put) and e.node == alice.pid and e.msg_id == mid,
        10,
        past=True,
    )
    for ex in (
        lab.explain(alice, "v1.2/users.name"),
        lab.explain(alice, "v1.2/users", "name"),
    ):
        assert (ex.soul, ex.key) == ("v1.2/users", "name")
        assert [r.mid for r in ex.rows] == [mid] and ex.value == "ann"
