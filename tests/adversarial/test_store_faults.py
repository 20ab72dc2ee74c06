"""The relay's store under faults, with real relay processes: a full disk, text UTF-8 cannot
hold, ``kill -9`` mid-stream, a damaged file, a stop that hangs.

What must hold (the issue these tests came from): an ack means the write is on disk; a write
that could not be stored gets ``err``, is not served and is not on disk; after a failure the
next write works; a damaged file is named and can be salvaged; the CLI never shows a traceback
for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from gunrtc_kit.store import SQLiteStore
from tests.adversarial.hostile import (
    ROOT,
    RelayProcess,
    messages,
    put_ack_time,
    raw_client,
    run,
    wait_reply,
)
from tests.unit.test_store import damaged_store

log = logging.getLogger(__name__)  # the figures (run with --log-cli-level=INFO to see them)


def biggest_file(path: Path) -> int:
    """The larger of the store file and its WAL, in bytes."""
    return max(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists())


def on_disk(path: Path) -> dict[str, dict[str, Any]]:
    store = SQLiteStore(path)
    try:
        return dict(store.load())
    finally:
        store.close()


def put_msg(mid: str, soul: str, values: dict[str, Any]) -> str:
    state = time.time() * 1000
    node = {"_": {"#": soul, ">": dict.fromkeys(values, state)}, **values}
    # ensure_ascii: a lone surrogate goes out as a \\udxxx escape, as JSON.stringify writes it
    return json.dumps({"#": mid, "put": {soul: node}})


async def put(ws: ClientConnection, mid: str, soul: str, values: dict[str, Any]) -> dict[str, Any]:
    await ws.send(put_msg(mid, soul, values))
    return await wait_reply(ws, mid, 10)


async def get_node(url: str, soul: str, key: str | None = None) -> dict[str, Any]:
    """What the relay serves for a soul (every chunk of its reply), or for one key of it."""
    mid = f"g{time.monotonic_ns()}"
    got: dict[str, Any] = {}
    ask: dict[str, Any] = {"#": soul} if key is None else {"#": soul, ".": key}
    async with raw_client(url) as ws:
        await ws.send(json.dumps({"#": mid, "get": ask}))
        async with asyncio.timeout(20):
            while True:
                done = False
                for m in messages(await ws.recv()):
                    if isinstance(m, dict) and m.get("@") == mid:
                        node = (m.get("put") or {}).get(soul) or {}
                        got.update({k: v for k, v in node.items() if k != "_"})
                        done = done or "%" not in m
                if done:
                    return got


class StoreRelay:
    """``tests/adversarial/store_relay.py``: the CLI relay with a settable file-size limit."""

    def __init__(self, store: Path, *extra: str) -> None:
        cmd = [sys.executable, "-m", "tests.adversarial.store_relay", *extra]
        cmd += ["relay", "--port", "0", "--store", str(store)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "ws://" not in line:
            self.proc.kill()
            raise RuntimeError(f"relay did not start: {line!r} {self.proc.stderr.read()[-2000:]}")
        self.url = line.split("listening on ")[1].split()[0]

    def control(self, command: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        for _ in range(10):
            if self.proc.stdout.readline().strip() == f"control: {command}":
                return
        raise AssertionError(f"no answer to {command!r}")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        _, err = self.proc.communicate(timeout=5)
        return self.proc.returncode, err


async def test_disk_full_gives_err_keeps_acked_writes_and_recovers(tmp_path: Path) -> None:
    """(a) The file may not grow past a limit set just above its size after warm-up: puts get
    ``err`` (not silence), an err'd write is neither served nor on disk, every acked one is;
    once there is room again, writes are acked and kept."""
    f = tmp_path / "relay.sqlite3"
    relay = StoreRelay(f)
    acked: dict[str, str] = {}
    failed: dict[str, str] = {}
    errs: list[str] = []
    recovered: dict[str, str] = {}
    try:
        async with raw_client(relay.url) as ws:
            for i in range(30):
                r = await put(ws, f"w{i}", "full", {f"k{i}": f"warm {i}"})
                assert r.get("ok") and not r.get("err"), r
                acked[f"k{i}"] = f"warm {i}"
            relay.control(f"fsize {biggest_file(f) + 40_000}")
            i = 30
            while len(failed) < 5 and i < 3000:
                key, value = f"k{i}", f"value {i} " + "x" * 500
                r = await put(ws, f"w{i}", "full", {key: value})
                if r.get("err"):
                    failed[key] = value
                    errs.append(str(r["err"]))
                else:
                    assert r.get("ok"), r
                    acked[key] = value
                i += 1
            assert failed, f"no err in {i - 30} puts past the limit"
            # one put too big for SQLite's page cache: it spills to the WAL during the write
            # itself, so this err comes from ``write`` rather than ``commit``
            big = {f"big{j}": f"{j} " + "z" * 1000 for j in range(3000)}
            r = await put(ws, "big", "full", big)
            assert r.get("err") and not r.get("ok"), r
            errs.append(str(r["err"]))
            failed.update(big)
            # no err'd write is served: not to this client, not to a fresh one
            for key in failed:
                assert key not in await get_node(relay.url, "full", key)
            for key in ("big0", "big2999"):
                assert key not in await get_node(relay.url, "full", key)
            served = await get_node(relay.url, "full")
            assert set(served) == set(acked)
            relay.control("fsize max")
            for j in range(5):
                r = await put(ws, f"r{j}", "full", {f"after{j}": f"room {j}"})
                assert r.get("ok") and not r.get("err"), r
                recovered[f"after{j}"] = f"room {j}"
        code, err = relay.stop()
    finally:
        if relay.proc.poll() is None:
            relay.proc.kill()
            relay.proc.wait(5)
    log.info(
        f"disk full: {len(acked)} acked, first err after {len(acked) - 30} puts past the limit"
    )
    log.info(f"err text: {errs[0]!r}")
    log.info(f"err text of the big put: {errs[-1]!r}")
    assert code == 0 and "Traceback" not in err, err[-3000:]
    assert all("store failed" in e and "disk" in e for e in errs), errs
    node = on_disk(f)["full"]
    assert {k: v for k, v in node.items() if k != "_"} == {**acked, **recovered}


async def test_lone_surrogates_in_key_and_value_round_trip_through_a_restart(
    tmp_path: Path,
) -> None:
    """(b) JavaScript strings may hold a lone surrogate; the write is acked, served, and still
    there (with its sibling keys) after a restart."""
    f = tmp_path / "relay.sqlite3"
    values = {"k\ud800": "v\udc00", "plain": "sibling", "astral\U0001f600": "\ud83d!"}
    relay = RelayProcess(store=f)
    try:
        async with raw_client(relay.url) as ws:
            r = await put(ws, "s1", "sur\udbffogate", values)
        assert r.get("ok") and not r.get("err"), r
        assert await get_node(relay.url, "sur\udbffogate") == values
    finally:
        assert relay.stop() == 0
    relay = RelayProcess(store=f)
    try:
        assert await get_node(relay.url, "sur\udbffogate") == values
    finally:
        relay.stop()
    node = on_disk(f)["sur\udbffogate"]
    assert {k: v for k, v in node.items() if k != "_"} == values


async def _write_until_killed(relay: RelayProcess, soul: str, seconds: float) -> tuple[int, dict]:
    """Puts as fast as acks come (up to 300 in flight) for ``seconds``, then SIGKILL the relay
    while puts are still in flight; returns (puts sent, {acked key: value})."""
    acked: dict[str, str] = {}
    sent: dict[str, tuple[str, str]] = {}
    room = asyncio.Event()
    async with raw_client(relay.url) as ws:

        async def read_acks() -> None:
            try:
                async for frame in ws:
                    for m in messages(frame):
                        mid = m.get("@") if isinstance(m, dict) else None
                        if mid in sent and m.get("ok") and not m.get("err"):
                            key, value = sent[mid]
                            acked[key] = value
                            room.set()
            except ConnectionClosed:
                pass

        reader = asyncio.create_task(read_acks())
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            if i - len(acked) < 300:
                key, value = f"k{i}", f"{soul} value {i}"
                sent[f"{soul}-{i}"] = (key, value)
                await ws.send(put_msg(f"{soul}-{i}", soul, {key: value}))
                i += 1
            else:
                room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(room.wait(), max(0.0, end - time.monotonic()))
        in_flight = i - len(acked)
        relay.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(reader, 10)
    relay.proc.wait(5)
    assert in_flight > 0
    return i, acked


async def test_kill_9_during_writes_loses_no_acked_write(tmp_path: Path) -> None:
    """(c) Five rounds on one file: write for a second and a bit, kill -9 mid-stream, restart
    on the same file; every acked write is served by the restarted relay and is on disk."""
    f = tmp_path / "relay.sqlite3"
    relay = RelayProcess(store=f)
    everything: dict[str, dict[str, str]] = {}
    try:
        for rnd in range(5):
            soul = f"kill{rnd}"
            t0 = time.perf_counter()
            sent, acked = await _write_until_killed(relay, soul, 1.2)
            for fh in (relay.proc.stdout, relay.proc.stderr):
                if fh is not None:
                    fh.close()
            relay = RelayProcess(store=f)
            everything[soul] = acked
            for s, want in everything.items():
                served = await get_node(relay.url, s)
                missing = set(want) - set(served)
                assert not missing, f"round {rnd}: {len(missing)} acked writes lost in {s}"
                assert all(served[k] == v for k, v in want.items())
            log.info(
                f"kill round {rnd}: {sent} sent, {len(acked)} acked, 0 acked lost, "
                f"{len(served) - len(acked)} unacked kept; {time.perf_counter() - t0:.1f} s"
            )
    finally:
        relay.stop()
    disk = on_disk(f)
    for s, want in everything.items():
        assert {k: disk[s][k] for k in want} == want


async def test_a_damaged_store_is_named_and_salvage_serves_what_is_readable(
    tmp_path: Path,
) -> None:
    """(d) Bytes overwritten in two table pages: the relay exits 2 naming the damage (no
    traceback); with ``--salvage`` it starts, says what it kept and lost, and serves it."""
    f, want = damaged_store(tmp_path)
    cmd = [sys.executable, "-m", "gunrtc_kit.cli", "relay", "--port", "0", "--store", str(f)]
    res = run(cmd, timeout=60)
    log.info(f"exit {res.returncode}; stderr: {res.stderr}")
    assert res.returncode == 2
    assert res.stderr.startswith(f"error: store {str(f)!r} is damaged")
    assert "page" in res.stderr and "--salvage" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    relay = RelayProcess("--salvage", store=f)
    try:
        assert relay.proc.stdout is not None
        report = relay.proc.stdout.readline()
        log.info(report.strip())
        assert report.startswith("salvage:") and "kept" in report and "lost" in report
        kept = int(report.split("kept ")[1].split()[0])
        assert 0 < len(want) - kept <= 40
        served: dict[tuple[str, str], Any] = {}
        for soul in sorted({s for s, _ in want}):
            served.update({(soul, k): v for k, v in (await get_node(relay.url, soul)).items()})
        assert len(served) == kept
        assert all(want[k] == v for k, v in served.items())
    finally:
        assert relay.stop() == 0


def test_a_stop_that_hangs_does_not_keep_the_relay_alive(tmp_path: Path) -> None:
    """SIGTERM with a ``Relay.stop`` that never returns: the CLI logs it and exits in ~3 s."""
    relay = StoreRelay(tmp_path / "relay.sqlite3", "--hang-stop")
    asyncio.run(put_ack_time(relay.url, "ready"))  # serving, so its signal handlers are set
    t0 = time.perf_counter()
    relay.proc.send_signal(signal.SIGTERM)
    try:
        code = relay.proc.wait(10)
    except subprocess.TimeoutExpired:
        relay.proc.kill()
        relay.proc.wait(5)
        raise AssertionError("the relay did not exit within 10 s of SIGTERM") from None
    took = time.perf_counter() - t0
    _, err = relay.proc.communicate(timeout=5)
    log.info(f"hung stop: exit {code} after {took:.1f} s")
    assert code == 0 and 2.5 < took < 6, (code, took)
    assert "took more than" in err and "Traceback" not in err


def test_sigterm_as_soon_as_it_listens_is_a_clean_stop(tmp_path: Path) -> None:
    """A supervisor may send SIGTERM the moment it reads the "listening" line: the relay
    stops cleanly (exit 0, store closed) instead of dying of the default signal action."""
    relay = RelayProcess(store=tmp_path / "relay.sqlite3")
    assert relay.stop() == 0
