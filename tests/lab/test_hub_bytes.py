"""The views' hub stays bounded in bytes: big values are kept as previews (never a copy of
the value), the queue of paused views has a byte bound, and what is dropped past it is said in
every view's ``notice``. Headless (no kernel, no browser)."""

from __future__ import annotations

import tracemalloc

from gunrtc_kit import trace
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.lab.views import PeerView, ViewHub
from gunrtc_kit.lab.views.preview import PREVIEW_CHARS, preview_text, slim

MB = 1_000_000


def big_put(i: int, size: int = 10 * MB) -> trace.Put:
    value = chr(ord("a") + i % 26) * size
    return trace.Put(
        float(i), "B", msg_id=f"m{i}", changes={"doc": [f"k{i}"]}, values={"doc": {f"k{i}": value}}
    )


def test_big_values_are_kept_as_previews_not_copies() -> None:
    hub = ViewHub(Directory({"B": "ben"}))
    view = PeerView(hub, "B", name="ben")
    try:
        hub.pause()
        tracemalloc.start()
        try:
            for i in range(25):  # a peer writing 25 values of 10 MB while the views are paused
                hub.feed(big_put(i))
            kept, _peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert hub.queued == 25 and hub.overflow == 0
        assert kept < 2 * MB  # 250 MB written; what the hub holds is previews
        assert hub.queued_bytes < 25 * (PREVIEW_CHARS + 2_000)
        hub.resume()
        hub.refresh()
        shown = view.peer["data"]["doc"]["k24"]  # the peer model cuts it shorter still
        assert shown.startswith("yyyy") and len(shown) < PREVIEW_CHARS + 100
        assert hub.queued == 0 and hub.queued_bytes == 0
    finally:
        hub.close()


def test_the_paused_queue_stops_at_its_byte_bound_and_says_what_it_dropped() -> None:
    hub = ViewHub(Directory({"B": "ben"}), queue_bytes=50_000)
    view = PeerView(hub, "B", name="ben")
    try:
        hub.pause()
        for i in range(200):
            hub.feed(big_put(i, size=4_000))
            hub.feed(trace.Error(float(i), "B", error="e" * 300))
        assert 0 < hub.queued < 400
        assert hub.queued_bytes <= hub.queue_bytes
        assert hub.overflow == 400 - hub.queued
        assert hub.overflow_kinds.keys() == {"put", "error"}
        assert hub.overflow_bytes > 0
        hub.step()  # paused: nothing applied, but the views are told
        assert hub.queued_bytes <= hub.queue_bytes
        notice = view.notice
        assert notice == hub.notice
        assert f"{hub.overflow:,} events" in notice and "put" in notice and "error" in notice
        assert "queue was full" in notice
        hub.resume()
        hub.refresh()
        assert hub.queued == 0 and hub.queued_bytes == 0
        hub.feed(big_put(999, size=4_000))  # room again once applied
        assert hub.queued == 1
    finally:
        hub.close()


def test_slim_leaves_small_events_alone_and_signalling_whole() -> None:
    small = trace.Said(1.0, "A", "B", msg={"#": "m1", "put": {"s": {"k": "v"}}})
    same, size = slim(small)
    assert same is small and 0 < size < 2_000
    sdp = "v=0\r\n" + "a=x\r\n" * 1_000
    sig = trace.RtcSignal(1.0, "A", "B", step="offer", direction="out", data={"sdp": sdp})
    assert slim(sig)[0] is sig  # an SDP is read whole by the signalling model
    long = "z" * 5_000
    said = trace.Said(1.0, "A", "B", msg={"#": "m2", "put": {"s": {"k": long, "n": [long]}}})
    cut, _ = slim(said)
    assert isinstance(cut, trace.Said) and cut is not said
    assert cut.msg["put"]["s"]["k"] == preview_text(long)
    assert cut.msg["put"]["s"]["n"] == [preview_text(long)]
    assert said.msg["put"]["s"]["k"] is long  # the event on the bus is untouched
