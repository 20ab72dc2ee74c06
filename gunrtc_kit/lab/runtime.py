"""Notebook-safe running: one event loop in a daemon thread owns every aiortc/websockets object.

Why: in Jupyter the kernel's own loop only runs while no cell blocks. Measured on ipykernel
7.4 with a 10 ms ticking task on that loop: 197 ticks in 2 s idle between cells, 99 during
``await asyncio.sleep(1)`` and **0** during ``time.sleep(1)``; and ipykernel 7 can leave
background tasks unadvanced between cells (ipykernel#1510). ICE consent checks, DTLS/SCTP
timers and mesh batching cannot live there. So the Lab starts one loop in its own thread and
creates every peer, relay and link on it; it keeps running between cells, during an awaiting
cell and during a blocking one, in ipykernel 6 and 7 alike.

Two call styles reach it, with one implementation underneath:
- ``await runtime.arun(coro)`` from a cell (top-level await): the cell's loop waits without
  blocking, via ``asyncio.wrap_future``;
- ``runtime.run(coro, timeout)``: the blocking twin, for plain cells and scripts. It blocks only
  the caller; the runtime loop goes on. Called from the runtime thread itself it would
  deadlock, so it raises ``GunError`` instead.
Nothing is patched (no nest-asyncio): nested loops are never needed, because the work never
runs on the caller's loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError

__all__ = ["Runtime", "get_runtime"]

T = TypeVar("T")


class Runtime:
    def __init__(self, name: str = "gunrtc-kit-runtime") -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait(5)
        self.closed = False
        self._closers: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def on_close(self, closer: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``closer()`` on the loop when the runtime closes (before tasks are cancelled),
        so peers and relays hang up cleanly instead of being cut mid-task."""
        self._closers.append(closer)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    @property
    def in_runtime(self) -> bool:
        return threading.current_thread() is self.thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the runtime loop; returns a thread-safe future."""
        if self.closed:
            coro.close()
            raise GunError("the runtime is closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Blocking twin: run ``coro`` on the runtime loop and wait for its result."""
        if self.in_runtime:
            coro.close()
            raise GunError("a blocking call was made on the runtime thread; use await instead")
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise GunTimeoutError(f"runtime call did not finish within {timeout} s") from None

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Awaitable from any other loop (a notebook cell): the caller's loop stays free."""
        if self.in_runtime:
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the runtime thread (for objects that live there)."""

        async def wrapper() -> T:
            return fn(*args)

        return self.run(wrapper()) if not self.in_runtime else fn(*args)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True

        async def stop_tasks() -> None:
            for closer in reversed(self._closers):
                try:
                    await asyncio.wait_for(closer(), 10)
                except Exception:  # noqa: S110 - shutting down: keep closing the rest
                    pass
            # cancelling a task can start another (a closing link reports its state), so
            # repeat until nothing is left, a few rounds at most
            for _ in range(5):
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not tasks:
                    break
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        if self.thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(stop_tasks(), self.loop).result(10)
            except Exception:  # noqa: S110 - shutting down: nothing left to report to
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


_shared: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime, started on first use (never at import)."""
    global _shared
    with _lock:
        if _shared is None or _shared.closed:
            _shared = Runtime()
            atexit.register(_shared.close)
        return _shared
