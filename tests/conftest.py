"""Suite-wide guard: a test leaves no thread and no process of its own running.

Why: a peer, relay or browser left running by one test slows or breaks the next and hides
leaks a user would hit (a Lab that does not stop its threads, a relay subprocess that outlives
its test). After each test, the threads and child processes that were not there before it
must end within ``GRACE`` seconds, or the test fails naming them.

Left out on purpose: the Lab's shared runtime and views pump (one each per process, made on
first use and kept by design), and pooled worker threads (asyncio's default executor, the
stdlib's thread pools), which outlive a task by design and are reused by the next one. A
fixture with a wider scope (a module's JupyterLab or http server) starts before the test's
snapshot and stops after its check, so it is not counted against a test.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gunrtc_kit import Relay

GRACE = 3.0  # seconds a test's threads and processes get to finish after it
SHARED_THREADS = ("gunrtc-kit-runtime", "gunrtc-kit-views")
POOLED = ("ThreadPoolExecutor-", "asyncio_")


def _children() -> set[int]:
    """This process's child pids (Linux: /proc/<pid>/task/*/children)."""
    out: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            out.update(int(p) for p in task.read_text().split())
        except OSError:
            continue
    return out


def _alive(pid: int) -> bool:
    """A child that exited but was not reaped yet is a zombie: it runs nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    """Our relay, in process, on 127.0.0.1 (a free port); stopped after the test. Dial it
    with ``tests.helpers.relay_peer``."""
    r = await Relay().start()
    yield r
    await r.stop()


def _ours(t: threading.Thread) -> bool:
    return not t.name.startswith(SHARED_THREADS) and not t.name.startswith(POOLED)


@pytest.fixture(autouse=True)
def _leaves_nothing_running() -> Iterator[None]:
    threads = {t.ident for t in threading.enumerate()}
    procs = _children()
    yield
    deadline = time.monotonic() + GRACE
    while True:
        left = [
            t for t in threading.enumerate() if t.ident not in threads and t.is_alive() and _ours(t)
        ]
        spawned = [p for p in _children() - procs if _alive(p)]
        if not left and not spawned:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    what = [f"thread {t.name!r}" for t in left]
    for pid in spawned:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except OSError:
            cmd = "?"
        what.append(f"process {pid} ({cmd.strip()})")
    pytest.fail(f"the test left running after {GRACE:g} s: {'; '.join(what)}", pytrace=False)
