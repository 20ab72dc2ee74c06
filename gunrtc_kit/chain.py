"""The chain API users call: ``gun.get('a').get('b').put(...)``, ``once``, ``on``, ``map``, ``set``.

Chain resolution: a chain ``get(a).get(b)`` names soul ``a`` and key ``b``; when ``a.b`` holds a
link ``{'#': s}`` the chain leads to ``s``, else to ``a/b`` (Gun's child-soul rule). One pure
function, ``resolve``, applies that rule step by step against the local graph, and every
operation starts from its ``Route``: a ``put`` of an object under ``a.b`` goes to the soul the
local graph already links there, else to ``a/b``; reads fetch each step the graph lacks from
peers and resolve again; ``on`` resolves again whenever a soul along the path changes, so a link
that arrives later or is re-pointed moves the subscription. Puts resolve links from what this
peer already knows (Gun.js waits for a read first; we trade that round trip for putting at
once, and say so).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload

from gunrtc_kit import trace
from gunrtc_kit.core.build import (
    add_key,
    build_node,
    check_value,
    child_soul,
    is_link,
    set_item,
)
from gunrtc_kit.core.graph import Graph
from gunrtc_kit.errors import GunError, InvalidDataError, LimitError

T = TypeVar("T")

__all__ = [
    "MAX_PATH",
    "AskFn",
    "Chain",
    "PutResult",
    "Root",
    "Route",
    "Subscription",
    "WatchFn",
    "resolve",
]

log = logging.getLogger(__name__)

Message = dict[str, Any]
AskFn = Callable[[Message], None]  # a reply listener: called with each reply to a request
WatchFn = Callable[[str, dict[str, Any], Message], None]  # (soul, node diff, message) of a put


class PutResult:
    """What ``put``/``set`` return: the write is already applied and sent; await it for the
    first ack (``GunError`` on ``err``, ``gunrtc_kit.errors.TimeoutError`` when none comes)."""

    def __init__(self, future: asyncio.Future[Message], msg_id: str, soul: str) -> None:
        self.future = future
        self.id = msg_id
        self.soul = soul
        # never let an un-awaited put log "exception was never retrieved"
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def __await__(self) -> Generator[Any, None, Message]:
        return self.future.__await__()

    def done(self) -> bool:
        """Whether the first ack (or the failure) is in."""
        return self.future.done()


class _Peers(Protocol):
    @property
    def peers(self) -> Mapping[str, object]: ...


class Root(Protocol):
    """What a chain needs of its peer's root (``gunrtc_kit.root.Gun`` is one).

    Why a Protocol: the chain is what the root hands out (``gun.get``), so the root imports
    the chain; the chain depending on this shape, not on the root module, keeps the two from
    importing each other (a test holds that)."""

    @property
    def graph(self) -> Graph: ...

    @property
    def bus(self) -> trace.TraceBus: ...

    @property
    def machine(self) -> Callable[[], float]: ...

    @property
    def pid(self) -> str: ...

    @property
    def mesh(self) -> _Peers: ...

    def read_now(self, fn: Callable[[], T], default: T, wait: float = 1.0) -> T: ...

    def get(self, key: str) -> Chain: ...

    async def fetch(self, get: dict[str, Any], timeout: float = 5.0) -> bool: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...

    def watch(self, soul: str, fn: WatchFn, *, subscribe: bool = True) -> Callable[[], None]: ...

    def put_graph(
        self,
        graph: dict[str, dict[str, Any]],
        *,
        budget: int | None = 9,
        msg_id: str | None = None,
        on_reply: AskFn | None = None,
        reply_life: float | None = None,
    ) -> PutResult: ...


class Subscription:
    """Live updates of a chain, for ``async for``; bounded (oldest dropped, and said so)."""

    def __init__(self, gun: Root, limit: int = 1000) -> None:
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


MAX_PATH = 64
"""The most steps a chain may have (``gun.get`` is the first). Resolution walks a path one key
at a time, so this bounds the work of every read, write and live change, also when the links
along the path form a cycle (``a.b`` leading back to ``a``): a cycle is walked, never chased."""

MAX_CHANGES_PER_TURN = 10_000
"""The most changes one ``on()`` subscription handles before it returns to its caller. Only a
callback that writes to the path it watches queues more than one; one that keeps writing new
values would otherwise never let the loop run again."""


def _plain(node: dict[str, Any] | None) -> dict[str, Any] | None:
    if node is None:
        return None
    return {k: v for k, v in node.items() if k != "_"}


@dataclass(frozen=True)
class Route:
    """Where a path leads in the graph as it is now; ``resolve`` makes one.

    ``souls[i]`` is the node ``path[:i + 1]`` names, so ``souls[-1]`` is the node the whole
    chain names (what a put of an object, a ``set`` or a ``map`` uses). ``missing`` lists the
    steps ``i`` whose key ``path[i]`` the graph does not hold on ``souls[i - 1]``: what a read
    must ask peers for, the first one first, since later steps depend on it."""

    path: tuple[str, ...]
    souls: tuple[str, ...]
    missing: tuple[int, ...]

    @property
    def soul(self) -> str:
        """The node holding the path's last key (the node itself for a one-step path)."""
        return self.souls[-2] if len(self.souls) > 1 else self.souls[0]

    @property
    def key(self) -> str | None:
        """The path's last key; None for a one-step path (``gun.get(soul)``: the whole node)."""
        return self.path[-1] if len(self.path) > 1 else None

    @property
    def node(self) -> str:
        """The node the chain names: where its last key's link leads, else ``soul/key``."""
        return self.souls[-1]

    def step(self, i: int) -> tuple[str, str]:
        """(soul, key) read at step ``i`` (``i >= 1``)."""
        return self.souls[i - 1], self.path[i]


def resolve(nodes: Mapping[str, dict[str, Any]], path: tuple[str, ...]) -> Route:
    """Resolve ``path`` against ``nodes`` (a graph's nodes): every chain operation starts here.

    Pure and cheap (one lookup per step), so a live subscription calls it again on every change
    of a soul along the path rather than patching the old route. Raises ``GunError`` for a path
    longer than ``MAX_PATH``."""
    if not path or len(path) > MAX_PATH:
        raise GunError(f"a chain has 1 to {MAX_PATH} steps, not {len(path)}")
    souls = [path[0]]
    missing: list[int] = []
    for i, key in enumerate(path[1:], 1):
        node = nodes.get(souls[-1])
        if node is None or key not in node:
            missing.append(i)
        souls.append(child_soul(node, souls[-1], key))
    return Route(path, tuple(souls), tuple(missing))


@dataclass(frozen=True)
class Chain:
    """A path in the graph: ``gun.get('chat').get('msg1')``. Cheap; does nothing until used."""

    gun: Root
    path: tuple[str, ...]
    each: bool = field(default=False)

    def get(self, key: str) -> Chain:
        if self.each:
            raise GunError("get() after map() is not supported; map the node you need")
        if not isinstance(key, str) or not key:
            raise GunError(f"get(key={key!r}): expected a non-empty string")
        if len(self.path) >= MAX_PATH:
            raise GunError(f"get({key!r}): a chain has at most {MAX_PATH} steps")
        return Chain(self.gun, (*self.path, key))

    def map(self) -> Chain:
        """Every key of this node (links followed), for ``on``/``once``."""
        return Chain(self.gun, self.path, each=True)

    # -------------------------------------------------- resolution
    def _route(self) -> Route:
        """The route from what the local graph knows now."""
        return resolve(self.gun.graph.nodes, self.path)

    # A read shares one deadline (a time on the running loop's clock) across all its steps:
    # ``a.b.c`` asks for ``a.b``, then for ``a/b.c``; each step gets what is left of the
    # caller's timeout, never a fresh one. A step with no time left reads the local graph only.
    @staticmethod
    def _left(deadline: float) -> float:
        return deadline - asyncio.get_running_loop().time()

    async def _fetch_route(self, deadline: float) -> Route:
        """The route, asking peers for each step the local graph lacks (first missing step
        first: what it holds decides the souls after it), then resolving again. Each (soul,
        key) is asked once, so a step no peer has does not stop the walk, and the walk ends
        within the path's length unless concurrent writes keep moving it (then the deadline
        ends it)."""
        asked: set[tuple[str, str]] = set()
        while True:
            route = self._route()
            todo = [route.step(i) for i in route.missing if route.step(i) not in asked]
            left = self._left(deadline)
            if not todo or left <= 0:
                return route
            asked.add(todo[0])
            soul, key = todo[0]
            await self.gun.fetch({"#": soul, ".": key}, left)

    async def _read_node(self, soul: str, deadline: float) -> dict[str, Any] | None:
        left = self._left(deadline)
        if left > 0:
            await self.gun.fetch({"#": soul}, left)
        return _plain(self.gun.graph.nodes.get(soul))

    # -------------------------------------------------- writes
    def put(self, data: Any) -> PutResult:
        """Write ``data`` here: applied locally and sent at once; await for the first ack."""
        if self.each:
            raise GunError("put() after map() is not supported")
        route = self._route()
        state = self.gun.machine()
        graph: dict[str, dict[str, Any]] = {}
        if route.key is None:
            if not isinstance(data, dict) or is_link(data):
                raise InvalidDataError(
                    f"put({data!r}) on root node {route.soul!r}: a root node takes an object"
                )
            build_node(graph, route.soul, data, state, self.gun.graph)
        elif isinstance(data, dict) and not is_link(data):
            add_key(graph, route.soul, route.key, {"#": route.node}, state)
            build_node(graph, route.node, data, state, self.gun.graph)
        else:
            check_value(data, route.key)
            add_key(graph, route.soul, route.key, data, state)
        return self.gun.put_graph(graph)

    def set(self, data: Any) -> PutResult:
        """Add ``data`` as a new item of this node's set (a fresh soul, linked by itself).
        ``data`` is an object or a link, else ``InvalidDataError`` (as ``UserChain.set``)."""
        if self.each:
            raise GunError("set() after map() is not supported")
        route = self._route()
        state = self.gun.machine()
        graph: dict[str, dict[str, Any]] = {}
        if route.key is not None:
            add_key(graph, route.soul, route.key, {"#": route.node}, state)
        item = set_item(graph, data, state, self.gun.graph)
        add_key(graph, route.node, item, {"#": item}, state)
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
        route = await self._fetch_route(deadline)
        value = await self._value_at(route, deadline)
        if not self.each:
            return value
        if not isinstance(value, dict):
            return None
        return {
            k: await self._read_node(v["#"], deadline) if is_link(v) else v
            for k, v in value.items()
        }

    async def _value_at(self, route: Route, deadline: float) -> Any:
        """The node (one-step path) or the last key's value, following a link to its node."""
        if route.key is None:
            return await self._read_node(route.soul, deadline)
        value = (self.gun.graph.nodes.get(route.soul) or {}).get(route.key)
        if is_link(value):
            return await self._read_node(value["#"], deadline)
        return value

    # -------------------------------------------------- display (local graph only, no I/O)
    def _local_value(self) -> tuple[bool, Any]:
        """(known, value) from the local graph as it is now: no fetch. Read on the thread of
        the peer's loop (``read_now``), so a notebook's repr never copies a dict the loop is
        changing; not known when the loop does not answer within a second."""
        return self.gun.read_now(self._read_local, (False, None))

    def _read_local(self) -> tuple[bool, Any]:
        nodes = self.gun.graph.nodes
        route = self._route()
        node = nodes.get(route.soul)
        if route.key is None:
            return node is not None, _plain(node)
        if node is None or route.key not in node:
            return False, None
        value = node[route.key]
        if is_link(value):
            target = nodes.get(value["#"])
            return True, _plain(target) if target is not None else value
        return True, copy.deepcopy(value)

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

    # -------------------------------------------------- live
    @overload
    def on(self, callback: None = None) -> Subscription: ...

    @overload
    def on(self, callback: Callable[[Any, str], Any]) -> Callable[[], None]: ...

    def on(
        self, callback: Callable[[Any, str], Any] | None = None
    ) -> Subscription | Callable[[], None]:
        """Live updates: ``callback(value, key)`` for the current value and every change
        (a value equal to the one last reported for that key is not reported again).

        The path is followed as it changes: a link along it that arrives later or is
        re-pointed moves the subscription to where the path leads now, and the value there is
        reported, whatever order the writes arrive in.

        Returns the unsubscribe function (it removes every watcher the subscription made);
        with no callback returns a ``Subscription`` for ``async for value, key in ...``.
        """
        sub: Subscription | None = None
        if callback is None:
            sub = Subscription(self.gun)
            callback = sub.push
        live = _Live(self, callback)
        if sub is not None:
            sub.unsubscribe = live.close
        try:
            live.start()
        except BaseException:
            live.close()  # the caller never gets the unsubscribe: leave no watcher behind
            raise
        return sub if sub is not None else live.close


class _Live:
    """One ``on()`` subscription, kept on where its path leads now.

    It watches every soul the path passes through and every node whose value it reports (one
    watcher per soul, however many of those roles the soul plays: a link cycle visits a soul
    more than once). A change to a soul along the path resolves the path again; souls the path
    left are unwatched, new ones watched and fetched, and the value now at the end is reported
    (unless equal to the last one reported for its key). Work per change is the path's length
    plus the keys that changed, not the size of a mapped node.

    Changes are handled one at a time, in arrival order, from a queue: a callback that writes
    to the path it watches has that write handled after the change it is reporting, not from
    inside it, so watchers are never rewired halfway through a report.
    """

    def __init__(self, chain: Chain, report: Callable[[Any, str], Any]) -> None:
        self.gun = chain.gun
        self.path = chain.path
        self.each = chain.each
        self._report = report
        self._route = chain._route()
        self._last: dict[str, Any] = {}  # key -> the value last reported under it
        self._along: set[str] = set()  # souls held for the path (see _path_souls)
        self._items: dict[str, str] = {}  # map(): item key -> the soul its link leads to
        self._linked_by: dict[str, set[str]] = {}  # map(): that soul -> the item keys
        self._watching: dict[str, tuple[Callable[[], None], int]] = {}  # soul -> unwatch, holds
        self._fetches: set[asyncio.Task[Any]] = set()
        self._queue: deque[tuple[str | None, dict[str, Any]]] = deque()  # None: report all
        self._busy = False
        self._closed = False

    def start(self) -> None:
        """Report what the local graph holds now, then watch (and ask peers for) the path."""
        self._handle(None, {})

    def close(self) -> None:
        """Unsubscribe: remove every watcher and cancel every fetch this subscription made."""
        self._closed = True
        self._queue.clear()
        for unwatch, _holds in self._watching.values():
            unwatch()
        self._watching.clear()
        self._along.clear()
        self._items.clear()
        self._linked_by.clear()
        for task in list(self._fetches):
            task.cancel()
        self._fetches.clear()

    # ---------------------------------------------- changes, one at a time
    def _changed(self, soul: str, diff: dict[str, Any], _msg: Message) -> None:
        """The watcher of every soul this subscription watches (``Gun.watch``)."""
        self._handle(soul, diff)

    def _handle(self, soul: str | None, diff: dict[str, Any]) -> None:
        if self._closed:
            return
        self._queue.append((soul, diff))
        if self._busy:
            return  # a callback wrote while we report: handled next, by the loop below
        self._busy = True
        error: Exception | None = None
        handled = 0
        try:
            while self._queue and not self._closed:
                handled += 1
                if handled > MAX_CHANGES_PER_TURN:
                    self._queue.clear()
                    raise LimitError(
                        f"on() for {self.path!r}: more than {MAX_CHANGES_PER_TURN} changes in "
                        "one turn (a callback that writes to the path it watches?); the rest "
                        "were dropped"
                    )
                changed, changes = self._queue.popleft()
                try:
                    self._apply(changed, changes)
                except Exception as exc:  # the user's callback: raise it after the rest
                    error = error or exc
        finally:
            self._busy = False
        if error is not None:
            raise error

    def _apply(self, soul: str | None, diff: dict[str, Any]) -> None:
        """Re-resolve, hold the souls the route needs now, report what changed."""
        before = self._route.node
        self._route = resolve(self.gun.graph.nodes, self.path)
        moved = soul is None or self._route.node != before
        along = self._path_souls()
        for gone in self._along - along:
            self._release(gone)
        for new in along - self._along:
            self._hold(new)
        self._along = along
        if self.each:
            self._report_items(soul, diff, moved)
        else:
            self._report_end()

    def _path_souls(self) -> set[str]:
        """Every soul whose key leads the path on, and the node whose value is reported:
        the node itself (one-step path), the mapped node, or the node a last-key link leads to."""
        route = self._route
        souls = set(route.souls[:-1])
        if self.each or route.key is None:
            souls.add(route.node)
        elif is_link((self.gun.graph.nodes.get(route.soul) or {}).get(route.key)):
            souls.add(route.node)
        return souls

    # ---------------------------------------------- reporting
    def _emit(self, value: Any, key: str) -> None:
        # one put can carry a link and the node it points to: report the value once
        if self._closed or (key in self._last and self._last[key] == value):
            return
        self._last[key] = copy.deepcopy(value)
        result = self._report(value, key)
        if asyncio.iscoroutine(result):
            self.gun.spawn(result, f"on callback {key}")

    def _report_end(self) -> None:
        """The value at the end of the path: the node (one-step path), else the last key's
        value, a link followed to its node (reported once that node is known here)."""
        nodes = self.gun.graph.nodes
        route = self._route
        node = nodes.get(route.soul)
        if route.key is None:
            if node is not None:
                self._emit(_plain(node), route.soul)
            return
        if node is None or route.key not in node:
            return
        value = node[route.key]
        if not is_link(value):
            self._emit(value, route.key)
        elif (target := nodes.get(value["#"])) is not None:
            self._emit(_plain(target), route.key)

    def _report_items(self, soul: str | None, diff: dict[str, Any], moved: bool) -> None:
        """``map().on()``: every item when the mapped node is new (first report, or the path
        now leads elsewhere); else the items the change touched, directly or through the node
        an item links to."""
        node = self.gun.graph.nodes.get(self._route.node)
        if moved:
            for key in list(self._items):
                self._unlink(key)
            keys = [k for k in node or () if k != "_"]
        else:
            keys = [k for k in diff if k != "_"] if soul == self._route.node else []
            keys += self._linked_by.get(soul or "", ())
        for key in dict.fromkeys(keys):
            if node is not None and key in node:
                self._report_item(key, node[key])

    def _report_item(self, key: str, value: Any) -> None:
        if not is_link(value):
            self._unlink(key)
            self._emit(value, key)
            return
        target = value["#"]
        if self._items.get(key) != target:
            self._unlink(key)
            self._items[key] = target
            keys = self._linked_by.setdefault(target, set())
            keys.add(key)
            if len(keys) == 1:
                self._hold(target)
        node = self.gun.graph.nodes.get(target)
        if node is not None:
            self._emit(_plain(node), key)

    def _unlink(self, key: str) -> None:
        """Item ``key`` no longer links where it did: stop following that node for it."""
        target = self._items.pop(key, None)
        if target is None:
            return
        keys = self._linked_by.get(target, set())
        keys.discard(key)
        if not keys:
            self._linked_by.pop(target, None)
            self._release(target)

    # ---------------------------------------------- watching
    def _hold(self, soul: str) -> None:
        """One more reason to watch ``soul``; the first watches it and asks peers for it."""
        if self._closed:
            return  # a callback unsubscribed during this change: make nothing new
        unwatch, holds = self._watching.get(soul, (None, 0))
        if unwatch is None:
            unwatch = self.gun.watch(soul, self._changed, subscribe=False)
            self._ask(soul)
        self._watching[soul] = (unwatch, holds + 1)

    def _release(self, soul: str) -> None:
        """One reason less to watch ``soul``; the last unwatches it."""
        held = self._watching.get(soul)
        if held is None:
            return
        unwatch, holds = held
        if holds > 1:
            self._watching[soul] = (unwatch, holds - 1)
        else:
            del self._watching[soul]
            unwatch()

    def _ask(self, soul: str) -> None:
        """Fetch a newly watched soul from the peers there are now; a peer that connects
        later is asked for every watched soul by the root (``Gun._on_hi``)."""
        if not self.gun.mesh.peers:
            return
        task = self.gun.spawn(self.gun.fetch({"#": soul}), f"on() fetch {soul}")
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)
