"""A relay with a store keeps memory as a cache of it (issue 22, part 1): it starts without
reading the store, reads souls on demand into a cache bounded in bytes, merges a put into a
cold soul by HAM against the stored node, answers lex GETs from the store's index, and never
loses an acknowledged write by evicting it. 100,000 souls, a cache of a few hundred KiB."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import Relay, root, trace
from gunrtc_kit import store as store_module
from gunrtc_kit.errors import StoreError
from gunrtc_kit.root import Gun
from gunrtc_kit.root.cache import NodeCache
from gunrtc_kit.root.merge import after_merge
from gunrtc_kit.store import SQLiteStore
from tests.adversarial.hostile import messages, raw_client, wait_reply
from tests.unit.test_store import damaged_store

SOULS = 100_000
OLD = 1_000  # the state every stored key has: older than any put made now
CACHE_MB = 0.25


def soul(i: int) -> str:
    return f"s{i:06}"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 100,000 souls (two keys each), written through the store's own API in one
    transaction (about a second)."""
    path = tmp_path_factory.mktemp("cache") / "made.sqlite3"
    store = SQLiteStore(path)
    store.write(
        {
            soul(i): {"_": {"#": soul(i), ">": {"v": OLD, "t": OLD}}, "v": i, "t": f"text {i}"}
            for i in range(SOULS)
        }
    )
    store.commit()
    store.close()
    return path


@pytest.fixture
def store_file(made: Path, tmp_path: Path) -> Path:
    path = tmp_path / "relay.sqlite3"
    shutil.copy(made, path)
    return path


def cache_of(relay: Relay) -> NodeCache:
    return cache_of_gun(relay.gun)


def put_msg(mid: str, s: str, key: str, value: Any, state: float) -> str:
    return json.dumps({"#": mid, "put": {s: {"_": {"#": s, ">": {key: state}}, key: value}}})


async def get(ws: Any, mid: str, ask: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every soul of a GET's answer (all its ``%`` chunks), values only."""
    await ws.send(json.dumps({"#": mid, "get": ask}))
    got: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(20):
        while True:  # every message of every frame: a frame may carry several replies
            for m in messages(await ws.recv()):
                if m.get("@") != mid:
                    continue
                for s, node in (m.get("put") or {}).items():
                    got.setdefault(s, {}).update({k: v for k, v in node.items() if k != "_"})
                if "%" not in m:
                    return got


async def test_startup_reads_nothing_and_reading_random_souls_stays_in_the_bound(
    store_file: Path,
) -> None:
    # check_store=False: as a file past CHECK_BYTES opens (this one is small enough to be
    # checked whole by default, a PRAGMA that reads every page)
    async with Relay(store=store_file, cache_mb=CACHE_MB, check_store=False) as relay:
        store = relay._store
        assert store is not None and not store.checked
        cache = cache_of(relay)
        # the relay is listening and has read no row of its store
        assert (store.queries, store.rows_read) == (0, 0)
        assert len(cache) == 0 and cache.bytes == 0
        rng = random.Random(22)
        peak = 0
        for _ in range(20_000):
            i = rng.randrange(SOULS)
            found = relay.gun.graph.read({"#": soul(i)})
            assert found == {
                soul(i): {"_": {"#": soul(i), ">": {"v": OLD, "t": OLD}}, "v": i, "t": f"text {i}"}
            }
            peak = max(peak, cache.bytes)
        assert peak <= cache.max_bytes == int(CACHE_MB * 2**20)
        assert cache.evictions > 10_000  # the bound was reached again and again
        assert 100 < len(cache) < 2_000
        # each miss was one indexed query of the node's rows, never a scan
        assert store.rows_read == 2 * store.queries == 2 * cache.loads


async def test_a_cold_soul_is_answered_over_the_wire_and_a_put_merges_by_ham(
    store_file: Path,
) -> None:
    async with Relay(store=store_file, cache_mb=CACHE_MB) as relay:
        cache = cache_of(relay)
        async with raw_client(relay.url) as ws:
            assert await get(ws, "g1", {"#": soul(4242)}) == {
                soul(4242): {"v": 4242, "t": "text 4242"}
            }
            assert await get(ws, "g2", {"#": soul(77), ".": "t"}) == {soul(77): {"t": "text 77"}}
            # an older state loses against the stored node, though the soul was cold
            assert soul(123) not in dict.keys(cache)
            await ws.send(put_msg("old", soul(123), "v", "older", OLD - 1))
            await ws.send(put_msg("new", soul(124), "v", "newer", OLD + 1))
            assert (await wait_reply(ws, "new", 5)).get("ok")  # after "old" was merged
            assert await get(ws, "g3", {"#": soul(123)}) == {soul(123): {"v": 123, "t": "text 123"}}
            # a newer one wins, and the keys it did not name stay
            assert await get(ws, "g4", {"#": soul(124)}) == {
                soul(124): {"v": "newer", "t": "text 124"}
            }
    store = SQLiteStore(store_file)
    try:
        assert store.read_node(soul(123)) == {
            "_": {"#": soul(123), ">": {"t": OLD, "v": OLD}},
            "t": "text 123",
            "v": 123,
        }
        assert (store.read_node(soul(124)) or {}).get("v") == "newer"
    finally:
        store.close()


async def test_lex_gets_read_the_index_not_every_soul(store_file: Path) -> None:
    async with Relay(store=store_file, cache_mb=CACHE_MB) as relay:
        store = relay._store
        assert store is not None
        async with raw_client(relay.url) as ws:
            got = await get(ws, "lex1", {"#": {"*": "s0421"}})
            assert sorted(got) == [soul(i) for i in range(42_100, 42_200)]
            assert got[soul(42_150)] == {"v": 42_150, "t": "text 42150"}
            assert store.rows_read <= 2 * 100 + 1  # the 100 souls' rows, not a scan
            rows = store.rows_read
            got = await get(ws, "lex2", {"#": {">": "s099990", "-": 1}})
            assert sorted(got) == [soul(i) for i in range(99_990, SOULS)]
            assert store.rows_read - rows <= 2 * 10 + 1
            # get-everything: capped, and reads no further than the cap (a slice more)
            rows = store.rows_read
            got = await get(ws, "all", {"#": {"*": ""}})
            assert sorted(got) == [soul(i) for i in range(root.MAX_GET_SOULS)]
            assert store.rows_read - rows <= 2 * (root.MAX_GET_SOULS + 1) + 2_000
        assert len(cache_of(relay)) < 2_000  # a lex GET reads past the cache, not into it


async def test_eviction_loses_no_acknowledged_write(store_file: Path) -> None:
    written = {soul(i): f"w{i}" for i in range(0, SOULS, 200)}  # 500 souls, cold
    async with Relay(store=store_file, cache_mb=0.05) as relay:
        cache = cache_of(relay)
        async with raw_client(relay.url) as ws:
            state = 10 * OLD
            for n, (s, value) in enumerate(written.items()):
                await ws.send(put_msg(f"w{n}", s, "v", value, state))
            acked = 0
            while acked < len(written):
                for m in messages(await ws.recv()):
                    if str(m.get("@", "")).startswith("w"):
                        assert m.get("ok") and not m.get("err"), m
                        acked += 1
            # reading other souls evicts the written ones from memory
            for i in range(1, 3_000, 3):
                relay.gun.graph.read({"#": soul(i)})
            assert cache.bytes <= cache.max_bytes and not cache.pinned
            assert sum(s in dict.keys(cache) for s in written) < 50
            # and they are read back from the store as written
            for s, value in list(written.items())[:50]:
                assert (relay.gun.graph.read({"#": s}) or {})[s]["v"] == value
    store = SQLiteStore(store_file)  # and after a restart, every one of them
    try:
        assert {s: (store.read_node(s) or {}).get("v") for s in written} == written
    finally:
        store.close()


async def test_a_write_rolled_back_after_its_soul_was_evicted_reads_back_as_before(
    store_file: Path,
) -> None:
    async with Relay(store=store_file, cache_mb=0.01) as relay:
        store = relay._store
        assert store is not None
        store.db.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON graph WHEN NEW.value = '\"poison\"' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        async with raw_client(relay.url) as ws:
            await ws.send(put_msg("bad", soul(9), "v", "poison", 10 * OLD))
            assert "disk says no" in (await wait_reply(ws, "bad", 5))["err"]
            for i in range(1000, 1100):
                relay.gun.graph.read({"#": soul(i)})
            assert await get(ws, "g", {"#": soul(9)}) == {soul(9): {"v": 9, "t": "text 9"}}


async def test_a_big_store_opens_unchecked_and_a_damaged_page_is_named_when_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``CHECK_BYTES`` the file is not read whole at open (startup would cost a read of
    everything): a damaged page is then named when a read reaches it, and the asker told."""
    f, want = damaged_store(tmp_path)
    monkeypatch.setattr(store_module, "CHECK_BYTES", 1000)  # the small file counts as big
    async with Relay(store=f) as relay:
        store = relay._store
        assert store is not None and not store.checked
        bad: list[str] = []
        for s in sorted({s for s, _ in want}):
            try:
                store.read_node(s)
            except StoreError as exc:
                assert "damaged" in str(exc) or "malformed" in str(exc), exc
                assert "--salvage" in str(exc)
                bad.append(s)
        assert bad  # the two damaged pages hold some souls' rows
        async with raw_client(relay.url) as ws:
            await ws.send(json.dumps({"#": "g", "get": {"#": bad[0]}}))
            reply = await wait_reply(ws, "g", 5)
            assert "--salvage" in reply["err"]
        assert any("--salvage" in e.error for e in relay.bus.events(trace.Error))
    with pytest.raises(StoreError, match="page"):
        SQLiteStore(f, check=True)  # and asked to, the whole file is checked at open


def test_iter_nodes_reads_whole_nodes_across_slices_in_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        graph = {
            s: {"_": {"#": s, ">": dict.fromkeys(keys, 1)}, **dict.fromkeys(keys, s)}
            for s, keys in {
                "a": ["x"],
                "b": [f"k{i:04}" for i in range(250)],  # spans three slices of 100 rows
                "c": ["y", "z"],
                "d\ud800": ["w"],  # a lone surrogate: stored as a BLOB, read after the range
                "e": ["v"],
            }.items()
        }
        store.write(graph)
        store.commit()
        got = list(store.iter_nodes(rows=100))
        assert [s for s, _ in got] == ["a", "b", "c", "e", "d\ud800"]  # TEXT, then BLOB
        assert dict(got) == graph
        got = list(store.iter_nodes("b", "d", reverse=True, rows=100))
        assert [s for s, _ in got] == ["d\ud800", "c", "b"]  # the BLOBs, for the caller to filter
        assert dict(got)["b"] == graph["b"]
        assert store.read_node("nothing") is None
    finally:
        store.close()


def test_the_cli_documents_and_checks_cache_mb(capsys: pytest.CaptureFixture[str]) -> None:
    from gunrtc_kit.cli import main

    with pytest.raises(SystemExit):
        main(["relay", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal
    assert "--cache-mb" in text and "least recently used" in text and "--check-store" in text
    with pytest.raises(SystemExit) as info:
        main(["relay", "--cache-mb", "8"])
    assert info.value.code == 2 and "--cache-mb needs --store" in capsys.readouterr().err


async def test_a_tiny_cache_merges_exactly_as_memory_does(tmp_path: Path) -> None:
    """HAM against souls read back from the store: 3,000 random puts (older states, ties,
    every kind of value) into 60 souls with a cache of a few souls give the same graph as a
    peer holding everything in memory, in the cache and on disk."""
    store = SQLiteStore(tmp_path / "s.sqlite3")
    cached = Gun(store=store, cache_bytes=4_000)
    plain = Gun()
    rng = random.Random(5)
    machine = 10**9
    for step in range(3_000):
        s, key = f"n{rng.randrange(60)}", f"k{rng.randrange(5)}"
        value = rng.choice([rng.randrange(9), f"t{rng.randrange(9)}", None, True, {"#": "x"}])
        put = {s: {"_": {"#": s, ">": {key: rng.randrange(1, 40)}}, key: value}}
        plain.graph.merge(put, machine)
        undo = cached._commit.undo_record(put)
        result = cached.graph.merge(put, machine)
        assert after_merge(cached, result.diff, result.deferred, {"#": f"m{step}"}, "", undo)
        if step % 7 == 0:
            await asyncio.sleep(0)  # the group commit of this turn runs
    await asyncio.sleep(0)
    cache = cache_of_gun(cached)
    assert cache.evictions > 1_000 and not cache.pinned
    souls = sorted(plain.graph.nodes)
    assert [cached.graph.read({"#": s}) for s in souls] == [
        plain.graph.read({"#": s}) for s in souls
    ]
    assert dict(store.load()) == {
        s: {**n, "_": {"#": s, ">": n["_"][">"]}} for s, n in plain.graph.nodes.items()
    }
    store.close()


def cache_of_gun(gun: Gun) -> NodeCache:
    nodes = gun.graph.nodes
    assert isinstance(nodes, NodeCache)
    return nodes
