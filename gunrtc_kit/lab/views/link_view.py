"""LinkView: every WebRTC link of the mesh, and the one selected explained (webrtc-internals).

A list of links (both ends' names, a browser tab marked as one, the link's state and failure
class) beside the selected link: its ICE, DTLS, SCTP and peer-connection states seen from each
end, the local and remote candidates (the address as signalled and as resolved, type, family),
the candidate pairs checked with the selected one highlighted, a chart of messages per second
each way over the last minute, buffered bytes and SCTP round-trip time, and the failure
sentence when the link failed. All of it comes from ``LinkStats`` samples, through the hub's
``LinkModel`` (``gunrtc_kit.diagnose.linkmodel``), classified as ``lab.link_report`` does.

Traits (py -> js): ``links`` (the rows, see ``row``), ``detail`` (the selected link, see
``detail_of``), ``title``, ``height``, ``error``; ``selected`` (a link key) goes both ways: a
click in the list sets it, and so does ``select(a, b)`` in Python. Traits rather than custom
messages: a link sends at most one sample a second per end, so the selected link's detail is
small and rare, and a trait reaches a front end even while a running cell keeps the kernel
busy. A tick sends only when a sampled link is listed differently or is the one selected.
The front end is ``static/links.js``.
"""

from __future__ import annotations

from typing import Any

import traitlets

from gunrtc_kit.diagnose.linkmodel import link_state
from gunrtc_kit.diagnose.linkreport import LinkReport, LinkSide
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.views.base import View, module
from gunrtc_kit.lab.views.hub import Changes, ViewHub

__all__ = ["SERIES_SECONDS", "LinkView"]

SERIES_SECONDS = 60.0  # the chart's width: the last minute of rates
MAX_ROWS = 500  # links listed (the newest sampled first past that)


def _cand(c: Any) -> dict[str, Any]:
    return {
        "address": c["address"],
        "resolved": c["resolved"],
        "port": c["port"],
        "type": c["type"],
        "protocol": c["protocol"],
        "family": c["family"],
    }


def _side_dict(side: LinkSide, label: Any) -> dict[str, Any]:
    """One end's view of the link as the front end draws it."""
    e = side.last
    sel = e.selected
    chosen = (sel["local"], sel["remote"]) if sel else None
    return {
        "node": side.node,
        "peer": side.peer,
        "node_label": label(side.node),
        "peer_label": label(side.peer),
        "link": side.link,
        "phase": e.phase,
        "states": {"pc": e.pc, "ice": e.ice, "gathering": e.gathering, "dtls": e.dtls},
        "sctp": e.sctp,
        "age": round(e.age, 1),
        "samples": side.samples,
        "local": [_cand(c) for c in e.local_candidates],
        "remote": [_cand(c) for c in side.remote_candidates],
        "pairs": [
            {
                "local": p["local"],
                "remote": p["remote"],
                "state": p["state"],
                "nominated": p["nominated"],
                "selected": chosen == (p["local"], p["remote"]),
            }
            for p in e.pairs
        ],
        "selected": {"local": sel["local"], "remote": sel["remote"]} if sel else None,
        "more": dict(e.more),
        "channels": {k: dict(v) for k, v in e.channels.items()},
        "buffered": e.buffered,
        "rtt_ms": None if e.rtt is None else round(e.rtt * 1000, 2),
        "failure": str(side.failure) if side.failure else "",
        "why": side.why,
        "unread": list(e.unread),
    }


def _series(report: LinkReport) -> dict[str, Any]:
    """Messages per second each way over the last ``SERIES_SECONDS``, from ``a``'s side when
    there is one (else ``b``'s, turned round): ``t`` in seconds before the newest point."""
    side = report.side(report.a)
    flip = side is None
    side = side or report.sides[0]
    rates = side.rates
    end = rates[-1].t if rates else 0.0
    kept = [r for r in rates if end - r.t <= SERIES_SECONDS]
    ab = [r.received_per_s if flip else r.sent_per_s for r in kept]
    ba = [r.sent_per_s if flip else r.received_per_s for r in kept]
    return {
        "t": [round(r.t - end, 2) for r in kept],
        "ab": [round(x, 2) for x in ab],
        "ba": [round(x, 2) for x in ba],
        "seconds": SERIES_SECONDS,
        "from_side": side.node,
    }


class LinkView(View):
    """The WebRTC links (list, state, failure class) and the selected one explained: its
    candidates, pairs (the selected pair highlighted), states, a rate chart, buffered bytes,
    RTT and failure sentence. ``select(a, b)`` picks a link from Python."""

    _esm = module("links.js")
    links: traitlets.List[Any] = traitlets.List().tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    title = traitlets.Unicode("WebRTC links").tag(sync=True)

    kind = "links"

    def __init__(self, hub: ViewHub, *, height: int = 520) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._names_version = -1
        super().__init__(hub, height=height)
        self.observe(self._on_selected, names="selected")
        with hub.lock:
            self._update(set(hub.links.links), force=True)

    # ------------------------------------------------------------------ shapes
    def row(self, key: str) -> dict[str, Any]:
        """One link of the list: ``id`` (its key), ``a``/``b`` (pids), ``label_a``/``label_b``
        (names), ``browser_a``/``browser_b`` (that end is a browser tab), ``state`` (open,
        pending, closed, failed), ``failure`` (its class, "" when healthy)."""
        report = self.hub.links.report(key)
        assert report is not None
        d = self.hub.directory
        return {
            "id": key,
            "a": report.a,
            "b": report.b,
            "label_a": d.label(report.a),
            "label_b": d.label(report.b),
            "browser_a": d.role(report.a) == "browser",
            "browser_b": d.role(report.b) == "browser",
            "state": link_state(report),
            "failure": str(report.failure) if report.failure else "",
        }

    def detail_of(self, key: str) -> dict[str, Any]:
        """The selected link as the front end draws it ({} for an unknown key): the row's
        fields, ``why`` (the failure sentence), ``sides`` (per end: states, candidates,
        pairs with ``selected``, buffered, ``rtt_ms``, failure) and ``series`` (``t``,
        ``ab``: messages/s from a to b, ``ba``: back)."""
        report = self.hub.links.report(key)
        if report is None:
            return {}
        d = self.hub.directory
        out = self.row(key)
        out["why"] = report.why
        out["sides"] = [_side_dict(s, d.label) for s in report.sides]
        out["series"] = _series(report)
        out["version"] = self.hub.links.links[key].version
        return out

    # ------------------------------------------------------------------ selection
    def select(self, a: Any, b: Any) -> None:
        """Show the link between ``a`` and ``b``: pids, names the directory knows, or peers
        (anything with a ``pid``). ``GunError`` when no link between them was sampled."""
        with self.hub.lock:
            pa, pb = self._pid(a), self._pid(b)
            key = self.hub.links.key_of(pa, pb)
            if key is None:
                d = self.hub.directory
                raise GunError(
                    f"link view: no WebRTC link between {d.label(pa)} and {d.label(pb)} "
                    "has been sampled yet (links report once a second once made)"
                )
            self.selected = key

    def _pid(self, who: Any) -> str:
        pid = getattr(who, "pid", who)
        if not isinstance(pid, str):
            raise GunError(f"link view: {who!r} is not a peer, a name or a pid")
        names = self.hub.directory.names
        if pid in names or any(pid in (e.a, e.b) for e in self.hub.links.links.values()):
            return pid
        return next((p for p, n in names.items() if n == pid), pid)

    def _on_selected(self, _change: dict[str, Any]) -> None:
        with self.hub.lock:
            self.detail = self.detail_of(self.selected) if self.selected else {}

    # ------------------------------------------------------------------ sending
    def _update(self, keys: set[str], force: bool = False) -> None:
        d = self.hub.directory
        if d.version != self._names_version:  # names or roles changed: every row anew
            self._names_version = d.version
            keys, force = set(self.hub.links.links), True
        moved = force
        for key in keys:
            row = self.row(key)
            if self._rows.get(key) != row:
                self._rows[key] = row
                moved = True
        if moved:  # in the order the links were first sampled
            order = self.hub.links.links
            self.links = [self._rows[k] for k in order if k in self._rows][-MAX_ROWS:]
        if not self.selected and self.links:
            self.selected = self.links[0]["id"]  # shows the first link without a click
        elif self.selected and (force or self.selected in keys):
            self.detail = self.detail_of(self.selected)

    def tick(self, changes: Changes) -> None:
        """Send the rows that changed, and the selected link's detail when it was sampled."""
        if changes.links or self.hub.directory.version != self._names_version:
            self._update(changes.links)

    def reset(self) -> None:
        """Every row and the selected link anew (the models were rebuilt, or a new front
        end asked)."""
        self._rows = {}
        self._update(set(self.hub.links.links), force=True)
        self.send_state(["links", "selected", "detail"])
