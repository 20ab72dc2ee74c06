"""Run a notebook that opens browser tabs (``tab.open()``) headless: Python's ``webbrowser``
takes its browser from ``BROWSER``, which here starts headless Debian chromium on the page
(``open_tab.sh``); every chromium started is stopped afterwards. With ``chromium_interface``
(tests/netns.py), so the tabs can make WebRTC links inside the loopback-only namespace."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from tests.netns import chromium_interface

OPEN_TAB = Path(__file__).resolve().parent / "open_tab.sh"


@contextlib.contextmanager
def headless_tabs(folder: Path) -> Iterator[dict[str, str]]:
    """The environment a kernel needs for ``tab.open()`` to open a headless tab (merge it
    into the kernel's); stops every tab's chromium on the way out."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {"BROWSER": f"sh {OPEN_TAB} %s &", "GUNRTC_TABS": str(folder)}
    with chromium_interface():
        try:
            yield env
        finally:
            _stop_all(folder)


def _stop_all(folder: Path) -> None:
    pids = []
    for record in folder.glob("tab.*/pid"):
        with contextlib.suppress(ValueError, OSError):
            pids.append(int(record.read_text().strip()))
    for pid in pids:  # webbrowser starts each in a session of its own: stop the whole group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for the kernel, its parent, to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
