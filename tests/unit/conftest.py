"""The unit tests are the fast ones: pure code on hand-made input, no event loop, no process.

Why enforced: a unit test that starts a root or a subprocess is slow and timing-dependent on a
loaded 2-core CI, and belongs in ``tests/integration`` (or ``tests/lab``). A coroutine test
here fails at collection; starting an event loop or a subprocess fails the test that does it.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
from collections.abc import Iterator
from typing import Any

import ifaddr  # noqa: F401  (aioice's, imported here: it runs ldconfig once when imported)
import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fn = getattr(item, "function", None)
        if fn is not None and inspect.iscoroutinefunction(fn) and "/unit/" in str(item.path):
            raise pytest.UsageError(
                f"{item.nodeid}: a coroutine test in tests/unit (it runs an event loop); "
                "move it to tests/integration"
            )


@pytest.fixture(autouse=True)
def _no_loop_no_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(what: str) -> Any:
        def refused(*_a: Any, **_k: Any) -> Any:
            raise AssertionError(f"a unit test {what}: move it to tests/integration")

        return refused

    monkeypatch.setattr(asyncio, "new_event_loop", refuse("makes an event loop"))
    monkeypatch.setattr(asyncio, "run", refuse("runs an event loop"))
    monkeypatch.setattr(subprocess, "Popen", refuse("starts a process"))
    yield
