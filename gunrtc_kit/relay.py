"""The built-in Gun relay: a WebSocket server at ``/gun`` that stores the graph and acks writes.

A ``Relay`` is a ``Gun`` root running as a super peer (it does not re-subscribe on connect) with
acks on, behind a ``WebSocketServer``. It relays every put and get to its other peers (gun.js's
non-AXE routing: flood, with dedup and ``><`` stopping loops) and routes replies back on ``@``.
With ``store=PATH`` the graph lives in SQLite and every ack follows a commit; with ``None`` it
lives in memory (acks still come: the memory is the store). It binds 127.0.0.1 unless told
otherwise, and may dial other relays (``peers=[url]``) to form a relay mesh.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gunrtc_kit import trace
from gunrtc_kit.root import Gun
from gunrtc_kit.store import SQLiteStore
from gunrtc_kit.transport.websocket import MAX_WS_FRAME, WebSocketServer

__all__ = ["Relay"]


class Relay:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        store: str | Path | None = None,
        *,
        peers: Iterable[str] = (),
        pid: str | None = None,
        bus: trace.TraceBus | None = None,
        max_size: int = MAX_WS_FRAME,
        max_frame: int | None = None,
    ) -> None:
        self.store_path = store
        self._store = SQLiteStore(store) if store is not None else None
        self.gun = Gun(
            peers,
            pid=pid,
            bus=bus,
            store=self._store,
            acks=True,
            super_peer=True,
            max_frame=max_frame,
        )
        self.server = WebSocketServer(self.gun.mesh, host, port, max_size=max_size)

    @property
    def pid(self) -> str:
        return self.gun.pid

    @property
    def bus(self) -> trace.TraceBus:
        return self.gun.bus

    @property
    def url(self) -> str:
        """``ws://host:port/gun`` once started (the real port when 0 was asked)."""
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> Relay:
        await self.server.start()
        await self.gun.start()
        return self

    async def stop(self) -> None:
        """Close every socket and the store; an acknowledged write is already on disk."""
        await self.server.close()
        await self.gun.close()
        if self._store is not None:
            self._store.close()

    async def __aenter__(self) -> Relay:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
