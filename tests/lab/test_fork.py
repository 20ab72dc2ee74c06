"""Forks: a new Lab that starts where a trace stood at one instant (``lab.fork(t)``,
``Lab.open_trace(path).fork(t)``), held, with the frames then in flight held again.

Checked against the source: each fork peer's graph is what the source's trace says that peer
held at ``t`` (values and states), the frames in flight at ``t`` are pending in the fork, a
copy of a message heard before ``t`` is dropped by the fork's dedup, and a writer's put that
was open at ``t`` takes its ack when it comes (or the doctor says why it never did).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.views.replay import Replay


@pytest.fixture
def source() -> Iterator[Lab]:
    """alice and bob on a memory relay; bob follows ``chat``; one put made and acked, then
    held: a second put delivered to the relay, its ack and forward still held."""
    lab = Lab(relay="memory", seed=3)
    a, b = lab.peer("alice", rtc=False), lab.peer("bob", rtc=False)
    with pytest.warns(Warning):
        b.get_sync("chat.hello", timeout=0.2)
    a.put("chat.hello", "first")
    lab.bus.wait_for(lambda e: isinstance(e, trace.Put) and e.node == b.pid, 5, past=True)
    lab.hold()
    lab.second = a.put("chat.hello", "second")  # type: ignore[attr-defined]
    lab.step()  # the relay hears it; its ack to alice and its forward to bob are held
    yield lab
    lab.close()


def _graphs_at(lab: Lab, t: float) -> dict[str, dict[str, object]]:
    """What each peer held of chat.hello at trace time ``t`` (from its Put events)."""
    start = lab.bus.history[0].t
    out: dict[str, dict[str, object]] = {}
    for e in lab.bus.history:
        if isinstance(e, trace.Put) and e.t - start <= t and "chat" in e.values:
            out[lab.name_of(e.node)] = {
                "value": e.values["chat"]["hello"],
                "state": e.states["chat"]["hello"],
            }
    return out


def _held_graphs(fork: Lab) -> dict[str, dict[str, object]]:
    out = {}
    for name, p in fork.peers.items():
        node = p.graph().get("chat")
        if node:
            out[name] = {"value": node["hello"], "state": node["_"][">"]["hello"]}
    return out


def test_a_fork_now_holds_the_graphs_and_the_frames_in_flight(source: Lab) -> None:
    fork = source.fork()
    try:
        end = source.bus.history[-1].t - source.bus.history[0].t
        assert fork.forked_from == f"fork of this Lab at +{end:.3f} s"
        assert {n: p.pid for n, p in fork.peers.items()} == {
            n: p.pid for n, p in source.peers.items()
        }
        end = source.bus.history[-1].t - source.bus.history[0].t
        assert _held_graphs(fork) == _graphs_at(source, end)
        assert _held_graphs(fork)["relay"]["value"] == "second"
        assert _held_graphs(fork)["bob"]["value"] == "first"
        assert sorted((p.src, p.dst, p.kinds) for p in fork.pending()) == sorted(
            (p.src, p.dst, p.kinds) for p in source.pending()
        )
        assert "fork of this Lab" in fork._hub.notice
    finally:
        fork.close()


def test_dropping_the_ack_in_a_fork_is_what_the_doctor_explains(source: Lab) -> None:
    fork = source.fork()
    try:
        ack = next(p for p in fork.pending() if p.kinds == ("ack",))
        fork.drop(ack)
        fork.deliver_all()
        report = fork.doctor()
        assert report.converged  # everyone has "second": only alice's ack is missing
        (u,) = report.unanswered
        assert u.msg_id == source.second  # type: ignore[attr-defined]
        assert "never reached alice" in u.text and "dropped by hand" in u.text
    finally:
        fork.close()
    other = source.fork()
    try:  # the other branch: the ack delivered, alice has her answer
        other.deliver_all()
        acks = [
            e
            for e in other.bus.history
            if isinstance(e, trace.Ack) and e.reply_to == source.second  # type: ignore[attr-defined]
        ]
        assert acks and acks[0].node == other.peers["alice"].pid
        assert not other.doctor().unanswered
    finally:
        other.close()


def test_a_fork_remembers_what_each_peer_heard(source: Lab) -> None:
    """A copy of a message a peer heard before the fork is a duplicate in the fork."""
    fork = source.fork()
    try:
        forward = next(p for p in fork.pending() if p.dst == "bob")
        first_put = next(
            e
            for e in source.bus.history
            if isinstance(e, trace.Heard) and e.node == source.peers["bob"].pid and "put" in e.msg
        )
        fork.deliver(forward)
        # bob heard the first put before the fork: said again to bob, dedup drops it
        fork.peers["relay"].say(first_put.msg, to=fork.peers["bob"])
        fork.deliver_all()
        dup = [
            e
            for e in fork.bus.history
            if isinstance(e, trace.Dropped)
            and e.cause is trace.DropCause.DUPLICATE
            and e.msg_id == first_put.msg["#"]
            and e.node == fork.peers["bob"].pid
        ]
        assert dup
    finally:
        fork.close()


def test_a_fork_of_a_saved_trace_at_an_earlier_instant(source: Lab, tmp_path: Path) -> None:
    path = source.save_trace(tmp_path / "run.jsonl")
    replay = Lab.open_trace(path)
    start = source.bus.history[0].t
    second = next(
        e.t - start
        for e in source.bus.history
        if isinstance(e, trace.Put) and e.values.get("chat", {}).get("hello") == "second"
    )
    at = second - 1e-6  # just before alice wrote "second" (her own merge comes first)
    fork = replay.fork(at)
    try:
        assert fork.forked_from == f"fork of run.jsonl at +{at:.3f} s"
        assert _held_graphs(fork) == _graphs_at(source, at)
        assert {g["value"] for g in _held_graphs(fork).values()} == {"first"}
        assert not fork.pending()  # nothing was on its way then
        fork.peers["alice"].put("chat.hello", "other branch")
        fork.deliver_all()
        assert {g["value"] for g in _held_graphs(fork).values()} == {"other branch"}
    finally:
        fork.close()
    with pytest.raises(GunError, match="open the trace with Lab.open_trace"):
        Replay(replay.events, replay.meta).fork(0.0)
    with pytest.raises(GunError, match="the trace spans"):
        replay.fork(1e9)
