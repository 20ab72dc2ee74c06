"""SEA benchmark, ours (gunrtc_kit.sea on ``cryptography``) vs Gun.js (npm gun's sea.js).

Each side runs in a fresh process per repeat (``--repeats``, default 5): ours is this script
with ``--one``, Gun.js's is ``benchmarks/gunjs_sea_bench.js``. Each process measures sign,
verify, encrypt and decrypt per second (one call after another, for ``--seconds`` each, on a
small object), and "auth": the crypto of a password login (``work(password, salt)``, PBKDF2
100000 rounds, then decrypting the private keys with that proof, as ``auth`` does once it has
read the account), in ms, the mean of 3 after one warm-up. Prints a table of median and
min-max, and writes ``benchmarks/sea_results.json``. ``run.py`` runs the same two scripts as
its ``sea`` rows.

    .venv/bin/python benchmarks/sea_bench.py [--repeats 5] [--seconds 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OPS = ["sign", "verify", "encrypt", "decrypt", "auth_ms"]
DATA = {"text": "hello world", "n": 42, "list": [1, 2, 3], "nested": {"a": "b"}}


def rate(fn: Callable[[], Any], secs: float) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    end = t0 + secs
    while time.perf_counter() < end:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def one(secs: float) -> dict[str, float]:
    sys.path.insert(0, str(HERE.parent))
    from gunrtc_kit.sea import decrypt, encrypt, pair, sign, verify, work

    p = pair()
    signed, sealed = sign(DATA, p), encrypt(DATA, p)
    out = {
        "sign": rate(lambda: sign(DATA, p), secs),
        "verify": rate(lambda: verify(signed, p["pub"]), secs),
        "encrypt": rate(lambda: encrypt(DATA, p), secs),
        "decrypt": rate(lambda: decrypt(sealed, p), secs),
    }
    salt = "a-salt-of-sixty-four-characters-as-user-create-makes-it-0123456"
    ek = encrypt({"priv": p["priv"], "epriv": p["epriv"]}, work("correct horse battery", salt))

    def login() -> Any:
        return decrypt(ek, work("correct horse battery", salt))

    if login() != {"priv": p["priv"], "epriv": p["epriv"]}:
        raise RuntimeError("login crypto failed")
    t = time.perf_counter()
    for _ in range(3):
        login()
    out["auth_ms"] = (time.perf_counter() - t) * 1000 / 3
    return out


def run(cmd: list[str]) -> dict[str, float]:
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--one", action="store_true", help="one run of our side, as JSON")
    ap.add_argument("--out", default=str(HERE / "sea_results.json"))
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.seconds)))
        return
    samples: dict[str, dict[str, list[float]]] = {"ours": {}, "gunjs": {}}
    for _ in range(a.repeats):  # sides alternate, each run in a fresh process
        for side, cmd in (
            ("ours", [sys.executable, __file__, "--one", "--seconds", str(a.seconds)]),
            ("gunjs", ["node", str(HERE / "gunjs_sea_bench.js"), str(a.seconds)]),
        ):
            for k, v in run(cmd).items():
                samples[side].setdefault(k, []).append(v)
    summary = {
        side: {
            k: {"median": statistics.median(v), "min": min(v), "max": max(v), "samples": v}
            for k, v in s.items()
        }
        for side, s in samples.items()
    }
    print(f"{'op':10} {'ours median (min-max)':>30} {'Gun.js median (min-max)':>30}")
    for op in OPS:
        cells = []
        for side in ("ours", "gunjs"):
            m = summary[side][op]
            cells.append(f"{m['median']:.0f} ({m['min']:.0f}-{m['max']:.0f})")
        unit = "ms" if op == "auth_ms" else "/s"
        print(f"{op:10} {cells[0]:>30} {cells[1]:>30}  {unit}")
    meta = {"repeats": a.repeats, "seconds_per_op": a.seconds, "python": sys.version.split()[0]}
    Path(a.out).write_text(json.dumps({"meta": meta, **summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
