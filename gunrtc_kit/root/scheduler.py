"""The root's one scheduler: the only part of the root that knows its event loop.

A root is made outside any loop and bound to one by ``start``; until then whatever it
schedules goes to the running loop. Timers and tasks made here are the root's own: ``close``
cancels them all in one place (``cancel``), so a closed peer leaves nothing behind."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Scheduler:
    """The root's loop, its tracked timers (``later``) and the tasks it owns (``spawn``)."""

    __slots__ = ("_loop", "_on_error", "tasks", "timers")

    def __init__(self, on_error: Callable[[str], None]) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_error = on_error  # how a failed owned task is reported (a trace error)
        # sets, as dicts: an empty dict is lighter, and there is one per root
        self.timers: dict[asyncio.TimerHandle, None] = {}
        self.tasks: dict[asyncio.Task[Any], None] = {}

    @property
    def bound(self) -> asyncio.AbstractEventLoop | None:
        """The loop ``start`` bound the root to (None before)."""
        return self._loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The bound loop, else the running one (a root used before ``start``)."""
        return self._loop or asyncio.get_running_loop()

    def bind(self) -> asyncio.AbstractEventLoop:
        """Bind to the running loop (``start``)."""
        self._loop = asyncio.get_running_loop()
        return self._loop

    def time(self) -> float:
        """The loop's clock (monotonic seconds), which its timers run on."""
        return (self._loop or asyncio.get_running_loop()).time()

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` later in this turn of the loop (the mesh's flush, the group commit)."""
        (self._loop or asyncio.get_running_loop()).call_soon(fn)

    def call_at(self, when: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        """A timer its caller keeps and cancels (one per queue, not tracked here)."""
        return (self._loop or asyncio.get_running_loop()).call_at(when, fn)

    def call_later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        """A timer its caller keeps and cancels (one per queue, not tracked here)."""
        return (self._loop or asyncio.get_running_loop()).call_later(delay, fn)

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in ``delay`` seconds, unless ``cancel`` comes first."""
        loop = self._loop or asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def run() -> None:
            self.timers.pop(handle, None)
            fn()

        handle = loop.call_later(delay, run)
        self.timers[handle] = None

    def read(self, fn: Callable[[], T], default: T, wait: float) -> T:
        """``fn()`` run on the thread of the root's loop, its graph's one writer: a read from
        another thread (a notebook's repr) would copy dicts the loop is changing. Direct when
        no loop runs elsewhere; ``default`` when the loop does not get to it within ``wait``
        seconds (a repr must not hang)."""
        loop = self._loop
        if loop is None or not loop.is_running() or loop.is_closed():
            return fn()
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            return fn()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(fn())
                except BaseException as exc:  # handed to the reader, raised there
                    done.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
            return done.result(wait)
        except (concurrent.futures.TimeoutError, RuntimeError):  # busy, or closed meanwhile
            done.cancel()
            return default

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a task the root owns (cancelled by ``cancel``); its failure goes to
        ``on_error``, never to a lost 'exception was never retrieved'."""
        loop = self._loop or asyncio.get_running_loop()
        task: asyncio.Task[Any] = loop.create_task(coro, name=name)
        self.tasks[task] = None

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.pop(t, None)
            if not t.cancelled() and t.exception() is not None:
                self._on_error(f"{name} failed: {t.exception()!r}")

        task.add_done_callback(done)
        return task

    def report(self, text: str) -> None:
        """Report a failure of the root's own work (a trace error)."""
        self._on_error(text)

    def cancel_timers(self) -> None:
        """Cancel every timer ``later`` made (``close``)."""
        for h in self.timers:
            h.cancel()
        self.timers.clear()

    def cancel_tasks(self) -> list[asyncio.Task[Any]]:
        """Cancel every owned task; returns them, for ``close`` to await."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        return tasks


K = TypeVar("K")
J = TypeVar("J")
IDLE_WAIT = 0.01  # seconds ``FairWork`` waits when no queued job could take a step


class FairWork(Generic[K, J]):
    """Work queued per connection and served round-robin, a step at a time, by one task of
    the root, within one budget per loop turn shared by every connection.

    Why: a task per piece of work, each taking its own slice per turn, let hundreds of tasks
    run in one turn (2,000 GETs in one frame held an honest client 5-7 s). Here a turn does at
    most ``budget()`` units of work in all, one step of each connection's first job in turn,
    so a connection with one job waits behind one step of each other connection, not behind
    their whole queues. Work done outside the worker (an answer sent at once) is counted with
    ``spend`` against the same turn's budget. ``step(job)`` does one step and returns
    (finished, units spent); a step that cannot run yet returns (False, 0) and the connection
    waits its next round."""

    __slots__ = (
        "_armed",
        "_budget",
        "_name",
        "_sched",
        "_step",
        "queues",
        "spent",
        "worker",
    )

    def __init__(
        self,
        sched: Scheduler,
        name: str,
        step: Callable[[J], tuple[bool, int]],
        budget: Callable[[], int],
    ) -> None:
        self._sched = sched
        self._name = name
        self._step = step
        self._budget = budget
        self._armed = False
        self.spent = 0  # units of work done this loop turn
        # connections with work, in their turn: the dict's order is the round (one structure:
        # a deque beside it cost 760 bytes per root, and thousands of roots share a process)
        self.queues: dict[K, collections.deque[J]] = {}
        self.worker: asyncio.Task[Any] | None = None

    def left(self) -> int:
        """Units of work this loop turn still has."""
        return self._budget() - self.spent

    def spend(self, units: int) -> None:
        """Count ``units`` of work done this turn (reset when the next turn starts)."""
        if not self._armed:
            self._armed = True
            self._sched.call_soon(self._new_turn)
        self.spent += units

    def _new_turn(self) -> None:
        self._armed = False
        self.spent = 0

    def queued(self, key: K) -> int:
        """How many jobs ``key`` has waiting (its first one possibly under way)."""
        q = self.queues.get(key)
        return len(q) if q is not None else 0

    def total(self) -> int:
        """Jobs waiting, across every connection."""
        return sum(len(q) for q in self.queues.values())

    def add(self, key: K, job: J) -> None:
        """Queue ``job`` after ``key``'s others; the worker starts if it is not running."""
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = collections.deque()
        q.append(job)
        if self.worker is None:
            self.worker = self._sched.spawn(self._run(), self._name)

    def drop(self, key: K) -> list[J]:
        """Take away every job of ``key`` (its connection is gone); returns them."""
        q = self.queues.pop(key, None)
        return [] if q is None else list(q)

    async def _run(self) -> None:
        try:
            while self.queues:
                worked = self._turn()
                # the next turn, every other callback first; a pause when nothing could run
                await asyncio.sleep(0 if worked else IDLE_WAIT)
        finally:
            self.worker = None

    def _turn(self) -> bool:
        """One loop turn's work: first jobs served in turn until the budget is spent (or a
        whole round found nothing that could run). Returns whether any step ran."""
        worked = False
        idle = 0
        queues = self.queues
        while queues and self.left() > 0 and idle < len(queues):
            key = next(iter(queues))
            q = queues[key]
            try:
                finished, units = self._step(q[0])
            except Exception as exc:  # one bad job must not stop everyone's work
                self._sched.report(f"{self._name}: a step failed: {exc!r}")
                finished, units = True, 1
            self.spend(units)
            stuck = units == 0 and not finished
            worked = worked or not stuck
            idle = idle + 1 if stuck else 0
            if finished:
                q.popleft()
            if queues.get(key) is not q:
                continue  # its connection left during the step (``drop``)
            del queues[key]
            if q:
                queues[key] = q  # to the back of the round
        return worked
