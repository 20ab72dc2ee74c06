"""``peer.user`` in a Lab: SEA accounts from a notebook cell without handing coroutines to the
runtime by hand; every wait bounded, with a coroutine and a blocking twin (issue 12's Lab)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gunrtc_kit.errors import GunError, SeaError
from gunrtc_kit.lab import Lab

PASSWORD = "correct horse battery"


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()  # a relay with a store: it acks, and a second peer reads the account from it
    yield lab
    lab.close()


def test_create_write_and_log_in_elsewhere_with_blocking_twins(lab: Lab) -> None:
    alice, bob = lab.peer("alice", rtc=False), lab.peer("bob", rtc=False)
    assert alice.user.is_ is None and "nobody logged in" in repr(alice.user)
    with pytest.raises(GunError, match="nobody is logged in"):
        alice.user.put("profile.name", "Alice")
    pub = alice.user.create_sync("alice", PASSWORD)
    assert alice.user.pub == pub and alice.user.is_ == {
        "pub": pub,
        "epub": alice.gun.user().is_["epub"],  # type: ignore[index]
        "alias": "alice",
    }
    ack = alice.user.put_acked_sync("profile.name", "Alice")
    assert ack.get("ok") and not ack.get("err")
    mid = alice.user.put("profile.city", "Lisbon")
    assert isinstance(mid, str) and mid

    with pytest.raises(SeaError, match="Wrong user or password."):
        bob.user.auth_sync("alice", "not the password", timeout=5)
    failed = bob.user.last_auth
    assert [s.step for s in failed][-1] == "failed" and not failed[-1].ok
    assert any(s.step == "decrypt" and not s.ok for s in failed)

    assert bob.user.auth_sync("alice", PASSWORD, timeout=5)["pub"] == pub
    assert bob.user.get_sync("profile.name") == "Alice"
    assert bob.user.get_sync("profile.city") == "Lisbon"
    bob.user.leave()
    assert bob.user.pub is None and alice.user.pub == pub


async def test_the_coroutines_from_an_async_cell(lab: Lab) -> None:
    carol = lab.peer("carol", rtc=False)
    pub = await carol.user.create("carol", PASSWORD)
    await carol.user.put_acked(["notes", "first"], "hello")
    assert await carol.user.get("notes.first") == "hello"
    carol.user.leave()
    assert (await carol.user.auth("carol", PASSWORD))["pub"] == pub
    with pytest.raises(SeaError, match="User already created!"):
        await carol.user.create("carol", PASSWORD)


def test_a_closed_lab_refuses_user_actions(lab: Lab) -> None:
    dave = lab.peer("dave", rtc=False)
    user = dave.user
    lab.close()
    with pytest.raises(GunError, match="closed"):
        user.create_sync("dave", PASSWORD)
