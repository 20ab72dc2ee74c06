"""The doctor's answer as plain data: what peers hold, each disagreement, its reasons and cures.

Why plain frozen dataclasses: a ``Report`` is compared in tests, printed in a terminal, shown
in a notebook and handed to the Lab's executor, which runs its ``Action``\\ s; none of them
should need the trace or the diagnosis code. How a report looks (text and HTML) lives in
``render``, so these types stay about what they mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit.diagnose.doctor import render
from gunrtc_kit.diagnose.doctor.kinds import ActionKind, ReasonKind

__all__ = [
    "Action",
    "Finding",
    "Holding",
    "Pending",
    "PeerSnapshot",
    "Reason",
    "Report",
    "Unanswered",
]


@dataclass(frozen=True, slots=True)
class Pending:
    """A key a peer holds back because its state is ahead of the peer's machine clock; it is
    applied when the clock reaches ``due`` (ms). Why: such a key is missing from the graph
    though the peer has it, and the cure is to wait, not to ask again."""

    soul: str
    key: str
    state: float
    value: Any = None
    due: float = math.nan

    @property
    def when(self) -> float:
        """The machine time (ms) at which the key is applied (``due``, else its state)."""
        return self.state if math.isnan(self.due) else self.due


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    """What one peer holds at one moment, as plain data the doctor can compare.

    ``nodes`` is its graph (souls to nodes with ``_`` metadata), ``watching`` the souls it
    subscribed to (``on``), ``deferred`` its keys waiting for a future state, ``now`` its
    machine clock in ms (with any skew) when taken, ``relay`` whether it routes as a relay
    (AXE: pushes a put only to the connections that asked for its soul)."""

    pid: str
    name: str = ""
    nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    watching: frozenset[str] = frozenset()
    deferred: tuple[Pending, ...] = ()
    now: float = 0.0
    relay: bool = False

    @property
    def label(self) -> str:
        """The peer's name, else its pid."""
        return self.name or self.pid


@dataclass(frozen=True, slots=True)
class Action:
    """A step that would heal a disagreement, as data an executor can run.

    ``kind`` is ``reget`` (``peer`` asks for ``soul`` again), ``heal`` (clear the partition or
    total loss of ``link``), ``relink`` (a new link for the cut ``link``) or ``wait_until``
    (``peer``'s clock reaches ``until`` ms, ``wait`` seconds after the snapshot). ``safe``: it
    changes no data and no experiment a user would mind undone in a Lab."""

    kind: ActionKind
    text: str
    peer: str = ""
    soul: str = ""
    link: tuple[str, str] = ("", "")
    until: float = 0.0
    wait: float = 0.0
    safe: bool = True

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Reason:
    """One cause of a disagreement, found in the trace or a snapshot.

    ``kind`` is one of ``REASON_KINDS``; ``text`` says it in words with peers and links named;
    ``peers`` are the pids it keeps from the data; ``link`` the two pids of the link it is
    about (if any); ``since`` the trace time the cause began; ``msg_id`` the message it is
    about; ``actions`` what would cure it."""

    kind: ReasonKind
    text: str
    peers: tuple[str, ...] = ()
    link: tuple[str, str] | None = None
    since: float | None = None
    msg_id: str = ""
    actions: tuple[Action, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass(frozen=True, slots=True)
class Holding:
    """What one peer holds for one soul/key: ``present``, ``value``, ``state``, and whether it
    is the value HAM makes win everywhere (``current``)."""

    pid: str
    name: str
    present: bool
    value: Any = None
    state: float | None = None
    current: bool = False

    def __str__(self) -> str:
        return render.holding_text(self)


@dataclass(frozen=True, slots=True)
class Finding:
    """One soul/key where the peers disagree: who holds what, why, and what would heal it."""

    soul: str
    key: str
    holdings: tuple[Holding, ...]
    reasons: tuple[Reason, ...] = ()
    fallback: tuple[Action, ...] = ()

    @property
    def behind(self) -> tuple[str, ...]:
        """Names of the peers that do not hold the winning value."""
        return tuple(h.name for h in self.holdings if not h.current)

    @property
    def explained(self) -> bool:
        """True when at least one reason accounts for it."""
        return bool(self.reasons)

    @property
    def actions(self) -> tuple[Action, ...]:
        """Every action its reasons suggest (once each), or a re-get when none was found."""
        seen: dict[tuple[str, str, str, tuple[str, str]], Action] = {}
        for r in self.reasons:
            for a in r.actions:
                seen.setdefault((a.kind, a.peer, a.soul, a.link), a)
        for a in self.fallback:
            seen.setdefault((a.kind, a.peer, a.soul, a.link), a)
        return tuple(seen.values())

    def kinds(self) -> set[str]:
        """The kinds of its reasons."""
        return {r.kind for r in self.reasons}

    def __str__(self) -> str:
        return render.finding_text(self)


@dataclass(frozen=True, slots=True)
class Unanswered:
    """A put whose writer heard no answer (no ``ok``, no ``err``), and why (``text``): a relay
    acked it but the ack was lost or is on its way, the put never reached a relay, or no relay
    answered (yet). Apart from the findings: the peers may all agree and the writer still
    wait for its ack."""

    msg_id: str
    origin: str
    text: str


@dataclass(frozen=True)
class Report:
    """The doctor's answer: the peers compared, the souls in play and every ``Finding``.

    ``bool(report)`` is True when every peer agrees (no findings). After ``heal``,
    ``before`` is the report the healing started from and ``done`` lists what it did, so one
    cell shows the before, the cure and the after."""

    peers: tuple[str, ...]
    souls: tuple[str, ...]
    findings: tuple[Finding, ...]
    t: float = 0.0
    omitted: int = 0
    before: Report | None = None
    done: tuple[str, ...] = ()
    #: puts whose writer heard no answer, each with why (``bool(report)`` does not count them)
    unanswered: tuple[Unanswered, ...] = ()

    def __bool__(self) -> bool:
        return not self.findings and not self.omitted

    @property
    def converged(self) -> bool:
        """True when every peer holds the same value and state for every key in play."""
        return bool(self)

    def kinds(self) -> set[str]:
        """Every reason kind named in the report."""
        return {k for f in self.findings for k in f.kinds()}

    def reasons(self, kind: str = "") -> list[Reason]:
        """The reasons of every finding (of one ``kind`` if given), once each."""
        out: dict[tuple[str, str, str], Reason] = {}
        for f in self.findings:
            for r in f.reasons:
                if not kind or r.kind == kind:
                    out.setdefault((r.kind, r.text, r.msg_id), r)
        return list(out.values())

    def actions(self, *, safe_only: bool = False) -> list[Action]:
        """Every action suggested (once each; only the safe ones with ``safe_only``)."""
        out: dict[tuple[str, str, str, tuple[str, str]], Action] = {}
        for f in self.findings:
            for a in f.actions:
                if a.safe or not safe_only:
                    out.setdefault((a.kind, a.peer, a.soul, a.link), a)
        return list(out.values())

    def finding(self, soul: str, key: str) -> Finding | None:
        """The finding for ``soul``/``key``, or None when the peers agree on it."""
        return next((f for f in self.findings if f.soul == soul and f.key == key), None)

    def _summary(self) -> str:
        return render.summary(self)

    def __str__(self) -> str:
        return render.report_text(self)

    def __repr__(self) -> str:
        return f"<Report {self._summary()}>\n{self}" if not self else f"<Report {self._summary()}>"

    def _repr_html_(self) -> str:
        return render.report_html(self)
