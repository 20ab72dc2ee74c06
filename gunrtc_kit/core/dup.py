"""Message-id dedup with Gun's expiry (gun.js ``Dup``).

An entry lives while it keeps being touched: ``check`` refreshes it like ``track`` does, so a
duplicate that keeps arriving keeps its entry alive. One sweep is armed at ``age + 9`` ms after
the first track with no sweep pending; it drops every entry untouched for ``age`` ms and the
next ``track`` arms the next sweep. An entry therefore lives 9 to 18 s after its last touch.
The entry also carries what routing needs: ``via`` (the peer a message came from), ``it``
(a GET, so its reply hash can be compared) and ``to`` (whom the mesh said it to: a tuple of peer
ids, or the time of a wide broadcast); ``extra`` holds what other layers note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Dup", "DupEntry"]


@dataclass(slots=True)
class DupEntry:
    was: float
    via: Any = None
    it: Any = None
    # a slot rather than a key of ``extra``: one dict less per message id, kept 9-18 s
    to: tuple[str, ...] | float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Dup:
    def __init__(self, clock: Callable[[], float], age: float = 9000.0) -> None:
        if age <= 0:
            raise ValueError(f"age={age!r}, expected milliseconds > 0")
        self.clock = clock
        self.age = age
        self.s: dict[str, DupEntry] = {}
        self._sweep_at: float | None = None

    def track(self, id: str) -> DupEntry:  # noqa: A002 - Gun's name
        now = self.clock()
        entry = self.s.get(id)
        if entry is None:
            entry = self.s[id] = DupEntry(now)
        else:
            entry.was = now
        if self._sweep_at is None:
            self._sweep_at = now + self.age + 9
        return entry

    def check(self, id: str) -> DupEntry | None:  # noqa: A002
        return self.track(id) if id in self.s else None

    def get(self, id: str) -> DupEntry | None:  # noqa: A002
        return self.s.get(id)

    def forget(self, id: str) -> None:  # noqa: A002
        self.s.pop(id, None)

    def next_deadline(self) -> float | None:
        return self._sweep_at

    def expire(self) -> int:
        """Run the sweep if it is due; returns how many entries it dropped."""
        if self._sweep_at is None:
            return 0
        now = self.clock()
        if now < self._sweep_at:
            return 0
        self._sweep_at = None
        old = [k for k, e in self.s.items() if now - e.was >= self.age]
        for k in old:
            del self.s[k]
        return len(old)

    def __len__(self) -> int:
        return len(self.s)

    def __contains__(self, id: object) -> bool:  # noqa: A002
        return id in self.s
