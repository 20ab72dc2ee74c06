"""What a browser tab reports of itself: its user agent, its links, its WebRTC links' stats.

No Python side sees a link between two tabs, and the Python end of a tab's link sees only
what aiortc reports; the tab's own view comes from the tab. Its page (``tab/tab.js``) sends a
beacon once a second: a GET of ``<its prefix>beacon?r=<json>`` that the Lab's relay hands to
``TabReports.beacon`` (``Relay.serve(..., beacon=)``), not a message in the mesh. Each report
is checked (it comes from a page: bounded, typed, its pid the one the relay heard on the tab's
own WebSocket) and turned into trace events as if the tab were a traced peer: a ``Hi`` when
one of its links opens, a ``Bye`` when it closes or leaves the report, with ``node`` the tab's
pid. The views then draw a tab's links from both ends, tab to tab included. When the relay's
wire to the tab closes, the tab can report no more: its links are closed with it.

The last report's getStats digest per WebRTC link is kept (``rtc``) for link reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError

__all__ = ["MAX_REPORT", "TabReports", "TabState"]

MAX_REPORT = 16_384  # characters of one report's JSON (a request line is shorter anyway)
MAX_LINKS = 64  # links kept from one report
TRANSPORTS = ("ws", "dc")


@dataclass
class TabState:
    """What one tab said of itself last."""

    pid: str
    ua: str = ""
    #: (transport, remote pid) -> state, as the tab's npm gun holds its peers
    links: dict[tuple[str, str], str] = field(default_factory=dict)
    #: remote pid -> the tab's getStats digest of that WebRTC link
    rtc: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: int = 0


def _wire(transport: str, remote: str) -> str:
    """The id the tab's end of a link has in the trace. A WebRTC link is named by the far
    pid, as a Python peer names its own (the pid comes from signalling, so the directory
    takes it as a fact, not a ``?`` claim that would wait for the far end's events); the
    WebSocket to the relay gets a stable id of its own."""
    return remote if transport == "dc" else f"tab-{transport}:{remote}"


def parse_report(query: dict[str, str]) -> dict[str, Any]:
    """The report in a beacon's query, checked for shape; a ``GunError`` saying what is wrong."""
    raw = query.get("r", "")
    if not raw or len(raw) > MAX_REPORT:
        raise GunError(f"a tab report of {len(raw)} characters (expected 1..{MAX_REPORT})")
    try:
        report = json.loads(raw)
    except ValueError as exc:
        raise GunError(f"a tab report that is not JSON: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("pid"), str):
        raise GunError("a tab report without its pid")
    links = report.get("links")
    if not isinstance(links, list) or not all(isinstance(x, dict) for x in links):
        raise GunError("a tab report whose links are not a list of objects")
    if not isinstance(report.get("rtc", {}), dict) or not isinstance(report.get("ua", ""), str):
        raise GunError("a tab report with a bad rtc or ua field")
    return report


def _links(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for link in report["links"][:MAX_LINKS]:
        pid, transport, state = link.get("pid"), link.get("t"), link.get("state")
        if isinstance(pid, str) and pid and transport in TRANSPORTS and isinstance(state, str):
            out[(transport, pid)] = state[:16]
    return out


class TabReports:
    """Turns each tab's beacons into trace events; see the module docstring. Runs on the
    runtime thread (the relay's loop), as the bus's emitters do."""

    def __init__(self, bus: trace.TraceBus) -> None:
        self.bus = bus
        self.tabs: dict[str, TabState] = {}  # pid -> state
        self._unsubscribe = bus.subscribe(self._on_bye, (trace.Bye,))
        self._wires: dict[tuple[str, str], str] = {}  # (relay pid, its wire id) -> tab pid

    def beacon(self, expected_pid: str | None, report: dict[str, Any]) -> None:
        """Take one checked report from the tab whose pid the relay heard as
        ``expected_pid`` (None: not heard yet, the report waits for the next beacon)."""
        if expected_pid is None:
            return
        if report["pid"] != expected_pid:
            raise GunError(
                f"a tab report says pid {report['pid']!r}; its page joined as {expected_pid!r}"
            )
        state = self.tabs.setdefault(expected_pid, TabState(expected_pid))
        state.ua = report.get("ua", "")[:300]
        state.reports += 1
        links = _links(report)
        self._changes(state, links)
        state.links = links
        rtc = report.get("rtc", {})
        state.rtc = {
            pid: stats
            for pid, stats in list(rtc.items())[:MAX_LINKS]
            if isinstance(pid, str) and isinstance(stats, dict)
        }

    def _changes(self, state: TabState, links: dict[tuple[str, str], str]) -> None:
        now = self.bus.now()
        for (transport, remote), s in links.items():
            was_open = state.links.get((transport, remote)) == "open"
            if s == "open" and not was_open:
                self.bus.emit(trace.Hi(now, state.pid, _wire(transport, remote), remote, transport))
            elif s != "open" and was_open:
                self.bus.emit(trace.Bye(now, state.pid, _wire(transport, remote), transport))
        for (transport, remote), s in state.links.items():
            if s == "open" and (transport, remote) not in links:
                self.bus.emit(trace.Bye(now, state.pid, _wire(transport, remote), transport))

    def joined(self, relay_pid: str, wire: str, tab_pid: str) -> None:
        """The relay's wire ``wire`` is tab ``tab_pid``'s WebSocket (its reports end with it)."""
        self._wires[(relay_pid, wire)] = tab_pid

    def _on_bye(self, e: trace.Event) -> None:
        tab = self._wires.pop((e.node, e.peer), None)
        state = self.tabs.get(tab) if tab is not None else None
        if state is not None:
            self._changes(state, {})
            state.links = {}

    def close(self) -> None:
        """Stop listening (the Lab closed)."""
        self._unsubscribe()
