"""The nodes a root with a store keeps in memory: a cache of the store, bounded in bytes.

With a store, the store is the truth and memory a cache: nothing is read when the root is
made; a soul is read from the store the first time it is asked for (a GET, a put that merges
into it: HAM then runs against the stored node, exactly as if it had always been in memory),
and the souls least recently used are evicted once the cache holds more than ``max_bytes``.

Nothing acknowledged is lost by evicting: a soul written this turn is *pinned* (the group
commit says which, ``wrote``) and only becomes evictable once its rows are committed
(``committed``); an evicted soul is read back from the store when next asked for. Reads use
the writer's own SQLite connection, which sees its uncommitted writes too.

``NodeCache`` is a ``dict`` (soul -> node), so every part of the root that reads
``graph.nodes`` works unchanged: ``get``, ``in`` and ``[]`` read through to the store on a
miss; iterating, ``len`` and ``items`` see only what is in memory (lex GETs and
get-everything read the store by its index instead, see ``Graph.read_iter``).

Bytes are an estimate, not a measurement: per node ``NODE_BYTES`` (its dicts, meta, soul),
per key ``KEY_BYTES`` (two dict slots, the key and state objects) plus the length of the key
and a value's size (text: its length plus a str header; a link: a small dict; other values a
number object). Measured against ``tracemalloc`` (nodes read from a store, the cache's own
entries counted) it is within 10 %: 1 key 786 bytes estimated for 777 held, 2 keys 1,028 for
973, 5 keys of 200-character text 2,620 for 2,418, 50 keys 11,840 for 10,844. A write
adds the size of what it wrote without taking off what it replaced, so a soul written many
times is over-counted (evicted sooner, re-counted exactly when read back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from gunrtc_kit.core.graph import Graph

if TYPE_CHECKING:
    from gunrtc_kit.store import SQLiteStore

__all__ = ["CACHE_BYTES", "KEY_BYTES", "NODE_BYTES", "NodeCache", "cached_graph", "node_bytes"]

T = TypeVar("T")

CACHE_BYTES = 64 * 2**20  # a relay's default cache: about 64 MiB of nodes
NODE_BYTES = 600  # a node's own dicts (node, meta, states), its soul string, its entry here
KEY_BYTES = 150  # a key's slots in the node and its states, the key's str and the state float
_TEXT = 50  # a str object's header
_LINK = 250  # a link value {'#': soul}: a small dict and its key
_NUMBER = 32  # an int or float object (True, False and None are shared: counted anyway)


def cached_graph(store: SQLiteStore | None, max_bytes: int | None = None) -> Graph:
    """A root's graph: in memory without a store; with one, a ``NodeCache`` of about
    ``max_bytes`` (default ``CACHE_BYTES``) over it, lex GETs read from the store."""
    if store is None:
        return Graph()
    return Graph(NodeCache(store, CACHE_BYTES if max_bytes is None else max_bytes), store)


def node_bytes(node: Mapping[str, Any]) -> int:
    """The estimated memory a node holds (see the module text for the formula)."""
    size = NODE_BYTES
    for key, value in node.items():
        if key != "_":
            size += KEY_BYTES + len(key) + _value_bytes(value)
    return size


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return _TEXT + len(value)
    if isinstance(value, dict):
        soul = value.get("#")
        return _LINK + (len(soul) if isinstance(soul, str) else 0)
    return _NUMBER


class NodeCache(dict[str, dict[str, Any]]):
    """Soul -> node, read through from ``store`` on a miss, least recently used evicted past
    ``max_bytes`` (never a pinned soul: one with writes not yet committed)."""

    def __init__(self, store: SQLiteStore, max_bytes: int = CACHE_BYTES) -> None:
        super().__init__()
        if max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes!r}, expected bytes >= 0")
        self.store = store
        self.max_bytes = max_bytes
        self.bytes = 0  # the estimate of what the cached nodes hold
        self.sizes: dict[str, int] = {}  # soul -> its estimate
        self.pinned: dict[str, None] = {}  # souls written and not committed yet
        self.loads = 0  # souls read from the store on a miss
        self.misses = 0  # lookups of souls the store does not hold either
        self.evictions = 0

    # ------------------------------------------------------------------ dict, read through
    @overload
    def get(self, soul: str, default: None = None, /) -> dict[str, Any] | None: ...

    @overload
    def get(self, soul: str, default: dict[str, Any], /) -> dict[str, Any]: ...

    @overload
    def get(self, soul: str, default: T, /) -> dict[str, Any] | T: ...

    def get(self, soul: str, default: Any = None, /) -> Any:
        """The node, from memory (now the most recently used) or else read from the store."""
        node = dict.get(self, soul)
        if node is not None:
            dict.__delitem__(self, soul)  # to the back of the order: most recently used
            dict.__setitem__(self, soul, node)
            return node
        node = self._load(soul)
        return default if node is None else node

    def __contains__(self, soul: object) -> bool:
        return dict.__contains__(self, soul) or self._load(soul) is not None

    def __missing__(self, soul: str) -> dict[str, Any]:
        node = self._load(soul)
        if node is None:
            raise KeyError(soul)
        return node

    def __setitem__(self, soul: str, node: dict[str, Any]) -> None:
        if dict.__contains__(self, soul):
            self._forget(soul)
        dict.__setitem__(self, soul, node)
        size = node_bytes(node)
        self.sizes[soul] = size
        self.bytes += size
        self._trim()

    def __delitem__(self, soul: str) -> None:
        dict.__delitem__(self, soul)
        self._forget(soul)

    @overload
    def pop(self, soul: str, /) -> dict[str, Any]: ...

    @overload
    def pop(self, soul: str, default: dict[str, Any], /) -> dict[str, Any]: ...

    @overload
    def pop(self, soul: str, default: T, /) -> dict[str, Any] | T: ...

    def pop(self, soul: str, *default: Any) -> Any:
        """Drop ``soul`` from memory only (the store keeps it)."""
        if dict.__contains__(self, soul):
            node = dict.pop(self, soul)
            self._forget(soul)
            return node
        if default:
            return default[0]
        raise KeyError(soul)

    def clear(self) -> None:
        """Drop every soul from memory (the store keeps them)."""
        dict.clear(self)
        self.sizes.clear()
        self.pinned.clear()
        self.bytes = 0

    # ------------------------------------------------------------------ the group commit
    def wrote(self, diff: Mapping[str, Mapping[str, Any]]) -> None:
        """Souls the store took writes for, not committed yet: pinned until ``committed``,
        their estimate grown by what was written. A soul the write created is counted
        when made (``__setitem__``), as an empty node: the keys written are added here."""
        for soul, node in diff.items():
            self.pinned[soul] = None
            if soul in self.sizes:
                grew = node_bytes(node) - NODE_BYTES
                self.sizes[soul] += grew
                self.bytes += grew

    def committed(self) -> None:
        """The pinned writes are committed (or rolled back, memory restored): every soul may
        be evicted again; trim to the bound."""
        self.pinned.clear()
        self._trim()

    # ------------------------------------------------------------------ inside
    def cached(self, soul: str) -> dict[str, Any] | None:
        """The node if it is in memory, without reading the store or touching its age."""
        return dict.get(self, soul)

    def stats(self) -> dict[str, int]:
        """What the cache holds and has done, for a benchmark or a lab view."""
        return {
            "souls": len(self),
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "pinned": len(self.pinned),
            "loads": self.loads,
            "misses": self.misses,
            "evictions": self.evictions,
        }

    def _load(self, soul: object) -> dict[str, Any] | None:
        if not isinstance(soul, str):
            return None
        node = self.store.read_node(soul)
        if node is None:
            self.misses += 1
            return None
        self.loads += 1
        self[soul] = node
        return node

    def _forget(self, soul: str) -> None:
        self.bytes -= self.sizes.pop(soul, 0)
        self.pinned.pop(soul, None)

    def _trim(self) -> None:
        """Evict the least recently used unpinned souls until the estimate is under the bound;
        the most recently used soul stays whatever its size (it is being worked on)."""
        if self.bytes <= self.max_bytes or len(self.pinned) >= len(self) - 1:
            return  # under the bound, or nothing but pinned souls (a turn of many writes)
        over = self.bytes - self.max_bytes
        victims: list[str] = []
        newest = next(reversed(self))
        for soul in self:
            if over <= 0:
                break
            if soul in self.pinned or soul == newest:
                continue
            victims.append(soul)
            over -= self.sizes.get(soul, 0)
        self._evict(victims)

    def _evict(self, souls: Iterable[str]) -> None:
        for soul in souls:
            dict.__delitem__(self, soul)
            self._forget(soul)
            self.evictions += 1
