"""``benchmarks/soak.py`` runs end to end at tiny sizes and writes well-formed JSON.

No timing or memory assertions: only that the script starts our relay, drives it, stops it and
reports every figure it promises (the verdict itself depends on the machine and on the run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOAK = ROOT / "benchmarks" / "soak.py"


def test_soak_quick_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    args = ["--quick", "--seconds", "6", "--rate", "100", "--writers", "2"]
    args += ["--subscribers", "2", "--slow", "2", "--settle", "5", "--drain", "1"]
    proc = subprocess.run(
        [sys.executable, str(SOAK), *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "verdict:" in proc.stdout

    r = json.loads(out.read_text())
    assert r["args"]["seconds"] == 6
    assert r["args"]["quick"] is True
    assert r["machine"]["cpu_count"] >= 1
    assert isinstance(r["git_commit"], str)
    assert r["verdict"] in ("flat", "GROWING") or r["verdict"].startswith("n/a")

    samples = r["samples"]
    assert len(samples) >= 3
    for s in samples:
        assert s["rss_mb"] > 0 and s["hwm_mb"] > 0
        assert s["t"] >= 0 and s["relay_cpu_s"] >= 0
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
    assert samples[-1]["puts"] == r["puts_sent"]

    rss = r["rss_mb"]
    for k in ("idle", "start", "middle", "end", "min", "max", "peak_hwm"):
        assert rss[k] > 0, k
    assert rss["min"] <= rss["middle"] <= rss["max"]
    assert isinstance(r["slope_mb_per_min"]["second_half"], float)
    assert r["threshold_mb_per_min"] > 0

    assert r["puts_sent"] > 0
    assert 0 < r["acks"] <= r["puts_sent"]
    assert 0 < r["acked_share"] <= 1
    assert 0 < r["ack_ms"]["p50"] <= r["ack_ms"]["p99"] <= r["ack_ms"]["max"]
    assert r["deliveries"] > 0
    assert r["delivery_lag_ms"]["p50"] is not None

    slow = r["slow_readers"]
    assert slow["count"] == 2
    assert 0 <= slow["dropped"] <= 2
    assert len(slow["dropped_at_s"]) == 2
