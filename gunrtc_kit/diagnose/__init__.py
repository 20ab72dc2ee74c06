"""Pure readers of the trace: who is who, what became of each message, the mesh, WebRTC
signalling, each peer's state, and why a field holds its value (``explain``). No asyncio, no
widgets: the notebook views read these models, and so can anyone outside a notebook (a test,
a script reading a saved trace)."""

from gunrtc_kit.diagnose.doctor import Report as Report
from gunrtc_kit.diagnose.doctor import diagnose as diagnose
from gunrtc_kit.diagnose.explain import Explanation, Write, explain
from gunrtc_kit.diagnose.fate import Fate, FateModel, FateStep, Row
from gunrtc_kit.diagnose.mesh import MeshModel
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.peerstate import PeersModel, PeerState
from gunrtc_kit.diagnose.signaling import SignalingModel, annotate_sdp

__all__ = [
    "Directory",
    "Explanation",
    "Fate",
    "FateModel",
    "FateStep",
    "MeshModel",
    "PeerState",
    "PeersModel",
    "Row",
    "SignalingModel",
    "Write",
    "annotate_sdp",
    "explain",
]
