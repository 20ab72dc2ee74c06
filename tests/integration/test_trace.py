"""The trace bus's waits (wait_for / until, across threads) and its trace files (save / load)."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gunrtc_kit import trace
from gunrtc_kit.errors import InvalidDataError, TimeoutError

# ------------------------------------------------------------------------------ helpers


class LoopThread:
    """An asyncio loop in another thread: the place events come from in the Lab."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def emit_when_subscribed(self, bus: trace.TraceBus, events: list[trace.Event]) -> None:
        """Emit ``events`` on the loop thread once a waiter has subscribed (no sleeps)."""
        base = len(bus._subs)

        def go() -> None:
            if len(bus._subs) <= base:
                self.loop.call_soon(go)  # poll on the loop, each turn, until the waiter is in
                return
            assert threading.current_thread() is self.thread
            for e in events:
                bus.emit(e)

        self.loop.call_soon_threadsafe(go)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def other_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


def said(node: str, mid: str, t: float = 1.0) -> trace.Said:
    return trace.Said(t, node, "p1", msg={"#": mid, "put": {}}, transport="memory", size=10)


def is_mid(mid: str) -> Callable[[trace.Event], bool]:
    return lambda e: isinstance(e, trace.Said) and e.msg.get("#") == mid


# ------------------------------------------------------------------------------ wait_for


def test_wait_for_returns_the_first_match_emitted_by_another_thread(
    other_thread: LoopThread,
) -> None:
    bus = trace.TraceBus()
    first, second = said("a", "m2"), said("b", "m2", 2.0)
    other_thread.emit_when_subscribed(bus, [said("a", "m1"), first, second])
    got = bus.wait_for(is_mid("m2"), 5)
    assert got is first
    assert bus._subs == []  # unsubscribed once done


def test_wait_for_times_out_with_our_error_naming_the_timeout() -> None:
    bus = trace.TraceBus()
    bus.emit(said("a", "old"))
    with pytest.raises(TimeoutError, match=r"timeout=0\.05 s"):
        bus.wait_for(is_mid("old"), 0.05)  # past=False: history is not looked at
    assert bus._subs == []


def test_wait_for_past_finds_an_event_already_in_history() -> None:
    bus = trace.TraceBus()
    old = said("a", "old")
    bus.emit(old)
    bus.emit(said("a", "old", 2.0))
    assert bus.wait_for(is_mid("old"), 0, past=True) is old  # the oldest match
    assert bus._subs == []


def test_wait_for_raises_the_predicates_error_and_emit_carries_on(
    other_thread: LoopThread,
) -> None:
    bus = trace.TraceBus()
    seen: list[trace.Event] = []
    bus.subscribe(seen.append)

    def boom(e: trace.Event) -> bool:
        raise KeyError("bad predicate")

    events: list[trace.Event] = [said("a", "m1"), said("a", "m2")]
    other_thread.emit_when_subscribed(bus, events)
    with pytest.raises(KeyError, match="bad predicate"):
        bus.wait_for(boom, 5)
    # the emitting side was not broken: both events reached the other subscriber, and the
    # predicate's error did not become a "subscriber failed" Error event
    done = threading.Event()
    other_thread.loop.call_soon_threadsafe(done.set)  # runs after the emits on that loop
    assert done.wait(5)
    assert seen == events
    assert bus.events(trace.Error) == []
    assert len(bus._subs) == 1  # only ``seen``


def test_wait_for_refuses_a_negative_timeout() -> None:
    with pytest.raises(ValueError, match="timeout"):
        trace.TraceBus().wait_for(lambda e: True, -1)


# ------------------------------------------------------------------------------ until


async def test_until_resolves_from_an_emit_in_another_thread(other_thread: LoopThread) -> None:
    bus = trace.TraceBus()
    target = said("b", "m9")
    other_thread.emit_when_subscribed(bus, [said("a", "m1"), target])
    got = await bus.until(is_mid("m9"), 5)
    assert got is target
    assert bus._subs == []


async def test_until_resolves_from_an_emit_on_the_same_loop() -> None:
    bus = trace.TraceBus()
    target = said("b", "m3")
    asyncio.get_running_loop().call_soon(bus.emit, target)
    assert await bus.until(is_mid("m3"), 5) is target


async def test_until_times_out_and_unsubscribes() -> None:
    bus = trace.TraceBus()
    with pytest.raises(TimeoutError, match=r"timeout=0\.05 s"):
        await bus.until(is_mid("never"), 0.05)
    assert bus._subs == []


async def test_until_past_checks_history_even_with_timeout_zero() -> None:
    bus = trace.TraceBus()
    old = said("a", "old")
    bus.emit(old)
    assert await bus.until(is_mid("old"), 0, past=True) is old
    with pytest.raises(TimeoutError):
        await bus.until(is_mid("old"), 0.01)
    assert bus._subs == []


async def test_until_raises_the_predicates_error(other_thread: LoopThread) -> None:
    bus = trace.TraceBus()

    def boom(e: trace.Event) -> bool:
        raise RuntimeError("predicate bug")

    other_thread.emit_when_subscribed(bus, [said("a", "m1")])
    with pytest.raises(RuntimeError, match="predicate bug"):
        await bus.until(boom, 5)
    assert bus._subs == []


async def test_until_cancelled_unsubscribes() -> None:
    bus = trace.TraceBus()
    task = asyncio.ensure_future(bus.until(is_mid("never"), 30))
    await asyncio.sleep(0)  # let it subscribe
    assert len(bus._subs) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bus._subs == []


# ------------------------------------------------------------------------------ JSONL


def test_new_fields_round_trip_through_jsonl() -> None:
    events: list[trace.Event] = [
        trace.Link(
            1.5,
            "alice",
            "x7",
            pid="bob",
            transport="memory",
            props={"latency": 0.05, "jitter": 0.0, "loss": 1.0, "partitioned": True},
        ),
        trace.Put(
            2.0,
            "alice",
            msg_id="m1",
            changes={"doc": ["title"]},
            values={"doc": {"title": "hi", "ref": {"#": "other"}}},
            states={"doc": {"title": 1_700_000_000_000.5}},
        ),
        trace.RtcState(3.0, "alice", "bob", state="selected", layer="pair", detail="a <-> b"),
        trace.RtcState(3.5, "alice", "bob", state="connected"),
    ]
    back = list(trace.from_jsonl(trace.to_jsonl(events)))
    assert back == events
    assert back[3].layer == "pc" and back[3].detail == ""  # type: ignore[attr-defined]
    assert trace.Link.kind == "link"


def test_from_jsonl_skips_a_meta_line() -> None:
    text = '{"kind": "meta", "format": "gunrtc-trace", "version": 1}\n' + trace.to_jsonl(
        [said("a", "m1")]
    )
    assert [e.kind for e in trace.from_jsonl(text)] == ["said"]


# ------------------------------------------------------------------------------ trace files


def sample(n: int = 3) -> list[trace.Event]:
    return [said("alice", f"m{i}", float(i)) for i in range(n)]


def test_save_load_round_trip_with_meta(tmp_path: Path) -> None:
    events = sample() + [trace.Link(9.0, "alice", "x", pid="bob", props={"loss": 0.5})]
    meta = {"names": {"alice": "Alice", "bob": "Bob"}}
    written = trace.save(tmp_path / "run.jsonl", events, meta=meta)
    assert written == tmp_path / "run.jsonl"
    first = json.loads(written.read_text().splitlines()[0])
    head = {"kind": "meta", "format": "gunrtc-trace", "version": trace.TRACE_VERSION}
    assert first == {**head, **meta}
    loaded = trace.load(written)
    assert loaded.meta == meta
    assert loaded.version == trace.TRACE_VERSION
    assert loaded.events == events
    assert list(tmp_path.iterdir()) == [written]  # no temporary file left behind


def test_save_gzips_by_suffix(tmp_path: Path) -> None:
    written = trace.save(tmp_path / "run.jsonl.gz", sample(), meta={"x": 1})
    assert written == tmp_path / "run.jsonl.gz"
    raw = written.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw).decode().startswith('{"kind": "meta"')
    loaded = trace.load(written)
    assert loaded.meta == {"x": 1} and loaded.events == sample()


def test_save_gzips_over_one_mib_and_appends_gz(tmp_path: Path) -> None:
    big = [
        trace.Said(float(i), "alice", "p", msg={"#": f"m{i}", "put": {"x": "y" * 1000}})
        for i in range(1100)
    ]
    written = trace.save(tmp_path / "big.jsonl", big)
    assert written == tmp_path / "big.jsonl.gz"
    assert not (tmp_path / "big.jsonl").exists()
    assert written.read_bytes()[:2] == b"\x1f\x8b"
    assert trace.load(written).events == big
    # compress=False never compresses; a small trace is not compressed when not told
    plain = trace.save(tmp_path / "plain.jsonl", big, compress=False)
    assert plain == tmp_path / "plain.jsonl" and plain.stat().st_size > 1 << 20
    assert plain.read_bytes()[:1] == b"{"
    small = trace.save(tmp_path / "small.jsonl", sample())
    assert small.read_bytes()[:1] == b"{"
    forced = trace.save(tmp_path / "forced.jsonl", sample(), compress=True)
    assert forced.name == "forced.jsonl.gz" and forced.read_bytes()[:2] == b"\x1f\x8b"
    with pytest.raises(ValueError, match="gz"):
        trace.save(tmp_path / "x.jsonl.gz", sample(), compress=False)


def test_save_refuses_reserved_meta_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        trace.save(tmp_path / "t.jsonl", sample(), meta={"version": 7})


def test_load_reads_an_old_trace_without_meta(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(trace.to_jsonl(sample()))
    loaded = trace.load(path)
    assert loaded.meta == {} and loaded.version == 0
    assert loaded.events == sample()


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "JSON object"),
        ('{"kind": "nope", "t": 1, "node": "a"}', "unknown trace event kind"),
        ('{"kind": "said", "node": "a"}', "required positional argument"),
        ('{"kind": "meta", "format": "gunrtc-trace", "version": 1}', "first line"),
    ],
)
def test_load_names_the_bad_line(tmp_path: Path, bad: str, why: str) -> None:
    lines = trace.to_jsonl(sample(2)).splitlines()
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*lines, bad, *lines]) + "\n")
    with pytest.raises(InvalidDataError, match=rf"line 3\b.*{why}"):
        trace.load(path)


def test_load_bad_line_in_gzip_counts_the_meta_line(tmp_path: Path) -> None:
    path = trace.save(tmp_path / "t.jsonl.gz", sample(2))
    text = gzip.decompress(path.read_bytes()).decode() + "garbage\n"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(InvalidDataError, match=r"line 4\b"):
        trace.load(path)


def test_load_refuses_a_newer_format_and_a_foreign_one(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    newer = trace.TRACE_VERSION + 1
    path.write_text(f'{{"kind": "meta", "format": "gunrtc-trace", "version": {newer}}}\n')
    with pytest.raises(InvalidDataError, match=f"version {newer} is newer"):
        trace.load(path)
    path.write_text('{"kind": "meta", "format": "other", "version": 1}\n')
    with pytest.raises(InvalidDataError, match="format 'other'"):
        trace.load(path)


def test_load_refuses_an_overlong_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "MAX_LINE", 200)
    path = tmp_path / "long.jsonl"
    long_event = trace.Said(1.0, "a", "p", msg={"#": "m", "x": "y" * 500})
    path.write_text(trace.to_jsonl([*sample(1), long_event]))
    with pytest.raises(InvalidDataError, match=r"line 2\b.*longer than 200 bytes"):
        trace.load(path)


def test_load_corrupt_gzip_is_invalid_data(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(InvalidDataError, match="gzip"):
        trace.load(path)


def test_history_keeps_big_messages_as_summaries_and_stays_small() -> None:
    import tracemalloc

    bus = trace.TraceBus(keep=10_000)
    seen: list[trace.Event] = []
    bus.subscribe(seen.append)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(100):
        big = {"#": f"m{i}", "put": {f"s{i}": {"_": {"#": f"s{i}"}, "k": "x" * 1_000_000}}}
        bus.emit(trace.Heard(float(i), "relay", "p1", msg=big, size=0))
        del big
    seen.clear()  # the live subscriber got the whole messages; now only the history holds them
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 5_000_000, f"history pinned {grown} bytes for 100 x 1 MB messages"
    kept = bus.events(trace.Heard)
    assert len(kept) == 100
    last = kept[-1].msg
    assert last["#"] == "m99" and "s99" in last["put"] and last["~"] > 1_000_000
    assert len(last["put"]["s99"]["k"]) <= 65  # cut short, marked with an ellipsis


def test_history_keeps_small_messages_whole_and_is_bounded_in_count() -> None:
    bus = trace.TraceBus(keep=3)
    for i in range(5):
        bus.emit(trace.Heard(float(i), "a", "b", msg={"#": f"m{i}", "put": {"s": {"k": i}}}))
    assert [e.msg["#"] for e in bus.events(trace.Heard)] == ["m2", "m3", "m4"]
    assert bus.events(trace.Heard)[-1].msg == {"#": "m4", "put": {"s": {"k": 4}}}


def test_a_subscriber_for_some_kinds_gets_only_those_and_hot_paths_skip_the_rest() -> None:
    bus = trace.TraceBus(keep=0)
    assert not bus.wants(trace.Heard) and not bus.wanted
    got: list[trace.Event] = []
    stop = bus.subscribe(got.append, (trace.Hi,))
    assert bus.wants(trace.Hi) and not bus.wants(trace.Heard) and not bus.wanted
    bus.emit(trace.Hi(1.0, "a", "b", pid="p", transport="ws"))
    bus.emit(trace.Heard(1.0, "a", "b", msg={"#": "x"}, transport="ws", size=9))
    assert [type(e) for e in got] == [trace.Hi]
    everything = bus.subscribe(lambda e: None)
    assert bus.wants(trace.Heard) and bus.wanted
    everything()
    stop()
    assert not bus.wants(trace.Hi)
    stop()  # a second unsubscribe is harmless


def test_a_mesh_builds_no_heard_or_said_events_for_a_subscriber_of_other_kinds() -> None:
    from gunrtc_kit import Gun
    from gunrtc_kit.transport.memory import connect_memory

    async def run() -> tuple[list[type[trace.Event]], int]:
        a, b = Gun(), Gun()
        a.bus.keep = b.bus.keep = 0
        seen: list[type[trace.Event]] = []
        a.bus.subscribe(lambda e: seen.append(type(e)), (trace.Hi,))
        await a.start()
        await b.start()
        built = 0
        real = a.bus.emit

        def count(e: trace.Event) -> None:
            nonlocal built
            built += 1
            real(e)

        a.bus.emit = count  # type: ignore[method-assign]
        hi = asyncio.ensure_future(a.bus.until(lambda e: isinstance(e, trace.Hi), 5))
        connect_memory(a.mesh, b.mesh)
        await hi
        for i in range(20):
            a.get("s").get(f"k{i}").put(i)
        await b.get("s").get("k19").once(timeout=5)  # all 20 were said and heard
        await a.close()
        await b.close()
        return seen, built

    seen, built = asyncio.run(run())
    assert trace.Hi in seen and trace.Heard not in seen and trace.Said not in seen
    assert built < 20  # 20 puts said and merged would be 40+ events if they were built


def test_a_dropped_needs_a_typed_cause_and_an_old_trace_reads_as_unknown(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="typed cause"):
        trace.Dropped(0.0, "a", "b", msg_id="m", reason="duplicate")
    with pytest.raises(TypeError, match="typed cause"):
        trace.Dropped(0.0, "a", "b", reason="x", cause="duplicate")  # type: ignore[arg-type]
    kept = trace.Dropped(0.0, "a", "b", msg_id="m", cause=trace.DropCause.LOSS)
    back = list(trace.from_jsonl(trace.to_jsonl([kept])))
    assert back == [kept] and back[0].cause is trace.DropCause.LOSS
    old = (
        '{"kind": "meta", "format": "gunrtc-trace", "version": 1}\n'
        '{"kind": "dropped", "t": 1.0, "node": "a", "peer": "b", "msg_id": "m",'
        ' "reason": "memory wire loss"}\n'
    )
    path = tmp_path / "old.jsonl"
    path.write_text(old)
    (e,) = trace.load(path).events
    assert isinstance(e, trace.Dropped) and e.cause is trace.DropCause.UNKNOWN
    bad = path.with_name("bad.jsonl")
    bad.write_text(old.replace('"reason"', '"cause": "no such cause", "reason"'))
    with pytest.raises(InvalidDataError, match="line 2"):
        trace.load(bad)
