"""The trace bus: one stream of typed events that every layer emits and every view reads.

Why one bus: the notebook views, the tests and the JSONL recorder all want the same facts (a
message heard, a link opened, an SDP passed) without each layer knowing who listens. Events are
frozen, slotted dataclasses; the clock is passed in so the sans-I/O layers never read one.

``node`` is the pid of the peer that emitted the event, ``peer`` the id of the remote side (a
mesh peer id, a relay URL, or a remote pid), ``transport`` one of ``"ws"``, ``"dc"``,
``"memory"`` or ``""``.

Waiting on the bus: ``TraceBus.wait_for`` (blocking, for a notebook cell or a test thread) and
``TraceBus.until`` (awaitable from any loop) return the first event that matches a predicate,
so tests and notebooks wait on what happened instead of sleeping and hoping. Events are emitted
on the loop that runs the peers, often in another thread; both waits are safe across threads.

Trace files: ``save``/``load`` write and read a JSONL file whose first line is a ``meta`` record
(``{"kind": "meta", "format": "gunrtc-trace", "version": 1, ...}``, e.g. peer names), gzipped
when large, so a recorded session can be shared and replayed into the views.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import io
import json
import logging
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, TypedDict, TypeVar, cast

from gunrtc_kit import errors

log = logging.getLogger(__name__)

Message = dict[str, Any]

__all__ = [
    "Ack",
    "Bye",
    "DropCause",
    "Dropped",
    "Error",
    "Event",
    "Heard",
    "Held",
    "Hi",
    "CandidateInfo",
    "ChannelInfo",
    "Link",
    "LinkStats",
    "PairInfo",
    "Put",
    "RtcSignal",
    "ReleaseAction",
    "Released",
    "RtcState",
    "Said",
    "Tapped",
    "TraceBus",
    "TraceFile",
    "from_jsonl",
    "load",
    "save",
    "summarize",
    "to_jsonl",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all trace events."""

    t: float
    node: str
    peer: str = ""

    kind: ClassVar[str] = "event"


@dataclass(frozen=True, slots=True)
class Heard(Event):
    """A DAM message arrived on a wire and passed dedup."""

    msg: Message = field(default_factory=dict)
    transport: str = ""
    size: int = 0
    kind: ClassVar[str] = "heard"


@dataclass(frozen=True, slots=True)
class Said(Event):
    """A DAM message was written to one peer's wire (``batched``: inside an array frame;
    ``queued``: the wire was not open, so the frame waits in the peer's queue until it opens)."""

    msg: Message = field(default_factory=dict)
    transport: str = ""
    size: int = 0
    batched: bool = False
    queued: bool = False
    kind: ClassVar[str] = "said"


class DropCause(StrEnum):
    """Why a message was not handled or not sent: one typed vocabulary for every layer.

    Why typed: the views, fate and the doctor decide what happened to a copy from this cause;
    matching the free-text ``reason`` (written elsewhere, free to change) let them say false
    things. ``reason`` stays as the human sentence; ``cause`` is what code reads.
    """

    #: the receiver's dedup had seen this ``#`` already
    DUPLICATE = "duplicate"
    #: a reply whose content (``##``) this route already carried
    DUPLICATE_REPLY = "duplicate_reply"
    #: a reply naming a request that was never said to the peer it came from
    REPLY_FROM_STRANGER = "reply_from_stranger"
    #: a reply to a request of our own: handled here, not relayed
    OWN_REQUEST = "own_request"
    #: a reply whose request is no longer in dedup: no way back
    NO_ROUTE = "no_route"
    #: the way back (or the wire) leads to a peer that left the mesh
    PEER_LEFT = "peer_left"
    #: a not-found reply to a request that already has data
    NOT_FOUND_SUPPRESSED = "not_found_suppressed"
    #: the same reply content was already sent on this route
    IDENTICAL_REPLY = "identical_reply"
    #: a peer's queue of unsent frames is full
    QUEUE_FULL = "queue_full"
    #: a reply nobody here asked for (no open request)
    UNSOLICITED_REPLY = "unsolicited_reply"
    #: a reply stream past ``MAX_REPLY_CHUNKS``
    REPLY_CAP = "reply_cap"
    #: a message with no put, get or ``@``: nothing to relay
    NOTHING_TO_RELAY = "nothing_to_relay"
    #: a wire's byte budget for a slow reader was passed (the wire is cut)
    BUDGET = "budget"
    #: a memory wire's partition dropped the frame
    PARTITIONED = "partitioned"
    #: a memory wire's loss dropped the frame
    LOSS = "loss"
    #: the wire closed with the frame still on it (in flight, batched or queued)
    WIRE_CLOSED = "wire_closed"
    #: a WebRTC signalling item refused by a bound (announcements, candidates)
    RTC_LIMIT = "rtc_limit"
    #: a frame over its wire's size limit (a data channel's, a websocket's): never sent
    FRAME_TOO_BIG = "frame_too_big"
    #: a frame held on a memory wire (step mode) that the user chose to drop
    BY_HAND = "by_hand"
    #: a frame that would have been held on a memory wire, but the hold was full
    HOLD_FULL = "hold_full"
    #: read from a trace written before causes were typed
    UNKNOWN = "unknown"

    @property
    def on_wire(self) -> bool:
        """The wire lost the frame (the receiver never saw it), as opposed to a peer deciding
        not to handle or send it."""
        return self in _WIRE_CAUSES

    @property
    def never_arrived(self) -> bool:
        """The sayer reports that its copy never reached the far end: the wire lost it, or
        the mesh never wrote it (the peer had left, its queue was full, the frame was over
        the wire's size limit)."""
        return self in _NEVER_ARRIVED

    @property
    def on_arrival(self) -> bool:
        """The receiver got the copy and refused it (dedup or a reply rule)."""
        return self in _ARRIVAL_CAUSES


_WIRE_CAUSES = frozenset(
    {
        DropCause.PARTITIONED,
        DropCause.LOSS,
        DropCause.WIRE_CLOSED,
        DropCause.BY_HAND,
        DropCause.HOLD_FULL,
    }
)
_NEVER_ARRIVED = _WIRE_CAUSES | {
    DropCause.PEER_LEFT,
    DropCause.QUEUE_FULL,
    DropCause.FRAME_TOO_BIG,
}
_ARRIVAL_CAUSES = frozenset(
    {DropCause.DUPLICATE, DropCause.DUPLICATE_REPLY, DropCause.REPLY_FROM_STRANGER}
)


@dataclass(frozen=True, slots=True)
class Dropped(Event):
    """A message was not handled or not sent: ``cause`` says why (typed; required),
    ``reason`` says it in words. ``transport`` names the wire's kind when the drop happened on
    one (so two wires between the same peers are told apart)."""

    msg_id: str = ""
    reason: str = ""
    # no usable default: a Dropped built without a cause raises (``__post_init__``)
    cause: DropCause = cast(DropCause, None)
    transport: str = ""
    kind: ClassVar[str] = "dropped"

    def __post_init__(self) -> None:
        if not isinstance(self.cause, DropCause):
            raise TypeError(f"Dropped needs a typed cause (trace.DropCause), got {self.cause!r}")


@dataclass(frozen=True, slots=True)
class Hi(Event):
    """A wire opened and the peer joined the mesh (``pid`` once known)."""

    pid: str = ""
    transport: str = ""
    kind: ClassVar[str] = "hi"


@dataclass(frozen=True, slots=True)
class Bye(Event):
    """A peer left the mesh (its wire closed or failed)."""

    transport: str = ""
    kind: ClassVar[str] = "bye"


@dataclass(frozen=True, slots=True)
class Error(Event):
    """Something went wrong and was handled: bad input, a failed link, a rejected offer."""

    error: str = ""
    msg_id: str = ""
    kind: ClassVar[str] = "error"


@dataclass(frozen=True, slots=True)
class Put(Event):
    """The local graph accepted (or deferred) keys of a put: ``changes`` is {soul: [keys]}.

    ``values`` ({soul: {key: value}}) and ``states`` ({soul: {key: HAM state}}) hold what the
    merge changed (never ``_``), so a view or a replayed trace can show a peer's data and why a
    write won without reading the live graph. ``held`` marks a key HAM held back for its future
    state and applied now that the peer's clock reached it (not a merge on arrival).
    """

    msg_id: str = ""
    changes: dict[str, list[str]] = field(default_factory=dict)
    deferred: int = 0
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, dict[str, float]] = field(default_factory=dict)
    held: bool = False
    kind: ClassVar[str] = "put"


@dataclass(frozen=True, slots=True)
class Ack(Event):
    """A reply to one of our requests arrived: ``ok`` or ``err`` as Gun sent it."""

    msg_id: str = ""
    reply_to: str = ""
    ok: Any = None
    err: str = ""
    kind: ClassVar[str] = "ack"


@dataclass(frozen=True, slots=True)
class RtcSignal(Event):
    """One WebRTC signalling step: ``step`` is announce/offer/answer/candidate; ``direction``
    is ``"out"`` or ``"in"``; ``data`` holds the SDP or candidate as sent."""

    step: str = ""
    direction: str = ""
    data: Any = None
    kind: ClassVar[str] = "rtc_signal"


@dataclass(frozen=True, slots=True)
class RtcState(Event):
    """A WebRTC link changed state, as aiortc reports it, at one ``layer``.

    Layers, so a view can show where a link is stuck (ICE never completing and DTLS failing
    look the same at the peer-connection level): ``"pc"`` (connectionState), ``"ice"``
    (iceConnectionState), ``"ice-gathering"``, ``"dtls"``, ``"sctp"`` (read when a data channel
    opens or closes: aiortc has no SCTP state event), ``"dc"`` (a data channel's readyState;
    ``detail`` says whose channel), ``"pair"`` (state ``"selected"``, ``detail`` the nominated
    candidate pair) and ``"link"`` (the manager's ``open``/``closed`` of the whole link).
    """

    state: str = ""
    layer: str = "pc"
    detail: str = ""
    kind: ClassVar[str] = "rtc_state"


@dataclass(frozen=True, slots=True)
class Link(Event):
    """``node`` has a wire to ``peer`` (its mesh peer id) whose far end is ``pid``.

    Why: a ``Hi`` names the far pid only after the ``?`` exchange, which a broken wire (loss 1.0,
    a partition) never completes; the wire's maker knows both ends, so it says so at once. Sent
    again whenever the wire's ``props`` change (memory wires: ``latency``, ``jitter``, ``loss``,
    ``partitioned``), so a view can draw faults as they are injected.
    """

    pid: str = ""
    transport: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    #: a tag both ends of this wire share (memory wires), so that two wires between the same
    #: two peers are told apart; "" when the transport already tells them apart
    wire: str = ""
    kind: ClassVar[str] = "link"


class ReleaseAction(StrEnum):
    """What became of a held frame (``Released.action``)."""

    #: handed to the far end's mesh (which then says ``heard``, or drops it as a duplicate)
    DELIVERED = "delivered"
    #: thrown away by hand: the far end never sees it (the sender also says ``dropped``)
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class Held(Event):
    """A frame ``node`` wrote on its memory wire ``peer`` waits, held, instead of arriving at
    ``to`` (step mode: ``Lab.hold``).

    Why an event of its own: a held frame is said (``Said``) but neither heard nor dropped,
    and stays so until the user chooses; without this event a view would take it for lost.
    ``frame`` is the Lab's name for it (``f1``, ``f2``...: what ``Lab.deliver`` takes),
    ``msg_ids`` the ``#`` of each message in it, ``msgs`` the messages themselves (a fork
    holds them again), ``wire`` the wire's tag, ``copy_of`` the frame it duplicates, if any.
    """

    to: str = ""
    frame: str = ""
    msg_ids: list[str] = field(default_factory=list)
    msgs: list[Message] = field(default_factory=list)
    wire: str = ""
    size: int = 0
    copy_of: str = ""
    kind: ClassVar[str] = "held"


@dataclass(frozen=True, slots=True)
class Released(Event):
    """A held frame left the hold: ``action`` says how (delivered or dropped by hand).

    Emitted on the sender's bus before the far end handles a delivered frame, so the far
    end's ``heard`` (or ``dropped`` as a duplicate) follows it in the trace."""

    to: str = ""
    frame: str = ""
    action: ReleaseAction = ReleaseAction.DELIVERED
    wire: str = ""
    kind: ClassVar[str] = "released"


@dataclass(frozen=True, slots=True)
class Tapped(Event):
    """A tap forwarded one frame that ``node`` wrote on its wire ``peer`` to ``to``, the far end.

    Why an event of its own: a tap (``gunrtc_kit.tap``) sits on the wire between a client and a
    relay it did not make, and sees frames, not what either side did with them. ``Said`` at
    the sender is true (the frame left it); a ``Heard`` at the receiver would not be (it says
    "passed dedup and handled", which only the receiver knows). This event says what the tap
    knows: the frame's ``size`` in bytes, whether it was ``binary``, how many DAM ``messages``
    it held (0 for a heartbeat ``[]`` or a frame that is not JSON), and whether it was
    ``delivered`` (written whole to the receiver's socket) or not (the pair was cut first).
    ``tap`` names the tap (``tap:host:port``).
    """

    to: str = ""
    size: int = 0
    binary: bool = False
    messages: int = 0
    delivered: bool = True
    tap: str = ""
    transport: str = ""
    kind: ClassVar[str] = "tapped"


class CandidateInfo(TypedDict):
    """One ICE candidate as a ``LinkStats`` event carries it (plain JSON)."""

    #: the address as signalled or gathered: an IP, or a browser's ``xxxx.local`` mDNS name
    address: str
    #: the IP aioice reaches it at ("" when it knows none: an mDNS name it did not resolve)
    resolved: str
    port: int
    #: host, srflx, prflx or relay
    type: str
    #: udp or tcp
    protocol: str
    #: ipv4, ipv6, mdns (a name, unresolved), hidden (a browser did not say it) or other
    family: str


class PairInfo(TypedDict):
    """One ICE candidate pair as aioice checks it: ``local`` and ``remote`` are ``host:port``
    (the remote as signalled), ``state`` one of frozen, waiting, in-progress, succeeded,
    failed."""

    local: str
    remote: str
    state: str
    nominated: bool


class ChannelInfo(TypedDict):
    """One data channel: its ``readyState`` and ``bufferedAmount`` (bytes not yet taken)."""

    state: str
    buffered: int


@dataclass(frozen=True, slots=True)
class LinkStats(Event):
    """What one WebRTC link looks like from ``node`` (about ``peer``, the remote pid): the
    "webrtc-internals" of this mesh, since aiortc's ``getStats()`` has no candidate pairs.

    Sent about once a second while the link is pending or open, and once more (``final``) when
    it closes or fails, so a reader can draw rates over time and say why a link failed
    (``gunrtc_kit.diagnose.linkreport``). ``link`` tells two links between the same pids apart.
    ``phase`` is pending, open or closed; ``opened`` whether the link ever opened. Lists are
    capped (``more`` counts what was left off).
    ``ended_by`` is "local" (we closed it), "remote" (it closed or failed under us) or "";
    ``at_close`` the pc/ice/dtls/sctp states at that moment. ``rtt`` is SCTP's smoothed
    round-trip time in seconds (None before the first measurement). Counters are totals since
    the link was made; bytes are the frames' lengths. ``probe`` maps ``host:port`` of remote
    candidates to the errno name the OS refused a datagram with, or "ok"; it is filled once
    the link failed or stalled (``stalled``: not open after the stall time). ``unread`` names
    library internals that could not be read (their values are then missing, not wrong).
    """

    link: str = ""
    phase: str = ""
    opened: bool = False
    final: bool = False
    why: str = ""
    age: float = 0.0
    pc: str = ""
    ice: str = ""
    gathering: str = ""
    dtls: str = ""
    sctp: str = ""
    channels: dict[str, ChannelInfo] = field(default_factory=dict)
    local_candidates: list[CandidateInfo] = field(default_factory=list)
    remote_candidates: list[CandidateInfo] = field(default_factory=list)
    pairs: list[PairInfo] = field(default_factory=list)
    selected: PairInfo | None = None
    more: dict[str, int] = field(default_factory=dict)
    rtt: float | None = None
    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    buffered: int = 0
    ended_by: str = ""
    at_close: dict[str, str] = field(default_factory=dict)
    stalled: bool = False
    probe: dict[str, str] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "link_stats"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Heard,
        Said,
        Dropped,
        Hi,
        Bye,
        Error,
        Put,
        Ack,
        RtcSignal,
        RtcState,
        Link,
        LinkStats,
        Tapped,
        Held,
        Released,
    )
}

E = TypeVar("E", bound=Event)
Subscriber = Callable[[Event], None]

HISTORY_MSG_CHARS = 2048  # a message or put kept whole in the history up to about this size


def _size_over(value: Any, budget: int) -> int:
    """How far ``value``'s JSON-ish size goes over ``budget`` (0 if it fits); stops early."""
    stack = [value]
    left = budget
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            left -= len(v) + 2
        elif isinstance(v, dict):
            left -= 2
            for k, x in v.items():
                left -= len(k) + 4 if isinstance(k, str) else 8
                stack.append(x)
        elif isinstance(v, list | tuple):
            left -= 2 + len(v)
            stack.extend(v)
        else:
            left -= 8
        if left < 0:
            return -left
    return 0


def summarize(value: Any, budget: int = HISTORY_MSG_CHARS) -> Any:
    """A copy of ``value`` whose strings, dicts and lists are cut to fit about ``budget``
    characters: what a view needs to name a message (ids, souls, keys), not its payload."""
    left = [budget]

    def cut(v: Any, depth: int) -> Any:
        if isinstance(v, str):
            n = max(min(len(v), left[0], 64), 0)
            left[0] -= n + 2
            return v if n == len(v) else v[:n] + "\u2026"
        if isinstance(v, dict):
            out: dict[Any, Any] = {}
            for i, (k, x) in enumerate(v.items()):
                if left[0] <= 0 or depth > 6:
                    out["\u2026"] = f"+{len(v) - i} more"
                    break
                left[0] -= len(str(k)) + 4
                out[k] = cut(x, depth + 1)
            return out
        if isinstance(v, list | tuple):
            return [cut(x, depth + 1) for x in v[:8]] + (
                [f"+{len(v) - 8} more"] if len(v) > 8 else []
            )
        left[0] -= 8
        return v

    return cut(value, 0)


def _kept(event: Event) -> Event:
    """The form of ``event`` the history keeps: itself, or a summary if it carries a lot."""
    if isinstance(event, Heard | Said):
        over = (
            event.size - HISTORY_MSG_CHARS
            if event.size
            else _size_over(event.msg, HISTORY_MSG_CHARS)
        )
        if over > 0:
            msg = summarize(event.msg)
            msg["~"] = event.size or HISTORY_MSG_CHARS + over
            return dataclasses.replace(event, msg=msg)
    elif isinstance(event, Held):
        if event.size > HISTORY_MSG_CHARS or _size_over(event.msgs, HISTORY_MSG_CHARS):
            return dataclasses.replace(event, msgs=[summarize(m) for m in event.msgs])
    elif isinstance(event, Put):
        if _size_over(event.values, HISTORY_MSG_CHARS):
            return dataclasses.replace(event, values=summarize(event.values))
    return event


class _Filtered:
    """A subscriber that takes only some kinds of event (``TraceBus.subscribe(fn, kinds)``)."""

    __slots__ = ("fn", "kinds")

    def __init__(self, fn: Subscriber, kinds: tuple[type[Event], ...]) -> None:
        self.fn = fn
        self.kinds = kinds

    def __call__(self, event: Event) -> None:
        if isinstance(event, self.kinds):
            self.fn(event)


class TraceBus:
    """Fan-out of events to subscribers, with a bounded in-memory history.

    A subscriber that raises does not stop the others: its error is logged and turned into a
    ``trace.Error`` event (never silently lost). ``history`` keeps the last ``keep`` events so a
    view opened late can draw what already happened.

    The history is bounded in bytes as well as in count: a message or a put bigger than
    ``HISTORY_MSG_CHARS`` is kept as a summary (its ids, kind, souls and keys, strings cut short,
    marked with ``"~": <original size>``); live subscribers always get the whole event. Without
    this, a remote peer sending 1 MB messages that are neither stored nor relayed would pin
    ``keep`` MB of memory for good.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, keep: int = 10_000) -> None:
        if keep < 0:
            raise ValueError(f"keep={keep!r}, expected an int >= 0")
        self.clock = clock
        self.keep = keep
        self.history: deque[Event] = deque(maxlen=keep)
        self._subs: list[Subscriber] = []
        self._all = False  # an unfiltered subscriber takes every event
        self._kinds: frozenset[type[Event]] = frozenset()  # what filtered subscribers take
        self._in_error = False

    def now(self) -> float:
        return self.clock()

    def subscribe(
        self, fn: Subscriber, kinds: tuple[type[Event], ...] | None = None
    ) -> Callable[[], None]:
        """Call ``fn(event)`` for every later event, or only for events of ``kinds``; returns
        the unsubscribe function.

        Name the kinds when you need a few: a peer whose only subscriber waits for ``Hi``
        then builds no event for each message heard or said (``wants``), which was a third of
        a burst of puts."""
        entry = fn if kinds is None else _Filtered(fn, kinds)
        self._subs.append(entry)
        self._retune()

        def unsubscribe() -> None:
            # may race with another thread's unsubscribe of the same fn: first one wins
            try:
                self._subs.remove(entry)
            except ValueError:
                pass
            self._retune()

        return unsubscribe

    def _retune(self) -> None:
        subs = list(self._subs)
        self._all = any(not isinstance(f, _Filtered) for f in subs)
        self._kinds = frozenset(k for f in subs if isinstance(f, _Filtered) for k in f.kinds)

    @property
    def wanted(self) -> bool:
        """Whether anyone takes every event (a history or an unfiltered subscriber). Hot paths
        (a message heard or said, a put merged) ask ``wants(kind)`` and skip building their
        events when nobody takes them: a relay run from the command line keeps no history and
        has no view."""
        return bool(self.keep or self._all)

    def wants(self, kind: type[Event]) -> bool:
        """Whether anyone takes events of ``kind``: the history, an unfiltered subscriber, or
        one subscribed to that kind (or a base class of it)."""
        if self.keep or self._all:
            return True
        return bool(self._kinds) and any(issubclass(kind, k) for k in self._kinds)

    def emit(self, event: Event) -> None:
        if self.keep:
            self.history.append(_kept(event))
        for fn in list(self._subs):
            try:
                fn(event)
            except Exception as exc:  # a view's bug must not break the mesh
                log.exception("trace subscriber %r failed", fn)
                if not self._in_error:
                    self._in_error = True
                    try:
                        self.emit(
                            Error(self.now(), event.node, error=f"subscriber failed: {exc!r}")
                        )
                    finally:
                        self._in_error = False

    def events(self, kind: type[E]) -> list[E]:
        """The kept events of one type, oldest first."""
        return [e for e in self.history if isinstance(e, kind)]

    def wait_for(
        self, predicate: Callable[[Event], object], timeout: float, *, past: bool = False
    ) -> Event:
        """Block this thread until an event matching ``predicate`` is emitted; return it.

        Why: peers run on an asyncio loop in another thread (the Lab's runtime); a notebook
        cell or a test thread wants "wait until b heard the put", bounded, not a sleep.
        ``past=True`` also accepts a matching event already in ``history`` (the oldest one).
        Raises ``errors.TimeoutError`` after ``timeout`` seconds; an exception raised by
        ``predicate`` is raised here (emit carries on). ``predicate`` runs on the emitting
        thread (and, for ``past``, on this one), so keep it a quick, pure test of the event.
        Never call this on the thread whose loop emits the events (it would block that loop
        until the timeout): await ``until`` there.
        """
        _check_timeout(timeout)
        done = threading.Event()
        lock = threading.Lock()
        box: list[Event | BaseException] = []

        def settle(item: Event | BaseException) -> None:
            with lock:
                if box:
                    return
                box.append(item)
            done.set()

        unsubscribe = self.subscribe(_listener(predicate, settle, done.is_set))
        try:
            found = self._scan_history(predicate) if past else None
            if found is not None:
                settle(found)
            if not done.wait(timeout):
                raise errors.TimeoutError(f"no matching trace event within timeout={timeout:g} s")
        finally:
            unsubscribe()
        item = box[0]
        if isinstance(item, BaseException):
            raise item
        return item

    async def until(
        self, predicate: Callable[[Event], object], timeout: float, *, past: bool = False
    ) -> Event:
        """Wait, without blocking the calling loop, for an event matching ``predicate``.

        Why: tests and async notebook code await what happened instead of sleeping. Works from
        any loop, including one in another thread than the emitter: the match resolves a future
        through ``call_soon_threadsafe``. ``past``, errors and timeout as ``wait_for``.
        """
        _check_timeout(timeout)
        loop = asyncio.get_running_loop()
        # the predicate's error travels as a result, so it is never mistaken for the timeout
        fut: asyncio.Future[Event | BaseException] = loop.create_future()
        lock = threading.Lock()
        settled = False

        def resolve(item: Event | BaseException) -> None:
            if not fut.done():
                fut.set_result(item)

        def claim() -> bool:
            nonlocal settled
            with lock:
                if settled:
                    return False
                settled = True
                return True

        def settle(item: Event | BaseException) -> None:
            if not claim():
                return
            try:
                loop.call_soon_threadsafe(resolve, item)
            except RuntimeError:  # the waiting loop is closed: nobody is waiting any more
                pass

        unsubscribe = self.subscribe(_listener(predicate, settle, lambda: settled))
        try:
            found = self._scan_history(predicate) if past else None
            if found is not None and claim():
                resolve(found)  # we are on the waiting loop: settle now (even for timeout=0)
            try:
                item = await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise errors.TimeoutError(
                    f"no matching trace event within timeout={timeout:g} s"
                ) from None
        finally:
            unsubscribe()
        if isinstance(item, BaseException):
            raise item
        return item

    def _scan_history(self, predicate: Callable[[Event], object]) -> Event | BaseException | None:
        # called after subscribing: an event emitted meanwhile is seen here or by the
        # subscriber (maybe both; the first settle wins), never by neither
        for event in list(self.history):
            try:
                if predicate(event):
                    return event
            except Exception as exc:
                return exc
        return None


def _listener(
    predicate: Callable[[Event], object],
    settle: Callable[[Event | BaseException], None],
    finished: Callable[[], bool],
) -> Subscriber:
    """The subscriber a waiter puts on the bus: the first event ``predicate`` accepts (or the
    error it raises) settles the wait; after that it does nothing."""

    def listen(event: Event) -> None:
        if finished():
            return
        try:
            hit = predicate(event)
        except Exception as exc:
            settle(exc)
            return
        if hit:
            settle(event)

    return listen


def _check_timeout(timeout: float) -> None:
    if not timeout >= 0:  # also refuses NaN
        raise ValueError(f"timeout={timeout!r}, expected a number of seconds >= 0")


def event_to_dict(event: Event) -> dict[str, Any]:
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    data["kind"] = event.kind
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)
    kind = data.pop("kind", None)
    cls = EVENT_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown trace event kind {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    fields = {k: v for k, v in data.items() if k in names}
    if cls is Dropped:
        # a trace written before causes were typed has none: say so rather than guess from text
        fields["cause"] = DropCause(fields.get("cause") or DropCause.UNKNOWN)
    elif cls is Released:
        fields["action"] = ReleaseAction(fields.get("action") or ReleaseAction.DELIVERED)
    return cls(**fields)


def to_jsonl(events: Iterable[Event]) -> str:
    """One JSON object per line; ``from_jsonl`` reads it back into the same events."""
    return "".join(
        json.dumps(event_to_dict(e), ensure_ascii=False, default=repr) + "\n" for e in events
    )


def from_jsonl(text: str, skipped: dict[str, int] | None = None) -> Iterator[Event]:
    """The events of ``to_jsonl`` text (or of a trace file's text); ``meta`` lines are skipped
    (use ``load`` to read them). A bad line raises ``ValueError`` naming its number.

    Why lenient about what is new: a line whose ``kind`` this reader does not know (a newer
    writer's event type) is skipped and counted in ``skipped`` (``{kind: lines}``) when
    given; fields an event type does not have are ignored. ``load`` stays strict."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                data = json.loads(line)
                kind = data.get("kind") if isinstance(data, dict) else None
                if kind == META_KIND:
                    continue
                if isinstance(kind, str) and kind not in EVENT_TYPES:
                    if skipped is not None:
                        skipped[kind] = skipped.get(kind, 0) + 1
                    continue
                yield event_from_dict(data)
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"trace line {n}: {exc}") from exc


# ---------------------------------------------------------------------------------- trace files

META_KIND = "meta"
TRACE_FORMAT = "gunrtc-trace"
TRACE_VERSION = 2  # 2: Dropped carries a typed cause (1: read with cause 'unknown')
COMPRESS_OVER = 1 << 20  # bytes of text above which save() gzips when not told
MAX_LINE = 100 * 1000 * 1000  # bytes: a longer line is refused, not read into memory
_GZIP_MAGIC = b"\x1f\x8b"
_RESERVED_META = frozenset({"kind", "format", "version"})


@dataclass(slots=True)
class TraceFile:
    """What ``load`` read: ``meta`` (what ``save`` was given, e.g. ``{"names": {pid: name}}``;
    empty for an older trace without a meta line), ``events`` in file order, and ``version``
    (the format version, 0 when there was no meta line).

    Why a record and not just a list: a replay needs the context the events do not carry
    (which pid is "alice") to draw the same picture as the live session.
    """

    meta: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    version: int = 0


def save(
    path: str | os.PathLike[str],
    events: Iterable[Event],
    meta: dict[str, Any] | None = None,
    compress: bool | None = None,
) -> Path:
    """Write ``events`` to a trace file that ``load`` reads back; return the path written.

    Why: a recorded session can be kept, shared and replayed into the views. The first line
    is ``{"kind": "meta", "format": "gunrtc-trace", "version": 1, **meta}``, then one event
    per line (``to_jsonl``). The file is gzipped when ``path`` ends with ``.gz``, when
    ``compress`` is True, or when ``compress`` is None and the text is over 1 MiB; ``.gz`` is
    then appended to a name that lacks it (so the returned path may differ from ``path``).
    ``compress=False`` never compresses, and refuses a ``.gz`` name. The file is replaced
    atomically (written aside, then renamed).
    """
    meta = dict(meta or {})
    clash = sorted(_RESERVED_META & meta.keys())
    if clash:
        raise ValueError(f"meta keys {clash} are reserved for the trace file header")
    target = Path(path)
    suffixed = target.name.endswith(".gz")
    if compress is False and suffixed:
        raise ValueError(f"compress=False but {str(target)!r} ends with .gz")
    head = {"kind": META_KIND, "format": TRACE_FORMAT, "version": TRACE_VERSION, **meta}
    text = json.dumps(head, ensure_ascii=False, default=repr) + "\n" + to_jsonl(events)
    data = text.encode("utf-8")
    if compress is None:
        compress = suffixed or len(data) > COMPRESS_OVER
    if compress:
        if not suffixed:
            target = target.with_name(target.name + ".gz")
        data = gzip.compress(data, mtime=0)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load(path: str | os.PathLike[str]) -> TraceFile:
    """Read a trace file written by ``save`` (gzipped or not, told by its magic bytes), or an
    older JSONL trace without a meta line.

    Why strict: a replay that silently skipped a line would show a session that never
    happened. Any bad line (not JSON, not an event, an unknown kind, a meta line after the
    first, a line over 100 MB) raises ``errors.InvalidDataError`` naming the line number; a
    newer format version is refused. Blank lines are ignored.
    """
    target = Path(path)
    with open(target, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        try:
            return _read_trace(stream, str(target))
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            if not gzipped:
                raise
            raise errors.InvalidDataError(f"{str(target)!r}: bad gzip data: {exc}") from exc
        finally:
            if stream is not raw:
                stream.close()


def _read_trace(reader: io.BufferedIOBase, name: str) -> TraceFile:
    out = TraceFile()
    n = 0
    seen_data = False
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            break
        n += 1
        if len(line) > MAX_LINE:
            raise errors.InvalidDataError(
                f"{name!r} line {n}: longer than {MAX_LINE} bytes; refused"
            )
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise errors.InvalidDataError(f"{name!r} line {n}: not UTF-8: {exc}") from None
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise errors.InvalidDataError(f"{name!r} line {n}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise errors.InvalidDataError(
                f"{name!r} line {n}: expected a JSON object, got {type(data).__name__}"
            )
        if data.get("kind") == META_KIND:
            if seen_data:
                raise errors.InvalidDataError(
                    f"{name!r} line {n}: a meta line may only be the first line"
                )
            out.meta, out.version = _read_meta(data, name, n)
            seen_data = True
            continue
        seen_data = True
        try:
            out.events.append(event_from_dict(data))
        except (ValueError, TypeError) as exc:
            raise errors.InvalidDataError(f"{name!r} line {n}: {exc}") from None
    return out


def _read_meta(data: dict[str, Any], name: str, n: int) -> tuple[dict[str, Any], int]:
    fmt = data.get("format")
    version = data.get("version")
    if fmt != TRACE_FORMAT:
        raise errors.InvalidDataError(
            f"{name!r} line {n}: format {fmt!r}, expected {TRACE_FORMAT!r}"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise errors.InvalidDataError(f"{name!r} line {n}: bad format version {version!r}")
    if version > TRACE_VERSION:
        raise errors.InvalidDataError(
            f"{name!r} line {n}: format version {version} is newer than this reader "
            f"({TRACE_VERSION}); upgrade gunrtc_kit"
        )
    return {k: v for k, v in data.items() if k not in _RESERVED_META}, version
