"""A transparent WebSocket tap in front of any Gun relay, recorded as trace events.

``Tap`` (``proxy``) forwards every frame of every client to the target relay byte for byte and
says what passed on a trace bus; ``observe`` turns frames into the events the readers know (its
docstring is the event vocabulary); ``Recorder`` (``record``) writes a bus to a bounded trace
file as it goes. ``gunrtc-kit tap`` runs the three together.
"""

from __future__ import annotations

from gunrtc_kit.tap.observe import Pair
from gunrtc_kit.tap.proxy import Tap
from gunrtc_kit.tap.record import Recorder

__all__ = ["Pair", "Recorder", "Tap"]
