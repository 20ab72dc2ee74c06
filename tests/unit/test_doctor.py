"""The doctor's diagnosis on hand-made traces and graphs: which peers disagree on which key,
which holds the winning value, and each reason kind with the actions it suggests."""

from __future__ import annotations

from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose import Report, diagnose
from gunrtc_kit.diagnose import doctor as dr
from gunrtc_kit.diagnose.doctor import PeerSnapshot, Pending

A, B, C, R = "pidA", "pidB", "pidC", "pidR"
NAMES = {A: "alice", B: "bob", C: "carol", R: "relay"}


def node(soul: str, state: float = 1000.0, **values: Any) -> dict[str, Any]:
    return {"_": {"#": soul, ">": dict.fromkeys(values, state)}, **values}


def snap(pid: str, *nodes: dict[str, Any], **kw: Any) -> PeerSnapshot:
    return PeerSnapshot(pid, NAMES[pid], {n["_"]["#"]: n for n in nodes}, **kw)


def link(t: float, a: str, b: str, **props: Any) -> list[trace.Event]:
    """Both ends of a memory wire a<->b announcing themselves (ids 'to-b' and 'to-a')."""
    p = {"latency": 0.0, "jitter": 0.0, "loss": 0.0, "partitioned": False, **props}
    return [
        trace.Link(t, a, f"to-{b}", pid=b, transport="memory", props=p),
        trace.Link(t, b, f"to-{a}", pid=a, transport="memory", props=p),
    ]


def put_msg(mid: str, soul: str, state: float = 1000.0, **values: Any) -> dict[str, Any]:
    return {"#": mid, "put": {soul: node(soul, state, **values)}, "ok": {"@": 10}}


def only(report: Report, soul: str = "chat", key: str = "m") -> dr.Finding:
    f = report.finding(soul, key)
    assert f is not None, str(report)
    return f


def test_agreeing_peers_give_a_truthy_report() -> None:
    r = diagnose([snap(A, node("chat", m="hi")), snap(B, node("chat", m="hi"))])
    assert r and r.converged and not r.findings
    assert r.souls == ("chat",)
    assert "converged" in str(r) and "converged" in r._repr_html_()


def test_the_higher_state_wins_and_the_older_holder_is_behind() -> None:
    r = diagnose(
        [snap(A, node("chat", 2000.0, m="new")), snap(B, node("chat", 1000.0, m="old"))],
        link(0.0, A, B),
    )
    assert not r
    f = only(r)
    assert f.behind == ("bob",)
    assert [h.current for h in f.holdings] == [True, False]
    assert "bob" in str(r) and "gk-doctor" in r._repr_html_()


def test_a_partitioned_link_on_the_way_is_named_with_its_heal() -> None:
    events = [*link(0.0, A, B), *link(0.0, B, C), *link(5.0, B, C, partitioned=True)]
    events += [trace.Said(6.0, B, f"to-{C}", msg=put_msg("m1", "chat", m="hi"))]
    events += [
        trace.Dropped(
            6.0,
            B,
            f"to-{C}",
            msg_id="m1",
            reason="memory wire partitioned",
            cause=trace.DropCause.PARTITIONED,
        )
    ]
    r = diagnose(
        [snap(A, node("chat", m="hi")), snap(B, node("chat", m="hi")), snap(C)], events, now=8.0
    )
    f = only(r)
    assert f.behind == ("carol",)
    assert f.kinds() == {dr.PARTITION}
    now_reason = next(x for x in f.reasons if x.link == (B, C) and x.since == 5.0)
    assert "bob\u2194carol is partitioned since 3.0 s ago" in now_reason.text
    kinds = {(a.kind, a.peer, a.link) for a in f.actions}
    assert (dr.HEAL, "", (B, C)) in kinds and (dr.REGET, C, ("", "")) in kinds


def test_a_lost_frame_and_a_cut_link() -> None:
    events = [*link(0.0, A, B), *link(0.0, A, C)]
    events += [trace.Said(1.0, A, f"to-{B}", msg=put_msg("m1", "chat", m="hi"))]
    events += [
        trace.Dropped(
            1.0, A, f"to-{B}", msg_id="m1", reason="memory wire loss", cause=trace.DropCause.LOSS
        )
    ]
    events += [trace.Bye(2.0, A, f"to-{C}", transport="memory")]
    r = diagnose([snap(A, node("chat", m="hi")), snap(B), snap(C)], events)
    f = only(r)
    lost = [x for x in f.reasons if x.kind == dr.LOST]
    assert lost and lost[0].peers == (B,) and lost[0].msg_id == "m1"
    assert "lost on the lossy link alice\u2194bob" in lost[0].text
    cut = [x for x in f.reasons if x.kind == dr.CUT]
    assert cut and cut[0].peers == (C,) and "closed since" in cut[0].text
    relink = [a for a in f.actions if a.kind == dr.RELINK]
    assert relink and relink[0].safe and relink[0].link == (A, C)


def test_a_cut_websocket_link_is_not_relinked_by_the_doctor() -> None:
    events: list[trace.Event] = [
        trace.Hi(0.0, A, "ws://r", pid=R, transport="ws"),
        trace.Hi(0.0, R, "x1", pid=A, transport="ws"),
        trace.Bye(1.0, A, "ws://r", transport="ws"),
    ]
    r = diagnose([snap(A), snap(R, node("chat", m="hi"), relay=True)], events)
    relink = [a for a in only(r).actions if a.kind == dr.RELINK]
    assert relink and not relink[0].safe
    assert r.actions(safe_only=True) == [a for a in only(r).actions if a.safe]


def test_a_deferred_future_state_says_how_long_to_wait() -> None:
    pending = (Pending("chat", "m", 9000.0, "later"),)
    r = diagnose(
        [
            snap(A, node("chat", 9000.0, m="later")),
            snap(B, deferred=pending, now=6500.0),
        ],
        link(0.0, A, B),
    )
    f = only(r)
    assert dr.DEFERRED in f.kinds()
    wait = next(a for a in f.actions if a.kind == dr.WAIT_UNTIL)
    assert wait.peer == B and wait.until == 9000.0 and abs(wait.wait - 2.5) < 1e-9
    assert "2.5 s ahead of bob's clock" in str(r)


def relay_events() -> list[trace.Event]:
    return [*link(0.0, A, R), *link(0.0, B, R)]


def test_a_peer_that_never_asked_a_relay_gets_no_push() -> None:
    events = relay_events() + [
        trace.Said(1.0, A, f"to-{R}", msg=put_msg("m1", "chat", m="hi")),
        trace.Heard(1.0, R, f"to-{A}", msg=put_msg("m1", "chat", m="hi")),
    ]
    snaps = [snap(A, node("chat", m="hi")), snap(B), snap(R, node("chat", m="hi"), relay=True)]
    f = only(diagnose(snaps, events))
    assert f.kinds() == {dr.NOT_SUBSCRIBED}
    assert f.reasons[0].peers == (B,) and "never asked relay for" in f.reasons[0].text
    assert [(a.kind, a.peer, a.soul) for a in f.actions] == [(dr.REGET, B, "chat")]


def test_a_peer_that_reconnected_and_did_not_ask_again() -> None:
    get = {"#": "g1", "get": {"#": "chat"}}
    events = relay_events() + [
        trace.Said(0.5, B, f"to-{R}", msg=get),
        trace.Bye(1.0, B, f"to-{R}", transport="memory"),
        *link(2.0, B, R),
        trace.Said(3.0, A, f"to-{R}", msg=put_msg("m1", "chat", m="hi")),
    ]
    snaps = [snap(A, node("chat", m="hi")), snap(B), snap(R, node("chat", m="hi"), relay=True)]
    f = only(diagnose(snaps, events))
    assert f.kinds() == {dr.NOT_REASKED}
    assert "did not ask again" in f.reasons[0].text
    # asked again after reconnecting: that is not the reason (whatever else is)
    again = [*events, trace.Said(2.5, B, f"to-{R}", msg={"#": "g2", "get": {"#": "chat"}})]
    assert dr.NOT_REASKED not in only(diagnose(snaps, again)).kinds()


def test_a_get_lost_on_the_way_and_never_sent_again() -> None:
    # found by the convergence property test: the put came first, then bob's get for its soul
    # was dropped on a partitioned link, and the link was remade; bob never asked again
    get = {"#": "g1", "get": {"#": "chat"}}
    events = relay_events() + [
        trace.Said(1.0, A, f"to-{R}", msg=put_msg("m1", "chat", m="hi")),
        trace.Heard(1.0, R, f"to-{A}", msg=put_msg("m1", "chat", m="hi")),
        trace.Said(1.5, B, f"to-{R}", msg=get),
        trace.Dropped(
            1.5,
            B,
            f"to-{R}",
            msg_id="g1",
            reason="memory wire partitioned",
            cause=trace.DropCause.PARTITIONED,
        ),
        trace.Bye(2.0, B, f"to-{R}", transport="memory"),
        *link(2.5, B, R),
    ]
    snaps = [snap(A, node("chat", m="hi")), snap(B), snap(R, node("chat", m="hi"), relay=True)]
    f = only(diagnose(snaps, events))
    assert dr.NOT_REASKED in f.kinds(), str(f)
    why = next(r for r in f.reasons if r.kind == dr.NOT_REASKED)
    assert why.peers == (B,) and "never reached it" in why.text
    assert [(a.kind, a.peer, a.soul) for a in why.actions] == [(dr.REGET, B, "chat")]
    # the same get heard by the relay: not this reason
    heard = [*events, trace.Heard(1.6, R, f"to-{B}", msg=get)]
    kinds = only(diagnose(snaps, heard)).kinds()
    assert not any("never reached" in r.text for r in only(diagnose(snaps, heard)).reasons), kinds


def test_an_error_ack_names_who_refused_the_put() -> None:
    events = relay_events() + [
        trace.Said(1.0, A, f"to-{R}", msg=put_msg("m1", "chat", m="hi")),
        trace.Heard(1.1, A, f"to-{R}", msg={"#": "e1", "@": "m1", "err": "Error: Invalid graph!"}),
    ]
    snaps = [snap(A, node("chat", m="hi")), snap(B), snap(R, relay=True)]
    f = only(diagnose(snaps, events))
    err = [x for x in f.reasons if x.kind == dr.ERROR_ACK]
    assert err and "relay refused put #m1 from alice" in err[0].text
    assert any(a.kind == "fix" and not a.safe for a in f.actions)


def test_a_put_never_acked_after_the_ack_timeout() -> None:
    events = relay_events() + [trace.Said(1.0, A, f"to-{R}", msg=put_msg("m1", "chat", m="hi"))]
    events += [
        trace.Put(1.0, A, msg_id="m1", changes={"chat": ["m"]}, states={"chat": {"m": 1000.0}})
    ]
    snaps = [snap(A, node("chat", m="hi")), snap(B), snap(R, relay=True)]
    assert dr.NEVER_ACKED not in only(diagnose(snaps, events, now=5.0)).kinds()
    f = only(diagnose(snaps, events, now=11.0))
    assert dr.NEVER_ACKED in f.kinds()
    acked = [*events, trace.Ack(1.2, A, f"to-{R}", msg_id="a1", reply_to="m1", ok=1)]
    assert dr.NEVER_ACKED not in only(diagnose(snaps, acked, now=11.0)).kinds()


def test_a_data_channel_copy_that_never_arrived_and_one_on_its_way() -> None:
    events: list[trace.Event] = [
        trace.Hi(0.0, A, B, pid=B, transport="dc"),
        trace.Hi(0.0, B, A, pid=A, transport="dc"),
        trace.Said(1.0, A, B, msg=put_msg("m1", "chat", m="hi"), transport="dc"),
    ]
    snaps = [snap(A, node("chat", m="hi")), snap(B)]
    f = only(diagnose(snaps, events, now=1.5))
    assert f.kinds() == {dr.IN_FLIGHT}
    f = only(diagnose(snaps, events, now=10.0))
    assert dr.LOST in f.kinds() and "maxRetransmits" in str(f)


def test_no_reason_found_still_suggests_a_reget_and_says_so() -> None:
    # linked, and bob asked: the trace shows nothing that kept the newer value from bob
    events = [*link(0.0, A, B), trace.Said(1.0, B, f"to-{A}", msg={"#": "g", "get": {"#": "chat"}})]
    r = diagnose([snap(A, node("chat", m="hi")), snap(B, node("chat", 999.0, m="x"))], events)
    f = only(r)
    assert not f.explained
    assert [a.kind for a in f.actions] == [dr.REGET]
    assert "no reason found" in str(r)


def test_souls_limit_the_comparison_and_room_souls_are_left_out() -> None:
    room = node("/RTC/lab", m="offer")
    snaps = [snap(A, node("chat", m="hi"), room), snap(B, node("other", m="x"))]
    r = diagnose(snaps)
    assert r.souls == ("chat", "other")
    assert diagnose(snaps, souls=["nothing"])


def _yo_case(alice_own_copy: bool) -> Report:
    """alice writes chat.m listing bob in '><' (she tells him herself) and carol relays it to
    the relay; bob never hears it; bob and carol share a wire."""
    put = {**put_msg("m1", "chat", 2000.0, m="new"), "><": f"{B},{C}"}
    events: list[trace.Event] = [
        *link(0.0, A, B),
        *link(0.0, A, C),
        *link(0.0, B, C),
        trace.Said(1.0, A, f"to-{C}", msg=put, transport="memory"),
        trace.Heard(1.1, C, f"to-{A}", msg=put, transport="memory"),
    ]
    if alice_own_copy:
        events.append(trace.Said(1.0, A, f"to-{B}", msg=put, transport="memory"))
    events.append(trace.Bye(1.2, A, f"to-{B}", transport="memory"))
    events.append(trace.Bye(1.2, B, f"to-{A}", transport="memory"))
    return diagnose(
        [
            snap(A, node("chat", 2000.0, m="new")),
            snap(B, node("chat", 1000.0, m="old")),
            snap(C, node("chat", 2000.0, m="new")),
        ],
        events,
    )


def test_a_put_whose_yo_listed_a_peer_that_never_got_it_is_named() -> None:
    # carol heard alice's put and has a wire to bob, but the put's '><' listed bob (alice
    # tells him herself) and alice's own copy never came: nobody relayed it to bob
    f = only(_yo_case(alice_own_copy=False))
    (r,) = [r for r in f.reasons if r.kind == dr.NOT_RELAYED]
    assert r.peers == (B,) and r.msg_id == "m1"
    assert "carol did not pass it on to bob" in r.text and "none was sent" in r.text
    assert any(a.kind == dr.REGET and a.peer == B for a in r.actions)
    f = only(_yo_case(alice_own_copy=True))
    (r,) = [r for r in f.reasons if r.kind == dr.NOT_RELAYED]
    assert "it never arrived" in r.text


def test_not_relayed_is_not_said_of_an_older_put_nor_to_its_writer() -> None:
    # bob's own older put, relayed by carol with bob in its '><', explains nothing about
    # alice's newer value: bob wrote it, and it does not carry the state that wins
    old = {**put_msg("m0", "chat", 1000.0, m="old"), "><": f"{A},{C}"}
    relayed = {**old, "><": f"{B},{A}"}
    events: list[trace.Event] = [
        *link(0.0, A, B),
        *link(0.0, B, C),
        *link(0.0, A, C),
        trace.Said(0.5, B, f"to-{C}", msg=old, transport="memory"),
        trace.Heard(0.6, C, f"to-{B}", msg=old, transport="memory"),
        trace.Said(0.7, C, f"to-{A}", msg=relayed, transport="memory"),
        trace.Heard(0.8, A, f"to-{C}", msg=relayed, transport="memory"),
    ]
    r = diagnose(
        [
            snap(A, node("chat", 2000.0, m="new")),
            snap(B, node("chat", 1000.0, m="old")),
            snap(C, node("chat", 1000.0, m="old")),
        ],
        events,
    )
    assert dr.NOT_RELAYED not in only(r).kinds()


def test_a_get_answered_while_the_relay_held_the_write_back_is_named() -> None:
    # alice asked the relay for 'chat' while the relay held carol's write back (its state was
    # ahead of the relay's clock); the relay applied it later and pushes a put only when it
    # arrives: alice must ask again
    get = {"#": "g1", "get": {"#": "chat"}}
    events: list[trace.Event] = [
        *link(0.0, A, R),
        trace.Said(1.0, A, f"to-{R}", msg=get, transport="memory"),
        trace.Heard(1.1, R, f"to-{A}", msg=get, transport="memory"),
        trace.Put(
            2.0, R, msg_id="p1", changes={"chat": ["m"]}, states={"chat": {"m": 3000.0}}, held=True
        ),
    ]
    r = diagnose(
        [
            snap(A, node("chat", 1000.0, x=1)),
            snap(R, node("chat", 3000.0, m="late"), relay=True),
        ],
        events,
    )
    f = only(r)
    assert f.behind == ("alice",)
    (why,) = [x for x in f.reasons if x.kind == dr.NOT_REASKED]
    assert "held chat.m back" in why.text and why.peers == (A,)
    assert any(a.kind == dr.REGET and a.peer == A for a in why.actions)
