"""What the views keep of an event: big values as previews, and an estimate of its bytes.

Why: the views show a value, they never need all of it; but a trace event holds the message
as it went over the wire, so a peer writing 10 MB values would have the views' queue and
models keep every 10 MB string again (and, while views are paused, as many as their queue
holds). ``slim`` gives the hub a copy of an event in which every string longer than
``PREVIEW_CHARS`` is its first ``PREVIEW_CHARS`` characters and its length; the whole value
stays where it already was (the bus's own history, the graph), once. Containers are copied only
on the way to a string that was cut, so a small event is the same object, at the cost of one
walk (none for a message said or heard whose frame is shorter than a preview). The size is
an estimate (CPython's sizes, roughly) of what the hub keeps, for its byte bound.

WebRTC signalling (``RtcSignal``, ``RtcState``) is kept whole: an SDP is read by the
signalling model and shown entire, and the WebRTC layer already bounds its size.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gunrtc_kit import trace

__all__ = ["PREVIEW_CHARS", "preview_text", "slim"]

PREVIEW_CHARS = 512
MAX_DEPTH = 64  # deeper structure is summarised (a wire message is parsed with a depth limit)
EVENT_BYTES = 200  # an event object and its small fields
_WHOLE = frozenset({trace.RtcSignal, trace.RtcState})
_FIELDS: dict[type, tuple[str, ...]] = {}


def preview_text(text: str, limit: int = PREVIEW_CHARS) -> str:
    """``text`` if short, else its first ``limit`` characters and its length, so a view says
    how much there was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text):,} chars in all; the views keep this preview]"


def _walk(value: Any, limit: int, depth: int) -> tuple[Any, int]:
    """``value`` with long strings cut (the same object when nothing was), and its size."""
    if isinstance(value, str):
        if len(value) > limit:
            cut = preview_text(value, limit)
            return cut, 49 + len(cut)
        return value, 49 + len(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return "{…}", 56
        size = 64
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            nv, n = _walk(v, limit, depth + 1)
            size += n + 40 + (len(k) if isinstance(k, str) else 0)
            if nv is not v:
                if out is None:
                    out = dict(value)
                out[k] = nv
        return (value if out is None else out), size
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            return "[…]", 56
        size = 56
        items: list[Any] | None = None
        for i, v in enumerate(value):
            nv, n = _walk(v, limit, depth + 1)
            size += n + 8
            if nv is not v:
                if items is None:
                    items = list(value)
                items[i] = nv
        if items is None:
            return value, size
        return (tuple(items) if isinstance(value, tuple) else items), size
    return value, 32


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = (
            tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
        )
    return names


def slim(e: trace.Event, limit: int = PREVIEW_CHARS) -> tuple[trace.Event, int]:
    """The event as the views keep it (``e`` itself when nothing in it is long) and an
    estimate of the bytes that costs."""
    cls = type(e)
    frame = getattr(e, "size", 0)
    if type(frame) is int and 0 < frame <= limit:
        # a message said or heard in a frame of ``frame`` characters holds no longer string
        # (most events: no walk; a parsed message costs a few times its text)
        return e, EVENT_BYTES + 4 * frame
    size = EVENT_BYTES
    changed: dict[str, Any] = {}
    whole = cls in _WHOLE
    for name in _fields(cls):
        v = getattr(e, name)
        if not isinstance(v, str | dict | list | tuple):
            continue
        nv, n = _walk(v, 1 << 62 if whole else limit, 0)
        size += n
        if nv is not v:
            changed[name] = nv
    if changed:
        e = dataclasses.replace(e, **changed)
    return e, size
