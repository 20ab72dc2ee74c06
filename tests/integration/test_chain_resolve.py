"""Chains re-resolve their links: ``get(x).get(y).get(z).on(cb)`` follows ``x.y`` wherever it
points, whenever it arrives or changes, between two real ``Gun`` roots over in-memory wires.

Every wait is on an event the callback sets (bounded by ``asyncio.timeout``); a check that
something did *not* happen waits for a later write on the same path first, so the order of
delivery, not a sleep, says the earlier write was seen and ignored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gunrtc_kit import Gun, GunError, Relay
from tests.helpers import MeshPair

pytestmark = pytest.mark.asyncio

WAIT = 5.0


class Calls:
    """A recording ``on`` callback whose awaits wait for a given call, not for a time."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, value: Any, key: str) -> None:
        self.calls.append((value, key))
        self._changed.set()

    async def until(self, pred: Callable[[list[tuple[Any, str]]], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not pred(self.calls):
                self._changed.clear()
                await self._changed.wait()

    async def value(self, value: Any, key: str) -> None:
        """Wait until ``(value, key)`` is the latest call."""
        await self.until(lambda c: bool(c) and c[-1] == (value, key))


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Gun, Gun]]:
    # acks=True: each root acks a put once merged, so awaiting b's put means a holds it
    async with MeshPair(acks=True) as net:
        yield net.a, net.b


def watchers(gun: Gun) -> dict[str, list[Any]]:
    return {soul: list(fns) for soul, fns in gun._watch.items()}


async def test_on_before_the_link_exists_reports_when_link_and_node_arrive(
    pair: tuple[Gun, Gun],
) -> None:
    a, b = pair
    cb = Calls()
    a.get("x").get("y").get("z").on(cb)
    await b.get("n1").put({"z": "v1"})  # the node first, under a soul of its own
    await b.get("x").get("y").put({"#": "n1"})  # then the link that leads to it
    await cb.value("v1", "z")
    assert cb.calls == [("v1", "z")]


async def test_on_follows_the_link_when_it_arrives_before_its_node(
    pair: tuple[Gun, Gun],
) -> None:
    a, b = pair
    cb = Calls()
    a.get("x").get("y").get("z").on(cb)
    await b.get("x").get("y").put({"#": "later"})
    b.get("later").put({"z": 7})
    await cb.value(7, "z")


async def test_repointing_a_link_on_the_path_moves_the_subscription(
    pair: tuple[Gun, Gun],
) -> None:
    a, b = pair
    await b.get("n1").put({"z": "one"})
    await b.get("n2").put({"z": "two"})
    await b.get("x").get("y").put({"#": "n1"})
    cb = Calls()
    a.get("x").get("y").get("z").on(cb)
    await cb.value("one", "z")
    b.get("x").get("y").put({"#": "n2"})
    await cb.value("two", "z")
    # the old node is no longer followed: its change is not reported, the new node's is
    b.get("n1").put({"z": "one again"})
    b.get("n2").put({"z": "two again"})
    await cb.value("two again", "z")
    assert cb.calls == [("one", "z"), ("two", "z"), ("two again", "z")]
    assert "n1" not in a._watch


async def test_repointing_to_an_equal_value_is_not_reported_again(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    await b.get("e1").put({"z": "same"})
    await b.get("e2").put({"z": "same"})
    await b.get("x").get("y").put({"#": "e1"})
    cb = Calls()
    a.get("x").get("y").get("z").on(cb)
    await cb.value("same", "z")
    b.get("x").get("y").put({"#": "e2"})
    b.get("e2").put({"z": "changed"})
    await cb.value("changed", "z")
    assert cb.calls == [("same", "z"), ("changed", "z")]


async def test_map_on_follows_a_link_that_arrives_later_and_moves(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    cb = Calls()
    a.get("x").get("y").map().on(cb)
    await b.get("list1").put({"p": {"t": 1}, "q": 2})
    await b.get("x").get("y").put({"#": "list1"})
    await cb.until(lambda c: ({"t": 1}, "p") in c and (2, "q") in c)
    await b.get("list2").put({"r": 3})
    b.get("x").get("y").put({"#": "list2"})
    await cb.value(3, "r")
    b.get("list1").get("p").put({"t": 9})  # the old list: no longer followed
    b.get("list2").get("r").put(4)
    await cb.value(4, "r")
    assert ({"t": 9}, "p") not in cb.calls


async def test_map_on_item_relinked_stops_following_the_old_item(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    await b.get("i1").put({"t": "first"})
    await b.get("i2").put({"t": "second"})
    await b.get("box").get("item").put({"#": "i1"})
    cb = Calls()
    a.get("box").map().on(cb)
    await cb.value({"t": "first"}, "item")
    b.get("box").get("item").put({"#": "i2"})
    await cb.value({"t": "second"}, "item")
    assert "i1" not in a._watch


async def test_unsubscribe_removes_every_watcher_it_made(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    keep = a.get("x").on(lambda v, k: None)  # someone else's watcher on a soul we share
    before = watchers(a)
    cb = Calls()
    off = a.get("x").get("y").get("z").on(cb)
    off_map = a.get("x").get("y").map().on(cb)
    await b.get("n1").put({"z": 1, "w": {"#": "n2"}})
    await b.get("n2").put({"v": 2})
    await b.get("x").get("y").put({"#": "n1"})  # both subscriptions move to n1 (and n2)
    await cb.until(lambda c: (1, "z") in c and ({"v": 2}, "w") in c)
    assert {"x", "n1", "n2"} <= set(a._watch)
    off()
    off_map()
    assert watchers(a) == before
    keep()
    assert a._watch == {}


async def test_async_for_subscription_follows_a_late_link(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    sub = a.get("x").get("y").get("z").on()
    await b.get("n1").put({"z": "hi"})
    await b.get("x").get("y").put({"#": "n1"})
    async with asyncio.timeout(WAIT):
        async for value, key in sub:
            assert (value, key) == ("hi", "z")
            break
    sub.close()
    assert a._watch == {}


async def test_a_link_cycle_on_the_path_is_followed_step_by_step(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    cb = Calls()
    chain = a.get("x").get("y").get("y").get("y").get("z")
    chain.on(cb)
    await b.get("x").get("y").put({"#": "x"})  # x.y leads back to x
    b.get("x").get("z").put("end")
    await cb.value("end", "z")
    assert await chain.once(timeout=WAIT) == "end"
    assert set(a._watch) == {"x"}


async def test_once_follows_links_put_by_another_peer(pair: tuple[Gun, Gun]) -> None:
    a, b = pair
    await b.get("n1").put({"z": {"deep": True}})
    await b.get("x").get("y").put({"#": "n1"})
    assert await a.get("x").get("y").get("z").once(timeout=WAIT) == {"deep": True}
    assert await a.get("x").get("y").get("z").get("deep").once(timeout=WAIT) is True


async def test_through_a_relay_a_late_link_and_a_repoint_are_followed() -> None:
    relay = await Relay().start()
    a, b = Gun([relay.url]), Gun([relay.url])
    try:
        for g in (a, b):
            await g.start()
            await g.wait_connected(WAIT)
        cb = Calls()
        a.get("x").get("y").get("z").on(cb)
        await b.get("r1").put({"z": "via relay"})  # the relay acks once it holds it
        await b.get("x").get("y").put({"#": "r1"})
        await cb.value("via relay", "z")
        await b.get("r2").put({"z": "moved"})
        await b.get("x").get("y").put({"#": "r2"})
        await cb.value("moved", "z")
    finally:
        await a.close()
        await b.close()
        await relay.stop()


async def test_path_length_is_bounded() -> None:
    gun = Gun()
    chain = gun.get("k0")
    for i in range(1, 64):
        chain = chain.get(f"k{i}")
    assert len(chain.path) == 64
    with pytest.raises(GunError, match="64"):
        chain.get("one too many")
