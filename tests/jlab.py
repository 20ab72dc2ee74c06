"""JupyterLab on 127.0.0.1 driven by Debian's chromium through Playwright: what the browser
test and the views benchmark share. No downloaded browser, no network but loopback.

``jupyterlab(folder)`` serves ``folder`` (a fresh config and runtime dir inside it) and stops
the server on exit; ``chromium(pw)`` launches /usr/bin/chromium headless with the flags that
keep it off the network; ``run_all(page)`` runs every cell of the open notebook.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--no-proxy-server",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyterlab(folder: Path, timeout: float = 60.0) -> Iterator[tuple[str, str]]:
    """Serve ``folder`` with JupyterLab; yields (base URL, token)."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(folder / ".jcfg"),
        JUPYTER_RUNTIME_DIR=str(folder / ".jrt"),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
            "--ServerApp.port_retries=0",
            "--ServerApp.allow_root=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                direct.open(f"{base}/api?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("JupyterLab did not start") from None
                time.sleep(0.3)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def chromium(pw: Any) -> Any:
    """Debian's chromium, headless, kept off the network (a fresh temporary profile)."""
    if not CHROMIUM.exists():
        raise AssertionError(
            "Debian chromium missing: scripts/setup-tests installs it (apt-get install chromium)"
        )
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def run_all(page: Any) -> None:
    """Run every cell (retrying: the first clicks can land before the kernel is up)."""
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    for _attempt in range(5):
        page.wait_for_timeout(1500)
        page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=10_000)
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=10_000)
        try:
            page.wait_for_selector(".jp-InputPrompt:has-text('[1]')", timeout=15_000)
            return
        except Exception:
            continue
    raise AssertionError("the notebook's cells never started")


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[new_code_cell(c) for c in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)
