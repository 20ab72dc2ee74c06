"""ICE candidates in and out, Gun's way (``{'@': <msg>, ok: {rtc: {candidate, id}}}``).

Why a part of its own: candidates are the signalling a remote can send most of, so each one is
checked (shape, ``limits.MAX_CANDIDATE_CHARS``) before it is kept, kept only in its known
fields, and counted against its link's ``max_link_candidates`` (aioice pairs each with ours);
one for a pid we have no link with goes to the ``HeldCandidates`` store. aiortc does not
trickle, so ours go out one by one from the SDP we already sent, for peers that want them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import LimitError, WebRTCError
from gunrtc_kit.webrtc import limits
from gunrtc_kit.webrtc.signaling import candidate_from_json, candidates_from_sdp

if TYPE_CHECKING:
    from gunrtc_kit.webrtc.link import Link
    from gunrtc_kit.webrtc.manager import WebRTCManager

__all__ = ["Candidates"]

FIELDS = ("candidate", "sdpMid", "sdpMLineIndex", "usernameFragment")


class Candidates:
    """Takes remote candidates (bounded) to their link, and sends ours."""

    def __init__(self, owner: WebRTCManager) -> None:
        self.owner = owner
        self.max_per_link = limits.LINK_CANDIDATES_MAX

    def on_candidate(self, pid: str, cand: Any) -> None:
        """A candidate from ``pid``: applied, kept until its link has a remote description,
        held until its link exists, or dropped (reported) past a bound."""
        owner = self.owner
        owner._signal(pid, "candidate", "in", cand)
        checked = self.check(pid, cand)
        if checked is None:
            return
        cand, size = checked
        link = owner.links.get(pid)
        if link is None:
            owner.held.hold(pid, cand, size)
            return
        if link.candidates >= self.max_per_link:
            owner._dropped(
                pid,
                f"candidate from {pid}: max_link_candidates={self.max_per_link} reached; dropped",
            )
            return
        link.candidates += 1
        if not link.remote_set:
            link.held.append(cand)
            return
        owner._spawn(self._add(link, cand), f"candidate {pid}")

    def check(self, pid: str, cand: Any) -> tuple[dict[str, Any], int] | None:
        """A candidate as we keep it (only its known fields) and its size; None (reported) if
        it is malformed or oversized, so junk is never held."""
        owner = self.owner
        limit = limits.MAX_CANDIDATE_CHARS
        if isinstance(cand, dict) and isinstance(cand.get("candidate"), str):
            if len(cand["candidate"]) > limit:
                owner._dropped(pid, f"candidate from {pid} over MAX_CANDIDATE_CHARS={limit}")
                return None
        try:
            candidate_from_json(cand)
        except WebRTCError as exc:
            owner._error(pid, f"bad candidate from {pid}: {exc}")
            return None
        kept = {
            k: cand[k]
            for k in FIELDS
            if k in cand and isinstance(cand[k], str | int) and not isinstance(cand[k], bool)
        }
        if "candidate" not in kept:
            return None
        size = 64 + sum(len(str(v)) for v in kept.values())
        if size > limit + 256:
            owner._dropped(pid, f"candidate from {pid} too large ({size} bytes)")
            return None
        return kept, size

    async def _add(self, link: Link, cand: dict[str, Any]) -> None:
        try:
            await link.peer.add_ice_candidate(cand)
        except (WebRTCError, LimitError, ValueError) as exc:
            self.owner._error(link.pid, f"bad candidate from {link.pid}: {exc}")

    async def apply_held(self, link: Link) -> None:
        """The link has its remote description: apply the candidates that came before it (held
        for its pid, then those it kept itself), within ``max_link_candidates``."""
        owner = self.owner
        early = owner.held.take(link.pid, owner._loop_time())
        room = max(self.max_per_link - link.candidates, 0)
        if len(early) > room:
            owner._dropped(
                link.pid,
                f"held candidates from {link.pid}: max_link_candidates="
                f"{self.max_per_link} reached; {len(early) - room} dropped",
            )
            early = early[:room]
        link.candidates += len(early)
        cands, link.held = early + link.held, []
        for cand in cands:
            await self._add(link, cand)

    def send(self, link: Link, desc: dict[str, Any]) -> None:
        """Also send the SDP's candidates one by one, Gun's way (browsers add them either way)."""
        if link.reply_to is None:
            return
        owner = self.owner
        for cand in candidates_from_sdp(desc.get("sdp", "")):
            owner._signal(link.pid, "candidate", "out", cand)
            owner.gun.mesh.say(
                {"@": link.reply_to, "ok": {"rtc": {"candidate": cand, "id": owner.pid}}}
            )
