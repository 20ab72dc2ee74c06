"""The chain API users call: ``gun.get('a').get('b').put(...)``, ``once``, ``on``, ``map``, ``set``.

Chain resolution: a chain ``get(a).get(b)`` names soul ``a`` and key ``b``; when ``a.b`` holds a
link ``{'#': s}`` reads follow it. A ``put`` of an object under ``a.b`` goes to the soul the local
graph already links there, else to ``a/b`` (Gun's child-soul rule). Reads fetch what they
need from peers; puts resolve links from what this peer already knows (Gun.js waits for a
read first; we trade that round trip for putting at once, and say so).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from gunrtc_kit import trace
from gunrtc_kit.core.graph import Graph, valid_value
from gunrtc_kit.core.ids import new_soul
from gunrtc_kit.errors import GunError, InvalidDataError

if TYPE_CHECKING:
    from gunrtc_kit.root import Gun, PutResult

__all__ = ["Chain", "Subscription"]

log = logging.getLogger(__name__)

Message = dict[str, Any]
AskFn = Callable[[Message], None]
WatchFn = Callable[[str, dict[str, Any], Message], None]


class Subscription:
    """Live updates of a chain, for ``async for``; bounded (oldest dropped, and said so)."""

    def __init__(self, gun: Gun, limit: int = 1000) -> None:
        self._gun = gun
        self._items: deque[tuple[Any, str]] = deque()
        self._limit = limit
        self._wake = asyncio.Event()
        self._closed = False
        self.unsubscribe: Callable[[], None] = lambda: None
        self.dropped = 0

    def push(self, value: Any, key: str) -> None:
        if len(self._items) >= self._limit:
            self._items.popleft()
            self.dropped += 1
            self._gun.bus.emit(
                trace.Error(
                    self._gun.bus.now(),
                    self._gun.pid,
                    error=f"subscription queue full (limit={self._limit}); oldest dropped",
                )
            )
        self._items.append((value, key))
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self.unsubscribe()
        self._wake.set()

    def __aiter__(self) -> AsyncIterator[tuple[Any, str]]:
        return self

    async def __anext__(self) -> tuple[Any, str]:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._items.popleft()


def _is_link(value: Any) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("#"), str)


def _plain(node: dict[str, Any] | None) -> dict[str, Any] | None:
    if node is None:
        return None
    return {k: v for k, v in node.items() if k != "_"}


@dataclass(frozen=True)
class Chain:
    """A path in the graph: ``gun.get('chat').get('msg1')``. Cheap; does nothing until used."""

    gun: Gun
    path: tuple[str, ...]
    each: bool = field(default=False)

    def get(self, key: str) -> Chain:
        if self.each:
            raise GunError("get() after map() is not supported; map the node you need")
        if not isinstance(key, str) or not key:
            raise GunError(f"get(key={key!r}): expected a non-empty string")
        return Chain(self.gun, (*self.path, key))

    def map(self) -> Chain:
        """Every key of this node (links followed), for ``on``/``once``."""
        return Chain(self.gun, self.path, each=True)

    # -------------------------------------------------- resolution
    def _resolve_local(self) -> tuple[str, str | None]:
        """(soul, key) from what the local graph knows; key None means the whole node."""
        soul = self.path[0]
        key: str | None = None
        for k in self.path[1:]:
            if key is not None:
                value = (self.gun.graph.nodes.get(soul) or {}).get(key)
                soul = value["#"] if _is_link(value) else f"{soul}/{key}"
            key = k
        return soul, key

    # A read shares one deadline (a time on the running loop's clock) across all its steps:
    # ``a.b.c`` asks for ``a.b``, then for ``a/b.c``; each step gets what is left of the
    # caller's timeout, never a fresh one. A step with no time left reads the local graph only.
    @staticmethod
    def _left(deadline: float) -> float:
        return deadline - asyncio.get_running_loop().time()

    async def _resolve(self, deadline: float) -> tuple[str, str | None]:
        soul = self.path[0]
        key: str | None = None
        for k in self.path[1:]:
            if key is not None:
                value = await self._read_key(soul, key, deadline)
                soul = value["#"] if _is_link(value) else f"{soul}/{key}"
            key = k
        return soul, key

    async def _read_key(self, soul: str, key: str, deadline: float) -> Any:
        node = self.gun.graph.nodes.get(soul)
        if node is None or key not in node:
            left = self._left(deadline)
            if left > 0:
                await self.gun.fetch({"#": soul, ".": key}, left)
            node = self.gun.graph.nodes.get(soul)
        return (node or {}).get(key)

    async def _read_node(self, soul: str, deadline: float) -> dict[str, Any] | None:
        left = self._left(deadline)
        if left > 0:
            await self.gun.fetch({"#": soul}, left)
        return _plain(self.gun.graph.nodes.get(soul))

    # -------------------------------------------------- writes
    def put(self, data: Any) -> PutResult:
        """Write ``data`` here: applied locally and sent at once; await for the first ack."""
        soul, key = self._resolve_local()
        if self.each:
            raise GunError("put() after map() is not supported")
        state = self.gun.machine()
        graph: dict[str, dict[str, Any]] = {}
        if key is None:
            if not isinstance(data, dict) or _is_link(data):
                raise InvalidDataError(
                    f"put({data!r}) on root node {soul!r}: a root node takes an object"
                )
            _build(graph, soul, data, state, self.gun.graph)
        elif isinstance(data, dict) and not _is_link(data):
            existing = (self.gun.graph.nodes.get(soul) or {}).get(key)
            child = existing["#"] if _is_link(existing) else f"{soul}/{key}"
            _add(graph, soul, key, {"#": child}, state)
            _build(graph, child, data, state, self.gun.graph)
        else:
            _check_value(data, key)
            _add(graph, soul, key, data, state)
        return self.gun.put_graph(graph)

    def set(self, data: Any) -> PutResult:
        """Add ``data`` as a new item of this node's set (a fresh soul, linked by itself)."""
        soul, key = self._resolve_local()
        node_soul = (
            soul
            if key is None
            else (
                v["#"]
                if _is_link(v := (self.gun.graph.nodes.get(soul) or {}).get(key))
                else f"{soul}/{key}"
            )
        )
        state = self.gun.machine()
        graph: dict[str, dict[str, Any]] = {}
        if key is not None:
            _add(graph, soul, key, {"#": node_soul}, state)
        if _is_link(data):
            item = data["#"]
        elif isinstance(data, dict):
            item = new_soul(state)
            _build(graph, item, data, state, self.gun.graph)
        else:
            raise InvalidDataError(f"set({data!r}): a set item is an object or a link")
        _add(graph, node_soul, item, {"#": item}, state)
        result = self.gun.put_graph(graph)
        result.soul = item
        return result

    # -------------------------------------------------- reads
    async def once(self, timeout: float = 5.0) -> Any:
        """The value here now (a node as a dict without ``_``, a primitive, or None); after
        ``map()``, the node's items with their links followed.

        ``timeout`` bounds the whole read, however many steps the path has and however many
        items a ``map()`` follows: a missing key gives None after at most about ``timeout``
        seconds (peers that answer "not found" make it much sooner)."""
        if timeout < 0:
            raise GunError(f"once(timeout={timeout!r}): expected seconds >= 0")
        deadline = asyncio.get_running_loop().time() + timeout
        soul, key = await self._resolve(deadline)
        value = await self._value_at(soul, key, deadline)
        if not self.each:
            return value
        if not isinstance(value, dict):
            return None
        return {
            k: await self._read_node(v["#"], deadline) if _is_link(v) else v
            for k, v in value.items()
        }

    async def _value_at(self, soul: str, key: str | None, deadline: float) -> Any:
        """The node (soul) or the key's value, following a link to its node."""
        if key is None:
            return await self._read_node(soul, deadline)
        value = await self._read_key(soul, key, deadline)
        if _is_link(value):
            return await self._read_node(value["#"], deadline)
        return value

    # -------------------------------------------------- display (local graph only, no I/O)
    def _local_value(self) -> tuple[bool, Any]:
        """(known, value) from the local graph as it is now: no fetch, no waiting. Safe to
        call from another thread (a notebook's) while the peer's loop writes: a graph that
        changes under the read is reported as not known rather than raising."""
        nodes = self.gun.graph.nodes
        try:
            soul, key = self._resolve_local()
            if key is None:
                node = nodes.get(soul)
                return node is not None, _plain(node)
            node = nodes.get(soul)
            if node is None or key not in node:
                return False, None
            value = node[key]
            if _is_link(value):
                target = nodes.get(value["#"])
                return True, _plain(target) if target is not None else value
            return True, copy.deepcopy(value)
        except RuntimeError:  # a dict changed size while we copied it
            return False, None

    def _path_text(self) -> str:
        text = "".join(f".get({k!r})" for k in self.path)
        return f"gun{text}" + (".map()" if self.each else "")

    def __repr__(self) -> str:
        import reprlib

        known, value = self._local_value()
        short = reprlib.Repr()
        short.maxstring, short.maxother, short.maxdict, short.maxlevel = 40, 40, 4, 2
        held = f"local={short.repr(value)}" if known else "not in the local graph"
        return f"<Chain {self._path_text()} {held}>"

    def _repr_html_(self) -> str:
        import html
        import json

        known, value = self._local_value()
        if known:
            text = json.dumps(value, default=str, sort_keys=True)
            if len(text) > 300:
                text = text[:299] + "\u2026"
            held = f"<code>{html.escape(text)}</code>"
        else:
            held = "<i>nothing in the local graph yet</i> (<code>await once()</code> asks peers)"
        return (
            f"<div><b>Chain</b> <code>{html.escape(self._path_text())}</code>"
            f"<br>here now (local graph): {held}</div>"
        )

    def on(self, callback: Callable[[Any, str], Any] | None = None) -> Any:
        """Live updates: ``callback(value, key)`` for the current value and every change
        (a value equal to the one last reported for that key is not reported again).

        Returns the unsubscribe function; with no callback returns a ``Subscription`` for
        ``async for value, key in ...``.
        """
        gun = self.gun
        sub: Subscription | None = None
        if callback is None:
            sub = Subscription(gun)
            callback = sub.push
        cb = callback
        soul, key = self._resolve_local()
        unwatchers: list[Callable[[], None]] = []
        children: dict[str, Callable[[], None]] = {}

        last: dict[str, Any] = {}

        def emit(value: Any, k: str) -> None:
            # one put can carry a link and the node it points to: report the value once
            if k in last and last[k] == value:
                return
            last[k] = copy.deepcopy(value)
            res = cb(value, k)
            if asyncio.iscoroutine(res):
                gun.spawn(res, f"on callback {k}")

        def child_changed(item_key: str) -> WatchFn:
            def fn(s: str, _node: dict[str, Any], _msg: Message) -> None:
                emit(_plain(gun.graph.nodes.get(s)), item_key)

            return fn

        def follow(k: str, value: Any) -> None:
            if _is_link(value):
                target = value["#"]
                if target not in children:
                    children[target] = gun.watch(target, child_changed(k))
                    gun.spawn(gun.fetch({"#": target}), f"fetch {target}")
                node = gun.graph.nodes.get(target)
                if node is not None:
                    emit(_plain(node), k)
            else:
                emit(value, k)

        if self.each:
            node_soul = soul if key is None else f"{soul}/{key}"
            if key is not None:
                v = (gun.graph.nodes.get(soul) or {}).get(key)
                if _is_link(v):
                    node_soul = v["#"]

            def on_node(s: str, node: dict[str, Any], _m: Message) -> None:
                for k, v in node.items():
                    if k != "_":
                        follow(k, v)

            unwatchers.append(gun.watch(node_soul, on_node))
            current = gun.graph.nodes.get(node_soul)
            if current is not None:
                on_node(node_soul, current, {})
        elif key is None:

            def on_whole(s: str, _node: dict[str, Any], _m: Message) -> None:
                emit(_plain(gun.graph.nodes.get(s)), s)

            unwatchers.append(gun.watch(soul, on_whole))
            if soul in gun.graph.nodes:
                on_whole(soul, {}, {})
        else:

            def on_key(s: str, node: dict[str, Any], _m: Message) -> None:
                if key in node:
                    follow(key, node[key])

            unwatchers.append(gun.watch(soul, on_key))
            current = gun.graph.nodes.get(soul)
            if current is not None and key in current:
                on_key(soul, current, {})

        def unsubscribe() -> None:
            for u in unwatchers:
                u()
            for u in children.values():
                u()
            children.clear()

        if sub is not None:
            sub.unsubscribe = unsubscribe
            return sub
        return unsubscribe


def _add(graph: dict[str, dict[str, Any]], soul: str, key: str, value: Any, state: float) -> None:
    node = graph.setdefault(soul, {"_": {"#": soul, ">": {}}})
    node["_"][">"][key] = state
    node[key] = value


def _check_value(value: Any, key: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidDataError(f"key {key!r}: {value!r} is not a valid Gun value")
    if isinstance(value, list | tuple):
        raise InvalidDataError(
            f"key {key!r}: arrays are not valid Gun values; use an object or set()"
        )
    if not valid_value(value):
        raise InvalidDataError(f"key {key!r}: {value!r} is not a valid Gun value")


def _build(
    graph: dict[str, dict[str, Any]], soul: str, data: dict[str, Any], state: float, known: Graph
) -> None:
    """Split a nested object into nodes joined by links (child soul = parent/key, as Gun)."""
    graph.setdefault(soul, {"_": {"#": soul, ">": {}}})
    for key, value in data.items():
        if not isinstance(key, str) or not key or key == "_":
            raise InvalidDataError(f"key {key!r} in {soul!r}: keys are non-empty strings, not '_'")
        if isinstance(value, dict) and not _is_link(value):
            existing = (known.nodes.get(soul) or {}).get(key)
            child = existing["#"] if _is_link(existing) else f"{soul}/{key}"
            if child in graph:
                raise InvalidDataError(f"key {key!r} in {soul!r}: cycle in the data")
            _add(graph, soul, key, {"#": child}, state)
            _build(graph, child, value, state, known)
        else:
            _check_value(value, key)
            _add(graph, soul, key, value, state)
