"""The Directory believes a ``?`` pid only when nothing known contradicts it.

Hand-made traces in the order our mesh emits them: the listener's ``Hi`` (no pid) and ``?``
first, the dialler's ``Hi`` naming the listener, then the listener's ``Hi`` naming the dialler.
Honest orders resolve as before and list no claims; a second wire claiming a pid does not."""

from __future__ import annotations

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose import Directory, FateModel

R, A, B, M = "pidR", "pidA", "pidB", "pidM"
URL = "ws://127.0.0.1:9/gun"


def lab_directory() -> Directory:
    """What a Lab starts with: its peers named with roles, its relay's URL aliased."""
    d = Directory()
    d.name(R, "relay", "relay")
    d.alias(URL, R)
    d.name(A, "alice", "peer")
    d.name(B, "bob", "peer")
    return d


def dial(d: Directory, who: str, sock: str) -> None:
    """``who`` dials the relay's URL; the relay calls that socket ``sock`` (honest order)."""
    for e in (
        trace.Hi(0.0, R, sock, pid="", transport="ws"),  # relay: inbound, sends its '?'
        trace.Hi(0.0, who, URL, pid=R, transport="ws"),  # the dialler hears it
        trace.Hi(0.0, R, sock, pid=who, transport="ws"),  # the relay hears the answer
    ):
        d.apply(e)


def test_honest_dials_resolve_as_before_and_list_no_claims() -> None:
    d = lab_directory()
    dial(d, A, "s1")
    dial(d, B, "s2")
    assert d.resolve(R, "s1") == A and d.resolve(R, "s2") == B and d.resolve(A, URL) == R
    assert d.claims() == []
    # a redial (the relay saw the old socket close) and a half-open one (it did not yet)
    d.apply(trace.Bye(1.0, A, URL, transport="ws"))
    d.apply(trace.Bye(1.0, R, "s1", transport="ws"))
    dial(d, A, "s3")
    d.apply(trace.Bye(2.0, A, URL, transport="ws"))  # only alice noticed
    dial(d, A, "s4")
    assert d.resolve(R, "s3") == A and d.resolve(R, "s4") == A and d.claims() == []


def test_a_peer_dialled_by_another_is_believed_before_its_own_hi_names_it() -> None:
    d = lab_directory()
    # bob listens and alice dials bob's URL: bob greets first, alice hears bob's '?' while
    # bob's only event for that socket is its Hi with no pid yet
    d.apply(trace.Hi(0.0, B, "in1", pid="", transport="ws"))
    d.apply(trace.Hi(0.0, A, "ws://bob/gun", pid=B, transport="ws"))
    d.apply(trace.Hi(0.0, B, "in1", pid=A, transport="ws"))
    assert d.resolve(A, "ws://bob/gun") == B and d.resolve(B, "in1") == A
    assert d.claims() == []


def test_a_second_wire_claiming_a_traced_peer_is_a_claim() -> None:
    d = lab_directory()
    dial(d, A, "s1")
    d.apply(trace.Hi(1.0, R, "evil9xyz", pid="", transport="ws"))
    d.apply(trace.Hi(1.0, R, "evil9xyz", pid=A, transport="ws"))  # alice opened no second wire
    assert d.resolve(R, "s1") == A
    entity = d.resolve(R, "evil9xyz")
    assert entity == "claim:evil9xyz" and d.role(entity) == "claim"
    assert d.label(entity) == "⚠ claims alice (wire evi…)"
    [c] = d.claims()
    assert (c.node, c.peer, c.pid, c.entity) == (R, "evil9xyz", A, entity)
    assert "more wires claim to be alice here than alice opened to relay" == c.why
    # what it says is drawn as the claim's, not alice's
    fate = FateModel(d)
    fate.apply(trace.Heard(2.0, R, "evil9xyz", msg={"#": "m1", "put": {}}, transport="ws"))
    assert [(r.src, r.dst) for r in fate.rows()] == [("⚠ claims alice (wire evi…)", "relay")]


def test_a_claim_before_the_peer_ever_dialled_is_flagged_and_the_real_one_believed() -> None:
    d = lab_directory()  # alice is a Lab peer (traced) that has not dialled yet
    d.apply(trace.Hi(0.0, R, "early", pid="", transport="ws"))
    d.apply(trace.Hi(0.0, R, "early", pid=A, transport="ws"))
    dial(d, A, "s1")
    assert d.resolve(R, "early") == "claim:early" and d.resolve(R, "s1") == A
    [c] = d.claims()
    assert c.why == "alice's own events show no wire to relay"


def test_an_untraced_pid_may_not_have_two_live_wires_of_one_kind() -> None:
    d = lab_directory()  # X is a browser nobody traces: only rule left is one live ws wire
    d.apply(trace.Hi(0.0, R, "x1", pid="pidX", transport="ws"))
    d.apply(trace.Hi(0.0, R, "x2", pid="pidX", transport="ws"))
    assert d.resolve(R, "x1") == "pidX" and d.resolve(R, "x2") == "claim:x2"
    assert d.claims()[0].why == "a live ws wire here is already pidX"
    d.apply(trace.Bye(1.0, R, "x1", transport="ws"))  # it reloaded: the old socket closed
    d.apply(trace.Hi(1.0, R, "x3", pid="pidX", transport="ws"))
    assert d.resolve(R, "x3") == "pidX" and len(d.claims()) == 1


def test_facts_win_over_claims_and_webrtc_ids_are_facts() -> None:
    d = lab_directory()
    d.apply(trace.Link(0.0, A, "mem:b", pid=B, transport="memory"))
    d.apply(trace.Hi(0.0, A, "mem:b", pid=M, transport="memory"))  # the wire's maker knows
    assert d.resolve(A, "mem:b") == B
    [c] = d.claims()
    assert (c.pid, c.entity, c.why) == (M, B, "the wire is known to be bob")
    d.apply(trace.RtcSignal(1.0, A, B, step="offer", direction="out", data={}))
    d.apply(trace.Hi(1.0, A, B, pid=B, transport="dc"))
    assert d.resolve(A, B) == B and len(d.claims()) == 1


def test_flagged_claims_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import gunrtc_kit.diagnose.peers as peers_mod

    monkeypatch.setattr(peers_mod, "MAX_CLAIMS", 3)
    d = lab_directory()
    dial(d, A, "s1")
    for i in range(10):
        d.apply(trace.Hi(1.0, R, f"e{i}", pid=A, transport="ws"))
        assert d.resolve(R, f"e{i}") == f"claim:e{i}"  # each still resolved apart
    assert len(d.claims()) == 3 and d.claims_dropped == 7


def test_a_replayed_trace_flags_the_same_claims() -> None:
    events = [
        trace.Hi(0.0, R, "s1", pid="", transport="ws"),
        trace.Hi(0.0, A, URL, pid=R, transport="ws"),
        trace.Hi(0.0, R, "s1", pid=A, transport="ws"),
        trace.Hi(1.0, R, "evil", pid=A, transport="ws"),
    ]
    live = lab_directory()
    for e in events:
        live.apply(e)
    replay = Directory.from_meta(live.meta())
    for e in events:
        replay.apply(e)
    assert [(c.peer, c.pid) for c in replay.claims()] == [("evil", A)]
    assert replay.resolve(R, "s1") == A
