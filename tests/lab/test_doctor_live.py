"""The doctor in a live Lab: each reason it gives is produced for real (a partition, a cut
link, a link losing every frame, a writer whose clock runs ahead, a peer a relay never pushes
to, a peer that reconnected without asking again, an ``err`` ack, a put never acked), and
``heal_sync()`` makes the peers agree where a safe cure exists.

Memory peers need no network; the tests with the Lab's WebSocket relay run where nothing but
loopback exists (``tests.netns``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose import doctor as dr
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab import Lab, LabPeer
from gunrtc_kit.lab.doctor import doctor, heal, heal_sync
from tests.lab.relays import memory_relay
from tests.netns import require_loopback_only

WAIT = 10.0


@pytest.fixture
def relay_lab() -> Iterator[Lab]:
    require_loopback_only()
    lab = Lab()
    yield lab
    lab.close()


def linked(lab: Lab, a: LabPeer, b: LabPeer, **faults: Any) -> None:
    """Link ``a`` and ``b`` in memory and wait until ``a`` knows ``b`` by pid (or, with a
    fault that eats the ``?`` exchange, until the wire announced itself)."""
    lab.link_memory(a, b, **faults)
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Link) and e.node == a.pid and e.pid == b.pid, WAIT, past=True
    )


def heard(lab: Lab, p: LabPeer, mid: str) -> trace.Event:
    """Wait until ``p`` heard message ``mid``."""
    return lab.bus.wait_for(
        lambda e: isinstance(e, trace.Heard) and e.node == p.pid and e.msg.get("#") == mid,
        WAIT,
        past=True,
    )


def dropped(lab: Lab, mid: str) -> trace.Event:
    return lab.bus.wait_for(
        lambda e: isinstance(e, trace.Dropped) and e.msg_id == mid, WAIT, past=True
    )


def finding(report: dr.Report, soul: str, key: str) -> dr.Finding:
    f = report.finding(soul, key)
    assert f is not None, str(report)
    return f


def healed(lab: Lab) -> dr.Report:
    after = lab.heal_sync()
    assert after, str(after)
    assert after.before is not None and not after.before
    assert lab.converged() is True
    return after


# ------------------------------------------------------------------ links
def test_partition_is_named_and_healed(lab: Lab) -> None:
    a, b, c = lab.memory_peer("alice"), lab.memory_peer("bob"), lab.memory_peer("carol")
    linked(lab, a, b)
    bc = lab.link_memory(b, c)
    bc.set(partitioned=True)
    mid = a.put("chat.m1", "hello")
    dropped(lab, mid)
    report = lab.doctor()
    assert not report
    assert lab.converged() is not True
    f = finding(report, "chat", "m1")
    assert f.behind == ("carol",)
    assert dr.PARTITION in f.kinds()
    assert any(r.link == tuple(sorted((b.pid, c.pid))) for r in f.reasons)
    assert any(x.kind == dr.HEAL for x in f.actions)
    after = healed(lab)
    assert any("healed bob\u2194carol" in d for d in after.done)
    assert not bc.partitioned
    assert c.graph()["chat"]["m1"] == "hello"


def test_cut_link_is_named_and_made_again(lab: Lab) -> None:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    link = lab.link_memory(a, b)
    link.cut()
    lab.bus.wait_for(lambda e: isinstance(e, trace.Bye) and e.node == b.pid, WAIT, past=True)
    a.put("chat.m1", "while cut")
    f = finding(lab.doctor(), "chat", "m1")
    assert f.behind == ("bob",)
    cut = [r for r in f.reasons if r.kind == dr.CUT]
    assert cut and "is closed" in cut[0].text
    assert any(x.kind == dr.RELINK and x.safe for x in f.actions)
    after = healed(lab)
    assert any("linked alice\u2194bob again" in d for d in after.done)
    assert b.graph()["chat"]["m1"] == "while cut"


def test_a_link_losing_every_frame(lab: Lab) -> None:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    lossy = lab.link_memory(a, b, loss=1.0)
    mid = a.put("chat.m1", "lost")
    dropped(lab, mid)
    f = finding(lab.doctor(), "chat", "m1")
    assert f.behind == ("bob",)
    lost = [r for r in f.reasons if r.kind == dr.LOST]
    assert any(r.msg_id == mid and "lossy link alice\u2194bob" in r.text for r in lost)
    assert any("loses every frame" in r.text for r in lost)
    healed(lab)
    assert lossy.loss == 0.0
    assert b.graph()["chat"]["m1"] == "lost"


# ------------------------------------------------------------------ clocks
def test_a_future_state_from_a_clock_running_ahead_is_deferred(relay_lab: Lab) -> None:
    lab = relay_lab
    eve = lab.peer("eve", rtc=False, clock_skew=+3.0)
    bob = lab.peer("bob", rtc=False)
    assert "clock_skew=+3s" in repr(eve)
    assert bob.get_sync("notes.n", timeout=0.3) is None  # bob follows 'notes' on the relay
    mid = eve.put("notes.n", "from the future")
    relay = lab.relay.pid  # type: ignore[union-attr]
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Heard) and e.node == relay and e.msg.get("#") == mid,
        WAIT,
        past=True,
    )
    report = lab.doctor()
    f = finding(report, "notes", "n")
    assert set(f.behind) == {"relay", "bob"}
    deferred = [r for r in f.reasons if r.kind == dr.DEFERRED]
    # the relay holds it back and passes it on to bob only once it lands (as Gun.js's relay)
    assert [r.peers[0] for r in deferred] == [relay]
    wait = [x for x in f.actions if x.kind == dr.WAIT_UNTIL]
    assert wait and all(0.0 < x.wait <= 3.5 for x in wait)
    after = healed(lab)
    assert any("applied its deferred" in d for d in after.done)
    assert bob.graph()["notes"]["n"] == "from the future"


def test_clock_skew_is_checked() -> None:
    with Lab(relay=False) as lab, pytest.raises(GunError, match="clock_skew"):
        lab.memory_peer("x", clock_skew=float("nan"))


# ------------------------------------------------------------------ relays and subscriptions
def test_a_peer_that_never_asked_gets_no_push_from_the_relay(relay_lab: Lab) -> None:
    lab = relay_lab
    alice, bob = lab.peer("alice", rtc=False), lab.peer("bob", rtc=False)
    mid = alice.put("chat.m1", "hi")
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Put) and e.node == lab.relay.pid and e.msg_id == mid,  # type: ignore[union-attr]
        WAIT,
        past=True,
    )
    f = finding(lab.doctor(), "chat", "m1")
    assert f.behind == ("bob",)
    assert f.kinds() == {dr.NOT_SUBSCRIBED}
    assert "never asked relay for" in f.reasons[0].text
    healed(lab)
    assert bob.graph()["chat"]["m1"] == "hi"


def test_a_peer_that_reconnected_and_did_not_ask_again(lab: Lab) -> None:
    h = memory_relay(lab)
    alice, bob, carol = lab.memory_peer("alice"), lab.memory_peer("bob"), lab.memory_peer("carol")
    for p in (alice, bob, carol):
        linked(lab, p, h)
    alice.put("chat.m1", "first")
    assert bob.get_sync("chat.m1", timeout=3) == "first"  # once: asked, not following
    seen: list[Any] = []
    lab.rt.call(lambda: carol.gun.get("chat").on(lambda v, k: seen.append(v)))  # following
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Put) and e.node == carol.pid and "chat" in e.changes,
        WAIT,
        past=True,
    )
    for p in (bob, carol):  # both lose their link to the relay, and get a new one
        link = next(w for w in (m.wire for m in p.gun.mesh.peers.values()) if w is not None)
        lab.rt.call(link.close)
        linked(lab, p, h)
    lab.bus.wait_for(
        lambda e: (
            isinstance(e, trace.Said)
            and e.node == carol.pid
            and (e.msg.get("get") or {}).get("#") == "chat"
        ),
        WAIT,
        past=True,
    )
    mid = alice.put("chat.m2", "second")
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Put) and e.node == carol.pid and e.msg_id == mid,
        WAIT,
        past=True,
    )
    report = lab.doctor()
    f = finding(report, "chat", "m2")
    assert f.behind == ("bob",)  # carol re-asked on reconnect (on() does): she has it
    assert f.kinds() == {dr.NOT_REASKED}
    assert "did not ask again" in f.reasons[0].text
    assert all(dr.NOT_REASKED not in x.kinds() or "carol" not in x.behind for x in report.findings)
    healed(lab)
    assert bob.graph()["chat"]["m2"] == "second"


def test_an_error_ack_from_the_relay(relay_lab: Lab) -> None:
    lab = relay_lab
    alice, bob = lab.peer("alice", rtc=False), lab.peer("bob", rtc=False)
    assert bob.get_sync("good.k", timeout=0.3) is None  # bob follows 'good'
    good = {"_": {"#": "good", ">": {"k": 1}}, "k": "kept"}
    bad = {"_": {"#": "bad", ">": {}}, "x": 1}  # a key without a state: invalid
    msg = alice.say({"put": {"good": good, "bad": bad}})
    lab.bus.wait_for(
        lambda e: isinstance(e, trace.Heard) and e.node == alice.pid and e.msg.get("err"),
        WAIT,
        past=True,
    )
    f = finding(lab.doctor(), "good", "k")
    assert set(f.behind) == {"alice", "bob"}  # the relay kept the key before the error
    err = [r for r in f.reasons if r.kind == dr.ERROR_ACK]
    assert err and err[0].msg_id == msg["#"] and "relay refused" in err[0].text
    assert any(x.kind == "fix" and not x.safe for x in f.actions)
    healed(lab)


def test_a_put_never_acked(lab: Lab) -> None:
    h = memory_relay(lab)
    alice, bob = lab.memory_peer("alice"), lab.memory_peer("bob")
    linked(lab, bob, h)
    assert bob.get_sync("chat.m1", timeout=0.3) is None  # bob follows 'chat' on the hub
    lab.link_memory(alice, h, loss=1.0)
    with pytest.raises(GunTimeoutError):
        alice.put_acked_sync("chat.m1", "unheard")  # waits Gun's 9 s ack timeout
    report = lab.doctor()
    f = finding(report, "chat", "m1")
    assert set(f.behind) == {"hub", "bob"}
    assert {dr.NEVER_ACKED, dr.LOST} <= f.kinds()
    after = healed(lab)
    assert any("set the loss" in d or "healed" in d for d in after.done)
    assert bob.graph()["chat"]["m1"] == "unheard"


# ------------------------------------------------------------------ outside a Lab
def test_doctor_on_plain_gun_objects_heals_by_regets_only(lab: Lab) -> None:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    link = lab.link_memory(a, b)
    link.set(partitioned=True)
    mid = a.put("chat.m1", "hi")
    dropped(lab, mid)
    report = doctor([a.gun, b.gun], names={a.pid: "alice", b.pid: "bob"})
    assert dr.PARTITION in finding(report, "chat", "m1").kinds()
    after = heal_sync([a.gun, b.gun], names={a.pid: "alice"}, rounds=1, fetch_timeout=0.3)
    assert not after  # the link stays partitioned: outside a Lab links are not healed
    assert any("only inside a Lab" in d for d in after.done)
    link.set(partitioned=False)
    assert heal_sync([a.gun, b.gun], fetch_timeout=2.0)


# ------------------------------------------------------------------ reading vs healing
def partitioned_then_mended(lab: Lab) -> tuple[LabPeer, LabPeer]:
    """alice wrote while the link to bob was partitioned; the partition is gone now, but bob
    never got the write: only a re-get mends it."""
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    link = lab.link_memory(a, b)
    link.set(partitioned=True)
    dropped(lab, a.put("chat.m1", "hi"))
    link.set(partitioned=False)
    return a, b


def test_doctor_only_reads_and_heal_is_awaited_on_the_peers_own_loop(lab: Lab) -> None:
    a, b = partitioned_then_mended(lab)
    peers = [a.gun, b.gun]

    async def on_their_loop() -> tuple[dr.Report, dr.Report, dr.Report]:
        looked = doctor(peers)  # a plain read: made at once on this thread, no deadlock
        again = doctor(peers)
        with pytest.raises(GunError, match="runtime thread"):
            heal_sync(peers)  # the blocking twin would stop the very loop it waits for
        return looked, again, await heal(peers, fetch_timeout=2.0)

    looked, again, after = lab.rt.run_sync(on_their_loop(), 30)
    assert not looked and not again  # reading twice changed nothing
    assert looked.before is None and looked.done == ()
    assert after, str(after)
    assert after.before is not None and not after.before and after.done


def test_lab_heal_is_awaited_from_a_cells_loop_and_doctor_changes_nothing(lab: Lab) -> None:
    a, b = partitioned_then_mended(lab)
    assert not lab.doctor() and not lab.doctor()
    assert "m1" not in b.graph().get("chat", {})
    with pytest.raises(GunTimeoutError, match=r"Lab.heal_sync\(\) did not finish within 0 s"):
        lab.heal_sync(timeout=0.0)  # its own bound, not the runtime's: the twin adds SLACK
    after = asyncio.run(lab.heal())  # a cell's own loop, as top-level await has it
    assert after, str(after)
    assert lab.converged() is True
