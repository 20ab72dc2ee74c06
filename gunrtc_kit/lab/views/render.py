"""Drawing the models with matplotlib's object API into PNG bytes (no pyplot, no global state).

Each call makes its own ``Figure`` on an Agg canvas and lets it go, so a long kernel session
does not accumulate figures, and drawing can happen on any thread.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
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
    fig = Figure(figsize=(5.5, 4.2), dpi=80)
    ax = fig.add_subplot()
    ax.set_axis_off()
    for a, b, d in graph.edges(data=True):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        closed = d.get("state") == "closed"
        colour = TRANSPORT_COLOURS.get(d.get("transport", "?"), "#7f7f7f")
        ax.plot(
            [x1, x2],
            [y1, y2],
            color="#cccccc" if closed else colour,
            linestyle=":" if closed or d.get("state") not in ("open", None) else "-",
            linewidth=1 + min(d.get("count", 0), 200) / 50,
            zorder=1,
        )
        if d.get("count"):
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
    for n, d in graph.nodes(data=True):
        x, y = pos[n]
        ax.scatter([x], [y], s=500, color="#fdfdfd", edgecolors="#333333", zorder=2)
        ax.text(x, y, str(d.get("label", n))[:10], fontsize=8, ha="center", va="center", zorder=4)
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
    for name, x in xs.items():
        ax.plot([x, x], [0, n + 1], color="#bbbbbb", linewidth=1, zorder=1)
        ax.text(x, -0.4, name[:12], ha="center", va="bottom", fontsize=8)
    for i, r in enumerate(rows, 1):
        if r.src not in xs or r.dst not in xs:
            continue
        x1, x2 = xs[r.src], xs[r.dst]
        colour = KIND_COLOURS.get(r.kind.split(":")[0], "#333333")
        ax.annotate(
            "",
            xy=(x2, i),
            xytext=(x1, i),
            arrowprops={
                "arrowstyle": "->",
                "color": colour,
                "linestyle": "--" if r.transport == "dc" else "-",
            },
        )
        ax.text(
            (x1 + x2) / 2,
            i - 0.15,
            r.kind + (f" {r.souls[0][:14]}" if r.souls else ""),
            ha="center",
            va="bottom",
            fontsize=6,
            color=colour,
        )
    ax.set_xlim(-0.7, max(len(lifelines) - 0.3, 0.7))
    ax.set_ylim(n + 1, -1)
    if title:
        ax.set_title(title, fontsize=9)
    return _png(fig)
