"""WebRTC options, with Gun.js's defaults (npm gun 0.2020.1241 ``lib/webrtc.js``).

Checked at construction: a bad value raises ``GunError`` naming the argument and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit.errors import GunError

__all__ = ["DEFAULT_ICE_SERVERS", "DataChannelOptions", "WebRTCOptions"]

DEFAULT_ICE_SERVERS: tuple[dict[str, str], ...] = (
    {"urls": "stun:stun.l.google.com:19302"},
    {"urls": "stun:stun.sipgate.net:3478"},
)


@dataclass(frozen=True)
class DataChannelOptions:
    """Gun's channel: ``{ordered: false, maxRetransmits: 2}``."""

    ordered: bool = False
    max_retransmits: int | None = 2

    def __post_init__(self) -> None:
        if not isinstance(self.ordered, bool):
            raise GunError(f"data_channel.ordered={self.ordered!r}, expected a bool")
        mr = self.max_retransmits
        if mr is not None and (not isinstance(mr, int) or isinstance(mr, bool) or mr < 0):
            raise GunError(f"data_channel.max_retransmits={mr!r}, expected an int >= 0 or None")


def _server(entry: Any) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"urls": entry}
    if not isinstance(entry, Mapping):
        raise GunError(f"ice_servers entry {entry!r}, expected a URL or {{'urls': ...}}")
    urls = entry.get("urls")
    items = [urls] if isinstance(urls, str) else urls
    if (
        not isinstance(items, list | tuple)
        or not items
        or not all(
            isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns")
            for u in items
        )
    ):
        raise GunError(f"ice_servers entry {dict(entry)!r}: urls must be stun:/turn: URLs")
    return dict(entry)


@dataclass(frozen=True)
class WebRTCOptions:
    """How a peer makes WebRTC links. ``host_addresses=["127.0.0.1"]`` keeps ICE on
    loopback (the Lab's and the tests' setting); ``room=None`` turns room discovery off."""

    ice_servers: Sequence[Mapping[str, Any] | str] = DEFAULT_ICE_SERVERS
    data_channel: DataChannelOptions | Mapping[str, Any] = field(default_factory=DataChannelOptions)
    max_connections: int = 55
    room: str | None = None
    enabled: bool = True
    host_addresses: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.ice_servers, str | bytes) or not isinstance(self.ice_servers, Sequence):
            raise GunError(f"ice_servers={self.ice_servers!r}, expected a list of servers")
        object.__setattr__(self, "ice_servers", tuple(_server(s) for s in self.ice_servers))
        dc = self.data_channel
        if isinstance(dc, Mapping):
            unknown = set(dc) - {"ordered", "max_retransmits", "maxRetransmits"}
            if unknown:
                raise GunError(f"data_channel has unknown keys {sorted(unknown)}")
            dc = DataChannelOptions(
                ordered=dc.get("ordered", False),
                max_retransmits=dc.get("max_retransmits", dc.get("maxRetransmits", 2)),
            )
        if not isinstance(dc, DataChannelOptions):
            raise GunError(f"data_channel={dc!r}, expected DataChannelOptions or a dict")
        object.__setattr__(self, "data_channel", dc)
        mc = self.max_connections
        if not isinstance(mc, int) or isinstance(mc, bool) or mc < 0:
            raise GunError(f"max_connections={mc!r}, expected an int >= 0")
        if self.room is not None and (not isinstance(self.room, str) or not self.room):
            raise GunError(f"room={self.room!r}, expected a non-empty string or None")
        if not isinstance(self.enabled, bool):
            raise GunError(f"enabled={self.enabled!r}, expected a bool")
        ha = self.host_addresses
        if ha is not None:
            if (
                isinstance(ha, str)
                or not isinstance(ha, Sequence)
                or not all(isinstance(a, str) and a for a in ha)
            ):
                raise GunError(f"host_addresses={ha!r}, expected a list of IP address strings")
            import ipaddress

            for a in ha:
                try:
                    ipaddress.ip_address(a)
                except ValueError:
                    raise GunError(f"host_addresses: {a!r} is not an IP address") from None
            object.__setattr__(self, "host_addresses", tuple(ha))

    @property
    def channel(self) -> DataChannelOptions:
        assert isinstance(self.data_channel, DataChannelOptions)
        return self.data_channel

    def to_rtc_configuration(self) -> Any:
        """The aiortc ``RTCConfiguration`` for these options."""
        from aiortc import RTCConfiguration, RTCIceServer

        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in self.ice_servers
            if isinstance(s, Mapping)
        ]
        return RTCConfiguration(iceServers=servers)
