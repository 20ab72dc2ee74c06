"""The doctor's vocabulary: the kinds of reason it names and the kinds of action that heal them.

Why a module of its own: the reason families, the report types, the Lab's executor and the
tests all speak these words, and none of them should need the rest of the doctor to do so.
Each kind is a ``StrEnum`` equal to its text, so a report reads the same printed or as data.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CUT",
    "DEFERRED",
    "ERROR_ACK",
    "FIX",
    "HEAL",
    "IN_FLIGHT",
    "LOST",
    "NEVER_ACKED",
    "NOT_REASKED",
    "NOT_RELAYED",
    "NOT_SUBSCRIBED",
    "PARTITION",
    "REASON_KINDS",
    "REGET",
    "RELINK",
    "WAIT_UNTIL",
    "ActionKind",
    "ReasonKind",
]


class ReasonKind(StrEnum):
    """Why a peer lacks a value: the doctor's typed vocabulary (equal to its text)."""

    #: a partitioned link drops (or dropped) the frames
    PARTITION = "partition"
    #: no live wire at all between a peer and the data
    CUT = "cut"
    #: a frame carrying the data was lost (lossy memory wire, data channel, closed wire)
    LOST = "lost"
    #: HAM holds a future state back until the peer's clock reaches it
    DEFERRED = "deferred"
    #: never asked for the soul: nothing is pushed to it
    NOT_SUBSCRIBED = "never_subscribed"
    #: asked, reconnected, never asked again
    NOT_REASKED = "not_reasked"
    #: the put listed the peer in ``><`` (told already), so nobody relayed it there, but the
    #: writer's own copy never reached it
    NOT_RELAYED = "not_relayed"
    #: a put carrying the data was refused with ``err``
    ERROR_ACK = "error_ack"
    #: a put no relay acked within the ack timeout
    NEVER_ACKED = "never_acked"
    #: a copy is on its way (said, neither heard nor lost yet)
    IN_FLIGHT = "in_flight"


class ActionKind(StrEnum):
    """What would heal a reason: the doctor's typed actions (equal to their text)."""

    #: the peer that lacks the data asks for its soul again
    REGET = "reget"
    #: clear a link's partition (and a loss of 100 %)
    HEAL = "heal"
    #: make a new link where one was cut
    RELINK = "relink"
    #: wait until a deferred state's time
    WAIT_UNTIL = "wait_until"
    #: the writer fixes a refused put and writes it again (never run by the healer)
    FIX = "fix"


PARTITION = ReasonKind.PARTITION
CUT = ReasonKind.CUT
LOST = ReasonKind.LOST
DEFERRED = ReasonKind.DEFERRED
NOT_SUBSCRIBED = ReasonKind.NOT_SUBSCRIBED
NOT_REASKED = ReasonKind.NOT_REASKED
NOT_RELAYED = ReasonKind.NOT_RELAYED
ERROR_ACK = ReasonKind.ERROR_ACK
NEVER_ACKED = ReasonKind.NEVER_ACKED
IN_FLIGHT = ReasonKind.IN_FLIGHT
REASON_KINDS = tuple(ReasonKind)

REGET = ActionKind.REGET
HEAL = ActionKind.HEAL
RELINK = ActionKind.RELINK
WAIT_UNTIL = ActionKind.WAIT_UNTIL
FIX = ActionKind.FIX
