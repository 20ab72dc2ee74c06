"""Step mode in the views: held frames drawn as in flight, and a click that moves one.

A ``StepView`` is a view that can offer deliver / drop / duplicate on a held frame (the mesh,
flow and signalling views). It does not know the Lab: the Lab that makes it sets
``step_action``, a callable ``(action, frame) -> text`` that runs ``lab.deliver(frame)`` (or
``drop``, ``duplicate``) and says what it did. A view without one (a replay's) draws the
held frames but offers nothing: ``steppable`` tells its front end so.

The front end sends ``{"type": "step", "action", "frame", "req"}``; the view answers
``{"type": "stepped", "req", "ok", "text"}`` with the action's words, or the error's (a
frame delivered meanwhile, a closed Lab), which the menu shows. The action runs outside the
hub's lock: it waits for the mesh to go quiet after it (``Lab`` settling), and the views'
pump must go on meanwhile. Messages from the browser arrive on the kernel's thread between
cells, as every other click, so a step is never taken in the middle of a cell.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import traitlets

from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.views.base import View

__all__ = ["ACTIONS", "StepAction", "StepView", "frame_of"]

log = logging.getLogger(__name__)

#: what a click on a held frame can do (``Lab``'s methods of the same names)
ACTIONS = ("deliver", "drop", "duplicate")
#: the Lab's hand: ``(action, frame name) -> what it did, in words``
StepAction = Callable[[str, str], str]

_FRAME = re.compile(r"\bas frame (\S+?)(?:,|$)")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


def frame_of(why: str) -> str:
    """The frame a held row waits in, from the fate model's why (``"as frame f3"``)."""
    m = _FRAME.search(why)
    return m.group(1) if m else ""


class StepView(View):
    """A view that draws held frames and, given ``step_action``, moves them on a click."""

    steppable = traitlets.Bool(False).tag(sync=True)

    def __init__(self, *args: Any, **kw: Any) -> None:
        self._step_action: StepAction | None = None
        super().__init__(*args, **kw)

    @property
    def step_action(self) -> StepAction | None:
        """The Lab's hand (None: a replay, or a view made without a Lab: no menu)."""
        return self._step_action

    @step_action.setter
    def step_action(self, fn: StepAction | None) -> None:
        """Give the view a Lab's hand (the Lab does, making the view), or take it away."""
        self._step_action = fn
        self.steppable = fn is not None

    def step(self, action: str, frame: str) -> str:
        """Take ``action`` on held ``frame`` as a click does; returns what it did (a
        ``GunError`` if this view has no Lab, or the action fails)."""
        if action not in ACTIONS:
            raise GunError(f"step: {action!r} is not one of {ACTIONS}")
        if not isinstance(frame, str) or not _NAME.match(frame):
            raise GunError(f"step: {frame!r} is not a frame name")
        fn = self._step_action
        if fn is None:
            raise GunError("this view has no Lab to step (a replay shows held frames only)")
        text = fn(action, frame)
        self.hub.refresh()  # what the step caused, drawn now rather than on the next beat
        return text

    def _on_front_message(self, w: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "step":
            self._answer_step(content)
            return
        super()._on_front_message(w, content, buffers)

    def _answer_step(self, content: dict[str, Any]) -> None:
        """Run the action the menu asked for (outside the hub's lock) and answer it."""
        req = content.get("req")
        try:
            text = self.step(str(content.get("action")), str(content.get("frame") or ""))
            ok = True
        except GunError as exc:
            text, ok = str(exc), False
        except Exception as exc:  # shown in the menu and the view, never lost
            log.exception("%s failed to step %r", type(self).__name__, content)
            text, ok = f"{type(exc).__name__}: {exc}", False
        self.post({"type": "stepped", "req": req, "ok": ok, "text": text})
