"""The trace bus: one stream of typed events that every layer emits and every view reads.

Why one bus: the notebook views, the tests and the JSONL recorder all want the same facts (a
message heard, a link opened, an SDP passed) without each layer knowing who listens. Events are
frozen, slotted dataclasses; the clock is passed in so the sans-I/O layers never read one.

``node`` is the pid of the peer that emitted the event, ``peer`` the id of the remote side (a
mesh peer id, a relay URL, or a remote pid), ``transport`` one of ``"ws"``, ``"dc"``,
``"memory"`` or ``""``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

log = logging.getLogger(__name__)

Message = dict[str, Any]

__all__ = [
    "Ack",
    "Bye",
    "Dropped",
    "Error",
    "Event",
    "Heard",
    "Hi",
    "Put",
    "RtcSignal",
    "RtcState",
    "Said",
    "TraceBus",
    "from_jsonl",
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
    """A DAM message was written to one peer's wire (``batched``: inside an array frame)."""

    msg: Message = field(default_factory=dict)
    transport: str = ""
    size: int = 0
    batched: bool = False
    kind: ClassVar[str] = "said"


@dataclass(frozen=True, slots=True)
class Dropped(Event):
    """A message was not handled or not sent, and why (dedup, lost route, '><', queue full)."""

    msg_id: str = ""
    reason: str = ""
    kind: ClassVar[str] = "dropped"


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
    """The local graph accepted (or deferred) keys of a put: ``changes`` is {soul: [keys]}."""

    msg_id: str = ""
    changes: dict[str, list[str]] = field(default_factory=dict)
    deferred: int = 0
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
    """A WebRTC link changed state (aiortc's connectionState strings, plus ``open``/``closed``
    for the data channel)."""

    state: str = ""
    kind: ClassVar[str] = "rtc_state"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Heard, Said, Dropped, Hi, Bye, Error, Put, Ack, RtcSignal, RtcState)
}

E = TypeVar("E", bound=Event)
Subscriber = Callable[[Event], None]


class TraceBus:
    """Fan-out of events to subscribers, with a bounded in-memory history.

    A subscriber that raises does not stop the others: its error is logged and turned into a
    ``trace.Error`` event (never silently lost). ``history`` keeps the last ``keep`` events so a
    view opened late can draw what already happened.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, keep: int = 10_000) -> None:
        if keep < 0:
            raise ValueError(f"keep={keep!r}, expected an int >= 0")
        self.clock = clock
        self.keep = keep
        self.history: list[Event] = []
        self._subs: list[Subscriber] = []
        self._in_error = False

    def now(self) -> float:
        return self.clock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(event)`` for every later event; returns the unsubscribe function."""
        self._subs.append(fn)

        def unsubscribe() -> None:
            if fn in self._subs:
                self._subs.remove(fn)

        return unsubscribe

    def emit(self, event: Event) -> None:
        if self.keep:
            self.history.append(event)
            if len(self.history) > self.keep:
                del self.history[: len(self.history) - self.keep]
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
    return cls(**{k: v for k, v in data.items() if k in names})


def to_jsonl(events: Iterable[Event]) -> str:
    """One JSON object per line; ``from_jsonl`` reads it back into the same events."""
    return "".join(
        json.dumps(event_to_dict(e), ensure_ascii=False, default=repr) + "\n" for e in events
    )


def from_jsonl(text: str) -> Iterator[Event]:
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield event_from_dict(json.loads(line))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"trace line {n}: {exc}") from exc
