"""Message-id dedup with Gun's expiry (gun.js ``Dup``).

An entry lives while it keeps being touched: ``check`` refreshes it like ``track`` does, so a
duplicate that keeps arriving keeps its entry alive. One sweep is armed at ``age + 9`` ms after
the first track with no sweep pending; it drops every entry untouched for ``age`` ms and the
next ``track`` arms the next sweep. An entry therefore lives 9 to 18 s after its last touch.
The entry also carries what routing needs: ``via`` (the peer a message came from), ``it``
(a GET, so its reply hash can be compared) and ``to`` (whom the mesh said it to: a tuple of peer
ids, or the time of a wide broadcast); ``extra`` holds what other layers note.

Bounded in count as well as time (Gun.js bounds it by time only): past ``max_entries`` the
oldest entries (least recently touched: a touch moves an entry to the end) are evicted, a
batch of ``EVICT_BATCH`` at a time so that a full table costs no scan per message. A 35 MB
frame of a million messages made a million entries, kept 9-18 s (1.84 million entries and
941 MB from three such frames); with the bound the table stops at ``MAX_ENTRIES``.
``on_evict(n)`` (the mesh's: an ``Error`` on the trace) hears of evictions at most once per
``EVICT_REPORT_MS``, with how many were evicted since it last heard, never once per entry.

Why ``MAX_ENTRIES`` is 500,000: our relay at its top honest rate (benchmarks/loadgen.py, 10
subscribers, 4 writers x 1000 puts in flight, 25 s on 2 shared cores: 5,950 puts/s, two
entries a put: its own and its ack's) held at most 225,000 entries; the default leaves it
more than twice that. An entry costs about 290 bytes, so a full table is about 145 MB.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EVICT_BATCH", "EVICT_REPORT_MS", "MAX_ENTRIES", "Dup", "DupEntry"]

MAX_ENTRIES = 500_000  # entries a table holds; past it the oldest are evicted (see above)
EVICT_BATCH = 1024  # entries evicted at once (at most: never more than a 64th of the bound)
EVICT_REPORT_MS = 5000.0  # ``on_evict`` is called at most once per this many ms


@dataclass(slots=True)
class DupEntry:
    was: float
    via: Any = None
    it: Any = None
    # a slot rather than a key of ``extra``: one dict less per message id, kept 9-18 s
    to: tuple[str, ...] | float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Dup:
    """Message ids seen or said lately, each with its ``DupEntry``: dropped ``age`` ms (to
    twice that) after their last touch, or, oldest first, when more than ``max_entries``."""

    def __init__(
        self,
        clock: Callable[[], float],
        age: float = 9000.0,
        max_entries: int | None = None,
    ) -> None:
        if age <= 0:
            raise ValueError(f"age={age!r}, expected milliseconds > 0")
        if max_entries is None:
            max_entries = MAX_ENTRIES  # read now: a test may lower the module's bound
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries!r}, expected an int >= 1")
        self.clock = clock
        self.age = age
        self.max_entries = max_entries
        self.s: dict[str, DupEntry] = {}
        self._sweep_at: float | None = None
        self.evicted = 0  # entries evicted by the bound, in all
        #: told how many entries the bound evicted since it was last told (rate-limited)
        self.on_evict: Callable[[int], None] | None = None
        self._unreported = 0
        self._reported_at: float | None = None

    def track(self, id: str) -> DupEntry:  # noqa: A002 - Gun's name
        now = self.clock()
        s = self.s
        entry = s.pop(id, None)
        if entry is None:
            entry = DupEntry(now)
        else:
            entry.was = now
        s[id] = entry  # (back) at the end: the dict's order is the order of last touch
        if len(s) > self.max_entries:
            self._evict(now)
        if self._sweep_at is None:
            self._sweep_at = now + self.age + 9
        return entry

    def _evict(self, now: float) -> None:
        """The table passed ``max_entries``: drop the least recently touched entries, a batch
        at once, and tell ``on_evict`` (at most once per ``EVICT_REPORT_MS``)."""
        s = self.s
        n = len(s) - self.max_entries + min(EVICT_BATCH, max(self.max_entries // 64, 1)) - 1
        for k in list(itertools.islice(s, n)):
            del s[k]
        self.evicted += n
        self._unreported += n
        at = self._reported_at
        if self.on_evict is not None and (at is None or now - at >= EVICT_REPORT_MS):
            self._reported_at = now
            told, self._unreported = self._unreported, 0
            self.on_evict(told)

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
