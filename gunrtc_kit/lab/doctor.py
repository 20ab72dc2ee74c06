"""The doctor's hands: snapshot live peers and diagnose them (``doctor``, a read), or do the
safe cures too (``heal``, a wait).

Why here and not in ``diagnose``: the diagnosis is pure (``gunrtc_kit.diagnose.doctor``), but
taking a peer's snapshot and healing it touch live objects that belong to the loop they run
on, often in another thread (a Lab's runtime). So every read of a peer (its graph, the souls
it watches, its deferred keys, its trace history) and every cure (a re-``get``, clearing a
partition) runs on that peer's own loop, handed over and waited for, bounded.

The names follow the Lab's rule for waits (README, "In a notebook"): ``doctor(peers)`` only
reads what the peers hold now, so it is a plain call, usable from any thread and on the
peers' own loop alike; healing waits (for answers, for a deferred state, for a link), so it
is a coroutine, ``await heal(peers)``, with its blocking twin ``heal_sync(peers)``. Peers are
``Gun`` roots, ``Relay``\\ s or ``LabPeer``\\ s. Healing does the safe actions of the report, a
round at a time, until the peers agree or nothing safe is left (at most ``rounds`` rounds):
each lacking peer asks for the soul again (``fetch``), a deferred state is waited for when
its time is within ``max_wait`` seconds, and inside a Lab (``lab=``) a partitioned or fully
lossy memory link is healed and a cut memory link is made again. The report then holds
``before`` and ``done``: before, the cure, after. ``lab_doctor``, ``lab_heal`` and
``lab_heal_sync`` are the same for a whole Lab (``Lab.doctor``, ``Lab.heal``,
``Lab.heal_sync``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from gunrtc_kit import trace
from gunrtc_kit.diagnose.doctor import (
    HEAL,
    REGET,
    RELINK,
    WAIT_UNTIL,
    Action,
    PeerSnapshot,
    Pending,
    Report,
    diagnose,
)
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab.runtime import SLACK, call_in_loop, run_in_loop
from gunrtc_kit.relay import Relay
from gunrtc_kit.root import Gun
from gunrtc_kit.transport.memory import MemoryWire, connect_memory

if TYPE_CHECKING:
    from gunrtc_kit.lab.peers import LabLike

__all__ = [
    "doctor",
    "heal",
    "heal_sync",
    "lab_doctor",
    "lab_heal",
    "lab_heal_sync",
    "snapshot",
]

T = TypeVar("T")

FETCH_TIMEOUT = 2.0  # seconds one re-get waits for data
QUIET = 0.1  # seconds with nothing heard or merged after the actions: the answers are in
LINK_TIMEOUT = 5.0  # seconds a re-made link may take to open
ROUND_EXTRA = 10.0  # seconds a healing round may take beyond a re-get and a deferred wait


def _target(x: Any) -> tuple[Gun, str]:
    """The ``Gun`` root and name of a peer given as a Gun, a Relay or a LabPeer."""
    if isinstance(x, Gun):
        return x, ""
    if isinstance(x, Relay):
        return x.gun, "relay"
    gun = getattr(x, "gun", None)
    if isinstance(gun, Gun):
        return gun, str(getattr(x, "name", "") or "")
    raise GunError(f"doctor(): expected Gun, Relay or LabPeer objects, got {x!r}")


def snapshot(gun: Gun, name: str = "") -> PeerSnapshot:
    """What ``gun`` holds now, as plain data for ``diagnose``. Call it on the thread of the
    loop ``gun`` runs on (``doctor`` does): its graph changes there, between any two reads."""
    nodes = json.loads(json.dumps(gun.graph.nodes, default=repr))
    pending = tuple(
        Pending(d.soul, d.key, float(d.state), d.value, float(d.due))
        for _, _, d, _ in gun._deferred
    )
    return PeerSnapshot(
        pid=gun.pid,
        name=name or ("relay" if gun.super_peer else ""),
        nodes=nodes,
        watching=frozenset(gun._watch),
        deferred=pending,
        now=gun._wall_ms(),
        relay=gun.super_peer,
    )


def _running(gun: Gun) -> asyncio.AbstractEventLoop | None:
    loop = gun._loop
    return loop if loop is not None and loop.is_running() and not gun.closed else None


async def _on(gun: Gun, fn: Callable[[], T]) -> T:
    """Run ``fn`` on ``gun``'s loop and await its result from the calling loop."""
    loop = _running(gun)
    if loop is None or loop is asyncio.get_running_loop():
        return fn()

    async def go() -> T:
        return fn()

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(go(), loop))


async def _await_on(gun: Gun, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` on ``gun``'s loop and await it from the calling loop."""
    loop = _running(gun)
    if loop is None or loop is asyncio.get_running_loop():
        return await make()
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(), loop))


class _Doctor:
    """One doctor's visit: the peers, how to look at them, and how to cure them."""

    def __init__(
        self,
        peers: Iterable[Any],
        *,
        names: Mapping[str, str] | None,
        souls: Iterable[str] | None,
        lab: LabLike | None,
        max_wait: float,
        fetch_timeout: float,
    ) -> None:
        self.targets = [_target(p) for p in peers]
        if not self.targets:
            raise GunError("doctor(): give at least one peer")
        self.names = dict(names or {})
        for gun, name in self.targets:
            if name:
                self.names.setdefault(gun.pid, name)
        self.by_pid = {g.pid: g for g, _ in self.targets}
        self.souls = None if souls is None else tuple(souls)
        self.lab = lab
        self.max_wait = max_wait
        self.fetch_timeout = fetch_timeout

    def name(self, pid: str) -> str:
        """The name the report uses for ``pid`` (the pid itself when it has none)."""
        return self.names.get(pid, pid)

    # -------------------------------------------------------------- looking
    def _diagnose(self, snaps: Sequence[PeerSnapshot], events: list[trace.Event]) -> Report:
        # judged at the bus clock now, not at the last event: a put is "never acked" once
        # the ack timeout has passed, whether or not anything happened since
        now = max((bus.now() for _, bus in self._buses()), default=None)
        return diagnose(snaps, events, souls=self.souls, names=self.names, now=now)

    def _buses(self) -> list[tuple[Gun, trace.TraceBus]]:
        seen: dict[int, tuple[Gun, trace.TraceBus]] = {}
        for gun, _ in self.targets:
            seen.setdefault(id(gun.bus), (gun, gun.bus))
        return list(seen.values())

    async def look(self) -> Report:
        """Snapshots and trace, each read on its peer's loop and awaited; then the diagnosis."""
        snaps = [
            await _on(g, partial(snapshot, g, self.names.get(g.pid, n))) for g, n in self.targets
        ]
        events: list[trace.Event] = []
        for gun, bus in self._buses():
            events.extend(await _on(gun, partial(list, bus.history)))
        return self._diagnose(snaps, events)

    def look_sync(self) -> Report:
        """Blocking twin of ``look``: every read is handed to its peer's loop and waited for;
        on that loop's own thread (nothing to await there) each read is made at once, so it
        never deadlocks."""

        def on(gun: Gun, fn: Callable[[], T]) -> T:
            loop = _running(gun)
            return fn() if loop is None else call_in_loop(loop, fn, what="doctor() snapshot")

        snaps = [on(g, partial(snapshot, g, self.names.get(g.pid, n))) for g, n in self.targets]
        events: list[trace.Event] = []
        for gun, bus in self._buses():
            events.extend(on(gun, partial(list, bus.history)))
        return self._diagnose(snaps, events)

    # -------------------------------------------------------------- healing
    async def heal(self, rounds: int, timeout: float, what: str) -> Report:
        """Diagnose; then, while peers disagree and safe actions are left, do them and look
        again (at most ``rounds`` times), all within ``timeout`` seconds (else
        ``TimeoutError`` naming ``what``). The result carries ``before`` and ``done``."""
        bound = asyncio.timeout(timeout)
        try:
            async with bound:
                return await self._heal(rounds)
        except TimeoutError:
            if not bound.expired():
                raise
            raise GunTimeoutError(f"{what} did not finish within {timeout:g} s") from None

    async def _heal(self, rounds: int) -> Report:
        first = report = await self.look()
        done: list[str] = []
        for _ in range(rounds):
            if report:
                break
            actions = report.actions(safe_only=True)
            if not actions:
                break
            done.extend(await self._do(actions, report))
            await self._settle()
            report = await self.look()
        return dataclasses.replace(report, before=first, done=tuple(done))

    async def _settle(self) -> None:
        """Wait until no peer has heard or merged anything for ``QUIET`` seconds (at most
        ``fetch_timeout``): a read settles on its first answer, and the answers behind it
        (a slower wire, a peer asked through another) would otherwise land after the next
        look and make a healed mesh read as not healed."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.fetch_timeout
        busy = (trace.Heard, trace.Put)
        for _gun, bus in self._buses():
            while loop.time() < end:
                try:
                    await bus.until(lambda e: isinstance(e, busy), min(QUIET, end - loop.time()))
                except GunTimeoutError:
                    break  # quiet for QUIET seconds on this bus

    async def _do(self, actions: list[Action], report: Report) -> list[str]:
        out: list[str] = []
        for a in actions:
            if a.kind in (HEAL, RELINK):
                out.append(await self._link(a))
        waits = [a for a in actions if a.kind == WAIT_UNTIL]
        if waits:
            out.extend(await asyncio.gather(*(self._wait(a, report.t) for a in waits)))
        regets = {(a.peer, a.soul): a for a in actions if a.kind == REGET}
        if regets:
            out.extend(await asyncio.gather(*(self._reget(a) for a in regets.values())))
        return out

    async def _reget(self, a: Action) -> str:
        gun = self.by_pid.get(a.peer)
        who = self.name(a.peer)
        if gun is None or gun.closed:
            return f"{who} asks for {a.soul!r} again: skipped, {who} is not a live peer here"
        timeout = self.fetch_timeout
        try:
            got = await _await_on(gun, lambda: gun.fetch({"#": a.soul}, timeout=timeout))
        except GunError as exc:
            return f"{who} asked for {a.soul!r} again: failed ({exc})"
        return f"{who} asked for {a.soul!r} again: " + ("data came" if got else "no data came")

    async def _wait(self, a: Action, since: float) -> str:
        gun = self.by_pid.get(a.peer)
        who = self.name(a.peer)
        if gun is None or gun.closed:
            return f"wait for {who}'s deferred {a.soul!r}: skipped, not a live peer here"
        if a.wait > self.max_wait:
            return (
                f"wait for {who}'s deferred {a.soul!r}: not done, {a.wait:.1f} s is more "
                f"than max_wait={self.max_wait:g} s"
            )

        def applied(e: trace.Event) -> bool:
            return (
                isinstance(e, trace.Put)
                and e.node == gun.pid
                and e.t >= since
                and a.soul in e.changes
            )

        try:
            await gun.bus.until(applied, a.wait + 2.0, past=True)
        except GunTimeoutError:
            return f"waited {a.wait + 2.0:.1f} s for {who}'s deferred {a.soul!r}: not applied"
        return f"waited {a.wait:.1f} s: {who} applied its deferred {a.soul!r}"

    async def _link(self, a: Action) -> str:
        x, y = a.link
        lt = "\u2194".join(sorted((self.name(x), self.name(y))))
        if self.lab is None:
            return f"{a.text}: not done (links are healed only inside a Lab)"
        gx, gy = self.by_pid.get(x), self.by_pid.get(y)
        if gx is None or gy is None or gx.closed or gy.closed:
            return f"{a.text}: not done ({lt} has an end that is not a live Lab peer)"
        if a.kind == HEAL:
            return await _on(gx, lambda: _clear_faults(gx, gy, lt))
        t0 = gx.bus.now()

        def opened(e: trace.Event) -> bool:
            return isinstance(e, trace.Link | trace.Hi) and e.node == x and e.pid == y and e.t >= t0

        def make() -> None:
            connect_memory(gx.mesh, gy.mesh)

        waiter = asyncio.ensure_future(gx.bus.until(opened, LINK_TIMEOUT, past=True))
        try:
            await _on(gx, make)
            await waiter
        except GunTimeoutError:
            return f"linked {lt} again in memory, but it did not open within {LINK_TIMEOUT:g} s"
        finally:
            waiter.cancel()
        return f"linked {lt} again in memory"


def _clear_faults(a: Gun, b: Gun, lt: str) -> str:
    """Clear the partition (and a loss of 100 %) of every memory wire between ``a`` and
    ``b``; on their loop's thread, where the wires live."""
    wires = [
        p.wire
        for p in list(a.mesh.peers.values())
        if isinstance(p.wire, MemoryWire) and p.wire.far_pid == b.pid and not p.wire.closed
    ]
    if not wires:
        return f"heal {lt}: not done (no open memory link between them)"
    done: set[str] = set()
    for w in wires:
        for end in (w, w.other):
            if end is None:
                continue
            if end.partitioned:
                end.partitioned = False
                done.add("partition cleared")
            if end.loss >= 1.0:
                end.loss = 0.0
                done.add("loss 100 % set back to 0")
    if not done:
        return f"heal {lt}: nothing to do (not partitioned, not losing every frame)"
    return f"healed {lt} ({', '.join(sorted(done))})"


def _budget(rounds: int, fetch_timeout: float, max_wait: float, timeout: float | None) -> float:
    """A heal's own bound: ``timeout``, or by default long enough for ``rounds`` rounds."""
    return timeout if timeout is not None else rounds * (fetch_timeout + max_wait + ROUND_EXTRA)


def doctor(
    peers: Iterable[Any],
    *,
    names: Mapping[str, str] | None = None,
    souls: Iterable[str] | None = None,
) -> Report:
    """Where ``peers`` (``Gun`` roots, ``Relay``\\ s or ``LabPeer``\\ s) disagree and why: a
    ``Report``, with the action that would heal each finding (``heal`` does the safe ones).

    Why: the same question as ``Lab.doctor`` for peers made by hand. ``names`` names pids
    (default: the pids, ``relay`` for a relay); ``souls`` limits the comparison. A read of
    what the peers hold now, so a plain call: each read is handed to its peer's loop and
    waited for, or made at once when called on that loop's own thread (no deadlock)."""
    visit = _Doctor(
        peers, names=names, souls=souls, lab=None, max_wait=0.0, fetch_timeout=FETCH_TIMEOUT
    )
    return visit.look_sync()


async def heal(
    peers: Iterable[Any],
    *,
    names: Mapping[str, str] | None = None,
    souls: Iterable[str] | None = None,
    lab: LabLike | None = None,
    max_wait: float = 10.0,
    rounds: int = 4,
    fetch_timeout: float = FETCH_TIMEOUT,
    timeout: float | None = None,
) -> Report:
    """``doctor``, then its safe cures, a round at a time, until the peers agree or nothing
    safe is left (at most ``rounds``); the result holds ``before`` and ``done``.

    Each lacking peer asks for the soul again (waiting ``fetch_timeout`` s for data), a
    deferred state is waited for when due within ``max_wait`` s; links are healed only with
    ``lab=`` (a Lab's memory links). ``timeout`` bounds it all (by default long enough for
    ``rounds`` rounds); running out is ``gunrtc_kit.errors.TimeoutError``. Usable on the
    peers' own loop and from any other; ``heal_sync`` is its blocking twin."""
    visit = _Doctor(
        peers, names=names, souls=souls, lab=lab, max_wait=max_wait, fetch_timeout=fetch_timeout
    )
    budget = _budget(rounds, fetch_timeout, max_wait, timeout)
    return await visit.heal(rounds, budget, "heal()")


def heal_sync(
    peers: Iterable[Any],
    *,
    names: Mapping[str, str] | None = None,
    souls: Iterable[str] | None = None,
    lab: LabLike | None = None,
    max_wait: float = 10.0,
    rounds: int = 4,
    fetch_timeout: float = FETCH_TIMEOUT,
    timeout: float | None = None,
) -> Report:
    """Blocking twin of ``heal`` (plain cells, scripts): hands the healing to the peers' loop
    and waits for it, ``timeout`` plus ``SLACK`` seconds at most. With no peer's loop
    running it runs the healing in a loop of its own; on the peers' own loop thread it
    would deadlock, so it raises ``GunError`` (``await heal(...)`` there)."""
    visit = _Doctor(
        peers, names=names, souls=souls, lab=lab, max_wait=max_wait, fetch_timeout=fetch_timeout
    )
    budget = _budget(rounds, fetch_timeout, max_wait, timeout)
    loop = next((lp for lp in (_running(g) for g, _ in visit.targets) if lp is not None), None)
    if loop is None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(visit.heal(rounds, budget, "heal_sync()"))
        raise GunError("heal_sync(): no peer's loop is running; await heal() instead")
    work = visit.heal(rounds, budget, "heal_sync()")
    return run_in_loop(loop, work, budget + SLACK, what="heal_sync()")


def _lab_visit(
    lab: LabLike, souls: Iterable[str] | None, max_wait: float, fetch_timeout: float
) -> _Doctor:
    """One visit of a Lab: its relay (while it runs) and its open peers, by the Lab's names."""
    targets: list[Any] = []
    if lab.relay is not None:
        targets.append(lab.relay)
    targets.extend(p for p in list(lab.peers.values()) if not p.gun.closed)
    return _Doctor(
        targets,
        names=dict(lab.names),
        souls=souls,
        lab=lab,
        max_wait=max_wait,
        fetch_timeout=fetch_timeout,
    )


def lab_doctor(lab: LabLike, *, souls: Iterable[str] | None = None) -> Report:
    """``Lab.doctor``: the Lab's relay (while it runs) and peers, diagnosed in one turn of the
    runtime, so the snapshots are consistent with each other (on the runtime's own thread,
    at once)."""
    visit = _lab_visit(lab, souls, 0.0, FETCH_TIMEOUT)
    if lab.rt.in_runtime:
        return visit.look_sync()
    return lab.rt.run_sync(visit.look(), what="Lab.doctor()")


async def lab_heal(
    lab: LabLike,
    *,
    souls: Iterable[str] | None = None,
    max_wait: float = 10.0,
    rounds: int = 4,
    fetch_timeout: float = FETCH_TIMEOUT,
    timeout: float | None = None,
) -> Report:
    """``Lab.heal``: ``heal`` of the Lab's relay and peers, run on the runtime, memory links
    healed too; bounded by ``timeout`` as ``heal``."""
    visit = _lab_visit(lab, souls, max_wait, fetch_timeout)
    budget = _budget(rounds, fetch_timeout, max_wait, timeout)
    work = visit.heal(rounds, budget, "Lab.heal()")
    return await lab.rt.run(work, budget + SLACK, what="Lab.heal()")


def lab_heal_sync(
    lab: LabLike,
    *,
    souls: Iterable[str] | None = None,
    max_wait: float = 10.0,
    rounds: int = 4,
    fetch_timeout: float = FETCH_TIMEOUT,
    timeout: float | None = None,
) -> Report:
    """Blocking twin of ``lab_heal`` (``Lab.heal_sync``)."""
    visit = _lab_visit(lab, souls, max_wait, fetch_timeout)
    budget = _budget(rounds, fetch_timeout, max_wait, timeout)
    work = visit.heal(rounds, budget, "Lab.heal_sync()")
    return lab.rt.run_sync(work, budget + SLACK, what="Lab.heal_sync()")
