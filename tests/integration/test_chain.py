"""``resolve`` (the child-soul rule, step by step) and ``on()`` on one ``Gun`` with no peers:
local puts drive every change, so each report happens inside the ``put`` that caused it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gunrtc_kit import Gun, GunError, trace
from gunrtc_kit import chain as chain_module
from gunrtc_kit.chain import MAX_PATH, Chain, resolve


def test_resolve_follows_links_else_names_the_child_soul() -> None:
    nodes: dict[str, dict[str, Any]] = {
        "a": {"b": {"#": "n1"}, "p": 5},
        "n1": {"c": {"#": "n2"}},
    }
    route = resolve(nodes, ("a", "b", "c", "d"))
    assert route.souls == ("a", "n1", "n2", "n2/d")
    assert route.missing == (3,)  # n2 is not known here: its key d is what a read asks for
    assert (route.soul, route.key, route.node) == ("n2", "d", "n2/d")
    # a primitive or nothing at all leads to soul/key, as a put of an object there would
    assert resolve(nodes, ("a", "p", "x")).souls == ("a", "a/p", "a/p/x")
    assert resolve(nodes, ("a", "zz")).missing == (1,)
    one = resolve(nodes, ("a",))
    assert (one.soul, one.key, one.node, one.missing) == ("a", None, "a", ())


def test_resolve_walks_a_link_cycle_once_per_step() -> None:
    nodes: dict[str, dict[str, Any]] = {"x": {"y": {"#": "x"}}}
    route = resolve(nodes, ("x",) + ("y",) * (MAX_PATH - 1))
    assert set(route.souls) == {"x"} and route.missing == ()


def test_resolve_and_get_bound_the_path() -> None:
    with pytest.raises(GunError, match=str(MAX_PATH)):
        resolve({}, ("a",) * (MAX_PATH + 1))
    with pytest.raises(GunError):
        resolve({}, ())
    long = Chain(Gun(), ("a",) * (MAX_PATH + 1))  # made directly, not through get()
    with pytest.raises(GunError, match=str(MAX_PATH)):
        long.on(lambda v, k: None)


async def test_local_repoint_moves_on_and_map_on() -> None:
    gun = await Gun().start()
    try:
        seen: list[tuple[Any, str]] = []
        items: list[tuple[Any, str]] = []
        off = gun.get("x").get("y").get("z").on(lambda v, k: seen.append((v, k)))
        off_map = gun.get("x").get("y").map().on(lambda v, k: items.append((v, k)))
        gun.get("n1").put({"z": 1})
        gun.get("n2").put({"z": 2})
        gun.get("x").get("y").put({"#": "n1"})
        gun.get("x").get("y").put({"#": "n2"})
        gun.get("n1").put({"z": 10})  # left behind: not reported
        assert seen == [(1, "z"), (2, "z")]
        assert items == [(1, "z"), (2, "z")]
        off()
        off_map()
        assert gun._watch == {}
    finally:
        await gun.close()


async def test_a_put_from_the_callback_is_reported_after_the_current_one() -> None:
    gun = await Gun().start()
    try:
        order: list[str] = []

        def cb(value: Any, key: str) -> None:
            order.append(f"start {value}")
            if value == 1:
                gun.get("c").get("n").put(2)  # a write to the path being reported
            order.append(f"end {value}")

        off = gun.get("c").get("n").on(cb)
        gun.get("c").get("n").put(1)
        assert order == ["start 1", "end 1", "start 2", "end 2"]
        off()
    finally:
        await gun.close()


async def test_a_callback_that_always_writes_is_stopped(monkeypatch: Any) -> None:
    monkeypatch.setattr(chain_module, "MAX_CHANGES_PER_TURN", 20)
    bus = trace.TraceBus()
    gun = await Gun(bus=bus).start()
    try:
        calls: list[Any] = []

        def cb(value: Any, key: str) -> None:
            calls.append(value)
            gun.get("c").get("n").put(value + 1)

        off = gun.get("c").get("n").on(cb)
        gun.get("c").get("n").put(0)  # the root reports the callback's error, as for any
        assert len(calls) == 20
        assert any("more than 20 changes" in e.error for e in bus.events(trace.Error))
        off()
        assert gun._watch == {}
    finally:
        await gun.close()


async def test_unsubscribing_from_the_callback_stops_at_once() -> None:
    gun = await Gun().start()
    try:
        calls: list[tuple[Any, str]] = []
        offs: list[Any] = []

        def cb(value: Any, key: str) -> None:
            calls.append((value, key))
            offs[0]()

        offs.append(gun.get("m").map().on(cb))
        gun.get("m").put({"a": 1, "b": 2, "c": {"d": 3}})  # three items in one change
        assert len(calls) == 1
        assert gun._watch == {}
    finally:
        await gun.close()


async def test_once_with_no_peers_answers_from_the_local_graph_at_once() -> None:
    gun = await Gun().start()
    try:
        gun.get("n1").put({"z": "here"})
        gun.get("x").get("y").put({"#": "n1"})
        async with asyncio.timeout(1):
            assert await gun.get("x").get("y").get("z").once(timeout=30) == "here"
            assert await gun.get("x").get("nope").get("z").once(timeout=30) is None
    finally:
        await gun.close()
