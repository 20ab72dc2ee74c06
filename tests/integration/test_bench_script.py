"""``benchmarks/run.py`` runs its cheapest benches end to end at tiny sizes and writes a
well-formed ``results.json``.

No timing assertions: only that both sides ran the same rows, repeated, and that every row
and the ``meta`` block carry what the script promises (the figures themselves depend on the
machine and on the run). The WebRTC bench runs only if this process already is in a
loopback-only network namespace (``scripts/test`` makes one); elsewhere it must say it
skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.gunjs import require_gunjs

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"

pytestmark = pytest.mark.interop


def check_side(s: object, repeats: int, name: str) -> None:
    assert isinstance(s, dict), name
    assert s["min"] <= s["median"] <= s["max"], name
    if s.get("samples") is not None:
        assert len(s["samples"]) == s["n"], name
        assert min(s["samples"]) == s["min"] and max(s["samples"]) == s["max"], name
    assert s["n"] + s.get("missing", 0) == repeats or s["n"] == 2 * repeats, name


def test_run_quick_tiny_writes_results_json(tmp_path: Path) -> None:
    require_gunjs()
    out = tmp_path / "results.json"
    benches = ["relay", "capacity", "mesh", "rtc"]
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--tiny", "--webrtc", "here", "--out", str(out)]
        + [arg for b in benches for arg in ("--only", b)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| benchmark | ours | Gun.js |" in proc.stdout

    data = json.loads(out.read_text())
    meta = data["meta"]
    assert meta["quick"] is True and meta["tiny"] is True and meta["mode"] == "tiny"
    repeats = meta["repeats"]
    assert repeats >= 2
    m = meta["machine"]
    assert m["cores"] >= 1 and m["ram_gib"] > 0 and m["kernel"] and "cpu_model" in m
    assert meta["python"].count(".") == 2 and meta["node"].startswith("v")
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["gun_version"])
    assert re.fullmatch(r"[0-9a-f]{40}", meta["commit"])
    assert isinstance(meta["dirty"], bool)
    assert meta["date"][:2] == "20"
    assert meta["failed"] == {}
    assert meta["benches"] == benches

    rows = data["rows"]
    ran = {r["bench"] for r in rows}
    assert {"relay", "capacity", "mesh"} <= ran
    assert ("rtc" in ran) != ("rtc" in meta["skipped"])
    for r in rows:
        name = r["name"]
        assert r["better"] in ("higher", "lower") and r["unit"], name
        check_side(r["ours"], repeats, name)
        if r.get("ours_only"):
            assert r["gunjs"] is None and r["ratio"] is None, name
        else:
            check_side(r["gunjs"], repeats, name)
            assert r["ratio"] is None or r["ratio"] >= 0, name
    both = [r for r in rows if not r.get("ours_only")]
    assert len(both) >= len(rows) - 2

    names = [r["name"] for r in rows]
    for subs in meta["sizes"]["capacity_subs"]:
        mine = [n for n in names if n.startswith(f"capacity, {subs} subscribers")]
        for what in (
            "puts per second",
            "deliveries per second",
            "acked within 1 s",
            "deliveries made",
            "p50",
            "p99",
            "relay CPU",
            "relay peak RSS",
        ):
            assert any(what in n for n in mine), (subs, what)
    for what in ("relay CPU", "relay peak RSS", "acked within 1 s"):
        assert any(n.startswith("relay, ") and what in n for n in names), what
    assert any("process RSS growth per peer" in n for n in names)
    assert any("heap per peer" in n for n in names)
