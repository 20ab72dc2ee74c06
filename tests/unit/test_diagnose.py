"""The pure diagnose models on hand-made traces: matching copies to their fate, naming peers
only once the trace says who they are, bounds, replies joined to requests, SDP explained."""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.diagnose import Directory, FateModel, MeshModel, SignalingModel, annotate_sdp
from gunrtc_kit.diagnose.messages import is_signaling, kind_of

A, B, C = "pidA", "pidB", "pidC"


def said(t: float, node: str, peer: str, msg: dict[str, Any], tr: str = "memory") -> trace.Said:
    return trace.Said(t, node, peer, msg=msg, transport=tr)


def heard(t: float, node: str, peer: str, msg: dict[str, Any], tr: str = "memory") -> trace.Heard:
    return trace.Heard(t, node, peer, msg=msg, transport=tr)


def linked() -> tuple[Directory, FateModel, MeshModel]:
    """A, B and C, where A calls B 'b1' and B calls A 'a1'; B calls C 'c1', C calls B 'b2'."""
    d = Directory({A: "a", B: "b", C: "c"})
    fate, mesh = FateModel(d), MeshModel(d)
    for e in (
        trace.Link(0.0, A, "b1", pid=B, transport="memory"),
        trace.Link(0.0, B, "a1", pid=A, transport="memory"),
        trace.Link(0.0, B, "c1", pid=C, transport="memory"),
        trace.Link(0.0, C, "b2", pid=B, transport="memory"),
    ):
        fate.feed(e)
        mesh.apply(e)
    return d, fate, mesh


def run(fate: FateModel, mesh: MeshModel, events: list[trace.Event]) -> None:
    for e in events:
        fate.feed(e)
        mesh.apply(e)


def test_each_copy_gets_its_own_fate() -> None:
    _, fate, mesh = linked()
    put = {"#": "m1", "put": {"doc": {"x": 1}}, "ok": {"@": 10}}
    run(
        fate,
        mesh,
        [
            said(1.0, A, "b1", put),
            heard(1.1, B, "a1", put),
            said(1.2, B, "c1", put),
            trace.Dropped(
                1.2, B, "c1", msg_id="m1", reason="memory wire loss", cause=trace.DropCause.LOSS
            ),
            said(1.3, B, "a1", put),  # echoed back (a real mesh would not, but dedup must)
            trace.Dropped(
                1.4, A, "b1", msg_id="m1", reason="duplicate", cause=trace.DropCause.DUPLICATE
            ),
        ],
    )
    rows = list(fate.rows())
    assert [(r.src, r.dst, r.mark) for r in rows] == [
        ("a", "b", "heard"),
        ("b", "c", "lost"),
        ("b", "a", "dup"),
    ]
    f = fate.fate("m1")
    assert f.heard_by == ("b",) and f.relayed_by == ("b",)
    assert (f.duplicates, f.lost) == (1, 1)
    assert "relayed by b" in f.summary and "1 lost on the wire" in f.summary
    # the three rows changed fate after they were made: views are told which
    assert fate.changed == {0, 1, 2}
    assert mesh.edges["pidA|pidB|memory|"].count == 2 and mesh.edges["pidB|pidC|memory|"].lost == 1


def test_ack_timeout_is_judged_on_the_traces_clock() -> None:
    _, fate, mesh = linked()
    put = {"#": "m1", "put": {"doc": {"x": 1}}, "ok": {"@": 10}}
    run(fate, mesh, [said(0.0, A, "b1", put), heard(0.1, B, "a1", put)])
    assert not fate.fate("m1").never_acked
    run(fate, mesh, [trace.Hi(9.5, C, "b2", pid=B, transport="memory")])  # time passes
    f = fate.fate("m1")
    assert f.never_acked and "never acked (no answer within 9 s)" in f.summary
    # an answer makes it acked, and names who answered
    ack = {"#": "k1", "@": "m1", "ok": 1}
    _, fate, mesh = linked()
    run(
        fate,
        mesh,
        [
            said(0.0, A, "b1", put),
            heard(0.1, B, "a1", put),
            said(0.2, B, "a1", ack),
            heard(0.25, A, "b1", ack),
        ],
    )
    f = fate.fate("m1")
    assert f.acked and f.replies == ("k1",) and "answered by b after 250.0 ms" in f.summary
    assert fate.fate("k1").request == "m1" and fate.fate("k1").kind == "ack"


def test_an_error_answer_is_a_rejection() -> None:
    _, fate, mesh = linked()
    put = {"#": "m1", "put": {"doc": {"x": 1}}, "ok": {"@": 10}}
    err = {"#": "k1", "@": "m1", "err": "Error: Invalid graph!"}
    run(fate, mesh, [said(0.0, A, "b1", put), said(0.1, B, "a1", err), heard(0.2, A, "b1", err)])
    f = fate.fate("m1")
    assert not f.acked and f.rejected == "Error: Invalid graph!"
    assert "rejected (Error: Invalid graph!)" in f.summary


def test_unknown_ids_wait_for_their_peer_and_are_never_drawn() -> None:
    d = Directory({A: "a", B: "b"})
    fate, mesh = FateModel(d), MeshModel(d)
    hello = {"#": "q1", "dam": "?", "pid": A}
    run(
        fate,
        mesh,
        [
            trace.Hi(0.0, A, "sock9", pid="", transport="ws"),  # inbound, pid not known yet
            said(0.0, A, "sock9", hello, "ws"),
        ],
    )
    assert mesh.labels() == ["a"] and not mesh.edges  # no node for 'sock9'
    assert next(fate.rows()).dst == "?"
    run(fate, mesh, [trace.Hi(0.1, A, "sock9", pid=B, transport="ws")])
    assert sorted(mesh.labels()) == ["a", "b"]
    assert mesh.links() == [("a", "b", "ws", "open", 0)]
    row = next(fate.rows())
    assert row.dst == "b" and 0 in fate.changed  # fixed, and the views are told
    # B hears it from 'a2', which B cannot name yet: the copy waits for the name...
    run(fate, mesh, [heard(0.2, B, "a2", hello, "ws")])
    assert next(fate.rows()).mark == "sent" and fate.held == 1
    # ...and then meets the row of its saying: one copy, one row, heard
    fate.feed(trace.Hi(0.3, B, "a2", pid=A, transport="ws"))
    assert [(r.src, r.dst, r.mark) for r in fate.rows()] == [("a", "b", "heard")]
    assert fate.held == 0


def test_a_sender_never_named_becomes_a_row_after_a_while() -> None:
    d = Directory({B: "b"})
    fate = FateModel(d)
    msg = {"#": "x1", "put": {"s": {"k": 1}}}
    fate.feed(heard(0.0, B, "stranger", msg, "ws"))
    assert not list(fate.rows()) and fate.held == 1
    fate.feed(trace.Hi(1.0, B, "other", pid="", transport="ws"))
    assert fate.held == 1  # not yet: 1 s of the trace went by
    fate.feed(trace.Hi(2.5, B, "other", pid="", transport="ws"))
    assert [(r.src, r.dst, r.mark) for r in fate.rows()] == [("?", "b", "heard-only")]
    assert fate.fate("x1").heard_by == ("b",)


def test_a_url_named_before_its_pid_gives_its_name_to_the_pid() -> None:
    d = Directory()
    d.name("ws://127.0.0.1:9/gun", "gun.js relay", "external")
    fate = FateModel(d)
    get = {"#": "g1", "get": {"#": "x"}}
    reply = {"#": "r1", "@": "g1", "put": {"x": {"a": 1}}}
    for e in (
        said(0.0, A, "ws://127.0.0.1:9/gun", get, "ws"),
        trace.Hi(0.01, A, "ws://127.0.0.1:9/gun", pid="pidJS", transport="ws"),
        heard(0.02, A, "ws://127.0.0.1:9/gun", reply, "ws"),
    ):
        fate.feed(e)
    rows = list(fate.rows())
    assert [(r.src, r.dst, r.mark) for r in rows] == [
        # the Gun.js relay is not traced, but its answer proves the get arrived
        (A, "gun.js relay", "answered"),
        ("gun.js relay", A, "heard-only"),  # the Gun.js relay is not traced: heard only
    ]
    assert d.role("pidJS") == "external"
    f = fate.fate("g1")
    assert f.replies == ("r1",) and "answered by gun.js relay" in f.summary
    # an answer is proof of arrival: never "heard by 0" next to "answered"
    assert f.heard_by == ("gun.js relay",) and "no sign it arrived" not in str(f)


def test_a_copy_to_an_untraced_peer_says_so_until_it_answers() -> None:
    d = Directory()
    d.name("ws://127.0.0.1:9/gun", "gun.js relay", "external")
    fate = FateModel(d)
    put = {"#": "p1", "put": {"x": {"a": 1}}}
    for e in (
        trace.Hi(0.0, A, "ws://127.0.0.1:9/gun", pid="pidJS", transport="ws"),
        said(0.01, A, "ws://127.0.0.1:9/gun", put, "ws"),
    ):
        fate.feed(e)
    (row,) = fate.rows()
    assert row.mark == "untraced"
    assert "gun.js relay is not traced" in str(fate.fate("p1"))
    fate.feed(heard(0.02, A, "ws://127.0.0.1:9/gun", {"#": "a1", "@": "p1", "ok": 1}, "ws"))
    assert next(fate.rows()).mark == "answered"


def test_rows_and_messages_are_bounded_and_say_so() -> None:
    d = Directory({A: "a", B: "b"})
    fate = FateModel(d, row_cap=100, msg_cap=50)
    fate.feed(trace.Link(0.0, A, "b1", pid=B, transport="memory"))
    for i in range(1000):
        fate.feed(said(i * 0.001, A, "b1", {"#": f"m{i}", "put": {"s": {"k": i}}}))
    assert fate.total == 1000 and 100 <= fate.kept <= 110
    assert fate.offset == fate.total - fate.kept
    assert len(fate.msgs) == 50 and fate.msgs_discarded == 950
    assert len(fate._awaiting) <= 110  # pending matches go with their rows
    with pytest.raises(IndexError, match="not kept"):
        fate.row(0)
    with pytest.raises(KeyError):
        fate.fate("m0")
    assert fate.row(999).mid == "m999"


def test_filters() -> None:
    _, fate, mesh = linked()
    run(
        fate,
        mesh,
        [
            said(0.0, A, "b1", {"#": "m1", "put": {"chat/1": {"x": 1}}}),
            said(0.1, A, "b1", {"#": "m2", "get": {"#": "chat/1"}}),
            said(0.2, B, "c1", {"#": "m3", "put": {"/RTC/lab": {"x": 1}}}),
            said(0.3, B, "c1", {"#": "m4", "dam": "?", "pid": B}),
        ],
    )

    def mids(**f: Any) -> list[str]:
        m = fate.matcher(**f)
        return [fate.c_mid[i] for i in range(len(fate)) if m(i)]

    assert mids() == ["m1", "m2", "m3", "m4"]
    assert mids(kind="put") == ["m1", "m3"]
    assert mids(hide_signaling=True) == ["m1", "m2"]
    assert mids(soul="chat/1") == ["m1", "m2"]
    assert mids(soul="chat/*") == ["m1", "m2"]  # a prefix only when asked for with '*'
    assert mids(soul="chat") == [] and mids(soul="chat/") == []
    assert mids(peer="c") == ["m3", "m4"]
    assert mids(pair=(A, B)) == ["m1", "m2"]
    assert mids(peer="nobody") == []
    assert mids(transport="ws") == []


def test_kinds_and_signaling() -> None:
    assert kind_of({"@": "x", "ok": {"rtc": {"offer": {}}}}) == "rtc:offer"
    assert kind_of({"dam": "?"}) == "dam:?"
    assert kind_of({"@": "x", "put": {}}) == "reply"
    assert kind_of({"@": "x", "ok": 1}) == "ack"
    assert is_signaling("put", ("/RTC/room",)) and not is_signaling("put", ("chat",))


def test_mesh_partitions_and_rates() -> None:
    _, fate, mesh = linked()
    assert mesh.partitions() == 1
    mesh.apply(trace.Link(1.0, B, "c1", pid=C, transport="memory", props={"partitioned": True}))
    assert mesh.partitions() == 2 and mesh.edges["pidB|pidC|memory|"].partitioned
    for i in range(10):
        mesh.apply(said(1.0 + i * 0.1, A, "b1", {"#": f"m{i}", "put": {}}))
    mesh.sample_rates()
    assert mesh.edges["pidA|pidB|memory|"].rate == pytest.approx(10 / 1.9, abs=0.1)
    pulses, skipped = mesh.take_pulses()
    assert len(pulses) == 10 and skipped == 0 and pulses[0] == ("pidA|pidB|memory|", A, "put")


def test_signaling_steps_and_sdp_explained() -> None:
    d = Directory({A: "a", B: "b"})
    sig = SignalingModel(d, cap=3)
    sdp = (
        "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        "a=fingerprint:sha-256 AB:CD\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
    )
    sig.apply(
        trace.RtcSignal(
            0.0, A, B, step="offer", direction="out", data={"type": "offer", "sdp": sdp}
        )
    )
    sig.apply(trace.RtcState(0.5, A, B, state="connected", layer="dtls"))
    assert [s.step for s in sig.steps] == ["offer", "state"]
    assert sig.steps[0].text == "offer: 4 SDP lines, 1 candidates"
    assert sig.steps[1].layer == "dtls" and sig.steps[1].t == 0.5
    for i in range(5):
        sig.apply(trace.RtcState(1.0 + i, A, B, state="open", layer="dc"))
    assert len(sig.steps) == 3 and sig.discarded == 4 and sig.count == 7
    notes = dict(annotate_sdp(sdp))
    assert "SCTP" in notes["m=application 9 UDP/DTLS/SCTP webrtc-datachannel"]
    assert "DTLS certificate" in notes["a=fingerprint:sha-256 AB:CD"]
    cand = notes["a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"]
    assert "UDP 127.0.0.1:50000" in cand and "this machine" in cand


def test_a_copy_lost_before_its_far_end_was_named_is_still_lost() -> None:
    d = Directory({A: "a", B: "b"})
    fate = FateModel(d)
    hello = {"#": "q1", "dam": "?", "pid": A}
    fate.feed(said(0.0, A, "sock1", hello))
    fate.feed(
        trace.Dropped(
            0.0, A, "sock1", msg_id="q1", reason="memory wire loss", cause=trace.DropCause.LOSS
        )
    )
    fate.feed(trace.Link(0.0, A, "sock1", pid=B, transport="memory"))
    (row,) = fate.rows()
    assert (row.src, row.dst, row.mark) == ("a", "b", "lost")
    assert not fate._awaiting  # a copy with a fate waits for nothing


def test_a_copy_said_to_an_unnamed_socket_is_matched_by_who_heard_it() -> None:
    # the relay greets an inbound socket before knowing who dialled it; the client, which
    # knows the relay, hears the greeting: that copy went to the client, one row, heard
    d = Directory({A: "alice", "R": "relay"})
    fate = FateModel(d)
    hello = {"#": "q1", "dam": "?", "pid": "R"}
    fate.feed(trace.Link(0.0, A, "ws://r", pid="R", transport="ws"))
    fate.feed(said(0.0, "R", "sock7", hello, "ws"))
    fate.feed(heard(0.01, A, "ws://r", hello, "ws"))
    assert [(r.src, r.dst, r.mark) for r in fate.rows()] == [("relay", "alice", "heard")]
    fate.feed(trace.Hi(0.02, "R", "sock7", pid=A, transport="ws"))  # later the relay learns
    assert [(r.src, r.dst, r.mark) for r in fate.rows()] == [("relay", "alice", "heard")]


def test_what_a_remote_side_can_grow_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import gunrtc_kit.diagnose.mesh as mesh_mod
    import gunrtc_kit.diagnose.peers as peers_mod
    from gunrtc_kit.diagnose import fate as fate_mod
    from gunrtc_kit.diagnose import signaling as sig_mod

    monkeypatch.setattr(peers_mod, "MAX_LANES", 5)
    monkeypatch.setattr(mesh_mod, "MAX_NODES", 4)
    monkeypatch.setattr(sig_mod, "MAX_LINKS", 3)
    monkeypatch.setattr(fate_mod, "MAX_KINDS", 2)
    d = Directory({A: "a"})
    fate, mesh, sig = FateModel(d), MeshModel(d), SignalingModel(d)
    for i in range(20):  # a relay that keeps inventing peers, dams and WebRTC links
        for e in (
            trace.Hi(0.0, A, f"s{i}", pid=f"fake{i}", transport="ws"),
            said(0.0, A, f"s{i}", {"#": f"m{i}", "dam": f"x{i}"}, "ws"),
            trace.RtcSignal(0.0, A, f"fake{i}", step="offer", direction="in", data={}),
        ):
            d.apply(e)
            fate.apply(e)
            mesh.apply(e)
            sig.apply(e)
    assert len(d.lanes) == 5 and d.lanes_refused > 0
    assert len(mesh.nodes) == 4 and mesh.refused > 0 and len(mesh.edges) == 3
    assert len(sig.links) == 3 and len(fate.kinds) == 2
    assert {r.dst for r in fate.rows()} >= {"?"}  # past the lanes: drawn as unknown, not lost
    # a huge message is kept as a preview, its id and kind still known
    big = {"#": "big", "put": {f"s{i}": {"k": "x" * 100} for i in range(2000)}}
    fate.feed(trace.Said(1.0, A, "s0", msg=big, transport="ws", size=300_000))
    kept = fate.msgs["big"]
    assert kept.kind == "put" and "only a preview is kept" in kept.msg["…"]
    assert len(kept.souls) == 50 and "#" in kept.msg


def test_a_frame_queued_before_its_socket_opens_is_filed_under_that_socket() -> None:
    # a dialled peer's frames said before its WebSocket exists name the wire its URL dials:
    # said with no transport, they drew a phantom '?' wire beside every relay spoke
    url = "ws://127.0.0.1:9/gun"
    bus = trace.TraceBus()
    m = Mesh("pidA", clock_ms=lambda: 0.0, bus=bus)
    m.add(MeshPeer(id=url, url=url))
    m.say({"#": "g1", "get": {"#": "s"}})
    (said_event,) = bus.events(trace.Said)
    assert said_event.transport == "ws" and said_event.queued
    d = Directory({"pidA": "a", B: "relay"})
    d.alias(url, B)
    mesh = MeshModel(d)
    for e in (*bus.history, trace.Hi(0.1, "pidA", url, pid=B, transport="ws")):
        d.apply(e)
        mesh.apply(e)
    assert [(e.transport, e.count) for e in mesh.edges.values()] == [("ws", 1)]


def test_a_peers_counters_are_the_mesh_models_whether_shared_or_its_own() -> None:
    # the peer model reads its counters from a mesh model (a hub's, or one it keeps when used
    # alone), so the peer view and the mesh's hover can never disagree on them
    from gunrtc_kit.diagnose import PeersModel

    put = {"#": "m1", "put": {"doc": {"x": 1}}}
    events: list[trace.Event] = [
        trace.Link(0.0, A, "b1", pid=B, transport="memory"),
        trace.Link(0.0, B, "a1", pid=A, transport="memory"),
        said(1.0, A, "b1", put),
        heard(1.1, B, "a1", put),
        trace.Put(1.1, B, "a1", msg_id="m1", changes={"doc": ["x"]}, values={"doc": {"x": 1}}),
        said(1.2, B, "a1", put),
        trace.Dropped(1.3, B, "a1", msg_id="m1", reason="loss", cause=trace.DropCause.LOSS),
        trace.Dropped(1.4, A, "b1", msg_id="m1", reason="dup", cause=trace.DropCause.DUPLICATE),
    ]
    d = Directory({A: "a", B: "b"})
    alone = PeersModel(d)
    shared_mesh = MeshModel(d)
    shared = PeersModel(d, mesh=shared_mesh)
    versions = []
    for e in events:
        d.apply(e)
        alone.apply(e)
        shared_mesh.apply(e)
        if type(e) in shared.reads:
            shared.apply(e)
        versions.append(shared.version(B))
    want_b = {"heard": 1, "said": 1, "dropped": 0, "lost": 1, "puts": 1, "errors": 0}
    want_a = {"heard": 0, "said": 1, "dropped": 1, "lost": 0, "puts": 0, "errors": 0}
    for model in (alone, shared):
        assert model.counters(B) == want_b and model.counters(A) == want_a
        assert model.snapshot(B)["counters"] == want_b
        assert model.snapshot(B)["data"] == {"doc": {"x": 1}}
        assert model.counters("nobody") == dict.fromkeys(want_b, 0)
    assert trace.Said not in shared.reads and trace.Put in shared.reads
    # every event of B's moved its version, and none of A's did after B's first
    assert versions[3] < versions[4] < versions[5] < versions[6] == versions[7]
