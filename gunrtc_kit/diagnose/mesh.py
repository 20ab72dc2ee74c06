"""The mesh as the trace shows it: a node per peer, an edge per wire, with what each carried.

An edge is a *wire*, not a pair of peers: two peers may share several at once (a WebSocket, a
WebRTC data channel, one or more memory wires), each with its own state, faults and traffic, and
each is drawn and counted apart (``edge_id`` names one by its ends, transport and tag; see
``diagnose.wires``).

Nodes are *entities* of a ``Directory``: a traced peer's pid, or the pid (or URL) of a remote
side whose identity the trace established (``Hi`` with a pid, a ``Link`` naming the far end,
a WebRTC pid). An id nobody has explained yet is never drawn: its link waits in ``pending``
until the directory resolves it, so a half-finished ``?`` exchange cannot invent a peer.

Edges carry transport, state (``open``, ``connecting``, ``closed``, ``failed``), messages
carried, frames lost, the faults of a memory wire (latency, jitter, loss, partitioned) and a
message rate sampled on the events' own clock (so a replay shows the same rates).
``partitions()`` counts groups of peers that can reach each other over open, unpartitioned
links. ``pulses`` lists messages crossing edges since the last ``take_pulses`` (capped).

A tap's wires (``trace.Tapped``, one per frame it forwarded): their messages are counted, and
pulse, from the ``Said`` the tap gives each message (never from a ``Heard``: a tap cannot see
one, and none is made up); ``Tapped`` marks the wire ``tapped`` (the tap's name) and counts a
frame it could not deliver as lost on the wire: each of its messages (those a ``Dropped`` of a
wire cause counted already, once), or the frame itself when it held none (a heartbeat).

Step mode (``trace.Held``/``trace.Released``): each held frame is a ``HeldToken`` on the wire
it waits on (by the wire's tag: two memory wires of one pair keep their own), from its
``held`` to its ``released``, or until the wire closes; ``EdgeState.held`` counts them and
``held_version`` moves on every change, so a view sends the tokens only when they changed.

Views read ``changed_nodes``/``changed_edges`` to send only what changed. Pure: no clock, no
asyncio, no widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.diagnose.messages import RTC_PREFIX, kind_of, souls_of
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.wires import WireBook

__all__ = ["EdgeState", "HeldToken", "MeshModel", "NodeState", "edge_id", "pair_of"]

PULSE_CAP = 200  # pulses kept between two takes (extra ones are counted, not kept)
MAX_NODES = 5_000  # a remote side can invent pids: past this, new peers are counted, not drawn
MAX_EDGES = 50_000
MAX_HELD = 10_000  # held frames drawn at most (as many as a Lab's hold keeps)


def edge_id(a: str, b: str, transport: str = "?", tag: str = "") -> str:
    """The id of one wire between two entities, the same whichever end names it:
    ``"<a>|<b>|<transport>|<tag>"`` with ``a <= b``."""
    lo, hi = (a, b) if a <= b else (b, a)
    return f"{lo}|{hi}|{transport or '?'}|{tag}"


def pair_of(eid: str) -> tuple[str, str]:
    """The two entities an edge id joins (sorted)."""
    a, b, _ = eid.split("|", 2)
    return a, b


@dataclass(slots=True)
class NodeState:
    """One peer and its counters (as the trace reports them)."""

    id: str
    traced: bool = False
    said: int = 0
    heard: int = 0
    dropped: int = 0
    lost: int = 0
    errors: int = 0
    puts: int = 0


@dataclass(slots=True)
class EdgeState:
    """One wire between two peers (``tag`` tells apart wires of one transport)."""

    id: str
    a: str
    b: str
    transport: str = "?"
    tag: str = ""
    state: str = "open"
    count: int = 0
    lost: int = 0
    latency: float | None = None
    jitter: float | None = None
    loss: float | None = None
    partitioned: bool = False
    tapped: str = ""  # the tap that forwards this wire's frames (``tap:host:port``), if any
    rate: float = 0.0
    sampled: int = 0  # count at the last rate sample
    held: int = 0  # frames held on it now (step mode)


@dataclass(frozen=True, slots=True)
class HeldToken:
    """One frame held on a wire (step mode), from its ``Held`` to its ``Released``: its
    ``frame`` name (what ``Lab.deliver`` takes), the ``edge`` it waits on, the entities it
    goes ``src`` -> ``dst``, each message's ``kind`` and ``#``, the frame it copies, when it
    was held (seconds on the model's clock) and whether it carries WebRTC signalling
    (``sig``: an offer, answer or candidate, or a room announcement under ``/RTC/``: what
    the signalling view lists)."""

    frame: str
    edge: str
    src: str
    dst: str
    kinds: tuple[str, ...]
    ids: tuple[str, ...]
    copy_of: str
    t: float
    sig: bool

    def as_dict(self) -> dict[str, Any]:
        """The token as the views' front ends take it."""
        return {
            "frame": self.frame,
            "edge": self.edge,
            "from": self.src,
            "to": self.dst,
            "kinds": list(self.kinds),
            "ids": list(self.ids),
            "copy_of": self.copy_of,
            "t": round(self.t, 3),
            "sig": self.sig,
        }


class MeshModel:
    """Peers and wires, fed one trace event at a time (directory already applied)."""

    def __init__(self, directory: Directory | None = None) -> None:
        self.directory = directory or Directory()
        self.directory.on_resolved.append(self._resolved)
        self.wires = WireBook()
        self.nodes: dict[str, NodeState] = {}
        self.edges: dict[str, EdgeState] = {}
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._said_on: dict[tuple[str, str, str], EdgeState] = {}  # see _said
        self._tap_lost = ("", "", 0)  # (sender, wire, copies) lost since a tap's last frame
        self.changed_nodes: set[str] = set()
        self.changed_edges: set[str] = set()
        self.counted_nodes: set[str] = set()  # only counters moved (views may send less often)
        self.counted_edges: set[str] = set()
        self.pulses: list[tuple[str, str, dict[str, Any]]] = []  # (edge, sayer, message)
        self.pulses_skipped = 0
        self.refused = 0  # peers and links not drawn because of MAX_NODES / MAX_EDGES
        self.held: dict[str, HeldToken] = {}  # frame name -> token, oldest first
        self.held_version = 0
        self.t0: float | None = None
        self.now = 0.0
        self._rate_t = 0.0
        self._on = self._handlers()

    # ------------------------------------------------------------------ building
    def node(self, entity: str, traced: bool = False) -> NodeState | None:
        """The node of ``entity`` (made if new); None when ``MAX_NODES`` refuses it."""
        n = self.nodes.get(entity)
        if n is None:
            if len(self.nodes) >= MAX_NODES:
                self.refused += 1
                return None
            n = self.nodes[entity] = NodeState(entity, traced)
            self.directory.lane(entity)
            self.changed_nodes.add(entity)
        elif traced and not n.traced:
            n.traced = True
            self.changed_nodes.add(entity)
        return n

    def edge(
        self, a: str, b: str, transport: str = "?", tag: str = "", **attrs: Any
    ) -> EdgeState | None:
        """The wire between ``a`` and ``b`` of ``transport`` and ``tag`` (made if new), with
        ``attrs`` set on it; None when the bounds refuse it."""
        eid = edge_id(a, b, transport, tag)
        e = self.edges.get(eid)
        if e is None:
            if len(self.edges) >= MAX_EDGES or self.node(a) is None or self.node(b) is None:
                self.refused += 1
                return None
            lo, hi = (a, b) if a <= b else (b, a)
            e = self.edges[eid] = EdgeState(eid, lo, hi, transport or "?", tag)
            self.changed_edges.add(eid)
        for k, v in attrs.items():
            if getattr(e, k) != v:
                setattr(e, k, v)
                self.changed_edges.add(eid)
        if e.held and e.state in ("closed", "failed"):
            self._forget_held(e)  # a closed wire's held frames are gone with it
        return e

    def wire_of(self, node: str, peer: str, transport: str) -> EdgeState | None:
        """The wire ``node`` calls ``peer`` (of ``transport``), if it is drawn."""
        other = self.directory.resolve(node, peer)
        if not other:
            return None
        tag = self.wires.tag(node, peer)
        if transport:
            return self.edges.get(edge_id(node, other, transport, tag))
        # an event that does not name its transport (an older trace): the pair's wire with
        # that tag, when there is just one
        prefix = edge_id(node, other, "", "").rsplit("|", 2)[0] + "|"
        found = [e for k, e in self.edges.items() if k.startswith(prefix) and e.tag == tag]
        return found[0] if len(found) == 1 else None

    # ------------------------------------------------------------------ events
    def apply(self, e: trace.Event) -> None:
        """Apply one trace event (the directory has already seen it). Runs once per event
        of a live mesh: one lookup by the event's type picks its handler."""
        t0 = self.t0
        if t0 is None:
            t0 = self.t0 = e.t
        t = e.t - t0
        if t > self.now:
            self.now = t
        node = e.node
        if not node:
            return
        n = self.nodes.get(node)
        if n is None or not n.traced:
            n = self.node(node, traced=True)
            if n is None:
                return  # past MAX_NODES: counted in ``refused``
        handler = self._on.get(type(e))
        if handler is not None:
            handler(e, n)

    def _handlers(self) -> dict[type, Callable[[Any, NodeState], None]]:
        return {
            trace.Said: self._said,
            trace.Heard: self._heard,
            trace.Dropped: self._dropped,
            trace.Put: self._put,
            trace.Error: self._error,
            trace.Hi: lambda e, _n: self._link(e.node, e.peer, e.transport, {"state": "open"}),
            trace.Link: self._link_event,
            trace.Bye: self._bye,
            trace.RtcState: self._rtc_state,
            trace.Tapped: self._tapped,
            trace.Held: self._held,
            trace.Released: self._released,
        }

    # ------------------------------------------------------------------ step mode
    def _held(self, e: trace.Held, _n: NodeState) -> None:
        """A frame waits on its wire: a token on that wire (found by the wire's tag)."""
        other = self.directory.resolve(e.node, e.peer) or e.to
        if not other or e.frame in self.held or len(self.held) >= MAX_HELD:
            return
        tag = e.wire or self.wires.tag(e.node, e.peer)
        edge = self.edges.get(edge_id(e.node, other, "memory", tag))
        if edge is None:
            edge = self.edge(e.node, other, "memory", tag)
            if edge is None:
                return
        kinds = tuple(kind_of(m) for m in e.msgs)
        sig = any(
            k.startswith("rtc") or any(s.startswith(RTC_PREFIX) for s in souls_of(m))
            for k, m in zip(kinds, e.msgs, strict=False)
        )
        t = e.t - (self.t0 or e.t)
        self.held[e.frame] = HeldToken(
            e.frame, edge.id, e.node, other, kinds, tuple(e.msg_ids), e.copy_of, t, sig
        )
        edge.held += 1
        self.changed_edges.add(edge.id)
        self.held_version += 1

    def _released(self, e: trace.Released, _n: NodeState) -> None:
        """A held frame left its wire (delivered or dropped): its token goes."""
        token = self.held.pop(e.frame, None)
        if token is None:
            return
        edge = self.edges.get(token.edge)
        if edge is not None and edge.held > 0:
            edge.held -= 1
            self.changed_edges.add(edge.id)
        self.held_version += 1

    def _forget_held(self, edge: EdgeState) -> None:
        for name in [f for f, tok in self.held.items() if tok.edge == edge.id]:
            del self.held[name]
        edge.held = 0
        self.changed_edges.add(edge.id)
        self.held_version += 1

    def held_on(self, eid: str) -> list[HeldToken]:
        """The frames held on wire ``eid`` now, oldest first."""
        return [tok for tok in self.held.values() if tok.edge == eid]

    def _tapped(self, e: trace.Tapped, n: NodeState) -> None:
        edge = self.wire_of(e.node, e.peer, e.transport)
        if edge is None:
            return
        if edge.tapped != e.tap:
            edge.tapped = e.tap
            self.changed_edges.add(edge.id)
        if not e.delivered:
            # its messages' Dropped counted those lost on the wire already (``on_wire``)
            node, peer, counted = self._tap_lost
            already = counted if (node, peer) == (e.node, e.peer) else 0
            lost = max(max(e.messages, 1) - already, 0)
            edge.lost += lost
            n.lost += lost
            self.counted_edges.add(edge.id)
            self.counted_nodes.add(e.node)
        self._tap_lost = ("", "", 0)

    def _heard(self, e: trace.Heard, n: NodeState) -> None:
        n.heard += 1
        self.counted_nodes.add(e.node)

    def _dropped(self, e: trace.Dropped, n: NodeState) -> None:
        if e.cause.on_wire:
            node, peer, counted = self._tap_lost  # a tap's frame: its Tapped counts the rest
            same = node == e.node and peer == e.peer
            self._tap_lost = (e.node, e.peer, counted + 1 if same else 1)
            n.lost += 1
            edge = self.wire_of(e.node, e.peer, e.transport)
            if edge is not None:
                edge.lost += 1
                self.counted_edges.add(edge.id)
        else:
            n.dropped += 1
        self.counted_nodes.add(e.node)

    def _put(self, e: trace.Put, n: NodeState) -> None:
        n.puts += 1
        self.counted_nodes.add(e.node)

    def _error(self, e: trace.Error, n: NodeState) -> None:
        n.errors += 1
        self.counted_nodes.add(e.node)

    def _said(self, e: trace.Said, n: NodeState) -> None:
        node = e.node
        n.said += 1
        self.counted_nodes.add(node)
        # the wire a copy went on, found once per (sayer, its peer id, transport): a burst
        # says thousands of copies on the same few wires
        known = self._said_on.get((node, e.peer, e.transport))
        if known is not None and known.id in self.edges:
            self._count(known, node, e.msg)
            return
        other = self.directory.resolve(node, e.peer)
        if not other:
            return
        tr = e.transport or "?"
        edge = self.edges.get(edge_id(node, other, tr, self.wires.tag(node, e.peer)))
        if edge is None and not e.transport:
            edge = self.wire_of(node, e.peer, "")  # the one wire it can be (an older trace)
        if edge is None:
            edge = self.edge(node, other, tr, self.wires.tag(node, e.peer))
            if edge is None:
                return
        if len(self._said_on) >= MAX_EDGES:
            self._said_on.clear()
        self._said_on[(node, e.peer, e.transport)] = edge
        self._count(edge, node, e.msg)

    def _count(self, edge: EdgeState, node: str, msg: dict[str, Any]) -> None:
        """One more copy said on ``edge`` by ``node``: its count and a pulse."""
        edge.count += 1
        self.counted_edges.add(edge.id)
        if len(self.pulses) < PULSE_CAP:
            self.pulses.append((edge.id, node, msg))  # its kind is read when taken
        else:
            self.pulses_skipped += 1

    def _link_event(self, e: trace.Link, _n: NodeState | None = None) -> None:
        self.wires.apply(e)
        attrs: dict[str, Any] = {}
        props = e.props or {}
        for key in ("latency", "jitter", "loss"):
            if isinstance(props.get(key), int | float):
                attrs[key] = float(props[key])
        if "partitioned" in props:
            attrs["partitioned"] = bool(props["partitioned"])
        other = e.pid or self.directory.resolve(e.node, e.peer)
        tr = e.transport or "?"
        if other:
            if edge_id(e.node, other, tr, e.wire) not in self.edges:
                attrs["state"] = "open"
            self.edge(e.node, other, tr, e.wire, **attrs)
        else:
            self._hold(e.node, e.peer, tr, attrs)

    def _bye(self, e: trace.Bye, _n: NodeState | None = None) -> None:
        other = self.directory.resolve(e.node, e.peer)
        tr = e.transport or "?"
        if other:
            eid = edge_id(e.node, other, tr, self.wires.tag(e.node, e.peer))
            if eid in self.edges:
                self.edge(e.node, other, tr, self.wires.tag(e.node, e.peer), state="closed")
        self.pending.pop((e.node, e.peer), None)

    def _rtc_state(self, e: trace.RtcState, _n: NodeState | None = None) -> None:
        if not e.peer:
            return
        layer = getattr(e, "layer", "pc")
        existing = self.edges.get(edge_id(e.node, e.peer, "dc"))
        if layer == "link":
            if e.state == "open":
                self.edge(e.node, e.peer, "dc", state="open")
            elif e.state == "closed" and existing is not None:
                self.edge(e.node, e.peer, "dc", state="closed")
        elif layer == "pc":
            if e.state in ("new", "connecting"):
                if existing is None or existing.state != "open":
                    self.edge(e.node, e.peer, "dc", state="connecting")
            elif e.state in ("failed", "closed"):
                if existing is not None:
                    self.edge(e.node, e.peer, "dc", state=e.state)

    def _link(self, node: str, peer: str, transport: str, attrs: dict[str, Any]) -> None:
        other = self.directory.resolve(node, peer)
        tr = transport or "?"
        if other:
            self.edge(node, other, tr, self.wires.tag(node, peer), **attrs)
        else:
            self._hold(node, peer, tr, attrs)

    def _hold(self, node: str, peer: str, transport: str, attrs: dict[str, Any]) -> None:
        if len(self.pending) >= 10_000:
            del self.pending[next(iter(self.pending))]
        held = self.pending.setdefault((node, peer), {})
        held.update(attrs)
        held["transport"] = transport

    def _resolved(self, node: str, peer: str, entity: str) -> None:
        attrs = self.pending.pop((node, peer), None)
        if attrs is not None and node in self.nodes:
            tr = attrs.pop("transport", "?")
            self.edge(node, entity, tr, self.wires.tag(node, peer), **attrs)

    # ------------------------------------------------------------------ reading
    def sample_rates(self, min_interval: float = 0.5) -> None:
        """Messages per second on each link since the last sample (on the events' clock)."""
        dt = self.now - self._rate_t
        if dt < min_interval:
            return
        for e in self.edges.values():
            rate = round((e.count - e.sampled) / dt, 1)
            e.sampled = e.count
            if rate != e.rate:
                e.rate = rate
                self.counted_edges.add(e.id)
        self._rate_t = self.now

    def take_pulses(self, limit: int = PULSE_CAP) -> tuple[list[tuple[str, str, str]], int]:
        """The first ``limit`` pulses since the last take as (edge, sayer, kind), and how many
        more were skipped (over ``limit`` or the cap). A message's kind is read here, for the
        pulses taken only: most copies of a busy mesh are never drawn as a pulse."""
        pulses, skipped = self.pulses, self.pulses_skipped
        self.pulses, self.pulses_skipped = [], 0
        skipped += max(len(pulses) - limit, 0)
        return [(eid, node, kind_of(msg)) for eid, node, msg in pulses[:limit]], skipped

    def partitions(self) -> int:
        """Groups of peers that reach each other over open, unpartitioned wires (any one of a
        pair's wires is enough)."""
        parent = {n: n for n in self.nodes}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for e in self.edges.values():
            if e.state == "open" and not e.partitioned and e.loss != 1.0:
                parent[find(e.a)] = find(e.b)
        return len({find(n) for n in self.nodes})

    def links(self) -> list[tuple[str, str, str, str, int]]:
        """(name, name, transport, state, messages) per wire, sorted: for tables and tests."""
        label = self.directory.label
        out = []
        for e in self.edges.values():
            a, b = sorted((label(e.a), label(e.b)))
            out.append((a, b, e.transport, e.state, e.count))
        return sorted(out)

    def labels(self) -> list[str]:
        """Every node's name, in the order peers appeared."""
        return [self.directory.label(n) for n in self.nodes]
