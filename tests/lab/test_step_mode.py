"""Step mode through the Lab: ``hold``, ``pending``, ``deliver``, ``drop``, ``duplicate``,
``step``, ``release``, per-link holds, what cannot be held, and the seeded Lab that gives
the same trace every run.

Ground truth here is the receivers' graphs and the trace's own ``heard``/``dropped``: a held
frame must not arrive however long we wait, and must arrive when (and only when) delivered.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab import Lab
from gunrtc_kit.transport.hold import Hold


@pytest.fixture
def mlab() -> Iterator[Lab]:
    """A Lab whose relay is a memory peer: every wire can be held."""
    lab = Lab(relay="memory")
    yield lab
    lab.close()


def _heard(lab: Lab, node: str, mid: str) -> int:
    pid = lab.peers[node].pid
    return sum(
        1
        for e in lab.bus.history
        if isinstance(e, trace.Heard) and e.node == pid and e.msg.get("#") == mid
    )


def test_a_held_frame_never_arrives_until_delivered(mlab: Lab) -> None:
    a, b = mlab.peer("a", rtc=False), mlab.peer("b", rtc=False)
    b.get_sync("doc.k", timeout=0.3)  # b subscribes at the relay, so the relay forwards to it
    mlab.hold()
    mid = a.put("doc.k", "v1")
    first = mlab.pending()
    assert [(p.src, p.dst, p.kinds, p.ids) for p in first] == [("a", "relay", ("put",), (mid,))]
    # nothing moves by itself: many loop turns and some real time later, still held
    relay = mlab.peers["relay"].pid
    with pytest.raises(GunTimeoutError):  # nothing is heard at the relay, however long we wait
        mlab.bus.wait_for(lambda e: isinstance(e, trace.Heard) and e.node == relay, 0.5)
    assert _heard(mlab, "relay", mid) == 0
    assert mlab.peers["relay"].graph().get("doc") is None
    assert [p.name for p in mlab.pending()] == [first[0].name]
    step = mlab.step()
    assert step.delivered is not None and step.delivered.name == first[0].name
    assert _heard(mlab, "relay", mid) == 1
    assert mlab.peers["relay"].graph()["doc"]["k"] == "v1"
    # what the delivery caused is held in turn: the relay's ack to a, its forward to b
    new = {(p.src, p.dst, p.kinds[0]) for p in step.new}
    assert ("relay", "a", "ack") in new and ("relay", "b", "put") in new
    assert b.graph().get("doc", {}).get("k") is None
    assert mlab.deliver_all() >= 2
    assert b.graph()["doc"]["k"] == "v1"
    assert not mlab.pending()


def test_drop_and_duplicate_are_traced_and_fate_says_so(mlab: Lab) -> None:
    a = mlab.peer("a", rtc=False)
    mlab.hold()
    mid = a.put("doc.k", "v1")
    (frame,) = mlab.pending()
    copy = mlab.duplicate(frame)
    assert copy.copy_of == frame.name and copy.name != frame.name
    assert "held on the wire" in str(mlab.fate(mid))
    mlab.deliver(copy)
    mlab.deliver(frame)
    assert _heard(mlab, "relay", mid) == 1
    dups = [
        e
        for e in mlab.bus.history
        if isinstance(e, trace.Dropped) and e.msg_id == mid and e.cause is trace.DropCause.DUPLICATE
    ]
    assert len(dups) == 1  # the second copy met dedup
    mid2 = a.put("doc.j", "v2")
    held = [p for p in mlab.pending() if mid2 in p.ids]
    mlab.drop(held[0])
    assert mlab.peers["relay"].graph()["doc"].get("j") is None
    story = str(mlab.fate(mid2))
    assert "dropped by hand" in story
    with pytest.raises(GunError, match="no frame 'f999' is held"):
        mlab.deliver("f999")


def test_waiting_for_an_ack_on_a_held_wire_is_refused_at_once(mlab: Lab) -> None:
    a = mlab.peer("a", rtc=False)
    mlab.hold()
    with pytest.raises(GunError, match="held"):
        a.put_acked_sync("doc.k", 1)
    assert not mlab.pending()  # refused before anything was sent


def test_release_lets_everything_go_in_order(mlab: Lab) -> None:
    a, b = mlab.peer("a", rtc=False), mlab.peer("b", rtc=False)
    b.get_sync("doc.k", timeout=0.3)
    mlab.hold()
    a.put("doc.k", "one")
    a.put("doc.k", "two")
    assert len(mlab.pending()) == 2
    assert mlab.release() == 2
    assert not mlab.holding
    # the relay may hold "two" back for a millisecond (its state is a fraction ahead of the
    # relay's clock: HAM defers it), so wait for bob to take it rather than read at once
    mlab.bus.wait_for(
        lambda e: isinstance(e, trace.Put) and e.node == b.pid and "two" in str(e.values),
        5,
        past=True,
    )
    assert b.get_sync("doc.k", timeout=2) == "two"
    assert not mlab.pending()


def test_one_link_held_the_others_flow(lab: Lab) -> None:
    a, b, c = (lab.memory_peer(n) for n in "abc")
    ab = lab.link_memory(a, b)
    lab.link_memory(a, c)
    for p in (b, c):
        p.get_sync("doc.k", timeout=0.2)
    ab.hold()
    assert ab.held and "held" in repr(ab)
    mid = a.put("doc.k", "v")
    pend = lab.pending()
    assert [(p.src, p.dst) for p in pend] == [("a", "b")]
    assert c.graph()["doc"]["k"] == "v"
    assert _heard(lab, "b", mid) == 0
    assert ab.release() == 1
    assert b.graph()["doc"]["k"] == "v"


def test_hold_names_the_links_it_cannot_hold() -> None:
    lab = Lab()  # a WebSocket relay
    try:
        lab.peer("a", rtc=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            others = lab.hold()
        assert others == ["a\u2194relay (ws)"]
        assert any("only memory wires can be held" in str(w.message) for w in caught)
    finally:
        lab.close()


def test_a_full_hold_drops_with_a_cause_and_an_error() -> None:
    lab = Lab(relay=False)
    try:
        lab._wiring.hold = Hold(max_frames=2)  # a small bound, to reach it
        a, b = lab.memory_peer("a"), lab.memory_peer("b")
        lab.link_memory(a, b)
        b.get_sync("doc.k", timeout=0.2)
        lab.hold()
        ids = [a.put(f"doc.k{i}", i) for i in range(3)]
        assert len(lab.pending()) == 2
        full = [
            e
            for e in lab.bus.history
            if isinstance(e, trace.Dropped) and e.cause is trace.DropCause.HOLD_FULL
        ]
        assert [e.msg_id for e in full] == [ids[2]]
        assert any(isinstance(e, trace.Error) and "hold full" in e.error for e in lab.bus.history)
    finally:
        lab.close()


def _session(seed: int, path: Path) -> list[dict[str, object]]:
    """The same cells, run in a fresh seeded Lab (links with loss, puts, holds, steps, a read
    answered with data), its trace saved as JSONL and read back, timestamps aside."""
    lab = Lab(relay="memory", seed=seed)
    try:
        a, b = lab.peer("alice", rtc=False), lab.peer("bob", rtc=False)
        c = lab.memory_peer("carol")
        lab.link_memory(b, c, loss=0.5)
        b.get_sync("chat.hello", timeout=0.2)
        a.put("chat.hello", "hi")
        lab.hold()
        a.put("chat.hello", "hi again")
        c.put("chat.other", {"n": 1})
        lab.step()
        lab.duplicate(lab.pending()[0])
        lab.deliver_all()
        lab.release()
        for _ in range(5):
            b.put("chat.count", _)
        dave = lab.peer("dave", rtc=False)
        assert dave.get_sync("chat.hello", timeout=2) == "hi again"  # the relay's answer
        saved = lab.save_trace(path, compress=False)
    finally:
        lab.close()
    lines = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()]
    for e in lines:
        e.pop("t", None)
    return lines


def test_a_seeded_lab_gives_the_same_trace_every_run(tmp_path: Path) -> None:
    one, two = _session(7, tmp_path / "one.jsonl"), _session(7, tmp_path / "two.jsonl")
    assert len(one) > 50
    text_one = [json.dumps(e, sort_keys=True, default=repr) for e in one]
    text_two = [json.dumps(e, sort_keys=True, default=repr) for e in two]
    assert text_one == text_two
    other = [
        json.dumps(e, sort_keys=True, default=repr) for e in _session(8, tmp_path / "other.jsonl")
    ]
    assert other != text_one  # the seed is what makes them equal, not chance


def test_a_seeded_labs_clock_moves_per_action_and_on_advance() -> None:
    """States come from the Lab's clock: a later action writes a later state; a write from a
    peer running 5 s ahead is held back by the others until the clock is advanced past it."""
    lab = Lab(relay=False, seed=1)
    try:
        a = lab.memory_peer("a")
        fast = lab.memory_peer("fast", clock_skew=5.0)
        lab.link_memory(a, fast)
        a.put("doc.x", 1)
        a.put("doc.y", 2)
        states = a.graph()["doc"]["_"][">"]
        assert states["y"] > states["x"]
        fast.put("doc.z", "from the future")
        assert "z" not in a.graph().get("doc", {})  # deferred: 5 s ahead of a's clock
        assert lab.clock is not None
        lab.clock.advance(6)
        lab.bus.wait_for(
            lambda e: isinstance(e, trace.Put) and e.node == a.pid and e.held, 5, past=True
        )
        assert a.graph()["doc"]["z"] == "from the future"
    finally:
        lab.close()
