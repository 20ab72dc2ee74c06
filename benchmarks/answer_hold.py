"""How long an honest client waits while our relay answers hostile GETs or verifies forged
SEA keys (issue 22, section 2b): the figures behind tests/adversarial/test_answer_fairness.py
and test_sea_fairness.py, which assert only counts and order.

The relay runs as its own process (``python -m gunrtc_kit.cli relay``, from ``--code``, so
the same script measures another checkout, e.g. one before a change). An attacker connection
sends one scenario's frame(s) and reads everything it gets back; meanwhile an honest
connection puts a small value every 100 ms (``gets`` and ``value``) or a put of 100 keys
signed by their owner (``sea``) and times each ack. Printed: the slowest ack while the attack
ran, the median, how many honest puts were refused, and how long the attack took (capped at
``--seconds``: the attacker then hangs up).

Scenarios (sizes are options):

- ``value``: one stored value of ``--value-mb`` MB, and a frame of 5 GETs of it;
- ``gets``: a node of 1,000 keys, and one frame of ``--gets`` GETs of it (the issue: 2,000);
- ``wide``: the same node, and one frame of ``--wide`` GETs (the issue: 20,000, 0.78 MB);
- ``sea``: ``--sea-conns`` connections each sending a put of ``--sea-keys`` forged signed keys
  (the issue: 64 x 20,000); the honest client's signed puts must be taken, not refused.

    python benchmarks/answer_hold.py [--only gets] [--code DIR] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import stop  # noqa: E402  (the process helpers, once)

from gunrtc_kit.sea import pair  # noqa: E402
from gunrtc_kit.sea.check import sign_value  # noqa: E402

EVERY = 0.1  # the honest client's pace, seconds


def start_relay(
    code: Path, extra: Sequence[str] | None = None, python: Sequence[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """Our relay from ``code`` in a child process, and its URL once it listens: with
    ``extra`` relay options, else a frame limit the 50 MB value of ``value`` fits (an older
    checkout, from before the relay had one, takes it as it is); ``python`` options go to
    the interpreter (``frame_hold.py`` runs it under cProfile)."""
    if extra is None:
        new = "RELAY_MAX_FRAME" in (code / "gunrtc_kit" / "relay.py").read_text(encoding="utf-8")
        extra = ["--max-frame", "90000000"] if new else []
    proc = subprocess.Popen(
        [sys.executable, *python, "-m", "gunrtc_kit.cli", "relay", "--port", "0", *extra],
        cwd=code,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(code)},
    )
    assert proc.stdout is not None
    m = re.search(r"ws://\S+/gun", proc.stdout.readline())
    if m is None:
        proc.kill()
        raise RuntimeError("the relay did not start")
    return proc, m.group(0)


def msgs(frame: str | bytes) -> list[dict[str, Any]]:
    data = json.loads(frame)
    return [m for m in (data if isinstance(data, list) else [data]) if isinstance(m, dict)]


def node(soul: str, values: dict[str, Any]) -> dict[str, Any]:
    state = time.time() * 1000 - 1000
    return {soul: {"_": {"#": soul, ">": dict.fromkeys(values, state)}, **values}}


async def put_acked(ws: ClientConnection, mid: str, put: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"#": mid, "put": put}))
    while True:
        for m in msgs(await ws.recv()):
            if m.get("@") == mid:
                return m


CUT: list[str] = []  # scenarios whose attacker the relay hung up on (a slow reader's budget)


async def drain(ws: ClientConnection, done: Callable[[dict[str, Any]], bool]) -> None:
    """Read every frame until ``done`` says the attack's answers are all in (or the relay
    hangs up: a reader too slow for its wire's budget is cut)."""
    try:
        while True:
            for m in msgs(await ws.recv()):
                if done(m):
                    return
    except ConnectionClosed:
        CUT.append("cut")


class Honest:
    """One honest connection: a put every ``EVERY`` seconds, each ack timed."""

    def __init__(self, url: str, signed: bool) -> None:
        self.url = url
        self.signed = signed
        self.waits: list[float] = []
        self.refused = 0
        made = pair()
        self.owner: dict[str, str] = {k: str(v) for k, v in made.items()} if signed else {}

    def put(self, n: int) -> dict[str, Any]:
        if not self.signed:
            return node(f"probe/{n}", {"v": n})
        soul = "~" + self.owner["pub"]
        state = time.time() * 1000
        keys = {
            f"p{n}k{i}": sign_value(soul, f"p{n}k{i}", i, state, self.owner) for i in range(100)
        }
        return {soul: {"_": {"#": soul, ">": dict.fromkeys(keys, state)}, **keys}}

    async def run(self, stop: asyncio.Event) -> None:
        async with connect(self.url, max_size=None, ping_interval=None) as ws:
            n = 0
            while not stop.is_set():
                put = self.put(n)  # made before the clock starts: the wait is the relay's
                t0 = time.perf_counter()
                reply = await put_acked(ws, f"h{n}", put)
                self.waits.append(time.perf_counter() - t0)
                self.refused += bool(reply.get("err"))
                n += 1
                await asyncio.sleep(EVERY)  # the pace IS the measurement


async def scenario(
    url: str,
    seed: Callable[[ClientConnection], Awaitable[None]],
    attack: Callable[[ClientConnection], Awaitable[None]],
    conns: int,
    seconds: float,
    signed: bool,
) -> dict[str, Any]:
    async with connect(url, max_size=None, ping_interval=None) as seeder:
        await seed(seeder)
    honest = Honest(url, signed)
    stop = asyncio.Event()
    probe = asyncio.ensure_future(honest.run(stop))
    await asyncio.sleep(0.5)  # a few honest puts before: the baseline
    base = list(honest.waits)
    CUT.clear()
    t0 = time.perf_counter()
    sockets = [
        await connect(url, max_size=None, ping_interval=None, close_timeout=1) for _ in range(conns)
    ]
    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(*(attack(ws) for ws in sockets))
    except TimeoutError:
        pass
    took = time.perf_counter() - t0
    for ws in sockets:
        await ws.close()
    stop.set()
    await probe  # the put under way counts too: it may be the one that waited longest
    during = honest.waits[len(base) :]
    return {
        "attack_s": round(took, 2),
        "worst_ms": round(max(during, default=0.0) * 1000, 1),
        "median_ms": round(statistics.median(during) * 1000, 1) if during else None,
        "baseline_ms": round(statistics.median(base) * 1000, 1) if base else None,
        "honest_puts": len(during),
        "refused": honest.refused,
        "attacker_cut": len(CUT),
    }


def forged_put(n: int) -> dict[str, Any]:
    """``n`` keys of one user's soul, all carrying one signature made by another key (each
    fails after the full ECDSA work)."""
    soul = f"~{pair()['pub']}"
    forged = sign_value(soul, "k0", 0, time.time() * 1000, pair())
    return node(soul, {f"k{i}": forged for i in range(n)})


def gets_attack(count: int) -> Callable[[ClientConnection], Awaitable[None]]:
    async def attack(ws: ClientConnection) -> None:
        await ws.send(json.dumps([{"#": f"a{i}", "get": {"#": "big"}} for i in range(count)]))
        ends: set[str] = set()
        await drain(ws, lambda m: _ended(m, ends, count))

    return attack


def _ended(m: dict[str, Any], ends: set[str], count: int) -> bool:
    if isinstance(m.get("@"), str) and ("%" not in m or "err" in m):
        ends.add(m["@"])
    return len(ends) >= count


async def seed_node(ws: ClientConnection) -> None:
    await put_acked(ws, "seed", node("big", {f"k{i:05}": i for i in range(1000)}))


async def run(args: argparse.Namespace) -> None:
    only = set(args.only or ["value", "gets", "wide", "sea"])
    code: Path = args.code
    rows: dict[str, Any] = {}

    async def seed_value(ws: ClientConnection) -> None:
        await put_acked(ws, "seed", node("bigv", {"v": "x" * (args.value_mb * 1_000_000)}))

    async def value_attack(ws: ClientConnection) -> None:
        await ws.send(json.dumps([{"#": f"v{i}", "get": {"#": "bigv"}} for i in range(5)]))
        ends: set[str] = set()
        await drain(ws, lambda m: _ended(m, ends, 5))

    forged = [forged_put(args.sea_keys) for _ in range(args.sea_conns)] if "sea" in only else []
    sent = iter(range(len(forged)))

    async def sea_attack(ws: ClientConnection) -> None:
        i = next(sent)
        await ws.send(json.dumps({"#": f"forged{i}", "put": forged[i]}))
        await drain(ws, lambda m: m.get("@") == f"forged{i}")

    async def nothing(ws: ClientConnection) -> None:
        return None

    plans = {
        "value": (seed_value, value_attack, 1, False),
        "gets": (seed_node, gets_attack(args.gets), 1, False),
        "wide": (seed_node, gets_attack(args.wide), 1, False),
        "sea": (nothing, sea_attack, args.sea_conns, True),
    }
    for name, (seed, attack, conns, signed) in plans.items():
        if name not in only:
            continue
        proc, url = start_relay(code)
        try:
            rows[name] = await scenario(url, seed, attack, conns, args.seconds, signed)
        finally:
            stop(proc, 15)  # a relay still busy with the attack may need the while
        print(name, json.dumps(rows[name]), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=["value", "gets", "wide", "sea"])
    ap.add_argument("--code", default=str(ROOT), help="the checkout whose relay is measured")
    ap.add_argument("--seconds", type=float, default=60.0, help="the longest an attack runs")
    ap.add_argument("--value-mb", type=int, default=50)
    ap.add_argument("--gets", type=int, default=2000)
    ap.add_argument("--wide", type=int, default=20000)
    ap.add_argument("--sea-conns", type=int, default=16)
    ap.add_argument("--sea-keys", type=int, default=5000)
    args = ap.parse_args()
    args.code = Path(args.code).resolve()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
