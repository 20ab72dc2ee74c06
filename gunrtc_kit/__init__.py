"""gunrtc_kit: a real Gun peer in Python (DAM mesh, HAM graph, WebRTC links on aiortc).

Importing this package loads no widget or plotting library; the notebook layer is
``gunrtc_kit.lab``.
"""

from gunrtc_kit.errors import GunError
from gunrtc_kit.relay import Relay
from gunrtc_kit.root import Gun
from gunrtc_kit.webrtc.options import WebRTCOptions

__all__ = ["Gun", "GunError", "Relay", "WebRTCOptions"]
__version__ = "0.1.0"
