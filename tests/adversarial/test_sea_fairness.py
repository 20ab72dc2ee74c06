"""SEA verification shared fairly between connections (issue 22, section 2b).

The issue: 64 connections each sending 20,000 forged signed keys held everyone for minutes,
and honest signed puts of more than 64 keys were refused for ~190 s because the attackers
filled the relay's one count of big puts being verified. Now each connection has its own
bound, one budget of keys per loop turn is shared by all, connections take turns, and the
checks of a connection that left are dropped. At CI size; counts and order, not durations.

Our relay runs in this process; clients are raw WebSockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gunrtc_kit import Relay, root, trace
from gunrtc_kit.sea import pair
from tests.adversarial.hostile import raw_client, wait_reply
from tests.adversarial.test_relay_routing import replies_to
from tests.adversarial.test_sea_wire import signed_put

pytestmark = pytest.mark.asyncio


async def test_an_honest_big_signed_put_is_taken_and_acked_while_attackers_are_verified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a bound of one waiting put per connection: under the old global bound, the attackers'
    # puts filled it and the honest put was refused ("already being verified")
    monkeypatch.setattr(root, "MAX_SEA_PENDING", 1)
    async with Relay() as relay:
        forged = [signed_put(1500, honest=False) for _ in range(3)]
        honest_put = signed_put(100, honest=True)
        soul = next(iter(honest_put))
        clients = [raw_client(relay.url, close_timeout=1) for _ in forged]
        attackers = [await c.__aenter__() for c in clients]
        try:
            for i, ws in enumerate(attackers):
                await ws.send(json.dumps({"#": f"forged{i}", "put": forged[i]}))
            replies = [
                asyncio.ensure_future(wait_reply(ws, f"forged{i}", 60))
                for i, ws in enumerate(attackers)
            ]
            await relay.bus.until(
                lambda e: isinstance(e, trace.Heard) and e.msg.get("#") == "forged2", 10
            )
            async with raw_client(relay.url) as honest:
                await honest.send(json.dumps({"#": "honest", "put": honest_put}))
                reply = await wait_reply(honest, "honest", 30)
            # the order is the behaviour: 100 honest keys checked in turns beside 4,500
            # forged ones are done long before those
            unfinished = sum(not r.done() for r in replies)
            for r in replies:
                assert (await r)["err"] == "Unverified data."
        finally:
            for c in clients:
                await c.__aexit__(None, None, None)
        assert reply.get("ok") and not reply.get("err"), reply
        assert len([k for k in relay.gun.graph.nodes[soul] if k != "_"]) == 100
        assert unfinished == 3, "the honest put waited for an attacker's whole put"


async def test_a_connection_past_its_own_bound_is_refused_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_SEA_PENDING", 2)
    async with Relay() as relay:
        async with (
            raw_client(relay.url, close_timeout=1) as attacker,
            raw_client(relay.url) as other,
        ):
            batch = [{"#": f"b{i}", "put": signed_put(100, honest=False)} for i in range(5)]
            await attacker.send(json.dumps(batch))
            refused = list((await replies_to(attacker, {"b2", "b3", "b4"}, 10)).values())
            await other.send(json.dumps({"#": "o", "put": signed_put(100, honest=True)}))
            ok = await wait_reply(other, "o", 30)
        assert all("already being verified" in r["err"] for r in refused)
        assert ok.get("ok") and not ok.get("err"), ok
        traced = {e.msg_id for e in relay.bus.events(trace.Error) if "being verified" in e.error}
        assert traced == {"b2", "b3", "b4"}


async def test_checks_for_a_connection_that_left_are_dropped() -> None:
    async with Relay() as relay:
        gate = relay.gun._sea
        async with raw_client(relay.url, close_timeout=1) as ws:
            batch = [{"#": f"d{i}", "put": signed_put(1000, honest=False)} for i in range(3)]
            await ws.send(json.dumps(batch))
            await relay.bus.until(
                lambda e: isinstance(e, trace.Heard) and e.msg.get("#") == "d2", 10
            )
            assert gate.pending == 3
        await relay.bus.until(lambda e: isinstance(e, trace.Bye), 10)
        assert gate.pending == 0 and not gate.keys
        dropped: list[Any] = [
            e
            for e in relay.bus.events(trace.Dropped)
            if e.cause is trace.DropCause.PEER_LEFT and "SEA check" in e.reason
        ]
        assert {e.msg_id for e in dropped} == {"d0", "d1", "d2"}


async def test_a_burst_of_small_signed_puts_past_the_turns_budget_is_all_taken() -> None:
    # 30 puts of 40 signed keys in one frame: 1,200 keys, past SEA_SLICE per turn; those past
    # the budget wait their turn, none is refused, and each is acked once stored
    async with Relay() as relay:
        gate = relay.gun._sea
        most = 0

        def watch(_: trace.Event) -> None:
            nonlocal most
            most = max(most, gate.pending)

        relay.bus.subscribe(watch, (trace.Heard,))
        owner = dict(pair())
        batch = [{"#": f"s{i}", "put": signed_put(40, honest=True, owner=owner)} for i in range(30)]
        async with raw_client(relay.url) as ws:
            await ws.send(json.dumps(batch))
            got = await replies_to(ws, {f"s{i}" for i in range(30)}, 30)
        assert all(m.get("ok") and not m.get("err") for m in got.values())
        assert most > 1  # some did wait their turn
        assert not [e for e in relay.bus.events(trace.Error) if "being verified" in e.error]
