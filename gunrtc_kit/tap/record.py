"""A trace file written as events happen, bounded in bytes: what ``gunrtc-kit tap --trace`` keeps.

Why not ``trace.save`` at the end: a tap runs for hours and may be stopped any way; events are
written as they come (a meta line first, then one JSON line per event, the format ``trace.load``
reads), so what happened is on disk even if the process dies.

Bounded, and it stops rather than rolls over: past ``limit`` bytes the recording ends with one
last ``Error`` line saying so (room for it is kept, so the file never passes ``limit``), the same
``Error`` goes on the bus for live readers, and a warning is logged. Stopping keeps the start of
the session, which a reader of "why did my put not arrive" needs (the ``?`` exchange names the
peers); a rolled-over file would begin mid-session with wires and pids it never saw open. The
tap itself carries on forwarding: recording never changes what passes.

A message or a put bigger than ``MSG_BYTES`` is written as a summary (its ids, souls and keys,
strings cut, ``"~"``: its size in bytes), as the bus's history keeps it: one 100 MB put must
not end a recording by itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from gunrtc_kit import trace

__all__ = ["LIMIT", "MSG_BYTES", "Recorder"]

log = logging.getLogger(__name__)

LIMIT = 256 * 1024 * 1024  # bytes a recording may take by default
MSG_BYTES = 64 * 1024  # a message (frame bytes) or put bigger than this is written as a summary
RESERVE = 4096  # bytes kept for the line that says the recording stopped


def _slim(event: trace.Event) -> trace.Event:
    """``event`` as written: itself, or with a big message or put summarized."""
    if isinstance(event, trace.Said | trace.Heard) and event.size > MSG_BYTES:
        msg = trace.summarize(event.msg)
        msg["~"] = event.size
        return dataclasses.replace(event, msg=msg)
    if isinstance(event, trace.Said | trace.Heard) and not event.size:
        text = json.dumps(event.msg, default=repr)
        if len(text) > MSG_BYTES:
            msg = trace.summarize(event.msg)
            msg["~"] = len(text.encode())
            return dataclasses.replace(event, msg=msg)
    if isinstance(event, trace.Put) and len(json.dumps(event.values, default=repr)) > MSG_BYTES:
        return dataclasses.replace(event, values=trace.summarize(event.values))
    return event


class Recorder:
    """Writes every event of ``bus`` to ``path`` as it is emitted, up to ``limit`` bytes.

    ``meta`` goes in the first line (e.g. ``{"tap": ..., "target": ...}``). ``start`` subscribes,
    ``close`` unsubscribes and flushes (call it once the tap has stopped). ``written`` counts the
    bytes on disk; ``stopped`` says why recording ended early ("" while it goes on).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        bus: trace.TraceBus,
        *,
        limit: int = LIMIT,
        meta: dict[str, object] | None = None,
        node: str = "",
    ) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= RESERVE:
            raise ValueError(f"limit={limit!r}, expected a number of bytes > {RESERVE}")
        self.path = Path(path)
        self.bus = bus
        self.limit = limit
        self.meta = dict(meta or {})
        self.node = node
        self.written = 0
        self.stopped = ""
        self._file: IO[bytes] | None = None
        self._unsub: Callable[[], None] | None = None

    def start(self) -> Recorder:
        """Open the file (replacing it), write the meta line, and record from now on."""
        self._file = open(self.path, "wb")  # noqa: SIM115 (kept open while recording)
        head = {
            "kind": trace.META_KIND,
            "format": trace.TRACE_FORMAT,
            "version": trace.TRACE_VERSION,
            **self.meta,
        }
        self._write((json.dumps(head, ensure_ascii=False, default=repr) + "\n").encode())
        self._unsub = self.bus.subscribe(self._record)
        return self

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self.written += len(data)

    def _record(self, event: trace.Event) -> None:
        if self._file is None or self.stopped:
            return
        line = trace.to_jsonl([_slim(event)]).encode("utf-8")
        if self.written + len(line) <= self.limit - RESERVE:
            self._write(line)
            return
        self.stopped = (
            f"recording stopped: {str(self.path)[-1000:]} reached its limit of {self.limit} bytes "
            f"({self.written} written); the tap goes on forwarding, unrecorded"
        )
        end = trace.Error(self.bus.now(), self.node, error=self.stopped)
        self._write(trace.to_jsonl([end]).encode("utf-8"))  # about 1 KiB: fits RESERVE
        self._file.flush()
        log.warning("%s", self.stopped)
        self.bus.emit(end)  # for live readers; this recorder writes nothing more

    def flush(self) -> None:
        """Push what is written so far to the file."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Stop recording and close the file (safe to call twice)."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        if self._file is not None:
            self._file.close()
            self._file = None
