"""Gun's defaults that more than one layer reads, written once.

Why here: the root waits ``ACK_TIMEOUT`` for an ack, and the trace readers (fate, the doctor)
judge a put "never acked" after the same time; core is the one layer both may import.
"""

from __future__ import annotations

__all__ = ["ACK_TIMEOUT", "RTC_ROOM_PREFIX"]

RTC_ROOM_PREFIX = "/RTC/"  # souls of WebRTC room announcements (gun lib/webrtc.js)
ACK_TIMEOUT = 9.0  # gun.js opt.lack: seconds without an ack before a put reads "No ACK yet."
