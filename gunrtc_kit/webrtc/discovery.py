"""Room discovery: our announcement under ``/RTC/<room><?99`` and the announcements we hear.

Why it is its own part: the room is the only way two peers with no direct mesh connection
learn of each other, and it has its own rules. Our start state decides which announcements we
offer to (only newer ones, as gun's ``opt.rtc.start``); the announcements heard are kept, bounded
by ``max_announced`` and by ``limits.ROUTE_LIFE`` (a relay forgets the reply route after
that), so ``initiate_connection`` can still reply to one; offers to us arrive as replies to our
announcement's put, listened to for ``limits.ANNOUNCE_LIFE``. The lives are read from the
manager's module at run time, so a test can shorten them."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import WebRTCError
from gunrtc_kit.webrtc import limits

if TYPE_CHECKING:
    from gunrtc_kit.webrtc.manager import Message, WebRTCManager

__all__ = ["Discovery"]


class Discovery:
    """Announces us in the room, watches it, and remembers who announced (bounded)."""

    def __init__(self, owner: WebRTCManager) -> None:
        self.owner = owner
        self.start_state: float = 0.0
        self.announce_id: str | None = None
        self.max_announced = limits.ANNOUNCED_MAX
        # pid -> (put msg id, loop time), oldest first
        self.announced: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._unwatch: Callable[[], None] | None = None

    async def start(self, soul: str) -> None:
        """Watch the room and announce us in it."""
        gun = self.owner.gun
        # our start comes first: announcements older than it (e.g. the room's current value,
        # answered to our subscription) must not make us offer (gun: opt.rtc.start)
        self.start_state = gun.machine()
        # subscribe (an AXE relay forwards announcements to subscribers only), and look at
        # every announcement heard: gun.js reacts to changes of '+', which misses an
        # announcement that reaches us after a newer one when peers join at once
        unwatch = gun.watch(soul, lambda *_: None)
        unhear = gun.on_heard_put(soul, self.on_room)

        def off() -> None:
            unwatch()
            unhear()

        self._unwatch = off
        await asyncio.sleep(0)
        self.announce()

    def announce(self) -> str:
        """Put our pid into the room (again); offers arrive as replies to this put.

        The put's own listener (``put_graph``'s, which settles the ``PutResult``) stays in
        place: ``put_graph(on_reply=...)`` hands us every reply to the announcement, the one
        that settles the put included, from the start, so no offer can fall between two
        listeners."""
        owner = self.owner
        soul = owner.soul
        if soul is None:
            raise WebRTCError("announce() needs WebRTCOptions(room=...)")
        if owner._closed:
            raise WebRTCError("announce() after close()")
        if self.announce_id is not None:
            owner.gun.unask(self.announce_id)
        self.start_state = owner.gun.machine()
        graph = {soul: {"_": {"#": soul, ">": {"+": self.start_state}}, "+": owner.pid}}
        result = owner.gun.put_graph(
            graph,
            budget=owner.options.max_connections,
            on_reply=owner._on_reply,
            reply_life=limits.ANNOUNCE_LIFE,
        )
        mid: str = result.id
        self.announce_id = mid
        owner._signal("", "announce", "out", {"room": owner.options.room, "id": mid})
        return mid

    def close(self) -> None:
        """Stop watching the room and listening for replies; forget who announced."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.announce_id is not None:
            self.owner.gun.unask(self.announce_id)
        self.announced.clear()

    def on_room(self, soul: str, node: dict[str, Any], msg: Message) -> None:
        """An announcement heard: remember it, and offer if it is newer than our start."""
        owner = self.owner
        pid = node.get("+")
        meta = node.get("_")
        states = meta.get(">") if isinstance(meta, dict) else None
        state = states.get("+") if isinstance(states, dict) else None
        mid = msg.get("#")
        if not (isinstance(pid, str) and isinstance(mid, str) and isinstance(state, int | float)):
            return
        if pid == owner.pid or not pid or owner._closed:
            return
        self.remember(pid, mid)
        owner._signal(pid, "announce", "in", {"room": owner.options.room, "id": mid})
        if state < self.start_state:
            return  # an announcement from before we started (gun: opt.rtc.start > state)
        owner.negotiation.start_offer(pid, mid, source=owner.source_of(msg))

    def route(self, pid: str) -> str | None:
        """The id of ``pid``'s announcement if relays still hold its reply route, else None."""
        heard = self.announced.get(pid)
        if heard is not None and self.owner._loop_time() - heard[1] < limits.ROUTE_LIFE:
            return heard[0]
        return None

    def expire(self, now: float) -> None:
        """Forget announcements older than a relay's route."""
        while self.announced:
            pid, (_, t) = next(iter(self.announced.items()))
            if now - t < limits.ROUTE_LIFE:
                break
            del self.announced[pid]

    def remember(self, pid: str, mid: str) -> None:
        """Keep ``pid``'s newest announcement, the oldest one forgotten past the bound."""
        now = self.owner._loop_time()
        self.expire(now)
        self.announced.pop(pid, None)
        while len(self.announced) >= self.max_announced:
            old, _ = self.announced.popitem(last=False)
            self.owner._dropped(
                old, f"announcements: max_announced={self.max_announced} reached; oldest forgotten"
            )
        self.announced[pid] = (mid, now)
        self.owner._schedule_sweep()
