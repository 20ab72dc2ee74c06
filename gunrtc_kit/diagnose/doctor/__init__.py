"""The doctor: where peers disagree about the graph, why (from the trace), and what would heal it.

Why: "bob does not see alice's message" has a handful of causes in Gun (a partition, a cut
link, a frame lost on a lossy wire, a state from a clock running ahead that HAM holds back,
a peer a relay never pushes to because it never asked for the soul, a peer that reconnected
and did not ask again, a put refused with ``err``, a put no relay acked), and each has its own
cure. The doctor compares what every peer holds, lists each soul/key where they differ, and
names the causes the trace shows, each with the actions that would heal it, as data.

Input is plain data: one ``PeerSnapshot`` per peer (its graph's nodes, the souls it watches,
its keys waiting for a future state, its machine clock) and the trace events. Output is a
``Report`` of ``Finding``\\ s, each with ``Reason``\\ s carrying ``Action``\\ s. Pure: no asyncio,
no clock read here (times come from the snapshots and events); the Lab's executor
(``gunrtc_kit.lab.doctor``) takes the snapshots, runs the safe actions and diagnoses again.

``bool(report)`` is True when every peer agrees, so ``assert lab.doctor()`` and ``if not
lab.converged():`` read as they sound.

The package, by layer of the question: ``kinds`` (the vocabulary), ``report`` (the answer as
data) and ``render`` (how it looks); ``records`` and ``trace_index`` (the trace read once);
``context`` and ``reasons`` (shared wording, the collector); one module per reason family
(``deferred``, ``links``, ``history``, ``subscriptions``, ``acks``); ``explain`` (one finding)
and ``diagnosis`` (the entry point).
"""

from __future__ import annotations

# the knobs of ``diagnose``: importable from here as before, though not in ``__all__``
from gunrtc_kit.diagnose.doctor.diagnosis import ACK_TIMEOUT as ACK_TIMEOUT
from gunrtc_kit.diagnose.doctor.diagnosis import IN_FLIGHT_FOR as IN_FLIGHT_FOR
from gunrtc_kit.diagnose.doctor.diagnosis import MAX_FINDINGS as MAX_FINDINGS
from gunrtc_kit.diagnose.doctor.diagnosis import diagnose
from gunrtc_kit.diagnose.doctor.kinds import (
    CUT,
    DEFERRED,
    ERROR_ACK,
    FIX,
    HEAL,
    IN_FLIGHT,
    LOST,
    NEVER_ACKED,
    NOT_REASKED,
    NOT_RELAYED,
    NOT_SUBSCRIBED,
    PARTITION,
    REASON_KINDS,
    REGET,
    RELINK,
    WAIT_UNTIL,
    ActionKind,
    ReasonKind,
)
from gunrtc_kit.diagnose.doctor.report import (
    Action,
    Finding,
    Holding,
    PeerSnapshot,
    Pending,
    Reason,
    Report,
    Unanswered,
)

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
    "Action",
    "ActionKind",
    "Finding",
    "Holding",
    "Pending",
    "PeerSnapshot",
    "Reason",
    "ReasonKind",
    "Report",
    "Unanswered",
    "diagnose",
]
