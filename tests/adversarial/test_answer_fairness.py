"""GET answers shared fairly between connections, and bounded (issue 22, sections 2 and 2b).

The attacks of the issue at CI size: one frame of hundreds of GETs for a big node (it
started an answer task per GET, 2,000 for 2,000, each holding its replies, still running
after the asker left), an honest asker behind such a frame, and a get-everything cut at
``MAX_GET_SOULS`` souls without a word to the asker. What is asserted is counts, bounds and
order, not durations (those are in benchmarks/answer_hold.py and docs/benchmarks.md).

Our relay runs in this process (``Relay``), so a test reads its answer queues; the clients
are raw WebSockets, as an attacker's would be."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gunrtc_kit import Relay, root, trace
from tests.adversarial.hostile import messages, raw_client, wait_reply

pytestmark = pytest.mark.asyncio


def big_node(relay: Relay, soul: str, keys: int) -> None:
    """``soul`` with ``keys`` keys in the relay's graph (answered in keys/9 replies)."""
    state = relay.gun.machine() - 1000.0  # in the past: merged now, not held for later
    node: dict[str, Any] = {"_": {"#": soul, ">": {}}}
    for i in range(keys):
        node["_"][">"][f"k{i:05}"] = state
        node[f"k{i:05}"] = i
    relay.gun.graph.merge({soul: node}, relay.gun.machine())


def replies(frame: str | bytes) -> list[dict[str, Any]]:
    """The replies (``@``) in one frame; the relay's own messages (its ``dam`` hi) left out."""
    return [m for m in messages(frame) if "@" in m]


def gets(prefix: str, soul: str, n: int) -> str:
    """One frame of ``n`` GETs of ``soul``."""
    return json.dumps([{"#": f"{prefix}{i}", "get": {"#": soul}} for i in range(n)])


async def test_a_frame_of_many_gets_is_answered_one_answer_in_flight_per_connection() -> None:
    # the issue: one frame of 2,000 GETs of a 1,000-key node started 2,000 answer tasks
    async with Relay() as relay:
        big_node(relay, "big", 1000)
        answers = relay.gun._answers
        async with raw_client(relay.url) as ws:
            await ws.send(gets("g", "big", 100))
            ends: set[str] = set()
            async with asyncio.timeout(60):
                while len(ends) < 100:
                    for m in replies(await ws.recv()):
                        assert "err" not in m, m
                        if "%" not in m:
                            ends.add(m["@"])
        assert answers.peak == 1  # one connection, one answer in flight at a time
        assert answers.live == 0 and answers.work.total() == 0
        assert not [t for t in relay.gun._tasks if "answers" in t.get_name()]


async def test_an_honest_get_is_answered_before_the_attackers_queued_answers() -> None:
    async with Relay() as relay:
        big_node(relay, "big", 1000)
        big_node(relay, "small", 3)
        answers = relay.gun._answers
        async with (
            raw_client(relay.url, close_timeout=1) as attacker,  # it reads nothing: no handshake
            raw_client(relay.url) as honest,
        ):
            await attacker.send(gets("a", "big", 300))
            await wait_reply(attacker, "a0", 10)  # the attack is under way
            await honest.send(json.dumps({"#": "h1", "get": {"#": "small"}}))
            reply = await wait_reply(honest, "h1", 10)
            # still queued behind: the attacker's answers (300 x 112 replies) are far from done
            waiting = answers.work.total()
        assert reply["put"]["small"]["k00002"] == 2
        assert waiting > 250, f"only {waiting} attacker GETs still queued"


async def test_answers_in_flight_never_pass_max_answers_and_the_bound_is_traced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_ANSWERS", 3)
    async with Relay() as relay:
        big_node(relay, "big", 1000)
        answers = relay.gun._answers
        most = 0

        def watch(_: trace.Event) -> None:
            nonlocal most
            most = max(most, answers.live)

        relay.bus.subscribe(watch, (trace.Said,))
        clients = [raw_client(relay.url) for _ in range(6)]
        conns = [await c.__aenter__() for c in clients]
        try:
            for i, ws in enumerate(conns):
                await ws.send(gets(f"c{i}-", "big", 5))
            for ws in conns:
                async with asyncio.timeout(60):
                    ends = 0
                    while ends < 5:
                        ends += sum("%" not in m for m in replies(await ws.recv()))
        finally:
            for c in clients:
                await c.__aexit__(None, None, None)
        assert answers.peak == 3 and most <= 3
        capped = [e for e in relay.bus.events(trace.Error) if "MAX_ANSWERS=3" in e.error]
        assert capped, "reaching MAX_ANSWERS was not traced"


async def test_past_max_answers_queued_the_asker_gets_err_and_the_trace_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_ANSWERS_QUEUED", 50)
    async with Relay() as relay:
        big_node(relay, "big", 1000)
        async with raw_client(relay.url) as ws:
            await ws.send(gets("q", "big", 200))
            refused: set[str] = set()
            ends: set[str] = set()
            async with asyncio.timeout(60):
                while len(refused) + len(ends) < 200:
                    for m in replies(await ws.recv()):
                        if "err" in m:
                            assert "MAX_ANSWERS_QUEUED=50" in m["err"]
                            refused.add(m["@"])
                        elif "%" not in m:
                            ends.add(m["@"])
        assert len(ends) >= 50 and len(refused) >= 100  # the bound, not all or nothing
        traced = relay.bus.events(trace.Error)
        assert {e.msg_id for e in traced if "MAX_ANSWERS_QUEUED" in e.error} == refused


async def test_work_for_a_connection_that_left_is_dropped() -> None:
    # the issue: 512 answer tasks still ran 20 s after their asker was cut
    async with Relay() as relay:
        big_node(relay, "big", 1000)
        answers = relay.gun._answers
        async with raw_client(relay.url, close_timeout=1) as ws:
            await ws.send(gets("d", "big", 300))
            await wait_reply(ws, "d0", 10)
        await relay.bus.until(lambda e: isinstance(e, trace.Bye), 10)
        assert answers.work.total() == 0 and answers.live == 0
        dropped = [
            e
            for e in relay.bus.events(trace.Dropped)
            if e.cause is trace.DropCause.PEER_LEFT and "answer to a GET" in e.reason
        ]
        assert len(dropped) > 250
        # and nothing runs for it afterwards: the worker ends, having nothing left
        worker = answers.work.worker
        if worker is not None:
            done, _ = await asyncio.wait([worker], timeout=5)
            assert done, "the answer worker still runs for a connection that left"


async def test_a_get_everything_cut_at_max_get_souls_tells_the_asker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_GET_SOULS", 50)
    async with Relay() as relay:
        state = relay.gun.machine() - 1000.0
        relay.gun.graph.merge(
            {f"s{i:03}": {"_": {"#": f"s{i:03}", ">": {"v": state}}, "v": i} for i in range(80)},
            relay.gun.machine(),
        )
        async with raw_client(relay.url) as ws:
            await ws.send(json.dumps({"#": "all", "get": {"#": {"*": "s"}}}))
            souls: set[str] = set()
            async with asyncio.timeout(10):
                while True:
                    m = await wait_reply(ws, "all", 10)
                    souls.update(m["put"])
                    if "%" not in m:
                        break
        assert len(souls) == 50
        # the last reply of the chain says it, and carries no data of its own
        assert "lex get matched 80 souls; answered with the first 50" in m["err"]
        assert m["put"] == {}
        assert any("lex get matched 80 souls" in e.error for e in relay.bus.events(trace.Error))
