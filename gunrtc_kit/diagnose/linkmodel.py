"""Every WebRTC link of a trace as it is now: the model behind the link view.

Why a model of its own: ``LinkReport.from_events`` reads a whole trace for one link, which is
right for ``lab.link_report(a, b)`` and wrong for a view that follows every link live. This
model reads only ``trace.LinkStats`` events (``reads``: a hub hands it nothing else, never the
``Said``/``Heard`` flood) and keeps, per link (a pair of pids, keyed by ``link_key``), one
``LinkSide`` per end: the latest link's last sample, the aggregates ``LinkReport`` classifies
from (remote candidates, probes, whether it opened or a pair succeeded) and a bounded rate
series, one point per sample, made by ``linkreport.rate_point`` (the report's own rates).
A sample with a new link id (the pair linked again) starts that end's side afresh.

``changed`` holds the keys of links a sample arrived for since the last ``take_changed``: a
view sends only those. ``report(key)`` gives the link as a ``LinkReport`` with each side's
failure class and sentence worked out now, with the names known now. Pure: no clock, no
asyncio, no widgets; fed one event at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkreport import (
    LinkReport,
    LinkSide,
    classify,
    link_start,
    rate_point,
)
from gunrtc_kit.diagnose.mesh import edge_id
from gunrtc_kit.diagnose.peers import Directory

__all__ = ["SERIES_POINTS", "LinkEntry", "LinkModel", "link_key", "link_state"]

SERIES_POINTS = 90  # rate points kept per side (a minute and a half at one sample a second)
MAX_LINKS = 5_000  # links followed; samples of more are counted in ``refused``


def link_key(a: str, b: str) -> str:
    """The key of the WebRTC link between pids ``a`` and ``b``: the mesh's id of their ``dc``
    wire (the signalling view names links the same way), whichever end says it."""
    return edge_id(a, b, "dc")


@dataclass(slots=True)
class LinkEntry:
    """One link: its two pids (sorted), the side of each end we have samples from (by the
    end's pid), and ``version``, which grows with every sample."""

    key: str
    a: str
    b: str
    sides: dict[str, LinkSide] = field(default_factory=dict)
    version: int = 0


def _new_side(e: trace.LinkStats, points: int) -> LinkSide:
    side = LinkSide(
        node=e.node,
        peer=e.peer,
        link=e.link,
        last=e,
        samples=0,
        opened=False,
        succeeded=False,
        remote_candidates=[],
        probe={},
    )
    _absorb(side, e, link_start(e), points)
    return side


def _absorb(side: LinkSide, e: trace.LinkStats, prev: trace.LinkStats, points: int) -> None:
    """Add sample ``e`` (after ``prev``) to ``side``, as ``linkreport`` aggregates a side."""
    side.last = e
    side.samples += 1
    side.opened = side.opened or e.opened or e.phase == "open"
    side.succeeded = side.succeeded or (
        e.selected is not None or any(p["state"] == "succeeded" for p in e.pairs)
    )
    if len(e.remote_candidates) > len(side.remote_candidates):
        side.remote_candidates = list(e.remote_candidates)
    side.probe.update(e.probe)
    point = rate_point(prev, e)
    if point is not None:
        side.rates.append(point)
        if len(side.rates) > points:
            del side.rates[: len(side.rates) - points]


def link_state(report: LinkReport) -> str:
    """One word for a link: ``failed`` (a side failed), ``open`` (a side is open), ``closed``
    (every side's last sample is final) or ``pending``."""
    if report.failure is not None:
        return "failed"
    if any(s.last.phase == "open" and not s.last.final for s in report.sides):
        return "open"
    if report.sides and all(s.last.final for s in report.sides):
        return "closed"
    return "pending"


class LinkModel:
    """The WebRTC links of a trace, one ``LinkEntry`` each, fed ``LinkStats`` only."""

    reads = frozenset({trace.LinkStats})  # the events ``apply`` needs from a hub

    def __init__(
        self,
        directory: Directory | None = None,
        *,
        points: int = SERIES_POINTS,
        cap: int = MAX_LINKS,
    ) -> None:
        self.directory = directory or Directory()
        self.points = points
        self.cap = cap
        self.links: dict[str, LinkEntry] = {}
        self.changed: set[str] = set()
        self.refused = 0  # samples of links past ``cap`` (counted, not kept)

    def apply(self, e: trace.Event) -> None:
        """Take one event (anything but a ``LinkStats`` with both pids is ignored)."""
        if not isinstance(e, trace.LinkStats) or not e.node or not e.peer or e.node == e.peer:
            return
        key = link_key(e.node, e.peer)
        entry = self.links.get(key)
        if entry is None:
            if len(self.links) >= self.cap:
                self.refused += 1
                return
            a, b = sorted((e.node, e.peer))
            entry = self.links[key] = LinkEntry(key, a, b)
        side = entry.sides.get(e.node)
        if side is None or side.link != e.link:
            entry.sides[e.node] = _new_side(e, self.points)
        else:
            _absorb(side, e, side.last, self.points)
        entry.version += 1
        self.changed.add(key)

    def take_changed(self) -> set[str]:
        """The keys of links sampled since the last call (and forget them)."""
        out, self.changed = self.changed, set()
        return out

    def key_of(self, a: str, b: str) -> str | None:
        """The key of the link between pids ``a`` and ``b``, or None when it has no sample."""
        key = link_key(a, b)
        return key if key in self.links else None

    def ends(self, key: str) -> tuple[str, str]:
        """The link's two pids in the order a reader meets them: the peer the directory saw
        first (its lane) first, so a Lab's ``a`` reads before its ``b``; else by pid."""
        entry = self.links[key]
        lane = self.directory.lane_of

        def order(pid: str) -> tuple[bool, int, str]:
            n = lane(pid)
            return (n < 0, n, pid)

        first, second = sorted((entry.a, entry.b), key=order)
        return first, second

    def report(self, key: str) -> LinkReport | None:
        """The link as a ``LinkReport`` (ends in ``ends`` order, the first's side first),
        each side classified now with the directory's names; None for an unknown key."""
        entry = self.links.get(key)
        if entry is None:
            return None
        names = dict(self.directory.names)
        a, b = self.ends(key)
        sides = [entry.sides[p] for p in (a, b) if p in entry.sides]
        for side in sides:
            side.failure, side.why = classify(side, names)
        return LinkReport(a, b, sides, names)
