"""How long our relay's loop is held while it checks a put of thousands of forged SEA
signatures: the figure behind tests/adversarial/test_sea_wire.py, which asserts only the
behaviour (an honest client is served during the check), not this number.

One in-process relay, one raw client sending a put of ``N`` keys that all carry a signature
made by the wrong key (each fails after the full ECDSA work, ~80 us), and a sampler on the
same loop that sleeps 2 ms at a time: the longest overshoot is the longest any other
connection waited for the loop. Verified in one piece, 8000 keys held it ~0.67 s; sliced
(``root.SEA_SLICE`` keys per turn), about 20 ms on an idle machine.

    python benchmarks/sea_loop_hold.py [N] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from gunrtc_kit import Relay  # noqa: E402
from gunrtc_kit.sea import pair  # noqa: E402
from gunrtc_kit.sea.check import sign_value  # noqa: E402

TICK = 0.002  # the sampler's sleep, in seconds


def forged_put(n: int) -> dict[str, Any]:
    """``n`` keys of one user's soul, all carrying one signature made by another key."""
    soul = f"~{pair()['pub']}"
    state = time.time() * 1000
    forged = sign_value(soul, "k0", 0, state, pair())
    node: dict[str, Any] = {"_": {"#": soul, ">": {}}}
    for i in range(n):
        node["_"][">"][f"k{i}"] = state
        node[f"k{i}"] = forged
    return {soul: node}


async def one(put: dict[str, Any]) -> float:
    """Seconds of the longest loop hold while ``put`` is refused."""
    async with Relay() as relay:

        async def attack() -> None:
            async with connect(relay.url, max_size=None, ping_interval=None) as ws:
                await ws.send(json.dumps({"#": "forged", "put": put}))
                async with asyncio.timeout(60):
                    async for frame in ws:
                        data = json.loads(frame)
                        msgs = data if isinstance(data, list) else [data]
                        if any(m.get("@") == "forged" for m in msgs):
                            return

        task = asyncio.ensure_future(attack())
        worst = 0.0
        while not task.done():
            t0 = time.perf_counter()
            await asyncio.sleep(TICK)
            worst = max(worst, time.perf_counter() - t0 - TICK)
        await task
        return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=8000, help="forged keys in the put")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    put = forged_put(args.n)
    holds = [asyncio.run(one(put)) * 1000 for _ in range(args.repeats)]
    print(
        f"{args.n} forged signatures: loop held at most {statistics.median(holds):.1f} ms "
        f"(median of {args.repeats}; min {min(holds):.1f}, max {max(holds):.1f})"
    )


if __name__ == "__main__":
    main()
