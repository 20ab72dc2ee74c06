"""Short names for DAM messages: what kind a message is, which souls it names, whether it is
mesh housekeeping (discovery and WebRTC signalling) rather than the application's data."""

from __future__ import annotations

from typing import Any

from gunrtc_kit.core import opts

__all__ = ["is_signaling", "kind_of", "label_of", "souls_of"]

RTC_PREFIX = opts.RTC_ROOM_PREFIX  # Gun's WebRTC room announcements live under this soul


def kind_of(msg: dict[str, Any]) -> str:
    """``put``, ``get``, ``ack`` (a reply without data), ``reply`` (a reply with data),
    ``rtc:offer``/``rtc:answer``/``rtc:candidate``/``rtc`` (WebRTC signalling, which Gun
    carries in ``ok.rtc`` of a reply), ``dam:?``/``dam:!``... (mesh control), ``other``."""
    ok = msg.get("ok")
    if isinstance(ok, dict):
        rtc = ok.get("rtc")
        if isinstance(rtc, dict):
            for step in ("offer", "answer", "candidate"):
                if step in rtc:
                    return f"rtc:{step}"
            return "rtc"
    if "dam" in msg:
        return f"dam:{msg['dam']}"
    if "@" in msg:
        return "reply" if "put" in msg else "ack"
    if "put" in msg:
        return "put"
    if "get" in msg:
        return "get"
    return "other"


def souls_of(msg: dict[str, Any]) -> tuple[str, ...]:
    """The souls a put writes or a get reads."""
    put = msg.get("put")
    if isinstance(put, dict):
        return tuple(s for s in put if isinstance(s, str))
    get = msg.get("get")
    if isinstance(get, dict) and isinstance(get.get("#"), str):
        return (get["#"],)
    return ()


def label_of(souls: tuple[str, ...], limit: int = 40) -> str:
    """The souls as one short label (``chat/msg1 +2``)."""
    if not souls:
        return ""
    text = souls[0] if len(souls[0]) <= limit else souls[0][: limit - 1] + "…"
    return text + (f" +{len(souls) - 1}" if len(souls) > 1 else "")


def is_signaling(kind: str, souls: tuple[str, ...]) -> bool:
    """Discovery and signalling: mesh control, WebRTC steps and room announcements."""
    return (
        kind.startswith("rtc")
        or kind.startswith("dam")
        or any(s.startswith(RTC_PREFIX) for s in souls)
    )
