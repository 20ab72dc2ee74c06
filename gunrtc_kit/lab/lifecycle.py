"""What a Lab owns on its runtime, and the finalizer that closes it when a Lab is collected.

Why apart: a ``weakref.finalize`` keeps alive whatever its callback holds, so what it closes
(``_Owned``: the peers' roots, the relay, the widgets) must not hold the Lab, and the closing
must be handed to the runtime thread (the owner of peers and relay) from whatever thread the
garbage collector runs on. Nothing here needs the Lab itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from gunrtc_kit.lab.runtime import Runtime
from gunrtc_kit.lab.views.hub import ViewHub
from gunrtc_kit.relay import Relay
from gunrtc_kit.root import Gun
from gunrtc_kit.tap import Tap

__all__: list[str] = []

log = logging.getLogger("gunrtc_kit.lab.lab")  # the Lab's logger: the name users filter on

T = TypeVar("T")


class _Owned:
    """What a Lab runs on the runtime: its peers' roots, its taps and its relay.

    Kept apart from the Lab (which updates it) so that a finalizer can close them without
    holding the Lab: whatever a ``weakref.finalize`` keeps for its callback stays alive, and a
    ``LabPeer`` holds its Lab."""

    def __init__(self) -> None:
        self.guns: list[Gun] = []
        self.relay: Relay | None = None
        self.taps: list[Tap] = []  # ``lab.tap``'s taps, stopped before the relay
        self.processes: list[Any] = []  # ``lab.gunjs_client``'s clients (blocking ``stop()``)
        self.closed = False
        # every widget the Lab made (views, snapshots, the dashboard): closed with it
        self.widgets: list[Any] = []

    def keep(self, widget: T) -> T:
        """Record a widget the Lab made, to close it with the Lab (``close_widgets``)."""
        self.widgets.append(widget)
        return widget

    def close_widgets(self, notes: bool = True) -> None:
        """Close every widget the Lab made, each with its layout and inner boxes; the views
        first hear ``closed`` and (``notes``) their outputs shown with a display id become a
        note saying the Lab is closed (``views.peer_view.Published``). Once. ``notes=False``
        off a cell's thread (a collected Lab): an output update there has no cell to go to."""
        widgets, self.widgets = self.widgets, []
        if not widgets:
            return
        from gunrtc_kit.lab.views.dashboard import close_tree

        seen: set[int] = set()
        for w in widgets:
            try:
                mark = getattr(w, "mark_closed", None) if notes else None
                if mark is not None:
                    mark()
                close_tree(w, seen)
            except Exception:  # one widget's failure must not keep the others open
                log.exception("closing %s failed", type(w).__name__)

    async def aclose(self) -> None:
        """Close every peer, then the relay (on the runtime thread); once."""
        if self.closed:
            return
        self.closed = True
        for gun in list(self.guns):
            await gun.close()
        for proc in list(self.processes):
            await asyncio.get_running_loop().run_in_executor(None, proc.stop)
        for tap in list(self.taps):
            await tap.stop()
        if self.relay is not None:
            await self.relay.stop()


# tasks closing collected Labs: asyncio keeps only weak references to tasks
_releasing: set[asyncio.Task[None]] = set()


async def _finish_release(owned: _Owned, hub: ViewHub) -> None:
    try:
        await owned.aclose()
    except Exception:  # nobody is left to hear it but the log
        log.exception("closing a Lab that was collected without close() failed")
    finally:
        hub.close()
        owned.close_widgets(notes=False)


def _release_on_runtime(owned: _Owned, hub: ViewHub, forget: Callable[[], None]) -> None:
    forget()
    task = asyncio.get_running_loop().create_task(_finish_release(owned, hub))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


def _release(rt: Runtime, owned: _Owned, hub: ViewHub, forget: Callable[[], None]) -> None:
    """Finalizer of a Lab collected without ``close()``: hand the closing of its relay and
    peers to the runtime thread, their owner. It may run on any thread, whenever the garbage
    collector does, even inside code holding a lock; so it only schedules the work (no lock,
    no wait), and the runtime thread does the rest."""
    if rt.closed or owned.closed:
        return
    try:
        rt.loop.call_soon_threadsafe(_release_on_runtime, owned, hub, forget)
    except RuntimeError:  # the runtime's loop is closed: its close() closed everything
        pass
