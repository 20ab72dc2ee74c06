"""Static pictures of the views with matplotlib's object API (no pyplot, no global state):
for reports, papers and nbconvert, where no browser runs the live views.

Each call makes its own ``Figure`` on an Agg (or SVG) canvas and lets it go, so exporting in
a long session accumulates nothing. Colours match the live views (docs/views.md).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path

from gunrtc_kit.diagnose.fate import Row
from gunrtc_kit.lab.views.layout import Wire, wire_curves

__all__ = ["KIND_COLOURS", "TRANSPORT_COLOURS", "flow_figure", "mesh_figure", "to_png", "to_svg"]

TRANSPORT_COLOURS = {"ws": "#3b82f6", "dc": "#16a34a", "memory": "#f59e0b", "?": "#9ca3af"}
KIND_COLOURS = {
    "put": "#16a34a",
    "get": "#2563eb",
    "ack": "#6b7280",
    "reply": "#9333ea",
    "rtc": "#dc2626",
    "dam": "#a16207",
}


def to_png(fig: Figure, dpi: int = 144) -> bytes:
    """The figure as PNG bytes at ``dpi``."""
    buf = io.BytesIO()
    fig.set_dpi(dpi)
    FigureCanvasAgg(fig).print_png(buf)  # type: ignore[no-untyped-call]
    return buf.getvalue()


def to_svg(fig: Figure) -> str:
    """The figure as SVG text."""
    buf = io.BytesIO()
    FigureCanvasSVG(fig).print_svg(buf)  # type: ignore[no-untyped-call]
    return buf.getvalue().decode("utf-8")


def _wire_style(e: dict[str, Any]) -> tuple[str, float, Any]:
    """(colour, width, line style) of one wire, as the live view draws it."""
    closed = e["state"] in ("closed", "failed")
    width = min(1.2 + (e.get("rate") or 0) ** 0.5, 6)
    if e.get("partitioned"):
        return "#dc2626", width, (0, (5, 2))
    colour = "#d1d5db" if closed else TRANSPORT_COLOURS.get(e["transport"], "#9ca3af")
    return colour, width, "dotted" if closed else "dashed" if e["state"] != "open" else "solid"


def _stopped(nodes: dict[str, Any], edges: Sequence[dict[str, Any]]) -> set[str]:
    """Relays that have wires and every one of them closed: drawn as stopped."""
    states: dict[str, list[str]] = {}
    for e in edges:
        for end in (e["a"], e["b"]):
            states.setdefault(end, []).append(e["state"])
    return {
        n
        for n, d in nodes.items()
        if d.get("role") == "relay"
        and states.get(n)
        and all(s in ("closed", "failed") for s in states[n])
    }


def _draw_wires(ax: Any, nodes: dict[str, Any], edges: Sequence[dict[str, Any]]) -> None:
    """Each wire as its own arc (parallel wires apart, bent around nodes), as the live view."""
    # in the view's own frame (y down), as the browser draws them, then flipped for the axes
    pos = {n: (float(d["x"]), float(d["y"])) for n, d in nodes.items()}
    wires = [
        Wire(str(e["id"]), e["a"], e["b"], str(e.get("transport") or "?"), str(e.get("tag") or ""))
        for e in edges
    ]
    curves = wire_curves(pos, wires)
    for e in edges:
        c = curves.get(str(e["id"]))
        if c is None:
            continue
        colour, width, style = _wire_style(e)
        path = Path(
            [(c.x0, -c.y0), (c.cx, -c.cy), (c.x1, -c.y1)],
            [Path.MOVETO, Path.CURVE3, Path.CURVE3],
        )
        ax.add_patch(
            PathPatch(
                path,
                facecolor="none",
                edgecolor=colour,
                linewidth=width,
                linestyle=style,
                gid=f"wire:{e['id']}",
            )
        )


def mesh_figure(state: dict[str, Any]) -> Figure:
    """The mesh (a view's ``snapshot``-shaped dict) with names, wires and a legend beside.
    Each wire is its own arc, as in the live view: a partitioned memory wire shows red
    beside an open dc between the same two peers. ``state["closed"]`` titles it closed."""
    nodes = {n["id"]: n for n in state.get("nodes", [])}
    edges = [e for e in state.get("edges", []) if e["a"] in nodes and e["b"] in nodes]
    fig = Figure(figsize=(7.5, 6))
    ax = fig.add_axes((0.02, 0.02, 0.72, 0.96))
    ax.set_axis_off()
    ax.set_aspect("equal")
    _draw_wires(ax, nodes, edges)
    stopped = _stopped(nodes, edges)
    for n in nodes.values():
        relay = n["role"] in ("relay", "external")
        grey = n["id"] in stopped
        ax.scatter(
            [n["x"]],
            [-n["y"]],
            s=260 if relay else 150,
            marker="s" if relay else "o",
            color="#9ca3af" if grey else "#111827" if relay else "#ffffff",
            edgecolors="#9ca3af" if grey else "#111827",
            zorder=3,
        )
        ax.annotate(
            f"{n['label']} (stopped)" if grey else n["label"],
            (n["x"], -n["y"]),
            xytext=(0, -14),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=9,
            color="#6b7280" if grey else "#111827",
        )
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    legend = fig.add_axes((0.76, 0.55, 0.22, 0.4))
    legend.set_axis_off()
    for i, (name, colour) in enumerate(TRANSPORT_COLOURS.items()):
        legend.plot([0, 0.3], [1 - i * 0.15] * 2, color=colour, linewidth=2.5)
        legend.text(0.38, 1 - i * 0.15, name, va="center", fontsize=9)
    legend.set_xlim(0, 1.2)
    legend.set_ylim(0.2, 1.1)
    stats = state.get("stats") or {}
    text = f"{stats.get('peers', len(nodes))} peers\n{stats.get('links', 0)} open links"
    if state.get("closed"):
        text += "\nLab closed"
    fig.text(0.76, 0.45, text, fontsize=9, va="top")
    return fig


MARK_SYMBOL = {"heard": ">", "heard-only": ">", "sent": "4", "dup": "x", "lost": "X"}


def flow_figure(rows: Sequence[Row]) -> Figure:
    """Rows as a sequence diagram: lifelines left to right, newest at the bottom."""
    lanes: list[str] = []
    for r in rows:
        for p in (r.src, r.dst):
            if p not in lanes:
                lanes.append(p)
    height = 1.2 + 0.28 * max(len(rows), 1)
    fig = Figure(figsize=(max(4.0, 1.6 * len(lanes) + 2.5), height))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    ax.set_axis_off()
    xs = {name: i for i, name in enumerate(lanes)}
    n = max(len(rows), 1)
    ax.vlines(list(xs.values()), 0, n + 0.5, colors="#d1d5db", linewidth=1, zorder=1)
    for name, x in xs.items():
        ax.text(x, -0.3, name, ha="center", va="bottom", fontsize=9, weight="bold")
    segs: list[Any] = []
    colours: list[str] = []
    styles: list[str] = []
    for i, r in enumerate(rows, 1):
        x1, x2 = xs[r.src], xs[r.dst]
        colour = KIND_COLOURS.get(r.kind.split(":")[0], "#374151")
        end = (x1 + x2) / 2 if r.mark == "lost" else x2
        segs.append([(x1, i), (end, i)])
        colours.append(colour)
        styles.append("--" if r.transport == "dc" else "-")
        marker = MARK_SYMBOL.get(r.mark, ">")
        if marker == ">" and x2 < x1:
            marker = "<"
        ax.scatter(
            [end],
            [i],
            marker=marker,
            color="#dc2626" if r.mark == "lost" else colour,
            s=30,
            zorder=3,
        )
        ax.text(
            (x1 + x2) / 2,
            i - 0.12,
            f"{r.kind} {r.label}".strip(),
            ha="center",
            va="bottom",
            fontsize=7,
            color=colour,
        )
    if segs:
        ax.add_collection(LineCollection(segs, colors=colours, linestyles=styles, linewidths=1.2))
    ax.set_xlim(-0.8, max(len(lanes) - 0.2, 0.8))
    ax.set_ylim(n + 0.8, -0.8)
    return fig
