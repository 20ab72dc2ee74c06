"""Keys held for their future state: one heap, one timer (gun.js keeps a timer per key).

HAM holds back a key whose state is ahead of our clock until our clock gets there; it is
then merged as if it arrived then (``held``), and an ack waiting on it is sent. At most
``MAX_DEFERRED`` keys wait at once, and a read right after a write waits up to ``SETTLE_MS``
for keys of its soul held back that little (a peer whose clock ran a fraction ahead).

A put whose every key was held (``acks``: its ack waits for them) is answered by us, once:
``ok`` when the first of its keys lands and HAM takes it, nothing when every one of them lost
to a newer write by then (as a put that loses on arrival: Gun.js's storage acks neither), or
the store's ``err``. Either way its entry goes when its last key is applied: ``held`` counts
the keys of each put still waiting, so ``acks`` and ``held`` never hold more puts than the
heap holds keys (``MAX_DEFERRED``). A relay passes such a put on to its subscribers only once
a key of it landed, after its own ack (Gun.js's AXE relay too holds it back until then): a
subscriber that heard it at once could answer the writer before we did, with a forged
``ok`` or ``err`` (issue 22)."""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import TYPE_CHECKING

from gunrtc_kit import root
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.root import merge

if TYPE_CHECKING:
    from gunrtc_kit.core.graph import Deferred
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun


class _Held:
    """One put with keys in the heap: how many, and the peer it came from (a relay passes
    it on to the others once a key lands)."""

    __slots__ = ("keys", "via")

    def __init__(self, via: MeshPeer | None) -> None:
        self.keys = 0
        self.via = via


class DeferredQueue:
    """The keys waiting for their time, soonest first, the timer that wakes them, the puts
    they belong to (``held``), and the ids of puts whose ack waits for them (a put of future
    keys only is acked when they land)."""

    __slots__ = ("acks", "gun", "heap", "held", "seq", "timer")

    def __init__(self, gun: Gun) -> None:
        self.gun = gun
        self.heap: list[tuple[float, int, Deferred, Message]] = []
        self.seq = 0
        self.timer: asyncio.TimerHandle | None = None
        self.acks: dict[str, None] = {}  # a set, as a dict: lighter empty, one per peer
        self.held: dict[str, _Held] = {}  # put id -> its keys in the heap

    def defer(self, deferred: list[Deferred], msg: Message) -> int:
        """Hold keys whose state is in the future until their time. Returns how many were
        refused because ``MAX_DEFERRED`` keys already wait."""
        refused = 0
        mid = str(msg.get("#", ""))
        put = self.held.get(mid)
        for d in deferred:
            if len(self.heap) >= root.MAX_DEFERRED:
                refused += 1
                continue
            if put is None:
                put = self.held[mid] = _Held(self._via(mid))
            put.keys += 1
            self.seq += 1
            heapq.heappush(self.heap, (d.due, self.seq, d, msg))
        if refused:
            self.gun._error(f"{refused} deferred keys refused (max {root.MAX_DEFERRED} waiting)")
        if deferred:
            self._arm()
        return refused

    def _via(self, mid: str) -> MeshPeer | None:
        """The peer put ``mid`` was heard from (its dedup entry says, while it is new)."""
        entry = self.gun.dup.get(mid)
        via = entry.via if entry is not None else None
        return via if isinstance(via, MeshPeer) else None

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.heap or self.gun.closed:
            return
        due = self.heap[0][0]
        delay = min(max(due - self.gun.machine(), 0.0), root.MAX_DEFER_MS) / 1000.0
        self.timer = self.gun._sched.call_later(delay + 0.001, self._run)

    def _run(self) -> None:
        self.timer = None
        now = self.gun.machine()
        while self.heap and self.heap[0][0] <= now:
            _, _, d, msg = heapq.heappop(self.heap)
            self._apply(d, msg)
        self._arm()

    def _apply(self, d: Deferred, msg: Message) -> None:
        gun = self.gun
        node = {"_": {"#": d.soul, ">": {d.key: d.state}}, d.key: d.value}
        undo = gun._commit.undo_record({d.soul: node}) if gun.store is not None else None
        result = gun.graph.merge({d.soul: node}, gun.machine())
        mid = str(msg.get("#", ""))
        kept = merge.after_merge(gun, result.diff, result.deferred, msg, mid, undo, held=True)
        if kept:
            self.defer(result.deferred, msg)
        put = self._release(mid)
        if mid not in self.acks:
            return
        if not kept:
            del self.acks[mid]  # the store failed: the writer gets its ``err`` from the commit
        elif result.accepted:
            del self.acks[mid]
            gun._commit.queue_ack(mid)
            if gun.super_peer and put is not None and put.via is not None:
                gun._commit.forward(msg, put.via)  # to the subscribers, after our ack
        elif mid not in self.held:
            del self.acks[mid]  # every key lost to a newer write: no ack (as on arrival)

    def _release(self, mid: str) -> _Held | None:
        """One key of put ``mid`` left the heap: the put's entry, dropped with its last key."""
        put = self.held.get(mid)
        if put is not None:
            put.keys -= 1
            if put.keys <= 0:
                del self.held[mid]
        return put

    async def settle(self, soul: str, deadline: float) -> None:
        """Wait (until ``deadline`` at most) for keys of ``soul`` held back for at most
        ``SETTLE_MS``: a write made in the same millisecond on a peer whose clock ran a
        fraction ahead is deferred until ours gets there, and a read right after it should
        see it, not miss it by a millisecond. Further-future states are not waited for."""
        gun = self.gun
        loop = gun._sched.loop
        clock = gun.machine
        while True:
            now = math.floor(clock.now_ms()) + clock.drift
            due = [d.due for d, _ in ((e[2], e[3]) for e in self.heap) if d.soul == soul]
            soon = [t for t in due if t <= now + root.SETTLE_MS]
            left = deadline - loop.time()
            if not soon or left <= 0 or gun.closed:
                return
            await asyncio.sleep(min(max(min(soon) - now, 0.0) / 1000.0 + 0.002, left))

    def close(self) -> None:
        """Drop the held keys and their timer (the root is closing)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.heap.clear()
        self.held.clear()
        self.acks.clear()
