"""``LabPeer``, a named peer of a Lab, and what its reads give back (``Read``,
``NoValueWarning``); also how a Lab makes the Gun root under a peer (``make_gun``) and checks
first that an outside relay answers (``reach``).

Why apart: a peer's actions (put, get, say, snapshot...) each hand one call to the runtime
and need of their Lab only its runtime, its names for pids and whether it is open
(``LabLike``), not the rest of it.
"""

from __future__ import annotations

import asyncio
import html
import json
import random
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError, NetworkError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab.paths import KeyPath, _chain, _keys, _path
from gunrtc_kit.lab.runtime import SLACK, Runtime
from gunrtc_kit.relay import Relay
from gunrtc_kit.root import Gun
from gunrtc_kit.webrtc.options import WebRTCOptions

if TYPE_CHECKING:
    from gunrtc_kit.lab.users import LabUser

__all__ = ["LabLike", "LabPeer", "NoValueWarning", "Read", "make_gun", "reach"]


class LabLike(Protocol):
    """What a Lab's parts (its peers, links, signalling steps, doctor) need of the Lab: its
    runtime, its names for pids, its peers and relay, and whether it is still open. ``Lab``
    is one; naming this instead keeps every module of the package from importing ``lab.lab``."""

    @property
    def rt(self) -> Runtime:
        """The runtime the Lab's peers live on."""
        ...

    @property
    def closed(self) -> bool:
        """True once the Lab is closed."""
        ...

    @property
    def relay(self) -> Relay | None:
        """The Lab's relay while it runs."""
        ...

    @property
    def peers(self) -> Mapping[str, LabPeer]:
        """The Lab's peers by name."""
        ...

    @property
    def names(self) -> Mapping[str, str]:
        """The Lab's names for pids."""
        ...

    def name_of(self, pid: str) -> str:
        """The Lab's name for ``pid``, or the pid."""
        ...

    def _check_open(self, action: str) -> None: ...

    def _settle(self, action: str, *, always: bool = False) -> None:
        """Wait until the Lab's memory wires have gone quiet after ``action`` (in step mode
        or a seeded Lab; ``always``: in any case)."""
        ...

    def _holds(self, peer: LabPeer) -> bool:
        """Whether some wire of ``peer`` is held (step mode): nothing comes back by itself."""
        ...


T = TypeVar("T")
REPR_WAIT = 1.0  # seconds a repr waits for the runtime thread before showing no detail


def _read(rt: Runtime, fn: Callable[[], T], default: T) -> T:
    """``fn()`` for a repr, run on the runtime thread that owns the peers (their loop changes
    the dicts it reads: copying one beside it would race); ``default`` when the runtime is
    closed or does not answer within ``REPR_WAIT`` (a repr must never hang a cell)."""
    try:
        return rt.call(fn, timeout=REPR_WAIT, what="a repr's read")
    except GunError:  # closed, or busy past REPR_WAIT (TimeoutError)
        return default


def _check_skew(clock_skew: float) -> None:
    """A clock skew is a finite number of seconds (a peer's clock ahead or behind)."""
    if isinstance(clock_skew, bool) or not isinstance(clock_skew, int | float):
        raise GunError(f"clock_skew={clock_skew!r}: expected seconds, e.g. +5.0 or -5.0")
    if clock_skew != clock_skew or abs(clock_skew) == float("inf"):
        raise GunError(f"clock_skew={clock_skew!r}: expected a finite number of seconds")


class NoValueWarning(UserWarning):
    """A read found no value: Gun answers a missing value with nothing (``get_sync`` returns
    None, as Gun.js's ``once`` gives ``undefined``), so this warning says what was asked and
    of whom. Silence it with ``warnings.simplefilter("ignore", NoValueWarning)``."""


class Read:
    """What a peer's last ``get``/``get_sync`` asked, of whom, and what came back
    (``peer.last_read``): a read that found nothing is otherwise just None."""

    def __init__(
        self, peer: str, path: KeyPath, value: Any, asked: list[str], timeout: float
    ) -> None:
        self.peer, self.path, self.value = peer, path, value
        self.asked, self.timeout = tuple(asked), timeout

    @property
    def found(self) -> bool:
        """True when a value came back (None is Gun's "nothing there")."""
        return self.value is not None

    def __str__(self) -> str:
        call = f"{self.peer}.get({self.path!r})"
        if self.found:
            return f"{call} = {self.value!r}"
        if not self.asked:
            return (
                f"{call}: no value. {self.peer} does not hold it and has no links, so it asked "
                "nobody (link it to a peer or the relay first)"
            )
        return (
            f"{call}: no value. {self.peer} does not hold it, and none of the peers it asked "
            f"({', '.join(self.asked)}) had it within {self.timeout:g} s"
        )

    def __repr__(self) -> str:
        return f"<Read {self}>"

    def _repr_html_(self) -> str:
        return f"<div><b>Read</b> {html.escape(str(self))}</div>"


class _Peers(dict[str, "LabPeer"]):
    """``lab.peers``: the Lab's peers by name. A name it does not hold is a ``GunError`` that
    lists the names it does (a bare ``KeyError: 'x'`` says neither what is known nor where)."""

    def __missing__(self, name: str) -> LabPeer:
        known = ", ".join(sorted(self)) or "none yet"
        raise GunError(f"lab.peers[{name!r}]: no peer named {name!r}; known: {known}")


class LabPeer:
    """A named Gun peer living on the Lab's runtime; made by ``lab.peer`` or ``lab.memory_peer``.

    ``gun`` is the peer's ``Gun`` root: it belongs to the runtime's thread, so reach it through
    these methods (they run there) rather than touching it from a cell. Paths are
    ``"soul.key"`` strings or lists of keys (see the module docstring)."""

    clock_skew: float = 0.0  # seconds its machine clock runs ahead (+) or behind (-)
    last_read: Read | None = None  # what the last get/get_sync asked, of whom, and got

    def __init__(self, lab: LabLike, name: str, gun: Gun) -> None:
        self.lab = lab
        self.name = name
        self.gun = gun

    def _asked(self) -> list[str]:
        """The names of the peers a read now is asked of (the open links), on the runtime."""
        return [self.lab.name_of(p.pid or p.id) for p in self.gun.mesh.peers.values() if p.met]

    def _note_read(
        self, path: KeyPath, value: Any, asked: list[str], timeout: float, who: str = ""
    ) -> Any:
        """Keep the read in ``last_read``; a read that found nothing warns what was asked and
        of whom (``NoValueWarning``), since the None it returns says neither. ``who`` names
        the reader when it is not the peer itself (``alice.user``)."""
        self.last_read = Read(who or self.name, path, value, asked, timeout)
        if value is None:
            warnings.warn(str(self.last_read), NoValueWarning, stacklevel=3)
        return value

    @property
    def pid(self) -> str:
        """This peer's Gun id (``pid``), as other peers and the trace name it."""
        return self.gun.pid

    @property
    def closed(self) -> bool:
        """True once the peer's Lab is closed: every action then raises ``GunError``."""
        return self.lab.closed

    def _check(self, action: str) -> None:
        self.lab._check_open(f"{self.name}.{action}()")

    def _links(self) -> list[tuple[str, str]]:
        """(transport, far-end name) of each open link (on the runtime thread: ``_read``)."""
        peers = list(self.gun.mesh.peers.values())
        return [(p.transport, self.lab.name_of(p.pid or p.id)) for p in peers if p.met]

    def __repr__(self) -> str:
        if self.closed:
            return f"<LabPeer {self.name!r} pid={self.pid} (Lab closed)>"
        links: list[tuple[str, str]] = _read(self.lab.rt, self._links, [])
        shown = ", ".join(f"{t} {n}" for t, n in links)
        skew = f" clock_skew={self.clock_skew:+g}s" if self.clock_skew else ""
        return f"<LabPeer {self.name!r} pid={self.pid}{skew} links={len(links)} [{shown}]>"

    def _repr_html_(self) -> str:
        e = html.escape
        if self.closed:
            return (
                f"<div><b>LabPeer {e(self.name)}</b> pid <code>{e(self.pid)}</code>: "
                "<i>closed</i> (its Lab is closed)</div>"
            )
        links: list[tuple[str, str]] = _read(self.lab.rt, self._links, [])
        souls = _read(self.lab.rt, lambda: len(self.gun.graph.nodes), 0)
        by_transport: dict[str, list[str]] = {}
        for transport, name in links:
            by_transport.setdefault(transport or "?", []).append(name)
        rows = "".join(
            f"<li>{e(t)}: {e(', '.join(sorted(names)))}</li>"
            for t, names in sorted(by_transport.items())
        )
        return (
            f"<div><b>LabPeer {e(self.name)}</b> pid <code>{e(self.pid)}</code>, "
            f"{souls} soul{'s' if souls != 1 else ''} in its graph, "
            f"{len(links)} link{'s' if len(links) != 1 else ''}"
            f"{f'<ul>{rows}</ul>' if rows else ' (none open)'}</div>"
        )

    @property
    def user(self) -> LabUser:
        """This peer's SEA user session (``gun.user()``): ``create``/``auth`` and reads and
        signed writes in the user's space, each wait with a ``_sync`` twin (``LabUser``)."""
        from gunrtc_kit.lab.users import LabUser

        found: LabUser | None = self.__dict__.get("_lab_user")
        if found is None:
            found = self.__dict__["_lab_user"] = LabUser(self)
        return found

    def put(self, path: KeyPath, data: Any) -> str:
        """Write ``data`` at ``path`` (``'soul.key'`` or a list of keys): applied to this peer's
        graph and sent at once, without waiting; ``put_acked`` waits for an ack instead.
        Returns the message id, to ask ``lab.fate(id)`` what became of it."""
        self._check("put")
        keys = _keys(path)
        result = self.lab.rt.call(
            lambda: _chain(self.gun, keys).put(data), what=f"{self.name}.put({path!r})"
        )
        self.lab._settle(f"{self.name}.put({path!r})")
        return str(result.id)

    def _no_wait_when_held(self, action: str) -> None:
        """A wait for a reply on a held wire would wait for the user, who waits for the cell:
        refuse it at once, and say what to do instead."""
        if self.lab._holds(self):
            raise GunError(
                f"{self.name}.{action}: {self.name}'s wires are held (step mode), so no reply "
                "can come back until you deliver it: use put(), then lab.step() or "
                "lab.deliver(...), and lab.fate(id) to see the ack"
            )

    async def put_acked(self, path: KeyPath, data: Any) -> dict[str, Any]:
        """Write ``data`` at ``path`` and wait for the first ack (a relay with a store acks;
        plain peers do not, so this raises ``TimeoutError`` after Gun's ack timeout)."""
        self._check("put_acked")
        self._no_wait_when_held("put_acked()")
        keys = _keys(path)

        async def go() -> dict[str, Any]:
            ack: dict[str, Any] = await _chain(self.gun, keys).put(data)
            return ack

        wait = self.gun.ack_timeout + SLACK
        return await self.lab.rt.run(go(), wait, what=f"{self.name}.put_acked({path!r})")

    def put_acked_sync(self, path: KeyPath, data: Any) -> dict[str, Any]:
        """Blocking twin of ``put_acked`` (for plain cells and scripts, where there is no
        ``await``): blocks this thread only, the peers go on."""
        self._check("put_acked_sync")
        self._no_wait_when_held("put_acked_sync()")
        keys = _keys(path)

        async def go() -> dict[str, Any]:
            ack: dict[str, Any] = await _chain(self.gun, keys).put(data)
            return ack

        wait = self.gun.ack_timeout + SLACK
        return self.lab.rt.run_sync(go(), wait, what=f"{self.name}.put_acked_sync({path!r})")

    async def get(self, path: KeyPath, timeout: float = 5.0) -> Any:
        """The value at ``path`` (asking linked peers for what this one lacks), or None if no
        peer has it within ``timeout`` seconds, for the whole path however long it is.

        None is what Gun gives for "nothing there", so it stays the answer; to make it
        discoverable, ``last_read`` keeps what was asked and of whom, and a read that found
        nothing warns so (``NoValueWarning``, naming the path, the peers asked and that none
        had it), which a notebook shows under the cell."""
        self._check("get")
        chain = _path(self.gun, path)

        async def go() -> tuple[Any, list[str]]:
            asked = self._asked()
            return await chain.once(timeout=timeout), asked

        value, asked = await self.lab.rt.run(
            go(), timeout + SLACK, what=f"{self.name}.get({path!r})"
        )
        return self._note_read(path, value, asked, timeout)

    def get_sync(self, path: KeyPath, timeout: float = 5.0) -> Any:
        """Blocking twin of ``get``: the same read, waited for from this thread (and the same
        ``last_read`` and ``NoValueWarning`` when it finds nothing). The read ends by itself
        after about ``timeout`` seconds; the wait for it is ``SLACK`` seconds longer, so a slow
        answer gives None and only a stuck runtime gives ``TimeoutError``."""
        self._check("get_sync")
        chain = _path(self.gun, path)

        async def go() -> tuple[Any, list[str]]:
            asked = self._asked()
            return await chain.once(timeout=timeout), asked

        value, asked = self.lab.rt.run_sync(
            go(), timeout + SLACK, what=f"{self.name}.get_sync({path!r})"
        )
        return self._note_read(path, value, asked, timeout)

    def say(self, msg: dict[str, Any], to: LabPeer | None = None) -> dict[str, Any]:
        """Send a raw DAM message to one linked peer, or to the mesh; returns it with its ``#``."""
        self._check("say")
        msg = dict(msg)

        def go() -> None:
            target = None
            if to is not None:
                target = self.gun.mesh.peer_by_pid(to.pid)
                if target is None:
                    raise GunError(f"{self.name} has no link to {to.name}")
            self.gun.mesh.say(msg, target)

        self.lab.rt.call(go, what=f"{self.name}.say()")
        self.lab._settle(f"{self.name}.say()")
        return msg

    def graph(self) -> dict[str, Any]:
        """A JSON copy of this peer's whole graph now (souls to nodes, with ``_`` metadata),
        taken on the runtime thread so it is never half-written."""
        self._check("graph")
        return self.lab.rt.call(
            lambda: json.loads(json.dumps(self.gun.graph.nodes)), what=f"{self.name}.graph()"
        )

    def snapshot(self) -> dict[str, Any]:
        """``{'pid', 'links', 'graph'}`` in one consistent read: links as ``'transport
        far-end-name'`` strings, the graph as ``graph()`` gives it."""
        self._check("snapshot")

        def go() -> dict[str, Any]:
            links = [
                f"{p.transport} {self.lab.name_of(p.pid or p.id)}"
                for p in self.gun.mesh.peers.values()
                if p.met
            ]
            return {
                "pid": self.pid,
                "links": links,
                "graph": json.loads(json.dumps(self.gun.graph.nodes)),
            }

        return self.lab.rt.call(go, what=f"{self.name}.snapshot()")

    def links(self) -> list[str]:
        """This peer's open links, as ``'transport far-end-name'`` (e.g. ``'dc bob'``)."""
        self._check("links")
        return list(self.snapshot()["links"])


async def make_gun(
    bus: trace.TraceBus,
    name: str,
    peers: list[str],
    rtc: WebRTCOptions | None,
    clock_skew: float = 0.0,
    *,
    wall: Callable[[], float] | None = None,
    rng: random.Random | None = None,
    **options: Any,
) -> Gun:
    """A started Gun root for peer ``name`` on ``bus``, connected to ``peers`` (its relay);
    one that does not start is closed again and nothing of it is left running. ``wall`` is
    its clock (default the machine's; a seeded Lab's ``LabClock``), ``rng`` draws its ids,
    ``options`` go to ``Gun`` (a memory relay's ``super_peer``, ``acks``)."""
    base = wall or time.time
    clock = (lambda: base() + clock_skew) if clock_skew else base
    gun = Gun(peers, rtc=rtc, bus=bus, clock=clock, rng=rng, **options)
    try:
        await gun.start()
        if peers:
            await gun.wait_connected(10)
    except BaseException as exc:
        await gun.close()  # nothing of a peer that did not start is left running
        if isinstance(exc, GunTimeoutError):
            raise GunTimeoutError(
                f"peer({name!r}): {', '.join(peers)} took the connection but no Gun "
                "websocket opened within 10 s (is a Gun relay serving that path? does it "
                "refuse this client's origin?); no peer was made"
            ) from None
        raise
    return gun


async def reach(action: str, url: str, timeout: float = 5.0) -> None:
    """Can a connection to ``url``'s host and port open? Asked before a peer is made for
    a relay other than the Lab's own, so that an unreachable one fails at once, says
    why, and leaves nothing behind: no peer, no name, no trace events (a peer made first
    would have traced its first messages, and the views would keep drawing it)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
        raise GunError(f"{action}: {url!r} is not a relay URL such as ws://host:8765/gun")
    try:
        port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(parts.hostname, port)
    except (OSError, TimeoutError, ValueError) as exc:
        if isinstance(exc, TimeoutError):
            why = f"no answer within {timeout:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            why = f"connection refused, nothing listens on port {parts.port or port}"
        else:
            why = str(exc) or type(exc).__name__
        raise NetworkError(
            f"{action}: cannot reach {url}: {why}; no peer was made (is the relay "
            "running, at that host and port?)"
        ) from None
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
