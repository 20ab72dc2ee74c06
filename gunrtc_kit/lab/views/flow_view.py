"""FlowView: every copy of every message as a sequence diagram, newest first, in the browser.

The rows live in the hub's ``FateModel``; this view keeps the *filtered sequence*: the row
numbers that match its filters, with stable logical positions (``base`` grows as old rows are
discarded, so a position keeps naming the same row). The browser asks for the rows it shows
(virtual scrolling: it holds a window, never the whole list) and each tick tells it the new
count, the newest rows when it follows the traffic, and rows in its window whose fate changed
(a copy heard, dropped by dedup, lost). Selection is by message id, so the message a user
clicked stays selected however the rows move; ``detail`` holds its JSON and its fate.
"""

from __future__ import annotations

import bisect
import json
from typing import Any

import traitlets

from gunrtc_kit.diagnose.fate import MARKS
from gunrtc_kit.lab.views.base import View, module
from gunrtc_kit.lab.views.hub import Changes, ViewHub

__all__ = ["FlowView"]

FILTER_KEYS = ("peer", "kind", "soul", "transport", "hide_signaling", "pair")
MAX_REQUEST = 500  # rows one request may ask for
JSON_CHARS = 20_000


def _default_filters() -> dict[str, Any]:
    return {
        "peer": "",
        "kind": "",
        "soul": "",
        "transport": "",
        "hide_signaling": False,
        "pair": [],
    }


class FlowView(View):
    """Message flow: filter by peer, kind, soul, transport; hide discovery and signalling;
    pause; follow the newest rows; pick a message to see its JSON and its fate."""

    _esm = module("flow.js")
    lanes: traitlets.List[Any] = traitlets.List().tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    base = traitlets.Int(0).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    kept = traitlets.Int(0).tag(sync=True)
    cap = traitlets.Int(0).tag(sync=True)
    filters = traitlets.Dict().tag(sync=True)
    kinds: traitlets.List[Any] = traitlets.List().tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    paused = traitlets.Bool(False).tag(sync=True)
    follow = traitlets.Bool(True).tag(sync=True)
    window: traitlets.List[Any] = traitlets.List().tag(sync=True)

    kind = "flow"
    traits_every = 1.0
    detail_every = 0.25

    def __init__(self, hub: ViewHub, *, height: int = 460, **filters: Any) -> None:
        self._index: list[int] = []
        self._base = 0
        self._next = 0
        self._match: Any = None
        self._fate: Any = None
        self._viewport = 30
        self._range = (0, 0)  # the logical positions the front end last asked for
        self._sent_count = -1
        self._sent_base = -1
        self._last_traits = 0.0
        self._last_detail = 0.0
        self._detail_version = -1
        self._lanes_version = -1
        self._n_kinds = -1
        super().__init__(hub, height=height, cap=hub.fate.row_cap)
        start = _default_filters()
        start.update({k: v for k, v in filters.items() if k in FILTER_KEYS})
        unknown = set(filters) - set(FILTER_KEYS)
        if unknown:
            from gunrtc_kit.errors import GunError

            raise GunError(f"unknown flow filter(s) {sorted(unknown)}; expected {FILTER_KEYS}")
        with hub.lock:
            self.filters = start
            self._rebuild()
            self._update_traits(force=True)
        self.observe(self._on_filters, names="filters")
        self.observe(self._on_selected, names="selected")
        self.observe(self._on_paused, names="paused")

    # ------------------------------------------------------------------ the sequence
    def _rebuild(self) -> None:
        f = {**_default_filters(), **self.filters}
        pair = f.get("pair") or []
        fate = self._fate = self.hub.fate
        self._match = fate.matcher(
            peer=str(f.get("peer") or ""),
            kind=str(f.get("kind") or ""),
            soul=str(f.get("soul") or ""),
            transport=str(f.get("transport") or ""),
            hide_signaling=bool(f.get("hide_signaling")),
            pair=(str(pair[0]), str(pair[1])) if len(pair) == 2 else None,
        )
        match = self._match
        n = len(fate)
        self._index = [fate.offset + i for i in range(n) if match(i)]
        self._base = 0
        self._next = fate.total

    def _extend(self) -> None:
        fate = self.hub.fate
        if fate is not self._fate:  # the hub rebuilt its models (a replay went back in time)
            self._rebuild()
            fate = self._fate
        off = fate.offset
        start = max(self._next, off)
        match = self._match
        index = self._index
        for seq in range(start, fate.total):
            if match(seq - off):
                index.append(seq)
        self._next = fate.total
        if index and index[0] < off:
            k = bisect.bisect_left(index, off)
            del index[:k]
            self._base += k

    @property
    def _count(self) -> int:
        return len(self._index)

    def _row(self, pos: int) -> list[Any]:
        fate = self.hub.fate
        seq = self._index[pos - self._base]
        i = seq - fate.offset
        return [
            pos,
            round(fate.c_t[i], 3),
            fate.c_src[i],
            fate.c_dst[i],
            fate.c_kind[i],
            fate.c_label[i],
            fate.c_mid[i],
            MARKS[fate.c_mark[i]],
            fate.c_tr[i],
            fate.c_reply[i],
        ]

    def _rows(self, start: int, stop: int) -> list[list[Any]]:
        lo = max(start, self._base)
        hi = min(stop, self._base + self._count)
        return [self._row(p) for p in range(lo, hi)]

    # ------------------------------------------------------------------ hub
    def reset(self) -> None:
        """Tell the front ends the filtered sequence anew (they drop their rows)."""
        self._extend()
        self._update_traits(force=True)
        self.post(
            {
                "type": "reset",
                "count": self._count,
                "base": self._base,
                "total": self.hub.fate.total,
                "kept": self.hub.fate.kept,
            }
        )
        self._sent_count, self._sent_base = self._count, self._base

    def tick(self, ch: Changes) -> None:
        """Send the new count, the newest rows when following, and the rows in the window
        whose fate changed."""
        if self.paused:
            return
        self._extend()
        count, base = self._count, self._base
        end = base + count
        if self.follow:
            lo, hi = max(end - self._viewport, base), end
        else:
            lo, hi = self._range
        out: dict[int, list[Any]] = {}
        if self.follow and (count != self._sent_count or base != self._sent_base):
            for p in range(lo, hi):
                out[p] = self._row(p)
        if ch.rows and hi > lo and lo - base < count:
            index = self._index
            first = index[max(lo - base, 0)]
            for seq in ch.rows:
                if seq < first:
                    continue
                k = bisect.bisect_left(index, seq)
                if k < count and index[k] == seq:
                    p = base + k
                    if lo <= p < hi and p not in out:
                        out[p] = self._row(p)
        if out or count != self._sent_count or base != self._sent_base:
            self.post(
                {
                    "type": "tick",
                    "count": count,
                    "base": base,
                    "total": self.hub.fate.total,
                    "kept": self.hub.fate.kept,
                    "rows": [out[p] for p in sorted(out)],
                }
            )
            self._sent_count, self._sent_base = count, base
        self._update_traits(force=ch.flush)
        self._update_detail(force=ch.flush)

    def _update_traits(self, force: bool = False) -> None:
        now = self._now()
        d = self.hub.directory
        fate = self.hub.fate
        if d.version != self._lanes_version:
            self.lanes = [{"id": ent, "label": d.label(ent)} for ent in d.lanes]
            self._lanes_version = d.version
        if len(fate.kinds) != self._n_kinds:
            self.kinds = sorted(fate.kinds)
            self._n_kinds = len(fate.kinds)
        if not force and now - self._last_traits < self.traits_every:
            return
        self._last_traits = now
        with self.hold_sync():
            self.count, self.base = self._count, self._base
            self.total, self.kept = fate.total, fate.kept
            end = self._base + self._count
            self.window = self._rows(max(end - self._viewport, self._base), end)

    # ------------------------------------------------------------------ the browser
    def handle(self, content: dict[str, Any]) -> None:
        """Answer ``viewport`` (rows on screen) and ``rows`` (a window of rows)."""
        kind = content.get("type")
        if kind == "viewport":
            n = content.get("n")
            if isinstance(n, int) and 1 <= n <= MAX_REQUEST:
                self._viewport = n
        elif kind == "rows":
            start, stop, req = content.get("from"), content.get("to"), content.get("req")
            if not isinstance(start, int) or not isinstance(stop, int):
                return
            stop = min(stop, start + MAX_REQUEST)
            self._range = (start, stop)
            self._extend()
            self.post({"type": "rows", "req": req, "rows": self._rows(start, stop)})

    def _on_filters(self, change: dict[str, Any]) -> None:
        new = change.get("new")
        if not isinstance(new, dict) or set(new) - set(FILTER_KEYS):
            self.error = f"FlowView: filters take {FILTER_KEYS}, got {new!r}"
            return
        with self.hub.lock:
            self._rebuild()
            self.reset()

    def _on_selected(self, _change: dict[str, Any]) -> None:
        with self.hub.lock:
            self._detail_version = -1
            self._update_detail(force=True)

    def _on_paused(self, change: dict[str, Any]) -> None:
        if change.get("new"):
            self.hub.pause()
        else:
            self.hub.resume()

    def on_pause(self, paused: bool) -> None:
        """The hub paused or resumed (from this view or another)."""
        if self.paused != paused:
            self.paused = paused

    def _update_detail(self, force: bool = False) -> None:
        mid = self.selected
        if not mid:
            if self.detail:
                self.detail = {}
            return
        info = self.hub.fate.msgs.get(mid)
        if info is None:
            self.detail = {"mid": mid, "summary": f"message #{mid} is not in the trace"}
            return
        now = self._now()
        if info.version == self._detail_version:
            return
        if not force and now - self._last_detail < self.detail_every:
            return
        self._last_detail = now
        self._detail_version = info.version
        self.detail = self.detail_for(mid)

    def detail_for(self, mid: str) -> dict[str, Any]:
        """The selected message as the detail pane shows it: summary, fate, JSON."""
        fate = self.hub.fate.fate(mid)
        text = json.dumps(fate.msg, indent=1, ensure_ascii=False, default=repr)
        if len(text) > JSON_CHARS:
            text = text[:JSON_CHARS] + f"\n… ({len(text) - JSON_CHARS} more characters)"
        related = list(fate.replies) + ([fate.request] if fate.request else [])
        return {
            "mid": mid,
            "kind": fate.kind,
            "json": text,
            "summary": fate.summary,
            "fate": [{"t": round(s.t, 3), "text": s.text, "mark": s.mark} for s in fate.steps],
            "related": related,
        }

    # ------------------------------------------------------------------ reading
    @property
    def rows(self) -> list[Any]:
        """The rows that match the filters now (``diagnose.Row``), oldest first."""
        with self.hub.lock:
            self._extend()
            fate = self.hub.fate
            return [fate.row(seq) for seq in self._index]

    def set_filters(self, **filters: Any) -> None:
        """Change some filters (``peer``, ``kind``, ``soul``, ``transport``,
        ``hide_signaling``, ``pair``); the others stay."""
        unknown = set(filters) - set(FILTER_KEYS)
        if unknown:
            from gunrtc_kit.errors import GunError

            raise GunError(f"unknown flow filter(s) {sorted(unknown)}; expected {FILTER_KEYS}")
        self.filters = {**self.filters, **filters}

    def select(self, mid: str) -> dict[str, Any]:
        """Select message ``mid`` (as a click does); returns its detail."""
        self.selected = mid
        with self.hub.lock:
            self._update_detail(force=True)
        return dict(self.detail)

    def mermaid(self, limit: int = 200) -> str:
        """The newest ``limit`` rows that match the filters as a Mermaid sequence diagram
        (dashed async arrows: over a data channel; ``x`` ends: dropped or lost)."""
        rows = self.rows[-limit:]
        parts: list[str] = []
        for r in rows:
            for p in (r.src, r.dst):
                if p not in parts:
                    parts.append(p)
        lines = ["sequenceDiagram"]
        lines += [f"    participant {_mid(p)} as {p}" for p in parts]
        for r in rows:
            label = r.kind + (f" {r.label}" if r.label else "") + f" #{r.mid}"
            if r.mark in ("dup", "lost"):
                arrow, label = "-x", f"{label} ({r.mark})"
            else:
                arrow = "--)" if r.transport == "dc" else "->>"
            lines.append(f"    {_mid(r.src)}{arrow}{_mid(r.dst)}: {label.replace(';', ',')}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ static export
    def to_png(self, limit: int = 60, dpi: int = 144) -> bytes:
        """The newest ``limit`` rows as a PNG sequence diagram (matplotlib)."""
        from gunrtc_kit.lab.views.export import flow_figure, to_png

        return to_png(flow_figure(self.rows[-limit:]), dpi)

    def to_svg(self, limit: int = 60) -> str:
        """The newest ``limit`` rows as SVG text."""
        from gunrtc_kit.lab.views.export import flow_figure, to_svg

        return to_svg(flow_figure(self.rows[-limit:]))


def _mid(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else "_" for c in name)
