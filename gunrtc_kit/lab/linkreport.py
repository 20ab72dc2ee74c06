"""``Lab.link_report``: the report of one WebRTC link, read from the Lab's trace.

Why apart: the report itself is a pure reader of ``trace.LinkStats`` events
(``gunrtc_kit.diagnose.linkreport``); what the Lab adds is naming the two ends (its peers,
their names, browser tabs and their names, or plain pids) and reading its trace history on
the runtime thread, where the history is appended to.
"""

from __future__ import annotations

from typing import Any, Protocol

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkreport import LinkReport, across_proxy
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.peers import LabLike, LabPeer

__all__ = ["ReportLab", "link_report", "pid_of"]


class ReportLab(LabLike, Protocol):
    """What a link report needs of the Lab besides ``LabLike`` (``Lab`` is one; naming this
    keeps this module from importing ``lab.lab``): its trace, its tabs and its peer lookup."""

    bus: trace.TraceBus
    _tabs: Any  # the TabNamer (``tabs``: token -> BrowserTab), None before the first tab

    def _peer(self, action: str, p: LabPeer | str) -> LabPeer: ...


def pid_of(lab: ReportLab, action: str, who: Any) -> str:
    """The pid of ``who``: a Lab peer or its name, a browser tab (``lab.browser()``) or its
    name, or a pid. A tab that has not joined yet has no pid: ``GunError``."""
    if isinstance(who, LabPeer):
        return lab._peer(action, who).pid
    if isinstance(who, str):
        if who in lab.peers:
            return lab.peers[who].pid
        tabs = list(lab._tabs.tabs.values()) if lab._tabs is not None else []
        tab = next((t for t in tabs if t.name == who), None)
        if tab is None:
            return who  # a pid (a tab's, a Node peer's, one of ours)
        who = tab
    pid = getattr(who, "pid", None)
    if isinstance(pid, str) and pid:
        return pid
    name = getattr(who, "name", who)
    raise GunError(f"{action}: {name!r} has no pid yet (a tab not joined, or not a peer)")


def link_report(lab: ReportLab, a: Any, b: Any) -> LinkReport:
    """The ``LinkReport`` of the WebRTC link between ``a`` and ``b`` (see ``pid_of``), from
    both ends' ``LinkStats`` events in the Lab's trace; a failed link to a tab that joined
    through a proxy says what that means (``across_proxy``). ``GunError`` naming both when the
    trace has no WebRTC link between them."""
    label = f"link_report({getattr(a, 'name', a)}, {getattr(b, 'name', b)})"
    lab._check_open(label)
    pa, pb = pid_of(lab, label, a), pid_of(lab, label, b)
    if pa == pb:
        raise GunError(f"{label}: a peer has no link to itself; give two different peers")

    def read() -> list[trace.Event]:
        return [
            e
            for e in list(lab.bus.history)
            if isinstance(e, trace.LinkStats) and {e.node, e.peer} == {pa, pb}
        ]

    events = lab.rt.call(read, what=label)
    report = LinkReport.from_events(events, pa, pb, dict(lab.names))
    if report is None:
        raise GunError(
            f"{label}: no WebRTC link between {lab.name_of(pa)} ({pa}) and "
            f"{lab.name_of(pb)} ({pb}) in this Lab's trace"
        )
    tabs = list(lab._tabs.tabs.values()) if lab._tabs is not None else []
    return across_proxy(report, {t.pid for t in tabs if t.via_proxy and t.pid})
