"""A real Gun.js client (npm gun in Node, ``interop/gunjs_peer.js``) for notebooks.

    from gunrtc_kit.lab.gunjs_client import GunJsClient

    with GunJsClient(tap.url, name="alice") as alice:   # a Gun.js app's client, in Node
        alice.subscribe_sync("chat")                     # gun.get("chat").map().on(...)
        alice.put_sync("chat", {"hello": "world"})       # gun.get("chat").put(..., ack)
        alice.read_sync("chat")                          # what its own Gun holds: once()

Why: the meshes people debug are Gun.js apps; to show one behind a tap (``lab.tap``) the
notebook needs Gun.js clients it can start, drive and ask what they hold, from plain cells.
The client is npm gun's own code in a Node process; this class only speaks the JSON-line
protocol of ``interop/lineproto.js`` to it (events out on its stdout, commands in on its
stdin). Every wait is bounded and comes as a coroutine ``x`` with a blocking twin ``x_sync``
(the package's rule); output is read by a daemon thread, so a client that dies or stays silent
ends in a ``GunError`` / ``TimeoutError`` quoting what it printed, never in a hang. The
process is stopped by ``stop()`` (and ``with``), and it exits when its stdin closes, so it does
not outlive a killed kernel.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import json
import os
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab.gunjs import check_install

__all__ = ["GunJsClient"]

SCRIPT = "gunjs_peer.js"
MAX_EVENTS = 10_000  # events kept (a busy subscription prints one per value)

Event = dict[str, Any]

_live: weakref.WeakSet[GunJsClient] = weakref.WeakSet()


@atexit.register
def _stop_forgotten() -> None:
    for client in list(_live):
        client.stop()


class GunJsClient:
    """One npm Gun.js client connected to ``url`` (a relay, or a tap in front of one); see the
    module docstring. ``pid`` is its Gun pid once started."""

    def __init__(self, url: str, *, name: str = "gunjs", timeout: float = 20.0) -> None:
        self.url = url
        self.name = name
        self.timeout = timeout
        self.pid = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.events: collections.deque[Event] = collections.deque(maxlen=MAX_EVENTS)
        self.lines: collections.deque[str] = collections.deque(maxlen=50)  # for errors
        self._seen = 0  # events ever read (the deque forgets the oldest)
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._eof = False
        self._n = 0

    # -- start / stop -------------------------------------------------------------------
    def start(self) -> GunJsClient:
        """Start the Node process and wait until its Gun is ready (``pid`` set). ``GunError``
        when node or npm gun is missing or the process ends first."""
        interop, node = check_install(SCRIPT)
        self.process = subprocess.Popen(
            [node, str(interop / SCRIPT), self.url],
            cwd=str(interop),
            env=dict(os.environ, MULTICAST="false", NODE_NO_WARNINGS="1"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a kernel interrupt (SIGINT to our group) spares it
        )
        _live.add(self)
        self._reader = threading.Thread(
            target=self._read, name=f"gunjs-client-{self.name}", daemon=True
        )
        self._reader.start()
        ready = self._wait(lambda e: e.get("event") == "ready", self.timeout, "to start")
        self.pid = str(ready.get("pid", ""))
        return self

    def stop(self) -> None:
        """Stop the process (bounded); idempotent."""
        proc = self.process
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # it exits when its stdin closes
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(2)  # it reads to the end of the output, then closes it

    def __enter__(self) -> GunJsClient:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- commands -------------------------------------------------------------------------
    async def subscribe(self, soul: str, timeout: float = 10.0) -> None:
        """``gun.get(soul).map().on(...)``: the client asks the relay for ``soul`` and keeps
        listening (a Gun relay pushes puts only to the clients that asked)."""
        await asyncio.get_running_loop().run_in_executor(None, self.subscribe_sync, soul, timeout)

    def subscribe_sync(self, soul: str, timeout: float = 10.0) -> None:
        """Blocking twin of ``subscribe``."""
        self._send({"cmd": "on", "soul": soul})
        self._wait(lambda e: e.get("event") == "on" and e.get("soul") == soul, timeout, "on")

    async def put(self, soul: str, data: dict[str, Any], timeout: float = 10.0) -> Event:
        """``gun.get(soul).put(data, ack)``; the ack Gun.js's callback got (``ok``/``err``)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.put_sync, soul, data, timeout)

    def put_sync(self, soul: str, data: dict[str, Any], timeout: float = 10.0) -> Event:
        """Blocking twin of ``put``."""
        self._n += 1
        cid = f"{self.name}-put{self._n}"
        self._send({"cmd": "put", "id": cid, "soul": soul, "data": data})
        return self._wait(lambda e: e.get("event") == "ack" and e.get("id") == cid, timeout, "ack")

    async def read(self, soul: str, timeout: float = 10.0) -> dict[str, Any] | None:
        """``gun.get(soul).once(...)``: what this client's Gun gives for ``soul`` (its own
        graph, or what it fetches), None when it has nothing."""
        return await asyncio.get_running_loop().run_in_executor(None, self.read_sync, soul, timeout)

    def read_sync(self, soul: str, timeout: float = 10.0) -> dict[str, Any] | None:
        """Blocking twin of ``read``."""
        self._n += 1
        cid = f"{self.name}-once{self._n}"
        self._send({"cmd": "once", "id": cid, "soul": soul})
        got = self._wait(lambda e: e.get("event") == "once" and e.get("id") == cid, timeout, "once")
        value = got.get("value")
        return value if isinstance(value, dict) else None

    def data(self, soul: str) -> dict[str, Any]:
        """What this client's subscription to ``soul`` has shown so far, key by key."""
        with self._cond:
            return {
                str(e["key"]): e.get("value")
                for e in self.events
                if e.get("event") == "data" and e.get("soul") == soul and "key" in e
            }

    # -- plumbing -----------------------------------------------------------------------
    def _send(self, cmd: dict[str, Any]) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None or proc.stdin is None:
            raise GunError(f"Gun.js client {self.name!r} is not running{self._quote()}")
        try:
            proc.stdin.write((json.dumps(cmd) + "\n").encode())
            proc.stdin.flush()
        except OSError as exc:
            raise GunError(f"Gun.js client {self.name!r}: {exc}{self._quote()}") from None

    def _read(self) -> None:
        proc = self.process
        assert proc is not None and proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode(errors="replace").strip()
            with self._cond:
                self.lines.append(text)
                if text.startswith("{"):
                    with contextlib.suppress(ValueError):
                        self.events.append(json.loads(text))
                        self._seen += 1
                self._cond.notify_all()
        proc.stdout.close()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _wait(self, pred: Callable[[Event], bool], timeout: float, what: str) -> Event:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                if self._eof:
                    raise GunError(
                        f"Gun.js client {self.name!r} ended while waiting {what}{self._quote()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GunTimeoutError(
                        f"Gun.js client {self.name!r}: nothing {what} within {timeout:g} s"
                        f"{self._quote()}"
                    )
                self._cond.wait(min(left, 0.2))

    def _quote(self) -> str:
        tail = list(self.lines)[-8:]
        return (": it printed\n  " + "\n  ".join(tail)) if tail else ""

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.process.poll() is None else "off"
        return f"<GunJsClient {self.name!r} pid={self.pid or '?'} {self.url} ({state})>"
