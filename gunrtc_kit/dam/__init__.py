"""The DAM mesh: Gun's peer-to-peer message layer, independent of any transport."""

from gunrtc_kit.dam.mesh import Mesh
from gunrtc_kit.dam.peer import MeshPeer, Wire

__all__ = ["Mesh", "MeshPeer", "Wire"]
