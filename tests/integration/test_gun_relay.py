"""Our Gun peers and our built-in relay, over real WebSockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from gunrtc_kit import Gun, GunError, Relay, trace
from gunrtc_kit.errors import InvalidDataError
from tests.helpers import asked, relay_peer, until

pytestmark = pytest.mark.asyncio


async def raw_client(url: str) -> Any:
    ws = await connect(url)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["dam"] == "?" and len(hello["pid"]) == 9
    return ws


async def recv_until(ws: Any, pred: Any, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            data = json.loads(await ws.recv())
            for m in data if isinstance(data, list) else [data]:
                if pred(m):
                    return m  # type: ignore[no-any-return]


async def test_two_peers_sync_both_ways_and_puts_are_acked(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        seen_b: dict[str, Any] = {}
        b.get("chat").map().on(lambda v, k: seen_b.__setitem__(k, v))
        await asked(relay, "chat")
        ack = await a.get("chat").get("m1").put({"text": "hi", "n": 1})
        assert ack["ok"] is True and ack["@"]
        await until(lambda: seen_b.get("m1") == {"text": "hi", "n": 1})
        await b.get("chat").get("m2").put({"text": "back"})
        assert await a.get("chat").get("m2").get("text").once(timeout=3) == "back"
        assert await a.get("chat").get("m1").once() == {"text": "hi", "n": 1}
        assert a.graph.nodes["chat"]["m1"] == {"#": "chat/m1"}  # a link, resolved on read
    finally:
        await a.close()
        await b.close()


async def test_once_on_unknown_data_is_none_quickly(relay: Relay) -> None:
    a = await relay_peer(relay)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await a.get("nothing-here").once(timeout=5) is None
        assert loop.time() - t0 < 2  # the relay's "not found" answered, no timeout
    finally:
        await a.close()


@pytest.mark.parametrize("soul", ["constructor", "big", "__proto__", "toString", "hasOwnProperty"])
async def test_souls_named_like_js_builtins_work(relay: Relay, soul: str) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        await a.get(soul).put({"v": soul})
        assert await b.get(soul).get("v").once(timeout=3) == soul
    finally:
        await a.close()
        await b.close()


async def test_invalid_put_gets_err_ack_and_relay_keeps_serving(relay: Relay) -> None:
    good = await relay_peer(relay)
    ws = await raw_client(relay.url)
    try:
        bad = {"#": "bad1", "put": {"s": {"_": {"#": "s", ">": {}}, "k": 1}}}
        await ws.send(json.dumps(bad))
        reply = await recv_until(ws, lambda m: m.get("@") == "bad1")
        assert reply["err"].startswith("Error: Invalid graph!") and "no state" in reply["err"]
        assert any(e.msg_id == "bad1" for e in relay.bus.events(trace.Error))
        await ws.send("{bad json")
        reply = await recv_until(ws, lambda m: m.get("dam") == "!")
        assert reply["err"] == "DAM JSON parse error."
        await ws.send("[1]")
        assert (await recv_until(ws, lambda m: m.get("dam") == "!"))["err"]
        await ws.send(json.dumps({"#": "u1", "dam": "what"}))
        assert "what" in (await recv_until(ws, lambda m: m.get("dam") == "!"))["err"]
        # the relay still serves everyone
        ack = await good.get("still").put({"ok": 1})
        assert ack["ok"] is True
    finally:
        await ws.close()
        await good.close()


async def test_local_invalid_put_raises() -> None:
    g = Gun()
    await g.start()
    try:
        with pytest.raises(InvalidDataError):
            g.get("x").put({"list": [1, 2]})
        with pytest.raises(InvalidDataError):
            g.get("x").put(5)
        with pytest.raises(InvalidDataError):
            g.get("x").put({"n": float("nan")})
        with pytest.raises(GunError):
            g.get("")
    finally:
        await g.close()


async def test_oversized_frame_is_refused_and_reported() -> None:
    r = await Relay(max_frame=1000).start()
    try:
        ws = await raw_client(r.url)
        await ws.send(json.dumps({"#": "big", "put": {"s": "x" * 5000}}))
        reply = await recv_until(ws, lambda m: m.get("dam") == "!")
        assert reply["err"] == "Message too big!"
        assert any("max_frame=1000" in e.error for e in r.bus.events(trace.Error))
        await ws.close()
    finally:
        await r.stop()


async def test_frames_above_one_mib_are_accepted(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        big = "y" * (2 * 1024 * 1024)
        await a.get("big/blob").put({"data": big})
        assert await b.get("big/blob").get("data").once(timeout=5) == big
    finally:
        await a.close()
        await b.close()


async def test_wrong_path_gets_400(relay: Relay) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        await connect(relay.url.replace("/gun", "/other"))
    assert info.value.response.status_code == 400
    ws = await connect(relay.url + "?x=1")  # the query string is ignored, as ws 7 does
    await ws.close()


async def test_relay_restart_from_store_loses_no_acked_write(tmp_path: Path) -> None:
    store = tmp_path / "relay.sqlite3"
    r = await Relay(store=store).start()
    port = r.port
    a = await relay_peer(r)
    acks = [await a.get("log").get(f"e{i}").put({"i": i}) for i in range(20)]
    assert all(x["ok"] is True for x in acks)
    await r.stop()
    r2 = await Relay(store=store, port=port).start()
    try:
        b = await relay_peer(r2)
        got = await b.get("log").map().once(timeout=5)
        assert {k: v["i"] for k, v in got.items()} == {f"e{i}": i for i in range(20)}
        # a reconnects by itself to the restarted relay on the same port
        await a.wait_connected(10)
        await a.get("log").get("after").put({"i": 99})
        assert await b.get("log").get("after").get("i").once(timeout=5) == 99
        await b.close()
    finally:
        await a.close()
        await r2.stop()


async def test_close_leaves_no_task_behind(relay: Relay) -> None:
    before = asyncio.all_tasks()
    a = await relay_peer(relay)
    await a.get("t").put({"x": 1})
    await a.close()

    def left_tasks() -> set[asyncio.Task[Any]]:
        return {t for t in asyncio.all_tasks() - before if not t.get_name().startswith("ws-")}

    # the tasks close() cancelled end within a few loop turns; one left running fails here
    with contextlib.suppress(TimeoutError):
        await until(lambda: not left_tasks(), 2)
    left = left_tasks()
    ours = [t for t in asyncio.all_tasks() - before]
    assert not left, left
    assert all(t.done() for t in ours if t.get_name() in ("ws-writer",)), ours


async def test_on_as_async_iterator(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        sub = b.get("feed").map().on()
        await asked(relay, "feed")
        for i in range(3):
            a.get("feed").get(f"k{i}").put(i)
        got = []
        async with asyncio.timeout(5):
            async for value, key in sub:
                got.append((key, value))
                if len(got) == 3:
                    break
        sub.close()
        assert sorted(got) == [("k0", 0), ("k1", 1), ("k2", 2)]
    finally:
        await a.close()
        await b.close()


async def test_set_adds_items_with_fresh_souls(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        r1 = a.get("todo").set({"title": "one"})
        r2 = a.get("todo").set({"title": "two"})
        await r1
        await r2
        assert r1.soul != r2.soul
        items = await b.get("todo").map().once(timeout=5)
        assert sorted(v["title"] for v in items.values()) == ["one", "two"]
    finally:
        await a.close()
        await b.close()


async def test_big_node_comes_back_in_guns_chunks(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        data = {f"k{i:02}": i for i in range(30)}
        await a.get("chunky").put(data)
        assert await b.get("chunky").once(timeout=5) == data
        replies = [
            e.msg
            for e in relay.bus.events(trace.Said)
            if e.msg.get("put") and "chunky" in e.msg["put"] and e.msg.get("@")
        ]
        assert len(replies) >= 4 and all(
            len([k for k in r["put"]["chunky"] if k != "_"]) <= 9 for r in replies
        )
        assert all("%" in r for r in replies[:-1])  # each chunk names the next, as gun does
    finally:
        await a.close()
        await b.close()


async def test_on_reports_each_new_value_once(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        calls: list[tuple[str, Any]] = []
        b.get("feed2").map().on(lambda v, k: calls.append((k, v)))
        await asked(relay, "feed2")
        await a.get("feed2").get("m").put({"t": 1})  # the link and its node in one put
        await until(lambda: len(calls) >= 1)
        await a.get("feed2").get("m").put({"t": 2})
        await until(lambda: len(calls) >= 2)
        await asyncio.sleep(0.2)  # holding quiet IS the check: no third call may come
        assert calls == [("m", {"t": 1}), ("m", {"t": 2})]
    finally:
        await a.close()
        await b.close()


async def test_a_relay_asks_again_when_a_relay_it_dialled_restarts(tmp_path: Path) -> None:
    """Y dials X (one way). X restarts and forgets Y's subscriptions; Y asks again for the
    souls its clients follow when X says hi, so X's puts reach Y's clients again (without
    it, they never did: found by the federation test)."""
    x = await Relay(store=tmp_path / "x.sqlite3").start()
    port = x.port
    y = await Relay(peers=[x.url]).start()
    cy = await relay_peer(y)
    seen: dict[str, Any] = {}
    cy.get("news").map().on(lambda v, k: seen.__setitem__(k, v))
    await asked(y, "news")
    await y.gun.wait_connected(5)
    cx = await relay_peer(x)
    try:
        await cx.get("news").get("before").put("one")
        await until(lambda: seen.get("before") == "one")
        await cx.close()
        await x.stop()
        x = await Relay(store=tmp_path / "x.sqlite3", port=port).start()
        await y.gun.wait_connected(10)  # Y redials X by itself
        await asked(x, "news")  # ... and asks again for what its clients follow
        cx = await relay_peer(x)
        await cx.get("news").get("after").put("two")
        await until(lambda: seen.get("after") == "two")
    finally:
        await cx.close()
        await cy.close()
        await y.stop()
        await x.stop()


async def test_asking_a_dialled_relay_again_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``MAX_REASK`` souls, a relay asks again for the first ones only, and says so."""
    from gunrtc_kit import root

    monkeypatch.setattr(root, "MAX_REASK", 2)
    x = await Relay().start()
    y = await Relay(peers=[x.url]).start()
    cy = await relay_peer(y)
    try:
        for soul in ("s1", "s2", "s3"):
            cy.get(soul).on(lambda *_: None)
            await asked(y, soul)
        await y.gun.wait_connected(5)
        x_port = x.port
        await x.stop()
        x = await Relay(port=x_port).start()
        await y.bus.until(
            lambda e: isinstance(e, trace.Error) and "MAX_REASK" in e.error, 10, past=True
        )
        await asked(x, "s1")
        await asked(x, "s2")
        assert not any(
            isinstance(e, trace.Heard) and (e.msg.get("get") or {}).get("#") == "s3"
            for e in x.bus.history
        )
    finally:
        await cy.close()
        await y.stop()
        await x.stop()


async def test_a_stale_room_announcement_still_reaches_the_room(relay: Relay) -> None:
    """Peers joining a WebRTC room at once all write its '+': an announcement that loses to
    a newer one changes nothing at the relay, yet must reach the room (its replies are the
    offers). A stale put of a data soul is not passed on (``test_put_replies``)."""
    a, b, s = [await relay_peer(relay) for _ in range(3)]
    soul = "/RTC/crowd<?99"
    heard: list[Any] = []
    try:
        s.on_heard_put(soul, lambda _soul, node, _msg: heard.append(node.get("+")))
        s.watch(soul, lambda *_: None)
        await asked(relay, soul)
        a.put_graph({soul: {"_": {"#": soul, ">": {"+": 2000.0}}, "+": "newer"}})
        await until(lambda: "newer" in heard)
        b.put_graph({soul: {"_": {"#": soul, ">": {"+": 1000.0}}, "+": "older"}})
        await until(lambda: "older" in heard)
        assert relay.gun.graph.nodes[soul]["+"] == "newer"  # HAM kept the newer one
    finally:
        for p in (a, b, s):
            await p.close()
