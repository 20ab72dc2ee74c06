"""Pure readers of the trace: who is who, what became of each message, the mesh, WebRTC
signalling and each peer's state. No asyncio, no widgets: the notebook views read these
models, and so can anyone outside a notebook (a test, a script reading a saved trace)."""

from gunrtc_kit.diagnose.fate import Fate, FateModel, FateStep, Row
from gunrtc_kit.diagnose.mesh import MeshModel
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.peerstate import PeersModel, PeerState
from gunrtc_kit.diagnose.signaling import SignalingModel, annotate_sdp

__all__ = [
    "Directory",
    "Fate",
    "FateModel",
    "FateStep",
    "MeshModel",
    "PeerState",
    "PeersModel",
    "Row",
    "SignalingModel",
    "annotate_sdp",
]
