"""The vocabulary of message fates: how a copy ended (``Mark``), one copy (``Row``), one message
as the trace knows it (``MsgInfo``) and its story (``Fate``, ``FateStep``).

Why a module of its own: the model that fills these (``diagnose.fate``) and the code that tells
a message's story (``diagnose.fate_story``) both need them, and the views read them too.
Pure data: no clock, no asyncio, no widgets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gunrtc_kit import trace

__all__ = [
    "ANSWERED",
    "DUP",
    "HEARD",
    "HEARD_ONLY",
    "LOST",
    "LOST_WHY",
    "MARKS",
    "QUEUED",
    "REFUSED",
    "SENT",
    "TAP_DELIVERED",
    "UNTRACED",
    "Fate",
    "FateStep",
    "Mark",
    "MsgInfo",
    "Row",
]


class Mark(StrEnum):
    """How one copy of a message ended, as far as the trace says."""

    #: said; no sign yet that it arrived or was lost
    SENT = "sent"
    #: the receiver heard it (passed dedup, handled)
    HEARD = "heard"
    #: the receiver's dedup dropped it (it had the message already)
    DUP = "dup"
    #: it never arrived (the wire's loss or partition, a closed wire, a gone peer, a full queue)
    LOST = "lost"
    #: heard from a sender whose saying is not traced
    HEARD_ONLY = "heard-only"
    #: the receiver got it and refused it (a reply rule)
    REFUSED = "refused"
    #: handed to a peer that is not traced: arrival unknown
    UNTRACED = "untraced"
    #: handed to a peer that is not traced, which answered it: it arrived
    ANSWERED = "answered"
    #: the wire was not open: it waits in the sender's queue for the wire to open
    QUEUED = "queued"
    #: held on a memory wire (step mode): in flight until someone delivers or drops it
    HELD = "held"


#: the why of an ``untraced`` copy a tap wrote to the receiver's socket (``trace.Tapped``)
TAP_DELIVERED = (
    "delivered to the receiver's socket by a tap, which cannot see whether it was handled"
)

#: why a copy never arrived, in words, by its drop cause (fate's lost rows, the doctor's
#: unanswered puts); a cause not here is told by the drop's own ``reason``
LOST_WHY: dict[trace.DropCause, str] = {
    trace.DropCause.PARTITIONED: "the wire's partition dropped it",
    trace.DropCause.LOSS: "the wire's loss dropped it",
    trace.DropCause.WIRE_CLOSED: "the wire closed with it on it",
    trace.DropCause.PEER_LEFT: "the peer had left the mesh",
    trace.DropCause.QUEUE_FULL: "the peer's queue of unsent frames was full",
    trace.DropCause.FRAME_TOO_BIG: "the frame was over the wire's size limit",
    trace.DropCause.BY_HAND: "dropped by hand while held (step mode)",
    trace.DropCause.HOLD_FULL: "the hold was full (step mode), so it was dropped",
}

MARKS: tuple[Mark, ...] = tuple(Mark)  # a row's mark is stored as its index here
SENT, HEARD, DUP, LOST, HEARD_ONLY, REFUSED, UNTRACED, ANSWERED, QUEUED, HELD = range(len(MARKS))


@dataclass(slots=True)
class MsgInfo:
    """One message id and everything the trace said about it."""

    mid: str
    kind: str
    souls: tuple[str, ...]
    label: str
    reply_to: str
    sig: bool
    t: float
    origin: str
    traced_origin: bool
    msg: dict[str, Any]
    seqs: list[int] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    merged: list[tuple[float, str, int, int]] = field(default_factory=list)
    notes: list[tuple[float, str, str]] = field(default_factory=list)
    answered_at: float | None = None
    answered_by: str = ""
    answer_ok: Any = None
    answer_err: str = ""
    wants_ack: bool = False
    version: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """One copy of a message going from one peer to another, as the flow view draws it."""

    seq: int
    t: float
    src: str
    dst: str
    kind: str
    label: str
    mid: str
    mark: Mark
    transport: str
    reply_to: str
    sig: bool
    why: str = ""  # why a lost or refused copy ended so
    tag: str = ""  # the wire's tag (memory wires), telling sibling wires apart


@dataclass(frozen=True, slots=True)
class FateStep:
    """One line of a message's story: when, what (in words), and the mark it carries."""

    t: float
    text: str
    mark: str


@dataclass(frozen=True)
class Fate:
    """What became of one message: ``summary`` in a line, ``steps`` in time order."""

    mid: str
    kind: str
    origin: str
    t: float
    msg: dict[str, Any]
    summary: str
    steps: tuple[FateStep, ...]
    heard_by: tuple[str, ...]
    relayed_by: tuple[str, ...]
    duplicates: int
    lost: int
    replies: tuple[str, ...]
    request: str
    acked: bool
    never_acked: bool
    rejected: str
    #: puts that carried the same write on under ids of their own (a Gun.js relay gives each
    #: put it forwards a new id), found by their souls, keys, values and states
    forwarded_as: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [self.summary] + [f"  +{s.t:9.3f} s  {s.text}" for s in self.steps]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr class='gk-fate-{html.escape(s.mark)}'><td>+{s.t:.3f}&nbsp;s</td>"
            f"<td>{html.escape(s.mark)}</td><td>{html.escape(s.text)}</td></tr>"
            for s in self.steps
        )
        body = html.escape(json.dumps(self.msg, indent=1, ensure_ascii=False, default=repr))
        return (
            f"<div class='gk-fate'><b>{html.escape(self.summary)}</b>"
            f"<table>{rows}</table><details><summary>JSON</summary><pre>{body}</pre>"
            "</details></div>"
        )
