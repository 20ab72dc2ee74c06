"""A seeded Lab's clock and generators: what makes ``Lab(seed=N)`` repeatable.

Why apart: the Lab, its step mode and its forks all read them, and none of those should have
to import the others for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gunrtc_kit.errors import GunError

__all__ = ["EPOCH", "LabClock", "seeded"]

#: where a seeded Lab's clock starts: 2026-01-01T00:00:00Z, in seconds
EPOCH = 1_767_225_600.0


class LabClock:
    """The wall clock of a seeded Lab's memory peers: it stands still while the peers work,
    and moves on 1 ms for each action taken from a cell, and by ``advance``.

    Why not the machine's clock: HAM states are wall-clock milliseconds, so two runs of the
    same cells would write different states and the traces would differ. Standing still
    while the peers work keeps a state from depending on how fast the loop ran; moving on
    per action keeps "a later write has a later state", as people expect. Gun's machine
    clock still adds ``n/999`` for writes within one millisecond of one peer."""

    def __init__(self, start: float = EPOCH) -> None:
        self._ms = float(start) * 1000.0
        self.on_advance: list[Callable[[], None]] = []

    def __call__(self) -> float:
        """Now, in seconds (as ``time.time``)."""
        return self._ms / 1000.0

    def tick(self, ms: float = 1.0) -> None:
        """Move on ``ms`` milliseconds (an action from a cell)."""
        self._ms += ms

    def advance(self, seconds: float) -> None:
        """Move on ``seconds`` (>= 0): writes held back for a future state may now be due."""
        if not seconds >= 0:
            raise GunError(f"advance({seconds!r}): expected seconds >= 0")
        self._ms += seconds * 1000.0
        for fn in list(self.on_advance):
            fn()

    def __repr__(self) -> str:
        return f"<LabClock {self._ms:.0f} ms>"


def seeded(seed: int | str | None, *names: str) -> random.Random | None:
    """A generator seeded from ``seed`` and ``names`` (None without a seed): the same names
    give the same draws in every run, whatever else the Lab made before."""
    if seed is None:
        return None
    return random.Random("/".join([str(seed), *names]))
