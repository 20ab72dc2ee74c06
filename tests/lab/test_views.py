"""The views' models, layout and exports, on in-memory peers (no WebRTC), and the promise
that ``import gunrtc_kit`` loads no notebook library."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab, get_runtime
from gunrtc_kit.lab.views import FlowView, MeshView, PeerView
from gunrtc_kit.lab.views.layout import place


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(relay=False)
    yield lab
    lab.close()


def test_import_loads_no_notebook_library() -> None:
    code = (
        "import sys, gunrtc_kit, gunrtc_kit.gun, gunrtc_kit.relay; "
        "bad = [m for m in ('matplotlib', 'ipywidgets', 'networkx', 'nest_asyncio', "
        "'IPython') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_layout_is_stable_and_pure() -> None:
    g = nx.path_graph(["a", "b", "c"])
    first = place(g, None, seed=1)
    assert place(g, None, seed=1) == first
    g.add_edge("c", "d")
    second = place(g, first, seed=1)
    assert all(second[n] == first[n] for n in first) and "d" in second


def test_mesh_and_flow_views_hold_the_mesh(lab: Lab, tmp_path: Path) -> None:
    a, b, c = (lab.memory_peer(n) for n in "abc")
    lab.link_memory(a, b)
    cut = lab.link_memory(b, c)
    time.sleep(0.1)  # the '?' exchange names both ends
    cut.set(loss=1.0)  # then every frame between b and c is lost
    mesh, flow = lab.mesh_view(live=False), lab.flow_view(live=False)
    a.put("news", {"x": 1})
    time.sleep(0.3)
    lab.refresh()
    assert set(d["label"] for _, d in mesh.graph.nodes(data=True)) == {"a", "b", "c"}
    links = {frozenset((x, y)): (t, s) for x, y, t, s, _ in mesh.model.links()}
    assert links[frozenset("ab")] == ("memory", "open")
    assert links[frozenset("bc")] == ("memory", "open")
    puts = [r for r in flow.rows if r.kind == "put"]
    assert ("a", "b") in [(r.src, r.dst) for r in puts] and puts[0].souls == ("news",)
    assert "c" not in b.graph().get("news", {}) and "news" not in c.graph()
    assert cut.dropped >= 1
    flow.kind.value = "put"
    flow.refresh()
    assert flow.rows and all(r.kind == "put" for r in flow.rows)
    flow.pick.value = 0
    assert "&quot;put&quot;" in flow.json.value  # the message's JSON, HTML-escaped
    mermaid = flow.mermaid()
    assert mermaid.startswith("sequenceDiagram") and "p_a->>p_b: put news" in mermaid
    assert mesh.image.value[:4] == b"\x89PNG" and flow.image.value[:4] == b"\x89PNG"
    # the trace saved as JSONL rebuilds the same views, with no peers running
    path = tmp_path / "trace.jsonl"
    assert lab.save_trace(path) == len(lab.bus.history)
    replay = MeshView(events=Lab.load_trace(path), names=lab.names, live=False)
    assert replay.model.links() == mesh.model.links()
    again = FlowView(events=Lab.load_trace(path), names=lab.names, live=False)
    assert len(again.rows) == len(flow.model.rows)


def test_peer_view_and_errors_are_shown(lab: Lab) -> None:
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    a.put("doc", {"t": "x"})
    time.sleep(0.2)
    pv = PeerView(b, lab.bus, names=lab.names, live=False)
    assert "doc" in pv.html.value and "memory a" in pv.html.value
    bad = lab.mesh_view(live=False)
    bad.model.apply = None  # type: ignore[assignment]  # a drawing bug
    bad.feed(trace.Hi(0.0, a.pid, "x"))
    bad.refresh()
    assert "MeshView" in bad.error.value  # shown in the view, not lost


def test_blocking_twin_refuses_the_runtime_thread() -> None:
    rt = get_runtime()

    async def inner() -> None:
        async def nothing() -> None:
            return None

        with pytest.raises(GunError, match="runtime thread"):
            rt.run(nothing())

    rt.run(inner())
