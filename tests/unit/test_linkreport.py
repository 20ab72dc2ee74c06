"""``LinkReport`` classes a link's failure from synthetic ``LinkStats`` events: each class with
the sentence that names this link's facts, and no failure for healthy, pending or closed-by-us
links; rates come from the counters; the report reads a saved trace the same way."""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkreport import RATE_POINTS, LinkFailure, LinkReport
from gunrtc_kit.trace import CandidateInfo, PairInfo

A, B = "pidA", "pidB"
NAMES = {A: "a", B: "tab"}


def cand(address: str, port: int = 5000, resolved: str | None = None) -> CandidateInfo:
    family = "mdns" if address.endswith(".local") else ("ipv6" if ":" in address else "ipv4")
    if resolved is None:
        resolved = "" if family == "mdns" else address
    return CandidateInfo(
        address=address, resolved=resolved, port=port, type="host", protocol="udp", family=family
    )


LOCAL = [cand("127.0.0.1", 4000)]
REMOTE = [cand("127.0.0.1", 5000)]
PAIR_OK = PairInfo(
    local="127.0.0.1:4000", remote="127.0.0.1:5000", state="succeeded", nominated=True
)
PAIR_FAILED = PairInfo(
    local="127.0.0.1:4000", remote="127.0.0.1:5000", state="failed", nominated=False
)


def ev(t: float, node: str = A, peer: str = B, **kw: Any) -> trace.LinkStats:
    base: dict[str, Any] = {
        "link": "1",
        "phase": "pending",
        "age": t,
        "pc": "connecting",
        "ice": "checking",
        "dtls": "new",
        "sctp": "new",
        "local_candidates": LOCAL,
        "remote_candidates": REMOTE,
    }
    base.update(kw)
    return trace.LinkStats(t, node, peer, **base)


def healthy(t: float, sent: int = 0, received: int = 0, **kw: Any) -> trace.LinkStats:
    fields: dict[str, Any] = {
        "phase": "open",
        "opened": True,
        "pc": "connected",
        "ice": "completed",
        "dtls": "connected",
        "sctp": "connected",
        "pairs": [PAIR_OK],
        "selected": PAIR_OK,
        "messages_sent": sent,
        "messages_received": received,
        "bytes_sent": sent * 100,
        "bytes_received": received * 100,
        "rtt": 0.002,
    }
    fields.update(kw)
    return ev(t, **fields)


def failed(**kw: Any) -> trace.LinkStats:
    fields: dict[str, Any] = {
        "phase": "closed",
        "final": True,
        "pc": "failed",
        "ice": "failed",
        "ended_by": "remote",
        "why": "channel closed",
        "pairs": [PAIR_FAILED],
    }
    fields.update(kw)
    return ev(12.0, **fields)


def report(*events: trace.LinkStats) -> LinkReport:
    got = LinkReport.from_events(list(events), A, B, NAMES)
    assert got is not None
    return got


def test_healthy_open_link_has_no_failure_and_rates_from_counters() -> None:
    r = report(healthy(1.0, 10, 5), healthy(2.0, 110, 55), ev(1.5, node=B, peer=A))
    assert r.failure is None and r.why == ""
    side = r.side(A)
    assert side is not None and side.opened and side.succeeded
    # first point from the link's start (age 1 s before the first sample), then the step
    assert [p.sent_per_s for p in side.rates] == [10.0, 100.0]
    assert [p.received_per_s for p in side.rates] == [5.0, 50.0]
    assert side.rates[-1].bytes_sent_per_s == 10_000.0 and side.rates[-1].rtt == 0.002
    assert [s.node for s in r.sides] == [A, B]
    text = str(r)
    assert "a <-> tab" in text and "healthy" in text and "127.0.0.1:4000" in text
    assert "<table>" in r._repr_html_() and "succeeded" in r._repr_html_()


def test_rate_series_is_bounded() -> None:
    events = [healthy(float(i + 1), i * 10, i) for i in range(RATE_POINTS + 50)]
    side = report(*events).side(A)
    assert side is not None and len(side.rates) == RATE_POINTS


def test_pending_within_the_stall_time_is_no_failure() -> None:
    r = report(ev(1.0), ev(2.0))
    assert r.failure is None
    side = r.side(A)
    assert side is not None and "pending" in side.why


def test_closed_by_us_is_no_failure() -> None:
    r = report(healthy(1.0), healthy(2.0, phase="closed", final=True, ended_by="local"))
    assert r.failure is None


def test_no_remote_candidates() -> None:
    r = report(failed(remote_candidates=[], pairs=[]))
    assert r.failure is LinkFailure.NO_REMOTE_CANDIDATES
    assert "no ICE candidate from tab" in r.why


def test_mdns_names_not_resolved() -> None:
    remote = [cand("3f2c9a1b-77e0-4c2e-9d1a-0a1b2c3d4e5f.local")]
    r = report(failed(remote_candidates=remote, pairs=[]))
    assert r.failure is LinkFailure.MDNS_UNRESOLVED
    assert (
        r.why == "tab offered only mDNS names (3f2c\u2026.local) and none resolved on this machine"
    )


def test_resolved_mdns_name_is_not_that_failure() -> None:
    remote = [cand("3f2c9a1b.local", resolved="127.0.0.1")]
    r = report(failed(remote_candidates=remote))
    assert r.failure is LinkFailure.REMOTE_NEVER_ANSWERED


def test_no_common_address_family() -> None:
    r = report(failed(remote_candidates=[cand("fd00::1")], pairs=[]))
    assert r.failure is LinkFailure.NO_COMMON_FAMILY
    assert "ipv4" in r.why and "tab only ipv6" in r.why


def test_no_udp_path_when_every_probe_is_refused() -> None:
    r = report(failed(probe={"127.0.0.1:5000": "EACCES"}))
    assert r.failure is LinkFailure.NO_UDP_PATH
    assert "127.0.0.1:5000 (EACCES)" in r.why


def test_a_probe_that_went_is_not_no_udp_path() -> None:
    r = report(failed(probe={"127.0.0.1:5000": "ok", "127.0.0.2:5000": "EACCES"}))
    assert r.failure is LinkFailure.REMOTE_NEVER_ANSWERED


def test_a_stalled_link_is_classed_before_it_fails() -> None:
    r = report(ev(11.0, stalled=True, probe={"127.0.0.1:5000": "ENETUNREACH"}))
    assert r.failure is LinkFailure.NO_UDP_PATH


def test_remote_never_answered() -> None:
    r = report(failed())
    assert r.failure is LinkFailure.REMOTE_NEVER_ANSWERED
    assert "1 pair(s) checked (127.0.0.1:5000 failed)" in r.why
    assert "tab never answered" in r.why


def test_dtls_failed() -> None:
    r = report(failed(ice="completed", pairs=[PAIR_OK], selected=PAIR_OK, dtls="failed"))
    assert r.failure is LinkFailure.DTLS_FAILED


def test_channel_closed_by_the_far_side() -> None:
    at = {"pc": "connected", "ice": "completed", "dtls": "connected", "sctp": "closed"}
    r = report(
        healthy(1.0),
        healthy(2.0, phase="closed", final=True, ended_by="remote", at_close=at, dtls="closed"),
    )
    assert r.failure is LinkFailure.CLOSED_BY_FAR_SIDE
    assert "tab closed the link" in r.why and "ICE was completed and DTLS connected" in r.why


def test_link_lost_after_it_opened() -> None:
    at = {"pc": "failed", "ice": "failed", "dtls": "connected", "sctp": "connected"}
    r = report(healthy(1.0), healthy(2.0, final=True, ended_by="remote", at_close=at))
    assert r.failure is LinkFailure.LOST


def test_only_the_latest_link_counts() -> None:
    r = report(failed(), healthy(20.0, link="2"))
    assert r.failure is None
    side = r.side(A)
    assert side is not None and side.link == "2" and side.samples == 1


def test_either_side_alone_and_none_without_events() -> None:
    only_b = LinkReport.from_events([failed(node=B, peer=A)], A, B, NAMES)
    assert only_b is not None and [s.node for s in only_b.sides] == [B]
    assert only_b.failure is LinkFailure.REMOTE_NEVER_ANSWERED
    assert LinkReport.from_events([trace.Hi(1.0, A)], A, B) is None


def test_report_reads_a_saved_trace_the_same() -> None:
    events = [healthy(1.0, 10, 5), failed(probe={"127.0.0.1:5000": "EPERM"}, link="2")]
    back = [e for e in trace.from_jsonl(trace.to_jsonl(events)) if isinstance(e, trace.LinkStats)]
    assert back == events
    assert report(*back).failure is LinkFailure.NO_UDP_PATH


@pytest.mark.parametrize("failure", list(LinkFailure))
def test_failures_read_as_words(failure: LinkFailure) -> None:
    assert " " in failure.value or failure is LinkFailure.DTLS_FAILED


def test_a_failed_link_to_a_tab_behind_a_proxy_says_no_udp_path_and_keeps_what_it_saw() -> None:
    from gunrtc_kit.diagnose.linkreport import across_proxy

    remote = [cand("3f2c9a1b-77e0-4c2e-9d1a-0a1b2c3d4e5f.local")]
    r = across_proxy(report(failed(remote_candidates=remote, pairs=[])), {B})
    assert r.failure is LinkFailure.NO_UDP_PATH
    assert r.why.startswith("tab reached the Lab only through the Jupyter server's proxy")
    assert r.why.endswith(
        "offered only mDNS names (3f2c\u2026.local) and none resolved on this machine"
    )
    # not behind a proxy, or a failure that says something else: left as it was
    assert across_proxy(report(failed(remote_candidates=remote, pairs=[])), set()).failure is (
        LinkFailure.MDNS_UNRESOLVED
    )
    dtls = across_proxy(report(failed(dtls="failed")), {B})
    assert dtls.failure is LinkFailure.DTLS_FAILED
    assert across_proxy(report(healthy(1.0), healthy(2.0)), {B}).failure is None
