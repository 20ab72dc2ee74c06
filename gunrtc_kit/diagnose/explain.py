"""Why a field holds its value: every write one peer saw for ``soul.key``, judged again by HAM.

Gun keeps no history: a node holds one value and one state per key, and the writes that lost
leave nothing in the graph. The trace does keep them: each ``Heard`` put that carried the field,
and the peer's own writes (``Put`` events of messages it never heard, or ``Said`` puts it made).
``explain`` reads them for one peer in arrival order and runs the core ``ham`` over them again,
from an empty field, as the peer's graph did. Each write gets a verdict in Gun's terms:

- ``accepted``: the first value, a newer state, or an equal state whose JSON text is greater;
- ``kept-current``: an equal state whose JSON text is not greater (Gun's lexical rule);
- ``same``: the very value and state the peer already held (nothing to change);
- ``ignored``: an older state than the one held (HAM calls it historical);
- ``deferred``: a state ahead of the peer's clock, held back until the clock reaches it and then
  judged again; ``then`` says whether it was applied, lost to a newer state, or still waits;
- ``refused``: the peer rejected the put (an invalid graph, a full graph...), with its error;
- ``unexplained``: the peer did not take a write HAM would take, and the trace does not say why
  (the trace forgot an older write, or the put was refused without a word).

The peer's clock at arrival. HAM's "future" test compares a state with the peer's machine clock
(wall-clock milliseconds, maybe skewed), while trace times come from the bus clock (monotonic
seconds in a Lab). So the peer's own record is trusted first: a ``Put`` of that message emitted
as it arrived (before the peer heard anything else) means the field was taken then; a ``Put`` of
it marked ``held`` means it was held back and applied then; none means it was not taken. The
clock that ``ham`` is given is the surest bound the trace holds: at least every state the peer
had put so far (a peer takes no state ahead of its clock, and the clock never goes back), raised
to the
write's own state when the peer took it at once. Shown beside a deferred write is an estimate
of how far ahead it was: ``t·1000 + max(s - t'·1000)`` over the peer's ``Put`` events (time
``t'``, state ``s``), a lower bound of its clock, good to a few milliseconds in a Lab.

What the trace may lack is said, never guessed away: a history that dropped its oldest events
(the verdicts then start from an empty field), messages kept only as summaries (over 2 KiB: the
value is a preview), and a graph value no traced write explains. Pure: no clock, no asyncio.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core.codec import dumps
from gunrtc_kit.core.ham import Decision, ham, json_text_greater
from gunrtc_kit.diagnose.peers import Directory

__all__ = [
    "ACCEPTED",
    "DEFERRED",
    "IGNORED",
    "KEPT",
    "REFUSED",
    "SAME",
    "UNEXPLAINED",
    "VERDICTS",
    "Explanation",
    "Write",
    "explain",
    "split_field",
]

ACCEPTED = "accepted"
KEPT = "kept-current"
SAME = "same"
IGNORED = "ignored"
DEFERRED = "deferred"
REFUSED = "refused"
UNEXPLAINED = "unexplained"
VERDICTS = (ACCEPTED, KEPT, SAME, IGNORED, DEFERRED, REFUSED, UNEXPLAINED)

CLOCK_LIKE = 1e11  # an estimate of the clock below this is no epoch-ms reading: not shown
SHOWN_ROWS = 200  # rows a notebook cell or a view shows (the newest, and the winner)
_TEXT_CHARS = 80  # a value's JSON text is cut to this in a row


@dataclass(slots=True)
class Write:
    """One write of the field as the peer saw it, and what HAM made of it.

    ``t`` is the bus time it arrived, ``at`` seconds since the first event read. ``sender`` is
    the peer the wire came from (``via``: ``ws``, ``dc``, ``memory``), ``author`` the peer
    that first said the message (they differ when a relay passed it on); both are empty for
    the peer's own write. ``held_*`` is what the peer held when it arrived, ``machine`` the
    lower bound of its clock given to ``ham``, ``due`` the state a deferred write waits for.
    """

    n: int
    t: float
    at: float
    mid: str
    value: Any
    state: float | None
    source: str  # "heard" or "local"
    kind: str  # "put", "reply" (a GET's answer) or "local"
    sender: str = ""
    sender_name: str = ""
    via: str = ""
    author: str = ""
    author_name: str = ""
    verdict: str = UNEXPLAINED
    decision: str = ""  # the core Decision's value at arrival ("accept", "defer"...)
    reason: str = ""
    held_value: Any = None
    held_state: float | None = None
    held_by: int = 0  # the row whose value was held (0: nothing, or not in the trace)
    machine: float | None = None
    ahead_ms: float | None = None  # how far ahead of the estimated clock a deferred state was
    due: float | None = None
    then: str = ""
    applied_at: float | None = None
    preview: bool = False
    winner: bool = False
    error: str = ""

    @property
    def text(self) -> str:
        """The value's JSON text (as Gun compares it), cut for display."""
        return _cut(_json(self.value))

    @property
    def frm(self) -> str:
        """Where it came from, in words: ``this peer``, ``bob``, or ``bob via relay`` when a
        relay passed on bob's write."""
        if self.source == "local":
            return "this peer"
        if self.author and self.author != self.sender:
            return f"{self.author_name} via {self.sender_name}"
        return self.sender_name

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON for a view: texts, not raw values (a value may be big)."""
        return {
            "n": self.n,
            "at": round(self.at, 3),
            "mid": self.mid,
            "value": self.text,
            "state": self.state,
            "state_text": _state_text(self.state),
            "source": self.source,
            "kind": self.kind,
            "from": self.frm,
            "via": self.via,
            "author": self.author_name,
            "verdict": self.verdict,
            "reason": self.reason,
            "then": self.then,
            "preview": self.preview,
            "winner": self.winner,
        }


@dataclass(frozen=True)
class Explanation:
    """Every write of ``soul.key`` one peer saw (``rows``, arrival order) and why the current
    value won (``summary``). ``value``/``state`` are what the peer holds (``held`` False: it
    holds nothing there); ``notes`` say what the trace could not tell."""

    pid: str
    name: str
    soul: str
    key: str
    rows: tuple[Write, ...]
    summary: str
    notes: tuple[str, ...] = ()
    value: Any = None
    state: float | None = None
    held: bool = False
    winner: int = 0  # the row (``n``) whose write the peer holds; 0 when none explains it

    @property
    def field(self) -> str:
        """``soul.key``, as it was asked for."""
        return f"{self.soul}.{self.key}"

    def verdicts(self) -> list[str]:
        """The verdict of each row, in arrival order (handy in tests and notebooks)."""
        return [r.verdict for r in self.rows]

    def _shown(self) -> tuple[list[Write], int]:
        rows = list(self.rows[-SHOWN_ROWS:])
        if self.winner and all(r.n != self.winner for r in rows):
            rows.insert(0, self.rows[self.winner - 1])
        return rows, len(self.rows) - len(rows)

    def as_dict(self) -> dict[str, Any]:
        """JSON for a view: the summary, notes, current value and the newest rows."""
        rows, hidden = self._shown()
        return {
            "pid": self.pid,
            "name": self.name,
            "soul": self.soul,
            "key": self.key,
            "summary": self.summary,
            "notes": list(self.notes),
            "held": self.held,
            "value": _cut(_json(self.value)) if self.held else None,
            "state": self.state,
            "winner": self.winner,
            "rows": [r.as_dict() for r in rows],
            "hidden": hidden,
        }

    def __str__(self) -> str:
        rows, hidden = self._shown()
        lines = [f"{self.name or self.pid}: {self.field}", self.summary]
        lines += [f"  note: {n}" for n in self.notes]
        if hidden:
            lines.append(f"  ({hidden} older writes not shown)")
        for r in rows:
            star = "*" if r.winner else " "
            who = r.frm if r.source == "local" else f"{r.frm} over {r.via or '?'}"
            lines.append(
                f" {star}#{r.n:<3} +{r.at:8.3f} s  {r.text:<24} state {_state_text(r.state):<16}"
                f" {who:<20} {r.verdict}: {r.reason}" + (f" Then: {r.then}" if r.then else "")
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        rows, hidden = self._shown()
        body = "".join(
            f"<tr class='gk-explain-{e(r.verdict)}{' gk-winner' if r.winner else ''}'>"
            f"<td>{'★' if r.winner else ''}#{r.n}</td><td>+{r.at:.3f}&nbsp;s</td>"
            f"<td><code>{e(r.text)}</code>{' (preview)' if r.preview else ''}</td>"
            f"<td>{e(_state_text(r.state))}</td>"
            f"<td>{e(r.frm)}</td>"
            f"<td>{e(r.via or ('local' if r.source == 'local' else '?'))}</td>"
            f"<td><b>{e(r.verdict)}</b></td>"
            f"<td>{e(r.reason)}{(' <i>Then:</i> ' + e(r.then)) if r.then else ''}</td></tr>"
            for r in rows
        )
        notes = "".join(f"<li>{e(n)}</li>" for n in self.notes)
        more = f"<div>({hidden} older writes not shown)</div>" if hidden else ""
        table = (
            "<table><tr><th>#</th><th>arrived</th><th>value</th><th>state</th><th>from</th>"
            f"<th>wire</th><th>verdict</th><th>why</th></tr>{body}</table>"
            if rows
            else ""
        )
        return (
            f"<div class='gk-explain'><div><b>{e(self.name or self.pid)}</b>: "
            f"<code>{e(self.field)}</code></div><p>{e(self.summary)}</p>"
            f"{f'<ul>{notes}</ul>' if notes else ''}{more}{table}</div>"
        )


def split_field(path: str) -> tuple[str, str]:
    """``"soul.key"`` as (soul, key), split at the *last* dot: souls often hold dots or
    slashes (``"a/b.c"`` is soul ``a/b``, key ``c``; ``"x.y.z"`` is soul ``x.y``, key ``z``).
    A key that has a dot in it must be given apart. Raises ``ValueError`` on a path without a
    dot, or with an empty soul or key."""
    if not isinstance(path, str) or "." not in path:
        raise ValueError(f"{path!r}: expected 'soul.key' (split at the last dot)")
    soul, key = path.rsplit(".", 1)
    if not soul or not key:
        raise ValueError(f"{path!r}: the soul and the key must both be non-empty")
    return soul, key


# ------------------------------------------------------------------------------ formatting


def _json(value: Any) -> str:
    try:
        return dumps(value)
    except Exception:  # a value JSON cannot hold (only a corrupt trace has one)
        return repr(value)


def _cut(text: str, n: int = _TEXT_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _state_text(state: float | None) -> str:
    if state is None:
        return "?"
    if state != state or state in (math.inf, -math.inf):
        return str(state)
    return str(int(state)) if state == int(state) else f"{state:.3f}"


def _when(state: float | None) -> str:
    """A state as its wall-clock time when it looks like one (Gun's states are epoch ms)."""
    text = _state_text(state)
    if state is not None and 1e11 < state < 1e14:
        stamp = datetime.fromtimestamp(state / 1000.0, tz=UTC)
        return f"{text} ({stamp.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC)"
    return text


def _ms(ms: float) -> str:
    return f"{ms / 1000.0:.3f} s" if abs(ms) >= 1000 else f"{ms:.0f} ms"


def _compare(a: Any, b: Any) -> str:
    """``'9' > '10'``: the two JSON texts as Gun compares them, with the winner's sign."""
    ta, tb = _cut(_json(a), 40), _cut(_json(b), 40)
    if _json(a) == _json(b):
        return f"{ta} = {tb}"
    return f"{ta} {'>' if json_text_greater(a, b) else '<'} {tb}"


# ------------------------------------------------------------------------------ reading


@dataclass(slots=True)
class _Cand:
    """A write being read: where it arrived, and the peer's own record of what it did."""

    row: Write
    index: int  # position of its arrival in the events
    lower: float  # the peer's clock was at least this when it arrived
    taken: bool = False  # a Put of it with this field, as it arrived
    apply_index: int = -1  # a later Put of it with this field: held back, then applied
    apply_t: float = 0.0
    apply_lower: float = -math.inf
    error: str = ""


def _field_of(msg: Mapping[str, Any], soul: str, key: str) -> tuple[bool, Any, Any, bool]:
    """(carries the field, value, state, maybe hidden by a summary) of a message's put."""
    put = msg.get("put")
    if not isinstance(put, dict) or ("#" in put and "." in put):
        return False, None, None, False
    summarized = "~" in msg
    node = put.get(soul)
    if not isinstance(node, dict):
        return False, None, None, summarized and "\u2026" in put
    if key == "_" or key not in node:
        return False, None, None, summarized and "\u2026" in node
    meta = node.get("_")
    states = meta.get(">") if isinstance(meta, dict) else None
    state = states.get(key) if isinstance(states, dict) else None
    return True, node[key], state, False


def _number(s: Any) -> float | None:
    if isinstance(s, int | float) and not isinstance(s, bool) and s == s:
        return s
    return None


def _put_state(e: trace.Put, soul: str, key: str) -> float | None:
    return _number((e.states.get(soul) or {}).get(key))


def _put_has(e: trace.Put, soul: str, key: str) -> bool:
    return key in (e.changes.get(soul) or ())


def explain(
    events: Iterable[trace.Event],
    pid: str,
    soul: str,
    key: str,
    graph_node: Mapping[str, Any] | None = None,
    directory: Directory | None = None,
    *,
    name: str = "",
    truncated: bool = False,
) -> Explanation:
    """Why peer ``pid`` holds what it holds at ``soul``.``key``, from trace ``events``.

    ``graph_node`` is the peer's node for ``soul`` as it is now (``{}`` when it has none;
    None when not read): the answer then names the value the peer really holds and says when
    the trace does not explain it. ``directory`` names peers (it is copied, never changed);
    ``truncated`` says the events are the tail of a longer trace (a bus history that dropped
    its oldest events). Never raises on odd events: what it cannot read, it says.
    """
    evs = events if isinstance(events, list) else list(events)
    d = Directory.from_meta(directory.meta()) if directory is not None else Directory()
    t0 = evs[0].t if evs else 0.0
    cands, hidden, offset = _collect(evs, pid, soul, key, d, t0)
    rows = [c.row for c in cands]
    _authors(evs, {c.row.mid: c.row for c in cands if c.row.source == "heard"}, d)
    cur = _simulate(cands, offset)
    return _conclude(pid, name or d.label(pid), soul, key, rows, cur, graph_node, truncated, hidden)


def _collect(
    evs: list[trace.Event], pid: str, soul: str, key: str, d: Directory, t0: float
) -> tuple[list[_Cand], int, float | None]:
    """The writes of the field ``pid`` saw, with the evidence of what it did with each."""
    c = _Collector(pid, soul, key, d, t0)
    for i, e in enumerate(evs):
        d.apply(e)
        if e.node != pid:
            continue
        if isinstance(e, trace.Heard):
            c.heard(i, e)
        elif isinstance(e, trace.Put):
            c.put(i, e)
        elif isinstance(e, trace.Said):
            c.said(i, e)
        elif isinstance(e, trace.Error):
            hit = c.by_mid.get(e.msg_id) if e.msg_id else None
            if hit is not None and e.msg_id == c.open_mid and not hit.taken and not hit.error:
                hit.error = e.error
    return c.cands, c.hidden, c.offset


class _Collector:
    """``_collect``'s state while it reads one peer's events, one method per kind of event."""

    def __init__(self, pid: str, soul: str, key: str, d: Directory, t0: float) -> None:
        self.pid, self.soul, self.key, self.d, self.t0 = pid, soul, key, d, t0
        self.cands: list[_Cand] = []
        self.by_mid: dict[str, _Cand] = {}
        self.heard_mids: set[str] = set()
        self.open_mid = ""  # the message being handled: its Put and errors precede the next
        self.lower = -math.inf  # every state the peer put so far: its clock was at least that
        self.offset: float | None = None  # max(state - t*1000) over its Puts (module doc)
        self.hidden = 0

    def _add(self, i: int, e: trace.Event, mid: str, taken: bool = False, **row: Any) -> None:
        """A new write of the field, row ``n`` in arrival order."""
        w = Write(n=len(self.cands) + 1, t=e.t, at=e.t - self.t0, mid=mid, **row)
        cand = _Cand(w, i, self.lower, taken=taken)
        self.cands.append(cand)
        self.by_mid[mid] = cand

    def _local(self) -> dict[str, Any]:
        return {"source": "local", "kind": "local", "author": self.pid}

    def heard(self, i: int, e: trace.Heard) -> None:
        """A message heard: a write of the field if it carries one (first copy only)."""
        mid = e.msg.get("#")
        mid = mid if isinstance(mid, str) else ""
        self.open_mid = mid
        self.heard_mids.add(mid)
        has, value, state, maybe = _field_of(e.msg, self.soul, self.key)
        self.hidden += maybe
        if has and mid not in self.by_mid:
            sender = self.d.resolve(self.pid, e.peer) or _pid_of(e.peer)
            self._add(
                i,
                e,
                mid,
                value=value,
                state=_number(state),
                source="heard",
                kind="reply" if "@" in e.msg else "put",
                sender=sender,
                sender_name=self.d.label(sender),
                via=e.transport,
                preview="~" in e.msg,
            )

    def put(self, i: int, e: trace.Put) -> None:
        """A merge: the peer's own write taken at once, or what became of a heard one."""
        mid = e.msg_id
        known = self.by_mid.get(mid)
        if _put_has(e, self.soul, self.key):
            if known is None and mid not in self.heard_mids:  # its own write, taken at once
                self._add(
                    i,
                    e,
                    mid,
                    taken=True,
                    value=(e.values.get(self.soul) or {}).get(self.key),
                    state=_put_state(e, self.soul, self.key),
                    author_name=self.d.label(self.pid),
                    preview=_put_preview(e),
                    **self._local(),
                )
            elif known is not None and not known.taken and known.apply_index < 0:
                if mid == self.open_mid and known.row.source == "heard" and _at_arrival(e):
                    known.taken = True
                else:
                    known.apply_index, known.apply_t = i, e.t
                    known.apply_lower = self.lower
                if known.row.state is None:  # the summary lost it; the peer's record has it
                    known.row.state = _put_state(e, self.soul, self.key)
        for states in e.states.values():
            for s in states.values():
                n = _number(s)
                if n is not None:
                    self.lower = max(self.lower, n)
                    off = n - e.t * 1000.0
                    self.offset = off if self.offset is None else max(self.offset, off)

    def said(self, i: int, e: trace.Said) -> None:
        """A message said that no merge announced: the peer's own write, not taken at once."""
        mid = e.msg.get("#")
        if not isinstance(mid, str) or mid in self.heard_mids or mid in self.by_mid:
            return
        if "@" in e.msg:
            return
        has, value, state, _ = _field_of(e.msg, self.soul, self.key)
        if has:  # its own write, not taken at once (a Put would have come first)
            self._add(
                i,
                e,
                mid,
                value=value,
                state=_number(state),
                author_name=self.d.label(self.pid),
                preview="~" in e.msg,
                **self._local(),
            )


def _at_arrival(e: trace.Put) -> bool:
    """Is this Put of the message just heard its merge on arrival, not a deferred key applied
    later? The root marks a deferred key's late apply ``held``; anything else is the merge
    (judging it by what came between, or by the time since arrival, misread a slow merge on a
    busy machine as a deferral)."""
    return not e.held


def _put_preview(e: trace.Put) -> bool:
    """Whether the history kept this Put's values only as a summary (cut strings)."""
    return any("\u2026" in node for node in e.values.values() if isinstance(node, dict)) or any(
        isinstance(v, str) and v.endswith("\u2026")
        for node in e.values.values()
        if isinstance(node, dict)
        for v in node.values()
    )


def _pid_of(peer_id: str) -> str:
    """A memory wire dialled from this side names the far end ``mem:<pid>/<wire tag>``."""
    return peer_id[4:].split("/", 1)[0] if peer_id.startswith("mem:") else peer_id


def _authors(evs: list[trace.Event], rows: dict[str, Write], d: Directory) -> None:
    """Who first said each heard write: the traced peer that put or said it unheard."""
    if not rows:
        return
    heard_by: dict[str, set[str]] = {}
    for e in evs:
        if isinstance(e, trace.Heard):
            mid = e.msg.get("#")
            if isinstance(mid, str) and mid in rows:
                heard_by.setdefault(mid, set()).add(e.node)
            continue
        if isinstance(e, trace.Said):
            mid = e.msg.get("#")
        elif isinstance(e, trace.Put):
            mid = e.msg_id
        else:
            continue
        if not isinstance(mid, str):
            continue
        row = rows.get(mid)
        if row is not None and not row.author and e.node not in heard_by.get(mid, ()):
            row.author, row.author_name = e.node, d.label(e.node)


# ------------------------------------------------------------------------------ judging


@dataclass(slots=True)
class _Held:
    """What the peer holds in the field while the writes are replayed."""

    value: Any = None
    state: float | None = None
    row: Write | None = None


def _simulate(cands: list[_Cand], offset: float | None) -> _Held:
    """Replay arrivals and deferred applications in trace order through ``ham``."""
    steps: list[tuple[int, int, _Cand]] = [(c.index, 0, c) for c in cands]
    steps += [(c.apply_index, 1, c) for c in cands if c.apply_index >= 0]
    steps.sort(key=lambda s: (s[0], s[1]))
    cur = _Held()
    for _, kind, c in steps:
        if kind == 0:
            _arrive(c, cur, offset)
        else:
            _apply_later(c, cur)
    for c in cands:
        if c.row.verdict == DEFERRED and c.apply_index < 0:
            c.row.then = _pending(c.row, cur)
    return cur


def _label(row: Write | None) -> str:
    return f"#{row.n}" if row is not None else "a write the trace does not show"


def _take(row: Write, cur: _Held) -> None:
    cur.value, cur.state, cur.row = row.value, row.state, row


def _arrive(c: _Cand, cur: _Held, offset: float | None) -> None:
    r = c.row
    r.held_value, r.held_state = cur.value, cur.state
    r.held_by = cur.row.n if cur.row is not None else 0
    if c.error and not c.taken:
        r.verdict = REFUSED
        r.error = c.error
        r.reason = f"the peer refused the put: {c.error}"
        return
    if r.state is None:
        r.verdict = UNEXPLAINED
        r.reason = "the trace kept only a summary of this message and lost its state"
        if c.taken:
            r.verdict, r.reason = ACCEPTED, r.reason + "; the peer took it (its Put says so)"
            _take(r, cur)
        return
    # the clock given to HAM: at least every state the peer put before (it holds no state
    # ahead of its clock, and the clock never goes back), and at least this state when the
    # peer took it at once. Not taken: that bound, so a newer state defers, as it must have
    machine = max(c.lower, r.state) if c.taken else c.lower
    r.machine = None if machine == -math.inf else machine
    if offset is not None and r.t * 1000.0 + offset > CLOCK_LIKE:
        r.ahead_ms = r.state - (r.t * 1000.0 + offset)
    decision = ham(machine, r.state, r.value, cur.state, cur.value)
    r.decision = decision.value
    if c.taken:
        r.verdict = ACCEPTED
        r.reason = _accept_reason(r, cur, decision)
        _take(r, cur)
    elif decision is Decision.DEFER:
        r.verdict = DEFERRED
        r.due = r.state
        ahead = (
            f" (about {_ms(r.ahead_ms)} ahead)" if r.ahead_ms is not None and r.ahead_ms > 0 else ""
        )
        r.reason = (
            f"state {_state_text(r.state)} is ahead of this peer's clock{ahead}: Gun holds a "
            f"future state back until its clock reaches it, at {_when(r.state)}, then runs "
            "HAM on it again"
        )
    elif decision is Decision.HISTORICAL:
        r.verdict = IGNORED
        r.reason = (
            f"state {_state_text(r.state)} is older than the state it held, "
            f"{_state_text(cur.state)} ({_label(cur.row)}): HAM ignores an older state"
        )
    elif decision is Decision.EQUAL:
        if _json(r.value) == _json(cur.value):
            r.verdict = SAME
            r.reason = (
                f"the same value at the same state {_state_text(r.state)} as it held "
                f"({_label(cur.row)}): nothing to change"
            )
        else:
            r.verdict = KEPT
            r.reason = (
                f"the same state {_state_text(r.state)} as the value it held ({_label(cur.row)}):"
                f" at equal states Gun keeps the greater JSON text, and "
                f"{_compare(r.value, cur.value)}, so the held value stays"
            )
    else:  # HAM takes it, the peer did not
        r.verdict = UNEXPLAINED
        r.reason = (
            f"HAM would take state {_state_text(r.state)} over {_state_text(cur.state)}, but "
            "the peer did not (no Put of it): the trace may have forgotten an older write, or "
            "the put was refused without an error"
        )


def _accept_reason(r: Write, cur: _Held, decision: Decision) -> str:
    s = _state_text(r.state)
    if cur.state is None:
        return f"the first value this peer saw here (state {s}): taken"
    if r.state is not None and r.state > cur.state:
        return (
            f"state {s} is newer than the state it held, {_state_text(cur.state)} "
            f"({_label(cur.row)}): HAM takes the newer state"
        )
    if r.state == cur.state and decision is Decision.ACCEPT:
        return (
            f"the same state {s} as the value it held ({_label(cur.row)}): at equal states Gun "
            f"keeps the greater JSON text, and {_compare(r.value, cur.value)}, so this one wins"
        )
    return (
        f"the peer took it (its Put says so), though HAM against the replayed "
        f"{_state_text(cur.state)} would not: the trace may have forgotten older events"
    )


def _apply_later(c: _Cand, cur: _Held) -> None:
    """A deferred write's Put came: its time was reached and HAM took it then."""
    r = c.row
    state = r.state if r.state is not None else -math.inf
    decision = ham(max(c.apply_lower, state), state, r.value, cur.state, cur.value)
    r.applied_at = c.apply_t - (r.t - r.at)
    if r.verdict != DEFERRED:  # taken or judged at arrival; the later Put is another story
        return
    against = f"{_state_text(cur.state)} ({_label(cur.row)})" if cur.row else "nothing"
    how = (
        "the field was empty"
        if cur.row is None and cur.state is None
        else "it was newer than what it held"
        if decision is Decision.ACCEPT and (cur.state is None or state > cur.state)
        else f"at equal states its JSON text was greater ({_compare(r.value, cur.value)})"
        if decision is Decision.ACCEPT
        else "the peer's Put says so, though the replay disagrees"
    )
    r.then = (
        f"held back {c.apply_t - r.t:.3f} s, then applied at +{r.applied_at:.3f} s when the "
        f"clock reached it, over {against}: {how}"
    )
    _take(r, cur)


def _pending(r: Write, cur: _Held) -> str:
    """A deferred write with no later Put: lost to a newer state, or still waiting."""
    state = r.state if r.state is not None else -math.inf
    decision = ham(math.inf, state, r.value, cur.state, cur.value)
    if decision is Decision.HISTORICAL:
        return (
            f"not applied: the peer holds a newer state, {_state_text(cur.state)} "
            f"({_label(cur.row)}), so when its time comes HAM ignores it as older"
        )
    if decision is Decision.EQUAL:
        return (
            f"not applied: it ties with the held state {_state_text(cur.state)} "
            f"({_label(cur.row)}) and {_compare(r.value, cur.value)}, so Gun keeps the held value"
        )
    return (
        f"still held back (as far as the trace goes) until the clock reaches {_when(state)}; "
        "it will replace the held value then unless a newer state comes first"
    )


# ------------------------------------------------------------------------------ the answer


def _conclude(
    pid: str,
    name: str,
    soul: str,
    key: str,
    rows: list[Write],
    cur: _Held,
    graph_node: Mapping[str, Any] | None,
    truncated: bool,
    hidden: int,
) -> Explanation:
    notes: list[str] = []
    if truncated:
        notes.append(
            "the trace has dropped its oldest events (the bus keeps a bounded history): "
            "older writes of this field may be missing, and the verdicts start from an empty "
            "field at the first write shown"
        )
    previews = sum(r.preview for r in rows)
    if previews:
        notes.append(
            f"{previews} write{'s' if previews != 1 else ''} came in messages the trace kept "
            "only as summaries (over 2 KiB): the values shown are previews, cut short, and "
            "the verdicts rest on the peer's own Put events"
        )
    if hidden:
        notes.append(
            f"{hidden} message{'s' if hidden != 1 else ''} kept only as summaries may have "
            "carried this field too: the summary cut their contents"
        )
    winner = cur.row
    value, state, held = cur.value, cur.state, cur.row is not None
    if graph_node is not None:
        node = graph_node
        held = key in node and key != "_"
        meta = node.get("_")
        states = meta.get(">") if isinstance(meta, Mapping) else None
        value = node.get(key) if held else None
        state = _number(states.get(key)) if held and isinstance(states, Mapping) else None
        if not held:
            winner = None
        elif winner is None or not _same_write(winner, state, value):
            match = [r for r in rows if r.verdict != REFUSED and _same_write(r, state, value)]
            if match:
                if winner is not None:
                    notes.append(
                        f"replaying the trace gives #{winner.n}, but the peer holds "
                        f"#{match[-1].n}: the trace does not hold every event that mattered"
                    )
                winner = match[-1]
            else:
                winner = None
    if winner is not None:
        winner.winner = True
    summary = _summary(soul, key, rows, winner, held, value, state, truncated)
    return Explanation(
        pid=pid,
        name=name,
        soul=soul,
        key=key,
        rows=tuple(rows),
        summary=summary,
        notes=tuple(notes),
        value=value,
        state=state,
        held=held,
        winner=winner.n if winner is not None else 0,
    )


def _same_write(r: Write, state: float | None, value: Any) -> bool:
    """Is ``r`` the write of this state and value? A preview matches by its state alone."""
    return r.state == state and (r.preview or _json(r.value) == _json(value))


def _who(r: Write) -> str:
    if r.source == "local":
        return "this peer's own write"
    via = f" over {r.via}" if r.via else ""
    if r.author and r.author != r.sender:
        return f"{r.author_name}'s write (heard from {r.sender_name}{via})"
    return f"{r.sender_name}'s write (heard{via})"


def _summary(
    soul: str,
    key: str,
    rows: list[Write],
    winner: Write | None,
    held: bool,
    value: Any,
    state: float | None,
    truncated: bool,
) -> str:
    f = f"{soul}.{key}"
    if not rows and not held:
        return (
            f"{f} was never written as far as this peer knows: no put carrying it reached it "
            "or came from it in the trace, and it holds no value there"
        )
    if winner is None:
        if not held:
            return (
                f"this peer holds no value at {f}: none of the {len(rows)} writes it saw was "
                "taken (see each row)"
            )
        why = (
            "the trace dropped its oldest events, and the write that set it may be among them"
            if truncated
            else "it may have come from the peer's store, or before the trace began"
        )
        return (
            f"{f} holds {_cut(_json(value), 40)} (state {_state_text(state)}), but no write in "
            f"the trace explains it: {why}"
        )
    others = [r for r in rows if r is not winner]
    parts = [f"{f} holds {winner.text}: #{winner.n}, {_who(winner)}, state {_state_text(state)}"]
    if winner.due is not None and winner.applied_at is not None:
        parts.append(
            f"its state was ahead of this peer's clock, so Gun held it back until "
            f"{_when(winner.due)} and applied it then (+{winner.applied_at:.3f} s)"
        )
    ws = winner.state if winner.state is not None else -math.inf
    ties = [
        r
        for r in others
        if r.state == ws and _json(r.value) != _json(winner.value) and r.verdict != REFUSED
    ]
    older = [r for r in others if r.state is not None and r.state < ws]
    waiting = [
        r
        for r in others
        if r.verdict == DEFERRED and r.applied_at is None and r.state is not None and r.state > ws
    ]
    if ties:
        names = ", ".join(f"#{r.n}" for r in ties)
        cmp = "; ".join(_compare(winner.value, r.value) for r in ties[:3])
        parts.append(
            f"it ties on state {_state_text(ws)} with {names}, and at equal states Gun keeps "
            f"the greater JSON text: {cmp}"
        )
    if older:
        parts.append(
            f"its state is newer than that of the other {len(older)} write"
            f"{'s' if len(older) != 1 else ''} (HAM keeps the newest state)"
        )
    if not others:
        parts.append("it is the only write of this field this peer saw")
    if waiting:
        w = waiting[0]
        parts.append(
            f"but #{w.n} with the newer state {_state_text(w.state)} is held back until "
            f"{_when(w.state)} and will replace it then unless something newer comes first"
        )
    return "; ".join(parts) + "."
