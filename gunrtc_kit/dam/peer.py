"""A mesh peer: one remote end of a wire, as Gun's mesh keeps it.

Gun's peer object carries ``id`` (the URL for peers we dial, a random id for sockets that dial
us, the remote pid for WebRTC), ``pid`` once the ``?`` exchange told it, the ``wire``, the open
batch and a queue of frames that could not be sent yet. We keep the same fields, typed, with a
bounded queue (Gun's is unbounded).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["MeshPeer", "Wire"]


@runtime_checkable
class Wire(Protocol):
    """What a transport gives the mesh: a way to send text and to hang up.

    ``send`` raises ``NetworkError`` when the wire cannot take the frame now (not open yet, or
    closed); the mesh then queues it until the next ``hi``. ``transport`` names the kind for
    the trace: ``"ws"``, ``"dc"`` or ``"memory"``.

    Each wire also says what it promises (``ordered``: frames arrive in the order sent;
    ``reliable``: every frame sent while it is open arrives) and refuses a frame over its size
    limit with ``LimitError`` (retrying would not help, so not ``NetworkError``). Those are
    read by ``tests/conformance/wires.py`` rather than by the mesh, so they are not members
    here: a wire the mesh drives needs only the three below.
    """

    transport: str

    def send(self, text: str) -> None: ...

    def close(self) -> None: ...


@dataclass(eq=False, slots=True)
class MeshPeer:
    """One remote end. Identity is the object itself (two sockets may share a pid)."""

    id: str
    url: str | None = None
    pid: str | None = None
    wire: Wire | None = None
    queue_limit: int = 1000
    # the open batch: ``batch_size`` > 0 (1 for the '[') while one is open; ``batch`` holds
    # the messages joined to it, None until the first one joins (most bursts are one message)
    batch: list[str] | None = None
    batch_size: int = 0
    last: str | None = None
    met: float | None = None
    # frames waiting for the wire, made at the first one (most links never queue a frame)
    queue: deque[str] | None = None
    queued_chars: int = 0  # what ``queue`` holds, bounded by the mesh's ``queue_chars``
    heard: int = 0
    said: int = 0

    @property
    def transport(self) -> str:
        """The wire's kind; before a dialled peer's wire exists (frames said meanwhile wait in
        its queue), the kind its URL dials, so those frames are filed under that wire too."""
        if self.wire is not None:
            return self.wire.transport
        if self.url is not None and self.url.startswith(("ws://", "wss://", "http://", "https://")):
            return "ws"
        return ""

    @property
    def label(self) -> str:
        """The name Gun lists in ``><``: url, else pid, else id."""
        return self.url or self.pid or self.id

    def __repr__(self) -> str:
        return f"MeshPeer(id={self.id!r}, pid={self.pid!r}, transport={self.transport!r})"
