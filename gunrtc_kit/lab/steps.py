"""Step mode: stop the world on a Lab's memory wires, and move each message by hand.

``lab.hold()`` makes every frame on the Lab's memory wires wait (a ``transport.hold.Hold``)
instead of arriving; ``lab.pending()`` lists them, ``deliver``/``drop``/``duplicate`` move one,
``step()`` delivers the oldest and shows what it caused, ``deliver_all()`` runs the mesh until
nothing waits, ``release()`` stops holding and lets what waits go, in order. A held frame is
a real frame: delivering it runs the receiver's dedup, ``><``, ``@`` routing and HAM on it,
so the order chosen is the order the mesh sees.

Only memory wires can be held: a WebSocket's or a data channel's frames are in the kernel or
in aiortc before we could stop them. ``hold()`` says which links it cannot hold;
``Lab(relay="memory")`` puts the relay on memory wires so that a whole mesh can be stepped.

Settling: an action here returns once the mesh has done what follows from it (a delivery's
replies made and held, or delivered if that wire is not held), so ``pending()`` right after
it is the truth. The same waiting makes a seeded Lab (``Lab(seed=N)``) repeatable: each
action from a cell lets the mesh go quiet before the next starts.

Determinism (``Lab(seed=N)``): every random draw the Lab owns comes from generators seeded
from ``N`` and a name (a peer's, a wire's), never from the order things were made in another
Lab: message ids, pids and wire ids of memory peers, memory wires' loss and jitter; and
memory peers read a ``LabClock``. Network peers (relay, WebSocket, WebRTC) keep the
process's randomness and the machine's clock: they meet the world.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gunrtc_kit.diagnose.messages import kind_of
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.fork import build_fork
from gunrtc_kit.lab.links import Wiring
from gunrtc_kit.transport.hold import HeldFrame
from gunrtc_kit.transport.memory import MemoryWire

if TYPE_CHECKING:
    from gunrtc_kit.diagnose.peers import Directory
    from gunrtc_kit.lab.peers import LabPeer
    from gunrtc_kit.lab.runtime import Runtime
    from gunrtc_kit.lab.views.hub import ViewHub
    from gunrtc_kit.trace import TraceBus

__all__ = ["LabSteps", "Pending", "PendingList", "StepResult"]

#: loop turns with nothing happening after which the mesh counts as quiet
QUIET_TURNS = 4
#: how long settling waits for quiet at most (a mesh that never stops talking)
SETTLE_LIMIT = 5.0
#: frames ``deliver_all`` delivers at most in one call (a mesh that never goes quiet)
DELIVER_ALL_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Pending:
    """One held frame, as ``lab.pending()`` lists it: its ``name`` (what ``deliver`` takes),
    the peers it goes ``src`` -> ``dst`` (Lab names), the ``wire`` tag, each message's
    ``kind`` and ``#``, the messages, how long it has been held (seconds) and what it copies."""

    name: str
    src: str
    dst: str
    wire: str
    kinds: tuple[str, ...]
    ids: tuple[str, ...]
    msgs: tuple[dict[str, Any], ...]
    held_for: float
    copy_of: str = ""

    @property
    def label(self) -> str:
        """One line: ``f3 alice→relay put #abc``."""
        what = " ".join(f"{k} #{i}" for k, i in zip(self.kinds, self.ids, strict=True))
        copy = f" (copy of {self.copy_of})" if self.copy_of else ""
        return f"{self.name} {self.src}\u2192{self.dst} {what or 'empty frame'}{copy}"

    def __repr__(self) -> str:
        return f"<Pending {self.label}>"


class PendingList(list[Pending]):
    """``lab.pending()``'s answer: a list, shown as a table in a notebook."""

    def _repr_html_(self) -> str:
        e = html.escape
        if not self:
            return "<div>nothing in flight is held</div>"
        rows = "".join(
            f"<tr><td><code>{e(p.name)}</code></td><td>{e(p.src)} &rarr; {e(p.dst)}</td>"
            f"<td>{e(p.wire)}</td><td>{e(', '.join(p.kinds))}</td>"
            f"<td><code>{e(', '.join(p.ids))}</code></td><td>{p.held_for:.1f} s</td>"
            f"<td>{e(p.copy_of)}</td></tr>"
            for p in self
        )
        return (
            "<table><tr><th>frame</th><th>from &rarr; to</th><th>wire</th><th>kind</th>"
            f"<th>#</th><th>held</th><th>copy of</th></tr>{rows}</table>"
        )


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one ``step()`` did: the frame it ``delivered`` (None if nothing was held) and the
    frames that became pending because of it (``new``)."""

    delivered: Pending | None
    new: PendingList

    def __repr__(self) -> str:
        if self.delivered is None:
            return "<StepResult: nothing was held>"
        made = ", ".join(p.label for p in self.new) or "nothing new held"
        return f"<StepResult delivered {self.delivered.label}; then: {made}>"


class LabSteps:
    """The step-mode half of ``Lab`` (a Lab is one): hold, list, deliver, drop, duplicate."""

    rt: Runtime
    bus: TraceBus
    peers: dict[str, LabPeer]
    directory: Directory
    _hub: ViewHub
    _wiring: Wiring

    if TYPE_CHECKING:

        def _check_open(self, action: str) -> None: ...

        def name_of(self, pid: str) -> str: ...

    # ------------------------------------------------------------------ holding
    def hold(self) -> list[str]:
        """Hold every frame on the Lab's memory wires from now on (new memory links too).
        Returns the links that cannot be held (WebSocket, WebRTC: their frames keep flowing),
        and warns if there are any."""
        self._check_open("hold()")
        self._wiring.holding = True
        self.rt.call(lambda: self._set_held(self._wiring.wires, True), what="hold()")
        others = self._unholdable()
        if others:
            import warnings

            warnings.warn(
                "hold(): only memory wires can be held; these links keep delivering at once: "
                + ", ".join(others)
                + ' (Lab(relay="memory") puts the relay on memory wires)',
                stacklevel=2,
            )
        return others

    def release(self) -> int:
        """Stop holding, and let what waits go, oldest first. Returns how many frames went."""
        self._check_open("release()")
        self._wiring.holding = False
        names = self.rt.call(self._release_all, what="release()")
        self._settle("release()", always=True)  # what was let go arrives before we return
        return names

    def _release_all(self) -> int:
        self._set_held(self._wiring.wires, False)
        n = 0
        while (frame := self._wiring.hold.oldest()) is not None:
            self._wiring.hold.deliver(frame.name)
            n += 1
        return n

    @staticmethod
    def _set_held(wires: Iterable[MemoryWire], held: bool) -> None:
        for w in wires:
            if not w.closed:
                w.held = held

    def _unholdable(self) -> list[str]:
        """The Lab's links that are not memory wires, as ``a↔b (ws)``."""
        out: set[str] = set()
        for p in list(self.peers.values()):
            for m in list(p.gun.mesh.peers.values()):
                if m.transport != "memory":
                    far = self.name_of(m.pid) if m.pid else m.id
                    pair = sorted([p.name, far])
                    out.add(f"{pair[0]}\u2194{pair[1]} ({m.transport or '?'})")
        return sorted(out)

    def _any_held(self) -> bool:
        w = self._wiring
        return w.holding or len(w.hold) > 0 or any(x.held for x in list(w.wires))

    def _holds(self, peer: LabPeer) -> bool:
        """Whether some memory wire of ``peer`` is held."""
        return any(w.held and w.mesh is peer.gun.mesh for w in list(self._wiring.wires))

    @property
    def holding(self) -> bool:
        """True between ``hold()`` and ``release()``."""
        return self._wiring.holding

    # ------------------------------------------------------------------ reading
    def pending(self) -> PendingList:
        """The frames held now, oldest first (a table in a notebook)."""
        self._check_open("pending()")
        return self.rt.call(self._pending_now, what="pending()")

    def _pending_now(self) -> PendingList:
        now = self.bus.now()
        return PendingList(self._row(f, now) for f in list(self._wiring.hold.frames.values()))

    def _row(self, f: HeldFrame, now: float) -> Pending:
        return Pending(
            name=f.name,
            src=self.name_of(f.src),
            dst=self.name_of(f.dst),
            wire=f.tag,
            kinds=tuple(kind_of(m) for m in f.msgs),
            ids=tuple(f.msg_ids),
            msgs=tuple(f.msgs),
            held_for=max(now - f.held_at, 0.0),
            copy_of=f.copy_of,
        )

    # ------------------------------------------------------------------ moving
    def _frame_name(self, action: str, x: Pending | HeldFrame | str) -> str:
        if isinstance(x, Pending | HeldFrame):
            return x.name
        if isinstance(x, str):
            return x
        raise GunError(f"{action}: expected a frame name ('f3') or a Pending, got {x!r}")

    def _move(self, action: str, x: Pending | str, fn: Callable[[str], HeldFrame]) -> Pending:
        label = f"{action}({getattr(x, 'name', x)!r})"
        self._check_open(label)
        name = self._frame_name(label, x)

        def go() -> Pending:
            return self._row(fn(name), self.bus.now())

        row = self.rt.call(go, what=label)
        self._settle(label)
        return row

    def deliver(self, x: Pending | str) -> Pending:
        """Deliver held frame ``x`` (its name or its ``Pending``) now; returns it."""
        return self._move("deliver", x, self._wiring.hold.deliver)

    def drop(self, x: Pending | str) -> Pending:
        """Drop held frame ``x``: the far end never sees it (traced ``dropped``, by hand)."""
        return self._move("drop", x, self._wiring.hold.drop)

    def duplicate(self, x: Pending | str) -> Pending:
        """Hold a second copy of frame ``x`` (as a network that delivers twice); returns the
        copy, to deliver or drop like any other."""
        return self._move("duplicate", x, self._wiring.hold.duplicate)

    def step(self) -> StepResult:
        """Deliver the oldest held frame, let the mesh do what follows, and stop: returns it
        and the frames that became pending because of it."""
        self._check_open("step()")
        before = set(self.rt.call(lambda: list(self._wiring.hold.frames), what="step()"))
        oldest = self.rt.call(self._wiring.hold.oldest, what="step()")
        if oldest is None:
            return StepResult(None, PendingList())
        done = self.deliver(oldest.name)
        now = self.pending()
        return StepResult(done, PendingList(p for p in now if p.name not in before))

    def deliver_all(self, limit: int = DELIVER_ALL_LIMIT) -> int:
        """Deliver held frames, oldest first, until none is held (frames the deliveries
        cause included), at most ``limit``; returns how many were delivered."""
        self._check_open("deliver_all()")
        n = 0
        while n < limit:
            oldest = self.rt.call(self._wiring.hold.oldest, what="deliver_all()")
            if oldest is None:
                break
            self.deliver(oldest.name)
            n += 1
        return n

    # ------------------------------------------------------------------ forks
    def fork(self, t: float | None = None, *, seed: int | str = 0) -> Any:
        """A new Lab of memory peers where this one stood ``t`` seconds after its trace began
        (None: now): each peer's graph, dedup and routes as they were, its wires as memory
        wires, held, and the frames then in flight held on them; see ``fork.py``."""
        self._check_open("fork()")
        with self._hub.lock:
            meta = self.directory.meta()
        return build_fork(type(self), list(self.bus.history), meta, t, "this Lab", seed=seed)

    # ------------------------------------------------------------------ settling
    def _settle(self, action: str, *, always: bool = False) -> None:
        """Wait (bounded) until the Lab's memory wires have gone quiet: nothing scheduled to
        arrive, and the hold unchanged for a few loop turns. Only in step mode or with a
        seed: elsewhere a put returns at once, as Gun's does (a slow wire would hold it)."""
        wiring = self._wiring
        if self.rt.in_runtime or not (always or wiring.seed is not None or self._any_held()):
            return
        self.rt.run_sync(self._quiet(), SETTLE_LIMIT + 1.0, what=f"{action}: settling")

    async def _quiet(self) -> None:
        hold = self._wiring.hold
        loop = asyncio.get_running_loop()
        end = loop.time() + SETTLE_LIMIT
        calm = 0
        seen = hold.changes
        while calm < QUIET_TURNS and loop.time() < end:
            await asyncio.sleep(0 if hold.in_flight == 0 else 0.001)
            if hold.in_flight or hold.changes != seen:
                calm, seen = 0, hold.changes
            else:
                calm += 1
