"""What became of every message: said, heard, relayed, dropped by dedup, lost on a wire,
acked, replied, never acked; and which request each reply answers.

A DAM message travels as copies: each ``Said`` event is one copy leaving one peer for one
other peer. The model keeps a **row** per copy and gives it a **mark** when the trace says how
it ended: the receiver ``Heard`` it (it passed dedup and was handled), the receiver's dedup
``Dropped`` it as a duplicate, or the wire lost it (a memory wire's loss or partition). A copy
heard from a sender that is not traced (a Gun.js relay) becomes a ``heard-only`` row, so what
was *heard* is shown even when nobody traced its saying. Rows are what the flow view draws.

Per message id the model keeps a ``MsgInfo``: its kind, souls, first JSON, who said it first
(the origin), the rows of its copies, the replies naming it in ``@``, who merged it, and when
the origin heard an answer. ``fate(mid)`` reads all of that into a ``Fate`` with a one-line
summary and a timeline; a put whose origin heard no answer within the ack timeout (9 s, as
Gun) is *never acked*, judged against the newest event seen (so a replayed trace judges it
the same way).

Bounded: at most ``row_cap`` rows and ``msg_cap`` messages are kept (oldest go first, and
``total``/``discarded`` say how many there were), pending matches and unresolved ids too.
Pure: no clock (times come from events), no asyncio, no widgets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose.messages import is_signaling, kind_of, label_of, souls_of
from gunrtc_kit.diagnose.peers import Directory

__all__ = [
    "DUP",
    "HEARD",
    "HEARD_ONLY",
    "LOST",
    "MARKS",
    "SENT",
    "Fate",
    "FateModel",
    "FateStep",
    "MsgInfo",
    "Row",
]

SENT, HEARD, DUP, LOST, HEARD_ONLY = range(5)
MARKS = ("sent", "heard", "dup", "lost", "heard-only")

ACK_TIMEOUT = 9.0  # Gun's opt.lack: 9 s without an ack is "No ACK yet."
_UNRESOLVED_CAP = 10_000  # (node, peer id) pairs waiting to learn who the peer is
_PER_UNRESOLVED = 1_000  # rows kept waiting per such pair
HOLD = 2.0  # seconds a copy heard from a peer not known yet waits for its name
MAX_KINDS = 200  # distinct kinds listed (a remote side chooses its 'dam' values)
MAX_MSG_BYTES = 64 * 1024  # a bigger message is kept as a preview, not whole


@dataclass(slots=True)
class MsgInfo:
    """One message id and everything the trace said about it."""

    mid: str
    kind: str
    souls: tuple[str, ...]
    label: str
    reply_to: str
    sig: bool
    t: float
    origin: str
    traced_origin: bool
    msg: dict[str, Any]
    seqs: list[int] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    merged: list[tuple[float, str, int, int]] = field(default_factory=list)
    notes: list[tuple[float, str, str]] = field(default_factory=list)
    answered_at: float | None = None
    answered_by: str = ""
    answer_ok: Any = None
    answer_err: str = ""
    wants_ack: bool = False
    version: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """One copy of a message going from one peer to another, as the flow view draws it."""

    seq: int
    t: float
    src: str
    dst: str
    kind: str
    label: str
    mid: str
    mark: str
    transport: str
    reply_to: str
    sig: bool


@dataclass(frozen=True, slots=True)
class FateStep:
    """One line of a message's story: when, what (in words), and the mark it carries."""

    t: float
    text: str
    mark: str


@dataclass(frozen=True)
class Fate:
    """What became of one message: ``summary`` in a line, ``steps`` in time order."""

    mid: str
    kind: str
    origin: str
    t: float
    msg: dict[str, Any]
    summary: str
    steps: tuple[FateStep, ...]
    heard_by: tuple[str, ...]
    relayed_by: tuple[str, ...]
    duplicates: int
    lost: int
    replies: tuple[str, ...]
    request: str
    acked: bool
    never_acked: bool
    rejected: str

    def __str__(self) -> str:
        lines = [self.summary] + [f"  +{s.t:9.3f} s  {s.text}" for s in self.steps]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr class='gk-fate-{html.escape(s.mark)}'><td>+{s.t:.3f}&nbsp;s</td>"
            f"<td>{html.escape(s.mark)}</td><td>{html.escape(s.text)}</td></tr>"
            for s in self.steps
        )
        body = html.escape(json.dumps(self.msg, indent=1, ensure_ascii=False, default=repr))
        return (
            f"<div class='gk-fate'><b>{html.escape(self.summary)}</b>"
            f"<table>{rows}</table><details><summary>JSON</summary><pre>{body}</pre>"
            "</details></div>"
        )


class FateModel:
    """Rows (one per copy of a message) and message fates, fed one trace event at a time."""

    def __init__(
        self,
        directory: Directory | None = None,
        *,
        row_cap: int = 200_000,
        msg_cap: int = 100_000,
        ack_timeout: float = ACK_TIMEOUT,
    ) -> None:
        if row_cap < 1 or msg_cap < 1:
            raise ValueError(f"row_cap={row_cap!r}, msg_cap={msg_cap!r}: expected ints >= 1")
        self.directory = directory or Directory()
        self.directory.on_resolved.append(self._resolved)
        self.row_cap = row_cap
        self.msg_cap = msg_cap
        self.ack_timeout = ack_timeout
        self.t0: float | None = None
        self.now = 0.0  # the newest event's time, relative to t0
        # rows, one list per column; row ``seq`` lives at index ``seq - offset``
        self.offset = 0
        self.c_t: list[float] = []
        self.c_src: list[int] = []
        self.c_dst: list[int] = []
        self.c_kind: list[str] = []
        self.c_label: list[str] = []
        self.c_mid: list[str] = []
        self.c_mark: list[int] = []
        self.c_tr: list[str] = []
        self.c_reply: list[str] = []
        self.c_sig: list[bool] = []
        self.msgs: dict[str, MsgInfo] = {}
        self.kinds: set[str] = set()
        self.changed: set[int] = set()  # rows whose mark or ends changed (views drain it)
        self._awaiting: dict[tuple[str, str, str], int] = {}
        self._unres_dst: dict[tuple[str, str], list[int]] = {}
        self._unres_src: dict[tuple[str, str], list[int]] = {}
        # the same rows, by (message id, sayer): a receiver that hears that message from that
        # sayer tells us where one of those copies went, before the sayer's side knows
        self._unres_by: dict[tuple[str, str], list[int]] = {}
        # copies heard (or dropped as duplicates) from a sender not known yet: held until
        # the '?' exchange names it, so they meet the row of their saying instead of making a
        # second row for the same copy; after HOLD seconds they become rows of their own
        self._held: dict[tuple[str, str], list[tuple[trace.Event, float]]] = {}
        self._held_since: dict[tuple[str, str], float] = {}
        self.msgs_discarded = 0
        self.events = 0

    # ------------------------------------------------------------------ sizes
    @property
    def total(self) -> int:
        """Rows ever recorded (kept or discarded)."""
        return self.offset + len(self.c_t)

    @property
    def kept(self) -> int:
        """Rows held in memory now (at most ``row_cap`` plus a tenth)."""
        return len(self.c_t)

    def __len__(self) -> int:
        return len(self.c_t)

    # ------------------------------------------------------------------ feeding
    def feed(self, e: trace.Event) -> None:
        """Learn names from ``e`` (through the directory), then apply it. Use this when the
        model is used alone; a hub that shares the directory between models calls
        ``directory.apply`` once and then ``apply`` on each model."""
        self.directory.apply(e)
        self.apply(e)

    def apply(self, e: trace.Event) -> None:
        """Apply one event (the directory has already seen it)."""
        if self.t0 is None:
            self.t0 = e.t
        t = e.t - self.t0
        if t > self.now:
            self.now = t
        self.events += 1
        if self._held_since:
            self.settle(t - HOLD)
        if isinstance(e, trace.Said):
            self._said(e, t)
        elif isinstance(e, trace.Heard):
            self._heard(e, t)
        elif isinstance(e, trace.Dropped):
            self._dropped(e, t)
        elif isinstance(e, trace.Put):
            info = self.msgs.get(e.msg_id)
            if info is not None:
                nkeys = sum(len(k) for k in e.changes.values())
                info.merged.append((t, e.node, nkeys, e.deferred))
                info.version += 1
        elif isinstance(e, trace.Ack):
            info = self.msgs.get(e.reply_to)
            if info is not None and info.origin == e.node and info.answered_at is None:
                info.answered_at, info.answered_by = t, ""
                info.answer_ok, info.answer_err = e.ok, e.err
                info.version += 1
        elif isinstance(e, trace.Error):
            if e.msg_id:
                info = self.msgs.get(e.msg_id)
                if info is not None:
                    who = self.directory.label(e.node)
                    info.notes.append((t, f"error at {who}: {e.error}", "error"))
                    info.version += 1

    # ------------------------------------------------------------------ per kind
    def _info(
        self, msg: dict[str, Any], mid: str, t: float, origin: str, traced: bool, size: int = 0
    ) -> MsgInfo:
        info = self.msgs.get(mid)
        if info is not None:
            return info
        kind = kind_of(msg)
        souls = souls_of(msg)[:50]  # bounded: a put may name any number of souls
        reply_to = msg.get("@")
        reply_to = reply_to if isinstance(reply_to, str) else ""
        sig = is_signaling(kind, souls)
        if reply_to and not sig:
            parent = self.msgs.get(reply_to)
            sig = parent is not None and parent.sig
        if size > MAX_MSG_BYTES:
            msg = _preview(msg, size)
        info = MsgInfo(
            mid=mid,
            kind=kind,
            souls=souls,
            label=label_of(souls),
            reply_to=reply_to,
            sig=sig,
            t=t,
            origin=origin,
            traced_origin=traced,
            msg=msg,
            wants_ack=kind == "put" and "ok" in msg,
        )
        if len(self.kinds) < MAX_KINDS:
            self.kinds.add(kind)
        self.msgs[mid] = info
        if len(self.msgs) > self.msg_cap:
            del self.msgs[next(iter(self.msgs))]
            self.msgs_discarded += 1
        if reply_to:
            parent = self.msgs.get(reply_to)
            if parent is not None:
                parent.replies.append(mid)
                parent.version += 1
        return info

    def _row(self, t: float, src: int, dst: int, info: MsgInfo, mark: int, transport: str) -> int:
        seq = self.offset + len(self.c_t)
        self.c_t.append(t)
        self.c_src.append(src)
        self.c_dst.append(dst)
        self.c_kind.append(info.kind)
        self.c_label.append(info.label)
        self.c_mid.append(info.mid)
        self.c_mark.append(mark)
        self.c_tr.append(transport)
        self.c_reply.append(info.reply_to)
        self.c_sig.append(info.sig)
        info.seqs.append(seq)
        info.version += 1
        if len(self.c_t) > self.row_cap + max(self.row_cap // 10, 1):
            self._trim(len(self.c_t) - self.row_cap)
        return seq

    def _said(self, e: trace.Said, t: float) -> None:
        msg = e.msg
        mid = msg.get("#")
        if not isinstance(mid, str):
            return
        d = self.directory
        info = self._info(msg, mid, t, e.node, True, e.size)
        dst = d.resolve(e.node, e.peer)
        seq = self._row(t, d.lane(e.node), d.lane(dst), info, SENT, e.transport)
        if dst:
            self._awaiting[(mid, e.node, dst)] = seq
        else:
            _hold(self._unres_dst, (e.node, e.peer), seq)
            _hold(self._unres_by, (mid, e.node), seq)

    def _heard(self, e: trace.Heard, t: float, hold: bool = True) -> None:
        msg = e.msg
        mid = msg.get("#")
        if not isinstance(mid, str):
            return
        d = self.directory
        src = d.resolve(e.node, e.peer)
        if not src and hold and self._hold_event(e, t):
            return
        info = self._info(msg, mid, t, src, False, e.size)
        seq = self._copy_to(mid, src, e.node) if src else None
        if seq is not None and seq >= self.offset:
            i = seq - self.offset
            if self.c_mark[i] == SENT:
                self.c_mark[i] = HEARD
                self.changed.add(seq)
                info.version += 1
        else:
            seq = self._row(t, d.lane(src), d.lane(e.node), info, HEARD_ONLY, e.transport)
            if not src:
                _hold(self._unres_src, (e.node, e.peer), seq)
        if info.reply_to:
            parent = self.msgs.get(info.reply_to)
            if parent is not None and parent.origin == e.node and parent.answered_at is None:
                parent.answered_at = t
                parent.answered_by = info.origin
                parent.answer_ok = msg.get("ok")
                err = msg.get("err")
                parent.answer_err = str(err) if err else ""
                parent.version += 1

    def _dropped(self, e: trace.Dropped, t: float, hold: bool = True) -> None:
        reason = e.reason
        d = self.directory
        if reason.startswith("duplicate"):
            src = d.resolve(e.node, e.peer)
            if not src and hold and self._hold_event(e, t):
                return
            seq = self._copy_to(e.msg_id, src, e.node) if src else None
            if seq is not None and seq >= self.offset:
                i = seq - self.offset
                self.c_mark[i] = DUP
                self.changed.add(seq)
                info = self.msgs.get(e.msg_id)
                if info is not None:
                    info.version += 1
                return
            info = self.msgs.get(e.msg_id)
            if info is not None:
                seq = self._row(t, d.lane(src), d.lane(e.node), info, DUP, "")
                if not src:
                    _hold(self._unres_src, (e.node, e.peer), seq)
            return
        if reason.startswith("memory wire"):
            dst = d.resolve(e.node, e.peer)
            if dst:
                seq = self._awaiting.pop((e.msg_id, e.node, dst), None)
            else:  # the far end is not known yet: the copy waits among the unresolved
                seq = next(
                    (
                        s
                        for s in self._unres_dst.get((e.node, e.peer), ())
                        if s >= self.offset and self.c_mid[s - self.offset] == e.msg_id
                    ),
                    None,
                )
            if seq is not None and seq >= self.offset:
                self.c_mark[seq - self.offset] = LOST
                self.changed.add(seq)
                info = self.msgs.get(e.msg_id)
                if info is not None:
                    info.version += 1
                return
        info = self.msgs.get(e.msg_id) if e.msg_id else None
        if info is not None:
            who = d.label(e.node)
            to = d.label(d.resolve(e.node, e.peer)) if e.peer else ""
            text = f"not delivered by {who}" + (f" to {to}" if to else "") + f": {reason}"
            info.notes.append((t, text, "dropped"))
            info.version += 1

    # ------------------------------------------------------------------ resolution
    def _copy_to(self, mid: str, src: str, dst: str) -> int | None:
        """The row of ``src`` saying ``mid`` to ``dst`` that still waits for its fate: known
        by its ends, or one said to a peer ``src`` could not name yet (then it is ``dst``)."""
        seq = self._awaiting.pop((mid, src, dst), None)
        if seq is not None:
            return seq
        seqs = self._unres_by.get((mid, src))
        while seqs:
            seq = seqs.pop(0)
            i = seq - self.offset
            if i >= 0 and self.c_dst[i] == -1 and self.c_mark[i] == SENT:
                self.c_dst[i] = self.directory.lane(dst)
                self.changed.add(seq)
                if not seqs:
                    del self._unres_by[(mid, src)]
                return seq
        self._unres_by.pop((mid, src), None)
        return None

    def _hold_event(self, e: trace.Event, t: float) -> bool:
        """Keep ``e`` until its sender is named; False when the bounds say: not now."""
        key = (e.node, e.peer)
        held = self._held.get(key)
        if held is None:
            if len(self._held) >= _UNRESOLVED_CAP:
                return False
            held = self._held[key] = []
            self._held_since[key] = t
        if len(held) >= _PER_UNRESOLVED:
            return False
        held.append((e, t))
        return True

    def _replay_held(self, key: tuple[str, str], hold: bool) -> None:
        self._held_since.pop(key, None)
        for e, t in self._held.pop(key, ()):
            if isinstance(e, trace.Heard):
                self._heard(e, t, hold=hold)
            elif isinstance(e, trace.Dropped):
                self._dropped(e, t, hold=hold)

    def settle(self, before: float = float("inf")) -> None:
        """Give up waiting for the names of senders first held before ``before`` (seconds
        since the trace began): their copies become rows from an unknown sender (``?``)."""
        for key, since in list(self._held_since.items()):
            if since <= before:
                self._replay_held(key, hold=False)

    @property
    def held(self) -> int:
        """Copies waiting for their sender's name."""
        return sum(len(v) for v in self._held.values())

    def _resolved(self, node: str, peer: str, entity: str) -> None:
        if (node, peer) in self._held:
            self._replay_held((node, peer), hold=False)
        lane = self.directory.lane(entity)
        for seq in self._unres_dst.pop((node, peer), ()):
            if seq >= self.offset and self.c_dst[seq - self.offset] == -1:
                i = seq - self.offset
                self.c_dst[i] = lane
                self.changed.add(seq)
                if self.c_mark[i] == SENT:  # a lost copy has its fate already
                    self._awaiting[(self.c_mid[i], node, entity)] = seq
        for seq in self._unres_src.pop((node, peer), ()):
            if seq >= self.offset:
                self.c_src[seq - self.offset] = lane
                self.changed.add(seq)

    def _trim(self, n: int) -> None:
        for col in (
            self.c_t,
            self.c_src,
            self.c_dst,
            self.c_kind,
            self.c_label,
            self.c_mid,
            self.c_mark,
            self.c_tr,
            self.c_reply,
            self.c_sig,
        ):
            del col[:n]
        self.offset += n
        first = self.offset
        self._awaiting = {k: s for k, s in self._awaiting.items() if s >= first}
        self.changed = {s for s in self.changed if s >= first}

    # ------------------------------------------------------------------ reading
    def index(self, seq: int) -> int:
        """The column index of row ``seq``, or -1 when it is no longer kept."""
        i = seq - self.offset
        return i if 0 <= i < len(self.c_t) else -1

    def row(self, seq: int) -> Row:
        """Row ``seq`` with names instead of lanes (``IndexError`` when not kept)."""
        i = self.index(seq)
        if i < 0:
            raise IndexError(f"row {seq} is not kept (kept: {self.offset}..{self.total - 1})")
        lanes = self.directory.lanes
        s, dd = self.c_src[i], self.c_dst[i]
        return Row(
            seq=seq,
            t=self.c_t[i],
            src=self.directory.label(lanes[s]) if s >= 0 else "?",
            dst=self.directory.label(lanes[dd]) if dd >= 0 else "?",
            kind=self.c_kind[i],
            label=self.c_label[i],
            mid=self.c_mid[i],
            mark=MARKS[self.c_mark[i]],
            transport=self.c_tr[i],
            reply_to=self.c_reply[i],
            sig=self.c_sig[i],
        )

    def rows(self) -> Iterator[Row]:
        """Every kept row, oldest first."""
        for seq in range(self.offset, self.total):
            yield self.row(seq)

    def matcher(
        self,
        *,
        peer: str = "",
        kind: str = "",
        soul: str = "",
        transport: str = "",
        hide_signaling: bool = False,
        pair: tuple[str, str] | None = None,
    ) -> Callable[[int], bool]:
        """A test on a column index for these filters (``peer`` is a name or an id)."""
        d = self.directory
        lanes_of_peer: set[int] = set()
        if peer:
            lanes_of_peer = {n for n, ent in enumerate(d.lanes) if peer in (ent, d.label(ent))} or {
                -2
            }
        pair_lanes: tuple[int, int] | None = None
        if pair:
            pair_lanes = (d.lane_of(pair[0]), d.lane_of(pair[1]))
        c_src, c_dst, c_kind = self.c_src, self.c_dst, self.c_kind
        c_label, c_tr, c_sig, c_mid = self.c_label, self.c_tr, self.c_sig, self.c_mid
        msgs = self.msgs

        def match(i: int) -> bool:
            if hide_signaling and c_sig[i]:
                return False
            if kind and not c_kind[i].startswith(kind):
                return False
            if transport and c_tr[i] != transport:
                return False
            if lanes_of_peer and c_src[i] not in lanes_of_peer and c_dst[i] not in lanes_of_peer:
                return False
            if pair_lanes is not None and {c_src[i], c_dst[i]} != set(pair_lanes):
                return False
            if soul:
                info = msgs.get(c_mid[i])
                souls = info.souls if info is not None else (c_label[i],)
                if not any(s.startswith(soul) for s in souls):
                    return False
            return True

        return match

    def fate(self, mid: str) -> Fate:
        """Everything the trace says about message ``mid`` (``KeyError`` if never seen)."""
        info = self.msgs.get(mid)
        if info is None:
            raise KeyError(f"no message {mid!r} in the trace (or no longer kept)")
        d = self.directory
        steps: list[FateStep] = []
        heard: list[str] = []
        relayed: list[str] = []
        dups = lost = 0
        origin = d.label(info.origin)
        missing = 0
        for seq in info.seqs:
            i = self.index(seq)
            if i < 0:
                missing += 1
                continue
            r = self.row(seq)
            how = f"over {r.transport}" if r.transport else ""
            if r.mark == "heard-only":
                steps.append(FateStep(r.t, f"{r.dst} heard it from {r.src} {how}".strip(), "heard"))
                heard.append(r.dst)
                continue
            if r.mark == "dup":
                dups += 1
                steps.append(FateStep(r.t, f"{r.dst} dropped a copy from {r.src} (dedup)", "dup"))
                continue
            verb = "said" if r.src == origin else "relayed"
            if verb == "relayed" and r.src not in relayed:
                relayed.append(r.src)
            text = f"{r.src} {verb} it to {r.dst} {how}".strip()
            if r.mark == "heard":
                heard.append(r.dst)
                steps.append(FateStep(r.t, text + f"; {r.dst} heard it", "heard"))
            elif r.mark == "lost":
                lost += 1
                steps.append(FateStep(r.t, text + "; the wire lost it", "lost"))
            else:
                steps.append(FateStep(r.t, text + "; no sign it arrived (yet)", "sent"))
        if missing:
            steps.append(FateStep(info.t, f"{missing} older copies are no longer kept", "note"))
        for t, node, nkeys, deferred in info.merged:
            extra = f", {deferred} deferred (future state)" if deferred else ""
            steps.append(FateStep(t, f"{d.label(node)} merged {nkeys} key(s){extra}", "put"))
        for t, text, mark in info.notes:
            steps.append(FateStep(t, text, mark))
        for rid in info.replies:
            rep = self.msgs.get(rid)
            if rep is None:
                continue
            what = "an error" if rep.msg.get("err") else rep.kind
            steps.append(
                FateStep(rep.t, f"{d.label(rep.origin)} answered with {what} #{rid}", "reply")
            )
        rejected = info.answer_err
        acked = info.answered_at is not None and not rejected
        never = (
            info.wants_ack
            and info.traced_origin
            and info.answered_at is None
            and self.now - info.t > self.ack_timeout
        )
        if info.answered_at is not None:
            ms = (info.answered_at - info.t) * 1000
            by = d.label(info.answered_by) if info.answered_by else "a peer"
            word = f"rejected ({rejected})" if rejected else "answered"
            steps.append(FateStep(info.answered_at, f"{origin} got the answer: {word}", "ack"))
            answer = f"{word} by {by} after {ms:.1f} ms"
        elif never:
            answer = f"never acked (no answer within {self.ack_timeout:g} s)"
            steps.append(FateStep(info.t + self.ack_timeout, answer, "never"))
        elif info.wants_ack and info.traced_origin:
            answer = "no ack yet"
        else:
            answer = ""
        steps.sort(key=lambda s: s.t)
        heard_by = tuple(dict.fromkeys(heard))
        parts = [f"{info.kind} #{mid} from {origin}"]
        if info.label:
            parts[0] += f" ({info.label})"
        if info.reply_to:
            parts[0] += f" answering #{info.reply_to}"
        parts.append(f"heard by {len(heard_by)} peer(s)")
        if relayed:
            parts.append(f"relayed by {', '.join(relayed)}")
        if dups:
            parts.append(f"{dups} duplicate copies dropped by dedup")
        if lost:
            parts.append(f"{lost} lost on the wire")
        if answer:
            parts.append(answer)
        return Fate(
            mid=mid,
            kind=info.kind,
            origin=origin,
            t=info.t,
            msg=info.msg,
            summary="; ".join(parts),
            steps=tuple(steps),
            heard_by=heard_by,
            relayed_by=tuple(relayed),
            duplicates=dups,
            lost=lost,
            replies=tuple(info.replies),
            request=info.reply_to,
            acked=acked,
            never_acked=never,
            rejected=rejected,
        )


def _preview(msg: dict[str, Any], size: int) -> dict[str, Any]:
    """A big message as the model keeps it: its small fields, and what the rest was."""
    out: dict[str, Any] = {}
    for k, v in msg.items():
        if isinstance(v, str | int | float | bool) or v is None:
            out[k] = v if not isinstance(v, str) or len(v) <= 200 else v[:200] + "…"
        elif isinstance(v, dict):
            out[k] = {"…": f"{len(v)} entries not kept"}
        else:
            out[k] = "…"
    out["…"] = f"{size} bytes on the wire; only a preview is kept (over {MAX_MSG_BYTES})"
    return out


def _hold(table: dict[tuple[str, str], list[int]], key: tuple[str, str], seq: int) -> None:
    """Keep ``seq`` until ``key``'s peer is known; bounded (oldest waits are forgotten)."""
    seqs = table.get(key)
    if seqs is None:
        if len(table) >= _UNRESOLVED_CAP:
            del table[next(iter(table))]
        seqs = table[key] = []
    if len(seqs) < _PER_UNRESOLVED:
        seqs.append(seq)
