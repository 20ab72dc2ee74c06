"""The relay routes as an AXE relay does, takes replies only from whom it asked, and answers
big or hostile requests without holding up anyone else (hardening issue items 3, 4, 5, 9).

Our relay runs in this process (``Relay``) so a test can read its trace and its tables; the
clients are raw WebSockets speaking the wire, as an attacker's would be."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from gunrtc_kit import Gun, Relay, root, trace
from gunrtc_kit.errors import GunError
from tests.adversarial.hostile import messages, raw_client, wait_reply

pytestmark = pytest.mark.asyncio


def put_msg(mid: str, soul: str, key: str, value: Any, state: float | None = None) -> str:
    st = time.time() * 1000 if state is None else state
    return json.dumps({"#": mid, "put": {soul: {"_": {"#": soul, ">": {key: st}}, key: value}}})


async def replies_to(
    ws: ClientConnection, ids: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """The first reply to each of ``ids`` (batched frames unpacked)."""
    got: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(timeout):
        while len(got) < len(ids):
            for m in messages(await ws.recv()):
                if m.get("@") in ids:
                    got.setdefault(m["@"], m)
    return got


async def drain(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every message ``ws`` receives for ``seconds``."""
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                got.extend(messages(await ws.recv()))
    except TimeoutError:
        pass
    return got


async def test_idle_and_unsubscribed_clients_get_no_puts_subscribers_do() -> None:
    async with Relay() as relay:
        async with (
            raw_client(relay.url) as writer,
            raw_client(relay.url) as idle,
            raw_client(relay.url) as reader,
        ):
            await reader.send(json.dumps({"#": "g1", "get": {"#": "room"}}))
            await wait_reply(reader, "g1", 5)  # "not found" yet: subscribed all the same
            for i in range(20):
                await writer.send(put_msg(f"w{i}", "room", f"k{i}", i))
            acks = await replies_to(writer, {f"w{i}" for i in range(20)}, 5)
            assert all(a.get("ok") for a in acks.values())
            got_reader = await drain(reader, 0.3)
            got_idle = await drain(idle, 0.3)
        assert {m["#"] for m in got_reader if "put" in m} == {f"w{i}" for i in range(20)}
        assert [m for m in got_idle if "put" in m or "get" in m] == []


async def test_a_forged_ok_from_a_peer_the_put_never_went_to_is_refused() -> None:
    # the writer's clock runs a minute ahead: the relay defers its put and does not ack it yet,
    # so the only ok that could reach the writer in time is a forged one
    async with Relay() as relay:
        ahead = await Gun([relay.url], clock=lambda: time.time() + 60).start()
        try:
            await ahead.wait_connected()
            put = ahead.get("bank").get("balance").put(100)
            await relay.bus.until(
                lambda e: isinstance(e, trace.Heard) and e.msg.get("#") == put.id, 5, past=True
            )
            async with raw_client(relay.url) as attacker:
                await attacker.send(json.dumps({"#": "forged1", "@": put.id, "ok": 1}))
                dropped = await relay.bus.until(
                    lambda e: isinstance(e, trace.Dropped) and e.msg_id == "forged1", 5
                )
            assert "not sent to" in dropped.reason
            await asyncio.sleep(0.2)  # room for the forged ok to arrive, had it been routed
            assert not put.done(), "the writer took a forged ok"
        finally:
            await ahead.close()
        with pytest.raises(GunError, match="closed"):
            await put  # close() fails a put still waiting, never leaves it hanging


async def test_messages_with_nothing_to_do_are_not_relayed() -> None:
    async with Relay() as relay:
        async with raw_client(relay.url) as sender, raw_client(relay.url) as other:
            await other.send(json.dumps({"#": "g1", "get": {"#": "x"}}))
            await wait_reply(other, "g1", 5)
            await sender.send("[" + ",".join(["{}"] * 5000) + "]")
            await sender.send(json.dumps({"#": "after", "get": {"#": "y"}}))
            await wait_reply(sender, "after", 10)
            got = await drain(other, 0.3)
        assert got == []
        dropped = [e for e in relay.bus.events(trace.Dropped) if "nothing to relay" in e.reason]
        assert dropped  # said so in the trace, not dropped in silence


async def test_a_lex_get_over_many_souls_is_packed_capped_and_does_not_stall_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_GET_SOULS", 3000)
    async with Relay() as relay:
        state = time.time() * 1000
        relay.gun.graph.merge(
            {f"s{i:05}": {"_": {"#": f"s{i:05}", ">": {"v": state}}, "v": i} for i in range(5000)},
            relay.gun.machine(),
        )
        async with raw_client(relay.url) as asker, raw_client(relay.url) as writer:
            await asker.send(json.dumps({"#": "lex1", "get": {"#": {"*": "s"}}}))
            await writer.send(put_msg("w1", "other", "k", 1))
            await wait_reply(writer, "w1", 5)
            souls: set[str] = set()
            replies = 0
            async with asyncio.timeout(20):
                while True:
                    m = await wait_reply(asker, "lex1", 20)
                    replies += 1
                    souls.update(m["put"])
                    if "%" not in m:
                        break
        assert len(souls) == 3000  # capped, and said so
        assert replies <= 3000 // 20, f"{replies} replies for 3000 souls"
        assert any("lex get matched 5000 souls" in e.error for e in relay.bus.events(trace.Error))


async def test_far_future_puts_are_held_in_one_bounded_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_DEFERRED", 50)
    async with Relay() as relay:
        far = time.time() * 1000 + 20 * 86_400_000  # 20 days ahead
        async with raw_client(relay.url) as ws:
            for i in range(80):
                await ws.send(put_msg(f"f{i}", f"future{i}", "k", i, state=far))
            errs = await replies_to(ws, {f"f{i}" for i in range(50, 80)}, 5)
        assert all("future state refused" in m["err"] for m in errs.values())
        assert len(relay.gun._deferred) == 50
        assert relay.gun._deferred_timer is not None and not relay.gun._timers  # one timer


async def test_a_connection_follows_at_most_max_subs_souls_past_it_gets_answered_not_pushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a client asking for soul after soul must not grow the relay's routing tables without end
    monkeypatch.setattr(root, "MAX_SUBS_PER_PEER", 5)
    async with Relay() as relay:
        async with raw_client(relay.url) as writer, raw_client(relay.url) as reader:
            for i in range(8):
                await reader.send(json.dumps({"#": f"g{i}", "get": {"#": f"s{i}"}}))
            got = await replies_to(reader, {f"g{i}" for i in range(8)}, 5)
            assert len(got) == 8  # every GET is answered, followed or not
            capped = [
                e for e in relay.bus.events(trace.Error) if "asked for more than 5 souls" in e.error
            ]
            assert [e.error.split("; ")[1] for e in capped] == [
                f"'s{i}' is answered but not followed" for i in (5, 6, 7)
            ]
            await writer.send(put_msg("p0", "s0", "k", 1))
            await writer.send(put_msg("p7", "s7", "k", 1))
            await replies_to(writer, {"p0", "p7"}, 5)
            pushed = {m["#"] for m in await drain(reader, 0.3) if "put" in m}
        assert pushed == {"p0"}
