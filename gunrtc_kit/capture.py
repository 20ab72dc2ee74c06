"""Read a *frame capture* (every WebSocket frame a relay heard and said, recorded elsewhere) as
trace events, so the readers of our own traces (fate, explain, the replay views) work on it.

Why: a relay we do not run in Python (npm Gun.js, ``interop/gunjs_relay.js --capture FILE``)
emits no trace, but the frames on its sockets say most of what a trace says. The format is one
JSON object a line (``docs/trace.md``, "Frame capture"); an optional head line
``{"format": "gun-frame-capture", "version": 1, "relay": <pid>, ...}`` comes first, then::

    {"t": 1796631994427, "dir": "in", "conn": "1", "addr": "127.0.0.1:41148", "frame": "{...}"}

``t`` is milliseconds (or seconds: a value below 1e11 is read as seconds) since the epoch,
``dir`` one of ``open``, ``in`` (the relay heard the frame), ``out`` (the relay said it),
``close`` and ``limit`` (the recorder stopped at its size limit), ``conn`` the relay's id for
the connection, ``addr`` the remote address, ``frame`` the frame's text (in/out only).

What becomes of it, all emitted by the relay (``node``: its pid, from the head line or its
``?`` hello; ``"relay"`` when neither says), ``peer`` being the connection id: ``open`` a
``Hi``, ``close`` a ``Bye``; each message of a frame (a batch ``[...]`` is split) a ``Heard``
(``in``) or a ``Said`` (``out``, ``batched`` inside an array); a client's ``?`` with a ``pid``
a ``Hi`` naming it (so the ``Directory`` resolves the connection to the client's pid); a put
heard a ``Put`` of the values and states it carried. Inferred, and documented as such: a
message id heard again (or heard after the relay said it) is a ``Dropped`` duplicate, as
Gun's dedup would treat it; a ``Put`` says what the put carried, not that the relay's HAM took
it (the capture cannot see its graph); a reply to a message the relay itself said first is an
``Ack``.

Bounded and forgiving: a line that is not a capture record (not JSON, a missing field, longer
than ``max_line``) or a frame that is not Gun JSON is counted and described in
``meta["capture"]`` (a frame also as a ``trace.Error``), never fatal; reading stops after
``max_bytes`` of text (``truncated``). Pure: no clock, no I/O beyond reading the file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gunrtc_kit import errors, trace
from gunrtc_kit.core import codec

__all__ = [
    "CAPTURE_FORMAT",
    "CAPTURE_VERSION",
    "is_capture",
    "load_any",
    "read_capture",
]

CAPTURE_FORMAT = "gun-frame-capture"
CAPTURE_VERSION = 1
MAX_BYTES = 256 * 1024 * 1024  # text read from one capture; the rest is left (truncated)
MAX_LINE = 16 * 1024 * 1024  # a longer line is skipped and counted, not parsed
MAX_PROBLEMS = 20  # problems described in meta (all are counted)
MAX_IDS = 1_000_000  # message ids remembered for dedup (oldest forgotten first)
RELAY_NAME = "relay"
_DIRS = frozenset({"open", "in", "out", "close", "limit"})
_GZIP_MAGIC = b"\x1f\x8b"
_MS_FROM = 1e11  # a ``t`` at or above this is milliseconds (1e11 s is the year 5138)


def read_capture(
    source: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_BYTES,
    max_line: int = MAX_LINE,
) -> tuple[list[trace.Event], dict[str, Any]]:
    """The trace events of a frame capture, and the metadata a replay needs (names, roles).

    ``source`` is a path (gzipped or not), or the capture's text itself (a ``str`` holding a
    newline or starting with ``{``). ``meta`` is ``{"names", "roles", "aliases", "agents"}``
    as ``Directory.meta`` gives them (the relay named ``"relay"``, clients role
    ``"external"``) plus ``"capture"``: counts (lines, frames, messages, heartbeats, malformed
    lines and frames), ``truncated`` and the first problems in words. ``trace.save(path,
    events, meta)`` turns it into a trace file.
    """
    if max_bytes < 1 or max_line < 1:
        raise ValueError(f"max_bytes={max_bytes!r}, max_line={max_line!r}: expected ints >= 1")
    reader = _Reader(max_bytes, max_line)
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        reader.read(io.BytesIO(source.encode("utf-8")))
    else:
        with _open(Path(source)) as stream:
            reader.read(stream)
    return reader.finish()


def is_capture(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a frame capture, told by its first non-blank line: a
    capture head line, or a record with ``dir`` (a trace's lines have ``kind`` instead)."""
    with _open(Path(path)) as stream:
        for _ in range(100):
            line = stream.readline(MAX_LINE + 1)
            if not line:
                return False
            if line.strip():
                return _looks_like_capture(line)
    return False


def load_any(path: str | os.PathLike[str]) -> trace.TraceFile:
    """A trace file (``trace.load``) or a frame capture (``read_capture``), told apart by the
    first line: so ``Lab.load_trace``/``Lab.open_trace`` read both."""
    if not is_capture(path):
        return trace.load(path)
    events, meta = read_capture(path)
    return trace.TraceFile(meta=meta, events=events)


def _looks_like_capture(line: bytes) -> bool:
    try:
        data = json.loads(line)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    return data.get("format") == CAPTURE_FORMAT or ("dir" in data and "kind" not in data)


@contextlib.contextmanager
def _open(path: Path) -> Iterator[io.BufferedIOBase]:
    """The file's bytes, gunzipped when it starts with gzip's magic; both files closed after."""
    with open(path, "rb") as raw:
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            yield raw
            return
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
            yield unpacked


class _Reader:
    """The state of one capture being read: one method per kind of line."""

    def __init__(self, max_bytes: int, max_line: int) -> None:
        self.max_bytes, self.max_line = max_bytes, max_line
        self.events: list[trace.Event] = []
        self.relay = ""
        self.head: dict[str, Any] = {}
        self.stats = dict.fromkeys(
            ("lines", "frames", "messages", "heartbeats", "bad_lines", "bad_frames"), 0
        )
        self.problems: list[str] = []
        self.truncated = ""
        self.conns: dict[str, str] = {}  # conn -> the pid its '?' said ("" until then)
        self.addrs: dict[str, str] = {}
        self.clients: list[str] = []  # every pid a client's '?' gave, first seen first
        self.open: dict[str, str] = {}  # conn -> its pid while it is open ("" until told)
        self.seen: dict[str, bool] = {}  # message id -> the relay said it first (its own)

    # ------------------------------------------------------------------ lines
    def read(self, stream: io.BufferedIOBase) -> None:
        records = list(self._records(stream))
        self.relay = self._relay_pid(records)
        for n, rec in records:
            self._apply(n, rec)

    def _records(self, stream: io.BufferedIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
        total, n = 0, 0
        while True:
            try:
                line = stream.readline(self.max_line + 1)
            except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
                self.truncated = f"stopped reading at line {n + 1}: bad gzip data: {exc}"
                return
            if not line:
                return
            n += 1
            total += len(line)
            if total > self.max_bytes:
                self.truncated = f"stopped reading at line {n}: over {self.max_bytes} bytes"
                return
            if len(line) > self.max_line and not line.endswith(b"\n"):
                total += self._skip_rest(stream)
                self._bad_line(n, f"longer than {self.max_line} bytes; skipped")
                continue
            rec = self._record(n, line)
            if rec is not None:
                yield n, rec

    def _skip_rest(self, stream: io.BufferedIOBase) -> int:
        skipped = 0
        while True:
            chunk = stream.readline(self.max_line)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped

    def _record(self, n: int, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        self.stats["lines"] += 1
        try:
            data = json.loads(line)
        except ValueError as exc:
            self._bad_line(n, f"not JSON ({exc})")
            return None
        if not isinstance(data, dict):
            self._bad_line(n, f"a JSON {type(data).__name__}, not an object")
            return None
        if data.get("format") == CAPTURE_FORMAT and "dir" not in data:
            if self.head or self.stats["lines"] > 1:
                self._bad_line(n, "a head line after the first line")
            else:
                self.head = data
            return None
        why = _invalid(data)
        if why:
            self._bad_line(n, why)
            return None
        return data

    def _relay_pid(self, records: list[tuple[int, dict[str, Any]]]) -> str:
        """The relay's pid: the head line's, else its first ``?`` hello said, else "relay"."""
        pid = self.head.get("relay")
        if isinstance(pid, str) and pid:
            return pid
        for _, rec in records:
            if rec["dir"] == "out":
                for msg in _messages_quiet(rec["frame"]):
                    if msg.get("dam") == "?" and isinstance(msg.get("pid"), str) and msg["pid"]:
                        return str(msg["pid"])
        return RELAY_NAME

    def _apply(self, n: int, rec: dict[str, Any]) -> None:
        t = _seconds(rec["t"])
        conn, direction = str(rec.get("conn", "")), rec["dir"]
        if direction == "limit":
            self.truncated = f"the recorder stopped at its size limit (line {n})"
            return
        if isinstance(rec.get("addr"), str):
            self.addrs.setdefault(conn, rec["addr"])
        if direction == "close":
            if conn in self.open:
                del self.open[conn]
                self._emit(trace.Bye(t, self.relay, conn, transport="ws"))
            return
        self._opened(t, conn)
        if direction in ("in", "out"):
            self._frame(n, t, conn, direction, rec["frame"])

    def _opened(self, t: float, conn: str) -> None:
        if conn not in self.open:
            self.open[conn] = ""
            self.conns.setdefault(conn, "")
            self._emit(trace.Hi(t, self.relay, conn, transport="ws"))

    # ------------------------------------------------------------------ frames
    def _frame(self, n: int, t: float, conn: str, direction: str, frame: str) -> None:
        self.stats["frames"] += 1
        try:
            msgs, bad = codec.parse(frame)
        except errors.GunError as exc:
            self._bad_frame(n, t, conn, direction, str(exc))
            return
        for problem in bad:
            self._bad_frame(n, t, conn, direction, str(problem))
        if not msgs and not bad:
            self.stats["heartbeats"] += 1  # Gun.js sends "[]" every 20 s
        batched = frame.lstrip(" \t\n\r").startswith("[")
        for msg in msgs:
            self.stats["messages"] += 1
            size = len(frame) if not batched else len(codec.dumps(msg))
            if direction == "in":
                self._heard(t, conn, msg, size)
            else:
                self._said(t, conn, msg, size, batched)

    def _heard(self, t: float, conn: str, msg: dict[str, Any], size: int) -> None:
        mid = msg.get("#")
        mid = mid if isinstance(mid, str) else ""
        if mid and mid in self.seen:
            why = "a message id the relay already saw (inferred from the capture: Gun's dedup)"
            self._emit(
                trace.Dropped(
                    t,
                    self.relay,
                    conn,
                    msg_id=mid,
                    reason=why,
                    cause=trace.DropCause.DUPLICATE,
                    transport="ws",
                )
            )
            return
        self._remember(mid, own=False)
        self._emit(trace.Heard(t, self.relay, conn, msg=msg, transport="ws", size=size))
        pid = msg.get("pid")
        if msg.get("dam") == "?" and isinstance(pid, str) and pid and not self.open.get(conn):
            self.conns[conn] = self.open[conn] = pid
            if len(self.clients) < MAX_IDS:
                self.clients.append(pid)
            self._emit(trace.Hi(t, self.relay, conn, pid=pid, transport="ws"))
        if isinstance(msg.get("put"), dict) and "dam" not in msg:
            self._put(t, mid, msg["put"])
        reply_to = msg.get("@")
        if isinstance(reply_to, str) and self.seen.get(reply_to) and "dam" not in msg:
            ok, err = msg.get("ok"), msg.get("err")
            self._emit(
                trace.Ack(
                    t, self.relay, conn, msg_id=mid, reply_to=reply_to, ok=ok, err=str(err or "")
                )
            )

    def _said(self, t: float, conn: str, msg: dict[str, Any], size: int, batched: bool) -> None:
        mid = msg.get("#")
        if isinstance(mid, str) and mid and mid not in self.seen:
            self._remember(mid, own=True)
        self._emit(
            trace.Said(t, self.relay, conn, msg=msg, transport="ws", size=size, batched=batched)
        )

    def _put(self, t: float, mid: str, put: dict[str, Any]) -> None:
        values: dict[str, dict[str, Any]] = {}
        states: dict[str, dict[str, float]] = {}
        for soul, node in put.items():
            if not isinstance(node, dict):
                continue
            values[soul] = {k: v for k, v in node.items() if k != "_"}
            meta = node.get("_")
            stamps = meta.get(">") if isinstance(meta, dict) else None
            if isinstance(stamps, dict):
                states[soul] = {
                    k: float(s)
                    for k, s in stamps.items()
                    if k in values[soul] and isinstance(s, int | float) and not isinstance(s, bool)
                }
        if values:
            changes = {s: list(v) for s, v in values.items()}
            self._emit(
                trace.Put(t, self.relay, msg_id=mid, changes=changes, values=values, states=states)
            )

    # ------------------------------------------------------------------ bookkeeping
    def _remember(self, mid: str, own: bool) -> None:
        if not mid:
            return
        if len(self.seen) >= MAX_IDS:
            del self.seen[next(iter(self.seen))]
        self.seen[mid] = own

    def _emit(self, event: trace.Event) -> None:
        self.events.append(event)

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def _bad_line(self, n: int, why: str) -> None:
        self.stats["bad_lines"] += 1
        self._problem(f"line {n}: {why}")

    def _bad_frame(self, n: int, t: float, conn: str, direction: str, why: str) -> None:
        self.stats["bad_frames"] += 1
        text = f"line {n}: a frame {direction} on conn {conn!r} is not Gun JSON: {why}"
        self._problem(text)
        self._emit(trace.Error(t, self.relay, conn, error=f"capture: {text}"))

    def finish(self) -> tuple[list[trace.Event], dict[str, Any]]:
        names = {self.relay: RELAY_NAME}
        roles = {self.relay: "relay"}
        for pid in self.clients:
            if pid != self.relay:
                roles.setdefault(pid, "external")
        info: dict[str, Any] = {
            "format": CAPTURE_FORMAT,
            "version": self.head.get("version", CAPTURE_VERSION),
            "relay": self.relay,
            **self.stats,
            "truncated": self.truncated,
            "problems": self.problems,
            "conns": {c: {"pid": p, "addr": self.addrs.get(c, "")} for c, p in self.conns.items()},
        }
        meta = {"names": names, "roles": roles, "aliases": {}, "agents": {}, "capture": info}
        return self.events, meta


def _invalid(data: dict[str, Any]) -> str:
    """Why ``data`` is not a capture record, or ``""``."""
    t, direction = data.get("t"), data.get("dir")
    if isinstance(t, bool) or not isinstance(t, int | float) or not t >= 0:
        return f"'t' must be a time since the epoch, got {t!r}"
    if direction not in _DIRS:
        return f"'dir' must be one of {sorted(_DIRS)}, got {direction!r}"
    if direction != "limit" and not isinstance(data.get("conn"), str | int):
        return f"'conn' must name the connection, got {data.get('conn')!r}"
    if direction in ("in", "out") and not isinstance(data.get("frame"), str):
        return f"'frame' must be the frame's text, got {type(data.get('frame')).__name__}"
    return ""


def _seconds(t: float) -> float:
    return t / 1000.0 if t >= _MS_FROM else float(t)


def _messages_quiet(frame: str) -> list[dict[str, Any]]:
    try:
        return codec.parse(frame)[0]
    except errors.GunError:
        return []
