"""GunJsRelay (gunrtc_kit.lab.gunjs): a real npm Gun.js relay that starts from any working
directory and never hangs: a missing install, a script that dies silently and a script that
never listens all end in a prompt error quoting the process's stderr."""

from __future__ import annotations

import asyncio
import html
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gunrtc_kit import Gun
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab import gunjs
from gunrtc_kit.lab.gunjs import GunJsRelay

INTEROP = Path(__file__).resolve().parents[2] / "interop"


def require_node() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed; scripts/setup installs the interop dependencies")


def fake_interop(root: Path, script: str) -> Path:
    """An interop folder that passes the install checks, whose relay script is ``script``."""
    (root / "node_modules" / "gun").mkdir(parents=True)
    (root / "gunjs_relay.js").write_text(script)
    return root


@pytest.mark.interop
async def test_relay_from_any_cwd_acks_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_node()
    if not (INTEROP / "node_modules" / "gun").is_dir():
        pytest.fail("npm gun missing: run scripts/setup (npm ci in interop/)")
    monkeypatch.delenv("GUNRTC_INTEROP", raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the repo, not notebooks/

    relay = GunJsRelay(timeout=30)
    assert not relay.running and "not started" in repr(relay)
    t0 = time.monotonic()
    await asyncio.to_thread(relay.start)
    try:
        started = time.monotonic() - t0
        assert relay.running and relay.port > 0, relay.stderr_lines
        assert relay.url == f"ws://127.0.0.1:{relay.port}/gun"
        assert relay.gun_pid and relay.interop == INTEROP
        data_dir = relay.data_dir
        assert data_dir is not None and data_dir.is_dir()
        assert str(relay.port) in repr(relay) and "running" in repr(relay)
        assert html.escape(relay.url) in relay._repr_html_()
        peer = await Gun([relay.url]).start()
        try:
            await peer.wait_connected(10)
            ack = await peer.get("lab/gunjs").get("k").put({"text": "<hi> & bye"})
            assert ack["ok"] is True and not ack.get("err")  # the Gun.js relay's radisk ack
            assert await peer.get("lab/gunjs").get("k").once(timeout=5) == {"text": "<hi> & bye"}
        finally:
            await peer.close()
    finally:
        proc = relay.process
        relay.stop()
    assert proc is not None and proc.poll() is not None  # reaped: no process left
    assert not relay.running and "stopped" in repr(relay)
    assert not data_dir.exists()  # the temp radisk folder it made is gone
    relay.stop()  # idempotent
    assert started < 30


@pytest.mark.interop
async def test_context_manager_given_port_and_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_node()
    monkeypatch.setenv("GUNRTC_INTEROP", str(INTEROP))
    monkeypatch.chdir(tmp_path)
    radata = tmp_path / "radata"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with GunJsRelay(port=port, data_dir=radata, timeout=30) as relay:
        assert relay.port == port and relay.running
        proc = relay.process
        assert relay in gunjs._live  # atexit would stop it
    assert proc is not None and proc.poll() is not None
    assert relay not in gunjs._live
    assert radata.is_dir()  # a folder the user gave is kept


def test_empty_interop_dir_says_npm_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUNRTC_INTEROP", str(tmp_path))
    t0 = time.monotonic()
    with pytest.raises(GunError, match="npm ci") as info:
        GunJsRelay(timeout=30).start()
    assert time.monotonic() - t0 < 1.0
    assert str(tmp_path) in str(info.value)
    # the script present but npm gun missing: the same advice, scripts/setup named too
    (tmp_path / "gunjs_relay.js").write_text("")
    with pytest.raises(GunError, match=r"scripts/setup, or `npm ci`"):
        GunJsRelay(timeout=30).start()


def test_no_node_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUNRTC_INTEROP", str(fake_interop(tmp_path / "interop", "")))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(GunError, match="node is not on PATH"):
        GunJsRelay().start()


def test_script_that_exits_silently_fails_fast_with_its_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_node()
    interop = fake_interop(
        tmp_path / "interop",
        "process.stderr.write('fake relay: cannot open the radisk <folder>\\n');\n"
        "process.exit(3);\n",
    )
    monkeypatch.setenv("GUNRTC_INTEROP", str(interop))
    monkeypatch.chdir(tmp_path)
    relay = GunJsRelay(timeout=30)
    t0 = time.monotonic()
    with pytest.raises(GunError) as info:
        relay.start()
    took = time.monotonic() - t0
    assert not isinstance(info.value, GunTimeoutError)
    assert took < 5.0, f"took {took:.1f} s"
    text = str(info.value)
    assert "exited with code 3" in text
    assert "fake relay: cannot open the radisk <folder>" in text
    assert relay.process is not None and relay.process.poll() is not None
    assert not relay.running and relay not in gunjs._live


def test_script_that_closes_stdout_and_lingers_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EOF on stdout while the process lives on: an error at once, and the process stopped."""
    require_node()
    interop = fake_interop(
        tmp_path / "interop",
        "const fs = require('fs');\n"
        "fs.writeSync(2, 'fake relay: closing stdout\\n');\n"
        "fs.closeSync(1);\n"
        "setTimeout(() => {}, 60000);\n",
    )
    monkeypatch.setenv("GUNRTC_INTEROP", str(interop))
    relay = GunJsRelay(timeout=30)
    t0 = time.monotonic()
    with pytest.raises(GunError, match="fake relay: closing stdout") as info:
        relay.start()
    assert "closed its stdout" in str(info.value)
    assert time.monotonic() - t0 < 8.0
    assert not isinstance(info.value, GunTimeoutError)
    assert relay.process is not None and relay.process.poll() is not None


def test_script_that_never_listens_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_node()
    interop = fake_interop(
        tmp_path / "interop",
        "process.stderr.write('fake relay: still thinking\\n');\nsetTimeout(() => {}, 60000);\n",
    )
    monkeypatch.setenv("GUNRTC_INTEROP", str(interop))
    monkeypatch.chdir(tmp_path)
    relay = GunJsRelay(radisk=False, timeout=1.5)
    t0 = time.monotonic()
    with pytest.raises(GunTimeoutError) as info:
        relay.start()
    took = time.monotonic() - t0
    assert 1.4 <= took < 6.0, f"took {took:.1f} s"
    assert "within 1.5 s" in str(info.value)
    assert "fake relay: still thinking" in str(info.value)
    assert relay.process is not None and relay.process.poll() is not None


def test_atexit_stops_a_forgotten_relay(tmp_path: Path) -> None:
    """A script that starts a relay and never stops it leaves no process behind."""
    require_node()
    interop = fake_interop(
        tmp_path / "interop",
        "process.stdout.write(JSON.stringify({event: 'listening', port: +process.argv[2],"
        " pid: 'fake'}) + '\\n');\n"
        "process.on('SIGTERM', () => { require('fs').writeFileSync(process.argv[2] + '.bye',"
        " 'x'); process.exit(0); });\n"
        "setInterval(() => {}, 1000);\n",
    )
    code = (
        "from gunrtc_kit.lab.gunjs import GunJsRelay\n"
        "r = GunJsRelay(radisk=False, timeout=10).start()\n"
        "print(r.process.pid, r.port, flush=True)\n"
    )
    env = dict(os.environ, GUNRTC_INTEROP=str(interop))
    repo = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = str(repo) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    pid, port = (int(x) for x in done.stdout.split())
    assert (interop / f"{port}.bye").exists()  # it got SIGTERM from the atexit hook
    with pytest.raises(ProcessLookupError):  # and was reaped before the interpreter ended
        os.kill(pid, 0)
