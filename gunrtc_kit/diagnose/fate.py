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

A tap (``gunrtc_kit.tap``) says each message of a frame (``Said`` at its sender), then the frame
(``Tapped``): the copies of a frame the tap wrote to the receiver's socket are ``untraced`` with
the why ``TAP_DELIVERED`` (delivered to the socket; the tap cannot see whether the receiver
handled it, and no ``Heard`` is invented), unless the receiver traces itself and says it heard
it; copies of a frame it could not deliver are ``lost``, their why naming the tap's cause.

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

from collections.abc import Callable
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core import opts
from gunrtc_kit.diagnose.fate_filters import row_matcher
from gunrtc_kit.diagnose.fate_rows import RowColumns
from gunrtc_kit.diagnose.fate_story import story
from gunrtc_kit.diagnose.fate_types import (
    ANSWERED,
    DUP,
    HEARD,
    HEARD_ONLY,
    HELD,
    LOST,
    LOST_WHY,
    MARKS,
    QUEUED,
    REFUSED,
    SENT,
    TAP_DELIVERED,
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
    "HELD",
    "LOST",
    "MARKS",
    "QUEUED",
    "REFUSED",
    "SENT",
    "TAP_DELIVERED",
    "UNTRACED",
    "Fate",
    "FateModel",
    "FateStep",
    "Mark",
    "MsgInfo",
    "Row",
]


_OPEN = frozenset({SENT, UNTRACED, QUEUED, HELD})  # marks a later event may still settle

ACK_TIMEOUT = opts.ACK_TIMEOUT  # Gun's opt.lack: 9 s without an ack is "No ACK yet."
_UNRESOLVED_CAP = 10_000  # (node, peer id) pairs waiting to learn who the peer is
_PER_UNRESOLVED = 1_000  # rows kept waiting per such pair
MAX_TRACED = 100_000  # peers remembered as traced (a trace file could name any number)
HOLD = 2.0  # seconds a copy heard from a peer not known yet waits for its name
MAX_KINDS = 200  # distinct kinds listed (a remote side chooses its 'dam' values)
MAX_MSG_BYTES = 64 * 1024  # a bigger message is kept as a preview, not whole
MAX_FRAME_ROWS = 10_000  # rows of one tapped frame kept to be marked by its ``Tapped``


class FateModel(RowColumns):
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
        super().__init__(self.directory, row_cap)
        self.msg_cap = msg_cap
        self.ack_timeout = ack_timeout
        self.t0: float | None = None
        self.now = 0.0  # the newest event's time, relative to t0
        self.wires = WireBook()
        self.msgs: dict[str, MsgInfo] = {}
        self.kinds: set[str] = set()
        # copies waiting for their fate, by (message id, sayer, receiver): the row's seq, or
        # the seqs oldest first when two wires between one pair each carry a copy (a row's
        # columns name its wire); one int in the usual case keeps the hot path lean
        self._awaiting: dict[tuple[str, str, str], int | list[int]] = {}
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
        # the rows of the frame a tap is saying now: its ``Said`` events come one after
        # another from one (sender, wire), then its ``Tapped`` says whether it was delivered
        self._frame_node = ""
        self._frame_peer = ""
        self._frame_seqs: list[int] = []
        self._frame_why = ""  # why the tap did not deliver that frame (its ``Dropped``)
        #: senders whose frames a tap read: their ``Put`` is what they sent, not a merge
        self.tapped: set[str] = set()
        self.msgs_discarded = 0
        self.events = 0
        self._on = self._handlers()

    # ------------------------------------------------------------------ feeding
    def feed(self, e: trace.Event) -> None:
        """Learn names from ``e`` (through the directory), then apply it. Use this when the
        model is used alone; a hub that shares the directory between models calls
        ``directory.apply`` once and then ``apply`` on each model."""
        self.directory.apply(e)
        self.apply(e)

    def apply(self, e: trace.Event) -> None:
        """Apply one event (the directory has already seen it). Runs once per event of a
        live mesh (thousands a second): one lookup by the event's type picks its handler."""
        t0 = self.t0
        if t0 is None:
            t0 = self.t0 = e.t
        t = e.t - t0
        if t > self.now:
            self.now = t
        self.events += 1
        node = e.node
        if node and node not in self.traced and len(self.traced) < MAX_TRACED:
            self.traced.add(node)
        if self._held_since:
            self.settle(t - HOLD)
        handler = self._on.get(type(e))
        if handler is not None:
            handler(e, t)

    def _handlers(self) -> dict[type, Callable[[Any, float], None]]:
        return {
            trace.Said: self._said,
            trace.Heard: self._heard,
            trace.Dropped: self._dropped,
            trace.Put: self._put,
            trace.Ack: self._ack,
            trace.Error: self._error,
            trace.Link: lambda e, _t: self.wires.apply(e),
            trace.Tapped: self._tapped,
            trace.Held: self._held_frame,
        }

    def _held_frame(self, e: trace.Held, t: float) -> None:
        """A frame ``e.node`` said waits on its wire (step mode): its copies are in flight,
        ``held``, until a later ``heard``/``dropped`` settles them. A duplicate (``copy_of``)
        is a copy of its own: one more row per message, held."""
        d = self.directory
        dst = d.resolve(e.node, e.peer)
        if not dst:
            return
        tag = e.wire or self.wires.tag(e.node, e.peer)
        for mid, msg in zip(e.msg_ids, e.msgs, strict=False):
            if e.copy_of:
                info = self.msgs.get(mid)
                if info is None:
                    continue
                copy = self._row(t, d.lane(e.node), d.lane(dst), info, HELD, "memory", tag)
                self.row_why[copy] = f"as frame {e.frame}, a copy of {e.copy_of}"
                self._await((mid, e.node, dst), copy)
                continue
            found = self._peek((mid, e.node, dst), tag)
            if found is not None:
                self._settle(found, HELD, f"as frame {e.frame}")
            elif mid and msg:
                self._said(
                    trace.Said(e.t, e.node, e.peer, msg=msg, transport="memory", size=e.size), t
                )

    def _peek(self, key: tuple[str, str, str], tag: str) -> int | None:
        """The newest copy still waiting under ``key`` on the wire ``tag`` (left waiting)."""
        waiting = self._awaiting.get(key)
        if waiting is None:
            return None
        seqs = [waiting] if isinstance(waiting, int) else waiting
        off = self.offset
        for s in reversed(seqs):
            if (
                s >= off
                and self.c_mark[s - off] in (SENT, QUEUED, HELD)
                and self.c_tag[s - off] == tag
            ):
                return s
        return None

    def _tapped(self, e: trace.Tapped, t: float) -> None:
        """A tap forwarded (or could not forward) the frame whose messages were just said."""
        if e.node not in self.tapped and len(self.tapped) < MAX_TRACED:
            self.tapped.add(e.node)
        if e.node != self._frame_node or e.peer != self._frame_peer:
            return  # no message of this frame was said: a heartbeat, a frame not Gun JSON
        seqs, self._frame_seqs = self._frame_seqs, []
        self._frame_node = self._frame_peer = ""
        why, self._frame_why = self._frame_why, ""
        for seq in seqs:
            i = seq - self.offset
            if i < 0:
                continue
            if e.delivered and self.c_mark[i] in (SENT, QUEUED):
                self._settle(seq, UNTRACED, TAP_DELIVERED)  # still awaits a Heard, if traced
            elif not e.delivered and self.c_mark[i] in (SENT, QUEUED, LOST):
                why = self.row_why.get(seq) or why or "its connection was cut first"
                self._settle(seq, LOST, f"the tap could not deliver it: {why}")

    def _put(self, e: trace.Put, t: float) -> None:
        info = self.msgs.get(e.msg_id)
        if info is not None:
            nkeys = sum(len(k) for k in e.changes.values())
            info.merged.append((t, e.node, nkeys, e.deferred))
            info.version += 1

    def _ack(self, e: trace.Ack, t: float) -> None:
        info = self.msgs.get(e.reply_to)
        if info is not None and info.origin == e.node and info.answered_at is None:
            info.answered_at, info.answered_by = t, ""
            info.answer_ok, info.answer_err = e.ok, e.err
            info.version += 1

    def _error(self, e: trace.Error, t: float) -> None:
        info = self.msgs.get(e.msg_id) if e.msg_id else None
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

    def _said(self, e: trace.Said, t: float) -> None:
        msg = e.msg
        mid = msg.get("#")
        if not isinstance(mid, str):
            return
        d = self.directory
        info = self.msgs.get(mid) or self._info(msg, mid, t, e.node, True, e.size)
        dst = d.resolve(e.node, e.peer)
        tag = self.wires.tag(e.node, e.peer)
        mark = QUEUED if e.queued else SENT
        seq = self._row(t, d.lane(e.node), d.lane(dst), info, mark, e.transport, tag)
        if dst:
            self._await((mid, e.node, dst), seq)
        else:
            _hold(self._unres_dst, (e.node, e.peer), seq)
            _hold(self._unres_by, (mid, e.node), seq)
        if e.node != self._frame_node or e.peer != self._frame_peer:
            self._frame_node, self._frame_peer, self._frame_seqs = e.node, e.peer, [seq]
        elif len(self._frame_seqs) < MAX_FRAME_ROWS:
            self._frame_seqs.append(seq)

    def _await(self, key: tuple[str, str, str], seq: int) -> None:
        waiting = self._awaiting.get(key)
        if waiting is None:
            self._awaiting[key] = seq
        elif isinstance(waiting, int):
            self._awaiting[key] = [waiting, seq]
        else:
            waiting.append(seq)

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
        info = self.msgs.get(mid) or self._info(msg, mid, t, src, False, e.size)
        seq = self._copy_to(mid, src, e.node, e.transport, e.peer) if src else None
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
        if e.node == self._frame_node and e.peer == self._frame_peer:
            self._frame_why = LOST_WHY.get(cause, e.reason)  # a tap's frame not delivered
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
        seq = self._copy_to(e.msg_id, src, e.node, e.transport, e.peer) if src else None
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
            tag = self.wires.tag(e.node, e.peer)
            seq = self._take((e.msg_id, e.node, dst), e.transport, tag)
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
        return self._settle(seq, LOST, LOST_WHY.get(e.cause, e.reason))

    # ------------------------------------------------------------------ resolution
    def _take(self, key: tuple[str, str, str], transport: str, tag: str) -> int | None:
        """The oldest copy waiting under ``key`` on the wire ``transport``/``tag`` (else on
        any wire of that pair)."""
        waiting = self._awaiting.get(key)
        if waiting is None:
            return None
        if isinstance(waiting, int):  # the usual case: one copy of this message on this pair
            del self._awaiting[key]
            return waiting
        off, c_tr, c_tag = self.offset, self.c_tr, self.c_tag
        at = next(
            (
                n
                for n, s in enumerate(waiting)
                if s >= off and c_tr[s - off] == transport and c_tag[s - off] == tag
            ),
            0,
        )
        seq = waiting.pop(at)
        if len(waiting) == 1:
            self._awaiting[key] = waiting[0]
        return seq

    def _copy_to(self, mid: str, src: str, dst: str, transport: str, peer: str) -> int | None:
        """The row of ``src`` saying ``mid`` to ``dst`` that still waits for its fate, ``dst``
        having heard it over ``transport`` from the peer it calls ``peer`` (which names the
        wire, among several between the pair): known by its ends, or one said to a peer
        ``src`` could not name yet (then it is ``dst``)."""
        seq = self._take((mid, src, dst), transport, self.wires.tag(dst, peer))
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
                    self._await((self.c_mid[i], node, entity), seq)
        for seq in self._unres_src.pop((node, peer), ()):
            if seq >= self.offset:
                self.c_src[seq - self.offset] = lane
                self.changed.add(seq)

    def _trim(self, n: int) -> None:
        super()._trim(n)
        first = self.offset
        awaiting: dict[tuple[str, str, str], int | list[int]] = {}
        for k, waiting in self._awaiting.items():
            if isinstance(waiting, int):
                if waiting >= first:
                    awaiting[k] = waiting
                continue
            kept = [s for s in waiting if s >= first]
            if kept:
                awaiting[k] = kept if len(kept) > 1 else kept[0]
        self._awaiting = awaiting

    # ------------------------------------------------------------------ reading
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
