"""``gunrtc-kit``: run a relay, a tap in front of any relay, or the demo that shows a real mesh
working on one machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.relay import Relay
from gunrtc_kit.root import Gun
from gunrtc_kit.tap import Recorder, Tap
from gunrtc_kit.webrtc.options import WebRTCOptions

__all__ = ["main"]

log = logging.getLogger(__name__)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


STOP_TIMEOUT = 3.0  # seconds SIGTERM/SIGINT waits for a clean stop before exiting anyway


async def _relay(args: argparse.Namespace) -> int:
    relay = Relay(
        args.host,
        args.port,
        store=args.store,
        peers=args.peer,
        salvage=args.salvage,
        cache_mb=args.cache_mb,
        check_store=True if args.check_store else None,
        max_frame=args.max_frame,
        allowed_origins=args.allow_origin,
        # nobody reads a command-line relay's trace: keep no history, so the hot paths skip
        # building events (the Lab and tests pass their own bus)
        bus=trace.TraceBus(keep=0),
    )
    # handlers first: a supervisor may send SIGTERM as soon as it reads "listening"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await relay.start()
    _out(
        f"gunrtc-kit relay {relay.pid} listening on {relay.url}"
        + (f" (store {args.store})" if args.store else " (memory)")
    )
    # after the "listening" line: scripts (and the tests' harness) read the URL from line one
    report = relay.gun.store.salvage_report if relay.gun.store is not None else None
    if report:
        _out(report)
    await stop.wait()
    # Bounded: a peer that never finishes its close handshake must not keep a relay that was
    # told to stop alive. Every acknowledged write is already committed, so leaving without
    # the rest of the clean-up loses nothing acknowledged.
    stopping = asyncio.ensure_future(relay.stop())
    done, _ = await asyncio.wait({stopping}, timeout=STOP_TIMEOUT)
    if not done:
        log.warning("relay.stop() took more than %.0f s; exiting without it", STOP_TIMEOUT)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # asyncio.run would wait for the stuck task again
    stopping.result()
    return 0


def _listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``, or ``[v6]:PORT``) -> (host, port); GunError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise GunError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8766")
    return (host.strip("[]") or "127.0.0.1"), int(port)


async def _tap(args: argparse.Namespace) -> int:
    """Forward clients of ``--listen`` to ``--target``; record to ``--trace`` (bounded)."""
    host, port = _listen_address(args.listen)
    # nobody reads a command-line tap's history: the recorder subscribes, the bus keeps nothing
    bus = trace.TraceBus(keep=0)
    tap = Tap(args.target, host, port, bus=bus)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    recorder: Recorder | None = None
    try:
        await tap.start()
    except OSError as exc:
        raise GunError(f"cannot listen on {args.listen}: {exc}") from None
    try:
        if args.trace:
            meta: dict[str, object] = {"tap": tap.name, "target": tap.target, "listen": tap.url}
            recorder = Recorder(args.trace, bus, limit=args.trace_limit, meta=meta, node=tap.name)
            recorder.start()
        _out(f"gunrtc-kit tap listening on {tap.url} -> {tap.target}")
        _out(
            f"recording to {args.trace} (up to {args.trace_limit} bytes, then stops)"
            if recorder is not None
            else "not recording (no --trace FILE)"
        )
        await stop.wait()
    finally:
        stopping = asyncio.ensure_future(tap.stop())
        await asyncio.wait({stopping}, timeout=STOP_TIMEOUT)
        if recorder is not None:
            recorder.close()  # flushed: everything recorded is on disk
            _out(f"recorded {recorder.written} bytes to {args.trace}")
    return 0


class _Watch:
    """Which demo messages each peer has seen, and an event set once all have seen ``want``."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.seen: dict[str, set[str]] = {n: set() for n in names}
        self.want = {f"from-{n}" for n in names}
        self.done = asyncio.Event()

    def saw(self, name: str, _value: object, key: str) -> None:
        """A peer's ``map().on`` callback: ``name`` saw ``key``."""
        self.seen[name].add(key)
        if all(self.seen[n] >= self.want for n in self.names):
            self.done.set()

    async def wait(self, timeout: float) -> None:
        """Wait until every peer saw ``want`` (or ``timeout`` seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)


async def _demo(args: argparse.Namespace) -> int:
    """A relay with a SQLite store and ``args.peers`` peers on 127.0.0.1 that also link by
    WebRTC (ICE on 127.0.0.1 only, no STUN): every peer writes, every peer sees every write;
    the relay stops and the peers keep syncing over their data channels; the relay restarts
    from its store and still holds every acknowledged write."""
    bus = trace.TraceBus()
    with tempfile.TemporaryDirectory(prefix="gunrtc-demo-") as tmp:
        store = Path(tmp) / "relay.sqlite3"
        relay = await Relay(store=store, bus=bus).start()
        _out(f"relay  {relay.pid}  {relay.url}  store={store.name}")
        names = [f"peer{i}" for i in range(args.peers)]
        rtc = WebRTCOptions(ice_servers=[], room="demo", host_addresses=["127.0.0.1"])
        peers = [await Gun([relay.url], bus=bus, rtc=rtc).start() for _ in names]
        for name, g in zip(names, peers, strict=True):
            await g.wait_connected()
            _out(f"{name:6} {g.pid}  connected")
        watch = _Watch(names)
        for name, g in zip(names, peers, strict=True):
            g.get("demo/chat").map().on(functools.partial(watch.saw, name))
        await asyncio.sleep(0.2)
        ok, took = await _demo_writes(names, peers, watch)
        ok = await _demo_links(peers) and ok
        await relay.stop()
        _out("relay stopped")
        ok = await _demo_without_relay(names, peers, watch) and ok
        relay2 = await Relay(store=store, port=0).start()
        kept = sorted(
            k
            for k in (relay2.gun.graph.nodes.get("demo/chat") or {})
            if k not in ("_", "after-relay")
        )
        _out(f"relay restarted from {store.name}: demo/chat holds {kept}")
        await relay2.stop()
        for g in peers:
            await g.close()
        counts: dict[str, int] = {}
        for e in bus.history:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        _out("trace: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        ok = ok and len(kept) == len(watch.want)
        _out(
            f"{'OK' if ok else 'FAILED'}: {len(names)} peers synced {len(watch.want)} writes "
            f"in {took:.0f} ms through the built-in relay, and kept syncing over WebRTC without it"
        )
        return 0 if ok else 1


async def _demo_writes(names: list[str], peers: list[Gun], watch: _Watch) -> tuple[bool, float]:
    """Every peer writes and waits for the relay's ack; then every peer sees every write?"""
    t0 = time.perf_counter()
    for name, g in zip(names, peers, strict=True):
        ack = (
            await g.get("demo/chat")
            .get(f"from-{name}")
            .put({"text": f"hello from {name}", "by": g.pid})
        )
        _out(f"{name:6} put from-{name}: ack {ack.get('ok')!r} from the relay")
    await watch.wait(5)
    took = (time.perf_counter() - t0) * 1000
    for n in names:
        _out(f"{n:6} sees {len(watch.seen[n])}/{len(watch.want)} messages")
    return all(watch.seen[n] == watch.want for n in names), took


async def _demo_links(peers: list[Gun]) -> bool:
    """Every pair of peers has a data channel open (room discovery made them)."""
    ok = True
    for i, a in enumerate(peers):
        for b in peers[i + 1 :]:
            assert a.rtc is not None
            try:
                await a.rtc.wait_open(b.pid, 15)
            except GunError as exc:
                _out(f"WebRTC link {a.pid}-{b.pid} did not open: {exc}")
                ok = False
    links = sum(len(g.rtc.connected()) for g in peers if g.rtc) // 2
    _out(f"WebRTC: {links} data-channel links between the {len(peers)} peers")
    return ok


async def _demo_without_relay(names: list[str], peers: list[Gun], watch: _Watch) -> bool:
    """With the relay gone, a write still reaches every peer over the data channels."""
    watch.want.add("after-relay")
    watch.done = asyncio.Event()
    for n in names:
        watch.seen[n].discard("after-relay")
    peers[0].get("demo/chat").get("after-relay").put({"text": "the relay is gone"})
    await watch.wait(5)
    for n in names:
        _out(f"{n:6} sees 'after-relay' over WebRTC: {'after-relay' in watch.seen[n]}")
    watch.want.discard("after-relay")
    return all("after-relay" in watch.seen[n] for n in names)


def _relay_options(r: argparse.ArgumentParser) -> None:
    """The options of ``gunrtc-kit relay``."""
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--port", type=int, default=8765)
    r.add_argument("--store", default=None, help="SQLite file (default: memory)")
    r.add_argument("--peer", action="append", default=[], help="another relay to dial")
    r.add_argument(
        "--salvage",
        action="store_true",
        help="if the store file is damaged, move it aside and start with every row that can "
        "still be read (prints what was kept and lost)",
    )
    r.add_argument(
        "--cache-mb",
        type=float,
        default=None,
        metavar="MIB",
        help="with --store: memory kept for nodes read from the store, in MiB (default 64); "
        "the store is read on demand, least recently used nodes are evicted, so the relay "
        "starts without reading the store and its memory does not grow with it",
    )
    r.add_argument(
        "--check-store",
        action="store_true",
        help="read the whole store file for damage before listening, whatever its size "
        "(by default only a file up to 256 MiB is checked whole when it opens; in a bigger "
        "one a damaged page is named when a read reaches it)",
    )
    r.add_argument(
        "--max-frame",
        type=int,
        default=None,
        metavar="CHARS",
        help="the longest frame a peer may send, in chars (default 10,000,000; Gun.js allows "
        "90,000,000); a longer one is answered 'Message too big!'. Each big frame is decoded "
        "and merged in one go: while it is, other clients wait (60-90 ms for a 10 MB put "
        "of small keys, about 1 s for 50 MB)",
    )
    r.add_argument(
        "--allow-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="accept browser WebSockets only from this Origin (repeatable; default: any "
        "origin, as Gun's relay does)",
    )


def _parser() -> argparse.ArgumentParser:
    """The command line: ``relay``, ``tap`` and ``demo`` with their options."""
    parser = argparse.ArgumentParser(prog="gunrtc-kit", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _relay_options(sub.add_parser("relay", help="run the built-in Gun relay"))
    t = sub.add_parser("tap", help="a transparent WebSocket proxy in front of a relay, recorded")
    t.add_argument("--listen", required=True, metavar="HOST:PORT", help="where clients dial")
    t.add_argument("--target", required=True, metavar="URL", help="the relay, ws://host:port/gun")
    t.add_argument("--trace", default=None, metavar="FILE", help="record events to this file")
    t.add_argument(
        "--trace-limit",
        type=int,
        default=256 * 1024 * 1024,
        metavar="BYTES",
        help="stop recording past this many bytes (default 256 MiB); forwarding goes on",
    )
    d = sub.add_parser("demo", help="a relay and peers on 127.0.0.1, syncing")
    d.add_argument("--peers", type=int, default=3)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cmd == "relay" and args.salvage and args.store is None:
        parser.error("--salvage needs --store FILE")
    if args.cmd == "relay" and args.cache_mb is not None and args.store is None:
        parser.error("--cache-mb needs --store FILE (without one, memory is the store)")
    if args.cmd == "relay" and args.cache_mb is not None and not args.cache_mb >= 0:
        parser.error("--cache-mb must be >= 0")
    if args.cmd == "relay" and args.max_frame is not None and args.max_frame <= 0:
        parser.error("--max-frame must be > 0")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        run = {"relay": _relay, "tap": _tap, "demo": _demo}[args.cmd]
        return asyncio.run(run(args))
    except GunError as exc:
        # a damaged store, a bad option: the message says what to do, a traceback would not
        sys.stderr.write(f"error: {exc}\n")
        sys.stderr.flush()
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
