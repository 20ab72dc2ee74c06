"""The views' Python side, headless: what each sends to the browser (recorded), that it sends
changes rather than everything, that a selection is a message id, that a Lab reuses its views,
that a saved trace replays, and that importing stays light. The browser side is tested in
test_frontend.py (fake model) and test_browser.py (JupyterLab)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab, get_runtime
from gunrtc_kit.lab.views import FlowView, MeshView, ViewHub
from tests.helpers import front, record, until


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(relay=False)
    yield lab
    lab.close()


def wait_rows(lab: Lab, pred: Any) -> None:
    """Refresh until the flow's rows satisfy ``pred`` (bounded)."""
    import asyncio

    async def go() -> None:
        def ok() -> bool:
            lab.refresh()
            return bool(pred(lab.flow_view().rows))

        await until(ok, 10)

    asyncio.run(go())


def test_import_stays_light() -> None:
    code = (
        "import sys, gunrtc_kit, gunrtc_kit.root, gunrtc_kit.relay, gunrtc_kit.lab; "
        "from gunrtc_kit.lab import Lab; "
        "bad = [m for m in ('matplotlib', 'ipywidgets', 'anywidget', 'networkx', "
        "'nest_asyncio', 'IPython') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_mesh_view_sends_a_reset_then_only_changes(lab: Lab) -> None:
    a, b, c = (lab.memory_peer(n) for n in "abc")
    lab.link_memory(a, b)
    bc = lab.link_memory(b, c, loss=1.0)
    mesh = lab.mesh_view()
    sent = record(mesh)
    lab.refresh()
    front(mesh, {"type": "hello"})
    reset = sent[-1]
    assert reset["type"] == "reset"
    assert sorted(n["label"] for n in reset["nodes"]) == ["a", "b", "c"]  # no phantom
    assert {(e["transport"], e["loss"]) for e in reset["edges"]} == {
        ("memory", 0.0),
        ("memory", 1.0),
    }
    assert reset["stats"] == {"peers": 3, "links": 2, "partitions": 2}
    v = reset["v"]
    sent.clear()
    bc.set(partitioned=True)
    a.put("doc", {"x": 1})
    wait_rows(lab, lambda rows: any(r.kind == "put" and r.mark == "heard" for r in rows))
    diffs = [m for m in sent if m["type"] == "diff"]
    assert diffs and diffs[0]["from"] == v and diffs[-1]["v"] == v + len(diffs)
    changed = [e for d in diffs for e in d["edges"]]
    assert any(e["partitioned"] for e in changed)  # the fault, sent as a change
    pulses = [p for d in diffs for p in d["pulses"]]
    assert any(p[2] == "put" and p[1] == a.pid for p in pulses)
    assert all(len(d["pulses"]) <= 30 for d in diffs)
    # a diff names only what changed: the a-b link and its nodes, never everything again
    assert all(len(d["nodes"]) <= 3 for d in diffs)


def test_flow_rows_windows_selection_and_fate(lab: Lab) -> None:
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    flow = lab.flow_view()
    sent = record(flow)
    mids = [a.put(f"doc{i}", {"n": i}) for i in range(30)]
    wait_rows(lab, lambda rows: sum(r.kind == "put" and r.mark == "heard" for r in rows) == 30)
    front(flow, {"type": "hello"})
    assert sent[-1]["type"] == "reset"
    count = sent[-1]["count"]
    assert count == len(flow.rows) and count >= 30
    front(flow, {"type": "rows", "req": 7, "from": 0, "to": 5})
    reply = sent[-1]
    assert reply["type"] == "rows" and reply["req"] == 7
    assert [r[0] for r in reply["rows"]] == [0, 1, 2, 3, 4]  # logical positions
    lanes = [x["label"] for x in flow.lanes]
    put_rows = [r for r in flow.rows if r.mid == mids[3]]
    assert len(put_rows) == 1 and put_rows[0].mark == "heard"
    # selection is the message id; its detail is that message's JSON and fate
    detail = flow.select(mids[3])
    assert detail["mid"] == mids[3] and '"doc3"' in detail["json"]
    assert "heard by 1 peer" in detail["summary"]
    assert any("b heard it" in s["text"] for s in detail["fate"])
    # more traffic moves the rows, not the selection
    for i in range(50):
        b.put(f"other{i}", {"n": i})
    wait_rows(lab, lambda rows: sum(r.kind == "put" for r in rows) >= 80)
    assert flow.selected == mids[3] and flow.detail["mid"] == mids[3]
    # following: a tick carries the newest rows, positions after the old count
    ticks = [m for m in sent if m["type"] == "tick"]
    assert ticks and ticks[-1]["count"] == len(flow.rows)
    newest = ticks[-1]["rows"]
    assert newest and newest[-1][0] == ticks[-1]["base"] + ticks[-1]["count"] - 1
    row = newest[-1]
    assert lanes[row[2]] in ("a", "b") and row[7] in ("heard", "sent", "dup", "lost")
    # filters rebuild the sequence and tell the browser to drop its rows
    flow.set_filters(kind="put", peer="b")
    assert sent[-1]["type"] == "reset"
    assert flow.rows and all(r.kind == "put" and "b" in (r.src, r.dst) for r in flow.rows)
    with pytest.raises(GunError, match="unknown flow filter"):
        flow.set_filters(colour="red")


def test_pause_freezes_every_view_and_resume_catches_up(lab: Lab) -> None:
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    flow = lab.flow_view()
    lab.refresh()
    flow.paused = True  # as the pause button does
    assert lab.hub.paused
    before = len(flow.rows)
    a.put("x", {"n": 1})
    lab.refresh()
    assert len(flow.rows) == before and lab.hub.queued > 0
    flow.paused = False
    wait_rows(lab, lambda rows: any(r.kind == "put" for r in rows))


def test_signaling_and_peer_views_from_events() -> None:
    d = Directory({"A": "ana", "B": "ben"})
    hub = ViewHub(d)
    from gunrtc_kit.lab.views import PeerView, SignalingView

    sig, peer = SignalingView(hub), PeerView(hub, "B", name="ben")
    sent = record(sig)
    sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=setup:actpass\r\n"
    hub.feed_many(
        [
            trace.RtcSignal(1.0, "A", "B", step="offer", direction="out", data={"sdp": sdp}),
            trace.RtcState(1.5, "A", "B", state="connected", layer="dtls"),
            trace.Link(1.6, "B", "a1", pid="A", transport="memory"),
            trace.Put(1.7, "B", msg_id="m", changes={"doc": ["x"]}, values={"doc": {"x": 5}}),
        ]
    )
    hub.refresh()
    front(sig, {"type": "hello"})
    steps = sent[-1]["steps"]
    assert [(s["step"], s["node"], s["peer"], s["t"]) for s in steps] == [
        ("offer", "ana", "ben", 0.0),
        ("state", "ana", "ben", 0.5),
    ]
    assert steps[0]["has_sdp"] and steps[1]["layer"] == "dtls"
    front(sig, {"type": "sdp", "i": steps[0]["i"]})
    lines = dict(map(tuple, sent[-1]["lines"]))
    assert "DTLS role" in lines["a=setup:actpass"]
    assert sig.links == [{"id": "A|B|dc|", "label": "ana ↔ ben"}]
    assert peer.peer["data"] == {"doc": {"x": 5}} and peer.peer["counters"]["puts"] == 1
    assert peer.peer["links"] == [{"peer": "ana", "transport": "memory", "state": "open"}]
    hub.close()


def test_show_reuses_the_views_and_adds_new_peers(lab: Lab) -> None:
    a = lab.memory_peer("a")
    first = lab.show()
    assert lab.show() is first and lab.views["mesh"] is first.mesh
    n_views = len(lab.hub.views)
    for _ in range(5):
        lab.show()
    assert len(lab.hub.views) == n_views  # no leak
    b = lab.memory_peer("b")
    assert list(first.peer_views) == [a.pid, b.pid]
    first.mesh.selected_node = b.pid  # a click on b
    assert first.tabs.selected_index == 3  # tabs: signalling, WebRTC links, a, b
    first.mesh.selected_edge = f"{a.pid}|{b.pid}"  # a click on the link
    assert first.flow.filters["pair"] == [a.pid, b.pid]


def test_views_exist_before_show_and_close_with_the_lab() -> None:
    lab = Lab(relay=False)
    assert lab.views == {}
    mesh = lab.mesh_view()
    assert lab.views == {"mesh": mesh}
    lab.close()
    assert lab.hub.closed
    with pytest.raises(GunError, match="closed"):
        lab.memory_peer("late")


def test_replay_moves_every_view_in_time(lab: Lab, tmp_path: Path) -> None:
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    mids = [a.put(f"doc{i}", {"n": i}) for i in range(5)]
    wait_rows(lab, lambda rows: sum(r.kind == "put" and r.mark == "heard" for r in rows) == 5)
    path = lab.save_trace(tmp_path / "trace.jsonl.gz")
    assert path.suffix == ".gz"
    replay = Lab.open_trace(path)
    board = replay.show()
    flow, mesh = replay.flow_view(), replay.mesh_view()
    assert board.flow is flow and [x.label for x in flow.rows] == [
        x.label for x in lab.flow_view().rows
    ]
    assert sorted(mesh.labels()) == ["a", "b"]  # names travel with the trace
    assert replay.fate(mids[2]).heard_by == ("b",)
    slider = replay.slider()
    sent = record(flow)
    front(flow, {"type": "hello"})
    slider.t = 0.0  # back to the beginning: nothing had happened yet
    assert len(flow.rows) <= 1 and sent[-1]["type"] == "reset"
    slider.t = replay.duration
    assert len(flow.rows) == len(lab.flow_view().rows)


def test_a_hundred_thousand_rows_stay_addressable() -> None:
    d = Directory({"A": "a", "B": "b"})
    hub = ViewHub(d, row_cap=100_000)
    flow = FlowView(hub)
    sent = record(flow)
    hub.pause()  # the pump would apply part of the feed on its own: positions would then be
    # counted from a row trimmed since, not from the first kept one this test reads by
    hub.feed(trace.Link(0.0, "A", "b1", pid="B", transport="memory"))
    for i in range(130_000):
        hub.feed(
            trace.Said(
                i * 1e-4, "A", "b1", msg={"#": f"m{i}", "put": {"s": {}}}, transport="memory"
            )
        )
    hub.resume()
    hub.refresh()
    front(flow, {"type": "hello"})
    assert flow.total == 130_000 and flow.kept <= 110_000
    reset = sent[-1]
    assert reset["count"] == hub.fate.kept and reset["base"] == 0
    front(flow, {"type": "rows", "req": 1, "from": reset["count"] - 3, "to": reset["count"]})
    assert [r[6] for r in sent[-1]["rows"]] == ["m129997", "m129998", "m129999"]
    # older rows go: positions stay tied to the same rows, base says how many went
    hub.pause()
    for i in range(130_000, 150_000):
        hub.feed(
            trace.Said(
                i * 1e-4, "A", "b1", msg={"#": f"m{i}", "put": {"s": {}}}, transport="memory"
            )
        )
    hub.resume()
    hub.refresh()
    tick = [m for m in sent if m["type"] == "tick"][-1]
    assert tick["base"] > 0 and tick["total"] == 150_000
    front(flow, {"type": "rows", "req": 2, "from": reset["count"] - 1, "to": reset["count"]})
    assert [r[6] for r in sent[-1]["rows"]] == ["m129999"]
    hub.close()


def test_static_exports(lab: Lab) -> None:
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    a.put("doc", {"x": 1})
    wait_rows(lab, lambda rows: any(r.kind == "put" for r in rows))
    assert lab.mesh_view().to_png()[:4] == b"\x89PNG"
    assert "<svg" in lab.mesh_view().to_svg()
    assert lab.flow_view().to_png()[:4] == b"\x89PNG"
    mermaid = lab.flow_view().mermaid()
    assert mermaid.startswith("sequenceDiagram") and "p_a->>p_b: put doc" in mermaid


def test_blocking_twin_refuses_the_runtime_thread() -> None:
    rt = get_runtime()

    async def inner() -> None:
        async def nothing() -> None:
            return None

        with pytest.raises(GunError, match="runtime thread"):
            rt.run_sync(nothing())

    rt.run_sync(inner())


def test_mesh_view_is_a_widget_with_its_module_inside_the_package() -> None:
    hub = ViewHub()
    view = MeshView(hub)
    esm = str(view._esm)
    assert "export default" in esm
    # nothing is fetched at run time: no module imported from a URL, no CDN
    assert 'from "http' not in esm and "from 'http" not in esm and "import(" not in esm
    assert "cdn" not in esm.lower()
    # the shared helpers are inlined: a module given as text cannot import a sibling file
    assert 'from "./common.js"' not in esm and "function errorBanner" in esm
    hub.close()


def test_a_hidden_peer_view_sends_nothing_until_shown() -> None:
    from gunrtc_kit.lab.views import PeerView

    hub = ViewHub(Directory({"B": "ben"}))
    peer = PeerView(hub, "B", name="ben")
    hub.step()
    front(peer, {"type": "visible", "on": False})  # its tab is not the chosen one
    hub.feed(trace.Put(1.0, "B", msg_id="m", changes={"doc": ["x"]}, values={"doc": {"x": 1}}))
    hub.step()
    peer._last = 0.0  # the throttle is not what holds it back
    hub.step()
    assert peer.peer["data"] == {}
    front(peer, {"type": "visible", "on": True})  # shown: fresh at once
    assert peer.peer["data"] == {"doc": {"x": 1}}
    hub.close()
