"""``gun.user()`` and SEA's write checks with our peers and our relay, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from gunrtc_kit import Gun, Relay, trace
from gunrtc_kit.core import codec
from gunrtc_kit.errors import GunError, SeaError
from gunrtc_kit.sea import check as sea_check
from gunrtc_kit.sea import pair, sea_parse, sign
from gunrtc_kit.sea.check import pack, unpack
from tests.helpers import asked, relay_peer, until

pytestmark = pytest.mark.asyncio

PASSWORD = "correct horse battery"
_ids = itertools.count(1)


async def raw_put(url: str, graph: dict[str, Any]) -> dict[str, Any]:
    """A put from a bare WebSocket client (no SEA on its side); the first reply to it."""
    mid = f"forge{next(_ids)}"  # each its own id: the relay drops a repeated one as a dup
    async with connect(url) as ws:
        await ws.send(json.dumps({"#": mid, "put": graph}))
        async with asyncio.timeout(5):
            while True:
                data = json.loads(await ws.recv())
                for m in data if isinstance(data, list) else [data]:
                    if m.get("@") == mid:
                        return dict(m)


def node(soul: str, state: float, **values: Any) -> dict[str, Any]:
    return {"_": {"#": soul, ">": dict.fromkeys(values, state)}, **values}


async def test_create_auth_leave_wrong_password_and_duplicate(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        alice = a.user()
        assert a.user() is alice and alice.is_ is None
        pub = await alice.create("alice", PASSWORD)
        assert alice.is_ == {"pub": pub, "epub": alice.is_["epub"], "alias": "alice"}
        # the account as Gun.js writes it, on the relay: pub unsigned, the rest signed
        account = relay.gun.graph.nodes["~" + pub]
        assert account["pub"] == pub and unpack(account["alias"]) == "alice"
        assert set(json.loads(unpack(account["auth"]))) == {"ek", "s"}
        assert relay.gun.graph.nodes["~@alice"]["~" + pub] == {"#": "~" + pub}
        # another peer logs in; every step recorded
        bob_side = b.user()
        is_ = await bob_side.auth("alice", PASSWORD)
        assert is_["pub"] == pub and bob_side.pair() == alice.pair()
        steps = [s.step for s in bob_side.last_auth]
        assert steps == ["alias", "account", "work", "decrypt", "keys", "done"]
        bob_side.leave()
        assert bob_side.is_ is None and bob_side.pub is None and b.sea_pair is None
        with pytest.raises(GunError, match="auth"):
            bob_side.get("x")
        with pytest.raises(SeaError, match=r"^Wrong user or password\.$"):
            await bob_side.auth("alice", "not the password")
        failed = bob_side.last_auth[-2]
        assert failed.step == "decrypt" and not failed.ok and bob_side.is_ is None
        with pytest.raises(SeaError, match=r"^User already created!$"):
            await bob_side.create("alice", "another password")
        with pytest.raises(SeaError, match=r"^Wrong user or password\.$"):
            await bob_side.auth("nobody", PASSWORD, timeout=1)
    finally:
        await a.close()
        await b.close()


async def test_only_one_create_or_auth_at_a_time(relay: Relay) -> None:
    a = await relay_peer(relay)
    try:
        await a.user().create("dave", PASSWORD)
        first = asyncio.ensure_future(a.user().auth("dave", PASSWORD))
        await asyncio.sleep(0)  # one loop turn IS the setup: the first auth starts and holds
        with pytest.raises(SeaError, match="already being created or authenticated"):
            await a.user().auth("dave", PASSWORD)
        assert (await first)["alias"] == "dave"
    finally:
        await a.close()


async def test_writes_are_signed_and_reads_unpacked(relay: Relay) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        pub = await a.user().create("erin", PASSWORD)
        seen: list[Any] = []
        b.user(pub).get("status").on(lambda v, k: seen.append(v))
        await asked(relay, "~" + pub)
        ack = await a.user().get("status").put("here")
        assert ack["ok"] is True
        await until(lambda: seen and seen[-1] == "here")
        await a.user().get("profile").put({"name": "Erin", "age": 7})
        assert await b.user(pub).get("profile").once(5) == {"name": "Erin", "age": 7}
        assert await b.user("~" + pub).get("profile").get("age").once(5) == 7
        raw = relay.gun.graph.nodes["~" + pub + "/profile"]["name"]
        assert json.loads(raw)[":"] == "Erin" and json.loads(raw)["~"]  # Gun's signed text
        item = a.user().get("friends").set({"name": "Fay"})
        assert item.soul.startswith("~" + pub + "/")
        await item
        friends = await b.user(pub).get("friends").map().once(5)
        assert friends == {item.soul: {"name": "Fay"}}
        # a write into someone else's space is refused here, before it goes anywhere
        with pytest.raises(SeaError, match=r"^Unverified data\.$"):
            await b.user(pub).get("status").put("hijacked")
        assert unpack(relay.gun.graph.nodes["~" + pub]["status"]) == "here"
    finally:
        await a.close()
        await b.close()


async def test_forged_wire_write_gets_err_and_is_neither_stored_nor_relayed(
    relay: Relay,
) -> None:
    a, b = await relay_peer(relay), await relay_peer(relay)
    errors: list[trace.Error] = []
    relay.gun.bus.subscribe(lambda e: errors.append(e) if isinstance(e, trace.Error) else None)
    try:
        pub = await a.user().create("gus", PASSWORD)
        soul = "~" + pub
        await a.user().get("motto").put("honest")
        heard: list[Any] = []
        b.user(pub).get("motto").on(lambda v, k: heard.append(v))
        await until(lambda: heard == ["honest"])
        state = a.machine() + 1
        # unsigned
        reply = await raw_put(relay.url, {soul: node(soul, state, motto="forged")})
        assert reply["err"] == "Unverified data."
        # signed by another key, and naming it, without a certificate
        mallory = pair()
        sig = sea_parse(sign(pack(soul, "motto", "forged", state), mallory))["s"]
        named = codec.dumps({":": "forged", "~": sig, "*": mallory["pub"]})
        reply = await raw_put(relay.url, {soul: node(soul, state, motto=named)})
        assert reply["err"] == "Certificate verification fail."
        # an alias list entry pointing elsewhere, and a pub that is not the account's
        reply = await raw_put(relay.url, {"~@gus": node("~@gus", state, **{soul: {"#": "~x.y"}})})
        assert reply["err"] == "Alias not same!"
        reply = await raw_put(relay.url, {soul: node(soul, state, pub="x.y")})
        assert reply["err"] == "Account not same!"
        # a put mixing a refused key with a plain soul: the plain part is written and acked
        reply = await raw_put(
            relay.url, {soul: node(soul, state, motto="forged"), "plain": node("plain", 1, k=1)}
        )
        assert reply["err"] == "Unverified data."
        await until(lambda: relay.gun.graph.nodes.get("plain", {}).get("k") == 1)
        await asyncio.sleep(0.2)  # holding quiet IS the check: the forged key never lands
        assert unpack(relay.gun.graph.nodes[soul]["motto"]) == "honest"
        assert relay.gun.graph.nodes[soul]["pub"] == pub
        assert relay.gun.graph.nodes["~@gus"] == {
            "_": relay.gun.graph.nodes["~@gus"]["_"],
            soul: {"#": soul},
        }
        assert heard == ["honest"]  # nothing forged reached the subscriber
        assert any("SEA refused" in e.error and "'motto'" in e.error for e in errors)
        # the honest write goes through and on
        ack = await a.user().get("motto").put("still honest")
        assert ack["ok"] is True
        await until(lambda: heard[-1] == "still honest")
    finally:
        await a.close()
        await b.close()


async def test_content_addressed_souls_take_only_their_hash(relay: Relay) -> None:
    a = await relay_peer(relay)
    try:
        import base64

        good = base64.b64encode(sea_check.content_hash("some text")).decode()
        assert (await a.get("#").get(good).put("some text"))["ok"] is True
        with pytest.raises(SeaError, match=r"^Data hash not same as hash!$"):
            await a.get("#").get(good).put("other text")
        reply = await raw_put(relay.url, {"#": node("#", 1, **{good: "other text"})})
        assert reply["err"] == "Data hash not same as hash!"
        assert relay.gun.graph.nodes["#"][good] == "some text"
    finally:
        await a.close()


async def test_plain_graphs_never_reach_the_check(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any) -> Any:
        raise AssertionError("SEA check ran for a plain soul")

    monkeypatch.setattr(sea_check, "check_graph", boom)
    a, b = await relay_peer(relay), await relay_peer(relay)
    try:
        assert (await a.get("chat").get("m1").put({"text": "hi"}))["ok"] is True
        assert await b.get("chat").get("m1").once(5) == {"text": "hi"}
    finally:
        await a.close()
        await b.close()


async def test_signed_data_survives_a_relay_restart(tmp_path: Path) -> None:
    store = tmp_path / "relay.sqlite3"
    relay = await Relay(store=str(store)).start()
    a = await relay_peer(relay)
    pub = await a.user().create("hank", PASSWORD)
    assert (await a.user().get("k").put("v"))["ok"] is True
    await a.close()
    await relay.stop()
    relay = await Relay(store=str(store)).start()
    b = await relay_peer(relay)
    try:
        assert (await b.user().auth("hank", PASSWORD))["pub"] == pub
        assert await b.user().get("k").once(5) == "v"
    finally:
        await b.close()
        await relay.stop()


async def test_auth_never_hangs_without_peers() -> None:
    gun = Gun()
    with pytest.raises(SeaError, match="Wrong user or password."):
        await asyncio.wait_for(gun.user().auth("ghost", PASSWORD, timeout=0.3), 3)
    # with no peer, create writes locally and does not wait for an ack
    pub = await asyncio.wait_for(gun.user().create("ghost", PASSWORD), 5)
    assert gun.user().pub == pub and "~@ghost" in gun.graph.nodes


async def test_an_alias_list_grown_by_others_is_bounded_in_accounts_and_time(
    relay: Relay,
) -> None:
    # anyone may list accounts under ~@alice (Gun's check lets any self-link in): 150 bogus
    # ones, none of them real; a login tries at most MAX_ACCOUNTS and stops at its timeout
    from gunrtc_kit import user as user_mod

    bogus = {f"~bogus{i}.x": {"#": f"~bogus{i}.x"} for i in range(150)}
    ack = await raw_put(relay.url, {"~@alice": node("~@alice", 1, **bogus)})
    assert not ack.get("err"), ack
    gun = await relay_peer(relay)
    try:
        u = gun.user()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(SeaError, match="Wrong user or password."):
            await asyncio.wait_for(u.auth("alice", PASSWORD, timeout=1.0), 5)
        took = loop.time() - t0
        details = [s.detail for s in u.last_auth]
        assert any(f"only the first {user_mod.MAX_ACCOUNTS} are tried" in d for d in details)
        assert any("time ran out" in d for d in details)
        assert took < 1.0 + 0.8, took  # the timeout, plus at most one account's read
        tried = [s for s in u.last_auth if s.step == "account"]
        assert len(tried) <= user_mod.MAX_ACCOUNTS + 1
    finally:
        await gun.close()
