"""Offers and answers through the mesh: the ``ok.rtc`` messages, what each does to the link
table, and the SDP work that follows in owned tasks.

Why split this way: what an offer or answer does to ``links[pid]`` is decided here at once, in
arrival order, through the ``Links`` table's rules; the slow part (SDP, ICE gathering) then
runs in a task that touches only its own ``Link`` and checks after each await that it is still
the current one. Bad signalling never raises out of the mesh: it becomes a trace event."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import LimitError, WebRTCError
from gunrtc_kit.webrtc.signaling import description_from_json

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.webrtc.link import Link
    from gunrtc_kit.webrtc.manager import Message, WebRTCManager

__all__ = ["Negotiation"]


class Negotiation:
    """Handles offers, answers and bare ids, and makes our offers and answers."""

    def __init__(self, owner: WebRTCManager) -> None:
        self.owner = owner

    def handle(self, msg: Message, via: MeshPeer | None = None) -> None:
        """Act on one ``ok.rtc`` message (see ``WebRTCManager.handle_rtc_message``)."""
        owner = self.owner
        rtc = (msg.get("ok") or {}).get("rtc") if isinstance(msg.get("ok"), dict) else None
        if not isinstance(rtc, dict):
            owner._error("", f"rtc message without ok.rtc: {str(msg)[:80]}")
            return
        pid = rtc.get("id")
        if not isinstance(pid, str) or not pid:
            owner._error("", "rtc message without a pid (ok.rtc.id)")
            return
        if pid == owner.pid:
            owner._error(pid, "rtc message carries our own pid; ignored")
            return
        if owner._closed:
            return
        mid = str(msg.get("#", ""))
        source = owner.source_of(msg, via)
        if "offer" in rtc:
            self.on_offer(pid, rtc["offer"], mid, via, source)
        elif "answer" in rtc:
            self.on_answer(pid, rtc["answer"])
        elif "candidate" in rtc:
            owner.candidates.on_candidate(pid, rtc["candidate"])
        elif mid:
            # a bare id: gun's "please connect" (gun.rs sends this too)
            self.start_offer(pid, mid, source=source)

    # ---- offers out
    def start_offer(
        self,
        pid: str,
        reply_to: str | None,
        via: MeshPeer | None = None,
        source: MeshPeer | None = None,
    ) -> None:
        """Claim ``links[pid]`` for an offer now, and make the offer in an owned task.
        ``source``: the mesh peer whose signal asked for it (pending links are capped per
        source); None when asked for here."""
        owner = self.owner
        if pid in owner.links:
            return  # gun: one offer per pid while one is pending or open
        if not owner.table.room_for(pid, source):
            return
        link = owner.table.new(pid, "offerer", reply_to, source)
        owner._spawn(self._send_offer(link, via), f"offer to {pid}")

    async def _send_offer(self, link: Link, via: MeshPeer | None) -> None:
        owner = self.owner
        try:
            offer = await link.peer.create_offer()
        except (WebRTCError, ValueError) as exc:
            owner._error(link.pid, f"could not make an offer: {exc}")
            owner.table.drop_soon(link, "offer failed")
            return
        if not owner.table.current(link):
            return  # dropped or replaced while gathering; whoever did it closes it
        link.offer = offer
        self.say_offer(link, via)

    def say_offer(self, link: Link, via: MeshPeer | None) -> None:
        """Send our offer (made) under a fresh id we listen on: over ``via`` as ``dam: 'rtc'``,
        else as a reply to ``link.reply_to``, followed by its candidates one by one."""
        owner = self.owner
        assert link.offer is not None
        link.ask_id = owner.gun.ask(owner._on_reply, life=owner.pending_timeout)
        owner._signal(link.pid, "offer", "out", link.offer)
        rtc = {"rtc": {"offer": link.offer, "id": owner.pid}}
        if via is not None:
            owner.gun.mesh.say({"#": link.ask_id, "dam": "rtc", "ok": rtc}, via)
            return
        owner.gun.mesh.say({"#": link.ask_id, "@": link.reply_to, "ok": rtc})
        owner.candidates.send(link, link.offer)

    # ---- offers in
    def on_offer(
        self,
        pid: str,
        offer: Any,
        offer_id: str,
        via: MeshPeer | None,
        source: MeshPeer | None = None,
    ) -> None:
        """Decide, now and in arrival order, what an offer does to ``links[pid]``: a pid with a
        link being set up or open keeps it (the offer is ignored), except in glare (both sides
        offered, neither answered yet), where the lower pid's offer wins everywhere."""
        owner = self.owner
        owner._signal(pid, "offer", "in", offer)
        verdict = owner.table.offer_verdict(pid)
        existing = owner.links.get(pid)
        if verdict == "ours" and existing is not None:
            self._keep_our_offer(existing, offer_id, via)
            return
        if verdict == "ignore" and existing is not None:
            owner._error(
                pid,
                f"offer from {pid} while a link with it is "
                f"{'open' if existing.open else 'pending'}; ignored",
            )
            return
        if not owner.table.room_for(pid):
            return
        try:
            description_from_json(offer, ("offer",))
        except WebRTCError as exc:
            owner._error(pid, f"bad offer from {pid}: {exc}")
            return
        if source is not None:
            owner.table.make_room_from(source, pid)  # a junk offer takes no one's slot
        closing: asyncio.Task[Any] | None = None
        if existing is not None:
            owner._error(pid, f"both offered; {pid} < {owner.pid}, so we answer its offer")
            if owner.table.detach(existing, "glare"):
                closing = owner.table.close_later(existing)
        link = owner.table.new(pid, "answerer", offer_id, source)
        owner._spawn(self._answer(link, offer, offer_id, via, closing), f"answer {pid}")

    def _keep_our_offer(self, link: Link, offer_id: str, via: MeshPeer | None) -> None:
        """Glare that our offer wins (our pid is the lower). Theirs is ignored, but it shows a
        way to them that works: ours may never have reached them (made as a reply to an
        announcement we learned from a relay's GET answer, whose route ends at that relay, it
        is dropped there, as gun.js drops it too), and they would wait for an answer to theirs
        that never comes. So ours goes again, as a reply to their offer, which routes back to
        them; there the same rule makes them drop theirs and answer ours."""
        pid = link.pid
        me = self.owner.pid
        self.owner._error(pid, f"both offered; {me} < {pid}, so ours stands: sent again to it")
        link.reply_to = offer_id  # our candidates follow the same way
        if link.offer is None:
            return  # still being made: _send_offer sends it on this way
        self.say_offer(link, via)  # the first offer's id stays asked until its life ends

    async def _answer(
        self,
        link: Link,
        offer: Any,
        offer_id: str,
        via: MeshPeer | None,
        closing: asyncio.Task[Any] | None,
    ) -> None:
        owner = self.owner
        pid = link.pid
        if closing is not None:
            # the replaced connection is closed before its successor negotiates; wait() (not
            # await) so that cancelling us does not cancel that close, which close() awaits
            await asyncio.wait([closing])
            if not owner.table.current(link):
                return
        try:
            link.remote_pending = True
            await link.peer.set_remote_description(offer)
            link.remote_set = True
            await owner.candidates.apply_held(link)
            answer = await link.peer.create_answer()
        except (WebRTCError, LimitError, ValueError) as exc:
            owner._error(pid, f"bad offer from {pid}: {exc}")
            owner.table.drop_soon(link, "bad offer")
            return
        if not owner.table.current(link):
            return
        owner._signal(pid, "answer", "out", answer)
        reply: Message = {"@": offer_id, "ok": {"rtc": {"answer": answer, "id": owner.pid}}}
        if via is not None:
            owner.gun.mesh.say(reply, via)
        else:
            owner.gun.mesh.say(reply)
        owner.candidates.send(link, answer)

    # ---- answers in
    def on_answer(self, pid: str, answer: Any) -> None:
        """An answer to our offer: applied once, in an owned task; any other is ignored."""
        owner = self.owner
        owner._signal(pid, "answer", "in", answer)
        link = owner.links.get(pid)
        if link is None or link.role != "offerer":
            owner._error(pid, f"answer from {pid} but we made it no offer; ignored")
            return
        if link.remote_set or link.remote_pending:
            owner._error(pid, f"second answer from {pid}; ignored")
            return
        link.remote_pending = True
        owner._spawn(self._apply_answer(link, answer), f"apply answer {pid}")

    async def _apply_answer(self, link: Link, answer: Any) -> None:
        owner = self.owner
        try:
            await link.peer.set_remote_description(answer)
            link.remote_set = True
            await owner.candidates.apply_held(link)
        except (WebRTCError, LimitError, ValueError) as exc:
            owner._error(link.pid, f"bad answer from {link.pid}: {exc}")
            owner.table.drop_soon(link, "bad answer")
