"""A WebRTC link's report, read from its ``trace.LinkStats`` events: webrtc-internals for the mesh.

Why from events: the report must work on a saved trace and on a browser tab's side (which
arrives as the same event with ``node`` = the tab's pid), so it reads the trace, never aiortc.
A ``LinkReport`` holds one ``LinkSide`` per end whose events we have (``a`` about ``b`` and
``b`` about ``a``): the latest link's last state (candidates, pairs, selected pair, DTLS and
SCTP), a short series of rates (``RatePoint``: messages and bytes per second each way,
buffered bytes, SCTP round-trip time), and, when the link failed or stalled, a ``LinkFailure``
with a sentence saying why in this link's own terms.

How a failure is classed (first match wins), for a link that never opened and failed (ICE or
the connection failed, or the manager gave up) or stalled:

- DTLS failed: the DTLS transport says ``failed``;
- no remote candidates arrived: signalling brought none and aioice learned none;
- no UDP path: every probe of a remote address was refused by the OS (``EACCES``, ``EPERM``,
  ``ENETUNREACH``...), as under Binder's network policy;
- mDNS name not resolvable: the remote offered only ``.local`` names and none resolved here;
- no common address family: our candidates and theirs share no IP version;
- remote never answered: candidates on both sides, pairs checked, none ever succeeded;
- anything else: ``UNCLASSIFIED``, with the states.

A link that opened and then ended: channel closed by the far side (it ended under us while ICE
and DTLS had not failed and we had not closed it), DTLS failed, or lost (ICE failed: the far
end stopped answering). Closed by us, open, or pending within the stall time: no failure.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from enum import StrEnum

from gunrtc_kit import trace

__all__ = [
    "PATH_REFUSALS",
    "RATE_POINTS",
    "LinkFailure",
    "LinkReport",
    "LinkSide",
    "RatePoint",
    "across_proxy",
    "classify",
    "link_start",
    "rate_point",
]

RATE_POINTS = 120  # rate points kept per side (two minutes at one sample a second)
#: errno names of a probe that mean the OS has no UDP path there (not "nobody answered")
PATH_REFUSALS = frozenset(
    {"EACCES", "EPERM", "ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "EADDRNOTAVAIL", "EAFNOSUPPORT"}
)


class LinkFailure(StrEnum):
    """Why a WebRTC link failed, in words a user reads (see the module docstring)."""

    NO_REMOTE_CANDIDATES = "no remote candidates arrived"
    MDNS_UNRESOLVED = "mDNS name not resolvable"
    NO_COMMON_FAMILY = "no common address family"
    NO_UDP_PATH = "no UDP path"
    REMOTE_NEVER_ANSWERED = "remote never answered"
    DTLS_FAILED = "DTLS failed"
    CLOSED_BY_FAR_SIDE = "channel closed by the far side"
    LOST = "link lost (the far end stopped answering)"
    UNCLASSIFIED = "failed, cause not classified"


@dataclass(frozen=True, slots=True)
class RatePoint:
    """Rates between two samples of one side, at ``t`` (the later sample's time)."""

    t: float
    sent_per_s: float
    received_per_s: float
    bytes_sent_per_s: float
    bytes_received_per_s: float
    buffered: int
    rtt: float | None


@dataclass(slots=True)
class LinkSide:
    """One end's view of the latest link: ``node`` about ``peer``."""

    node: str
    peer: str
    link: str
    last: trace.LinkStats
    samples: int
    opened: bool
    succeeded: bool
    remote_candidates: list[trace.CandidateInfo]
    probe: dict[str, str]
    rates: list[RatePoint] = field(default_factory=list)
    failure: LinkFailure | None = None
    why: str = ""


def _rates(events: list[trace.LinkStats]) -> list[RatePoint]:
    """Rates between consecutive samples; the first from the link's start (counters are
    totals since then, ``age`` seconds before the first sample)."""
    out: list[RatePoint] = []
    if not events:
        return out
    points = [link_start(events[0]), *events][-RATE_POINTS - 1 :]
    for prev, cur in zip(points, points[1:], strict=False):
        point = rate_point(prev, cur)
        if point is not None:
            out.append(point)
    return out[-RATE_POINTS:]


def link_start(first: trace.LinkStats) -> trace.LinkStats:
    """The link's start as a sample with every counter at zero (``age`` seconds before
    ``first``): what the first rate is measured from."""
    return trace.LinkStats(first.t - first.age, first.node, first.peer)


def rate_point(prev: trace.LinkStats, cur: trace.LinkStats) -> RatePoint | None:
    """The rates between two samples of one side (None when ``cur`` is not later). Public so
    that a live reader (the link view's model) adds one point per sample, the same way."""
    dt = cur.t - prev.t
    if dt <= 0:
        return None
    return RatePoint(
        t=cur.t,
        sent_per_s=(cur.messages_sent - prev.messages_sent) / dt,
        received_per_s=(cur.messages_received - prev.messages_received) / dt,
        bytes_sent_per_s=(cur.bytes_sent - prev.bytes_sent) / dt,
        bytes_received_per_s=(cur.bytes_received - prev.bytes_received) / dt,
        buffered=cur.buffered,
        rtt=cur.rtt,
    )


def _side(events: list[trace.LinkStats], name: dict[str, str]) -> LinkSide:
    """The side built from the events of one link (oldest first), classified."""
    last = events[-1]
    remote = max((e.remote_candidates for e in events), key=len)
    probe: dict[str, str] = {}
    for e in events:
        probe.update(e.probe)
    side = LinkSide(
        node=last.node,
        peer=last.peer,
        link=last.link,
        last=last,
        samples=len(events),
        opened=any(e.opened or e.phase == "open" for e in events),
        succeeded=any(
            e.selected is not None or any(p["state"] == "succeeded" for p in e.pairs)
            for e in events
        ),
        remote_candidates=list(remote),
        probe=probe,
        rates=_rates(events),
    )
    side.failure, side.why = classify(side, name)
    return side


def _n(name: dict[str, str], pid: str) -> str:
    return name.get(pid, pid)


#: what a link to a peer reached only through a proxy fails as when no UDP path is known
UNREACHABLE_ACROSS_PROXY = frozenset(
    {
        LinkFailure.NO_REMOTE_CANDIDATES,
        LinkFailure.MDNS_UNRESOLVED,
        LinkFailure.REMOTE_NEVER_ANSWERED,
    }
)


def across_proxy(report: LinkReport, proxied: frozenset[str] | set[str]) -> LinkReport:
    """The report, with what its failures mean when one end (a browser tab, by pid in
    ``proxied``) reached the Lab only through a proxy such as jupyter-server-proxy: that tab
    runs where the notebook is viewed, which on Binder is another machine than the kernel's,
    with no UDP path between them WebRTC could use (no STUN/TURN server, and Binder lets no
    UDP out). A side failing for want of candidates, names or answers says so, in words
    naming both, and keeps what it saw as the rest of the sentence."""
    for side in report.sides:
        far = side.peer if side.peer in proxied else side.node if side.node in proxied else ""
        if not far or side.failure not in UNREACHABLE_ACROSS_PROXY:
            continue
        tab, here = (
            _n(report.names, far),
            _n(report.names, side.node if far == side.peer else side.peer),
        )
        side.failure, side.why = (
            LinkFailure.NO_UDP_PATH,
            (
                f"{tab} reached the Lab only through the Jupyter server's proxy: it runs where the "
                f"notebook is viewed, not where {here} runs, and no UDP path joins the two (no "
                f"STUN/TURN server; on Binder no UDP leaves the kernel's machine). What {here} "
                f"saw: {side.why}"
            ),
        )
    return report


def classify(side: LinkSide, name: dict[str, str] | None = None) -> tuple[LinkFailure | None, str]:
    """The side's failure (None when healthy, pending, or closed by us) and why, in words."""
    name = name or {}
    last, peer = side.last, _n(name, side.peer)
    at = last.at_close or {"ice": last.ice, "dtls": last.dtls}
    if side.opened:
        if not last.final:
            return None, f"open: ICE {last.ice}, DTLS {last.dtls}, SCTP {last.sctp}"
        if last.ended_by == "local":
            return None, f"closed by this end ({last.why or 'closed'})"
        if at.get("dtls") == "failed":
            return LinkFailure.DTLS_FAILED, "the DTLS transport failed after the link opened"
        if at.get("ice") == "failed":
            return LinkFailure.LOST, f"ICE failed after the link opened: {peer} stopped answering"
        return LinkFailure.CLOSED_BY_FAR_SIDE, (
            f"{peer} closed the link: our channels closed while ICE was {at.get('ice') or '?'} "
            f"and DTLS {at.get('dtls') or '?'}, and this end had not closed it"
        )
    failed = "failed" in (last.ice, last.pc, at.get("ice"), at.get("dtls"), last.dtls)
    if not (failed or last.stalled or last.why == "timeout"):
        if last.final:
            return None, f"closed by this end before it opened ({last.why or 'closed'})"
        return None, f"pending for {last.age:.1f} s: ICE {last.ice or 'new'}"
    return _not_opened(side, name)


def _not_opened(side: LinkSide, name: dict[str, str]) -> tuple[LinkFailure, str]:
    last, peer = side.last, _n(name, side.peer)
    remote = side.remote_candidates
    if "failed" in (last.dtls, (last.at_close or {}).get("dtls")):
        return LinkFailure.DTLS_FAILED, (
            f"ICE found a path to {peer} but the DTLS handshake failed (certificate or "
            "fingerprint mismatch, or the far end gave up)"
        )
    refused = {k: v for k, v in side.probe.items() if v in PATH_REFUSALS}
    if refused and len(refused) == len(side.probe):
        said = ", ".join(f"{k} ({v})" for k, v in refused.items())
        return LinkFailure.NO_UDP_PATH, (
            f"this machine refuses UDP to {peer}: sending to {said} failed at once (a firewall "
            "or network policy, as on Binder)"
        )
    if not remote:
        return LinkFailure.NO_REMOTE_CANDIDATES, (
            f"signalling brought no ICE candidate from {peer}: nothing to check"
        )
    if all(c["family"] == "mdns" and not c["resolved"] for c in remote):
        names = ", ".join(_short(c["address"]) for c in remote[:3])
        return LinkFailure.MDNS_UNRESOLVED, (
            f"{peer} offered only mDNS names ({names}) and none resolved on this machine"
        )
    ours = {c["family"] for c in last.local_candidates} & {"ipv4", "ipv6"}
    theirs = {_family(c) for c in remote} & {"ipv4", "ipv6"}
    if ours and theirs and not ours & theirs:
        return LinkFailure.NO_COMMON_FAMILY, (
            f"this end has only {'/'.join(sorted(ours))} candidates and {peer} only "
            f"{'/'.join(sorted(theirs))}"
        )
    if not side.succeeded:
        states = ", ".join(f"{p['remote']} {p['state']}" for p in last.pairs[:4]) or "none"
        return LinkFailure.REMOTE_NEVER_ANSWERED, (
            f"{len(remote)} remote candidate(s), {len(last.pairs)} pair(s) checked ({states}): "
            f"{peer} never answered a connectivity check"
        )
    return LinkFailure.UNCLASSIFIED, (
        f"a pair succeeded but the link did not open: ICE {last.ice}, DTLS {last.dtls}, "
        f"SCTP {last.sctp}"
    )


def _family(c: trace.CandidateInfo) -> str:
    """The IP family a candidate is reached at (its resolved address when there is one)."""
    if c["resolved"] and c["family"] == "mdns":
        return "ipv6" if ":" in c["resolved"] else "ipv4"
    return c["family"]


def _short(address: str) -> str:
    """``3f2c….local`` for a long mDNS name."""
    head = address.removesuffix(".local")
    return address if len(head) <= 8 else f"{head[:4]}\u2026.local"


def _latest(events: list[trace.LinkStats]) -> list[trace.LinkStats]:
    """The events of the latest link among ``events`` (one node about one peer)."""
    link = events[-1].link
    return [e for e in events if e.link == link]


@dataclass(slots=True, repr=False)
class LinkReport:
    """The report of the WebRTC link between pids ``a`` and ``b`` (see the module docstring).

    ``sides`` has ``a``'s view first when we have it. ``failure``/``why`` are the first side's
    that failed (``a``'s first), None/"" when no side failed."""

    a: str
    b: str
    sides: list[LinkSide]
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_events(
        cls, events: list[trace.Event], a: str, b: str, names: dict[str, str] | None = None
    ) -> LinkReport | None:
        """The report from a trace (``LinkStats`` between ``a`` and ``b``, either way), or
        None when it has no such event."""
        names = dict(names or {})
        sides: list[LinkSide] = []
        for node, peer in ((a, b), (b, a)):
            mine = [
                e
                for e in events
                if isinstance(e, trace.LinkStats) and e.node == node and e.peer == peer
            ]
            if mine:
                sides.append(_side(_latest(mine), names))
        return cls(a, b, sides, names) if sides else None

    def __repr__(self) -> str:
        state = self.failure.value if self.failure is not None else "no failure"
        return f"<LinkReport {self._n(self.a)} <-> {self._n(self.b)}: {state}>"

    def side(self, node: str) -> LinkSide | None:
        """The view from ``node`` (a pid), or None."""
        return next((s for s in self.sides if s.node == node), None)

    @property
    def failure(self) -> LinkFailure | None:
        """The first side's failure (``a``'s first), or None when no side failed."""
        return next((s.failure for s in self.sides if s.failure is not None), None)

    @property
    def why(self) -> str:
        """The sentence that goes with ``failure`` ("" when no side failed)."""
        return next((s.why for s in self.sides if s.failure is not None), "")

    def _n(self, pid: str) -> str:
        return _n(self.names, pid)

    def summary(self) -> str:
        """Several lines of text: per side, states, selected pair, candidates, rates, failure."""
        lines = [f"WebRTC link {self._n(self.a)} <-> {self._n(self.b)}"]
        lines.append(f"  failure: {self.failure}: {self.why}" if self.failure else "  healthy")
        for s in self.sides:
            e = s.last
            lines.append(
                f"  from {self._n(s.node)}: {e.phase}, ICE {e.ice}, DTLS {e.dtls}, SCTP {e.sctp}"
                f"{', RTT %.1f ms' % (e.rtt * 1000) if e.rtt is not None else ''}"
            )
            sel = e.selected
            pairs = ", ".join(f"{p['local']} -> {p['remote']} {p['state']}" for p in e.pairs[:4])
            lines.append(f"    pairs: {pairs or 'none'}")
            lines.append(
                f"    selected: {sel['local']} <-> {sel['remote']}" if sel else "    none selected"
            )
            lines.append(f"    local: {_cands(e.local_candidates)}")
            lines.append(f"    remote: {_cands(s.remote_candidates)}")
            if s.rates:
                r = s.rates[-1]
                lines.append(
                    f"    now: {r.sent_per_s:.0f} msg/s out, {r.received_per_s:.0f} msg/s in, "
                    f"buffered {r.buffered} B"
                )
            if s.failure is not None:
                lines.append(f"    {s.failure}: {s.why}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        e = html.escape
        head = f"<b>WebRTC link</b> {e(self._n(self.a))} &harr; {e(self._n(self.b))}: "
        head += f"<b>{e(str(self.failure))}</b>: {e(self.why)}" if self.failure else "healthy"
        rows = "".join(_side_rows(s, self._n(s.node)) for s in self.sides)
        return f"<div>{head}<table>{rows}</table></div>"


def _cands(cands: list[trace.CandidateInfo]) -> str:
    return (
        ", ".join(
            f"{c['address'] or '(hidden)'}:{c['port']} {c['type']}"
            + (f" (= {c['resolved']})" if c["resolved"] and c["resolved"] != c["address"] else "")
            for c in cands[:6]
        )
        or "none"
    )


def _side_rows(s: LinkSide, who: str) -> str:
    e = html.escape
    last = s.last
    pairs = "<br>".join(
        e(f"{p['local']} \u2192 {p['remote']} {p['state']}{' *' if p['nominated'] else ''}")
        for p in last.pairs[:8]
    )
    sel = last.selected
    rate = s.rates[-1] if s.rates else None
    rows = [
        ("from", f"<b>{e(who)}</b> ({e(last.phase)})"),
        ("states", e(f"pc {last.pc}, ICE {last.ice}, DTLS {last.dtls}, SCTP {last.sctp}")),
        ("local candidates", e(_cands(last.local_candidates))),
        ("remote candidates", e(_cands(s.remote_candidates))),
        ("pairs", pairs or "none"),
        ("selected", e(f"{sel['local']} \u2194 {sel['remote']}") if sel else "none"),
        (
            "rates",
            e(
                f"{rate.sent_per_s:.0f}/{rate.received_per_s:.0f} msg/s out/in, "
                f"{rate.bytes_sent_per_s:.0f}/{rate.bytes_received_per_s:.0f} B/s, "
                f"buffered {rate.buffered} B"
            )
            if rate
            else "-",
        ),
        ("RTT", f"{last.rtt * 1000:.1f} ms" if last.rtt is not None else "-"),
        ("failure", e(f"{s.failure}: {s.why}") if s.failure else "none"),
    ]
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
