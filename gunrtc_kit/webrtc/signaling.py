"""Signalling data in Gun.js's shapes, and conversions to and from aiortc's objects.

Offers and answers travel as ``{'type': 'offer'|'answer', 'sdp': text}``; candidates as the
browser's ``RTCIceCandidate.toJSON()``: ``{candidate: 'candidate:...', sdpMid, sdpMLineIndex,
usernameFragment}`` (camelCase: Gun.js sends what the browser gives it). gun.js turns literal
``\\r\\n`` escapes in an SDP into CRLF before using it; so do we.
"""

from __future__ import annotations

from typing import Any

from gunrtc_kit.errors import WebRTCError

__all__ = ["candidate_from_json", "candidates_from_sdp", "description_from_json"]


def description_from_json(desc: Any, kinds: tuple[str, ...] = ("offer", "answer")) -> Any:
    """``{'type', 'sdp'}`` -> ``aiortc.RTCSessionDescription``, checked."""
    from aiortc import RTCSessionDescription

    if not isinstance(desc, dict):
        raise WebRTCError(f"session description must be an object, got {type(desc).__name__}")
    kind, sdp = desc.get("type"), desc.get("sdp")
    if kind not in kinds:
        raise WebRTCError(f"session description type={kind!r}, expected one of {kinds}")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise WebRTCError(f"invalid SDP: expected text starting 'v=0', got {str(sdp)[:30]!r}")
    sdp = sdp.replace("\\r\\n", "\r\n")
    if "\nm=application " not in sdp:
        raise WebRTCError(
            "invalid SDP: no data channel section (m=application); Gun links "
            "carry DAM over a data channel"
        )
    return RTCSessionDescription(sdp=sdp, type=kind)


def candidate_from_json(cand: Any) -> Any | None:
    """A JS candidate dict -> ``aiortc.RTCIceCandidate`` (None for end-of-candidates)."""
    from aiortc.sdp import candidate_from_sdp

    if not isinstance(cand, dict):
        raise WebRTCError(f"ICE candidate must be an object, got {type(cand).__name__}")
    text = cand.get("candidate")
    if text == "":
        return None
    if not isinstance(text, str):
        raise WebRTCError(f"ICE candidate without 'candidate' text: {cand!r:.80}")
    body = text[len("candidate:") :] if text.startswith("candidate:") else text
    try:
        ice = candidate_from_sdp(body)
    except (ValueError, IndexError, KeyError, AssertionError) as exc:  # aiortc asserts on input
        raise WebRTCError(f"invalid ICE candidate {text[:60]!r}: {exc}") from None
    mid = cand.get("sdpMid")
    index = cand.get("sdpMLineIndex")
    if mid is None and index is None:
        raise WebRTCError("ICE candidate needs sdpMid or sdpMLineIndex")
    ice.sdpMid = None if mid is None else str(mid)
    ice.sdpMLineIndex = index if isinstance(index, int) else None
    return ice


def candidates_from_sdp(sdp: str) -> list[dict[str, Any]]:
    """The ``a=candidate`` lines of an SDP as JS candidate dicts, per m-section."""
    out: list[dict[str, Any]] = []
    index = -1
    mid: str | None = None
    ufrag: str | None = None
    session_ufrag: str | None = None
    pending: list[str] = []

    def close_section() -> None:
        for line in pending:
            item: dict[str, Any] = {"candidate": line, "sdpMid": mid, "sdpMLineIndex": index}
            if ufrag or session_ufrag:
                item["usernameFragment"] = ufrag or session_ufrag
            out.append(item)
        pending.clear()

    for raw in sdp.replace("\\r\\n", "\r\n").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            close_section()
            index += 1
            mid, ufrag = None, None
        elif line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=ice-ufrag:"):
            if index < 0:
                session_ufrag = line[12:]
            else:
                ufrag = line[12:]
        elif line.startswith("a=candidate:") and index >= 0:
            pending.append(line[2:])
    close_section()
    return out
