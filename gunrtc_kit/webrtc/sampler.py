"""Samples every WebRTC link of a manager into ``trace.LinkStats`` events.

Why: a link that does not open, or stops carrying data, should explain itself from the trace
alone (``gunrtc_kit.diagnose.linkreport`` reads these events, never aiortc). So once a second
(``SAMPLE_EVERY``) while a link is pending or open, and once more (``final``) when the link
table drops it, the manager's sampler puts its state on the bus (read in ``stats``, the one
place that reads aiortc's internals).

When a link fails (dropped without ever opening) or stalls (still not open after
``STALL_AFTER`` seconds), the sampler probes, once per link, the UDP addresses of the remote
candidates (``stats.udp_probe``) and puts what the OS said in the event's ``probe``: that is
how "no UDP path" is told from "the far end never answered". A failed link's final event
waits for its probe (well under a second); the manager's ``close`` waits for it too.

Bounds: one timer per manager, armed only while it has links; per link a few fields of state,
forgotten when the link leaves the table; one event per link per tick (``emitted`` counts
them); nothing is built when nobody takes ``LinkStats`` events.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gunrtc_kit import trace
from gunrtc_kit.webrtc import stats

if TYPE_CHECKING:
    from gunrtc_kit.webrtc.link import Link
    from gunrtc_kit.webrtc.manager import WebRTCManager

__all__ = ["SAMPLE_EVERY", "STALL_AFTER", "LinkSampler"]

SAMPLE_EVERY = 1.0  # seconds between two samples of a link
STALL_AFTER = 10.0  # seconds after which a link that is not open is probed as stalled

_ids = itertools.count(1)


@dataclass
class _Seen:
    """What the sampler remembers of one link while it is in the table."""

    link_id: str
    opened: bool = False
    probed: bool = False


class LinkSampler:
    """The sampler of one ``WebRTCManager``; see the module docstring."""

    def __init__(self, owner: WebRTCManager) -> None:
        self.owner = owner
        self.every = SAMPLE_EVERY
        self.stall_after = STALL_AFTER
        self.emitted = 0  # LinkStats events put on the bus
        self._seen: dict[Link, _Seen] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(self) -> None:
        """Sample the manager's links from now on (called when one is made; idempotent)."""
        if self._timer is None and not self.owner._closed:
            self._timer = asyncio.get_running_loop().call_later(self.every, self._tick)

    def close(self) -> None:
        """Stop the timer (the manager is closing; final events still come from ``ended``)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        links = list(self.owner.links.values())
        if self.owner.gun.bus.wants(trace.LinkStats):
            for link in links:
                self._sample(link)
        if links:
            self.watch()

    def _state(self, link: Link) -> _Seen:
        seen = self._seen.get(link)
        if seen is None:
            seen = self._seen[link] = _Seen(str(next(_ids)))
        return seen

    def _sample(self, link: Link) -> None:
        seen = self._state(link)
        seen.opened = seen.opened or link.open or bool(getattr(link.peer, "ever_opened", False))
        age = self.owner._loop_time() - link.started
        stalled = not seen.opened and age >= self.stall_after
        snap = stats.snapshot(link.peer)
        self._emit(link, seen, snap, phase="open" if link.open else "pending", stalled=stalled)
        if stalled and not seen.probed:
            seen.probed = True
            self.owner._spawn(
                self._probe_then_emit(link, seen, snap, "pending", stalled=True, final=False),
                f"probe link {link.pid}",
            )

    def ended(self, link: Link, why: str) -> None:
        """``link`` leaves the table: its final event, now, or after a probe if it never
        opened (failed) and was not probed yet. Called before the link is closed."""
        seen = self._seen.pop(link, None) or _Seen(str(next(_ids)))
        if not self.owner.gun.bus.wants(trace.LinkStats):
            return
        seen.opened = seen.opened or link.open or bool(getattr(link.peer, "ever_opened", False))
        snap = stats.snapshot(link.peer)
        peer: Any = link.peer
        # the manager may drop it before the connection said anything: then we ended it
        ended_by = str(getattr(peer, "ended_by", "") or "local")
        at_close = dict(getattr(peer, "at_close", {}) or {}) or stats.connection_states(
            getattr(peer, "pc", None)
        )
        end: dict[str, Any] = {
            "final": True,
            "why": why,
            "ended_by": ended_by,
            "at_close": at_close,
        }
        if not seen.opened and not seen.probed and snap["remote_candidates"]:
            seen.probed = True
            self.owner._spawn(
                self._probe_then_emit(link, seen, snap, "closed", **end),
                f"probe link {link.pid}",
                closing=True,
            )
            return
        self._emit(link, seen, snap, phase="closed", **end)

    async def _probe_then_emit(
        self, link: Link, seen: _Seen, snap: stats.Snapshot, phase: str, **kw: Any
    ) -> None:
        probe: dict[str, str] = {}
        for host, port in stats.probe_targets(snap["remote_candidates"]):
            refused = await stats.udp_probe(host, port)
            probe[f"[{host}]:{port}" if ":" in host else f"{host}:{port}"] = refused or "ok"
        self._emit(link, seen, snap, phase=phase, probe=probe, **kw)

    def _emit(
        self,
        link: Link,
        seen: _Seen,
        snap: stats.Snapshot,
        *,
        phase: str,
        final: bool = False,
        why: str = "",
        ended_by: str = "",
        at_close: dict[str, str] | None = None,
        stalled: bool = False,
        probe: dict[str, str] | None = None,
    ) -> None:
        bus = self.owner.gun.bus
        bus.emit(
            trace.LinkStats(
                bus.now(),
                self.owner.pid,
                link.pid,
                link=seen.link_id,
                phase=phase,
                opened=seen.opened,
                final=final,
                why=why,
                age=round(self.owner._loop_time() - link.started, 3),
                ended_by=ended_by,
                at_close=at_close or {},
                stalled=stalled,
                probe=probe or {},
                **snap,
            )
        )
        self.emitted += 1
