"""Suite-wide guards: every test leaves no task of ours running."""

from __future__ import annotations
