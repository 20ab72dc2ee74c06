"""Forks: a new Lab that starts where a trace stood at one instant, to try another branch.

``lab.fork(t)`` or ``replay.fork(t)`` (a replay opened with ``Lab.open_trace``) reads the trace
up to ``t`` seconds after it began and builds a Lab of memory peers, held (step mode):

- one peer per traced peer, with the **same pid and name** (a relay stays a relay: it acks),
  so message ids, ``><`` lists and ``@`` routes in the trace still mean the same peers;
- each peer's **graph as it was at t**, from the trace's ``put`` events (values with their HAM
  states; a value the trace kept only as a summary is loaded as that summary, and
  ``ForkPlan.summarized`` counts them);
- one memory wire for each wire open at ``t`` between two traced peers (a WebSocket or data
  channel becomes a memory wire: only those can be held);
- each peer's **dedup and routes** for the messages it heard or said by ``t``, so a copy
  delivered again is dropped as a duplicate and a reply finds its way back by ``@``; a
  relay's **subscriptions** (the souls each peer asked it for, so it forwards puts to them);
  and a listener for each put whose writer had no answer yet, so a late ack is taken as one;
- the **frames in flight at t**, held: frames held in step mode, and copies said but neither
  heard nor dropped by then (on a memory wire with latency, say), each as a frame of its own.

The fork's bus starts with the source's events up to ``t`` (its views and ``fate`` tell the
whole story), its clock is a ``LabClock`` that starts after every state in the trace (so no
loaded write is held back for the future), and ``lab.forked_from`` says what it is a fork of;
every view of the fork shows that as a banner.

What a fork cannot bring back: untraced peers (a Gun.js relay), a peer's pending reads and
timers, WebRTC itself (its links become memory wires), and messages the trace kept only as
summaries (big ones), which are left out of the frames in flight and counted.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.clock import EPOCH, LabClock

# The Lab is typed loosely here (``Any``): ``lab.lab`` composes this module and hands it the
# Lab class, never the reverse (tests/unit/test_layering.py).
Lab = Any

__all__ = ["ForkPlan", "build_fork", "plan_fork"]

Graph = dict[str, dict[str, Any]]


@dataclass
class ForkPlan:
    """What a trace says the mesh was at one instant: the peers (pid -> (name, role)), the
    open wires (pid, pid) once each, each peer's graph (with ``_`` states), what each peer
    heard (mid -> from pid) and said, the open requests of each writer, and the frames in
    flight (sender, receiver, messages)."""

    at: float
    peers: dict[str, tuple[str, str]] = field(default_factory=dict)
    wires: list[tuple[str, str]] = field(default_factory=list)
    graphs: dict[str, Graph] = field(default_factory=dict)
    heard: dict[str, dict[str, str]] = field(default_factory=dict)
    said: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    open_puts: dict[str, set[str]] = field(default_factory=dict)
    follows: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    frames: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    summarized: int = 0
    left_out: int = 0
    max_state: float = -math.inf


def plan_fork(
    events: Sequence[trace.Event], names: dict[str, str], roles: dict[str, str], at: float
) -> ForkPlan:
    """Read ``events`` (already cut at the instant) into a ``ForkPlan``."""
    p = ForkPlan(at=at)
    traced = {e.node for e in events if e.node}
    for pid in sorted(traced):
        role = roles.get(pid, "peer")
        p.peers[pid] = (names.get(pid, pid), "relay" if role == "relay" else "peer")
    ends: dict[tuple[str, str], str] = {}  # (node, its id for the wire) -> far pid
    held: dict[str, trace.Held] = {}
    copies: dict[tuple[str, str, str], int] = {}  # (mid, src, dst) -> copies not yet settled
    said_msgs: dict[tuple[str, str, str], dict[str, Any]] = {}
    answered: set[str] = set()
    for e in events:
        _wire_event(e, ends)
        if isinstance(e, trace.Put):
            _merge_put(p, e)
        elif isinstance(e, trace.Said):
            _said(p, e, ends, copies, said_msgs)
        elif isinstance(e, trace.Heard):
            _heard(p, e, ends, copies, answered)
        elif isinstance(e, trace.Dropped) and e.peer and e.msg_id:
            far = ends.get((e.node, e.peer), "")
            key = (e.msg_id, e.node, far) if not e.cause.on_arrival else (e.msg_id, far, e.node)
            if copies.get(key):
                copies[key] -= 1
        elif isinstance(e, trace.Held):
            held[e.frame] = e
        elif isinstance(e, trace.Released):
            held.pop(e.frame, None)
    pairs = {(min(n, far), max(n, far)) for (n, _), far in ends.items() if {n, far} <= traced}
    p.wires = sorted((a, b) for a, b in pairs if a != b)
    for pid in p.open_puts:
        p.open_puts[pid] -= answered
    _in_flight(p, held, copies, said_msgs, traced)
    return p


def _wire_event(e: trace.Event, ends: dict[tuple[str, str], str]) -> None:
    """Keep which wire (node, peer id) leads to which pid, and drop it when it closes."""
    if isinstance(e, trace.Link | trace.Hi) and e.pid:
        ends[(e.node, e.peer)] = e.pid
    elif isinstance(e, trace.Bye):
        ends.pop((e.node, e.peer), None)


def _merge_put(p: ForkPlan, e: trace.Put) -> None:
    """A peer's graph took these keys: set them, with their states."""
    graph = p.graphs.setdefault(e.node, {})
    for soul, keys in e.values.items():
        if soul == "\u2026" or not isinstance(keys, dict):
            p.summarized += 1
            continue
        node = graph.setdefault(soul, {"_": {"#": soul, ">": {}}})
        states = e.states.get(soul, {})
        for key, value in keys.items():
            state = states.get(key)
            if key == "\u2026" or not isinstance(state, int | float):
                p.summarized += 1
                continue
            node[key] = value
            node["_"][">"][key] = state
            p.max_state = max(p.max_state, float(state))


def _said(
    p: ForkPlan,
    e: trace.Said,
    ends: dict[tuple[str, str], str],
    copies: dict[tuple[str, str, str], int],
    said_msgs: dict[tuple[str, str, str], dict[str, Any]],
) -> None:
    mid = e.msg.get("#")
    if not isinstance(mid, str):
        return
    told = p.said.setdefault(e.node, {}).setdefault(mid, set())
    if "put" in e.msg and "@" not in e.msg and mid not in p.heard.get(e.node, {}):
        p.open_puts.setdefault(e.node, set()).add(mid)  # its own write, awaiting an answer
    far = ends.get((e.node, e.peer), "")
    if far:
        told.add(far)
        key = (mid, e.node, far)
        copies[key] = copies.get(key, 0) + 1
        said_msgs[key] = e.msg


def _heard(
    p: ForkPlan,
    e: trace.Heard,
    ends: dict[tuple[str, str], str],
    copies: dict[tuple[str, str, str], int],
    answered: set[str],
) -> None:
    mid = e.msg.get("#")
    if not isinstance(mid, str):
        return
    far = ends.get((e.node, e.peer), "")
    p.heard.setdefault(e.node, {}).setdefault(mid, far)
    get = e.msg.get("get")
    if far and isinstance(get, dict) and isinstance(get.get("#"), str) and "@" not in e.msg:
        p.follows.setdefault(e.node, set()).add((far, get["#"]))  # a relay follows it for far
    reply_to = e.msg.get("@")
    if isinstance(reply_to, str):
        answered.add(reply_to)
    key = (mid, far, e.node)
    if copies.get(key):
        copies[key] -= 1


def _in_flight(
    p: ForkPlan,
    held: dict[str, trace.Held],
    copies: dict[tuple[str, str, str], int],
    said_msgs: dict[tuple[str, str, str], dict[str, Any]],
    traced: set[str],
) -> None:
    """The frames on their way at the instant: held ones whole, then unsettled copies."""
    in_held: set[tuple[str, str, str]] = set()
    for h in held.values():
        if h.to not in traced:
            continue
        msgs = [dict(m) for m in h.msgs]
        if any("~" in m for m in msgs):
            p.left_out += 1
            continue
        p.frames.append((h.node, h.to, msgs))
        for mid in h.msg_ids:
            in_held.add((mid, h.node, h.to))
    for key, n in copies.items():
        if n <= 0 or key in in_held or key[2] not in traced:
            continue
        msg = said_msgs[key]
        if "~" in msg:
            p.left_out += n
            continue
        p.frames.extend((key[1], key[2], [dict(msg)]) for _ in range(n))


def build_fork(
    lab_cls: Callable[..., Lab],
    events: Sequence[trace.Event],
    meta: dict[str, Any],
    t: float | None,
    source: str,
    *,
    seed: int | str = 0,
) -> Lab:
    """A new, held Lab where ``events`` stood ``t`` seconds after they began (None: at the
    end), named a fork of ``source``."""
    if not events:
        raise GunError(f"fork of {source}: the trace holds no events")
    start = min(e.t for e in events)
    end = max(e.t for e in events)
    at = end - start if t is None else float(t)
    if not 0 <= at <= end - start + 1e-9:
        raise GunError(f"fork({t!r}): the trace spans 0 to {end - start:.3f} s")
    cut = [e for e in events if e.t - start <= at + 1e-9]
    plan = plan_fork(cut, dict(meta.get("names") or {}), dict(meta.get("roles") or {}), at)
    lab = lab_cls(relay=False, seed=seed)
    try:
        _populate(lab, plan, cut, source)
    except BaseException:
        lab.close()
        raise
    return lab


def _populate(lab: Lab, plan: ForkPlan, cut: list[trace.Event], source: str) -> None:
    """Fill a fresh Lab from ``plan``: history, clock, peers, graphs, wires, routes, frames."""
    label = f"fork of {source} at +{plan.at:.3f} s"
    lab.forked_from = label
    lab._hub.banner = f"This is a {label}: the mesh as the trace says it was then, held."
    lab.bus.history.extend(cut)
    lab._hub.feed_many(cut)
    # the fork's own events come after the source's, on one time line
    last, now = cut[-1].t, time.monotonic()
    lab.bus.clock = lambda: last + (time.monotonic() - now)
    wall = max(EPOCH, (plan.max_state + 1000.0) / 1000.0 if plan.max_state > -math.inf else EPOCH)
    lab.clock = LabClock(wall)
    made = {
        pid: lab._memory_gun(name, 0.0, role=role, pid=pid)
        for pid, (name, role) in plan.peers.items()
    }
    for pid, graph in plan.graphs.items():
        gun = made[pid].gun
        lab.rt.call(
            lambda g=gun, gr=graph: g.graph.merge(json.loads(json.dumps(gr)), math.inf),
            what="fork: graphs",
        )
    for a, b in plan.wires:
        lab.link_memory(made[a], made[b])
    lab.hold()
    lab.rt.call(lambda: _routes(lab, plan, made), what="fork: routes")
    lab.rt.call(lambda: _frames(lab, plan, made), what="fork: frames in flight")
    lab._settle("fork")


def _routes(lab: Lab, plan: ForkPlan, made: dict[str, Any]) -> None:
    """Each peer's dedup as the trace says: what it heard (and from whom: the way back for a
    reply) and what it said; and a listener for its own puts that had no answer yet."""
    for pid, heard in plan.heard.items():
        mesh = made[pid].gun.mesh
        for mid, far in heard.items():
            entry = mesh.dup.track(mid)
            entry.via = mesh.peer_by_pid(far) if far else None
    for pid, said in plan.said.items():
        gun = made[pid].gun
        for mid, told in said.items():
            gun.mesh.dup.track(mid)
            # whom it was said to: a reply is taken only from them (``Routes.sent_to``)
            ids = [m.id for m in (gun.mesh.peer_by_pid(far) for far in told) if m is not None]
            if ids:
                gun.mesh.routes.note_sent(mid, ids)
        for mid in plan.open_puts.get(pid, ()):
            gun.ask(_keep, mid)
    for pid, follows in plan.follows.items():
        for far, soul in sorted(follows):
            made[pid].gun.follow_for(far, soul)  # a relay's subscriptions (plain peers: no-op)


def _keep(_msg: Any) -> None:
    """The listener a fork gives a writer's open put: the ack is traced (``ack``) when it
    comes; nobody waits on it."""


def _frames(lab: Lab, plan: ForkPlan, made: dict[str, Any]) -> None:
    """Hold each frame in flight at the instant on the fork's wire from sender to receiver."""
    hold = lab._wiring.hold
    for src, dst, msgs in plan.frames:
        wire = next(
            (
                w
                for w in lab._wiring.wires
                if w.mesh is made[src].gun.mesh and w.far_pid == dst and not w.closed
            ),
            None,
        )
        if wire is None:
            plan.left_out += 1
            continue
        text = json.dumps(msgs[0] if len(msgs) == 1 else msgs, separators=(",", ":"))
        hold.take(wire, text)
