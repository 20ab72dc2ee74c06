"""What the doctor's trace index holds: link and wire histories, copies, and one small record
per kind of event it remembers (a get said, a put, a write, a drop, a late reply, an error).

Why named records instead of bare tuples: each reason family reads fields of them far from
where they were made (``drop.cause``, ``put.wants_ack``), and a name says what a position
did not. They stay tuples, so they unpack and compare as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gunrtc_kit import trace

__all__ = [
    "LATE",
    "MAX_TOLD",
    "Copy",
    "Drop",
    "LinkHistory",
    "Merge",
    "PeerError",
    "PutRecord",
    "Reply",
    "SaidGet",
    "WireHistory",
    "Write",
    "carries",
    "link_key",
]

# replies heard but not merged: no open request (its route expired), or past the stream's cap
LATE = frozenset({trace.DropCause.UNSOLICITED_REPLY, trace.DropCause.REPLY_CAP})

MAX_TOLD = 64  # names kept per message from its '><' lists (gun.js reads 99 characters)

# the reason named when every wire of a pair is down: the most curable first
_DOWN_ORDER = ("partitioned", "loss", "cut")


def link_key(a: str, b: str) -> tuple[str, str]:
    """The key of the link between ``a`` and ``b``: the two pids sorted, so both ends agree."""
    return (a, b) if a <= b else (b, a)


def carries(put: Mapping[str, Any], soul: str, key: str) -> bool:
    """Whether a put's body carries ``soul``/``key`` (a summarized put may have lost the key,
    so one marked with ``\u2026`` counts as carrying it)."""
    node = put.get(soul)
    if not isinstance(node, dict):
        return False
    return key in node or "\u2026" in node


@dataclass(slots=True)
class WireHistory:
    """One wire between two peers: open or closed, and each end's faults."""

    transport: str = ""
    closed: bool = False
    partitioned: dict[str, bool] = field(default_factory=dict)
    loss: dict[str, float] = field(default_factory=dict)

    def state(self) -> str:
        """``""`` when usable, else why not: ``cut``, ``partitioned`` or ``loss``."""
        if self.closed:
            return "cut"
        if any(self.partitioned.values()):
            return "partitioned"
        if any(v >= 1.0 for v in self.loss.values()):
            return "loss"
        return ""


@dataclass(slots=True)
class LinkHistory:
    """What joins a pair of pids over time: its wires (several may join one pair: a data
    channel beside a memory wire), and the spans when none of them was usable. The pair is up
    while any wire is; down, it names the most curable wire's reason (a partition before a
    total loss before a cut)."""

    wires: dict[str, WireHistory] = field(default_factory=dict)
    down_since: float | None = None
    why: str = ""
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # (from, to, why)

    def wire(self, key: str, transport: str) -> WireHistory:
        """The wire named ``key`` (made if new)."""
        wire = self.wires.get(key)
        if wire is None:
            wire = self.wires[key] = WireHistory(transport)
        return wire

    @property
    def closed(self) -> bool:
        """Every wire of the pair is closed (or it has none)."""
        return all(w.closed for w in self.wires.values())

    @property
    def transport(self) -> str:
        """The transport of the wire the pair's state comes from (a down one when down)."""
        why = self.state()
        for wire in self.wires.values():
            if wire.state() == why:
                return wire.transport
        return ""

    def state(self) -> str:
        """``""`` when any wire is usable, else why not: ``partitioned``, ``loss`` or ``cut``."""
        states = {w.state() for w in self.wires.values()}
        if not states or "" in states:
            return "" if states else "cut"
        return next(why for why in _DOWN_ORDER if why in states)

    def update(self, t: float) -> None:
        """Record at time ``t`` whether the link went down or came back up (a down span)."""
        why = self.state()
        if why and self.down_since is None:
            self.down_since, self.why = t, why
        elif why and why != self.why:
            assert self.down_since is not None
            self.spans.append((self.down_since, t, self.why))
            self.down_since, self.why = t, why
        elif not why and self.down_since is not None:
            self.spans.append((self.down_since, t, self.why))
            self.down_since, self.why = None, ""

    def down_at(self, t: float) -> str:
        """Why the link was down at time ``t`` (``""`` if it was up, or not yet known)."""
        if self.down_since is not None and t >= self.down_since:
            return self.why
        for start, end, why in self.spans:
            if start <= t < end:
                return why
        return ""


@dataclass(slots=True)
class Copy:
    """One copy of a message said from one peer to another."""

    t: float
    src: str
    dst: str
    mid: str
    transport: str


class SaidGet(NamedTuple):
    """A get a peer said for a soul: when, and to whom."""

    t: float
    to: str


class PutRecord(NamedTuple):
    """The first copy of a put seen: when, who said it, its body, whether it wants an ack."""

    t: float
    origin: str
    body: dict[str, Any]
    wants_ack: bool


class Write(NamedTuple):
    """Where a soul/key/state was first written: when, by whom, in which put."""

    t: float
    origin: str
    mid: str


class Merge(NamedTuple):
    """Where a soul/key/state was first merged into a graph: when, on which peer."""

    t: float
    node: str


class Drop(NamedTuple):
    """A copy that never reached ``dst``: when ``src`` lost it, and why."""

    t: float
    src: str
    dst: str
    cause: trace.DropCause


class Reply(NamedTuple):
    """A reply heard by ``dst`` from ``src`` but not merged (late, or past the cap)."""

    t: float
    src: str
    dst: str


class PeerError(NamedTuple):
    """A put refused: when, by whom, and the ``err`` text."""

    t: float
    who: str
    err: str
