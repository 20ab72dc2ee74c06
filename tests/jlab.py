"""JupyterLab on 127.0.0.1 driven by Debian's chromium through Playwright: what the browser
test and the views benchmark share. No downloaded browser, no network but loopback.

``jupyterlab(folder)`` serves ``folder`` (a fresh config and runtime dir inside it) and stops
the server on exit; ``chromium(pw)`` launches /usr/bin/chromium headless with the flags that
keep it off the network; ``run_all(page)`` runs every cell of the open notebook;
``notebook_page(folder, name, cells)`` does all of that for a notebook of ``cells`` and keeps a
full-page screenshot in ``test-artifacts/`` when the body fails.
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


ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def dismiss_news(page: Any) -> None:
    """Close JupyterLab's "news?" toast when it is up (it can cover what a test clicks)."""
    no_news = page.locator(".jp-Notification-Toast button:text-is('No')")
    if no_news.count():
        no_news.first.click()


@contextlib.contextmanager
def notebook_page(folder: Path, name: str, cells: list[str]) -> Iterator[Any]:
    """A notebook of ``cells`` written to ``folder/name.ipynb``, opened in JupyterLab in
    chromium, every cell run: the page. On an error in the body, a full-page screenshot goes
    to ``test-artifacts/<name>-failed.png``; the browser and the server stop either way."""
    from playwright.sync_api import sync_playwright

    write_notebook(folder / f"{name}.ipynb", cells)
    ARTIFACTS.mkdir(exist_ok=True)
    with jupyterlab(folder) as (base, token), sync_playwright() as pw:
        browser = chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/{name}.ipynb?token={token}", timeout=60_000)
            run_all(page)
            dismiss_news(page)
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"{name}-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
