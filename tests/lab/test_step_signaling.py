"""WebRTC signalling stepped by hand: with the relay on memory wires (``Lab(relay="memory")``)
a held Lab holds the room announcement, the offer, the answer and every candidate, and the
data channel opens only once they have been delivered. Needs WebRTC: run in a loopback-only
network namespace (``scripts/test``)."""

from __future__ import annotations

import pytest

from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from tests.netns import require_loopback_only


def test_offer_answer_and_candidates_wait_to_be_delivered() -> None:
    require_loopback_only()
    lab = Lab(relay="memory")
    try:
        a = lab.peer("alice")
        sig = lab.signaling_view()
        lab.hold()
        b = lab.peer("bob")
        kinds: list[str] = []
        listed: set[str] = set()  # what the signalling view listed as held, over the steps
        for _ in range(60):
            pending = lab.pending()
            if not pending:
                break
            lab.refresh()
            listed.update(h["text"] for h in sig.held)
            kinds.extend(k for p in pending[:1] for k in p.kinds)
            assert not b.gun.rtc or a.pid not in b.gun.rtc.connected()
            lab.step()
        assert not lab.pending(), "signalling kept going for 60 steps"
        for step in ("rtc:offer", "rtc:answer", "rtc:candidate"):
            assert step in kinds, f"{step} was never held: {kinds}"
        assert kinds.index("rtc:offer") < kinds.index("rtc:answer")
        for step in ("rtc:offer", "rtc:answer", "rtc:candidate"):  # the view showed them held
            assert any(step in text for text in listed), (step, sorted(listed))
        lab.release()
        lab.wait_linked_sync(a, b, timeout=15)
        assert "dc bob" in a.links()
    finally:
        lab.close()


def test_a_memory_relay_has_no_url_and_says_so() -> None:
    lab = Lab(relay="memory")
    try:
        assert lab.peer("alice", rtc=False).links() == ["memory relay"]
        with pytest.raises(GunError, match="memory peer"):
            _ = lab.url
    finally:
        lab.close()
