"""What every view shares: an anywidget whose ES module ships in ``static/``, fed by a hub.

A view is a widget: display it (``view`` as the last line of a cell) as many times as you
like, each display is a front end of the same model. A front end that renders sends
``hello`` and gets a full ``reset``; after that the hub's ticks send only changes (see
docs/views.md). Errors while ticking or answering the browser are shown in the view (the
``error`` trait), logged, and never stop the hub.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from gunrtc_kit.lab.views.hub import Changes, ViewHub

__all__ = ["STATIC", "View", "module", "text_safe"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

_IMPORT_COMMON = re.compile(r'^import \{[^}]*\} from "\./common\.js";\n', re.M)
_EXPORT_DECL = re.compile(r"^export ((?:async )?function|const|let|class) ", re.M)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def text_safe(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (dict keys too) written as the visible
    escape ``\\ud800``; the same object when it has none.

    Why: Gun's JSON allows ``"\\ud800"``, which decodes to a str that UTF-8 cannot encode, and
    the kernel sends widget messages as UTF-8: one such key would fail the whole message (the
    view shows an error, or waits forever for an answer). Every string a view sends passes
    here, at that one boundary; the escape shows the user what was really there.
    """
    if isinstance(value, str):
        return _SURROGATE.sub(_escape, value) if _SURROGATE.search(value) else value
    try:  # one pass in C finds the (rare) messages that need the walk
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return _walk(value)
    return _walk(value) if _SURROGATE.search(text) else value


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub(_escape, value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        items = [(_walk(k), _walk(v)) for k, v in value.items()]
        if all(k2 is k and v2 is v for (k2, v2), (k, v) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, list | tuple):
        out = [_walk(x) for x in value]
        if all(a is b for a, b in zip(out, value, strict=True)):
            return value
        return out if isinstance(value, list) else tuple(out)
    return value


def module(name: str) -> str:
    """The ES module ``static/<name>`` as anywidget takes it: one text, with the shared
    ``common.js`` inlined where it is imported (a module handed over as text has no URL to
    resolve a sibling import against). Read once, when the view class is defined."""
    text = (STATIC / name).read_text(encoding="utf-8")
    common = _EXPORT_DECL.sub(r"\1 ", (STATIC / "common.js").read_text(encoding="utf-8"))
    if re.search(r"^\s*export\b", common, re.M):
        raise RuntimeError("static/common.js may only export declarations (export const/function)")
    bundled, n = _IMPORT_COMMON.subn(lambda _m: common + "\n", text)
    if n != 1:
        raise RuntimeError(f"static/{name} must import from ./common.js exactly once")
    return bundled


class View(anywidget.AnyWidget):
    """Base of the views: holds the hub, answers the front end, counts what it sent."""

    _css = STATIC / "views.css"
    height = traitlets.Int(420).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    # what the hub dropped when its queue was full (``ViewHub.notice``), shown as a banner
    notice = traitlets.Unicode("").tag(sync=True)

    kind = "view"

    @staticmethod
    def _trait_to_json(x: Any, self: Any) -> Any:  # ipywidgets' hook for every synced trait
        return text_safe(x)

    def __init__(self, hub: ViewHub, **kw: Any) -> None:
        super().__init__(**kw)
        self.hub = hub
        self.sent = 0  # custom messages sent to the front ends
        # whether a front end says it is on screen (views that cost traffic while hidden,
        # like the dashboard's peer tabs, skip their ticks when not)
        self.visible = True
        self._send_lock = threading.Lock()
        self.on_msg(self._on_front_message)
        hub.add(self)

    # ------------------------------------------------------------------ to the browser
    def post(self, msg: dict[str, Any]) -> None:
        """Send one custom message to every front end of this view (strings made safe for
        UTF-8 first, see ``text_safe``)."""
        msg = text_safe(msg)
        with self._send_lock:
            self.send(msg)
            self.sent += 1

    # ------------------------------------------------------------------ from the browser
    def _on_front_message(self, _w: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        try:
            with self.hub.lock:
                kind = content.get("type")
                if kind == "hello":
                    self.reset()
                elif kind == "visible":
                    on = bool(content.get("on"))
                    if on and not self.visible:
                        self.visible = True
                        self.reset()
                    self.visible = on
                else:
                    self.handle(content)
            if self.error:
                self.error = ""
        except Exception as exc:  # shown in the view, never lost
            log.exception("%s failed to answer %r", type(self).__name__, content.get("type"))
            self.error = f"{type(self).__name__}: {exc!r}"

    def handle(self, content: dict[str, Any]) -> None:
        """A message from the front end other than ``hello`` (subclasses answer theirs)."""

    # ------------------------------------------------------------------ from the hub
    def tick(self, changes: Changes) -> None:
        """Send what changed (at most one message); called by the hub under its lock."""
        raise NotImplementedError

    def reset(self) -> None:
        """Send everything (a new front end, or the models were rebuilt)."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Apply what the hub has queued and send it now (tests, headless runs)."""
        self.hub.refresh()

    @staticmethod
    def _now() -> float:
        return time.monotonic()
