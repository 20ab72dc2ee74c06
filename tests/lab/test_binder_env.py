"""Binder builds, and the notebooks run there: scripts/binder-env (called by scripts/setup-tests)
builds .cache/binder-env from binder/ alone the way repo2docker does (the Python of
binder/runtime.txt, repo2docker's base notebook packages, `pip install -r
binder/requirements.txt` from the repo root, then binder/postBuild); here we check that
environment and run every notebook in it, from a copy in a temp folder (so the notebooks are
proven to run from any working directory), inside the loopback-only network namespace."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.lab.headless_tabs import headless_tabs
from tests.netns import require_loopback_only

ROOT = Path(__file__).resolve().parents[2]
ENV = ROOT / ".cache" / "binder-env"
PY = ENV / "bin" / "python"
DRIVER = Path(__file__).resolve().parent / "binder_nb_driver.py"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds per cell, as tests/lab/test_notebooks.py
NOTEBOOK_TIMEOUT = 420  # seconds per notebook, kernel start and shutdown included


def runtime_python() -> str:
    """The Python version repo2docker picks for binder/ (runtime.txt, else 3.10)."""
    path = ROOT / "binder" / "runtime.txt"
    if not path.exists():
        return "3.10"
    text = path.read_text().strip()
    m = re.fullmatch(r"python-(3(?:\.\d+)?)(?:\.\d+)?(?:-\d{4}-\d\d-\d\d)?", text)
    assert m, f"binder/runtime.txt: {text!r} is not python-3.X"
    return m.group(1) if "." in m.group(1) else "3.10"


def clean_env() -> dict[str, str]:
    """The environment a Binder user's kernel has: the binder env first on PATH, nothing of
    this test run's venv, no GUNRTC_INTEROP (the notebooks must find interop/ themselves)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "GUNRTC_INTEROP", "JUPYTER_PATH"}
        and not k.startswith(("PYTEST_", "JPY_"))
    }
    env["PATH"] = os.pathsep.join([str(ENV / "bin"), env.get("PATH", "")])
    env["JUPYTER_PATH"] = str(ENV / "share" / "jupyter")  # this env's kernelspec first
    env["PYTHONNOUSERSITE"] = "1"
    return env


def require_env() -> None:
    if not PY.exists():
        pytest.fail(
            f"no Binder environment at {ENV}: run scripts/setup-tests (or scripts/binder-env)"
        )


def in_env(code: str, cwd: Path) -> str:
    done = subprocess.run(
        [str(PY), "-c", code],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_binder_env_is_built_and_current() -> None:
    require_env()
    done = subprocess.run(
        [str(ROOT / "scripts" / "binder-env"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, (
        f"{done.stderr.strip()}: binder/ or pyproject.toml changed since the environment was "
        "built; run scripts/setup-tests"
    )


def test_binder_files() -> None:
    binder = ROOT / "binder"
    assert os.access(binder / "postBuild", os.X_OK), "binder/postBuild must stay executable"
    reqs = [
        line.split("#", 1)[0].strip()
        for line in (binder / "requirements.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert reqs == ["-e .[lab]"], "binder/requirements.txt installs this checkout, nothing else"


def test_python_version_is_runtime_txt(tmp_path: Path) -> None:
    require_env()
    got = in_env("import sys; print('%d.%d' % sys.version_info[:2])", tmp_path).strip()
    assert got == runtime_python()


def test_gunrtc_kit_imports_from_this_checkout(tmp_path: Path) -> None:
    require_env()
    out = in_env(
        "import json, sys, gunrtc_kit, gunrtc_kit.lab, anywidget, ipywidgets, matplotlib\n"
        "from gunrtc_kit.lab.gunjs import find_interop\n"
        "print(json.dumps({'pkg': gunrtc_kit.__file__, 'interop': str(find_interop()),"
        " 'prefix': sys.prefix}))",
        tmp_path,
    )
    info = json.loads(out)
    assert Path(info["pkg"]).resolve() == ROOT / "gunrtc_kit" / "__init__.py"
    assert Path(info["interop"]) == ROOT / "interop"
    assert Path(info["prefix"]).resolve() == ENV.resolve()
    labext = ENV / "share" / "jupyter" / "labextensions"
    assert (labext / "@jupyter-widgets" / "jupyterlab-manager").is_dir()
    assert (labext / "anywidget").is_dir()
    assert (ROOT / "interop" / "node_modules" / "gun").is_dir()  # binder/postBuild's npm ci


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_in_binder_env(path: Path, tmp_path: Path) -> None:
    require_loopback_only()  # WebRTC and relays: loopback only
    require_env()
    work = tmp_path / "work"
    work.mkdir()
    copy = work / path.name
    shutil.copyfile(path, copy)
    report = tmp_path / "report.json"
    env = clean_env()
    try:
        with contextlib.ExitStack() as stack:
            if path.name[:2] in ("09", "10"):  # their tabs open in headless chromium (tab.open())
                env.update(stack.enter_context(headless_tabs(tmp_path / "tabs")))
            done = subprocess.run(
                [str(PY), str(DRIVER), str(copy), str(report), "--timeout", str(CELL_TIMEOUT)],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=NOTEBOOK_TIMEOUT,
            )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{path.name} did not finish in {NOTEBOOK_TIMEOUT} s: {str(e.stderr)[-2000:]}")
    assert done.returncode == 0 and report.exists(), f"driver failed:\n{done.stderr[-3000:]}"
    result = json.loads(report.read_text())
    assert result["kernel_python"] is not None, "the probe cell did not run"
    assert Path(result["kernel_python"]).parent == ENV / "bin", result["kernel_python"]
    lines = [
        f"cell {e['cell']}: {e['ename']}: {e['evalue']}\n{e['source']}\n{e['traceback']}"
        for e in result["errors"]
    ]
    assert not result["failure"] and not result["errors"], (
        f"{path.name} in the Binder env (Python {runtime_python()}, "
        f"{result['seconds']} s):\n" + (result["failure"] or "") + "\n\n".join(lines)
    )
    assert result["executed_cells"] == result["code_cells"]
    assert result["widgets"], "the notebook shows at least one widget"
