"""How a doctor's report looks: as text (``str``, ``repr``) and as HTML (a notebook's cell).

Why apart from the report types: the look changes for readers (a terminal, Jupyter) while what
a report means does not; keeping the two apart lets each change alone. Everything here reads a
report and returns a string: no state, nothing parsed back.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gunrtc_kit.diagnose.doctor.report import Finding, Holding, Report

__all__ = [
    "finding_text",
    "findings_html",
    "holding_text",
    "report_html",
    "report_text",
    "short",
    "state_text",
    "summary",
]


def short(value: Any, limit: int = 40) -> str:
    """``value`` as compact JSON, cut to ``limit`` characters (a value may be a whole document;
    a report line names it, it does not print it)."""
    text = json.dumps(value, ensure_ascii=False, default=repr, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def state_text(state: float | None) -> str:
    """A HAM state as whole ms, or ``?`` when a peer holds the key without one."""
    return "?" if state is None else f"{state:.0f}"


def holding_text(holding: Holding) -> str:
    """``name: value @state``, marked ``(behind)`` when it is not the winning value."""
    if not holding.present:
        return f"{holding.name}: (nothing)"
    mark = "" if holding.current else " (behind)"
    return f"{holding.name}: {short(holding.value)} @{state_text(holding.state)}{mark}"


def finding_text(finding: Finding) -> str:
    """One finding as lines: who holds what, then each ``why:`` and each ``fix:``."""
    head = f"{finding.soul}.{finding.key}: " + "; ".join(str(h) for h in finding.holdings)
    why = [f"    why: {r}" for r in finding.reasons] or ["    why: no reason found in the trace"]
    fix = [f"    fix: {a}" + ("" if a.safe else " (not done by heal)") for a in finding.actions]
    return "\n".join([head, *why, *fix])


def summary(report: Report) -> str:
    """The one line a report starts with: converged, or how many disagreements among whom."""
    waiting = len(report.unanswered)
    tail = f"; {waiting} put{'s' if waiting != 1 else ''} unanswered" if waiting else ""
    if report:
        return (
            f"converged: {len(report.peers)} peers agree on {len(report.souls)} soul"
            f"{'s' if len(report.souls) != 1 else ''}{tail}"
        )
    count = len(report.findings) + report.omitted
    return f"{count} disagreement{'s' if count != 1 else ''} among {', '.join(report.peers)}{tail}"


def report_text(report: Report) -> str:
    """The whole report as text; after a heal, the before, what was done, and the after."""
    lines: list[str] = []
    if report.before is not None:
        lines.append(f"before: {summary(report.before)}")
        lines.extend(f"  {f}".replace("\n", "\n  ") for f in report.before.findings)
        lines.append("healing:" if report.done else "healing: nothing safe to do")
        lines.extend(f"  {d}" for d in report.done)
        lines.append("after: " + summary(report))
    else:
        lines.append(summary(report))
    lines.extend(str(f) for f in report.findings)
    if report.omitted:
        lines.append(f"... and {report.omitted} more not listed")
    if report.unanswered:
        lines.append(f"unanswered puts ({len(report.unanswered)}):")
        lines.extend(f"  #{u.msg_id}: {u.text}" for u in report.unanswered)
    return "\n".join(lines)


def report_html(report: Report) -> str:
    """The whole report as HTML for a notebook cell (the same parts as ``report_text``)."""
    e = html.escape
    parts: list[str] = []
    if report.before is not None:
        parts.append(f"<div><b>before</b>: {e(summary(report.before))}</div>")
        parts.append(findings_html(report.before.findings))
        steps = "".join(f"<li>{e(d)}</li>" for d in report.done) or "<li>nothing safe</li>"
        parts.append(f"<div><b>healing</b><ul>{steps}</ul></div>")
        parts.append(f"<div><b>after</b>: {e(summary(report))}</div>")
    else:
        color = "green" if report else "#b00"
        parts.append(f"<div style='color:{color}'><b>{e(summary(report))}</b></div>")
    parts.append(findings_html(report.findings))
    if report.omitted:
        parts.append(f"<div>... and {report.omitted} more not listed</div>")
    if report.unanswered:
        items = "".join(
            f"<li><code>#{e(u.msg_id)}</code>: {e(u.text)}</li>" for u in report.unanswered
        )
        parts.append(f"<div><b>unanswered puts</b><ul>{items}</ul></div>")
    return "<div class='gk-doctor'>" + "".join(parts) + "</div>"


def findings_html(findings: Sequence[Finding]) -> str:
    """The findings as a table: soul.key, who holds what, why, and the cures (``""`` if none)."""
    if not findings:
        return ""
    e = html.escape
    rows = []
    for f in findings:
        held = "<br>".join(e(str(h)) for h in f.holdings)
        why = "<br>".join(f"<b>{e(r.kind)}</b>: {e(r.text)}" for r in f.reasons) or (
            "<i>no reason found in the trace</i>"
        )
        fix = "<br>".join(e(a.text) + ("" if a.safe else " <i>(manual)</i>") for a in f.actions)
        rows.append(
            f"<tr><td><code>{e(f.soul)}.{e(f.key)}</code></td><td>{held}</td>"
            f"<td>{why}</td><td>{fix}</td></tr>"
        )
    return (
        "<table><tr><th>soul.key</th><th>who holds what</th><th>why</th><th>heal</th></tr>"
        + "".join(rows)
        + "</table>"
    )
