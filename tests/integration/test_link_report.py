"""``lab.link_report(a, b)`` on real aiortc links: a healthy link's candidates, pairs, states
and rates under traffic; a link with UDP blocked in the namespace says "no UDP path"; a link
the far side closed says so. Loopback only, in a network namespace of its own:

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/pytest -q \
        tests/integration/test_link_report.py'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkreport import LinkFailure
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from tests.netns import require_loopback_only, udp_blocked

pytestmark = [pytest.mark.webrtc]


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_loopback_only()
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def no_udp() -> Iterator[None]:
    """UDP refused by routing in this (loopback-only) namespace; TCP still goes."""
    with udp_blocked():
        yield


def got_burst(node: str, peer: str) -> Callable[[trace.Event], bool]:
    """A sample of ``node`` about ``peer`` counting the whole burst of 200 puts in."""

    def test(e: trace.Event) -> bool:
        return (
            isinstance(e, trace.LinkStats)
            and e.node == node
            and e.peer == peer
            and e.messages_received >= 200
        )

    return test


def test_healthy_link_reports_candidates_pairs_states_and_rates(lab: Lab) -> None:
    a, b = lab.peer("a"), lab.peer("b")
    lab.wait_linked_sync(a, b)
    for i in range(200):
        a.put(f"burst.a{i}", i)
        b.put(f"burst.b{i}", i)
    # two samples after the burst on each side: the rates cover it
    for node, peer in ((a.pid, b.pid), (b.pid, a.pid)):
        lab.bus.wait_for(got_burst(node, peer), 20, past=True)
    report = lab.link_report(a, b)
    assert report.failure is None, report.why
    assert [s.node for s in report.sides] == [a.pid, b.pid]
    for side in report.sides:
        last = side.last
        assert any(
            c["address"] == "127.0.0.1" and c["type"] == "host" for c in last.local_candidates
        )
        assert any(c["resolved"] == "127.0.0.1" for c in side.remote_candidates)
        assert last.selected is not None and last.selected["state"] == "succeeded"
        assert any(p["state"] == "succeeded" for p in last.pairs)
        assert (last.dtls, last.sctp, last.phase) == ("connected", "connected", "open")
        assert max(r.sent_per_s for r in side.rates) > 0
        assert max(r.received_per_s for r in side.rates) > 0
        assert last.unread == []
    assert "a <-> b" in str(report) and "<table>" in report._repr_html_()
    assert lab.link_report("b", "a").a == b.pid  # names work, either order


def test_no_link_is_a_gun_error_naming_both(lab: Lab) -> None:
    lab.peer("a", rtc=False)
    lab.peer("c", rtc=False)
    with pytest.raises(GunError, match=r"no WebRTC link between a .* and c"):
        lab.link_report("a", "c")


def test_udp_blocked_says_no_udp_path(no_udp: None, lab: Lab) -> None:
    a, b = lab.peer("a"), lab.peer("b")
    for p in (a, b):  # stalled after 2 s rather than 10: the test is about the class
        assert p.gun.rtc is not None
        lab.rt.call(lambda s=p.gun.rtc.sampler: setattr(s, "stall_after", 2.0))

    def probed(e: trace.Event) -> bool:
        return isinstance(e, trace.LinkStats) and e.node == a.pid and bool(e.probe)

    lab.bus.wait_for(probed, 40, past=True)
    report = lab.link_report(a, b)
    side = report.side(a.pid)
    assert side is not None and not side.opened
    assert side.failure is LinkFailure.NO_UDP_PATH, side.why
    assert "127.0.0.1" in side.why and "EACCES" in side.why


def test_far_side_close_is_reported_from_the_near_side(lab: Lab) -> None:
    a, b = lab.peer("a"), lab.peer("b")
    lab.wait_linked_sync(a, b)
    lab.cut(b, a)  # b drops the link: a sees it close under it
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.LinkStats) and e.node == a.pid and e.final, 20, past=True
    )
    report = lab.link_report(a, b)
    near = report.side(a.pid)
    assert near is not None
    assert near.failure is LinkFailure.CLOSED_BY_FAR_SIDE, near.why
    assert near.last.ended_by == "remote"
    far = report.side(b.pid)
    assert far is not None and far.failure is None and far.last.ended_by == "local"
