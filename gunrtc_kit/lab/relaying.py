"""The Lab's own relay: start it, stop it (a fault to teach with), and its URL.

Why apart: the relay's lifecycle needs of the Lab only its bus, store, origins, its runtime and
how it names the relay; ``Lab`` takes these methods from ``LabRelay`` so that ``lab.py`` keeps
its peers and links (and stays under the size limit, ``tests/unit/test_sizes.py``).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.runtime import Runtime
from gunrtc_kit.relay import Relay

if TYPE_CHECKING:
    from gunrtc_kit import trace

__all__ = ["LabRelay"]

T = TypeVar("T")


class LabRelay:
    """The relay half of ``Lab`` (a Lab is one): ``start_relay``, ``stop_relay``, ``url``."""

    rt: Runtime
    bus: trace.TraceBus
    _store: str | None
    allowed_origins: tuple[str, ...] | None
    relay: Relay | None

    if TYPE_CHECKING:

        def _check_open(self, action: str) -> None: ...

        def _name_relay(self, relay: Relay) -> None: ...

        def _run(
            self, coro: Coroutine[Any, Any, T], timeout: float = 60.0, what: str | None = None
        ) -> T: ...

    async def _start_relay(self) -> Relay:
        relay = Relay(bus=self.bus, store=self._store, allowed_origins=self.allowed_origins)
        await relay.start()
        return relay

    async def start_relay(self) -> Relay:
        """Start the Lab's relay on 127.0.0.1 (a free port) if it is not running; returns it.
        Peers made before keep their links; new peers dial it."""
        self._check_open("start_relay()")
        if self.relay is None:
            self.relay = await self.rt.run(self._start_relay(), what="start_relay()")
            self._name_relay(self.relay)
        return self.relay

    def start_relay_sync(self) -> Relay:
        """Blocking twin of ``start_relay`` (what ``Lab()`` calls; usable in plain cells)."""
        self._check_open("start_relay_sync()")
        if self.relay is not None:
            return self.relay
        self.relay = self._run(self._start_relay(), what="start_relay_sync()")
        self._name_relay(self.relay)
        return self.relay

    def stop_relay_sync(self) -> None:
        """Fault: the relay goes away (peers linked by WebRTC keep syncing). Blocking twin of
        ``stop_relay``."""
        self._check_open("stop_relay_sync()")
        if self.relay is not None:
            self._run(self.relay.stop(), what="stop_relay_sync()")
            self.relay = None

    async def stop_relay(self) -> None:
        """Fault: the relay goes away (peers linked by WebRTC keep syncing)."""
        self._check_open("stop_relay()")
        if self.relay is not None:
            await self.rt.run(self.relay.stop(), what="stop_relay()")
            self.relay = None

    @property
    def url(self) -> str:
        """The relay's ``ws://127.0.0.1:<port>/gun`` URL (for ``Gun(peers=[...])`` or Gun.js)."""
        self._check_open("url")
        if self.relay is None:
            if getattr(self, "_memory_relay", None) is not None:
                raise GunError(
                    'the Lab\'s relay is a memory peer (Lab(relay="memory")): it has no URL; '
                    "join peers with lab.peer(name)"
                )
            raise GunError("the Lab's relay is stopped")
        return self.relay.url
