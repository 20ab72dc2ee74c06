"""Keys held for their future state: one heap, one timer (gun.js keeps a timer per key).

HAM holds back a key whose state is ahead of our clock until our clock gets there; it is
then merged as if it arrived then (``held``), and an ack waiting on it is sent. At most
``MAX_DEFERRED`` keys wait at once, and a read right after a write waits up to ``SETTLE_MS``
for keys of its soul held back that little (a peer whose clock ran a fraction ahead)."""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import TYPE_CHECKING

from gunrtc_kit import root
from gunrtc_kit.root import merge

if TYPE_CHECKING:
    from gunrtc_kit.core.graph import Deferred
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun


class DeferredQueue:
    """The keys waiting for their time, soonest first, the timer that wakes them, and the ids
    of puts whose ack waits for them (a put of future keys only is acked when they land)."""

    __slots__ = ("acks", "gun", "heap", "seq", "timer")

    def __init__(self, gun: Gun) -> None:
        self.gun = gun
        self.heap: list[tuple[float, int, Deferred, Message]] = []
        self.seq = 0
        self.timer: asyncio.TimerHandle | None = None
        self.acks: dict[str, None] = {}  # a set, as a dict: lighter empty, one per peer

    def defer(self, deferred: list[Deferred], msg: Message) -> int:
        """Hold keys whose state is in the future until their time. Returns how many were
        refused because ``MAX_DEFERRED`` keys already wait."""
        refused = 0
        for d in deferred:
            if len(self.heap) >= root.MAX_DEFERRED:
                refused += 1
                continue
            self.seq += 1
            heapq.heappush(self.heap, (d.due, self.seq, d, msg))
        if refused:
            self.gun._error(f"{refused} deferred keys refused (max {root.MAX_DEFERRED} waiting)")
        if deferred:
            self._arm()
        return refused

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
        if not merge.after_merge(gun, result.diff, result.deferred, msg, mid, undo, held=True):
            return
        self.defer(result.deferred, msg)
        if result.accepted and mid in self.acks:
            del self.acks[mid]
            gun._commit.queue_ack(mid)

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
