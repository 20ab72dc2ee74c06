"""Every error a user of gunrtc_kit can see.

One rooted tree, as websockets and h11 have it: catch ``GunError`` to catch them all, or a
subclass to tell a bad message from a dead socket.
"""

from __future__ import annotations

__all__ = [
    "GunError",
    "InvalidDataError",
    "LimitError",
    "NetworkError",
    "SeaError",
    "StoreError",
    "TimeoutError",
    "WebRTCError",
]


class GunError(Exception):
    """Base of every gunrtc_kit error; ``err`` is Gun's error text when one came off the wire."""


class InvalidDataError(GunError):
    """Input that is not valid Gun: bad JSON, a non-object message, an invalid graph node."""


class LimitError(GunError):
    """A size or count limit was hit; the message names the limit and its value."""


class NetworkError(GunError):
    """A wire could not be opened, or closed under us."""


class StoreError(GunError):
    """The relay's store could not write, commit or read: the write was rolled back (memory and
    disk alike) and the writer got ``err``; or the file is damaged (the text names what)."""


class WebRTCError(GunError):
    """WebRTC signalling or connection failure (bad SDP, unknown peer, too many links)."""


class TimeoutError(GunError):  # noqa: A001 - deliberate: gunrtc_kit.errors.TimeoutError
    """A bounded wait ran out (an ack, a reply, a link that never opened)."""


class SeaError(GunError):
    """A SEA operation refused its input: a malformed ``SEA{...}`` text, a bad key or base64, a
    signature that does not match, a wrong passphrase. Gun.js's SEA returns ``undefined`` for all
    of these; we raise, so a failed check can never be mistaken for a value."""
