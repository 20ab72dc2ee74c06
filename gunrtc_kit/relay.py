"""The built-in Gun relay: a WebSocket server at ``/gun`` that stores the graph and acks writes.

A ``Relay`` is a ``Gun`` root running as a super peer (it does not re-subscribe on connect) with
acks on, behind a ``WebSocketServer``. It relays puts and gets to the peers that asked for
those souls and to the relays it dialled (the root's AXE-style routing) and routes replies back
on ``@``.
With ``store=PATH`` the graph lives in SQLite and every ack follows a commit; with ``None`` it
lives in memory (acks still come: the memory is the store). It binds 127.0.0.1 unless told
otherwise, and may dial other relays (``peers=[url]``) to form a relay mesh.

Guards a relay needs that Gun.js lacks, each a parameter: ``wire_budget`` (bytes a connection
may hold unsent before it is cut, so a reader that never drains cannot grow the relay without
bound), ``total_budget`` (the same for all connections together), ``allowed_origins`` (None,
the Gun-compatible default, accepts any web page; a list,
such as the Lab's empty one, refuses browsers from other origins with HTTP 403, so a page open
in the user's browser cannot read or write a notebook's local relay), and ``salvage`` (open a
damaged store by keeping what can be read, see ``SQLiteStore``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gunrtc_kit import trace
from gunrtc_kit.root import Gun
from gunrtc_kit.store import SQLiteStore
from gunrtc_kit.transport.websocket import MAX_WS_FRAME, TOTAL_BUDGET, WIRE_BUDGET, WebSocketServer

__all__ = ["Relay"]


class Relay:
    """A Gun relay: ``async with Relay(port=8765, store="relay.sqlite3") as relay: ...``."""

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
        wire_budget: int = WIRE_BUDGET,
        total_budget: int = TOTAL_BUDGET,
        allowed_origins: Iterable[str] | None = None,
        salvage: bool = False,
    ) -> None:
        self.store_path = store
        self._store = SQLiteStore(store, salvage=salvage) if store is not None else None
        try:
            self.gun = Gun(
                peers,
                pid=pid,
                bus=bus,
                store=self._store,
                acks=True,
                super_peer=True,
                max_frame=max_frame,
            )
            self.server = WebSocketServer(
                self.gun.mesh,
                host,
                port,
                max_size=max_size,
                wire_budget=wire_budget,
                total_budget=total_budget,
                allowed_origins=allowed_origins,
            )
        except BaseException:
            if self._store is not None:  # a bad argument must not leave the file open
                self._store.close()
            raise

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
        """Listen, then start the root (dialling ``peers``); returns self."""
        await self.server.start()
        await self.gun.start()
        return self

    async def stop(self) -> None:
        """Close every socket and the store; an acknowledged write is already on disk. Bounded:
        a client that ignores the close handshake is cut after about a second."""
        await self.server.close()
        await self.gun.close()
        if self._store is not None:
            self._store.close()

    async def __aenter__(self) -> Relay:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
