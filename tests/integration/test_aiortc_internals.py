"""The aiortc/aioice internals ``gunrtc_kit.webrtc.stats`` reads are still where it reads them.

Why: aiortc's ``getStats()`` has no candidate pairs, so ``stats`` reads a few private
attributes (listed in ``stats.PRIVATE``). An aiortc or aioice upgrade that renames one would
make link reports quietly empty; this test fails instead, naming the attribute. Runs on a real
open link between two of our peers, loopback only (see tests/netns.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gunrtc_kit import Gun, WebRTCOptions
from gunrtc_kit.webrtc import stats
from tests.netns import require_loopback_only

pytestmark = [pytest.mark.asyncio, pytest.mark.webrtc]


def rtc() -> WebRTCOptions:
    return WebRTCOptions(ice_servers=[], room=None, host_addresses=["127.0.0.1"])


@pytest.fixture
async def linked() -> AsyncIterator[tuple[Gun, Gun]]:
    require_loopback_only()
    a = await Gun(rtc=rtc()).start()
    b = await Gun(rtc=rtc()).start()
    try:
        assert a.rtc is not None and b.rtc is not None
        offer = await a.rtc.create_offer(b.pid)
        answer = await b.rtc.accept_offer(a.pid, offer)
        await a.rtc.accept_answer(b.pid, answer)
        await a.rtc.wait_open(b.pid, 20)
        await b.rtc.wait_open(a.pid, 20)
        yield a, b
    finally:
        await a.close()
        await b.close()


def must_have(obj: Any, owner: str, name: str) -> Any:
    """``obj.name``, or a failure naming ``owner.name`` and the installed versions."""
    import aioice
    import aiortc

    if not hasattr(obj, name):
        pytest.fail(
            f"{owner}.{name} is gone (aiortc {aiortc.__version__}, aioice {aioice.__version__}): "
            "gunrtc_kit.webrtc.stats reads it for link reports; update stats.py and PRIVATE"
        )
    return getattr(obj, name)


async def test_every_private_attribute_we_read_exists(linked: tuple[Gun, Gun]) -> None:
    a, b = linked
    assert a.rtc is not None
    pc: Any = a.rtc.links[b.pid].peer.pc
    ice = pc.sctp.transport.transport
    conn = must_have(ice, "RTCIceTransport", "_connection")
    check_list = must_have(conn, "Connection", "_check_list")
    nominated = must_have(conn, "Connection", "_nominated")
    assert check_list and nominated, "an open link has checked and nominated pairs"
    pair = next(iter(nominated.values()))
    for name in ("local_candidate", "remote_candidate", "state", "nominated"):
        must_have(pair, "CandidatePair", name)
    assert pair.state.name == "SUCCEEDED", "CandidatePair.State.SUCCEEDED was renamed"
    must_have(pair.remote_candidate, "Candidate", "_network_host")
    srtt = must_have(pc.sctp, "RTCSctpTransport", "_srtt")
    assert srtt is None or isinstance(srtt, float)
    checked = {
        "RTCIceTransport._connection",
        "Connection._check_list",
        "Connection._nominated",
        "Candidate._network_host",
        "RTCSctpTransport._srtt",
    }
    assert checked == set(stats.PRIVATE), "a private attribute stats.py reads is not tested here"


async def test_snapshot_reads_everything_on_an_open_link(linked: tuple[Gun, Gun]) -> None:
    a, b = linked
    assert a.rtc is not None
    snap = stats.snapshot(a.rtc.links[b.pid].peer)
    assert snap["unread"] == [], f"stats could not read {snap['unread']}"
    assert (snap["ice"], snap["dtls"], snap["sctp"]) == ("completed", "connected", "connected")
    assert snap["selected"] is not None and snap["selected"]["state"] == "succeeded"
    assert any(c["address"] == "127.0.0.1" for c in snap["local_candidates"])
    assert any(c["resolved"] == "127.0.0.1" for c in snap["remote_candidates"])
