"""Signalling by hand: the four steps a notebook or a test takes to link two peers with no
room and no mesh between them (the caller carries the offer, answer and candidates).

Why apart from ``Negotiation``: these calls raise (``WebRTCError``) instead of tracing, since
their caller is a person or a test that should see what went wrong, and they never reply
through the mesh."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import WebRTCError

if TYPE_CHECKING:
    from gunrtc_kit.webrtc.manager import WebRTCManager

__all__ = ["ManualSignalling"]


class ManualSignalling:
    """``create_offer``, ``accept_offer``, ``accept_answer`` and ``add_candidate`` of
    ``WebRTCManager``."""

    def __init__(self, owner: WebRTCManager) -> None:
        self.owner = owner

    async def create_offer(self, pid: str) -> dict[str, Any]:
        """Step 1 by hand: start a link to ``pid`` and return our offer (SDP with candidates)."""
        owner = self.owner
        if pid in owner.links:
            raise WebRTCError(f"a link with {pid} already exists")
        if not owner.table.room_for(pid):
            raise WebRTCError(f"max_connections={owner.options.max_connections} reached")
        link = owner.table.new(pid, "offerer", None)
        try:
            offer = await link.peer.create_offer()
        except BaseException:
            owner.table.drop_soon(link, "offer failed")
            raise
        owner._signal(pid, "offer", "out", offer)
        return offer

    async def accept_offer(self, pid: str, offer: dict[str, Any]) -> dict[str, Any]:
        """Step 2 by hand: take ``pid``'s offer and return our answer."""
        owner = self.owner
        owner._signal(pid, "offer", "in", offer)
        if pid in owner.links:
            raise WebRTCError(f"a link with {pid} already exists")
        if not owner.table.room_for(pid):
            raise WebRTCError(f"max_connections={owner.options.max_connections} reached")
        link = owner.table.new(pid, "answerer", None)
        try:
            await link.peer.set_remote_description(offer)
            link.remote_set = True
            answer = await link.peer.create_answer()
        except BaseException:
            owner.table.drop_soon(link, "bad offer")
            raise
        owner._signal(pid, "answer", "out", answer)
        return answer

    async def accept_answer(self, pid: str, answer: dict[str, Any]) -> None:
        """Step 3 by hand: apply ``pid``'s answer to the offer we made."""
        owner = self.owner
        owner._signal(pid, "answer", "in", answer)
        link = owner.links.get(pid)
        if link is None or link.role != "offerer":
            raise WebRTCError(f"answer from {pid} but we made it no offer")
        if link.remote_set or link.remote_pending:
            raise WebRTCError(f"{pid} already answered")
        link.remote_pending = True
        try:
            await link.peer.set_remote_description(answer)
        except BaseException:
            link.remote_pending = False
            raise
        link.remote_set = True

    async def add_candidate(self, pid: str, candidate: dict[str, Any]) -> None:
        """Step 4 by hand: add one of ``pid``'s ICE candidates (JS field names)."""
        owner = self.owner
        link = owner.links.get(pid)
        if link is None:
            raise WebRTCError(f"candidate for unknown peer {pid}")
        owner._signal(pid, "candidate", "in", candidate)
        await link.peer.add_ice_candidate(candidate)
