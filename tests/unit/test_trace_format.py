"""The trace format as docs/trace.md describes it: every event type round-trips through
``to_jsonl``/``from_jsonl``, unknown kinds and fields are handled as documented, and the page's
examples (read out of the markdown, so the page cannot drift) parse and say what it says."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import capture, errors, trace
from gunrtc_kit.diagnose.explain import explain
from gunrtc_kit.diagnose.fate import FateModel
from gunrtc_kit.diagnose.peers import Directory

DOC = Path(__file__).resolve().parents[2] / "docs" / "trace.md"

CAND: trace.CandidateInfo = {
    "address": "10.0.0.2",
    "resolved": "10.0.0.2",
    "port": 5000,
    "type": "host",
    "protocol": "udp",
    "family": "ipv4",
}
PAIR: trace.PairInfo = {
    "local": "10.0.0.1:4000",
    "remote": "10.0.0.2:5000",
    "state": "succeeded",
    "nominated": True,
}

# one event of every type, every field away from its default (so a field that did not
# survive the round trip would show)
SAMPLES: dict[str, trace.Event] = {
    e.kind: e
    for e in (
        trace.Heard(
            1.5, "a", "w1", msg={"#": "m1", "put": {"s": {"k": 1}}}, transport="ws", size=30
        ),
        trace.Said(
            1.6, "a", "w2", msg={"#": "m1"}, transport="dc", size=12, batched=True, queued=True
        ),
        trace.Dropped(
            1.7,
            "b",
            "w3",
            msg_id="m1",
            reason="seen",
            cause=trace.DropCause.DUPLICATE,
            transport="memory",
        ),
        trace.Hi(1.8, "a", "w1", pid="b", transport="ws"),
        trace.Bye(1.9, "a", "w1", transport="ws"),
        trace.Error(2.0, "a", "w1", error="bad frame", msg_id="m2"),
        trace.Put(
            2.1,
            "a",
            "w1",
            msg_id="m1",
            changes={"s": ["k"]},
            deferred=1,
            values={"s": {"k": "v"}},
            states={"s": {"k": 1700000000000.0}},
            held=True,
        ),
        trace.Ack(2.2, "a", "w1", msg_id="m3", reply_to="m1", ok={"": 1}, err="no"),
        trace.RtcSignal(2.3, "a", "b", step="offer", direction="out", data={"sdp": "v=0"}),
        trace.RtcState(2.4, "a", "b", state="connected", layer="ice", detail="x"),
        trace.Link(2.5, "a", "mem:b", pid="b", transport="memory", props={"loss": 0.5}, wire="t1"),
        trace.LinkStats(
            2.6,
            "a",
            "b",
            link="L1",
            phase="open",
            opened=True,
            final=True,
            why="closed",
            age=3.5,
            pc="connected",
            ice="completed",
            gathering="complete",
            dtls="connected",
            sctp="connected",
            channels={"gun": {"state": "open", "buffered": 7}},
            local_candidates=[CAND],
            remote_candidates=[CAND],
            pairs=[PAIR],
            selected=PAIR,
            more={"pairs": 2},
            rtt=0.01,
            messages_sent=3,
            messages_received=4,
            bytes_sent=50,
            bytes_received=60,
            buffered=8,
            ended_by="local",
            at_close={"pc": "closed"},
            stalled=True,
            probe={"10.0.0.2:5000": "ok"},
            unread=["x"],
        ),
    )
}


def _sample(kind: str, cls: type[trace.Event]) -> trace.Event:
    """The sample of ``kind``, or (an event type added after these samples) one built from its
    defaults, so that it is still round-tripped."""
    return SAMPLES.get(kind) or cls(3.0, "a", "p")


def _doc_block(name: str) -> str:
    """The ``jsonl`` block after ``<!-- example: NAME -->`` in docs/trace.md."""
    found = re.search(rf"<!-- example: {name} -->\n```jsonl\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/trace.md lost its {name!r} example"
    return found.group(1)


@pytest.mark.parametrize("kind", sorted(trace.EVENT_TYPES))
def test_every_event_type_round_trips(kind: str) -> None:
    event = _sample(kind, trace.EVENT_TYPES[kind])
    text = trace.to_jsonl([event])
    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text)["kind"] == kind
    assert list(trace.from_jsonl(text)) == [event]


def test_the_samples_set_every_field_away_from_its_default() -> None:
    for kind, event in SAMPLES.items():
        for f in dataclasses.fields(event):
            if f.name in ("t", "node", "peer"):
                continue
            default = (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            )
            assert getattr(event, f.name) != default, f"{kind}.{f.name} is left at its default"


def test_a_stream_of_every_type_round_trips_and_saves(tmp_path: Path) -> None:
    events = [_sample(k, c) for k, c in trace.EVENT_TYPES.items()]
    assert list(trace.from_jsonl(trace.to_jsonl(events))) == events
    path = trace.save(tmp_path / "t.jsonl", events, meta={"names": {"a": "alice"}})
    loaded = trace.load(path)
    assert loaded.events == events and loaded.meta == {"names": {"a": "alice"}}
    assert loaded.version == trace.TRACE_VERSION


def test_an_unknown_kind_is_skipped_and_counted() -> None:
    known = trace.Hi(1.0, "a", "w", pid="b", transport="ws")
    text = (
        '{"kind": "meta", "format": "gunrtc-trace", "version": 2}\n'
        '{"t": 0.5, "node": "a", "kind": "teleport", "where": "mars"}\n'
        + trace.to_jsonl([known])
        + '{"t": 2, "node": "a", "kind": "teleport"}\n{"t": 3, "node": "a", "kind": "warp"}\n'
    )
    skipped: dict[str, int] = {}
    assert list(trace.from_jsonl(text, skipped)) == [known]
    assert skipped == {"teleport": 2, "warp": 1}
    assert list(trace.from_jsonl(text)) == [known]  # no counter: skipped all the same


def test_unknown_fields_are_ignored_and_missing_ones_default() -> None:
    line = {"t": 1, "node": "a", "peer": "w", "kind": "bye", "transport": "ws", "colour": "red"}
    (event,) = trace.from_jsonl(json.dumps(line))
    assert event == trace.Bye(1, "a", "w", transport="ws")
    (dropped,) = trace.from_jsonl('{"t": 1, "node": "a", "kind": "dropped", "msg_id": "m"}')
    assert isinstance(dropped, trace.Dropped) and dropped.cause is trace.DropCause.UNKNOWN


@pytest.mark.parametrize(
    "line",
    [
        '{"t": 1, "node": "a"}',  # no kind
        '{"t": 1, "node": "a", "kind": 7}',  # a kind that is not a name
        '{"node": "a", "kind": "bye"}',  # no t
        "[1, 2]",
        "not json",
    ],
)
def test_a_malformed_line_still_raises_naming_it(line: str) -> None:
    with pytest.raises(ValueError, match="trace line 2"):
        list(trace.from_jsonl(trace.to_jsonl([trace.Bye(0, "a")]) + line))


def test_load_stays_strict_about_an_unknown_kind(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    path.write_text(
        '{"kind": "meta", "format": "gunrtc-trace", "version": 2}\n'
        '{"t": 1, "node": "a", "kind": "warp"}\n'
    )
    with pytest.raises(errors.InvalidDataError, match="line 2.*unknown trace event kind 'warp'"):
        trace.load(path)


def test_the_doc_names_every_kind_and_field() -> None:
    doc = DOC.read_text()
    for kind, cls in trace.EVENT_TYPES.items():
        assert f"`{kind}`" in doc, f"docs/trace.md does not describe {kind!r}"
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in doc, f"docs/trace.md does not name {kind}.{f.name}"
    for cause in trace.DropCause:
        assert f"`{cause.value}`" in doc


def _doc_trace() -> tuple[list[trace.Event], dict[str, Any]]:
    text = _doc_block("trace")
    head = json.loads(text.splitlines()[0])
    assert head["format"] == trace.TRACE_FORMAT and head["version"] == trace.TRACE_VERSION
    return list(trace.from_jsonl(text)), {
        k: v for k, v in head.items() if k not in ("kind", "format", "version")
    }


def test_the_worked_example_parses_and_loads(tmp_path: Path) -> None:
    events, meta = _doc_trace()
    kinds = [e.kind for e in events]
    assert kinds.count("hi") == 8 and kinds.count("put") == 3 and kinds[-1] == "ack"
    path = tmp_path / "example.jsonl"
    path.write_text(_doc_block("trace"))
    loaded = trace.load(path)
    assert loaded.events == events and loaded.meta == meta and loaded.version == 2


def test_the_worked_example_reads_as_the_doc_says() -> None:
    events, meta = _doc_trace()
    fm = FateModel(Directory.from_meta(meta))
    for e in events:
        fm.feed(e)
    fm.settle()
    fate = str(fm.fate("EwZtLOfIB"))
    assert fate.startswith(
        "put #EwZtLOfIB from alice (chat); heard by 2 peer(s); relayed by relay; answered by relay"
    )
    assert fm.directory.claims() == []  # every hi's pid is believed
    why = explain(events, "bob1", "chat", "msg1", None, Directory.from_meta(meta))
    (row,) = why.rows
    assert row.value == "hi" and row.sender_name == "relay" and row.author_name == "alice"


def test_the_capture_example_reads_as_the_doc_says() -> None:
    events, meta = capture.read_capture(_doc_block("capture"))
    relay = "uZvem9qlc"
    assert meta["names"] == {relay: "relay"} and meta["roles"][relay] == "relay"
    assert meta["capture"]["bad_lines"] == 0 and meta["capture"]["bad_frames"] == 0
    assert {e.node for e in events} == {relay}
    heard = [e for e in events if isinstance(e, trace.Heard) and e.msg.get("#") == "pa1"]
    assert [e.peer for e in heard] == ["1"]
    d = Directory.from_meta(meta)
    for e in events:
        d.apply(e)
    assert d.resolve(relay, "1") == "clientA" and d.resolve(relay, "2") == "clientB"
    (put,) = [e for e in events if isinstance(e, trace.Said) and "put" in e.msg]
    assert put.peer == "2" and put.msg["put"]["s1"]["k"] == "v"
    (ack,) = [e for e in events if isinstance(e, trace.Said) and e.msg.get("@") == "pa1"]
    assert ack.peer == "1" and ack.msg["ok"] is True
    fm = FateModel(Directory.from_meta(meta))
    for e in events:
        fm.feed(e)
    fm.settle()
    assert str(fm.fate("pa1")).startswith("put #pa1 from clientA (s1)")
