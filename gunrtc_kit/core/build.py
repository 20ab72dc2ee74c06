"""Turning what a user writes into the graph a put carries: nodes, their states, and links.

Gun writes a nested object as one node per level joined by links (``{'#': soul}``), a child
node's soul being ``parent/key`` unless the key already links elsewhere; every key written
gets the write's state in ``_['>']``. The chain (``gunrtc_kit.chain``) and a user's space
(``gunrtc_kit.user``) both build puts this way, so the rules live here once. Pure: no I/O, no
clock (the state is passed in).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from gunrtc_kit.core.graph import Graph, valid_value
from gunrtc_kit.core.ids import new_soul
from gunrtc_kit.errors import InvalidDataError

__all__ = ["PutGraph", "add_key", "build_node", "check_value", "child_soul", "is_link", "set_item"]

PutGraph = dict[str, dict[str, Any]]
"""A put's graph: {soul: {key: value, '_': {'#': soul, '>': {key: state}}}}."""


def is_link(value: Any) -> TypeGuard[dict[str, str]]:
    """``value`` is a link: ``{'#': soul}`` and nothing else."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("#"), str)


def child_soul(node: dict[str, Any] | None, soul: str, key: str) -> str:
    """Gun's child-soul rule, the one place it is written: ``soul.key`` holding a link
    ``{'#': s}`` leads to ``s``; anything else (nothing yet, a primitive) to ``soul/key``, the
    soul a put of an object there creates."""
    value = (node or {}).get(key)
    return value["#"] if is_link(value) else f"{soul}/{key}"


def add_key(graph: PutGraph, soul: str, key: str, value: Any, state: float) -> None:
    """Write ``value`` at ``soul.key`` in ``graph`` with ``state``."""
    node = graph.setdefault(soul, {"_": {"#": soul, ">": {}}})
    node["_"][">"][key] = state
    node[key] = value


def check_value(value: Any, key: str) -> None:
    """Refuse a value Gun cannot hold at ``key`` (``InvalidDataError`` saying why)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidDataError(f"key {key!r}: {value!r} is not a valid Gun value")
    if isinstance(value, list | tuple):
        raise InvalidDataError(
            f"key {key!r}: arrays are not valid Gun values; use an object or set()"
        )
    if not valid_value(value):
        raise InvalidDataError(f"key {key!r}: {value!r} is not a valid Gun value")


def build_node(
    graph: PutGraph, soul: str, data: dict[str, Any], state: float, known: Graph
) -> None:
    """Split a nested object into nodes joined by links (child soul = parent/key, as Gun,
    or where ``known`` says the key links already)."""
    graph.setdefault(soul, {"_": {"#": soul, ">": {}}})
    for key, value in data.items():
        if not isinstance(key, str) or not key or key == "_":
            raise InvalidDataError(f"key {key!r} in {soul!r}: keys are non-empty strings, not '_'")
        if isinstance(value, dict) and not is_link(value):
            child = child_soul(known.nodes.get(soul), soul, key)
            if child in graph:
                raise InvalidDataError(f"key {key!r} in {soul!r}: cycle in the data")
            add_key(graph, soul, key, {"#": child}, state)
            build_node(graph, child, value, state, known)
        else:
            check_value(value, key)
            add_key(graph, soul, key, value, state)


def set_item(graph: PutGraph, data: Any, state: float, known: Graph, soul_prefix: str = "") -> str:
    """The soul of ``data`` as a new item of a set: the soul it links to, or a new node
    (``soul_prefix`` + a new soul, its content built into ``graph``). Anything else is an
    ``InvalidDataError``: a set item is an object or a link."""
    if is_link(data):
        return data["#"]
    if isinstance(data, dict):
        item = soul_prefix + new_soul(state)
        build_node(graph, item, data, state, known)
        return item
    raise InvalidDataError(f"set({data!r}): a set item is an object or a link")
