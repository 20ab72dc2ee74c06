"""The tap doctor and explain (gunrtc_kit.diagnose.tapdoctor, tapview) on hand-made tap traces.

Each trace is built as ``gunrtc_kit.tap.observe`` emits one: per connection a ``Link`` at each
end (the relay's wire ``tap:<address>``), per message a ``Said`` by its sender, an ``Ack`` at
the asker, a ``Dropped`` for a frame not delivered, ``Bye`` when a connection ends.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose import tapdoctor, tapview
from gunrtc_kit.diagnose.tapdoctor import TapFindingKind as K
from gunrtc_kit.diagnose.tapdoctor import tap_doctor, tap_explain
from gunrtc_kit.diagnose.tapview import read_tap, tap_clients

R = "relaypid"
TAP = "ws://127.0.0.1:9000/gun"  # the URL every client dialled: its id for its wire
ADDR = {"alice": "127.0.0.1:5001", "bob": "127.0.0.1:5002", "carol": "127.0.0.1:5003"}


def wire(client: str) -> str:
    return f"tap:{ADDR[client]}"


def link(t: float, client: str, rename: bool = False) -> list[trace.Event]:
    """A connection opening; with ``rename`` first under the address, then the learned pid."""
    out: list[trace.Event] = []
    if rename:
        addr = ADDR[client]
        out += [
            trace.Link(t, addr, TAP, pid=R, transport="ws"),
            trace.Link(t, R, wire(client), pid=addr, transport="ws"),
            trace.Said(t, addr, TAP, msg={"#": f"g0{client}", "get": {"#": "early"}}),
            trace.Bye(t, addr, TAP, transport="ws"),
            trace.Bye(t, R, wire(client), transport="ws"),
        ]
    return out + [
        trace.Link(t, client, TAP, pid=R, transport="ws"),
        trace.Hi(t, client, TAP, pid=R, transport="ws"),
        trace.Link(t, R, wire(client), pid=client, transport="ws"),
        trace.Hi(t, R, wire(client), pid=client, transport="ws"),
    ]


def bye(t: float, client: str) -> list[trace.Event]:
    return [trace.Bye(t, client, TAP, transport="ws"), trace.Bye(t, R, wire(client))]


def get(t: float, client: str, mid: str, soul: str, key: str = "") -> trace.Said:
    g: dict[str, Any] = {"#": soul} | ({".": key} if key else {})
    return trace.Said(t, client, TAP, msg={"#": mid, "get": g}, transport="ws")


def put_msg(mid: str, soul: str, vals: dict[str, Any], state: float) -> dict[str, Any]:
    node = {"_": {"#": soul, ">": dict.fromkeys(vals, state)}, **vals}
    return {"#": mid, "put": {soul: node}}


def write(t: float, client: str, mid: str, soul: str, vals: dict[str, Any], state: float) -> Any:
    return trace.Said(t, client, TAP, msg=put_msg(mid, soul, vals, state), transport="ws")


def tell(
    t: float, client: str, mid: str, soul: str, vals: dict[str, Any], state: float, at: str = ""
) -> trace.Said:
    """The relay sends ``client`` a put (``at``: the get it answers)."""
    msg = put_msg(mid, soul, vals, state) | ({"@": at} if at else {})
    return trace.Said(t, R, wire(client), msg=msg, transport="ws")


def ack(t: float, client: str, mid: str, reply_to: str, err: str = "") -> list[trace.Event]:
    msg: dict[str, Any] = {"#": mid, "@": reply_to, "ok": not err} | ({"err": err} if err else {})
    return [
        trace.Said(t, R, wire(client), msg=msg, transport="ws"),
        trace.Ack(t, client, TAP, msg_id=mid, reply_to=reply_to, ok=not err, err=err),
    ]


def end(t: float) -> trace.Event:
    """Anything at ``t``: the recording goes on until then (a heartbeat frame)."""
    return trace.Tapped(t, R, wire("alice"), to="alice", messages=0)


def healthy() -> list[trace.Event]:
    """alice writes S.x; bob asked for S before and is told; the relay acks alice."""
    return [
        *link(0.0, "alice"),
        *link(0.0, "bob"),
        get(0.1, "bob", "g1", "S"),
        *ack(0.11, "bob", "a0", "g1"),  # the relay answers: nothing yet
        get(0.15, "alice", "g2", "S"),
        *ack(0.16, "alice", "a00", "g2"),
        write(0.2, "alice", "p1", "S", {"x": 1}, 100),
        tell(0.21, "bob", "r1", "S", {"x": 1}, 100),
        *ack(0.22, "alice", "a1", "p1"),
        end(5.0),
    ]


def kinds(events: list[trace.Event], **kw: Any) -> list[tuple[str, str, str, str]]:
    return [(f.kind, f.client, f.soul, f.key) for f in tap_doctor(events, **kw)]


# ---------------------------------------------------------------------------------- the views
def test_each_client_s_carried_graph_asks_and_acks() -> None:
    views = tap_clients(healthy())
    assert set(views) == {"alice", "bob"}  # the relay is not a client
    bob, alice = views["bob"], views["alice"]
    assert bob.graph_values() == {"S": {"x": 1}}
    held = bob.holds("S", "x")
    assert held is not None and held.mid == "r1" and held.sender == R
    assert [(a.soul, a.mid) for a in bob.asked] == [("S", "g1")]
    assert alice.graph_values() == {"S": {"x": 1}}  # what it wrote itself
    assert [c.mid for c in alice.said] == ["p1"] and alice.acks["p1"] == ("a1", "")
    assert bob.seen_open and alice.seen_open


def test_ham_by_state_and_gun_s_tie_rule() -> None:
    events = [
        *link(0.0, "bob"),
        get(0.1, "bob", "g1", "S"),
        tell(0.2, "bob", "r1", "S", {"x": "b"}, 200),
        tell(0.3, "bob", "r2", "S", {"x": "a"}, 100),  # older: ignored
        tell(0.4, "bob", "r3", "S", {"x": "a"}, 200),  # equal state, "a" < "b": kept
        tell(0.5, "bob", "r4", "S", {"x": "c"}, 200),  # equal state, "c" > "b": taken
        end(5.0),
    ]
    bob = tap_clients(events)["bob"]
    assert bob.graph_values() == {"S": {"x": "c"}}
    ex = tap_explain(events, "bob", "S", "x")
    assert [r.verdict for r in ex.rows] == ["accepted", "ignored", "kept-current", "accepted"]
    assert ex.held is not None and ex.held.copy.mid == "r4" and ex.held.winner


def test_a_renamed_connection_is_one_client_and_keeps_its_first_get() -> None:
    events = [*link(0.0, "bob", rename=True), end(5.0)]
    tt = read_tap(events)
    assert set(tt.clients) == {"bob"}
    bob = tt.clients["bob"]
    assert [a.mid for a in bob.asked] == ["g0bob"]  # said under its address, before its pid
    assert len(bob.conns) == 1 and bob.conns[0].closed is None  # a rename is not a Bye
    assert tt.client_of(ADDR["bob"]) is bob


def test_an_undelivered_copy_is_not_held() -> None:
    events = [
        *link(0.0, "alice"),
        *link(0.0, "bob"),
        get(0.1, "bob", "g1", "S"),
        write(0.2, "alice", "p1", "S", {"x": 1}, 100),
        *ack(0.22, "alice", "a1", "p1"),
        tell(0.3, "bob", "r1", "S", {"x": 1}, 100),
        trace.Dropped(
            0.3, R, wire("bob"), msg_id="r1", reason="slow", cause=trace.DropCause.BUDGET
        ),
        end(5.0),
    ]
    assert "S" not in tap_clients(events)["bob"].graph
    found = tap_doctor(events)
    assert [(f.kind, f.client) for f in found] == [(K.NOT_DELIVERED, "bob")]
    assert found[0].evidence == ("r1", "p1") and "budget" in found[0].text


# ---------------------------------------------------------------------------------- explain
def test_explain_links_the_relay_s_copy_to_its_writer_by_value_not_id() -> None:
    events = [*healthy()[:-1], tell(0.5, "bob", "r2", "S", {"x": 0}, 50), end(5.0)]
    ex = tap_explain(events, "bob", "S", "x", names={"alice": "Alice", "bob": "Bob"})
    assert ex.name == "Bob"
    first, second = ex.rows
    assert (first.copy.mid, first.direction, first.author, first.author_mid) == (
        "r1",
        "told",
        "Alice",
        "p1",
    )
    assert first.copy.sender == R and first.winner and first.verdict == "accepted"
    assert (second.verdict, second.author) == ("ignored", "")  # no tapped client wrote it
    assert ex.held is first
    assert any("new message id" in n for n in ex.notes)
    text = str(ex)
    assert "holds 1 at state 100 (message r1)" in text and "written by Alice as p1" in text
    mine = tap_explain(events, "alice", "S", "x")
    assert [(r.direction, r.copy.mid, r.winner) for r in mine.rows] == [("said", "p1", True)]
    assert tap_explain(events, "nobody", "S", "x").held is None


# ---------------------------------------------------------------------------------- the doctor
def test_a_healthy_trace_has_no_findings() -> None:
    assert tap_doctor(healthy()) == []


def test_never_asked() -> None:
    events = [*link(0.0, "carol"), *healthy()]
    found = tap_doctor(events, names={"carol": "Carol"})
    assert [(f.kind, f.client, f.soul) for f in found] == [(K.NEVER_ASKED, "carol", "S")]
    f = found[0]
    assert set(f.evidence) == {"p1", "r1"}
    assert f.text.startswith("Carol never asked for soul 'S'")
    assert "alice" in f.text and "bob" in f.text


def test_never_asked_is_unknown_when_the_connection_began_before_the_recording() -> None:
    # carol's Link is not in the trace: only a heartbeat of hers
    events = [*healthy(), trace.Said(0.3, "carol", TAP, msg={"#": "h", "dam": "?", "pid": "carol"})]
    found = tap_doctor(events)
    assert [(f.kind, f.about, f.client) for f in found] == [(K.UNKNOWN, K.NEVER_ASKED, "carol")]
    assert "does not show it connecting" in found[0].text


def test_the_relay_never_forwarded_the_put() -> None:
    events = [e for e in healthy() if not (isinstance(e, trace.Said) and e.msg.get("#") == "r1")]
    found = tap_doctor(events)
    assert [(f.kind, f.client, f.soul, f.key) for f in found] == [
        (K.NOT_FORWARDED, "bob", "S", "x")
    ]
    assert found[0].evidence == ("g1", "p1")
    assert found[0].text.startswith("the relay never forwarded this put to bob")


def test_asked_after_the_put_and_no_answer_carried_it() -> None:
    events = [
        *link(0.0, "alice"),
        *link(0.0, "bob"),
        write(0.2, "alice", "p1", "S", {"x": 1}, 100),
        *ack(0.22, "alice", "a1", "p1"),
        get(0.5, "bob", "g1", "S"),
        *ack(0.6, "bob", "a2", "g1"),  # answered, without the data
        end(5.0),
    ]
    found = tap_doctor(events)
    assert [(f.kind, f.client) for f in found] == [(K.NOT_FORWARDED, "bob")]
    assert "after alice's put p1" in found[0].text


def test_a_refused_put_is_not_expected_to_be_forwarded() -> None:
    events = [
        e
        for e in healthy()
        if not (isinstance(e, trace.Said) and e.msg.get("#") in ("r1", "a1"))
        and not (isinstance(e, trace.Ack) and e.reply_to == "p1")
    ]
    events += ack(0.22, "alice", "a1", "p1", err="no")
    assert kinds(events) == []


def test_never_acked_and_unknown_within_grace() -> None:
    events = [e for e in healthy() if not (isinstance(e, trace.Ack) and e.reply_to == "p1")]
    found = tap_doctor(events)
    assert [(f.kind, f.client, f.evidence) for f in found] == [(K.NEVER_ACKED, "alice", ("p1",))]
    assert found[0].text.startswith("alice's put p1 (S.x...) was never acked")
    short = [e for e in events if e.t < 1.0]  # the recording stops 0.01 s after the put
    found = tap_doctor(short)
    assert [(f.kind, f.about) for f in found] == [(K.UNKNOWN, K.NEVER_ACKED)]
    assert tap_doctor(short, grace=0.001)[0].kind is K.NEVER_ACKED


def test_a_copy_on_its_way_is_unknown_not_a_cause() -> None:
    events = [
        *link(0.0, "alice"),
        *link(0.0, "bob"),
        get(0.1, "bob", "g1", "S"),
        write(0.2, "alice", "p1", "S", {"x": 1}, 100),
        *ack(0.22, "alice", "a1", "p1"),
    ]
    found = tap_doctor(events)
    assert [(f.kind, f.about, f.client) for f in found] == [(K.UNKNOWN, K.NOT_FORWARDED, "bob")]


def test_disconnected_before_the_put() -> None:
    events = [
        *link(0.0, "alice"),
        *link(0.0, "bob"),
        get(0.1, "bob", "g1", "S"),
        *bye(0.15, "bob"),
        write(0.2, "alice", "p1", "S", {"x": 1}, 100),
        *ack(0.22, "alice", "a1", "p1"),
        end(5.0),
    ]
    found = tap_doctor(events)
    assert [(f.kind, f.client, f.evidence) for f in found] == [
        (K.DISCONNECTED, "bob", ("g1", "p1"))
    ]
    assert found[0].text.startswith("bob disconnected before the put")
    assert tap_clients(events)["bob"].conns[0].closed == 0.15


def test_a_reconnect_that_asked_again_is_told() -> None:
    events = [
        *link(0.0, "alice"),
        *link(0.0, "bob"),
        get(0.1, "bob", "g1", "S"),
        *bye(0.15, "bob"),
    ]
    ADDR["bob2"] = "127.0.0.1:5004"
    try:
        events += [
            trace.Link(0.17, "bob", TAP, pid=R),
            trace.Link(0.17, R, "tap:127.0.0.1:5004", pid="bob"),
            get(0.18, "bob", "g2", "S"),
            write(0.2, "alice", "p1", "S", {"x": 1}, 100),
            *ack(0.22, "alice", "a1", "p1"),
            trace.Said(0.23, R, "tap:127.0.0.1:5004", msg=put_msg("r1", "S", {"x": 1}, 100)),
            end(5.0),
        ]
        assert kinds(events) == []
        assert len(tap_clients(events)["bob"].conns) == 2
    finally:
        del ADDR["bob2"]


def test_holds_an_older_value() -> None:
    # a writer the tap does not see: the relay tells bob an older state than carol
    events = [
        *link(0.0, "bob"),
        *link(0.0, "carol"),
        get(0.1, "bob", "g1", "S"),
        get(0.1, "carol", "g2", "S"),
        tell(0.2, "bob", "r1", "S", {"x": "old"}, 100, at="g1"),
        tell(0.2, "carol", "r2", "S", {"x": "new"}, 200, at="g2"),
        end(5.0),
    ]
    found = tap_doctor(events)
    assert [(f.kind, f.client, f.soul, f.key, f.evidence) for f in found] == [
        (K.OLDER, "bob", "S", "x", ("r1", "r2"))
    ]
    assert found[0].text == (
        'bob holds an older value of S.x: "old" at state 100 (message r1), while carol '
        'holds "new" at state 200 (message r2)'
    )


def test_findings_are_typed_and_their_text_is_their_sentence() -> None:
    f = tap_doctor([*link(0.0, "carol"), *healthy()])[0]
    assert isinstance(f.kind, K) and f.kind == "never_asked" and str(f) == f.text
    assert set(K) == {
        K.NEVER_ASKED,
        K.NOT_FORWARDED,
        K.NOT_DELIVERED,
        K.NEVER_ACKED,
        K.DISCONNECTED,
        K.OLDER,
        K.UNKNOWN,
    }


@pytest.mark.parametrize("module", [tapdoctor, tapview])
def test_pure_readers_import_no_io(module: Any) -> None:
    tree = ast.parse(Path(module.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {n.split(".")[0] for n in names} & {"asyncio", "socket", "os", "time", "io"}
