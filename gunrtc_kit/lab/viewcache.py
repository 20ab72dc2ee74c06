"""One view per key, made on first use: what a Lab and a Replay both keep of their views.

Why: displaying a view again must show the same widget (one front end, no leak in
ipywidgets' registry), so each place that makes views keeps them by key ("mesh", "flow",
"peer:alice"...) and makes one only when its key has none yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ViewCache"]


class ViewCache(dict[str, Any]):
    """Views by key (a dict, so ``lab.views.get("dashboard")`` reads it). ``on_new`` hears
    every view it makes (the Lab records it, to close it with the Lab)."""

    def __init__(self, on_new: Callable[[Any], Any] | None = None) -> None:
        super().__init__()
        self._on_new = on_new

    def get_or_make(self, key: str, make: Callable[[], Any]) -> Any:
        """The view kept at ``key``, made by ``make()`` (and kept) if there is none yet."""
        view = self.get(key)
        if view is None:
            view = make()
            if self._on_new is not None:
                view = self._on_new(view)
            self[key] = view
        return view
