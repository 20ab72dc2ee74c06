"""Who answers a put, and what a relay keeps for the puts it holds back (issue 22).

- A put held for its future state is answered by the relay once, whatever its fate: ``ok``
  when a key lands, nothing when every key lost to a newer write by then; its entry goes
  either way (200 of 200 such entries used to stay for ever).
- A relay passes on no stale put, and a held one only once it landed and was acked: a hostile
  subscriber answering every put it hears with a forged ``ok`` or ``err`` never reaches the
  writer's ``await put()`` (it did: the attacker's text was raised, a stale put "succeeded").
- An expired certificate admits no write with a backdated state: expiry is held against the
  relay's clock as well as the put's state (Gun.js checks the state only).
- The relay's dedup table stops at its bound under a flood of message ids, and says so once.

The relay runs in this process (``Relay``) so a test reads its tables; the clients are raw
WebSockets speaking the wire, as an attacker's would, or our own ``Gun`` as the honest writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from gunrtc_kit import Gun, Relay, root, trace
from gunrtc_kit.core import codec
from gunrtc_kit.core import dup as dup_mod
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.sea import certify, pair, sea_parse, sign
from gunrtc_kit.sea.check import pack
from gunrtc_kit.sea.keys import Pair
from tests.adversarial.hostile import messages, raw_client, wait_reply
from tests.helpers import asked, until

pytestmark = pytest.mark.asyncio

FORGED = "forged by a subscriber"


def put_msg(mid: str, soul: str, key: str, value: Any, state: float) -> str:
    return json.dumps({"#": mid, "put": {soul: {"_": {"#": soul, ">": {key: state}}, key: value}}})


async def drain(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within ``seconds`` (a bounded read, not a sync wait)."""
    got: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                got.extend(messages(await ws.recv()))
    return got


@contextlib.asynccontextmanager
async def hostile_subscriber(relay: Relay, soul: str) -> AsyncIterator[list[dict[str, Any]]]:
    """A raw client that asks for ``soul`` and answers every put it hears, at once, with a
    forged ``err`` and a forged ``ok``. Yields the puts it heard."""
    heard: list[dict[str, Any]] = []
    async with raw_client(relay.url) as ws:
        await ws.send(json.dumps({"#": "hostile-get", "get": {"#": soul}}))
        await asked(relay, soul)

        async def forge() -> None:
            n = 0
            while True:
                for m in messages(await ws.recv()):
                    if "put" in m and "@" not in m:
                        heard.append(m)
                        n += 1
                        await ws.send(
                            json.dumps(
                                [
                                    {"#": f"forgedE{n}", "@": m["#"], "err": FORGED},
                                    {"#": f"forgedO{n}", "@": m["#"], "ok": {"": 1}},
                                ]
                            )
                        )

        task = asyncio.create_task(forge())
        try:
            yield heard
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def test_held_puts_that_lose_leave_nothing_behind_and_only_the_winner_is_acked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(root, "MAX_DEFERRED", 150)
    async with Relay() as relay:
        held = relay.gun._held
        due = time.time() * 1000 + 600  # every put at one future state
        async with raw_client(relay.url) as ws:
            # "z" is held first: it lands first, and the 200 "a" at the same state lose to it
            # (HAM's lexical rule at equal states) when their time comes
            frame = [json.loads(put_msg("win", "s", "k", "z", due))]
            frame += [json.loads(put_msg(f"a{i}", "s", "k", "a", due)) for i in range(200)]
            await ws.send(json.dumps(frame))
            refused = await wait_reply(ws, "a199", 5)
            assert "future state refused" in refused["err"]  # 51 past MAX_DEFERRED=150
            assert len(held.acks) == 150  # bounded by the heap (one key each here)
            assert len(relay.gun._deferred) == 150
            won = await wait_reply(ws, "win", 5)
            assert won["ok"] is True
            await until(lambda: not relay.gun._deferred, 5)
            assert held.acks == {}  # the 149 losers: gone, not kept for ever (they were)
            assert held.held == {}
            later = [m for m in await drain(ws, 0.5) if m.get("@", "").startswith("a")]
        assert later == []  # a put that lost is not acked (as one that loses on arrival)
        assert relay.gun.graph.nodes["s"]["k"] == "z"


async def test_a_forged_err_does_not_reach_the_writer_of_a_put_held_for_its_future_state() -> None:
    async with Relay() as relay:
        ahead = await Gun([relay.url], clock=lambda: time.time() + 0.8).start()
        try:
            await ahead.wait_connected(5)
            async with hostile_subscriber(relay, "doc") as heard:
                t0 = time.monotonic()
                ack = await ahead.get("doc").get("k").put("from the future")
                took = time.monotonic() - t0
                await until(lambda: heard, 5)
            assert ack["ok"] is True and not ack.get("err")  # the relay's own ack
            assert took > 0.3  # given when the key landed, not on arrival
            assert [m["#"] for m in heard] == [ack["@"]]  # passed on once, after the ack
            assert relay.gun.graph.nodes["doc"]["k"] == "from the future"
            forged = [e for e in ahead.bus.events(trace.Ack) if e.err == FORGED]
            assert all(e.reply_to == ack["@"] for e in forged)  # late: the put had settled
        finally:
            await ahead.close()


async def test_a_forged_ok_does_not_make_a_stale_put_succeed() -> None:
    async with Relay() as relay:
        async with raw_client(relay.url) as w:
            await w.send(put_msg("fresh", "doc", "k", "new", time.time() * 1000))
            assert (await wait_reply(w, "fresh", 5))["ok"] is True
        behind = await Gun([relay.url], clock=lambda: time.time() - 60, ack_timeout=1.5).start()
        try:
            await behind.wait_connected(5)
            async with hostile_subscriber(relay, "doc") as heard:
                with pytest.raises(GunTimeoutError, match="no ack"):
                    await behind.get("doc").get("k").put("old")
            assert heard == []  # a stale put is not passed on: nobody could answer it
            assert relay.gun.graph.nodes["doc"]["k"] == "new"
        finally:
            await behind.close()


def signed_by_certificant(
    soul: str, key: str, value: Any, state: float, cert: str, bob: Pair
) -> str:
    sig = sea_parse(sign(pack(soul, key, value, state), bob))["s"]
    return codec.dumps({":": value, "~": sig, "*": bob["pub"], "+": sea_parse(cert)})


async def test_an_expired_certificate_admits_no_write_with_a_backdated_state() -> None:
    alice, bob = pair(), pair()
    soul = f"~{alice['pub']}/inbox"
    now = time.time() * 1000
    expired = certify(bob["pub"], {"#": "inbox"}, alice, expiry=now - 60_000)
    valid = certify(bob["pub"], {"#": "inbox"}, alice, expiry=now + 60_000)
    old = now - 120_000  # before the expiry: Gun.js takes it (it checks the state only)
    async with Relay() as relay, raw_client(relay.url) as ws:
        text = signed_by_certificant(soul, "m1", "hi", old, expired, bob)
        await ws.send(put_msg("backdated", soul, "m1", text, old))
        reply = await wait_reply(ws, "backdated", 5)
        assert reply.get("err") == "Certificate expired."
        assert "m1" not in relay.gun.graph.nodes.get(soul, {})
        # a certificate valid now still admits a write, and one at an old state too
        for mid, key, st in (("now", "m2", time.time() * 1000), ("older", "m3", old)):
            text = signed_by_certificant(soul, key, "hi", st, valid, bob)
            await ws.send(put_msg(mid, soul, key, text, st))
            assert (await wait_reply(ws, mid, 5)).get("ok") is True, mid
        assert {"m2", "m3"} <= set(relay.gun.graph.nodes[soul])


async def test_a_reply_bringing_back_a_value_written_under_a_since_expired_cert_is_taken() -> None:
    """A read (or a sync) answers with what was written while the certificate was valid: the
    clock is for new writes only, or history written under a certificate could not be read."""
    alice, bob = pair(), pair()
    soul = f"~{alice['pub']}/inbox"
    now = time.time() * 1000
    cert = certify(bob["pub"], {"#": "inbox"}, alice, expiry=now - 60_000)
    old = now - 120_000
    text = signed_by_certificant(soul, "m1", "hi", old, cert, bob)
    async with Relay() as relay:
        relay.gun.graph.nodes[soul] = {"_": {"#": soul, ">": {"m1": old}}, "m1": text}
        reader = await Gun([relay.url]).start()
        try:
            await reader.wait_connected(5)
            assert await reader.fetch({"#": soul}, timeout=5)
            assert reader.graph.nodes[soul]["m1"] == text
        finally:
            await reader.close()


async def test_a_flood_of_message_ids_stops_at_the_dedup_bound_and_honest_puts_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dup_mod, "MAX_ENTRIES", 2000)
    async with Relay() as relay:
        errors: list[trace.Error] = []
        relay.bus.subscribe(errors.append, kinds=(trace.Error,))  # type: ignore[arg-type]
        async with raw_client(relay.url) as ws:
            # 20,000 GETs of souls nobody has, in one frame: each leaves its id (and its
            # not-found answer's) in the dedup table
            frame = [{"#": f"g{i:06d}", "get": {"#": f"none{i}"}} for i in range(20_000)]
            await ws.send(json.dumps(frame))
            await wait_reply(ws, "g019999", 30)
            assert len(relay.gun.dup) <= 2000
            assert relay.gun.dup.evicted >= 20_000
            full = [e for e in errors if "dedup table full" in e.error]
            assert len(full) == 1  # once per EVICT_REPORT_MS, not once per entry
            await ws.send(put_msg("honest", "doc", "k", 1, time.time() * 1000))
            assert (await wait_reply(ws, "honest", 5))["ok"] is True


async def test_closing_with_puts_held_leaves_no_entry() -> None:
    relay = await Relay().start()
    try:
        async with raw_client(relay.url) as ws:
            await ws.send(put_msg("far", "s", "k", 1, time.time() * 1000 + 86_400_000))
            await until(lambda: relay.gun._held.acks, 5)
    finally:
        await relay.stop()
    assert not relay.gun._held.acks and not relay.gun._held.held and not relay.gun._deferred
