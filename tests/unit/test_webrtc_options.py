"""WebRTCOptions: Gun's defaults, and errors that name the argument."""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit import GunError, WebRTCOptions
from gunrtc_kit.webrtc.signaling import candidate_from_json, candidates_from_sdp


def test_defaults_are_guns() -> None:
    o = WebRTCOptions()
    assert [s["urls"] for s in o.ice_servers] == [
        "stun:stun.l.google.com:19302",
        "stun:stun.sipgate.net:3478",
    ]
    assert o.channel.ordered is False and o.channel.max_retransmits == 2
    assert o.max_connections == 55 and o.room is None and o.enabled is True
    assert o.host_addresses is None
    assert WebRTCOptions(data_channel={"maxRetransmits": 0}).channel.max_retransmits == 0


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"max_connections": -1}, "max_connections=-1"),
        ({"max_connections": "5"}, "max_connections='5'"),
        ({"room": ""}, "room=''"),
        ({"ice_servers": "stun:x"}, "ice_servers="),
        ({"ice_servers": [{"urls": "http://x"}]}, "ice_servers entry"),
        ({"host_addresses": ["localhost"]}, "host_addresses"),
        ({"host_addresses": "127.0.0.1"}, "host_addresses="),
        ({"data_channel": {"ordered": "yes"}}, "data_channel.ordered"),
        ({"data_channel": {"bogus": 1}}, "unknown keys"),
        ({"enabled": 1}, "enabled=1"),
    ],
)
def test_bad_values_raise_naming_the_argument(kwargs: dict[str, Any], names: str) -> None:
    with pytest.raises(GunError, match=names.replace("(", r"\(").replace("[", r"\[")):
        WebRTCOptions(**kwargs)


SDP = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:sess\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\na=ice-ufrag:abcd\r\n"
    "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n"
    "a=candidate:2 1 udp 1694498815 127.0.0.1 5001 typ srflx raddr 0.0.0.0 rport 0\r\n"
)


def test_candidates_from_sdp_in_gun_format() -> None:
    cands = candidates_from_sdp(SDP)
    assert cands[0] == {
        "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "abcd",
    }
    assert len(cands) == 2
    ice = candidate_from_json(cands[0])
    assert ice is not None and ice.ip == "127.0.0.1" and ice.port == 5000
    assert ice.sdpMid == "0" and ice.sdpMLineIndex == 0
    assert candidate_from_json({"candidate": "", "sdpMid": "0"}) is None  # end of candidates


@pytest.mark.parametrize(
    "bad",
    [
        5,
        {"candidate": 5},
        {"candidate": "candidate:garbage"},
        {"candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host"},
    ],
)
def test_bad_candidates_raise_webrtc_error(bad: Any) -> None:
    from gunrtc_kit.errors import WebRTCError

    with pytest.raises(WebRTCError):
        candidate_from_json(bad)
