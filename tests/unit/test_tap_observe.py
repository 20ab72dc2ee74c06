"""What the tap records for a frame (``gunrtc_kit.tap.observe``), without sockets: the exact
events, pids naming each side once said, answers matched, undelivered frames marked lost, and
what the readers make of it (a copy the tap delivered is never called heard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.fate import FateModel
from gunrtc_kit.diagnose.fate_types import Mark
from gunrtc_kit.tap import observe
from gunrtc_kit.tap.observe import CLIENT, RELAY, Pair, parse
from gunrtc_kit.tap.record import MSG_BYTES, Recorder

PUT = '{"#":"p1","put":{"s":{"_":{"#":"s",">":{"k":5}},"k":"v"}}}'


def pair(bus: trace.TraceBus) -> Pair:
    return Pair(bus, "tap:127.0.0.1:9", "127.0.0.1:5000", "ws://127.0.0.1:9/gun", "ws://r/gun")


def feed(p: Pair, side: str, raw: str, delivered: bool = True) -> None:
    cause = None if delivered else trace.DropCause.BUDGET
    p.frame(side, raw, len(raw.encode()), parse(raw, 10_000), delivered, cause, "cut")


def events(bus: trace.TraceBus) -> list[tuple[str, str, str]]:
    return [(e.kind, e.node, e.peer) for e in bus.history]


def test_one_frame_becomes_said_put_and_tapped() -> None:
    bus = trace.TraceBus(clock=lambda: 1.0)
    p = pair(bus)
    p.opened()
    feed(p, RELAY, '{"#":"h1","dam":"?","pid":"R"}')
    feed(p, CLIENT, '{"#":"h2","dam":"?","pid":"C","@":"h1"}')
    bus.history.clear()
    frame = "[" + PUT + ',{"#":"g1","get":{"#":"s"}}]'
    feed(p, CLIENT, frame)
    cw = "ws://127.0.0.1:9/gun"
    assert events(bus) == [
        ("said", "C", cw),
        ("put", "C", cw),
        ("said", "C", cw),
        ("tapped", "C", cw),
    ]
    said, put, _, tapped = bus.history
    assert isinstance(said, trace.Said) and said.batched and said.size == 0
    assert said.transport == "ws" and said.msg["#"] == "p1"
    assert isinstance(put, trace.Put) and put.msg_id == "p1"
    assert (put.changes, put.values, put.states) == (
        {"s": ["k"]},
        {"s": {"k": "v"}},
        {"s": {"k": 5}},
    )
    assert tapped == trace.Tapped(
        1.0, "C", cw, to="R", size=len(frame), messages=2, tap="tap:127.0.0.1:9", transport="ws"
    )
    # the relay's answer names the put: an Ack at the client, once delivered
    bus.history.clear()
    feed(p, RELAY, '{"#":"a1","@":"p1","ok":1}')
    assert [e.kind for e in bus.history] == ["said", "ack", "tapped"]
    ack = bus.history[1]
    assert isinstance(ack, trace.Ack) and (ack.node, ack.reply_to, ack.ok) == ("C", "p1", 1)
    assert not bus.events(trace.Heard)


def test_a_pid_renames_the_side_and_reannounces_its_wire() -> None:
    bus = trace.TraceBus()
    p = pair(bus)
    p.opened()
    feed(p, CLIENT, '{"#":"g0","get":{"#":"s"}}')  # before any '?': known by its address
    feed(p, RELAY, '{"#":"h1","dam":"?","pid":"R"}')
    feed(p, RELAY, '{"#":"h9","dam":"?","pid":"other"}')  # first one wins, as in Gun
    links = [(e.node, e.pid) for e in bus.events(trace.Link)]
    assert links == [
        ("127.0.0.1:5000", "ws://r/gun"),
        ("ws://r/gun", "127.0.0.1:5000"),
        ("127.0.0.1:5000", "R"),
        ("R", "127.0.0.1:5000"),
    ]
    assert [(e.node, e.peer) for e in bus.events(trace.Bye)] == [
        ("127.0.0.1:5000", "ws://127.0.0.1:9/gun"),
        ("ws://r/gun", "tap:127.0.0.1:5000"),
    ]
    assert bus.events(trace.Said)[0].node == "127.0.0.1:5000"
    assert {e.node for e in bus.events(trace.Said)[1:]} == {"R"}
    p.closed()
    assert [(e.node, e.peer) for e in bus.events(trace.Bye)][-2:] == [
        ("127.0.0.1:5000", "ws://127.0.0.1:9/gun"),
        ("R", "tap:127.0.0.1:5000"),
    ]


def test_bad_frames_are_errors_and_undelivered_ones_are_dropped() -> None:
    bus = trace.TraceBus()
    p = pair(bus)
    p.frame(CLIENT, b"\x00", 1, None, True)
    feed(p, CLIENT, "nope")
    feed(p, CLIENT, '[{"#":"x"}, 3]')
    errors = [e.error for e in bus.events(trace.Error)]
    assert "binary frame of 1 bytes" in errors[0] and "not Gun JSON" in errors[1]
    assert "batch element 1 is 3, not a message object" in errors[2]
    assert [e.messages for e in bus.events(trace.Tapped)] == [0, 0, 1]
    feed(p, CLIENT, PUT, delivered=False)
    dropped = bus.events(trace.Dropped)
    assert [(d.msg_id, d.cause, d.reason) for d in dropped] == [
        ("p1", trace.DropCause.BUDGET, "cut")
    ]
    assert bus.events(trace.Tapped)[-1].delivered is False


def test_fate_reads_a_tap_trace_without_claiming_arrival() -> None:
    bus = trace.TraceBus()
    p = pair(bus)
    p.opened()
    feed(p, RELAY, '{"#":"h1","dam":"?","pid":"R"}')
    feed(p, CLIENT, '{"#":"h2","dam":"?","pid":"C","@":"h1"}')
    feed(p, CLIENT, '{"#":"p1","put":{"s":{"_":{"#":"s",">":{"k":5}},"k":"v"}},"ok":1}')
    feed(p, RELAY, '{"#":"a1","@":"p1","ok":1}')
    model = FateModel()
    for e in bus.history:
        model.feed(e)
    marks = {r.mid: r.mark for r in model.rows()}
    assert marks["p1"] in (Mark.SENT, Mark.UNTRACED) and Mark.HEARD not in marks.values()
    fate = model.fate("p1")
    info = model.msgs["p1"]
    assert info.origin == "C" and info.answered_at is not None and fate is not None


def test_tapped_round_trips_through_a_trace_file(tmp_path: Path) -> None:
    e = trace.Tapped(2.5, "C", "w", to="R", size=9, binary=True, messages=0, delivered=False)
    assert list(trace.from_jsonl(trace.to_jsonl([e]))) == [e]
    assert trace.load(trace.save(tmp_path / "t.jsonl", [e])).events == [e]


def test_the_recorder_summarizes_a_big_message(tmp_path: Path) -> None:
    bus = trace.TraceBus()
    rec = Recorder(tmp_path / "r.jsonl", bus, limit=1 << 20).start()
    big = {"#": "b1", "put": {"s": {"k": "x" * (2 * MSG_BYTES)}}}
    bus.emit(trace.Said(1.0, "C", "w", msg=big, transport="ws", size=2 * MSG_BYTES + 40))
    rec.close()
    saved = trace.load(tmp_path / "r.jsonl").events
    assert isinstance(saved[0], trace.Said) and saved[0].msg["#"] == "b1"
    assert saved[0].msg["~"] == 2 * MSG_BYTES + 40 and len(json.dumps(saved[0].msg)) < MSG_BYTES


def test_a_client_claiming_the_relays_pid_is_not_believed() -> None:
    bus = trace.TraceBus()
    owners: dict[str, tuple[str, str]] = {}
    honest = Pair(bus, "tap:t", "127.0.0.1:1", "ws://t/gun", "ws://r/gun", owners)
    liar = Pair(bus, "tap:t", "127.0.0.1:2", "ws://t/gun", "ws://r/gun", owners)
    for p in (honest, liar):
        p.opened()
        feed(p, RELAY, '{"#":"h1","dam":"?","pid":"R"}')
    feed(honest, CLIENT, '{"#":"c1","dam":"?","pid":"C","@":"h1"}')
    feed(liar, CLIENT, '{"#":"c2","dam":"?","pid":"R","@":"h1"}')
    feed(liar, CLIENT, '{"#":"c3","dam":"?","pid":"C"}')  # first one wins: still not "C"
    assert (honest.names[CLIENT], liar.names[CLIENT]) == ("C", "127.0.0.1:2")
    assert liar.names[RELAY] == "R"  # the same relay behind both pairs
    said = {e.msg["#"]: e.node for e in bus.events(trace.Said)}
    assert said["c2"] == "127.0.0.1:2" and said["c3"] == "127.0.0.1:2"
    assert any(
        "claims pid 'R', which is the relay ws://r/gun's" in e.error
        for e in bus.events(trace.Error)
    )
    honest.closed()
    assert "C" not in owners and "R" in owners


def test_the_pids_a_tap_remembers_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target that says a new pid on every connection: past ``MAX_OWNERS`` the tap
    believes no new one (an ``Error`` says so) and remembers no more."""
    monkeypatch.setattr(observe, "MAX_OWNERS", 3)
    bus = trace.TraceBus()
    owners: dict[str, tuple[str, str]] = {}
    names = []
    for i in range(5):
        p = Pair(bus, "tap:t", f"127.0.0.1:{i}", "ws://t/gun", "ws://r/gun", owners)
        p.opened()
        feed(p, RELAY, f'{{"#":"h{i}","dam":"?","pid":"R{i}"}}')
        names.append(p.names[RELAY])
    assert names == ["R0", "R1", "R2", "ws://r/gun", "ws://r/gun"]
    assert len(owners) == 3
    assert sum("the tap knows 3 pids" in e.error for e in bus.events(trace.Error)) == 2
