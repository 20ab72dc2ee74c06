"""Replies: who here listens for an answer (``@``), and a put's wait for its first ack.

A put leaves a ``_PutWait`` behind, the put's reply listener and its timeout in one small
object; the ack timeouts of every put queue in one deque served by one timer (a timer per
put cost 14% of a burst of puts). Replies carrying data are merged only when solicited, and
a stream of them is followed at most ``MAX_REPLY_CHUNKS`` messages."""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gunrtc_kit import root, trace
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.root import AskFn, Message
    from gunrtc_kit.root.gun import Gun
    from gunrtc_kit.root.scheduler import Scheduler


@dataclass
class _Ask:
    fn: AskFn
    expires: float


class _PutWait:
    """One put waiting for its first ack: it is the put's reply listener (called with each
    reply) and its timeout (``expire``, called by the root's one timeout queue). One small
    object per put in place of two closures and their five cells: a burst of puts keeps every
    one alive for the ack timeout, and the garbage collector walked them all."""

    __slots__ = ("gun", "future", "mid", "on_reply")

    def __init__(
        self, gun: Gun, future: asyncio.Future[Message], mid: str, on_reply: AskFn | None
    ) -> None:
        self.gun = gun
        self.future = future
        self.mid = mid
        self.on_reply = on_reply

    def __call__(self, reply: Message) -> None:
        if self.on_reply is not None:
            self.on_reply(reply)
        future = self.future
        if future.done():
            return
        if self.on_reply is None:
            self.gun.unask(self.mid, self)
        if reply.get("err"):
            future.set_exception(GunError(str(reply["err"])))
        else:
            future.set_result(reply)

    def expire(self) -> None:
        """The ack timeout: fail the put if no ack came."""
        if not self.future.done():
            if self.on_reply is None:
                self.gun.unask(self.mid, self)
            self.future.set_exception(
                GunTimeoutError(f"no ack for put {self.mid} within {self.gun.ack_timeout} s")
            )


class Replies:
    """The root's reply listeners (``@`` id -> listener) and its one ack-timeout queue."""

    __slots__ = ("gun", "listeners", "sched", "timeout_timer", "timeouts")

    def __init__(self, gun: Gun, sched: Scheduler) -> None:
        self.gun = gun
        self.sched = sched
        self.listeners: dict[str, _Ask] = {}
        # every put's ack timeout, oldest first, and the one timer that wakes for the oldest;
        # made at the first put, since most peers of a big mesh never put
        self.timeouts: collections.deque[tuple[float, _PutWait]] | None = None
        self.timeout_timer: asyncio.TimerHandle | None = None

    def ask(self, fn: AskFn, msg_id: str | None, life: float) -> str:
        """Listen for replies to ``msg_id`` (a new id if None) for ``life`` seconds."""
        msg_id = msg_id or random_id(9, self.gun.mesh.rng)
        self.listeners[msg_id] = _Ask(fn, self.sched.time() + life)
        return msg_id

    def unask(self, msg_id: str, fn: AskFn | None) -> None:
        """Stop listening on ``msg_id`` (only if ``fn`` is still its listener, if given)."""
        ask = self.listeners.get(msg_id)
        if ask is not None and (fn is None or ask.fn is fn):
            del self.listeners[msg_id]

    def next_expiry(self) -> float | None:
        """When the soonest listener expires (loop time), None with no listener."""
        if not self.listeners:
            return None
        return min(a.expires for a in self.listeners.values())

    def expire(self, now: float) -> None:
        """Forget the listeners whose life ended (the root's housekeeping)."""
        for key, ask in list(self.listeners.items()):
            if ask.expires <= now:
                self.listeners.pop(key, None)

    def deliver(self, msg: Message, peer: MeshPeer, ack: str, listener: _Ask) -> None:
        """Hand a reply to its listener (traced as an ack); each reply extends its life."""
        gun = self.gun
        listener.expires = max(listener.expires, self.sched.time() + root.ASK_LIFE)
        gun.bus.emit(
            trace.Ack(
                gun.bus.now(),
                gun.pid,
                peer.id,
                msg_id=str(msg.get("#", "")),
                reply_to=ack,
                ok=msg.get("ok"),
                err=str(msg.get("err") or ""),
            )
        )
        listener.fn(msg)

    def solicited(self, ack: str, listener: _Ask | None, peer: MeshPeer, msg: Message) -> bool:
        """Whether a reply carrying data is merged: it answers a request this peer sent or
        forwarded, whose dedup entry still lives (9-18 s, as Gun keeps a route), and that
        request has had fewer than ``MAX_REPLY_CHUNKS`` replies. A late answer to a read that
        already settled still counts (its data may be newer); an answer to nothing asked (an
        unsolicited put) or the tail of an endless ``%`` chain does not."""
        gun = self.gun
        entry = gun.dup.get(ack)
        if entry is None:
            if listener is None:
                gun._dropped(
                    peer,
                    msg,
                    trace.DropCause.UNSOLICITED_REPLY,
                    f"reply to {ack!r}, which nobody here asked for",
                )
                return False
            return True
        cap = root.MAX_REPLY_CHUNKS
        n = entry.extra["replies"] = entry.extra.get("replies", 0) + 1
        if n <= cap:
            return True
        if n == cap + 1:
            if listener is not None:
                self.unask(ack, listener.fn)
            gun._error(
                f"reply stream to {ack!r} passed {cap} messages; stopped "
                "following it (a relay sending an endless '%' chain?)",
                peer.id,
                ack,
            )
        gun._dropped(
            peer,
            msg,
            trace.DropCause.REPLY_CAP,
            f"reply to {ack!r} past MAX_REPLY_CHUNKS={cap}",
        )
        return False

    def wait_ack(self, wait: _PutWait, life: float) -> None:
        """Listen for the replies to put ``wait.mid`` for ``life`` seconds, and expire it
        ``ack_timeout`` seconds from now. The deadlines queue in arrival order, so one timer
        serves them all; after ``ack_timeout`` is shortened, a later deadline can wait behind
        an earlier one by up to the old timeout. (Once per put: the loop is looked up once.)"""
        loop = self.sched.loop
        self.listeners[wait.mid] = _Ask(wait, loop.time() + life)
        when = loop.time() + self.gun.ack_timeout
        if self.timeouts is None:
            self.timeouts = collections.deque()
        self.timeouts.append((when, wait))
        if self.timeout_timer is None:
            self.timeout_timer = loop.call_at(when, self._run_timeouts)

    def _run_timeouts(self) -> None:
        self.timeout_timer = None
        queue = self.timeouts
        if queue is None:
            return
        now = self.sched.time()
        while queue and queue[0][0] <= now:
            queue.popleft()[1].expire()
        if queue and self.timeout_timer is None and not self.gun.closed:
            self.timeout_timer = self.sched.call_at(queue[0][0], self._run_timeouts)

    def close(self) -> None:
        """Drop the timeout queue and its timer (``close``: the waits fail as 'closed')."""
        if self.timeout_timer is not None:
            self.timeout_timer.cancel()
            self.timeout_timer = None
        self.timeouts = None
