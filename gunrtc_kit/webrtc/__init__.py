"""WebRTC links between Gun peers on aiortc, signalled through the mesh as Gun.js does."""

from gunrtc_kit.webrtc.options import DataChannelOptions, WebRTCOptions

__all__ = ["DataChannelOptions", "WebRTCOptions"]
