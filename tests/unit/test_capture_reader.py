"""``gunrtc_kit.capture``: a frame capture read as trace events; what is malformed is counted,
never fatal; reading is bounded; a capture is told from a trace by its first line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import capture, trace

HEAD = {"format": "gun-frame-capture", "version": 1, "t": 1_000_000_000_000, "relay": "R"}


def rec(t: float, direction: str, conn: str = "1", frame: Any = None, **more: Any) -> str:
    data: dict[str, Any] = {"t": t, "dir": direction, "conn": conn, "addr": "127.0.0.1:5", **more}
    if frame is not None:
        data["frame"] = frame if isinstance(frame, str) else json.dumps(frame)
    return json.dumps(data)


def text(*lines: str, head: bool = True) -> str:
    return "\n".join(([json.dumps(HEAD)] if head else []) + list(lines)) + "\n"


def kinds(events: list[trace.Event]) -> list[str]:
    return [e.kind for e in events]


def test_a_batch_is_split_and_marked_batched() -> None:
    frame = [{"#": "a", "get": {"#": "s"}}, {"#": "b", "get": {"#": "t"}}]
    events, meta = capture.read_capture(text(rec(1e12, "out", frame=frame)))
    said = [e for e in events if isinstance(e, trace.Said)]
    assert [e.msg["#"] for e in said] == ["a", "b"] and all(e.batched for e in said)
    assert all(e.node == "R" and e.peer == "1" for e in events)
    assert all(e.transport == "ws" for e in said)
    assert meta["capture"]["messages"] == 2 and meta["capture"]["frames"] == 1


def test_times_in_ms_or_seconds_become_seconds() -> None:
    events, _ = capture.read_capture(
        text(rec(1_700_000_000_000, "open"), rec(1_700_000_001.5, "close"))
    )
    assert [e.t for e in events] == [1_700_000_000.0, 1_700_000_001.5]
    assert kinds(events) == ["hi", "bye"]


def test_a_connection_without_an_open_line_opens_at_its_first_frame() -> None:
    events, _ = capture.read_capture(text(rec(1, "in", "7", {"#": "h", "dam": "?", "pid": "C"})))
    assert kinds(events) == ["hi", "heard", "hi"]
    assert events[0] == trace.Hi(1.0, "R", "7", transport="ws")
    assert events[2] == trace.Hi(1.0, "R", "7", pid="C", transport="ws")


def test_the_relay_pid_comes_from_its_hello_without_a_head_line() -> None:
    lines = [
        rec(1, "in", frame={"#": "x", "get": {"#": "s"}}),
        rec(2, "out", frame={"#": "h", "dam": "?", "pid": "P"}),
    ]
    events, meta = capture.read_capture(text(*lines, head=False))
    assert {e.node for e in events} == {"P"} and meta["names"] == {"P": "relay"}
    events, meta = capture.read_capture(text(lines[0], head=False))
    assert {e.node for e in events} == {"relay"} and meta["capture"]["relay"] == "relay"


def test_a_put_heard_is_a_put_of_what_it_carried_and_a_repeat_is_a_duplicate() -> None:
    put = {
        "#": "p",
        "put": {"s": {"_": {"#": "s", ">": {"k": 5, "j": 6}}, "k": "v", "j": {"#": "o"}}},
    }
    events, _ = capture.read_capture(text(rec(1, "in", frame=put), rec(2, "in", "2", frame=put)))
    assert kinds(events) == ["hi", "heard", "put", "hi", "dropped"]
    p = events[2]
    assert isinstance(p, trace.Put) and p.msg_id == "p" and p.node == "R"
    assert p.values == {"s": {"k": "v", "j": {"#": "o"}}} and p.states == {
        "s": {"k": 5.0, "j": 6.0}
    }
    assert p.changes == {"s": ["k", "j"]}
    dup = events[4]
    assert isinstance(dup, trace.Dropped) and dup.cause is trace.DropCause.DUPLICATE
    assert dup.peer == "2" and dup.msg_id == "p"


def test_a_reply_to_the_relays_own_message_is_an_ack() -> None:
    lines = [
        rec(1, "out", frame={"#": "g", "get": {"#": "s"}}),  # the relay's own request
        rec(2, "in", frame={"#": "r", "@": "g", "ok": 1}),
        rec(3, "in", frame={"#": "r2", "@": "elsewhere", "ok": 1}),  # not the relay's
    ]
    events, _ = capture.read_capture(text(*lines))
    (ack,) = [e for e in events if isinstance(e, trace.Ack)]
    assert ack == trace.Ack(2.0, "R", "1", msg_id="r", reply_to="g", ok=1, err="")


def test_malformed_lines_and_frames_are_counted_not_fatal() -> None:
    lines = [
        "not json",
        "[1, 2]",
        json.dumps({"t": "soon", "dir": "in", "conn": "1", "frame": "{}"}),
        json.dumps({"t": 1, "dir": "sideways", "conn": "1"}),
        json.dumps({"t": 1, "dir": "in", "conn": "1"}),  # no frame
        rec(1, "in", frame="{oops"),
        rec(2, "in", frame='[1, {"#": "ok", "get": {"#": "s"}}]'),
        rec(3, "out", frame="[]"),
        json.dumps(HEAD),  # a head line after the first
    ]
    events, meta = capture.read_capture(text(*lines))
    info = meta["capture"]
    assert info["bad_lines"] == 6 and info["bad_frames"] == 2 and info["heartbeats"] == 1
    assert len(info["problems"]) == 8 and info["problems"][0].startswith("line 2: not JSON")
    errors_ = [e for e in events if isinstance(e, trace.Error)]
    assert len(errors_) == 2 and "DAM JSON parse error" in errors_[0].error
    assert [e.msg["#"] for e in events if isinstance(e, trace.Heard)] == ["ok"]


def test_a_long_line_is_skipped_and_reading_goes_on() -> None:
    long = rec(1, "in", frame={"#": "big", "put": {"s": {"k": "x" * 5000}}})
    events, meta = capture.read_capture(
        text(long, rec(2, "in", frame={"#": "small", "get": {"#": "s"}})), max_line=1000
    )
    assert [e.msg["#"] for e in events if isinstance(e, trace.Heard)] == ["small"]
    assert (
        meta["capture"]["bad_lines"] == 1 and "longer than 1000" in meta["capture"]["problems"][0]
    )


def test_reading_stops_at_max_bytes_and_says_so() -> None:
    lines = [rec(i, "in", frame={"#": f"m{i}", "get": {"#": "s"}}) for i in range(1, 100)]
    events, meta = capture.read_capture(text(*lines), max_bytes=2000)
    heard = [e for e in events if isinstance(e, trace.Heard)]
    assert 0 < len(heard) < 30
    assert "over 2000 bytes" in meta["capture"]["truncated"]


def test_a_limit_line_marks_the_capture_truncated() -> None:
    _, meta = capture.read_capture(
        text(rec(1, "open"), json.dumps({"t": 2, "dir": "limit", "bytes": 9}))
    )
    assert "size limit" in meta["capture"]["truncated"]


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        capture.read_capture(text(), max_bytes=0)


def test_gzip_files_and_detection(tmp_path: Path) -> None:
    body = text(rec(1, "in", frame={"#": "h", "dam": "?", "pid": "C"}))
    plain, packed = tmp_path / "c.jsonl", tmp_path / "c.jsonl.gz"
    plain.write_text(body)
    packed.write_bytes(gzip.compress(body.encode()))
    assert capture.read_capture(plain) == capture.read_capture(packed) == capture.read_capture(body)
    saved = trace.save(tmp_path / "t.jsonl", [trace.Bye(1, "a")], meta={"names": {"a": "x"}})
    assert (
        capture.is_capture(plain) and capture.is_capture(packed) and not capture.is_capture(saved)
    )
    bare = tmp_path / "bare.jsonl"
    bare.write_text("\n" + rec(1, "open") + "\n")
    assert capture.is_capture(bare)
    assert capture.load_any(saved).events == [trace.Bye(1, "a")]
    loaded = capture.load_any(packed)
    assert loaded.meta["roles"] == {"R": "relay", "C": "external"}
    assert kinds(loaded.events) == ["hi", "heard", "hi"]


def test_a_capture_saves_as_a_trace(tmp_path: Path) -> None:
    events, meta = capture.read_capture(
        text(rec(1, "in", frame={"#": "h", "dam": "?", "pid": "C"}))
    )
    path = trace.save(tmp_path / "from-capture.jsonl", events, meta=meta)
    loaded = trace.load(path)
    assert loaded.events == events and loaded.meta == meta


def test_a_corrupt_gzip_tail_ends_reading_with_a_note(tmp_path: Path) -> None:
    body = text(*[rec(i, "in", frame={"#": f"m{i}", "get": {"#": "s"}}) for i in range(1, 200)])
    packed = gzip.compress(body.encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    events, meta = capture.read_capture(path)
    assert "gzip" in meta["capture"]["truncated"] or "stopped" in meta["capture"]["truncated"]
    assert all(isinstance(e, trace.Hi | trace.Heard) for e in events)


def test_a_connection_id_reused_after_close_is_a_new_wire() -> None:
    hi = {"#": "h1", "dam": "?", "pid": "C"}
    lines = [rec(1, "open"), rec(2, "in", frame=hi), rec(3, "close"), rec(4, "open")]
    lines.append(rec(5, "in", frame={**hi, "#": "h2", "pid": "D"}))
    events, meta = capture.read_capture(text(*lines))
    assert [(e.kind, getattr(e, "pid", None)) for e in events if e.kind in ("hi", "bye")] == [
        ("hi", ""),
        ("hi", "C"),
        ("bye", None),
        ("hi", ""),
        ("hi", "D"),
    ]
    assert meta["capture"]["conns"]["1"]["pid"] == "D"
    assert meta["roles"] == {"R": "relay", "C": "external", "D": "external"}
