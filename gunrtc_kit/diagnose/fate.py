"""What became of every message: said, heard, relayed, dropped by dedup, lost on a wire,
acked, replied, never acked; and which request each reply answers.

A DAM message travels as copies: each ``Said`` event is one copy leaving one peer for one
other peer over one wire. The model keeps a **row** per copy and gives it a **mark** (``Mark``)
when the trace says how it ended: the receiver ``Heard`` it (it passed dedup and was handled),
the receiver dropped it as a duplicate or refused it (a reply rule), or it never arrived (the
wire's loss or partition, the wire closing with it on it, the peer gone, a full queue). Copies
are matched to their fate by message id, both ends *and the wire* (``diagnose.wires``): two
wires between one pair carry two copies, each with its own fate. A copy handed to a peer that
is not traced (a Gun.js relay) is ``untraced`` (its arrival is not known) until that peer
answers it, which proves it arrived (``answered``). A copy heard from a sender that is not
traced becomes a ``heard-only`` row, so what was *heard* is shown even when nobody traced its
saying. Causes are read from ``trace.Dropped.cause`` (typed), never from its text. Rows are
what the flow view draws.

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

from collections.abc import Callable, Iterator
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core import opts
from gunrtc_kit.diagnose.fate_filters import row_matcher
from gunrtc_kit.diagnose.fate_story import story
from gunrtc_kit.diagnose.fate_types import (
    ANSWERED,
    DUP,
    HEARD,
    HEARD_ONLY,
    LOST,
    MARKS,
    QUEUED,
    REFUSED,
    SENT,
    UNTRACED,
    Fate,
    FateStep,
    Mark,
    MsgInfo,
    Row,
)
from gunrtc_kit.diagnose.messages import is_signaling, kind_of, label_of, souls_of
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.wires import WireBook

__all__ = [
    "ANSWERED",
    "DUP",
    "HEARD",
    "HEARD_ONLY",
    "LOST",
    "MARKS",
    "QUEUED",
    "REFUSED",
    "SENT",
    "UNTRACED",
    "Fate",
    "FateModel",
    "FateStep",
    "Mark",
    "MsgInfo",
    "Row",
]


_OPEN = frozenset({SENT, UNTRACED, QUEUED})  # marks a later event may still settle
_LOST_WHY = {
    trace.DropCause.PARTITIONED: "the wire's partition dropped it",
    trace.DropCause.LOSS: "the wire's loss dropped it",
    trace.DropCause.WIRE_CLOSED: "the wire closed with it on it",
    trace.DropCause.PEER_LEFT: "the peer had left the mesh",
    trace.DropCause.QUEUE_FULL: "the peer's queue of unsent frames was full",
}

ACK_TIMEOUT = opts.ACK_TIMEOUT  # Gun's opt.lack: 9 s without an ack is "No ACK yet."
_UNRESOLVED_CAP = 10_000  # (node, peer id) pairs waiting to learn who the peer is
_PER_UNRESOLVED = 1_000  # rows kept waiting per such pair
MAX_TRACED = 100_000  # peers remembered as traced (a trace file could name any number)
HOLD = 2.0  # seconds a copy heard from a peer not known yet waits for its name
MAX_KINDS = 200  # distinct kinds listed (a remote side chooses its 'dam' values)
MAX_MSG_BYTES = 64 * 1024  # a bigger message is kept as a preview, not whole


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
        self.c_tag: list[str] = []  # the wire's tag (memory wires), to tell sibling wires apart
        self.row_why: dict[int, str] = {}  # seq -> why a lost or refused copy ended so
        self.wires = WireBook()
        self.traced: set[str] = set()  # peers that emit events of their own
        self.msgs: dict[str, MsgInfo] = {}
        self.kinds: set[str] = set()
        self.changed: set[int] = set()  # rows whose mark or ends changed (views drain it)
        # copies waiting for their fate, by (message id, sayer, receiver): (wire, seq) each,
        # oldest first; two wires between one pair each carry a copy of their own
        self._awaiting: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
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
        if type(e) is trace.Link:
            self.wires.apply(e)
        if e.node and e.node not in self.traced and len(self.traced) < MAX_TRACED:
            self.traced.add(e.node)
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

    def _row(
        self,
        t: float,
        src: int,
        dst: int,
        info: MsgInfo,
        mark: int,
        transport: str,
        tag: str = "",
    ) -> int:
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
        self.c_tag.append(tag)
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
        tag = self.wires.tag(e.node, e.peer)
        mark = QUEUED if e.queued else SENT
        seq = self._row(t, d.lane(e.node), d.lane(dst), info, mark, e.transport, tag)
        if dst:
            self._await(mid, e.node, dst, f"{e.transport}:{tag}", seq)
        else:
            _hold(self._unres_dst, (e.node, e.peer), seq)
            _hold(self._unres_by, (mid, e.node), seq)

    def _await(self, mid: str, src: str, dst: str, wire: str, seq: int) -> None:
        waiting = self._awaiting.get((mid, src, dst))
        if waiting is None:
            self._awaiting[(mid, src, dst)] = [(wire, seq)]
        else:
            waiting.append((wire, seq))

    def _settle(self, seq: int | None, mark: int, why: str = "") -> bool:
        """Give row ``seq`` its final mark (and why); False when it is not kept."""
        if seq is None or seq < self.offset:
            return False
        i = seq - self.offset
        self.c_mark[i] = mark
        if why:
            self.row_why[seq] = why
        self.changed.add(seq)
        info = self.msgs.get(self.c_mid[i])
        if info is not None:
            info.version += 1
        return True

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
        wire = self.wires.key(e.node, e.peer, e.transport)
        seq = self._copy_to(mid, src, e.node, wire) if src else None
        if not self._settle(seq, HEARD):
            seq = self._row(
                t,
                d.lane(src),
                d.lane(e.node),
                info,
                HEARD_ONLY,
                e.transport,
                self.wires.tag(e.node, e.peer),
            )
            if not src:
                _hold(self._unres_src, (e.node, e.peer), seq)
        if info.reply_to:
            self._answered(info, src, e.node, msg, t)

    def _answered(self, reply: MsgInfo, src: str, node: str, msg: dict[str, Any], t: float) -> None:
        """``node`` heard ``reply`` from ``src``: whoever made it had the request, so a copy of
        the request handed to that untraced peer arrived; and the origin has its answer."""
        parent = self.msgs.get(reply.reply_to)
        if parent is None:
            return
        maker = reply.origin or src
        lane = self.directory.lane_of(maker)
        for seq in parent.seqs:
            i = seq - self.offset
            if i >= 0 and self.c_dst[i] == lane and self.c_mark[i] in (UNTRACED, SENT):
                self._settle(seq, ANSWERED)
                break
        if parent.origin == node and parent.answered_at is None:
            parent.answered_at = t
            parent.answered_by = reply.origin
            parent.answer_ok = msg.get("ok")
            err = msg.get("err")
            parent.answer_err = str(err) if err else ""
            parent.version += 1

    def _dropped(self, e: trace.Dropped, t: float, hold: bool = True) -> None:
        cause = e.cause
        if cause.on_arrival:
            self._refused(e, t, hold)
            return
        if e.peer and cause.never_arrived:
            if self._lost(e):
                return
        info = self.msgs.get(e.msg_id) if e.msg_id else None
        if info is not None:
            d = self.directory
            who = d.label(e.node)
            to = d.label(d.resolve(e.node, e.peer)) if e.peer else ""
            text = f"not delivered by {who}" + (f" to {to}" if to else "") + f": {e.reason}"
            info.notes.append((t, text, "dropped"))
            info.version += 1

    def _refused(self, e: trace.Dropped, t: float, hold: bool) -> None:
        """The receiver got a copy and dropped it: dedup, or a reply rule."""
        d = self.directory
        src = d.resolve(e.node, e.peer)
        if not src and hold and self._hold_event(e, t):
            return
        mark = DUP if e.cause is trace.DropCause.DUPLICATE else REFUSED
        why = "" if mark == DUP else e.reason
        wire = self.wires.key(e.node, e.peer, e.transport)
        seq = self._copy_to(e.msg_id, src, e.node, wire) if src else None
        if self._settle(seq, mark, why):
            return
        info = self.msgs.get(e.msg_id)
        if info is not None:
            tag = self.wires.tag(e.node, e.peer)
            seq = self._row(t, d.lane(src), d.lane(e.node), info, mark, e.transport, tag)
            if why:
                self.row_why[seq] = why
            if not src:
                _hold(self._unres_src, (e.node, e.peer), seq)

    def _lost(self, e: trace.Dropped) -> bool:
        """A copy ``e.node`` said never reached the far end: mark its row; False if none."""
        d = self.directory
        dst = d.resolve(e.node, e.peer)
        if dst:
            seq = self._take((e.msg_id, e.node, dst), self.wires.key(e.node, e.peer, e.transport))
        else:  # the far end is not known yet: the copy waits among the unresolved
            seq = next(
                (
                    s
                    for s in self._unres_dst.get((e.node, e.peer), ())
                    if s >= self.offset
                    and self.c_mid[s - self.offset] == e.msg_id
                    and self.c_mark[s - self.offset] in _OPEN
                ),
                None,
            )
        return self._settle(seq, LOST, _LOST_WHY.get(e.cause, e.reason))

    # ------------------------------------------------------------------ resolution
    def _take(self, key: tuple[str, str, str], wire: str) -> int | None:
        """The oldest copy waiting under ``key`` on ``wire`` (else on any wire of that pair)."""
        waiting = self._awaiting.get(key)
        if not waiting:
            return None
        if len(waiting) == 1:  # the usual case: one copy of this message on this pair
            del self._awaiting[key]
            return waiting[0][1]
        at = next((n for n, (w, _) in enumerate(waiting) if w == wire), 0)
        return waiting.pop(at)[1]

    def _copy_to(self, mid: str, src: str, dst: str, wire: str = "") -> int | None:
        """The row of ``src`` saying ``mid`` to ``dst`` (over ``wire`` when it can tell) that
        still waits for its fate: known by its ends, or one said to a peer ``src`` could not
        name yet (then it is ``dst``)."""
        seq = self._take((mid, src, dst), wire)
        if seq is not None:
            return seq
        seqs = self._unres_by.get((mid, src))
        while seqs:
            seq = seqs.pop(0)
            i = seq - self.offset
            if i >= 0 and self.c_dst[i] == -1 and self.c_mark[i] in _OPEN:
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
                if self.c_mark[i] in _OPEN:  # a lost copy has its fate already
                    wire = f"{self.c_tr[i]}:{self.c_tag[i]}"
                    self._await(self.c_mid[i], node, entity, wire, seq)
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
            self.c_tag,
        ):
            del col[:n]
        self.offset += n
        first = self.offset
        awaiting: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
        for k, waiting in self._awaiting.items():
            kept = [(w, s) for w, s in waiting if s >= first]
            if kept:
                awaiting[k] = kept
        self._awaiting = awaiting
        self.row_why = {s: why for s, why in self.row_why.items() if s >= first}
        self.changed = {s for s in self.changed if s >= first}

    # ------------------------------------------------------------------ reading
    def index(self, seq: int) -> int:
        """The column index of row ``seq``, or -1 when it is no longer kept."""
        i = seq - self.offset
        return i if 0 <= i < len(self.c_t) else -1

    def mark_at(self, i: int) -> Mark:
        """The mark of the row at column index ``i``: a copy still ``sent`` to a peer that
        emits no events of its own reads ``untraced`` (its arrival cannot be known)."""
        m = self.c_mark[i]
        if m == SENT:
            dd = self.c_dst[i]
            if dd >= 0 and self.directory.lanes[dd] not in self.traced:
                return Mark.UNTRACED
        return MARKS[m]

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
            mark=self.mark_at(i),
            transport=self.c_tr[i],
            reply_to=self.c_reply[i],
            sig=self.c_sig[i],
            why=self.row_why.get(seq, ""),
            tag=self.c_tag[i],
        )

    def rows(self) -> Iterator[Row]:
        """Every kept row, oldest first."""
        for seq in range(self.offset, self.total):
            yield self.row(seq)

    def matcher(self, **filters: Any) -> Callable[[int], bool]:
        """A test on a column index for these filters: ``peer`` (a name or an id), ``kind``,
        ``soul`` (exact, or a prefix when it ends with ``*``), ``transport``,
        ``hide_signaling``, ``pair`` (see ``fate_filters.row_matcher``)."""
        return row_matcher(self, **filters)

    def fate(self, mid: str) -> Fate:
        """Everything the trace says about message ``mid`` (``KeyError`` if never seen)."""
        return story(self, mid)


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
