"""The dedup table is bounded in count, not only by time (issue 22: a 35 MB frame of a million
messages left a million entries for 9-18 s): past ``max_entries`` the least recently touched
entries go first, and the mesh says so on the trace, at most once per ``EVICT_REPORT_MS``."""

from __future__ import annotations

import json

import pytest

from gunrtc_kit import trace
from gunrtc_kit.core import dup as dup_mod
from gunrtc_kit.core.dup import EVICT_REPORT_MS, Dup
from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer
from tests.helpers import FakeClock, RecordingWire


def test_past_the_bound_the_oldest_entries_go_first() -> None:
    clock = FakeClock(0)
    told: list[int] = []
    dup = Dup(clock, max_entries=100)
    dup.on_evict = told.append
    dup.track("first")
    for i in range(98):
        dup.track(f"m{i}")
    dup.track("first")  # touched again: now the newest
    assert len(dup) == 99 and dup.evicted == 0 and not told
    for i in range(98, 1000):
        clock.advance(1)
        dup.track(f"m{i}")
        assert len(dup) <= 100
    assert "m999" in dup and "m998" in dup  # the newest stay
    assert "m0" not in dup and "m500" not in dup  # the oldest went
    assert dup.evicted == 1001 - len(dup)  # 'first' and m0..m999
    # one report, at the first eviction: the rest wait for EVICT_REPORT_MS to pass
    assert len(told) == 1 and told[0] >= 1


def test_a_touch_keeps_an_entry_from_eviction() -> None:
    clock = FakeClock(0)
    dup = Dup(clock, max_entries=64)
    dup.track("route")
    for i in range(1000):
        dup.track(f"m{i}")
        if i % 10 == 0:
            assert dup.check("route") is not None  # a live route keeps being touched
    assert "route" in dup and len(dup) <= 64


def test_evictions_are_reported_at_most_once_per_interval_with_their_count() -> None:
    clock = FakeClock(0)
    told: list[int] = []
    dup = Dup(clock, max_entries=10)
    dup.on_evict = told.append
    for i in range(500):
        dup.track(f"a{i}")
    assert len(told) == 1
    clock.advance(EVICT_REPORT_MS)
    for i in range(500):
        dup.track(f"b{i}")
    assert len(told) == 2
    assert sum(told) <= dup.evicted == 990  # the last ones are told at the next report


def test_the_bound_must_be_positive_and_the_default_is_read_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="max_entries=0"):
        Dup(FakeClock(0), max_entries=0)
    monkeypatch.setattr(dup_mod, "MAX_ENTRIES", 7)
    assert Dup(FakeClock(0)).max_entries == 7


def test_a_frame_of_many_messages_fills_the_table_to_its_bound_and_one_error_says_so() -> None:
    clock = FakeClock()
    bus = trace.TraceBus(clock=lambda: clock.now / 1000)
    errors: list[trace.Error] = []
    bus.subscribe(errors.append, kinds=(trace.Error,))  # type: ignore[arg-type]
    mesh = Mesh("MESHpid01", clock_ms=clock, bus=bus, dup=Dup(clock, max_entries=1000))
    peer = MeshPeer(id="", wire=RecordingWire())
    mesh.hi(peer)
    frame = json.dumps([{"#": f"x{i:06d}", "dam": "hi"} for i in range(20_000)])
    mesh.hear(frame, peer)
    assert len(mesh.dup) <= 1000
    assert mesh.dup.evicted >= 19_000
    full = [e for e in errors if "dedup table full" in e.error]
    assert len(full) == 1 and "max_entries=1000" in full[0].error
    # the newest ids are still known: a copy of one is dropped as a duplicate
    before = mesh.duplicates
    mesh.hear(json.dumps({"#": "x019999", "dam": "hi"}), peer)
    assert mesh.duplicates == before + 1
