"""Step mode in the views, headless: held frames are tokens on their own wires and rows marked
``held`` in the flow; delivering moves them on, dropping loses the row by hand, a duplicate
gets a token of its own; a click's ``step`` message makes the view call the Lab's action and
answer; a replay draws the tokens but offers no action. A real ``Lab(relay="memory")`` of
memory peers throughout (no WebRTC, no network). The browser half: test_step_views_frontend.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit.diagnose.fate import Mark
from gunrtc_kit.diagnose.mesh import edge_id
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.peers import LabPeer
from gunrtc_kit.lab.views.replay import Replay
from gunrtc_kit.lab.views.stepping import frame_of
from tests.helpers import front, record


@pytest.fixture
def held_lab() -> Iterator[tuple[Lab, LabPeer, LabPeer]]:
    """A seeded Lab whose relay is a memory peer, alice and bob on it, every wire held."""
    lab = Lab(relay="memory", seed=3)
    try:
        a = lab.peer("alice", rtc=False)
        b = lab.peer("bob", rtc=False)
        lab.hold()
        yield lab, a, b
    finally:
        lab.close()


def tokens(lab: Lab) -> dict[str, Any]:
    lab.refresh()
    with lab.hub.lock:
        return dict(lab.hub.mesh.held)


def rows_of(lab: Lab, mid: str) -> list[Any]:
    lab.refresh()
    return [r for r in lab.flow_view().rows if r.mid == mid]


def wire_of(lab: Lab, a: LabPeer, b: LabPeer) -> str:
    """The id of the one memory wire between two peers (as the mesh view draws it)."""
    with lab.hub.lock:
        found = [
            e.id
            for e in lab.hub.mesh.edges.values()
            if {e.a, e.b} == {a.pid, b.pid} and e.transport == "memory"
        ]
    assert len(found) == 1, found
    return found[0]


def test_a_put_held_is_a_token_on_its_wire_and_a_held_row(held_lab: Any) -> None:
    lab, a, _b = held_lab
    relay = lab.peers["relay"]
    mesh = lab.mesh_view()
    sent = record(mesh)
    mid = a.put("chat.hello", "hi")
    held = tokens(lab)
    assert list(held) == [p.name for p in lab.pending()]
    (tok,) = held.values()
    assert tok.src == a.pid and tok.dst == relay.pid and tok.kinds == ("put",)
    assert tok.ids == (mid,) and tok.edge == wire_of(lab, a, relay)
    assert lab.hub.mesh.edges[tok.edge].held == 1
    # the view told its front end: a diff with the token, the wire's count, the total
    diff = [m for m in sent if m["type"] == "diff" and "held" in m][-1]
    assert [t["frame"] for t in diff["held"]] == [tok.frame] and diff["held_total"] == 1
    assert diff["held"][0]["kinds"] == ["put"] and diff["held"][0]["from"] == a.pid
    # the flow: one row alice -> relay, marked held, naming the frame
    (row,) = rows_of(lab, mid)
    assert row.mark is Mark.HELD and frame_of(row.why) == tok.frame
    flow = lab.flow_view()
    with lab.hub.lock:
        flow._extend()
        wire_rows = [flow._row(p) for p in range(flow._base, flow._base + flow._count)]
    (wr,) = [r for r in wire_rows if r[6] == mid]
    assert wr[7] == "held" and wr[13] == tok.frame


def test_deliver_moves_it_on_and_the_ack_is_held_back(held_lab: Any) -> None:
    lab, a, _b = held_lab
    relay = lab.peers["relay"]
    mid = a.put("chat.hello", "hi")
    (first,) = tokens(lab)
    lab.deliver(first)
    held = tokens(lab)
    assert first not in held
    (row,) = rows_of(lab, mid)
    assert row.mark is Mark.HEARD
    # what the delivery caused is held in its turn: the relay's ack, on the same wire back
    acks = [t for t in held.values() if t.kinds == ("ack",)]
    assert len(acks) == 1 and acks[0].src == relay.pid and acks[0].dst == a.pid
    assert acks[0].edge == wire_of(lab, a, relay)


def test_drop_loses_the_row_by_hand(held_lab: Any) -> None:
    lab, a, _b = held_lab
    mid = a.put("chat.x", 1)
    (frame,) = tokens(lab)
    lab.drop(frame)
    assert frame not in tokens(lab)
    (row,) = rows_of(lab, mid)
    assert row.mark is Mark.LOST and "by hand" in row.why
    assert lab.hub.mesh.edges[wire_of(lab, a, lab.peers["relay"])].held == 0


def test_a_duplicate_gets_its_own_token_and_row(held_lab: Any) -> None:
    lab, a, _b = held_lab
    mid = a.put("chat.x", 1)
    (frame,) = tokens(lab)
    copy = lab.duplicate(frame)
    held = tokens(lab)
    assert [frame, copy.name] == list(held)
    assert held[copy.name].copy_of == frame and held[copy.name].edge == held[frame].edge
    assert lab.hub.mesh.edges[held[frame].edge].held == 2
    rows = rows_of(lab, mid)
    assert [r.mark for r in rows] == [Mark.HELD, Mark.HELD]
    assert sorted(frame_of(r.why) for r in rows) == sorted([frame, copy.name])
    lab.deliver(frame)
    lab.deliver(copy)
    marks = sorted(r.mark.value for r in rows_of(lab, mid))
    assert marks == ["dup", "heard"]  # the second copy to arrive is dropped by dedup


def test_two_wires_between_one_pair_keep_their_own_tokens() -> None:
    lab = Lab(relay=False, seed=5)
    try:
        a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
        lab.link_memory(a, b)
        lab.link_memory(a, b)
        lab.hold()
        mid = a.put("doc", {"n": 1})
        held = tokens(lab)
        puts = [t for t in held.values() if mid in t.ids]
        assert len(puts) == 2 and len({t.edge for t in puts}) == 2, puts
        with lab.hub.lock:
            for t in puts:
                assert lab.hub.mesh.edges[t.edge].held == 1
                assert t.edge.startswith(edge_id(a.pid, b.pid, "memory", "").rsplit("|", 1)[0])
    finally:
        lab.close()


def test_a_wire_closing_takes_its_tokens() -> None:
    lab = Lab(relay=False, seed=6)
    try:
        a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
        link = lab.link_memory(a, b)
        lab.hold()
        a.put("doc", {"n": 1})
        assert tokens(lab)
        link.cut()
        assert not tokens(lab)
        assert all(e.held == 0 for e in lab.hub.mesh.edges.values())
    finally:
        lab.close()


def test_a_click_on_a_token_calls_the_lab_and_answers(held_lab: Any) -> None:
    lab, a, _b = held_lab
    mesh, flow = lab.mesh_view(), lab.flow_view()
    assert mesh.steppable and flow.steppable and lab.signaling_view().steppable
    mid = a.put("chat.hello", "hi")
    (frame,) = tokens(lab)
    sent = record(mesh)
    front(mesh, {"type": "step", "action": "deliver", "frame": frame, "req": 41})
    answer = [m for m in sent if m["type"] == "stepped"]
    assert answer == [
        {"type": "stepped", "req": 41, "ok": True, "text": answer[0]["text"]}
    ] and answer[0]["text"].startswith(f"delivered {frame} alice→relay put #{mid}")
    assert frame not in tokens(lab)
    assert rows_of(lab, mid)[0].mark is Mark.HEARD
    # the flow's menu: duplicate the ack now held, then drop the copy
    (ack,) = tokens(lab)
    fsent = record(flow)
    front(flow, {"type": "step", "action": "duplicate", "frame": ack, "req": 1})
    front(flow, {"type": "step", "action": "deliver", "frame": ack, "req": 2})
    front(flow, {"type": "step", "action": "deliver", "frame": ack, "req": 3})
    answers = {m["req"]: m for m in fsent if m["type"] == "stepped"}
    assert answers[1]["ok"] and "holds a copy of" in answers[1]["text"]
    assert answers[2]["ok"]
    # the same frame twice: the Lab's error, shown in the menu (the view does not fail)
    assert not answers[3]["ok"] and f"no frame {ack!r} is held" in answers[3]["text"]
    assert not flow.error
    copy = answers[1]["text"].split()[0]
    front(flow, {"type": "step", "action": "drop", "frame": copy, "req": 4})
    assert [m for m in fsent if m.get("req") == 4][0]["ok"]
    assert not tokens(lab)


def test_a_bad_click_is_refused_in_words(held_lab: Any) -> None:
    lab, a, _b = held_lab
    mesh = lab.mesh_view()
    sent = record(mesh)
    a.put("chat.x", 1)
    (frame,) = tokens(lab)
    front(mesh, {"type": "step", "action": "explode", "frame": frame, "req": 1})
    front(mesh, {"type": "step", "action": "deliver", "frame": "<b>", "req": 2})
    got = {m["req"]: m for m in sent if m["type"] == "stepped"}
    assert not got[1]["ok"] and "not one of" in got[1]["text"]
    assert not got[2]["ok"] and "not a frame name" in got[2]["text"]
    assert frame in tokens(lab)  # nothing moved


def test_a_replay_draws_the_tokens_but_offers_nothing(held_lab: Any, tmp_path: Path) -> None:
    lab, a, _b = held_lab
    mid = a.put("chat.hello", "hi")
    (first,) = tokens(lab)
    lab.deliver(first)
    live = tokens(lab)
    path = lab.save_trace(tmp_path / "held.jsonl")
    replay = Replay.open(path)
    mesh = replay.mesh_view()
    replay.hub.refresh()
    with replay.hub.lock:
        assert list(replay.hub.mesh.held) == list(live)
    assert not mesh.steppable and mesh.snapshot["held_total"] == len(live)
    sent = record(mesh)
    front(mesh, {"type": "step", "action": "deliver", "frame": next(iter(live)), "req": 9})
    (answer,) = [m for m in sent if m["type"] == "stepped"]
    assert not answer["ok"] and "replay" in answer["text"]
    assert [r.mark for r in replay.flow_view().rows if r.mid == mid] == [Mark.HEARD]
    with pytest.raises(GunError):
        mesh.step("deliver", next(iter(live)))


def test_signalling_held_on_a_memory_relay_is_listed_and_stepped() -> None:
    """A WebRTC peer on ``Lab(relay="memory")`` signals through the memory relay: its room's
    ``get`` and the announcements answering it wait held, and the signalling view lists them
    (and only them: the ``dam`` handshake held beside them is not signalling); a click
    delivers one and what it caused is listed in its turn."""
    lab = Lab(relay="memory", seed=7)
    try:
        lab.peer("alice")
        sig = lab.signaling_view()
        lab.hold()
        lab.peer("bob")
        lab.refresh()
        listed = [h["frame"] for h in sig.held]
        pending = {p.name: p for p in lab.pending()}
        assert listed and set(listed) < set(pending)
        assert all(pending[f].kinds != ("dam:?",) for f in listed)
        first = sig.held[0]
        assert first["text"].startswith(f"{first['frame']} bob → relay · get #")
        sent = record(sig)
        front(sig, {"type": "step", "action": "deliver", "frame": first["frame"], "req": 5})
        (answer,) = [m for m in sent if m["type"] == "stepped"]
        assert answer["ok"] and answer["text"].startswith(f"delivered {first['frame']}")
        lab.refresh()
        now = [h["text"] for h in sig.held]
        assert first["frame"] not in [h["frame"] for h in sig.held]
        assert any(" relay → alice · get #" in t for t in now), now  # the relay asks alice
    finally:
        lab.close()
