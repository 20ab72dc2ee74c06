"""Every teaching notebook runs top to bottom in a fresh kernel, headless; each holds its text
up with assertions on what its cells printed and its widgets hold (graph nodes and edges, flow
rows), so a Run All that contradicts the text fails here."""

from __future__ import annotations

import contextlib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.lab.binder_nb_driver import shows_a_view  # one rule, here and in Binder
from tests.lab.headless_tabs import headless_tabs
from tests.netns import require_loopback_only

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_eleven_notebooks() -> None:
    assert [n.name[:2] for n in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 12)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_loopback_only()  # WebRTC and relays: loopback only
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    with contextlib.ExitStack() as stack:
        if path.name[:2] in ("09", "10"):  # their tabs open in headless chromium (tab.open())
            for key, value in stack.enter_context(headless_tabs(tmp_path / "tabs")).items():
                monkeypatch.setenv(key, value)
        client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    shown = [o for c in nb.cells for o in c.get("outputs", []) if shows_a_view(o)]
    assert shown, "the notebook shows at least one widget (or a view its Lab closed)"


def test_shows_a_view_counts_widgets_and_closed_notes_only() -> None:
    widget = {"data": {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}}}
    closed = {"data": {"text/html": "<div class='gk-closed'><i>closed</i></div>"}}
    text = {"data": {"text/plain": "gk-closed", "text/html": "<pre>a report</pre>"}}
    assert shows_a_view(widget) and shows_a_view(closed)
    assert not shows_a_view(text) and not shows_a_view({"output_type": "stream", "text": "x"})
