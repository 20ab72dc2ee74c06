"""A real npm Gun.js relay (``interop/gunjs_relay.js``) for notebooks, started so it never hangs.

    from gunrtc_kit.lab.gunjs import GunJsRelay

    with GunJsRelay() as relay:            # radisk in a temp dir, a free port on 127.0.0.1
        lab.attach("carol", relay.url)     # ws://127.0.0.1:PORT/gun

``start()`` finds the ``interop/`` folder (``$GUNRTC_INTEROP``, else the checkout this package
lives in) from any working directory, checks that ``node`` and npm ``gun`` are installed (and
says what to run when they are not), starts ``node gunjs_relay.js PORT [--radisk DIR]`` with
multicast off, and waits for its ``{"event": "listening"}`` line with a real deadline: output is
read by daemon threads, so a process that dies, closes its stdout or stays silent ends in a
``GunError`` / ``gunrtc_kit.errors.TimeoutError`` quoting its stderr, never in a hang.

Every process started here is stopped by ``stop()`` (and by ``with``), and at interpreter exit
if it was forgotten. The relay also exits by itself when its stdin closes, so it does not
outlive a killed kernel either. This module imports nothing from the notebook libraries.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import html
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import gunrtc_kit
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError

__all__ = ["GunJsRelay", "check_install", "find_interop"]

SCRIPT = "gunjs_relay.js"
ENV_VAR = "GUNRTC_INTEROP"
_TAIL = 200  # lines of stdout / stderr kept
_QUOTE = 20  # lines of stderr quoted in an error

_live: set[GunJsRelay] = set()
_live_lock = threading.Lock()


def find_interop() -> Path:
    """The ``interop/`` folder: ``$GUNRTC_INTEROP`` if set, else the one beside this package
    in its checkout (``Path(gunrtc_kit.__file__).resolve().parents[1] / "interop"``)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return Path(gunrtc_kit.__file__).resolve().parents[1] / "interop"


def check_install(script: str) -> tuple[Path, str]:
    """The ``interop/`` folder and the ``node`` executable for running ``script`` there; a
    ``GunError`` saying what to run when the script, npm gun or node is missing."""
    interop = find_interop()
    where = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "the gunrtc_kit checkout"
    if not (interop / script).is_file():
        raise GunError(
            f"no {script} in {interop} (from {where}): point ${ENV_VAR} at the interop/ "
            "folder of a gunrtc_kit checkout, then run scripts/setup there, or "
            f"`npm ci` in that folder (cd {interop} && npm ci)"
        )
    if not (interop / "node_modules" / "gun").is_dir():
        raise GunError(
            f"npm gun is not installed in {interop}: run scripts/setup, or "
            f"`npm ci` in that folder (cd {interop} && npm ci)"
        )
    node = shutil.which("node")
    if node is None:
        raise GunError(
            "node is not on PATH: install Node.js >= 18 with npm, then run scripts/setup "
            f"(or `npm ci` in {interop})"
        )
    return interop, node


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GunJsRelay:
    """npm ``gun``'s relay (AXE, radisk) as a child process on 127.0.0.1.

    Args:
        port: TCP port on 127.0.0.1; 0 picks a free one at ``start()``.
        radisk: store on disk (then the relay acks puts, as Gun.js does); False keeps data in
            memory only and the relay sends no storage acks.
        data_dir: the radisk folder; None makes a temporary one that ``stop()`` removes.
        timeout: seconds ``start()`` waits for the relay to listen.
    """

    def __init__(
        self,
        port: int = 0,
        radisk: bool = True,
        data_dir: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, not {port}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self._requested_port = port
        self.radisk = radisk
        self.timeout = timeout
        self._given_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else None
        self._temp_dir: Path | None = None
        self._port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.interop: Path | None = None
        #: Gun's peer id of the relay, from its listening line
        self.gun_pid: str | None = None
        self._stdout: collections.deque[str] = collections.deque(maxlen=_TAIL)
        self._stderr: collections.deque[str] = collections.deque(maxlen=_TAIL)
        self._cond = threading.Condition()
        self._listening = False
        self._eof = False
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- state ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (the chosen one once started; 0 before when it is to be picked)."""
        return self._port

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT/gun``, the address a Gun peer dials."""
        if not self._port:
            raise GunError("the relay has no port yet: call start() first")
        return f"ws://127.0.0.1:{self._port}/gun"

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT/gun``, the address a Gun.js peer dials."""
        return self.url.replace("ws://", "http://", 1)

    @property
    def data_dir(self) -> Path | None:
        """The radisk folder in use (None without radisk, or before start with a temp one)."""
        if not self.radisk:
            return None
        return self._given_dir if self._given_dir is not None else self._temp_dir

    @property
    def running(self) -> bool:
        """True while the relay process is listening and alive."""
        return self._listening and self.process is not None and self.process.poll() is None

    @property
    def stdout_lines(self) -> list[str]:
        """The last lines the relay wrote to stdout."""
        return list(self._stdout)

    @property
    def stderr_lines(self) -> list[str]:
        """The last lines the relay wrote to stderr."""
        return list(self._stderr)

    # -- start / stop ---------------------------------------------------------------------

    def start(self) -> GunJsRelay:
        """Start the relay and block until it listens (at most ``timeout`` seconds).

        Raises ``GunError`` when node or npm gun is missing, or when the process exits or
        closes its stdout before listening; ``gunrtc_kit.errors.TimeoutError`` when it stays
        silent past the deadline. Either way the process is gone and its stderr is quoted.
        """
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                return self
            interop, node = self._check_install()
            self.interop = interop
            deadline = time.monotonic() + self.timeout
            attempts = 3 if self._requested_port == 0 else 1
            for attempt in range(attempts):
                try:
                    self._launch(interop, node, deadline)
                    return self
                except GunError as e:
                    retry = (
                        attempt + 1 < attempts
                        and not isinstance(e, GunTimeoutError)
                        and any("EADDRINUSE" in line for line in self._stderr)
                    )
                    self._stop_locked()
                    if not retry:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    def _check_install(self) -> tuple[Path, str]:
        return check_install(SCRIPT)

    def _launch(self, interop: Path, node: str, deadline: float) -> None:
        self._port = self._requested_port or _free_port()
        args = [node, str(interop / SCRIPT), str(self._port)]
        if self.radisk:
            if self._given_dir is None and self._temp_dir is None:
                self._temp_dir = Path(tempfile.mkdtemp(prefix="gunjs-radata-"))
            data_dir = self.data_dir
            assert data_dir is not None
            args += ["--radisk", str(data_dir)]
        self._stdout.clear()
        self._stderr.clear()
        self._listening = self._eof = self._stopped = False
        self.gun_pid = None
        env = dict(os.environ, MULTICAST="false")
        self.process = proc = subprocess.Popen(
            args,
            cwd=str(interop),
            env=env,
            stdin=subprocess.PIPE,  # the relay exits when this closes (and when we die)
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a kernel interrupt (SIGINT to our group) spares it
        )
        with _live_lock:
            _live.add(self)
        assert proc.stdout is not None and proc.stderr is not None
        self._threads = [
            threading.Thread(
                target=self._read,
                args=(proc.stdout, self._stdout, True),
                name=f"gunjs-relay-{proc.pid}-stdout",
                daemon=True,
            ),
            threading.Thread(
                target=self._read,
                args=(proc.stderr, self._stderr, False),
                name=f"gunjs-relay-{proc.pid}-stderr",
                daemon=True,
            ),
        ]
        for t in self._threads:
            t.start()
        with self._cond:
            while not self._listening:
                if self._eof or proc.poll() is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
            listening, eof = self._listening, self._eof
        if listening:
            return
        if eof or proc.poll() is not None:
            if proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(0.5)  # stdout closes first when it exits; let it finish
            why = self._ended(proc)
            self._reap(proc)
            raise GunError(
                f"the Gun.js relay ({SCRIPT}) {why} before it listened "
                f"on 127.0.0.1:{self._port}{self._quote()}"
            )
        self._reap(proc)
        raise GunTimeoutError(
            f"the Gun.js relay ({SCRIPT}) did not listen on 127.0.0.1:{self._port} within "
            f"{self.timeout:g} s; it was stopped{self._quote()}"
        )

    def _read(self, stream: IO[bytes], lines: collections.deque[str], is_stdout: bool) -> None:
        try:
            for raw in stream:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._cond:
                    lines.append(text)
                    if is_stdout and not self._listening and '"listening"' in text:
                        with contextlib.suppress(ValueError):
                            event: Any = json.loads(text)
                            if isinstance(event, dict) and event.get("event") == "listening":
                                pid = event.get("pid")
                                self.gun_pid = str(pid) if pid is not None else None
                                self._listening = True
                                self._cond.notify_all()
        except (OSError, ValueError):
            pass  # the pipe was closed under us by stop()
        finally:
            if is_stdout:
                with self._cond:
                    self._eof = True
                    self._cond.notify_all()

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        """Make sure ``proc`` is gone, then let the readers drain what it wrote (bounded)."""
        _end(proc)
        for t in self._threads:
            t.join(2.0)

    @staticmethod
    def _ended(proc: subprocess.Popen[bytes]) -> str:
        rc = proc.poll()
        if rc is None:
            return "closed its stdout (and was stopped)"
        if rc < 0:
            return f"was killed by signal {-rc}"
        return f"exited with code {rc}"

    def _quote(self) -> str:
        err = [line for line in self._stderr if line.strip()][-_QUOTE:]
        out = [line for line in self._stdout if line.strip()][-5:]
        text = ""
        if err:
            text += "; its stderr ended with:\n" + "\n".join(err)
        else:
            text += "; it wrote nothing to stderr"
        if out:
            text += "\nand its stdout with:\n" + "\n".join(out)
        return text

    def stop(self) -> None:
        """Stop the relay: close its stdin, then terminate and, if need be, kill it (each
        wait bounded); remove the temporary data folder if this object made one. Idempotent."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        proc = self.process
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            if proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(1.0)
            _end(proc)
            for t in self._threads:
                t.join(2.0)
            if not any(t.is_alive() for t in self._threads):  # else a reader holds the pipe
                for stream in (proc.stdout, proc.stderr):
                    if stream is not None:
                        with contextlib.suppress(OSError):
                            stream.close()
            self._stopped = True
        self._listening = False
        with _live_lock:
            _live.discard(self)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    # -- protocols ------------------------------------------------------------------------

    def __enter__(self) -> GunJsRelay:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _state(self) -> str:
        if self.process is None:
            return "not started"
        if self._stopped:
            return "stopped"
        rc = self.process.poll()
        if rc is not None:
            return f"exited with code {rc}"
        return "running" if self._listening else "starting"

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self._port}" if self._port else "127.0.0.1:(free port)"
        store = "memory" if not self.radisk else f"radisk={str(self.data_dir or '(temp)')!r}"
        pid = f" pid={self.process.pid}" if self.process is not None and self.running else ""
        return f"<GunJsRelay {self._state()} {where} {store}{pid}>"

    def _repr_html_(self) -> str:
        e = html.escape
        rows = [("state", self._state())]
        if self._port:
            rows.append(("url", self.url))
        if self.gun_pid:
            rows.append(("Gun pid", self.gun_pid))
        if self.process is not None:
            rows.append(("process", str(self.process.pid)))
        store = str(self.data_dir or "(a temp folder)") if self.radisk else "off (no acks)"
        rows.append(("radisk", store))
        body = "".join(
            f"<tr><th style='text-align:left'>{e(k)}</th><td><code>{e(v)}</code></td></tr>"
            for k, v in rows
        )
        return f"<div><b>Gun.js relay</b> (npm gun)<table>{body}</table></div>"


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, wait (bounded), kill, wait: ``proc`` is reaped when this returns."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(3.0)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(3.0)


@atexit.register
def _stop_forgotten() -> None:
    with _live_lock:
        relays = list(_live)
    for relay in relays:
        with contextlib.suppress(Exception):
            relay.stop()
