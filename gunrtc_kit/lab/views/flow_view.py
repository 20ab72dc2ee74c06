"""FlowView: every copy of every message as a sequence diagram, newest first, in the browser.

The rows live in the hub's ``FateModel``; this view keeps the *filtered sequence*: the row
numbers that match its filters, with stable logical positions (``base`` grows as old rows are
discarded, so a position keeps naming the same row). The browser asks for the rows it shows
(virtual scrolling: it holds a window, never the whole list) and each tick tells it the new
count, the newest rows when it follows the traffic, and rows in its window whose fate changed
(a copy heard, dropped by dedup, lost). Selection is by message id, so the message a user
clicked stays selected however the rows move; ``detail`` holds its JSON and its fate.

Order: positions follow the order the model made its rows (``seq``, the order the events were
emitted), never the wall clock: many rows share a millisecond and only the emission order
keeps happens-before among them. Lanes (``lanes``) go relays first, then peers by name (or
the order ``lane_order`` chose); rows name lanes by their directory number (``lane``), so a
new peer's lane never renumbers the rows already sent.

Grouping (``group``, off by default): a row of the same kind, sender, receiver and transport
as a group opened less than ``GROUP_SPAN`` seconds earlier, and still among the newest
``GROUP_ROWS`` positions, joins that group instead of taking a position; the group's row says
how many copies it holds and what became of them (its mark is the worst one), and the
browser lists the copies on a click. At 50 puts/s that turns hundreds of rows a second into a
few a second. A group sits at its first copy: turn grouping off to read every copy in order.

Step mode: a copy held on its wire has the mark ``held`` and is drawn in flight; its row's
last field names the frame it waits in (``f3``), and with a ``step_action`` (a Lab's view) a
click on it offers deliver / drop / duplicate (``stepping.py``).
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import traitlets

from gunrtc_kit.diagnose.fate import (
    ANSWERED,
    DUP,
    HEARD,
    HEARD_ONLY,
    HELD,
    LOST,
    MARKS,
    QUEUED,
    REFUSED,
    SENT,
    UNTRACED,
)
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.views.base import module
from gunrtc_kit.lab.views.hub import Changes, ViewHub
from gunrtc_kit.lab.views.stepping import StepView, frame_of

__all__ = ["FlowView", "default_filters", "lane_order", "soul_test"]

FILTER_KEYS = ("peer", "kind", "soul", "transport", "hide_signaling", "pair")
MAX_REQUEST = 500  # rows one request may ask for
JSON_CHARS = 20_000
GROUP_SPAN = 1.0  # seconds a group of repeats stays open
GROUP_ROWS = 64  # a group takes more copies only while among the newest positions
GROUP_OPEN = 1024  # open groups remembered at most (one per kind and link)
MAX_MEMBERS = 500  # copies of a group the browser is sent on a click
# which mark a group shows: the worst of its copies
_RANK = {
    HEARD: 0,
    ANSWERED: 1,
    HEARD_ONLY: 2,
    UNTRACED: 3,
    SENT: 4,
    HELD: 4,
    QUEUED: 5,
    DUP: 6,
    REFUSED: 7,
    LOST: 8,
}
JUMP_MARKS = ("lost", "dup", "err")


def soul_test(pattern: str) -> Callable[[str], bool] | None:
    """The test a ``soul`` filter makes: the soul exactly (``chat/m49`` is not
    ``chat/m490``), or a prefix when the pattern ends in ``*`` (``chat/*``); None when the
    pattern is empty (no filter)."""
    p = pattern.strip()
    if not p:
        return None
    if p.endswith("*"):
        prefix = p[:-1]
        return lambda s: s.startswith(prefix)
    return lambda s: s == p


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts ``peer2`` before ``peer10``."""
    return tuple(int(x) if x.isdigit() else x.lower() for x in re.split(r"(\d+)", text))


def lane_order(d: Directory, chosen: Sequence[str] = ()) -> list[int]:
    """Directory lane numbers in display order: the ``chosen`` names (or ids) first, in
    their order; then relays, then named peers by name, then the rest (ids nobody named).
    The mesh reads this way round (the relay in the middle of a star); first-seen order
    would move a peer's lifeline from one run to the next."""
    pick = {name: k for k, name in enumerate(chosen)}
    roles = {"relay": 0, "peer": 1}

    def key(n: int) -> tuple[Any, ...]:
        ent = d.lanes[n]
        label = d.label(ent)
        k = pick.get(label, pick.get(ent))
        if k is not None:
            return (0, k)
        named = label != ent
        return (1, roles.get(d.role(ent), 2), not named, _natural(label), ent)

    return sorted(range(len(d.lanes)), key=key)


def default_filters() -> dict[str, Any]:
    """Every flow filter at its "show everything" value. Written once, here: the view sends
    them to its front end (the ``filter_defaults`` trait), which fills in any filter the
    ``filters`` trait leaves out with them, so that no other copy can drift."""
    return {
        "peer": "",
        "kind": "",
        "soul": "",
        "transport": "",
        "hide_signaling": False,
        "pair": [],
    }


class FlowView(StepView):
    """Message flow: filter by peer, kind, soul, transport; hide discovery and signalling;
    pause; follow the newest rows; pick a message to see its JSON and its fate; jump to the
    next lost, duplicate or failed copy; group repeats when the traffic is heavy.

    Each ``FlowView`` has its own filters: ``Lab.flow_view(kind="put")`` makes a new one, so
    an output keeps showing what its cell asked for."""

    _esm = module("flow.js")
    lanes: traitlets.List[Any] = traitlets.List().tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    base = traitlets.Int(0).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    kept = traitlets.Int(0).tag(sync=True)
    cap = traitlets.Int(0).tag(sync=True)
    filters = traitlets.Dict().tag(sync=True)
    filter_defaults = traitlets.Dict().tag(sync=True)  # see default_filters
    kinds: traitlets.List[Any] = traitlets.List().tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    paused = traitlets.Bool(False).tag(sync=True)
    follow = traitlets.Bool(True).tag(sync=True)
    window: traitlets.List[Any] = traitlets.List().tag(sync=True)
    order: traitlets.List[Any] = traitlets.List().tag(sync=True)
    group = traitlets.Bool(False).tag(sync=True)

    kind = "flow"
    traits_every = 1.0
    detail_every = 0.25

    def __init__(
        self, hub: ViewHub, *, height: int = 460, group: bool = False, **filters: Any
    ) -> None:
        self._index: list[int] = []  # row seqs at positions (a group's first copy)
        self._members: dict[int, list[int]] = {}  # a group's first copy -> the later ones
        self._head_of: dict[int, int] = {}  # a later copy -> its group's first
        self._open: dict[tuple[str, int, int, str], int] = {}
        self._grown: set[int] = set()
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
        unknown = set(filters) - set(FILTER_KEYS)
        if unknown:
            raise GunError(f"unknown flow filter(s) {sorted(unknown)}; expected {FILTER_KEYS}")
        super().__init__(
            hub,
            height=height,
            cap=hub.fate.row_cap,
            group=group,
            filter_defaults=default_filters(),
        )
        start = default_filters()
        start.update(filters)
        with hub.lock:
            self.filters = start
            self._rebuild()
            self._update_traits(force=True)
        self.observe(self._on_filters, names="filters")
        self.observe(self._on_selected, names="selected")
        self.observe(self._on_paused, names="paused")
        self.observe(self._on_order, names="order")
        self.observe(self._on_group, names="group")

    # ------------------------------------------------------------------ the sequence
    def _rebuild(self) -> None:
        f = {**default_filters(), **self.filters}
        pair = f.get("pair") or []
        fate = self._fate = self.hub.fate
        match = fate.matcher(
            peer=str(f.get("peer") or ""),
            kind=str(f.get("kind") or ""),
            transport=str(f.get("transport") or ""),
            hide_signaling=bool(f.get("hide_signaling")),
            pair=(str(pair[0]), str(pair[1])) if len(pair) == 2 else None,
        )
        self._match = _with_soul(match, fate, soul_test(str(f.get("soul") or "")))
        self._index, self._members, self._head_of = [], {}, {}
        self._open, self._grown = {}, set()
        self._base = 0
        self._next = fate.offset
        self._extend()

    def _extend(self) -> None:
        fate = self.hub.fate
        if fate is not self._fate:  # the hub rebuilt its models (a replay went back in time)
            self._rebuild()
            fate = self._fate
        off = fate.offset
        start = max(self._next, off)
        match = self._match
        index = self._index
        group = self.group  # a trait: read once, not per row
        for seq in range(start, fate.total):
            if match(seq - off):
                if not (group and self._join(seq, seq - off)):
                    index.append(seq)
        self._next = fate.total
        if index and index[0] < off:
            k = bisect.bisect_left(index, off)
            for head in index[:k]:
                for m in self._members.pop(head, ()):
                    self._head_of.pop(m, None)
            del index[:k]
            self._base += k

    def _join(self, seq: int, i: int) -> bool:
        """Put row ``seq`` in an open group of the same kind and link (True), or open a
        group with it (False: it takes a position of its own)."""
        fate = self.hub.fate
        key = (fate.c_kind[i], fate.c_src[i], fate.c_dst[i], fate.c_tr[i])
        head = self._open.get(key)
        if head is not None and head >= fate.offset:
            index = self._index
            fresh = fate.c_t[i] - fate.c_t[head - fate.offset] <= GROUP_SPAN
            if fresh and len(index) - bisect.bisect_left(index, head) <= GROUP_ROWS:
                self._members.setdefault(head, []).append(seq)
                self._head_of[seq] = head
                self._grown.add(head)
                return True
        if len(self._open) >= GROUP_OPEN:
            self._open.clear()
        self._open[key] = seq
        return False

    @property
    def _count(self) -> int:
        return len(self._index)

    def _row(self, pos: int) -> list[Any]:
        seq = self._index[pos - self._base]
        return self._row_of(seq, pos)

    def _row_of(self, seq: int, pos: int, alone: bool = False) -> list[Any]:
        """Row ``seq`` on the wire: ``[pos, t, src, dst, kind, label, mid, mark, transport,
        reply_to, n, summary, err, frame]`` (``n`` copies in its group, ``summary`` their
        marks, ``frame`` the held frame a ``held`` copy waits in; ``alone``: this copy only,
        as a group's list shows it)."""
        fate = self.hub.fate
        i = seq - fate.offset
        seqs = [seq] if alone else self._copies(seq)
        # mark_at: a copy "sent" to a peer that emits no events reads "untraced"
        c_mark, off = fate.c_mark, fate.offset
        marks = [
            c_mark[s - off] if c_mark[s - off] != SENT else MARKS.index(fate.mark_at(s - off))
            for s in seqs
        ]
        worst = max(marks, key=lambda m: _RANK.get(m, 4))
        summary = ""
        if len(marks) > 1:
            counts = Counter(MARKS[m] for m in marks)
            summary = ", ".join(f"{c} {m}" for m, c in sorted(counts.items()))
        err = any(self._failed(fate.c_mid[s - fate.offset]) for s in seqs)
        held = [s for s, m in zip(seqs, marks, strict=True) if m == HELD]
        return [
            pos,
            round(fate.c_t[i], 3),
            fate.c_src[i],
            fate.c_dst[i],
            fate.c_kind[i],
            fate.c_label[i],
            fate.c_mid[i],
            MARKS[worst],
            fate.c_tr[i],
            fate.c_reply[i],
            len(seqs),
            summary,
            int(err),
            frame_of(fate.row_why.get(held[0], "")) if held else "",
        ]

    def _copies(self, head: int) -> list[int]:
        """The kept rows at ``head``'s position: it, and the later copies of its group."""
        off = self.hub.fate.offset
        return [head] + [m for m in self._members.get(head, ()) if m >= off]

    def _failed(self, mid: str) -> bool:
        """Did the trace report an error about message ``mid`` (or was it answered one)?"""
        info = self.hub.fate.msgs.get(mid)
        return info is not None and (
            bool(info.answer_err) or any(k == "error" for _t, _x, k in info.notes)
        )

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
        changed = {self._head_of.get(s, s) for s in ch.rows} | self._grown
        self._grown = set()
        if changed and hi > lo and lo - base < count:
            index = self._index
            first = index[max(lo - base, 0)]
            for seq in changed:
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
            self.lanes = [
                {
                    "id": d.lanes[n],
                    "label": d.label(d.lanes[n]),
                    "lane": n,
                    "role": d.role(d.lanes[n]),
                }
                for n in lane_order(d, self.order)
            ]
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
        elif kind == "find":
            self._extend()
            pos = self.find(str(content.get("mark") or ""), content.get("from"))
            row = self._row(pos) if pos is not None else None
            self.post({"type": "found", "req": content.get("req"), "pos": row and pos, "row": row})
        elif kind == "members":
            pos = content.get("pos")
            rows: list[list[Any]] = []
            if isinstance(pos, int) and 0 <= pos - self._base < self._count:
                head = self._index[pos - self._base]
                rows = [self._row_of(s, pos, True) for s in self._copies(head)[:MAX_MEMBERS]]
            self.post({"type": "members", "req": content.get("req"), "pos": pos, "rows": rows})

    def find(self, mark: str, before: Any = None) -> int | None:
        """The position of the nearest row older than position ``before`` (newest first:
        below it on screen) that holds a copy marked ``mark`` (``lost``, ``dup``, or ``err``:
        a message the trace reports an error about); it wraps round to the newest. None if
        no row has one. What the "next lost / dup / err" buttons ask."""
        if mark not in JUMP_MARKS:
            raise GunError(f"find({mark!r}): expected one of {JUMP_MARKS}")
        fate, index, base = self.hub.fate, self._index, self._base
        n = len(index)
        start = n if not isinstance(before, int) else min(max(before - base, 0), n)
        want = MARKS.index(mark) if mark != "err" else -1
        off, c_mark, c_mid = fate.offset, fate.c_mark, fate.c_mid
        for k in [*range(start - 1, -1, -1), *range(n - 1, start - 1, -1)]:
            for s in self._copies(index[k]):
                i = s - off
                if (c_mark[i] == want) if want >= 0 else self._failed(c_mid[i]):
                    return int(base + k)
        return None

    def _on_filters(self, change: dict[str, Any]) -> None:
        new = change.get("new")
        if not isinstance(new, dict) or set(new) - set(FILTER_KEYS):
            self.error = f"FlowView: filters take {FILTER_KEYS}, got {new!r}"
            return
        with self.hub.lock:
            self._rebuild()
            self.reset()

    def _on_group(self, _change: dict[str, Any]) -> None:
        with self.hub.lock:
            self._rebuild()
            self.reset()

    def _on_order(self, _change: dict[str, Any]) -> None:
        with self.hub.lock:
            self._lanes_version = -1
            self._update_traits(force=True)

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
            seqs = sorted([*self._index, *self._head_of])
            return [fate.row(seq) for seq in seqs if seq >= fate.offset]

    @property
    def lane_names(self) -> list[str]:
        """The lanes' names, left to right, as drawn."""
        return [str(x["label"]) for x in self.lanes]

    def lane_order(self, names: Sequence[str]) -> FlowView:
        """Draw these lanes first, left to right (names or ids); the others follow, relays
        first, then peers by name. Returns the view, to show it."""
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise GunError(f"lane_order({names!r}): expected a list of peer names")
        self.order = list(names)
        return self

    def set_filters(self, **filters: Any) -> None:
        """Change some filters (``peer``, ``kind``, ``soul``, ``transport``,
        ``hide_signaling``, ``pair``); the others stay."""
        unknown = set(filters) - set(FILTER_KEYS)
        if unknown:
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


def _with_soul(
    match: Callable[[int], bool], fate: Any, test: Callable[[str], bool] | None
) -> Callable[[int], bool]:
    """``match`` and, when ``test`` is given, a soul the row's message names passes it."""
    if test is None:
        return match
    msgs, c_mid, c_label = fate.msgs, fate.c_mid, fate.c_label

    def matched(i: int) -> bool:
        if not match(i):
            return False
        info = msgs.get(c_mid[i])
        souls = info.souls if info is not None else (c_label[i],)
        return any(test(s) for s in souls)

    return matched


def _mid(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else "_" for c in name)
