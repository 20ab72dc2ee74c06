"""What the views show, computed from trace events alone (no widgets, no plotting).

The same models serve a live Lab and a trace loaded from JSONL, and tests assert on them.
Peers are named by pid; a mesh peer id (a relay URL, a socket's random id) is mapped to the
pid that the ``?`` exchange revealed (``Hi`` events carry it), so both ends of one link name
the same two nodes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from gunrtc_kit import trace

__all__ = ["FlowModel", "FlowRow", "MeshModel", "SignalingModel", "kind_of", "souls_of"]


def kind_of(msg: dict[str, Any]) -> str:
    """A short name for a DAM message: put, get, ack, reply, rtc, dam:?, ..."""
    ok = msg.get("ok")
    if isinstance(ok, dict) and isinstance(ok.get("rtc"), dict):
        rtc = ok["rtc"]
        for step in ("offer", "answer", "candidate"):
            if step in rtc:
                return f"rtc:{step}"
        return "rtc"
    if "dam" in msg:
        return f"dam:{msg['dam']}"
    if "@" in msg:
        return "reply" if "put" in msg else "ack"
    if "put" in msg:
        return "put"
    if "get" in msg:
        return "get"
    return "other"


def souls_of(msg: dict[str, Any]) -> list[str]:
    put = msg.get("put")
    if isinstance(put, dict):
        return [s for s in put if isinstance(s, str)]
    get = msg.get("get")
    if isinstance(get, dict) and isinstance(get.get("#"), str):
        return [get["#"]]
    return []


class _PidMap:
    """(node pid, mesh peer id) -> remote pid, learned from Hi events."""

    def __init__(self) -> None:
        self.map: dict[tuple[str, str], str] = {}

    def learn(self, e: trace.Event) -> None:
        if isinstance(e, trace.Hi) and e.pid:
            self.map[(e.node, e.peer)] = e.pid

    def pid(self, node: str, peer: str) -> str:
        return self.map.get((node, peer), peer)


@dataclass
class MeshModel:
    """The live mesh: a node per peer, an edge per link (transport, state, message count)."""

    names: dict[str, str] = field(default_factory=dict)
    graph: nx.Graph = field(default_factory=nx.Graph)
    _pids: _PidMap = field(default_factory=_PidMap)

    def apply(self, e: trace.Event) -> None:
        self._pids.learn(e)
        if e.node and e.node not in self.graph:
            self.graph.add_node(e.node, label=self.names.get(e.node, e.node), said=0, heard=0)
        if isinstance(e, trace.Hi):
            other = self._pids.pid(e.node, e.peer)
            if e.pid and e.peer != e.pid and self.graph.has_edge(e.node, e.peer):
                # the link was drawn to the mesh id before the pid was known: move it
                data = dict(self.graph.edges[e.node, e.peer])
                self.graph.remove_edge(e.node, e.peer)
                if self.graph.degree(e.peer) == 0 and e.peer not in self.names:
                    self.graph.remove_node(e.peer)
                self._edge(e.node, other, **data)
            self._edge(e.node, other, transport=e.transport or "?", state="open")
        elif isinstance(e, trace.Bye):
            other = self._pids.pid(e.node, e.peer)
            if self.graph.has_edge(e.node, other):
                self.graph.edges[e.node, other]["state"] = "closed"
        elif isinstance(e, trace.RtcState):
            if e.peer and e.node:
                state = {"connected": "connecting", "open": "open"}.get(e.state, e.state)
                if (
                    state in ("new", "connecting", "checking")
                    or not self.graph.has_edge(e.node, e.peer)
                    or self.graph.edges[e.node, e.peer].get("transport") == "dc"
                ):
                    self._edge(e.node, e.peer, transport="dc", state=state)
        elif isinstance(e, trace.Said | trace.Heard):
            other = self._pids.pid(e.node, e.peer)
            self.graph.nodes[e.node]["said" if isinstance(e, trace.Said) else "heard"] += 1
            if isinstance(e, trace.Said):
                if not self.graph.has_edge(e.node, other):
                    self._edge(e.node, other, transport=e.transport or "?", state="open")
                edge = self.graph.edges[e.node, other]
                edge["count"] = edge.get("count", 0) + 1
                if e.transport == "dc":
                    edge["dc_count"] = edge.get("dc_count", 0) + 1

    def _edge(self, a: str, b: str, **attrs: Any) -> None:
        for n in (a, b):
            if n not in self.graph:
                self.graph.add_node(n, label=self.names.get(n, n), said=0, heard=0)
        if self.graph.has_edge(a, b):
            self.graph.edges[a, b].update(attrs)
        else:
            self.graph.add_edge(a, b, **{"count": 0, **attrs})

    def rename(self, pid: str, name: str) -> None:
        self.names[pid] = name
        if pid in self.graph:
            self.graph.nodes[pid]["label"] = name

    def links(self) -> list[tuple[str, str, str, str, int]]:
        """(a, b, transport, state, messages) by label, for tables and tests."""
        out = []
        for a, b, d in self.graph.edges(data=True):
            la, lb = self.graph.nodes[a]["label"], self.graph.nodes[b]["label"]
            out.append((la, lb, d.get("transport", "?"), d.get("state", "?"), d.get("count", 0)))
        return sorted(out)


@dataclass(frozen=True)
class FlowRow:
    t: float
    src: str
    dst: str
    kind: str
    msg_id: str
    souls: tuple[str, ...]
    transport: str
    msg: dict[str, Any]


@dataclass
class FlowModel:
    """Messages as they were said, one row per (sender, receiver, message). Receivers are
    resolved to pids (and Lab names) when rows are read, so a message said before the ``?``
    exchange named the other side still lands on the right lifeline."""

    names: dict[str, str] = field(default_factory=dict)
    limit: int = 5000
    _said: list[trace.Said] = field(default_factory=list)
    _pids: _PidMap = field(default_factory=_PidMap)
    t0: float | None = None

    def apply(self, e: trace.Event) -> None:
        self._pids.learn(e)
        if not isinstance(e, trace.Said):
            return
        if self.t0 is None:
            self.t0 = e.t
        self._said.append(e)
        if len(self._said) > self.limit:
            del self._said[: len(self._said) - self.limit]

    def _name(self, pid: str) -> str:
        return self.names.get(pid, pid)

    @property
    def rows(self) -> list[FlowRow]:
        t0 = self.t0 or 0.0
        return [
            FlowRow(
                t=e.t - t0,
                src=self._name(e.node),
                dst=self._name(self._pids.pid(e.node, e.peer)),
                kind=kind_of(e.msg),
                msg_id=str(e.msg.get("#", "")),
                souls=tuple(souls_of(e.msg)),
                transport=e.transport,
                msg=e.msg,
            )
            for e in self._said
        ]

    def filtered(
        self, peer: str | None = None, kind: str | None = None, soul: str | None = None
    ) -> list[FlowRow]:
        out = []
        for r in self.rows:
            if peer and peer not in (r.src, r.dst):
                continue
            if kind and not r.kind.startswith(kind):
                continue
            if soul and not any(s.startswith(soul) for s in r.souls):
                continue
            out.append(r)
        return out

    def mermaid(self, rows: Iterable[FlowRow] | None = None) -> str:
        """The flow as a Mermaid sequence diagram (dashed async arrows: over a data channel)."""
        rows = list(self.rows if rows is None else rows)
        parts: list[str] = []
        for r in rows:
            for p in (r.src, r.dst):
                if p not in parts:
                    parts.append(p)
        lines = ["sequenceDiagram"]
        lines += [f"    participant {_mid(p)} as {p}" for p in parts]
        for r in rows:
            label = r.kind + (f" {r.souls[0]}" if r.souls else "") + f" #{r.msg_id}"
            arrow = "--)" if r.transport == "dc" else "->>"
            lines.append(f"    {_mid(r.src)}{arrow}{_mid(r.dst)}: {label.replace(';', ',')}")
        return "\n".join(lines) + "\n"


def _mid(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else "_" for c in name)


@dataclass
class SignalingModel:
    """Offer, answer and candidates of WebRTC links, as they pass."""

    names: dict[str, str] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, e: trace.Event) -> None:
        if isinstance(e, trace.RtcSignal):
            data = e.data
            sdp = data.get("sdp") if isinstance(data, dict) else None
            cand = data.get("candidate") if isinstance(data, dict) else None
            self.steps.append(
                {
                    "t": e.t,
                    "node": self.names.get(e.node, e.node),
                    "peer": self.names.get(e.peer, e.peer),
                    "step": e.step,
                    "direction": e.direction,
                    "text": sdp
                    if isinstance(sdp, str)
                    else cand
                    if isinstance(cand, str)
                    else repr(data),
                }
            )
        elif isinstance(e, trace.RtcState):
            self.steps.append(
                {
                    "t": e.t,
                    "node": self.names.get(e.node, e.node),
                    "peer": self.names.get(e.peer, e.peer),
                    "step": "state",
                    "direction": "",
                    "text": e.state,
                }
            )

    def for_link(self, a: str, b: str) -> list[dict[str, Any]]:
        return [s for s in self.steps if {s["node"], s["peer"]} == {a, b}]
