"""The link table: at most one ``Link`` per pid, and the rules for making, replacing and
dropping one.

Why one place decides: a pid never has two links, so no RTCPeerConnection is left open and
unreferenced. Every change to the table happens synchronously, in the order the signalling
arrived; the slow part of closing a connection runs afterwards in a task the manager owns and
waits for in ``close``. The bound on links (``max_connections``, refusals counted in
``refused``), on pending links per source (``max_pending_per_source``, evictions counted in
``evicted``) and on pending time (``pending_timeout``, and ``limits.UNANSWERED_LIFE`` for an
offer of ours nobody answers) are enforced here too.

Why per source: every announcement and offer a relay forwards comes through that relay's
connection, and nothing in them tells a made-up pid from an honest one until it answers. So a
flood through one relay may hold at most ``max_pending_per_source`` pending links, the newest
signal taking the slot of the oldest pending link from the same source (unanswered offers
first): an honest announcement heard in a flood of ``R`` fake ones a second gets its offer and
keeps it ``max_pending_per_source / R`` seconds for the answer (16 at 30/s: about 0.5 s), open
links are never touched, and links through other peers keep their slots."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from gunrtc_kit import trace
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.errors import WebRTCError
from gunrtc_kit.webrtc import limits
from gunrtc_kit.webrtc.link import DcWire, Link

if TYPE_CHECKING:
    from gunrtc_kit.webrtc.manager import WebRTCManager

__all__ = ["Links"]


class Links:
    """``by_pid`` (the manager's ``links``), the link lifecycle, and who waits for a link to
    open."""

    def __init__(self, owner: WebRTCManager) -> None:
        self.owner = owner
        self.by_pid: dict[str, Link] = {}
        self.waiters: dict[str, set[asyncio.Future[None]]] = {}
        self.refused = 0
        self.max_pending_per_source = limits.PENDING_PER_SOURCE
        self.evicted = 0  # pending links dropped to make room for a newer one from their source
        self.pending_high = 0  # the most pending links one source ever held at once

    # ---- the bound on links
    def full(self, pid: str) -> bool:
        """Every link slot is taken by pids other than ``pid``."""
        others = sum(1 for p in self.by_pid if p != pid)
        return others >= self.owner.options.max_connections

    def pending_from(self, source: MeshPeer) -> list[Link]:
        """The links not open yet whose signalling came through ``source``, oldest first."""
        return [k for k in self.by_pid.values() if k.source is source and not k.open]

    def room_for(self, pid: str, source: MeshPeer | None = None) -> bool:
        """Whether a link with ``pid`` may be made; a refusal is counted and reported. A
        ``source`` at its ``max_pending_per_source`` first gives up its oldest pending link
        (see the module docstring)."""
        if source is not None:
            self.make_room_from(source, pid)
        if self.full(pid):
            self.refused += 1
            self.owner._error(
                pid,
                f"max_connections={self.owner.options.max_connections} reached; "
                f"link with {pid} refused",
            )
            return False
        return True

    def make_room_from(self, source: MeshPeer, pid: str) -> None:
        """Drop ``source``'s oldest pending links (unanswered offers of ours first) until one
        more fits under ``max_pending_per_source``; each drop is a ``trace.Dropped``."""
        cap = self.max_pending_per_source
        pending = [k for k in self.pending_from(source) if k.pid != pid]
        while pending and len(pending) >= max(cap, 1):
            victim = next((k for k in pending if k.offering), pending[0])
            pending.remove(victim)
            self.evicted += 1
            state = "unanswered" if victim.offering else "not open"
            self.owner._dropped(
                victim.pid,
                f"pending links through {source.id}: max_pending_per_source={cap} reached; "
                f"the oldest ({victim.pid}, {state}) dropped for {pid}",
            )
            self.drop_soon(victim, "max_pending_per_source")

    def _count_pending(self, source: MeshPeer | None) -> None:
        if source is not None:
            self.pending_high = max(self.pending_high, len(self.pending_from(source)))

    # ---- glare
    def offer_verdict(self, pid: str) -> str:
        """What an offer from ``pid`` does to its link: ``"new"`` (no link yet), ``"ours"``
        (glare, our pid is the lower: our offer stands), ``"theirs"`` (glare, theirs wins: we
        drop ours and answer), ``"ignore"`` (a link being set up or open keeps it). The lower
        pid's offer wins on both sides, so glare ends in one link (npm gun ignores the second
        offer on both sides and the link never opens)."""
        existing = self.by_pid.get(pid)
        if existing is None:
            return "new"
        if not existing.offering:
            return "ignore"
        return "ours" if self.owner.pid < pid else "theirs"

    # ---- lifecycle
    def new(
        self, pid: str, role: str, reply_to: str | None, source: MeshPeer | None = None
    ) -> Link:
        """Create the link for ``pid`` and put it in the table. The caller has made sure the
        slot is free (``room_for``): a pid never has two links, so no connection can be
        orphaned. ``source``: the mesh peer the signalling came through."""
        owner = self.owner
        if pid in self.by_pid:
            raise WebRTCError(f"a link with {pid} already exists")
        if owner._closed:
            raise WebRTCError("WebRTC manager closed")
        link: Link

        def on_message(text: str) -> None:
            if link.mesh_peer is not None and self.by_pid.get(pid) is link:
                owner.gun.mesh.hear(text, link.mesh_peer)

        peer = owner.make_peer(
            pid,
            owner.options,
            on_message=on_message,
            on_open=lambda: self.opened(link),
            on_close=lambda: self.drop_soon(link, "channel closed"),
            on_writable=lambda: self.writable(link),
            bus=owner.gun.bus,
            node=owner.pid,
            high_water=owner.send_high_water,
            low_water=owner.send_low_water,
        )
        link = Link(
            owner, pid, peer, role, reply_to=reply_to, started=owner._loop_time(), source=source
        )
        link.mesh_peer = MeshPeer(id=pid, pid=pid, wire=DcWire(link))
        self.by_pid[pid] = link
        loop = asyncio.get_running_loop()
        link.timer = loop.call_later(owner.pending_timeout, lambda: self.expire(link))
        if role == "offerer":
            link.answer_timer = loop.call_later(
                limits.UNANSWERED_LIFE, lambda: self.unanswered(link)
            )
        self._count_pending(source)
        owner.sampler.watch()
        return link

    def current(self, link: Link) -> bool:
        """``link`` is still the one for its pid (not dropped nor replaced)."""
        return self.by_pid.get(link.pid) is link

    def expire(self, link: Link) -> None:
        """A link's pending time is up: drop it unless it opened."""
        if not link.open and self.current(link):
            self.owner._error(
                link.pid,
                f"link with {link.pid} did not open within {self.owner.pending_timeout:g} s; "
                "dropped",
            )
            self.drop_soon(link, "timeout")

    def unanswered(self, link: Link) -> None:
        """Our offer got no answer within ``limits.UNANSWERED_LIFE``: drop it (a made-up pid
        from a flooded room never answers; its slot is wanted)."""
        if link.offering and self.current(link):
            self.owner._error(
                link.pid,
                f"offer to {link.pid} not answered within {limits.UNANSWERED_LIFE:g} s; dropped",
            )
            self.drop_soon(link, "unanswered")

    def opened(self, link: Link) -> None:
        """The data channel opened: the link joins the mesh and its waiters wake."""
        owner = self.owner
        if link.timer is not None:
            link.timer.cancel()
        if link.answer_timer is not None:
            link.answer_timer.cancel()
        if not self.current(link) or link.mesh_peer is None:
            return
        owner.gun.bus.emit(
            trace.RtcState(owner._now(), owner.pid, link.pid, state="open", layer="link")
        )
        owner.gun.mesh.hi(link.mesh_peer)
        for f in self.waiters.pop(link.pid, ()):
            if not f.done():
                f.set_result(None)

    def writable(self, link: Link) -> None:
        """The channel's buffer went below its low-water mark: send what the mesh queued while
        it was full (``Mesh.hi`` on a peer already met only drains its queue)."""
        mp = link.mesh_peer
        if self.current(link) and mp is not None and mp.met is not None and mp.queue:
            self.owner.gun.mesh.hi(mp)

    def detach(self, link: Link, why: str) -> bool:
        """Take ``link`` out of the table and the mesh, synchronously (its connection still
        has to be closed). False if it was not the current link for its pid."""
        if not self.current(link):
            return False
        owner = self.owner
        owner.sampler.ended(link, why)  # while the link is still as it was
        del self.by_pid[link.pid]
        if link.timer is not None:
            link.timer.cancel()
        if link.answer_timer is not None:
            link.answer_timer.cancel()
        if link.ask_id is not None:
            owner.gun.unask(link.ask_id, owner._on_reply)
        if link.mesh_peer is not None:
            owner.gun.mesh.bye(link.mesh_peer)
        owner.gun.bus.emit(
            trace.RtcState(
                owner._now(), owner.pid, link.pid, state="closed", layer="link", detail=why
            )
        )
        return True

    def close_later(self, link: Link) -> asyncio.Task[None] | None:
        """Close ``link``'s connection in a task the manager owns and ``close`` waits for."""
        return self.owner._spawn(self._close_peer(link), f"close link {link.pid}", closing=True)

    def drop_soon(self, link: Link, why: str) -> None:
        """Drop ``link`` now (from a callback) and close its connection in an owned task."""
        if self.detach(link, why):
            self.close_later(link)

    async def _close_peer(self, link: Link) -> None:
        with contextlib.suppress(Exception):
            await link.peer.close()

    # ---- waiting for a link to open
    async def wait_open(self, pid: str, timeout: float) -> None:
        """Wait until the link with ``pid`` carries DAM (bounded; the wait leaves nothing
        behind when it times out)."""
        link = self.by_pid.get(pid)
        if link is not None and link.open:
            return
        if self.owner._closed:
            raise WebRTCError("WebRTC manager closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self.waiters.setdefault(pid, set())
        waiters.add(future)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise WebRTCError(f"link with {pid} did not open within {timeout} s") from None
        finally:
            waiters.discard(future)
            if not waiters and self.waiters.get(pid) is waiters:
                del self.waiters[pid]

    def fail_waiters(self) -> None:
        """The manager closed: every wait for a link ends with ``WebRTCError``."""
        for futures in self.waiters.values():
            for f in futures:
                if not f.done():
                    f.set_exception(WebRTCError("WebRTC manager closed"))
        self.waiters.clear()
