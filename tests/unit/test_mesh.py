"""The DAM mesh without any I/O: frames in, frames out, events on the bus."""

from __future__ import annotations

import json

import pytest

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import LimitError
from tests.helpers import FakeClock, RecordingWire


def make_mesh(pid: str = "MESHpid01", **kw: object) -> Mesh:
    clock = FakeClock()
    bus = trace.TraceBus(clock=lambda: clock.now / 1000)
    return Mesh(pid, clock_ms=clock, bus=bus, **kw)  # type: ignore[arg-type]


def inbound(mesh: Mesh) -> tuple[MeshPeer, RecordingWire]:
    wire = RecordingWire()
    peer = MeshPeer(id="", wire=wire)
    mesh.hi(peer)
    return peer, wire


def test_inbound_peer_gets_id_and_our_pid_then_answers_theirs() -> None:
    mesh = make_mesh()
    peer, wire = inbound(mesh)
    assert peer.id and len(peer.id) == 9
    hello = wire.messages()[0]
    assert hello["dam"] == "?" and hello["pid"] == "MESHpid01"
    mesh.hear(json.dumps({"#": "q1", "dam": "?", "pid": "THEIRpid1"}), peer)
    mesh.flush_all()
    assert peer.pid == "THEIRpid1"
    reply = wire.messages()[-1]
    assert reply["@"] == "q1" and reply["dam"] == "?" and reply["pid"] == "MESHpid01"
    # a '?' that is itself a reply is not answered again
    n = len(wire.frames)
    mesh.hear(json.dumps({"#": "q2", "@": "x", "dam": "?", "pid": "OTHER0001"}), peer)
    mesh.flush_all()
    assert len(wire.frames) == n and peer.pid == "THEIRpid1"  # first pid wins


def test_dialled_peer_sends_no_pid_request() -> None:
    mesh = make_mesh()
    wire = RecordingWire()
    mesh.hi(MeshPeer(id="ws://h:1/gun", url="ws://h:1/gun", wire=wire))
    assert wire.frames == []


def test_duplicate_message_is_handled_once_and_reported() -> None:
    got: list[str] = []
    mesh = make_mesh(on_message=lambda m, p: got.append(m["#"]))
    peer, _ = inbound(mesh)
    raw = json.dumps({"#": "m1", "put": {}})
    mesh.hear(raw, peer)
    mesh.hear(raw, peer)
    assert got == ["m1"]
    drops = mesh.bus.events(trace.Dropped)
    assert [d.reason for d in drops] == ["duplicate"] and drops[0].msg_id == "m1"

    assert mesh.duplicates == 1


def test_with_nobody_looking_duplicates_are_counted_not_built_as_events() -> None:
    # a flood drops a duplicate on every hop: with no history and no subscriber for Dropped,
    # no event is built for it, and the mesh's counters still say what happened
    mesh = make_mesh(on_message=lambda m, p: None)
    mesh.bus.keep = 0
    seen: list[trace.Event] = []
    mesh.bus.subscribe(seen.append, (trace.Hi,))
    peer, _ = inbound(mesh)
    built = 0
    real = trace.Dropped.__init__

    def counting(self: trace.Dropped, *a: object, **kw: object) -> None:
        nonlocal built
        built += 1
        real(self, *a, **kw)  # type: ignore[arg-type]

    trace.Dropped.__init__ = counting  # type: ignore[method-assign]
    try:
        for _ in range(5):
            mesh.hear(json.dumps({"#": "m1", "put": {}}), peer)
        assert mesh.duplicates == 4 and built == 0
        mesh.bus.subscribe(seen.append, (trace.Dropped,))
        mesh.hear(json.dumps({"#": "m1", "put": {}}), peer)
        assert mesh.duplicates == 5 and built == 1
        assert len([e for e in seen if isinstance(e, trace.Dropped)]) == 1
    finally:
        trace.Dropped.__init__ = real  # type: ignore[method-assign]
    before = mesh.said
    mesh.say({"#": "s1", "put": {}})
    assert mesh.said == before + 1 == peer.said  # one copy, to the one peer


def test_reply_is_routed_to_the_asker_only() -> None:
    relay = make_mesh("RELAYpid1")
    relay.on_message = lambda m, p: relay.say(m)  # relay everything, as the root does
    a, wa = inbound(relay)
    b, wb = inbound(relay)
    c, wc = inbound(relay)
    for w in (wa, wb, wc):
        w.frames.clear()
    relay.hear(json.dumps({"#": "get1", "get": {"#": "s"}}), a)
    relay.flush_all()
    assert [m["#"] for m in wb.messages()] == ["get1"]
    assert [m["#"] for m in wc.messages()] == ["get1"]
    assert wa.messages() == []  # never back to the sender
    relay.hear(json.dumps({"#": "r1", "@": "get1", "put": {}}), b)
    relay.flush_all()
    assert [m["#"] for m in wa.messages()] == ["r1"]
    assert [m["#"] for m in wc.messages()] == ["get1"]  # c got no reply


def test_lost_route_is_a_dropped_event_not_silence() -> None:
    mesh = make_mesh()
    _, wire = inbound(mesh)
    wire.frames.clear()
    assert mesh.say({"#": "r9", "@": "nobody"}) is False
    assert wire.frames == []
    assert "lost route" in mesh.bus.events(trace.Dropped)[-1].reason


def test_first_message_alone_then_a_batch() -> None:
    mesh = make_mesh()
    _, wire = inbound(mesh)
    mesh.flush_all()
    wire.frames.clear()
    for i in range(3):
        mesh.say({"#": f"b{i}", "get": {"#": "x"}})
    mesh.flush_all()
    assert wire.frames[0].startswith("{") and json.loads(wire.frames[0])["#"] == "b0"
    batch = json.loads(wire.frames[1])
    assert isinstance(batch, list) and [m["#"] for m in batch] == ["b1", "b2"]
    assert len(wire.frames) == 2


def test_batches_never_exceed_pack() -> None:
    mesh = make_mesh(pack=200)
    _, wire = inbound(mesh)
    mesh.flush_all()
    wire.frames.clear()
    for i in range(20):
        mesh.say({"#": f"m{i:02}", "get": {"#": "soul-" + "x" * 30}})
    mesh.flush_all()
    assert all(len(f) <= 200 or f.startswith("{") for f in wire.frames)
    assert [m["#"] for m in wire.messages()] == [f"m{i:02}" for i in range(20)]


def test_seen_peers_are_skipped() -> None:
    mesh = make_mesh()
    mesh.on_message = lambda m, p: mesh.say(m)
    a, _ = inbound(mesh)
    b, wb = inbound(mesh)
    c, wc = inbound(mesh)
    mesh.hear(json.dumps({"#": "q", "dam": "?", "pid": "CPID00000"}), c)
    mesh.flush_all()
    wb.frames.clear()
    wc.frames.clear()
    mesh.hear(json.dumps({"#": "p1", "put": {}, "><": "CPID00000,zzz"}), a)
    mesh.flush_all()
    assert [m["#"] for m in wb.messages()] == ["p1"]
    assert wc.messages() == []
    sent = wb.messages()[0]
    assert set(sent["><"].split(",")) == {a.id, b.id, "CPID00000"}  # our own peers now


def test_frames_queue_until_hi_and_the_queue_is_bounded() -> None:
    mesh = make_mesh(queue_limit=2)
    wire = RecordingWire(open_=False)
    peer = mesh.add(MeshPeer(id="ws://x/gun", url="ws://x/gun", wire=wire))
    for i in range(3):
        mesh.say({"#": f"q{i}", "get": {"#": "s"}}, peer)
        mesh.flush_all()
    assert len(peer.queue) == 2
    assert "queue full" in mesh.bus.events(trace.Dropped)[-1].reason
    wire.open = True
    mesh.hi(peer)
    assert [m["#"] for m in wire.messages()] == ["q0", "q1"]


class SmallWire(RecordingWire):
    """A wire with a size limit, as a data channel has (it refuses a bigger frame)."""

    def __init__(self, limit: int, open_: bool = True) -> None:
        super().__init__(open_)
        self.limit = limit

    def send(self, text: str) -> None:
        if len(text) > self.limit:
            raise LimitError(f"frame of {len(text)} over the wire's limit {self.limit}")
        super().send(text)


def test_a_frame_over_the_wires_limit_is_reported_lost_never_raised() -> None:
    # a data channel refuses a frame over 256 KiB: relaying one big put must not raise into
    # the mesh (and whoever said it), and the copy's fate must say why it never arrived
    mesh = make_mesh()
    wire = SmallWire(200)
    peer, _ = inbound(mesh)
    peer.wire = wire
    big = {"#": "big1", "put": {"s": {"x": "y" * 500}}}
    assert mesh.say(big, peer)  # joins the batch our "?" opened; the batch is over the limit
    mesh.say({"#": "small1", "get": {"#": "s"}}, peer)
    mesh.flush_all()
    (dropped,) = [e for e in mesh.bus.events(trace.Dropped) if e.msg_id == "big1"]
    assert dropped.cause is trace.DropCause.FRAME_TOO_BIG and dropped.cause.never_arrived
    assert "limit 200" in dropped.reason
    assert any("not sent" in e.error for e in mesh.bus.events(trace.Error))
    # the batch went out message by message: only the one too big itself is lost
    assert [m["#"] for m in wire.messages()] == ["small1"]
    # queued before the wire opened, refused when it drains: reported the same way
    closed = SmallWire(200, open_=False)
    dialled = mesh.add(MeshPeer(id="ws://y/gun", url="ws://y/gun", wire=closed))
    mesh.say({"#": "big2", "put": {"s": {"x": "y" * 500}}}, dialled)
    mesh.flush_all()
    closed.open = True
    mesh.hi(dialled)
    assert [e.cause for e in mesh.bus.events(trace.Dropped) if e.msg_id == "big2"] == [
        trace.DropCause.FRAME_TOO_BIG
    ]
    assert dialled.queued_chars == 0 and not dialled.queue


def test_the_queue_is_bounded_in_characters_too() -> None:
    # a thousand frames of up to max_frame each could wait for one peer: the queue is held to
    # queue_chars characters as well, and drains back to zero
    mesh = make_mesh(queue_chars=1000)
    wire = RecordingWire(open_=False)
    peer = mesh.add(MeshPeer(id="ws://x/gun", url="ws://x/gun", wire=wire))
    body = "x" * 250
    for i in range(5):
        mesh.say({"#": f"q{i}", "get": {"#": body}}, peer)
        mesh.flush_all()
    assert peer.queue is not None and len(peer.queue) == 3
    assert peer.queued_chars == sum(len(f) for f in peer.queue) <= 1000
    drops = [d.reason for d in mesh.bus.events(trace.Dropped)]
    assert drops == ["queue full (queue_chars=1000)"] * 2
    assert any("queue_chars=1000" in e.error for e in mesh.bus.events(trace.Error))
    wire.open = True
    mesh.hi(peer)
    assert [m["#"] for m in wire.messages()] == ["q0", "q1", "q2"]
    assert peer.queued_chars == 0 and not peer.queue


@pytest.mark.parametrize(
    ("raw", "err"),
    [
        ("{bad json", "DAM JSON parse error."),
        ("[1, 2]", None),
        ('"just a string"', "DAM JSON parse error."),
    ],
)
def test_bad_input_gets_gun_error_reply_and_event(raw: str, err: str | None) -> None:
    mesh = make_mesh()
    peer, wire = inbound(mesh)
    wire.frames.clear()
    mesh.hear(raw, peer)
    mesh.flush_all()
    replies = [m for m in wire.messages() if m.get("dam") == "!"]
    assert replies, "a '!' reply was expected"
    if err is not None:
        assert replies[0]["err"] == err
    assert mesh.bus.events(trace.Error)


def test_oversized_frame_is_refused_with_gun_text() -> None:
    mesh = make_mesh(max_frame=100)
    peer, wire = inbound(mesh)
    wire.frames.clear()
    mesh.hear(json.dumps({"#": "big", "put": {"s": "x" * 200}}), peer)
    mesh.flush_all()
    assert wire.messages()[0] == {
        "#": wire.messages()[0]["#"],
        "dam": "!",
        "err": "Message too big!",
    }
    with pytest.raises(LimitError):
        mesh.say({"#": "big2", "put": {"s": "x" * 200}})


def test_unknown_dam_is_reported_known_dam_handled_never_relayed() -> None:
    relayed: list[str] = []
    mesh = make_mesh(on_message=lambda m, p: relayed.append(m["#"]))
    handled: list[str] = []
    mesh.handlers["rtc"] = lambda m, p: handled.append(m["#"])
    peer, _ = inbound(mesh)
    mesh.hear(json.dumps({"#": "d1", "dam": "rtc", "ok": {}}), peer)
    mesh.hear(json.dumps({"#": "d2", "dam": "nonsense"}), peer)
    mesh.hear(json.dumps({"#": "d3", "dam": "hi"}), peer)
    assert handled == ["d1"] and relayed == []
    errors = [e.error for e in mesh.bus.events(trace.Error)]
    assert any('unknown dam "nonsense"' in e for e in errors)
    assert not any('"hi"' in e for e in errors)


def test_dam_that_is_not_a_string_gets_an_error_reply() -> None:
    mesh = make_mesh()
    peer, wire = inbound(mesh)
    mesh.flush_all()
    wire.frames.clear()
    mesh.hear(json.dumps({"#": "d9", "dam": {}}), peer)
    mesh.flush_all()
    replies = [m for f in wire.frames for m in codec.parse(f)[0]]
    assert [(m["dam"], m["@"], m["err"]) for m in replies] == [("!", "d9", "Unknown dam {}.")]
    assert not [e for e in mesh.bus.events(trace.Error) if "handling message failed" in e.error]


def test_a_batch_of_bad_elements_gets_one_error_reply() -> None:
    mesh = make_mesh()
    peer, wire = inbound(mesh)
    mesh.flush_all()
    wire.frames.clear()
    mesh.hear("[" + ",".join(["1"] * 10_000) + ',{"#":"ok1","dam":"hi"}]', peer)
    mesh.flush_all()
    replies = [m for f in wire.frames for m in codec.parse(f)[0]]
    assert len(replies) == 1 and "10000 of 10001" in replies[0]["err"]


def test_binary_frame_is_reported() -> None:
    mesh = make_mesh()
    peer, _ = inbound(mesh)
    mesh.hear(b"\x00\x01", peer)
    assert "binary" in mesh.bus.events(trace.Error)[-1].error


def test_put_ack_budget_counts_down_and_slash_is_our_peer_count() -> None:
    mesh = make_mesh()
    _, w1 = inbound(mesh)
    _, w2 = inbound(mesh)
    mesh.flush_all()
    w1.frames.clear()
    mesh.say({"#": "p", "put": {}, "ok": {"@": 10}})
    sent = w1.messages()[0]
    assert sent["ok"] == {"@": 9, "/": 2}


def test_reply_with_data_is_hashed_and_sorted() -> None:
    mesh = make_mesh()
    peer, wire = inbound(mesh)
    mesh.hear(json.dumps({"#": "g1", "get": {"#": "test/soul"}}), peer)
    mesh.flush_all()
    wire.frames.clear()
    put = {"test/soul": {"hello": "world", "_": {">": {"hello": 1795544504602}, "#": "test/soul"}}}
    mesh.say({"#": "r1", "@": "g1", "put": put})
    raw = wire.frames[0]
    assert json.loads(raw)["##"] == 1280652190  # gun-wire 3.4, captured from npm gun
    assert '"put":{"test/soul":{"_":{"#":"test/soul",">":{"hello":1795544504602}}' in raw
    # the identical reply again is not sent
    assert mesh.say({"#": "r2", "@": "g1", "put": put}) is False


def test_self_connection_hangs_up() -> None:
    mesh = make_mesh()
    peer, wire = inbound(mesh)
    mesh.hear(json.dumps({"#": "s1", "dam": "?", "pid": "MESHpid01"}), peer)
    assert wire.closed and peer.id not in mesh.peers
    assert mesh.bus.events(trace.Bye)


def test_bye_removes_peer_and_emits_event() -> None:
    left: list[str] = []
    mesh = make_mesh()
    mesh.on_bye.append(lambda p: left.append(p.id))
    peer, _ = inbound(mesh)
    assert mesh.near == 1
    mesh.bye(peer)
    assert mesh.near == 0 and left == [peer.id] and peer.id not in mesh.peers


def test_the_dedup_table_given_is_the_one_used_even_when_empty() -> None:
    from gunrtc_kit.core.dup import Dup

    dup = Dup(FakeClock())
    assert make_mesh(dup=dup).dup is dup  # an empty Dup is falsy: `dup or Dup()` lost it


def test_a_reply_is_taken_only_from_a_peer_its_request_went_to() -> None:
    heard: list[str] = []
    mesh = make_mesh(on_message=lambda m, p: heard.append(m["#"]))
    asked, _ = inbound(mesh)
    other, _ = inbound(mesh)
    mesh.say({"#": "req1", "get": {"#": "s"}}, asked)
    mesh.hear(json.dumps({"#": "forged", "@": "req1", "ok": 1}), other)
    mesh.hear(json.dumps({"#": "real", "@": "req1", "ok": 1}), asked)
    assert heard == ["real"]
    dropped = [e for e in mesh.bus.events(trace.Dropped) if e.msg_id == "forged"]
    assert dropped and "not sent to" in dropped[0].reason


def test_a_wide_broadcast_accepts_replies_from_peers_connected_when_it_was_sent() -> None:
    heard: list[str] = []
    mesh = make_mesh(on_message=lambda m, p: heard.append(m["#"]))
    peers = [inbound(mesh)[0] for _ in range(40)]
    mesh.say({"#": "req2", "put": {}})
    assert mesh.sent_to("req2", peers[-1])
    mesh.clock_ms.advance(5)  # type: ignore[attr-defined]
    late, _ = inbound(mesh)
    assert not mesh.sent_to("req2", late)


def test_the_flush_queue_stays_small_on_a_mesh_that_never_runs_dry() -> None:
    # flushes handed to call_soon run in order; under load there is always one more waiting:
    # the flushed ones must not pile up in the queue
    pending: list[object] = []
    mesh = make_mesh(call_soon=pending.append)
    peers = [inbound(mesh)[0] for _ in range(3)]
    for p in peers:
        mesh.hear(json.dumps({"#": f"q{p.id}", "dam": "?", "pid": f"P{p.id}"}), p)
    most = 0
    for i in range(5000):
        mesh.say({"#": f"m{i}", "put": {}})  # each opens a batch on every peer: 3 flushes due
        while len(pending) > 2:  # run all but the newest: the queue never empties
            pending.pop(0)()  # type: ignore[operator]
        most = max(most, mesh.outbox.pending)
    assert most < 200, most
