"""WebRTC signalling as the trace shows it: every step of every link, with its time, and the
SDP explained line by line.

A step is one ``RtcSignal`` (announce, offer, answer, candidate; ``out`` or ``in``) or one
``RtcState`` (a layer changing state as aiortc reports it: the peer connection ``pc``, ICE,
ICE gathering, DTLS, SCTP, the data channel ``dc``, the selected candidate ``pair``, or the
link as a whole). Steps are kept in order, bounded (``cap``; ``discarded`` counts the rest),
each numbered (``i``) so a view can ask for one step's SDP later. Pure: no asyncio, no widgets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose.mesh import edge_id
from gunrtc_kit.diagnose.peers import Directory

__all__ = ["SignalingModel", "Step", "annotate_sdp", "explain_sdp_line"]

MAX_LINKS = 20_000  # links listed for the link filter (their steps are kept anyway, bounded)


@dataclass(frozen=True, slots=True)
class Step:
    """One signalling step or state change of one link."""

    i: int
    t: float
    node: str
    peer: str
    link: str
    step: str
    direction: str
    layer: str
    text: str
    sdp: str | None

    def as_dict(self, directory: Directory) -> dict[str, Any]:
        """The step as the signalling view's front end takes it (names, not pids)."""
        return {
            "i": self.i,
            "t": round(self.t, 3),
            "node": directory.label(self.node),
            "peer": directory.label(self.peer),
            "link": self.link,
            "step": self.step,
            "direction": self.direction,
            "layer": self.layer,
            "text": self.text,
            "has_sdp": self.sdp is not None,
        }


class SignalingModel:
    """Steps of every WebRTC link, oldest first, bounded."""

    def __init__(self, directory: Directory | None = None, cap: int = 20_000) -> None:
        self.directory = directory or Directory()
        self.cap = cap
        self.steps: list[Step] = []
        self.links: dict[str, tuple[str, str]] = {}
        self.discarded = 0
        self.t0: float | None = None
        self._next = 0

    def apply(self, e: trace.Event) -> None:
        """Record an ``RtcSignal`` or ``RtcState`` as a step."""
        if self.t0 is None:
            self.t0 = e.t
        if isinstance(e, trace.RtcSignal):
            data = e.data
            sdp = data.get("sdp") if isinstance(data, dict) else None
            text = _signal_text(e.step, data, sdp)
            self._add(e, e.step, e.direction, "", text, sdp if isinstance(sdp, str) else None)
        elif isinstance(e, trace.RtcState):
            layer = getattr(e, "layer", "pc") or "pc"
            detail = getattr(e, "detail", "")
            text = f"{e.state}" + (f" ({detail})" if detail else "")
            self._add(e, "state", "", layer, text, None)

    def _add(
        self, e: trace.Event, step: str, direction: str, layer: str, text: str, sdp: str | None
    ) -> None:
        link = edge_id(e.node, e.peer, "dc")
        if link not in self.links and len(self.links) < MAX_LINKS:
            self.links[link] = (e.node, e.peer) if e.node <= e.peer else (e.peer, e.node)
        self.steps.append(
            Step(
                i=self._next,
                t=e.t - (self.t0 or 0.0),
                node=e.node,
                peer=e.peer,
                link=link,
                step=step,
                direction=direction,
                layer=layer,
                text=text,
                sdp=sdp,
            )
        )
        self._next += 1
        if len(self.steps) > self.cap:
            drop = len(self.steps) - self.cap
            del self.steps[:drop]
            self.discarded += drop

    @property
    def count(self) -> int:
        """Steps ever recorded (the ``i`` the next one gets)."""
        return self._next

    def since(self, i: int) -> list[Step]:
        """Steps numbered ``i`` and later that are still kept."""
        if not self.steps:
            return []
        first = self.steps[0].i
        return self.steps[max(i - first, 0) :]

    def get(self, i: int) -> Step | None:
        """Step number ``i``, or None when it is no longer kept."""
        if not self.steps:
            return None
        k = i - self.steps[0].i
        return self.steps[k] if 0 <= k < len(self.steps) else None

    def for_link(self, a: str, b: str) -> list[Step]:
        """The steps of the link between ``a`` and ``b`` (pids or names)."""
        label = self.directory.label
        want = {a, b}
        return [
            s
            for s in self.steps
            if {s.node, s.peer} == want or {label(s.node), label(s.peer)} == want
        ]


def _signal_text(step: str, data: Any, sdp: Any) -> str:
    if isinstance(sdp, str):
        lines = sdp.splitlines()
        cands = sum(1 for ln in lines if ln.startswith("a=candidate"))
        kind = data.get("type", step) if isinstance(data, dict) else step
        return f"{kind}: {len(lines)} SDP lines, {cands} candidates"
    if isinstance(data, dict) and isinstance(data.get("candidate"), str):
        return data["candidate"] or "end of candidates"
    text = repr(data)
    return text if len(text) <= 120 else text[:119] + "…"


# what each SDP line means, for someone meeting WebRTC for the first time (RFC 8866, 8839,
# 8841, 8122, 8842)
_SDP_NOTES: list[tuple[str, str]] = [
    ("v=", "protocol version (always 0)"),
    ("o=", "origin: session id and version of whoever made this description"),
    ("s=", "session name (unused by WebRTC)"),
    ("t=", "timing: 0 0 means the session is not bounded in time"),
    ("c=", "connection address (ICE decides the real one)"),
    (
        "m=application",
        "a data-channel section: SCTP carried over DTLS over UDP, the port is a placeholder",
    ),
    ("m=", "a media section"),
    ("a=group:BUNDLE", "every section shares one transport (one ICE + DTLS connection)"),
    ("a=msid-semantic", "media stream ids (unused by data channels)"),
    ("a=ice-ufrag", "ICE username fragment: identifies this side in connectivity checks"),
    ("a=ice-pwd", "ICE password: signs the connectivity checks (STUN message integrity)"),
    ("a=ice-options", "ICE options this side supports (e.g. trickle)"),
    (
        "a=fingerprint",
        "hash of this side's DTLS certificate: the other side checks the DTLS handshake "
        "against it, so signalling vouches for the encryption key",
    ),
    (
        "a=setup:actpass",
        "DTLS role: the offerer lets the answerer choose client (active) or server (passive)",
    ),
    ("a=setup:active", "DTLS role: this side starts the DTLS handshake (client)"),
    ("a=setup:passive", "DTLS role: this side waits for the DTLS handshake (server)"),
    ("a=mid", "media id: names this section (the BUNDLE group and candidates refer to it)"),
    ("a=sctp-port", "SCTP port inside the DTLS connection (5000 by convention)"),
    ("a=max-message-size", "largest message this side accepts on a data channel, in bytes"),
    ("a=sctpmap", "older form of the SCTP port line"),
    ("a=end-of-candidates", "this side has no more candidates to offer"),
]


def explain_sdp_line(line: str) -> str:
    """What one SDP line means, in words (``""`` when we have nothing to say about it)."""
    if line.startswith("a=candidate:"):
        return _explain_candidate(line[len("a=candidate:") :])
    for prefix, note in _SDP_NOTES:
        if line.startswith(prefix):
            return note
    return ""


_CAND = re.compile(
    r"(?P<foundation>\S+) (?P<component>\d+) (?P<proto>\S+) (?P<priority>\d+) "
    r"(?P<ip>\S+) (?P<port>\d+) typ (?P<typ>\S+)"
)
_TYPES = {
    "host": "an address of this machine",
    "srflx": "this side's public address as a STUN server saw it (server reflexive)",
    "prflx": "an address learned from a connectivity check (peer reflexive)",
    "relay": "an address on a TURN relay",
}


def _explain_candidate(text: str) -> str:
    m = _CAND.match(text)
    if m is None:
        return "an ICE candidate: an address the other side may try"
    typ = _TYPES.get(m["typ"], m["typ"])
    return (
        f"ICE candidate: try {m['proto'].upper()} {m['ip']}:{m['port']}, {typ}; "
        f"priority {m['priority']} (higher is tried first)"
    )


def annotate_sdp(sdp: str) -> list[tuple[str, str]]:
    """Every line of ``sdp`` with what it means beside it."""
    return [(line, explain_sdp_line(line)) for line in sdp.splitlines() if line]
