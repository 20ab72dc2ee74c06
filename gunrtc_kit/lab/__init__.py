"""The notebook layer: watch a Gun mesh work. The only package that imports ipywidgets,
matplotlib, networkx (and nothing patches asyncio: see ``runtime.py``)."""

from gunrtc_kit.lab.lab import Lab, LabPeer, MemoryLink, SignalingSteps
from gunrtc_kit.lab.runtime import Runtime, get_runtime

__all__ = ["Lab", "LabPeer", "MemoryLink", "Runtime", "SignalingSteps", "get_runtime"]
