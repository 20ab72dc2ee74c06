"""The doctor's entry point: compare the peers' graphs, then explain each disagreement.

Why one pure function: the Lab, a script with plain ``Gun`` objects and a test with a
hand-made trace all ask the same question, and none of them should need asyncio or a clock.
Who holds the winning value of a key is HAM's answer (the greatest state, ties broken by the
value's JSON text), computed here from the snapshots alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core import opts
from gunrtc_kit.core.ham import json_text_greater
from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.explain import explain
from gunrtc_kit.diagnose.doctor.report import Finding, Holding, PeerSnapshot, Report
from gunrtc_kit.diagnose.doctor.trace_index import TraceIndex
from gunrtc_kit.diagnose.doctor.unanswered import unanswered
from gunrtc_kit.diagnose.messages import RTC_PREFIX

__all__ = ["ACK_TIMEOUT", "IN_FLIGHT_FOR", "MAX_FINDINGS", "diagnose", "holdings"]

ACK_TIMEOUT = opts.ACK_TIMEOUT  # Gun's opt.lack: a put unanswered this long is "never acked"
IN_FLIGHT_FOR = 2.0  # seconds a copy with no sign of arrival counts as on its way
MAX_FINDINGS = 1_000  # findings listed in one report (the rest are counted)


def diagnose(
    snapshots: Sequence[PeerSnapshot],
    events: Iterable[trace.Event] = (),
    *,
    souls: Iterable[str] | None = None,
    names: Mapping[str, str] | None = None,
    now: float | None = None,
    ack_timeout: float = ACK_TIMEOUT,
    in_flight_for: float = IN_FLIGHT_FOR,
) -> Report:
    """Compare the peers' graphs and explain each disagreement from ``events``.

    Why one pure function: the Lab, a script with plain ``Gun`` objects and a test with a
    hand-made trace all ask the same question. ``souls`` limits the comparison (default: every
    soul any peer holds, WebRTC room souls left out); ``names`` names pids that have no
    snapshot (a stopped relay); ``now`` is the trace time the report is judged at (default: the
    newest event's), against which a put is "never acked" after ``ack_timeout`` seconds and a
    copy is "in flight" for ``in_flight_for`` seconds."""
    all_names = {s.pid: s.label for s in snapshots}
    all_names = {**dict(names or {}), **all_names}
    index = TraceIndex(events, all_names)
    at = index.now if now is None else now
    by_pid = {s.pid: s for s in snapshots}
    if souls is None:
        in_play = sorted(
            {s for snap in snapshots for s in snap.nodes if not s.startswith(RTC_PREFIX)}
        )
    else:
        in_play = sorted(set(souls))
    ctx = Context(index, by_pid, all_names, at, ack_timeout, in_flight_for)
    findings: list[Finding] = []
    omitted = 0
    for soul in in_play:
        for key in _keys(snapshots, soul):
            held = holdings(snapshots, soul, key)
            if all(h.current for h in held):
                continue
            if len(findings) >= MAX_FINDINGS:
                omitted += 1
                continue
            findings.append(explain(ctx, soul, key, held))
    return Report(
        peers=tuple(s.label for s in snapshots),
        souls=tuple(in_play),
        findings=tuple(findings),
        t=at,
        omitted=omitted,
        unanswered=unanswered(ctx),
    )


def _keys(snapshots: Sequence[PeerSnapshot], soul: str) -> list[str]:
    """Every key any peer holds on ``soul``, sorted (the metadata ``_`` left out)."""
    keys: set[str] = set()
    for snap in snapshots:
        node = snap.nodes.get(soul)
        if node:
            keys.update(k for k in node if k != "_")
    return sorted(keys)


def holdings(snapshots: Sequence[PeerSnapshot], soul: str, key: str) -> tuple[Holding, ...]:
    """What each peer holds for ``soul``/``key``, each marked ``current`` when it is the value
    and state HAM makes win (the greatest state; a tie goes to the greater JSON text)."""
    raw: list[tuple[PeerSnapshot, bool, Any, float | None]] = []
    for snap in snapshots:
        node = snap.nodes.get(soul)
        if node is None or key not in node:
            raw.append((snap, False, None, None))
            continue
        state = (node.get("_") or {}).get(">", {}).get(key)
        number = float(state) if isinstance(state, int | float) else None
        raw.append((snap, True, node[key], number))
    best: tuple[Any, float] | None = None
    for _, present, value, state in raw:
        if not present:
            continue
        rank = -math.inf if state is None else state
        if (
            best is None
            or rank > best[1]
            or (rank == best[1] and json_text_greater(value, best[0]))
        ):
            best = (value, rank)
    out = []
    for snap, present, value, state in raw:
        current = (
            present
            and best is not None
            and (-math.inf if state is None else state) == best[1]
            and json.dumps(value, sort_keys=True, default=repr)
            == json.dumps(best[0], sort_keys=True, default=repr)
        )
        out.append(Holding(snap.pid, snap.label, present, value, state, current))
    return tuple(out)
