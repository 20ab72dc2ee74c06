"""How long an honest client waits while our relay takes one big frame (issue 22, section 1,
"Big frames"): the figures behind docs/benchmarks.md "Big frames" and the default frame limit.

The relay runs as its own process (``python -m gunrtc_kit.cli relay``, from ``--code``, so
the same script measures another checkout, e.g. one before a change). The attacker is a
process of its own too: it builds its frame before the clock starts, so the honest client's
loop (in this process) never waits for the attacker's JSON encoding or masking. Meanwhile an
honest connection puts a small value every 100 ms and times each ack. Printed per kind and
size: the slowest honest ack from the moment the frame is sent until the relay answered it
(+0.3 s), the median, and what the attacker got back.

Kinds (``--kind``, repeatable; sizes ``--mb``, repeatable):

- ``garbage``: N MB of letters after a ``{``: not JSON, found only by parsing it;
- ``value``: a valid put of one soul with one value of N MB;
- ``keys``: a valid put of one soul with N MB of keys (64-char values, about 100 bytes each);
- ``sea``: a put into a user's space (``~pub``) of N MB of values of ``--sea-value`` chars,
  each signed by another key (every one fails after the full ECDSA work).

    python benchmarks/frame_hold.py [--kind value] [--mb 50] [--repeats 3] [--code DIR]
        [--relay-arg=--max-frame=16000000] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from answer_hold import Honest  # noqa: E402
from answer_hold import start_relay as answer_start_relay  # noqa: E402

KINDS = ("garbage", "value", "keys", "sea")


def start_relay(
    code: Path, extra: list[str], profile: Path | None
) -> tuple[subprocess.Popen[str], str]:
    """Our relay from ``code`` in a child process (under cProfile into ``profile``), and its
    URL once it listens (``answer_hold.start_relay``)."""
    prof = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    return answer_start_relay(code, extra, prof)


def stop_relay(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)  # a clean exit: cProfile writes its file then
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ---------------------------------------------------------------------------- the attacker
def build(kind: str, mb: float, sea_value: int) -> str:
    """The frame of ``kind``, about ``mb`` MB long."""
    size = int(mb * 1_000_000)
    state = time.time() * 1000 - 1000
    if kind == "garbage":
        return "{garbage " + "x" * (size - 9)  # starts as JSON: the relay tries to parse it
    if kind == "value":
        soul = "big/value"
        put = {soul: {"_": {"#": soul, ">": {"v": state}}, "v": "x" * (size - 100)}}
    elif kind == "keys":
        soul = "big/keys"
        n = size // 100
        keys = {f"k{i:07}": "y" * 64 for i in range(n)}
        put = {soul: {"_": {"#": soul, ">": dict.fromkeys(keys, state)}, **keys}}
    else:
        from gunrtc_kit.sea import pair
        from gunrtc_kit.sea.check import sign_value

        soul = f"~{pair()['pub']}"
        forged = sign_value(soul, "k0", "z" * sea_value, state, pair())  # another key's
        n = max(1, size // (len(forged) + 40))
        keys = {f"k{i:07}": forged for i in range(n)}
        put = {soul: {"_": {"#": soul, ">": dict.fromkeys(keys, state)}, **keys}}
    return json.dumps({"#": "big", "put": put}, separators=(",", ":"))


def attacker(kind: str, mb: float, url: str, sea_value: int) -> None:
    """Build the frame, say ``ready``, wait for ``go`` on stdin, send it, and print what the
    relay answered (its ack or its ``!`` error) and when, as one JSON line."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    frame = build(kind, mb, sea_value)
    with connect(url, max_size=None, close_timeout=1) as ws:
        print("ready", len(frame), flush=True)
        sys.stdin.readline()
        t0 = time.perf_counter()
        ws.send(frame)
        sent = time.perf_counter() - t0
        answer: Any = None
        try:
            while answer is None:
                raw = ws.recv(timeout=120)
                data = json.loads(raw)
                for m in data if isinstance(data, list) else [data]:
                    if isinstance(m, dict) and (m.get("@") == "big" or m.get("dam") == "!"):
                        answer = m
        except (TimeoutError, ConnectionClosed) as exc:
            answer = {"closed": repr(exc)[:120]}
        took = time.perf_counter() - t0
        print(
            json.dumps({"sent_s": round(sent, 3), "answered_s": round(took, 3), "answer": answer})
        )


# ---------------------------------------------------------------------------- the measure
async def one(url: str, kind: str, mb: float, sea_value: int) -> dict[str, Any]:
    """One frame of ``kind`` and ``mb`` MB sent to ``url`` while an honest client puts."""
    att = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--attacker",
        kind,
        str(mb),
        url,
        str(sea_value),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert att.stdin is not None and att.stdout is not None
    ready = await att.stdout.readline()
    if not ready.startswith(b"ready"):
        raise RuntimeError(f"attacker failed: {ready!r}")
    honest = Honest(url, signed=False)
    stop = asyncio.Event()
    probe = asyncio.ensure_future(honest.run(stop))
    await asyncio.sleep(1.0)  # a few honest puts before: the baseline
    base = list(honest.waits)
    att.stdin.write(b"go\n")
    await att.stdin.drain()
    line = await att.stdout.readline()
    await asyncio.sleep(0.3)  # what the answer left queued behind it
    stop.set()
    await probe  # the put under way counts too
    await att.wait()
    during = honest.waits[len(base) :]
    result = json.loads(line) if line else {"answer": None}
    answer = result.get("answer") or {}
    said = answer.get("err") or answer.get("ok") or answer.get("closed")
    return {
        "worst_ms": round(max(during, default=0.0) * 1000, 1),
        "median_ms": round(statistics.median(during) * 1000, 1) if during else None,
        "baseline_ms": round(statistics.median(base) * 1000, 1) if base else None,
        "honest_puts": len(during),
        "answered_s": result.get("answered_s"),
        "answer": str(said)[:60] if said is not None else None,
    }


async def run(args: argparse.Namespace) -> None:
    for kind in args.kind or KINDS:
        for mb in args.mb or [1, 4, 16, 50]:
            rows = []
            for r in range(args.repeats):
                profile = None
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profile = args.profile / f"{kind}-{mb:g}-{r}.prof"
                proc, url = start_relay(args.code, args.relay_arg or [], profile)
                try:
                    rows.append(await one(url, kind, mb, args.sea_value))
                finally:
                    stop_relay(proc)
            worst = [x["worst_ms"] for x in rows]
            summary = {
                "kind": kind,
                "mb": mb,
                "worst_ms_median": statistics.median(worst),
                "worst_ms_max": max(worst),
                "median_ms": statistics.median(x["median_ms"] or 0 for x in rows),
                "answered_s": statistics.median(x["answered_s"] or 0 for x in rows),
                "answer": rows[-1]["answer"],
                "runs": rows,
            }
            print(json.dumps(summary), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--attacker":
        kind, mb, url, sea_value = sys.argv[2:6]
        attacker(kind, float(mb), url, int(sea_value))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", action="append", choices=KINDS)
    ap.add_argument("--mb", action="append", type=float)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sea-value", type=int, default=10_000, help="chars of each forged value")
    ap.add_argument("--code", default=str(ROOT), help="the checkout whose relay is measured")
    ap.add_argument("--relay-arg", action="append", help="passed to the relay's command line")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile the relay into DIR")
    args = ap.parse_args()
    args.code = Path(args.code).resolve()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
