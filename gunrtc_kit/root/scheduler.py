"""The root's one scheduler: the only part of the root that knows its event loop.

A root is made outside any loop and bound to one by ``start``; until then whatever it
schedules goes to the running loop. Timers and tasks made here are the root's own: ``close``
cancels them all in one place (``cancel``), so a closed peer leaves nothing behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

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
