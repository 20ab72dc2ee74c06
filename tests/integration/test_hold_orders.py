"""Step mode under the Lab: held frames are real frames, whatever order they are delivered in.

Three Gun roots on memory wires in a triangle (every pair linked, so each put reaches each peer
by two ways), all wires held from the first ``?``. Two peers write the same key; then
hypothesis picks, at each step, which held frame to deliver (and a few times delivers a copy
as well), until nothing is held. Whatever the order: the three graphs end equal, with HAM's
winner, and at every receiver each put message was heard once and every further copy
delivered to it was dropped by dedup, so dedup's count is the number of copies less one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gunrtc_kit import trace
from gunrtc_kit.core import ham
from gunrtc_kit.root import Gun
from gunrtc_kit.transport.hold import Hold
from gunrtc_kit.transport.memory import connect_memory

MAX_DUPLICATES = 3  # copies made per example (each copy may cause more frames)


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _play(data: st.DataObject) -> None:
    bus = trace.TraceBus(keep=0)
    events: list[trace.Event] = []
    bus.subscribe(events.append)
    guns = [Gun(bus=bus) for _ in range(3)]
    for g in guns:
        await g.start()
    hold = Hold()
    try:
        for i, j in ((0, 1), (1, 2), (0, 2)):
            connect_memory(guns[i].mesh, guns[j].mesh, hold=hold, held=True)
        # the ``?`` exchange is held too: deliver it first, in order, so the peers know
        # each other's pids before the writes (what a Lab's link does)
        while hold.frames:
            hold.deliver(next(iter(hold.frames)))
            await _turns()
        ids = [
            guns[0].get("doc").get("k").put("from-0").id,
            guns[1].get("doc").get("k").put("from-1").id,
        ]
        await _turns()
        copies = dups = 0
        while hold.frames and copies < 200:
            names = list(hold.frames)
            name = names[data.draw(st.integers(0, len(names) - 1), label="frame")]
            if dups < MAX_DUPLICATES and data.draw(st.booleans(), label="duplicate?"):
                hold.duplicate(name)  # the network delivers this frame twice
                dups += 1
            hold.deliver(name)
            copies += 1
            await _turns()
        assert not hold.frames, "the mesh kept talking for 200 deliveries"
        nodes = [g.graph.nodes.get("doc") for g in guns]
        values = {n["k"] if n else None for n in nodes}
        assert len(values) == 1, f"graphs differ after every frame was delivered: {nodes}"
        writes = [(_state_of(events, ids[i]), f"from-{i}") for i in (0, 1)]
        assert values == {_winner(writes)}
        _check_dedup(events, set(ids), [g.pid for g in guns])
    finally:
        for g in guns:
            await g.close()


def _winner(writes: list[tuple[float, str]]) -> Any:
    """HAM's winner of two writes, by our own ``ham`` rules (which tests check against
    Gun.js): the later state, or on a tie the value whose JSON text is greater."""
    (s0, v0), (s1, v1) = writes
    if s0 != s1:
        return v0 if s0 > s1 else v1
    return v0 if ham.json_text_greater(v0, v1) else v1


def _state_of(events: list[trace.Event], mid: str) -> float:
    """The state the writer gave its own put (its first ``said`` copy carries it)."""
    for e in events:
        if isinstance(e, trace.Said) and e.msg.get("#") == mid:
            return float(e.msg["put"]["doc"]["_"][">"]["k"])
    raise AssertionError(f"{mid} was never said")


def _check_dedup(events: list[trace.Event], puts: set[str], pids: list[str]) -> None:
    """Every delivered copy of a put was heard once, or dropped as a duplicate after that."""
    frames: dict[str, trace.Held] = {}
    delivered: Counter[tuple[str, str]] = Counter()  # (receiver, mid) -> copies delivered
    heard: Counter[tuple[str, str]] = Counter()
    dups: Counter[tuple[str, str]] = Counter()
    for e in events:
        if isinstance(e, trace.Held):
            frames[e.frame] = e
        elif isinstance(e, trace.Released) and e.action is trace.ReleaseAction.DELIVERED:
            for mid in frames[e.frame].msg_ids:
                delivered[(e.to, mid)] += 1
        elif isinstance(e, trace.Heard) and e.msg.get("#") in puts:
            heard[(e.node, e.msg["#"])] += 1
        elif (
            isinstance(e, trace.Dropped)
            and e.cause is trace.DropCause.DUPLICATE
            and e.msg_id in puts
        ):
            dups[(e.node, e.msg_id)] += 1
    for (node, mid), n in delivered.items():
        if mid not in puts:
            continue
        assert node in pids
        assert heard[(node, mid)] + dups[(node, mid)] == n, (node, mid, n)
    for key, n in heard.items():
        assert n == 1, f"{key} heard {n} times"
        # the writer itself hears its put back through the triangle: dropped, not heard
    for mid in puts:
        assert sum(n for (node, m), n in delivered.items() if m == mid) >= 2


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_every_delivery_order_converges_and_dedup_counts_copies(data: st.DataObject) -> None:
    asyncio.run(_play(data))


@pytest.mark.parametrize(
    ("later", "first", "second", "winner"),
    [(0.0, "apple", "banana", "banana"), (1.0, "banana", "apple", "apple")],
    ids=["same-state-greater-value-wins", "later-state-wins"],
)
def test_a_conflict_delivered_in_both_orders_has_one_winner(
    later: float, first: str, second: str, winner: str
) -> None:
    """The notebook's case, both ways round: whichever write arrives first, HAM picks the
    same value at both peers. One clock both read (so neither holds the other's write back
    for the future); ``later`` seconds pass between the two writes."""

    async def go(reverse: bool) -> tuple[Any, Any]:
        bus = trace.TraceBus(keep=0)
        now = [1000.0]
        a = Gun(bus=bus, clock=lambda: now[0])
        b = Gun(bus=bus, clock=lambda: now[0])
        for g in (a, b):
            await g.start()
        hold = Hold()
        try:
            connect_memory(a.mesh, b.mesh, hold=hold, held=True)
            while hold.frames:
                hold.deliver(next(iter(hold.frames)))
                await _turns()
            a.get("doc").get("k").put(first)
            now[0] += later
            b.get("doc").get("k").put(second)
            await _turns()
            names = list(hold.frames)
            assert len(names) == 2, names
            for name in reversed(names) if reverse else names:
                hold.deliver(name)
                await _turns()
            return a.graph.nodes["doc"]["k"], b.graph.nodes["doc"]["k"]
        finally:
            for g in (a, b):
                await g.close()

    assert asyncio.run(go(False)) == (winner, winner)
    assert asyncio.run(go(True)) == (winner, winner)
