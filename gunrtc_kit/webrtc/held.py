"""Candidates that arrive before their link: kept a while, within bounds, for the offer or
answer that should follow.

Why hold them at all: Gun.js trickles candidates as soon as it has them, and over a relay they
can overtake the offer they belong to. Why bound them: any remote can send candidates for
made-up pids, so the store is capped in pids (``max_pids``), candidates per pid
(``max_candidates``), bytes in all (``max_bytes``) and time (``limits.HELD_CANDIDATES_LIFE``,
read at run time so a test or a Lab can shorten it). Reaching a bound forgets the oldest pid's
candidates or the new one, with a ``trace.Dropped`` event; it never waits."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from gunrtc_kit.webrtc import limits

if TYPE_CHECKING:
    from gunrtc_kit.webrtc.manager import WebRTCManager

__all__ = ["HeldCandidates"]

Held = tuple[float, dict[str, Any], int]  # (loop time, candidate, size)


class HeldCandidates:
    """Early candidates per pid, oldest pid first, with the bounds on them."""

    def __init__(self, owner: WebRTCManager) -> None:
        self.owner = owner
        self.max_pids = limits.HELD_PIDS_MAX
        self.max_candidates = limits.HELD_CANDIDATES_MAX
        self.max_bytes = limits.HELD_BYTES_MAX
        self.by_pid: OrderedDict[str, list[Held]] = OrderedDict()
        self.bytes = 0
        self.checked = 0.0  # loop time of the last expiry pass

    def clear(self) -> None:
        """Forget everything (the manager closes)."""
        self.by_pid.clear()
        self.bytes = 0

    def expire(self, now: float) -> None:
        """Forget candidates past their life (O(held): the sweep and ``hold`` call it, the
        latter at most twice a second, since the counts bound the store meanwhile)."""
        self.checked = now
        life = limits.HELD_CANDIDATES_LIFE
        for pid in list(self.by_pid):
            kept = [h for h in self.by_pid[pid] if now - h[0] < life]
            self.bytes -= sum(h[2] for h in self.by_pid[pid]) - sum(h[2] for h in kept)
            if kept:
                self.by_pid[pid] = kept
            else:
                del self.by_pid[pid]

    def forget(self, pid: str) -> list[Held]:
        """Take out everything held for ``pid``, expired or not."""
        held = self.by_pid.pop(pid, [])
        self.bytes -= sum(h[2] for h in held)
        return held

    def take(self, pid: str, now: float) -> list[dict[str, Any]]:
        """The candidates held for ``pid`` still within their life, oldest first; the store
        keeps none of them (their link takes them now)."""
        life = limits.HELD_CANDIDATES_LIFE
        return [c for t, c, _ in self.forget(pid) if now - t < life]

    def hold(self, pid: str, cand: dict[str, Any], size: int) -> None:
        """Keep a candidate from a pid we have no link with, within the bounds; the oldest
        pid's candidates make room for a new pid."""
        owner = self.owner
        now = owner._loop_time()
        if now - self.checked >= 0.5:
            self.expire(now)
        held = self.by_pid.get(pid)
        if held is not None and len(held) >= self.max_candidates:
            owner._dropped(
                pid,
                f"candidate for unknown peer {pid}: max_held_candidates="
                f"{self.max_candidates} reached; dropped",
            )
            return
        if held is None:
            self._make_room_for_a_pid()
        if not self._make_room_for_bytes(pid, size):
            return
        self.by_pid.setdefault(pid, []).append((now, cand, size))
        self.bytes += size
        owner._error(
            pid,
            f"candidate for unknown peer {pid}: held {limits.HELD_CANDIDATES_LIFE:g} s "
            "for its offer",
        )
        owner._schedule_sweep()

    def _make_room_for_a_pid(self) -> None:
        while self.by_pid and len(self.by_pid) >= self.max_pids:
            old = next(iter(self.by_pid))
            self.forget(old)
            self.owner._dropped(
                old,
                f"held candidates: max_held_pids={self.max_pids} reached; "
                f"those of the oldest peer {old} forgotten",
            )

    def _make_room_for_bytes(self, pid: str, size: int) -> bool:
        """Forget the oldest pids' candidates until ``size`` more bytes fit (never ``pid``'s
        own when it is the only one); False (reported) if it still does not fit."""
        while self.by_pid and self.bytes + size > self.max_bytes:
            old = next(iter(self.by_pid))
            if old == pid and len(self.by_pid) == 1:
                break
            self.forget(old)
            self.owner._dropped(
                old,
                f"held candidates: max_held_bytes={self.max_bytes} reached; "
                f"those of the oldest peer {old} forgotten",
            )
        if self.bytes + size > self.max_bytes:
            self.owner._dropped(
                pid, f"held candidates: max_held_bytes={self.max_bytes} reached; dropped"
            )
            return False
        return True
