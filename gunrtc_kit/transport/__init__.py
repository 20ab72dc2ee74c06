"""Wires that carry DAM text between meshes: in-memory pipes and WebSockets."""
