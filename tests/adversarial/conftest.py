"""Fixtures of the adversarial suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adversarial.hostile import RelayProcess


@pytest.fixture(scope="module")
def relay_proc() -> Iterator[RelayProcess]:
    """Our relay as a child process, shared by a module's tests: its memory and log are its
    own, so a module can check what all its hostile inputs left behind."""
    r = RelayProcess()
    try:
        yield r
    finally:
        r.stop()
