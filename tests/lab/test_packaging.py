"""The package as a user installs it: a wheel and an sdist built from the tree (``python -m
build --no-isolation``: the suite has no network), the wheel installed into a fresh virtualenv,
and a Lab's views made from that copy.

Why: an editable install reads the source tree, so a module, an ES module or a stylesheet
missing from the wheel would pass every other test and fail for every user. The fresh venv
gets the wheel (``--no-deps``); its dependencies come from this venv's site-packages through a
``.pth`` line, which adds the directory but does not run the editable install's hook there, so
``gunrtc_kit`` can only come from the wheel (the test checks where it was imported from).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ("mesh.js", "flow.js", "peer.js", "signaling.js", "sea.js", "common.js", "views.css")

CHECK = """
import json, pathlib, sys
import gunrtc_kit
from gunrtc_kit.lab import Lab
here = pathlib.Path(gunrtc_kit.__file__).resolve()
lab = Lab(relay=False)
a, b = lab.memory_peer("a"), lab.memory_peer("b")
lab.link_memory(a, b)
views = [lab.mesh_view(), lab.flow_view(), lab.peer_view(a)]
out = {
    "file": str(here),
    "esm": [len(v._esm) for v in views],
    "css": [len(str(v._css)) > 1000 and ".gk-" in str(v._css) for v in views],
    "doctor": bool(lab.converged() is True or lab.converged()),
}
lab.close()
print(json.dumps(out))
"""


def _build(out: Path) -> tuple[Path, Path]:
    done = subprocess.run(
        # no isolation: the tests run in a network namespace with loopback only, so the
        # build backend comes from this venv (the test extra installs hatchling)
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--wheel",
            "--sdist",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_the_wheel_installs_and_its_views_load_from_it(tmp_path: Path) -> None:
    wheel, sdist = _build(tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in STATIC:
        assert f"gunrtc_kit/lab/views/static/{f}" in names, f
    assert "gunrtc_kit/root/gun.py" in names and "gunrtc_kit/diagnose/doctor/report.py" in names
    members = tarfile.open(sdist).getnames()
    assert any(m.endswith("gunrtc_kit/lab/views/static/mesh.js") for m in members)
    assert any(m.endswith("pyproject.toml") for m in members)

    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    py = env / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]  # this venv's: the dependencies, not our package
    Path(site, "deps-from-test-venv.pth").write_text(ours + "\n")
    done = subprocess.run(
        [str(py), "-c", CHECK], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(env)), out["file"]  # the wheel's copy, not the tree
    assert all(n > 1000 for n in out["esm"]) and all(out["css"]) and out["doctor"]
