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

Each WebRTC link's getStats digest becomes a ``trace.LinkStats`` from the tab's end (Chromium's
``getStats`` has what aiortc's lacks: candidate pairs, the selected one, its round-trip time),
so ``lab.link_report`` and the link view read a tab's links as they read a Python peer's, tab
to tab included; when a link leaves the report, a final one closes it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError

__all__ = ["MAX_REPORT", "TabReports", "TabState", "link_stats", "parse_report"]

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
    #: remote pid -> the id its current WebRTC link has in LinkStats events
    link_ids: dict[str, str] = field(default_factory=dict)
    links_seen: int = 0


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

    def __init__(
        self, bus: trace.TraceBus, describe: Callable[[str, str], None] | None = None
    ) -> None:
        self.bus = bus
        self._describe = describe  # shows a tab's user agent in the views
        self.tabs: dict[str, TabState] = {}  # pid -> state
        self._unsubscribe = bus.subscribe(self._on_bye, (trace.Bye,))
        self._wires: dict[tuple[str, str], str] = {}  # (relay pid, its wire id) -> tab pid

    def beacon(
        self, expected_pid: str | None, report: dict[str, Any], websockets: bool = True
    ) -> None:
        """Take one checked report from the tab whose pid the relay heard as
        ``expected_pid`` (None: not heard yet, the report waits for the next beacon).
        ``websockets=False`` leaves the tab's WebSocket links out: a tab that dials another
        relay (through a tap, whose own events show that wire) would otherwise add a second
        end the directory cannot match, and its claim would be doubted."""
        if expected_pid is None:
            return
        if report["pid"] != expected_pid:
            raise GunError(
                f"a tab report says pid {report['pid']!r}; its page joined as {expected_pid!r}"
            )
        state = self.tabs.setdefault(expected_pid, TabState(expected_pid))
        ua = report.get("ua", "")[:300]
        if ua != state.ua and self._describe is not None:
            self._describe(expected_pid, ua)
        state.ua = ua
        state.reports += 1
        links = {k: v for k, v in _links(report).items() if websockets or k[0] != "ws"}
        self._changes(state, links)
        state.links = links
        rtc = report.get("rtc", {})
        state.rtc = {
            pid: stats
            for pid, stats in list(rtc.items())[:MAX_LINKS]
            if isinstance(pid, str) and isinstance(stats, dict)
        }
        self._link_stats(state)

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

    def _link_stats(self, state: TabState) -> None:
        """One ``LinkStats`` per WebRTC link in the last report; a final one for each link
        that left it."""
        now = self.bus.now()
        for remote, digest in state.rtc.items():
            link = state.link_ids.get(remote)
            if link is None:
                state.links_seen += 1
                link = state.link_ids[remote] = f"tab-{state.pid}-{state.links_seen}"
            try:
                self.bus.emit(link_stats(now, state.pid, remote, link, digest))
            except (TypeError, ValueError, AttributeError):
                continue  # a digest of the wrong shape tells nothing: the next one may
        for remote in [r for r in state.link_ids if r not in state.rtc]:
            link = state.link_ids.pop(remote)
            self.bus.emit(
                trace.LinkStats(now, state.pid, remote, link=link, phase="closed", final=True)
            )

    def joined(self, relay_pid: str, wire: str, tab_pid: str) -> None:
        """The relay's wire ``wire`` is tab ``tab_pid``'s WebSocket (its reports end with it)."""
        self._wires[(relay_pid, wire)] = tab_pid

    def _on_bye(self, e: trace.Event) -> None:
        tab = self._wires.pop((e.node, e.peer), None)
        state = self.tabs.get(tab) if tab is not None else None
        if state is not None:
            self._changes(state, {})
            state.links = {}
            state.rtc = {}
            self._link_stats(state)

    def close(self) -> None:
        """Stop listening (the Lab closed)."""
        self._unsubscribe()


def _family(address: str) -> str:
    if address.endswith(".local"):
        return "mdns"
    try:
        return "ipv4" if ipaddress.ip_address(address).version == 4 else "ipv6"
    except ValueError:
        return "other"


def _candidates(digest: dict[str, Any], key: str) -> dict[str, trace.CandidateInfo]:
    out: dict[str, trace.CandidateInfo] = {}
    for c in digest.get(key, [])[:MAX_LINKS]:
        address = str(c.get("address") or "")[:80]
        family = _family(address) if address else "hidden"  # the browser did not say it
        out[str(c.get("id", ""))] = trace.CandidateInfo(
            address=address,
            resolved=address if family in ("ipv4", "ipv6") else "",
            port=int(c.get("port") or 0),
            type=str(c.get("candidateType") or "")[:8],
            protocol=str(c.get("protocol") or "")[:4],
            family=family,
        )
    return out


def _total(channels: list[dict[str, Any]], key: str) -> int:
    return sum(int(ch.get(key) or 0) for ch in channels)


def link_stats(t: float, tab: str, remote: str, link: str, d: dict[str, Any]) -> trace.LinkStats:
    """A tab's getStats digest of one WebRTC link (see ``tab.js``) as a ``LinkStats`` from the
    tab's end: the same vocabulary as a Python peer's (Chromium's pair states are the ones
    aioice uses). A ``TypeError``/``ValueError`` for a digest of the wrong shape."""
    local, remote_c = _candidates(d, "lc"), _candidates(d, "rc")

    def where(c: trace.CandidateInfo | None) -> str:
        return f"{c['address']}:{c['port']}" if c else "?"

    pairs: dict[str, trace.PairInfo] = {}
    rtts: dict[str, float] = {}
    for p in d.get("pairs", [])[:MAX_LINKS]:
        pid = str(p.get("id", ""))
        pairs[pid] = trace.PairInfo(
            local=where(local.get(str(p.get("localCandidateId")))),
            remote=where(remote_c.get(str(p.get("remoteCandidateId")))),
            state=str(p.get("state") or "")[:12],
            nominated=bool(p.get("nominated")),
        )
        if isinstance(p.get("currentRoundTripTime"), int | float):
            rtts[pid] = float(p["currentRoundTripTime"])
    channels = [ch for ch in d.get("dc", []) if isinstance(ch, dict)][:2]
    states = [str(ch.get("state") or "")[:12] for ch in channels]
    selected = pairs.get(str(d.get("sel", "")))
    return trace.LinkStats(
        t,
        tab,
        remote,
        link=link,
        phase="open" if "open" in states else "pending",
        opened="open" in states,
        pc=str(d.get("pc") or "")[:16],
        ice=str(d.get("ice") or "")[:16],
        dtls=str(d.get("dtls") or "")[:16],
        channels={
            side: trace.ChannelInfo(state=st, buffered=0)
            for side, st in zip(("local", "remote"), states, strict=False)
        },
        local_candidates=list(local.values()),
        remote_candidates=list(remote_c.values()),
        pairs=list(pairs.values()),
        selected=selected,
        rtt=rtts.get(str(d.get("sel", ""))),
        messages_sent=_total(channels, "messagesSent"),
        messages_received=_total(channels, "messagesReceived"),
        bytes_sent=_total(channels, "bytesSent"),
        bytes_received=_total(channels, "bytesReceived"),
        buffered=int(d.get("buf") or 0),
    )
