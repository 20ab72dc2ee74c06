"""Fixtures the Lab tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gunrtc_kit.lab import Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A Lab with no relay (memory peers and links only), closed after the test. A test file
    that needs the Lab's relay defines its own ``lab`` fixture."""
    lab = Lab(relay=False)
    yield lab
    lab.close()
