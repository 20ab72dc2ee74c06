"""``Chain.set`` and ``UserChain.set`` refuse the same bad input the same way: an item that is
neither an object nor a link is ``InvalidDataError`` (bad Gun data, as ``put`` says of a bad
value), and ``set()`` after ``map()`` is a ``GunError`` naming it, in the same words. Nothing
is written by a refused ``set``."""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit import Gun
from gunrtc_kit.errors import GunError, InvalidDataError

PUB = "A" * 43 + "." + "B" * 43


@pytest.mark.parametrize("item", [5, "text", None, [1, 2], True])
async def test_a_set_item_that_is_not_an_object_or_link_is_invalid_data(item: Any) -> None:
    gun = await Gun().start()
    try:
        chains = {"chain": gun.get("list"), "user chain": gun.user(PUB).get("list")}
        errors = {}
        for what, chain in chains.items():
            with pytest.raises(InvalidDataError) as err:
                chain.set(item)
            errors[what] = (type(err.value), str(err.value))
        assert errors["chain"] == errors["user chain"]
        assert errors["chain"][1] == f"set({item!r}): a set item is an object or a link"
        assert gun.graph.nodes == {}  # refused before anything was written
    finally:
        await gun.close()


async def test_set_after_map_is_refused_alike() -> None:
    gun = await Gun().start()
    try:
        for chain in (gun.get("list").map(), gun.user(PUB).get("list").map()):
            with pytest.raises(GunError, match=r"^set\(\) after map\(\) is not supported$"):
                chain.set({"a": 1})
        assert gun.graph.nodes == {}
    finally:
        await gun.close()


async def test_on_is_typed_by_its_callback() -> None:
    """``on()`` with no callback gives a ``Subscription`` (for ``async for``), with one the
    unsubscribe function (the ``@overload`` says so to type checkers; this says so at run
    time)."""
    from gunrtc_kit.chain import Subscription

    gun = await Gun().start()
    try:
        sub = gun.get("x").on()
        assert isinstance(sub, Subscription)
        sub.close()
        off = gun.get("x").on(lambda value, key: None)
        assert callable(off) and not isinstance(off, Subscription)
        off()
    finally:
        await gun.close()
