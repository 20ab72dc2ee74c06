"""Gun's machine clock and the per-key state helpers (gun.js ``State``).

A state is a wall-clock millisecond number. Within one millisecond (or when the clock went
back) each later call adds ``N/999`` with ``N`` counting up, so states from one machine keep
increasing while the first call of each new millisecond returns that millisecond exactly.
The wall clock is passed in: the core never reads one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["MISSING", "MachineClock", "state_ify", "state_of"]

MISSING: Final = object()
_D = 999


class MachineClock:
    def __init__(self, now_ms: Callable[[], float], drift: float = 0.0) -> None:
        self.now_ms = now_ms
        self.drift = drift
        self._last = -math.inf
        self._n = 0

    def __call__(self) -> float:
        t = math.floor(self.now_ms())  # +new Date: whole milliseconds
        if self._last < t:
            self._n = 0
            self._last = t + self.drift
        else:
            self._n += 1
            self._last = t + self._n / _D + self.drift
        last = self._last
        return int(last) if last == int(last) else last


def state_of(node: Mapping[str, Any] | None, key: str) -> float | None:
    """The state of ``key`` on ``node``: None without meta, -inf when not a number."""
    if not node or not key:
        return None
    meta = node.get("_")
    states = meta.get(">") if isinstance(meta, Mapping) else None
    if not isinstance(states, Mapping):
        return None
    s = states.get(key)
    return s if isinstance(s, int | float) and not isinstance(s, bool) else -math.inf


def state_ify(
    node: dict[str, Any] | None, key: str, state: Any, value: Any = MISSING, soul: str = ""
) -> dict[str, Any]:
    """Put ``key``'s state (and value) on ``node``, creating its meta as needed."""
    node = {} if node is None else node
    meta = node.setdefault("_", {})
    if soul:
        meta["#"] = soul
    states = meta.setdefault(">", {})
    if key and key != "_":
        if isinstance(state, int | float) and not isinstance(state, bool):
            states[key] = state
        if value is not MISSING:
            node[key] = value
    return node
