"""The quick-start notebook in a real browser: JupyterLab on 127.0.0.1, Debian's chromium
driven headless by Playwright (no downloaded browser). It runs every cell, then reads from the
page that the mesh view lists the peers and the flow view lists messages. A screenshot is
kept in test-artifacts/."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import require_loopback_only

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def jupyter(tmp_path: Path) -> Iterator[str]:
    shutil.copy(ROOT / "notebooks" / "01-quick-start.ipynb", tmp_path)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
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
            f"--ServerApp.root_dir={tmp_path}",
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
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                direct.open(f"http://127.0.0.1:{port}/api?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("JupyterLab did not start") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/lab/tree/01-quick-start.ipynb?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_quick_start_in_chromium(jupyter: str, tmp_path: Path) -> None:
    require_loopback_only()
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium missing: scripts/setup installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--no-proxy-server",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
            # launch() gives chromium a fresh, empty temporary profile of its own
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(jupyter, timeout=60_000)
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
            )
            for _attempt in range(5):  # the first clicks can land before the session is up
                page.wait_for_timeout(2000)
                page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=10_000)
                page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=10_000)
                try:
                    page.wait_for_selector(".jp-InputPrompt:has-text('[1]')", timeout=15_000)
                    break
                except Exception:
                    continue
            mesh = page.wait_for_selector(".gunrtc-mesh-peers:has-text('bob')", timeout=120_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.gunrtc-mesh-links td')]"
                ".some(td => td.textContent === 'dc')",
                timeout=60_000,
            )
            flow = page.wait_for_selector(".gunrtc-flow-summary:has-text('put')", timeout=60_000)
            peers = mesh.text_content() or ""
            summary = flow.text_content() or ""
            page.screenshot(path=str(ARTIFACTS / "quick-start.png"), full_page=True)
            assert "alice" in peers and "bob" in peers and "relay" in peers, peers
            assert "over data channels" in summary and int(summary.split()[0]) > 10, summary
            errors = page.query_selector_all(".jp-OutputArea-output[data-mime-type*='error']")
            assert not errors
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "quick-start-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
