"""A store failure takes the turn's writes back out of memory and answers their writers with
``err``; the next write works (hardening issue item 2, the root's half; the store's half and
the disk-full fault run in tests/adversarial/test_store_faults.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gunrtc_kit import Relay, trace
from tests.adversarial.hostile import raw_client, wait_reply

pytestmark = pytest.mark.asyncio


def put_msg(mid: str, soul: str, key: str, value: object) -> str:
    st = time.time() * 1000
    return json.dumps({"#": mid, "put": {soul: {"_": {"#": soul, ">": {key: st}}, key: value}}})


async def test_a_write_the_store_refuses_is_rolled_back_and_answered_with_err(
    tmp_path: Path,
) -> None:
    store = tmp_path / "relay.sqlite3"
    async with Relay(store=store) as relay:
        assert relay._store is not None
        # a real SQLite failure, not a mock: the database itself refuses one value
        relay._store.db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON graph WHEN NEW.value = '\"poison\"' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        async with raw_client(relay.url) as ws:
            await ws.send(put_msg("ok1", "acct", "a", 1))
            assert (await wait_reply(ws, "ok1", 5)).get("ok")
            await ws.send(put_msg("bad1", "acct", "b", "poison"))
            bad = await wait_reply(ws, "bad1", 5)
            assert "store failed" in bad["err"] and "disk says no" in bad["err"]
            assert "b" not in relay.gun.graph.nodes["acct"]  # not served from memory
            await ws.send(json.dumps({"#": "g1", "get": {"#": "acct"}}))
            got = await wait_reply(ws, "g1", 5)
            assert got["put"]["acct"].get("b") is None and got["put"]["acct"]["a"] == 1
            await ws.send(put_msg("ok2", "acct", "c", 3))  # the store recovered
            assert (await wait_reply(ws, "ok2", 5)).get("ok")
        errors = [e.error for e in relay.bus.events(trace.Error)]
        assert any("rolled back" in e for e in errors)
    async with Relay(store=store) as again:
        node = again.gun.graph.nodes["acct"]
        assert (node["a"], node.get("b"), node["c"]) == (1, None, 3)
