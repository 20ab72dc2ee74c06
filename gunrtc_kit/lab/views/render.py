"""Drawing the models with matplotlib's object API into PNG bytes (no pyplot, no global state).

Each call makes its own ``Figure`` on an Agg canvas and lets it go, so a long kernel session
does not accumulate figures, and drawing can happen on any thread.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from gunrtc_kit.lab.views.layout import Pos
from gunrtc_kit.lab.views.model import FlowRow

__all__ = ["TRANSPORT_COLOURS", "render_flow", "render_mesh"]

TRANSPORT_COLOURS = {"ws": "#1f77b4", "dc": "#2ca02c", "memory": "#ff7f0e", "?": "#7f7f7f"}
KIND_COLOURS = {
    "put": "#2ca02c",
    "get": "#1f77b4",
    "ack": "#7f7f7f",
    "reply": "#9467bd",
    "rtc": "#d62728",
    "dam": "#8c564b",
}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)  # type: ignore[no-untyped-call]
    return buf.getvalue()


def render_mesh(graph: Any, pos: Pos, title: str = "") -> bytes:
    """Links as one line collection per style, peers as one scatter: cheap for 55+ peers."""
    fig = Figure(figsize=(5.5, 4.2), dpi=80)
    ax = fig.add_subplot()
    ax.set_axis_off()
    segments: list[Any] = []
    colours: list[str] = []
    widths: list[float] = []
    styles: list[str] = []
    for a, b, d in graph.edges(data=True):
        segments.append([pos[a], pos[b]])
        closed = d.get("state") == "closed"
        colours.append(
            "#cccccc" if closed else TRANSPORT_COLOURS.get(d.get("transport", "?"), "#7f7f7f")
        )
        widths.append(1 + min(d.get("count", 0), 200) / 50)
        styles.append(":" if closed or d.get("state") not in ("open", None) else "-")
        if d.get("count") and graph.number_of_edges() <= 60:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            ax.text(
                (x1 + x2) / 2,
                (y1 + y2) / 2,
                str(d["count"]),
                fontsize=7,
                color="#333333",
                ha="center",
                va="center",
                zorder=3,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
            )
    if segments:
        ax.add_collection(
            LineCollection(segments, colors=colours, linewidths=widths, linestyles=styles, zorder=1)
        )
    if graph.number_of_nodes():
        xs = [pos[n][0] for n in graph.nodes]
        ys = [pos[n][1] for n in graph.nodes]
        big = graph.number_of_nodes() <= 20
        ax.scatter(xs, ys, s=500 if big else 60, color="#fdfdfd", edgecolors="#333333", zorder=2)
        for n, d in graph.nodes(data=True):
            x, y = pos[n]
            ax.text(
                x,
                y if big else y + 0.06,
                str(d.get("label", n))[:10],
                fontsize=8 if big else 6,
                ha="center",
                va="center",
                zorder=4,
            )
    for i, (t, c) in enumerate(TRANSPORT_COLOURS.items()):
        if t != "?":
            ax.text(
                0.01,
                0.97 - i * 0.05,
                f"— {t}",
                color=c,
                transform=ax.transAxes,
                fontsize=8,
                va="top",
            )
    if title:
        ax.set_title(title, fontsize=9)
    ax.autoscale()
    ax.margins(0.15)
    return _png(fig)


def render_flow(rows: list[FlowRow], lifelines: list[str], title: str = "") -> bytes:
    """A sequence diagram: one lifeline per peer, one arrow per message, time downwards."""
    height = max(3.0, min(12.0, 1.0 + 0.18 * len(rows)))
    fig = Figure(figsize=(6.5, height), dpi=80)
    ax = fig.add_subplot()
    ax.set_axis_off()
    xs = {name: i for i, name in enumerate(lifelines)}
    n = max(len(rows), 1)
    ax.vlines(list(xs.values()), 0, n + 1, colors="#bbbbbb", linewidth=1, zorder=1)
    for name, x in xs.items():
        ax.text(x, -0.4, name[:12], ha="center", va="bottom", fontsize=8)
    segments: list[Any] = []
    colours: list[str] = []
    styles: list[str] = []
    heads_x: list[float] = []
    heads_y: list[float] = []
    heads_c: list[str] = []
    heads_m: list[str] = []
    for i, r in enumerate(rows, 1):
        if r.src not in xs or r.dst not in xs:
            continue
        x1, x2 = xs[r.src], xs[r.dst]
        colour = KIND_COLOURS.get(r.kind.split(":")[0], "#333333")
        segments.append([(x1, i), (x2, i)])
        colours.append(colour)
        styles.append("--" if r.transport == "dc" else "-")
        heads_x.append(x2)
        heads_y.append(i)
        heads_c.append(colour)
        heads_m.append(">" if x2 > x1 else "<")
        ax.text(
            (x1 + x2) / 2,
            i - 0.15,
            r.kind + (f" {r.souls[0][:14]}" if r.souls else ""),
            ha="center",
            va="bottom",
            fontsize=6,
            color=colour,
        )
    if segments:
        ax.add_collection(
            LineCollection(segments, colors=colours, linestyles=styles, linewidths=1, zorder=2)
        )
        for marker in (">", "<"):
            idx = [k for k, m in enumerate(heads_m) if m == marker]
            if idx:
                ax.scatter(
                    [heads_x[k] for k in idx],
                    [heads_y[k] for k in idx],
                    marker=marker,
                    c=[heads_c[k] for k in idx],
                    s=18,
                    zorder=3,
                )
    ax.set_xlim(-0.7, max(len(lifelines) - 0.3, 0.7))
    ax.set_ylim(n + 1, -1)
    if title:
        ax.set_title(title, fontsize=9)
    return _png(fig)
