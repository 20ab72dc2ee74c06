"""Notebook-safe running: one event loop in a daemon thread owns every aiortc/websockets object.

Why: in Jupyter the kernel's own loop only runs while no cell blocks. Measured on ipykernel
7.4 with a 10 ms ticking task on that loop: 197 ticks in 2 s idle between cells, 99 during
``await asyncio.sleep(1)`` and **0** during ``time.sleep(1)``; and ipykernel 7 can leave
background tasks unadvanced between cells (ipykernel#1510). ICE consent checks, DTLS/SCTP
timers and mesh batching cannot live there. So the Lab starts one loop in its own thread and
creates every peer, relay and link on it; it keeps running between cells, during an awaiting
cell and during a blocking one, in ipykernel 6 and 7 alike.

Two call styles reach it, with one implementation underneath:
- ``await runtime.run(coro, timeout)`` from a cell (top-level await): the cell's loop waits
  without blocking, via ``asyncio.wrap_future``;
- ``runtime.run_sync(coro, timeout)``: the blocking twin, for plain cells and scripts. It
  blocks only the caller; the runtime loop goes on. Called from the runtime thread itself it
  would deadlock, so it raises ``GunError`` instead.
Both bound the work by ``timeout`` the same way. A Lab call with a timeout of its own (a read,
a link) hands the runtime that timeout plus ``SLACK``, so the call's own answer (None, its own
``TimeoutError``) comes back before the runtime's bound gives up on it.
Nothing is patched (no nest-asyncio): nested loops are never needed, because the work never
runs on the caller's loop.

Errors come back as the work raised them (same type, same message) with a traceback that holds
the caller's frames and the work's frames only: the frames of this module, of
``concurrent.futures`` and of asyncio's machinery between them are left out, so what a notebook
shows is the user's cell, the Lab method it called and the code that failed. A blocking wait
that runs out raises ``gunrtc_kit.errors.TimeoutError`` naming what did not finish.

The runtime lives as long as the process, so it holds the Labs on it weakly: ``on_close`` keeps
a bound method through a ``weakref.WeakMethod`` and hands back the function that forgets it. A
Lab nobody holds any more is collected (its finalizer hands the closing of its relay and peers
to this thread, see ``lab.py``) instead of living on in the runtime's list until exit.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import inspect
import itertools
import os
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError

__all__ = ["SLACK", "Runtime", "get_runtime", "run_in_loop"]

T = TypeVar("T")

# Seconds a blocking twin (``x_sync``) waits beyond the ``timeout`` of the call it waits for:
# the call ends by itself at its own timeout, with its own answer; the slack only catches a
# runtime that is stuck. One constant for every twin, so they all behave alike.
SLACK = 5.0

Closer = Callable[[], Coroutine[Any, Any, None]]

# Frames from these places are plumbing between the caller and the work; a traceback the user
# sees is rebuilt without them (see ``_clean_traceback``).
_INTERNAL_FILES = (os.path.abspath(__file__),)
_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__ or "")) + os.sep
    for m in (asyncio, concurrent.futures)
)


def _internal(tb: types.TracebackType) -> bool:
    name = os.path.abspath(tb.tb_frame.f_code.co_filename)
    return name in _INTERNAL_FILES or name.startswith(_INTERNAL_DIRS)


def _clean_traceback(exc: BaseException, seen: set[int] | None = None) -> None:
    """Rebuild ``exc.__traceback__`` (and its causes') without the runtime's own frames, keeping
    every other frame in order; the exception's type and message are untouched."""
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return
    seen.add(id(exc))
    kept: list[types.TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        if not _internal(tb):
            kept.append(tb)
        tb = tb.tb_next
    new: types.TracebackType | None = None
    for t in reversed(kept):
        new = types.TracebackType(new, t.tb_frame, t.tb_lasti, t.tb_lineno)
    exc.__traceback__ = new
    for inner in (exc.__cause__, exc.__context__):
        if inner is not None:
            _clean_traceback(inner, seen)


class _CleanErrors:
    """``with _CleanErrors():`` around a runtime call: an exception leaving the block gets its
    traceback rebuilt by ``__exit__``. Because ``__exit__`` returns a false value, the interpreter
    re-raises the same exception object with the rebuilt traceback and adds no entry for the
    frame holding the ``with``, so the runtime method does not show up either (a ``raise`` from
    an ``except`` block would add one)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if exc is not None:
            _clean_traceback(exc)


def _describe(coro: Coroutine[Any, Any, Any]) -> str:
    return str(getattr(coro, "__qualname__", None) or repr(coro))


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """Is ``loop`` running on the calling thread (where waiting for it would deadlock it)?"""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def run_in_loop(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, T],
    timeout: float | None = 60.0,
    *,
    what: str | None = None,
) -> T:
    """Run ``coro`` on ``loop`` (running in another thread) and wait for its result, bounded.

    Why: an object that lives on a loop is changed only by that loop's thread; a caller on
    another thread hands the change over and waits. After ``timeout`` seconds the work is
    cancelled and ``gunrtc_kit.errors.TimeoutError`` names ``what``; an interrupt cancels it
    too; an error the work raised comes back as it is, without this plumbing's frames. Called
    on ``loop``'s own thread it would deadlock, so it raises ``GunError`` instead."""
    with _CleanErrors():
        label = what or _describe(coro)
        if _on_loop_thread(loop):
            coro.close()
            raise GunError(
                f"{label}: a blocking call was made on the runtime thread; use await instead"
            )
        try:
            fut = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop is closed: nothing will ever run it
            coro.close()
            raise GunError(f"{label}: the loop that owns it is closed") from None
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise GunTimeoutError(f"{label} did not finish within {timeout:g} s") from None
        except KeyboardInterrupt:
            fut.cancel()
            raise


def call_in_loop(
    loop: asyncio.AbstractEventLoop,
    fn: Callable[..., T],
    *args: Any,
    timeout: float | None = 60.0,
    what: str | None = None,
) -> T:
    """Run a plain function on ``loop``'s thread and return its result: at once when called
    there, else handed over and waited for as ``run_in_loop`` does."""
    with _CleanErrors():
        if _on_loop_thread(loop):
            return fn(*args)

        async def wrapper() -> T:
            return fn(*args)

        label = what or str(getattr(fn, "__qualname__", None) or repr(fn))
        return run_in_loop(loop, wrapper(), timeout, what=label)


class Runtime:
    """One asyncio loop in a daemon thread, owning every peer, relay and link of the Labs on it.

    ``loop`` and ``thread`` are that loop and thread; ``closed`` turns true once ``close()``
    ran. Use ``get_runtime()`` for the shared one rather than making your own: every Lab on one
    runtime shares its thread, and a second runtime is a second thread.
    """

    def __init__(self, name: str = "gunrtc-kit-runtime") -> None:
        self.closed = False
        # key -> a function giving the closer, or None once its object was collected
        self._closers: dict[int, Callable[[], Closer | None]] = {}
        self._closers_lock = threading.Lock()
        self._keys = itertools.count()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait(5)

    def on_close(self, closer: Closer) -> Callable[[], None]:
        """Run ``closer()`` on the loop when the runtime closes (before tasks are cancelled),
        so peers and relays hang up cleanly instead of being cut mid-task.

        A bound method is held weakly (``weakref.WeakMethod``): the runtime outlives every Lab,
        and a strong hold here would keep each Lab, its peers and its views alive until the
        process ends. Returns the function that forgets ``closer`` (a Lab calls it when it
        closes, or when it is collected)."""
        if inspect.ismethod(closer):
            ref: Callable[[], Closer | None] = weakref.WeakMethod(closer)
        else:

            def ref() -> Closer | None:
                return closer

        with self._closers_lock:
            # forget the entries of objects collected without forgetting theirs
            for k in [k for k, r in self._closers.items() if r() is None]:
                del self._closers[k]
            key = next(self._keys)
            self._closers[key] = ref

        def forget() -> None:
            with self._closers_lock:
                self._closers.pop(key, None)

        return forget

    @property
    def closers(self) -> int:
        """How many closers are registered and still alive (Labs open on this runtime)."""
        with self._closers_lock:
            return sum(1 for r in self._closers.values() if r() is not None)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    @property
    def in_runtime(self) -> bool:
        """True on the runtime's own thread, where a blocking wait would deadlock it."""
        return threading.current_thread() is self.thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the runtime loop; returns a thread-safe future."""
        if self.closed:
            coro.close()
            raise GunError("the runtime is closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run_sync(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None = 60.0,
        *,
        what: str | None = None,
    ) -> T:
        """Blocking twin of ``run``: run ``coro`` on the runtime loop and wait for its result.

        For plain cells and scripts, where nothing can be awaited. It blocks only the caller;
        the runtime goes on. After ``timeout`` seconds the work is cancelled and
        ``gunrtc_kit.errors.TimeoutError`` says that ``what`` (by default the coroutine's name)
        did not finish; an interrupt (Ctrl-C, the notebook's stop button) cancels it too.
        """
        with _CleanErrors():
            if self.closed:
                coro.close()
                raise GunError("the runtime is closed")
            return run_in_loop(self.loop, coro, timeout, what=what)

    async def run(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None = 60.0,
        *,
        what: str | None = None,
    ) -> T:
        """Run ``coro`` on the runtime loop and await its result, from any loop (a notebook
        cell's): the caller's loop stays free while the work runs on the runtime. Bounded as
        ``run_sync``: after ``timeout`` seconds the work is cancelled and
        ``gunrtc_kit.errors.TimeoutError`` names ``what``. Cancelling the awaiting task
        cancels the work. Awaited on the runtime's own loop, it runs ``coro`` there."""
        with _CleanErrors():
            label = what or _describe(coro)
            if self.in_runtime:
                work: Awaitable[T] = coro
            elif self.closed:
                coro.close()
                raise GunError("the runtime is closed")
            else:
                work = asyncio.wrap_future(self.submit(coro))
            bound = asyncio.timeout(timeout)
            try:
                async with bound:
                    return await work
            except TimeoutError:
                if not bound.expired():
                    raise  # the work's own TimeoutError, not this bound's
                raise GunTimeoutError(f"{label} did not finish within {timeout:g} s") from None

    def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        timeout: float | None = 60.0,
        what: str | None = None,
    ) -> T:
        """Run a plain function on the runtime thread and return its result (for objects that
        live there: reading or changing a peer's graph or mesh from another thread would race
        with its loop)."""
        with _CleanErrors():
            if self.in_runtime:
                return fn(*args)
            if self.closed:
                raise GunError("the runtime is closed")
            return call_in_loop(self.loop, fn, *args, timeout=timeout, what=what)

    def close(self) -> None:
        """Close every Lab on this runtime (their ``on_close`` closers), cancel what is left
        and stop the thread. Idempotent; registered with ``atexit`` for the shared runtime."""
        if self.closed:
            return
        self.closed = True

        with self._closers_lock:
            refs = list(self._closers.values())
            self._closers.clear()
        closers = [c for c in (r() for r in reversed(refs)) if c is not None]

        async def stop_tasks() -> None:
            for closer in closers:
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
