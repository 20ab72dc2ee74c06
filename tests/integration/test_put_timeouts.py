"""Every put's ack timeout is served by one queue and one timer (a timer per put was 14% of
a burst of puts): each put still fails at its own deadline, an acked put is not failed later,
and ``close`` leaves no timer behind."""

from __future__ import annotations

import asyncio

import pytest

from gunrtc_kit import Gun
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from tests.helpers import MeshPair


async def test_unacked_puts_fail_each_at_their_own_deadline_with_one_timer() -> None:
    async with MeshPair() as net:  # plain peers: b hears the puts but never acks
        a = net.a
        a.ack_timeout = 0.3
        loop = asyncio.get_running_loop()
        first = a.get("s").get("k0").put(0)
        t0 = loop.time()
        await asyncio.sleep(0.15)  # the second put's deadline is 0.15 s after the first's
        second = a.get("s").get("k1").put(1)
        t1 = loop.time()
        assert a._timeout_timer is not None and len(a._timeouts) == 2
        with pytest.raises(GunTimeoutError, match="no ack for put"):
            await first
        failed_first = loop.time()
        assert not second.done()
        with pytest.raises(GunTimeoutError):
            await second
        failed_second = loop.time()
        # never early; late only by the loop's delay (generous: a loaded 2-core CI runner
        # can stall the loop for a while; the order above already shows one deadline each)
        assert 0.3 <= failed_first - t0 < 0.3 + 1.0
        assert 0.3 <= failed_second - t1 < 0.3 + 1.0
        assert not a._timeouts and a._timeout_timer is None


async def test_an_acked_put_is_not_failed_at_its_deadline_and_close_drops_the_timer() -> None:
    a = Gun()
    a.ack_timeout = 0.2
    await a.start()
    try:
        acked = a.get("s").get("k").put(1)
        # hand the put its ack as a peer would
        rid = acked.id
        a._asks[rid].fn({"@": rid, "ok": {"": 1}})
        assert (await acked)["ok"] == {"": 1}
        pending = a.get("s").get("j").put(2)
        assert a._timeout_timer is not None
    finally:
        await a.close()
    assert a._timeout_timer is None and not a._timeouts
    with pytest.raises(GunError, match="closed"):
        await pending


async def test_a_started_peer_keeps_every_attribute_in_its_slots() -> None:
    # Gun lists its attributes in __slots__ (an instance dict was 1.5 KiB per peer); one
    # added in __init__ without a slot would silently bring the dict back
    a = Gun()
    await a.start()
    try:
        a.get("s").get("k").put(1)
        assert a.__dict__ == {}, f"not in Gun.__slots__: {sorted(a.__dict__)}"
    finally:
        await a.close()
    assert a.__dict__ == {}
