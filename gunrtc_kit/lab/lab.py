"""``Lab``: a relay and named peers for one notebook, and the views that watch them.

Every peer, the relay and every link live on the Lab's runtime loop (see ``runtime.py``).
Convention for the two call styles: each action is a coroutine method (``await lab.link(a,
b)``) with a blocking twin of the same name plus ``_sync`` (``lab.link_sync(a, b)``); cheap
actions that need no waiting (``put``, ``say``) are plain methods usable either way.
WebRTC stays on loopback by default (``ice_servers=[]``, ``host_addresses=["127.0.0.1"]``), so
it works on Binder with no STUN server.

Paths: ``alice.put("chat.hello", ...)`` splits the string on dots (soul ``chat``, key
``hello``). A key that has dots in it goes in a list or tuple instead, taken as it is:
``alice.put(["users", "bob@example.com"], {...})``, ``bob.get_sync(["users",
"bob@example.com", "name"])``. An empty path, or an empty key anywhere in one, is a
``GunError`` that names it.

A closed Lab stays closed: every action on it, its peers, its memory links and its signalling
steps raises ``GunError`` (its reprs still work and say so). Re-running a notebook cell that
makes a ``Lab`` closes the Lab the earlier run of that same cell made (see ``Lab``), so a
re-run does not leave a second relay and set of peers running; ``Lab.close_all()`` closes
every Lab there is.

Errors raised by the work on the runtime reach the caller with the frames of the runtime's
plumbing left out (see ``runtime.py``), and a blocking wait that runs out names the call.

Threads: one owner per object. Peers, meshes, wires and the relay belong to the runtime's
thread; every change to them from a cell (``put``, ``MemoryLink.set``/``cut``, making or
linking peers, ``close``) is handed to that thread and waited for, bounded. The views' models
belong to the view pump; the Lab changes them (naming a peer in the directory, a view's
filters, ``refresh``, ``pause``) only under the hub's lock, which the pump holds for each of
its rounds. The runtime holds Labs weakly: a Lab dropped without ``close()`` is collected,
and its finalizer hands the closing of its relay and peers to the runtime thread.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from gunrtc_kit import trace
from gunrtc_kit.chain import Chain
from gunrtc_kit.diagnose.fate import Fate
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError, NetworkError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab.runtime import Runtime, call_in_loop, get_runtime
from gunrtc_kit.lab.views.hub import ViewHub
from gunrtc_kit.relay import Relay
from gunrtc_kit.root import Gun
from gunrtc_kit.transport.memory import MemoryWire, connect_memory
from gunrtc_kit.webrtc.options import WebRTCOptions

if TYPE_CHECKING:
    from gunrtc_kit.diagnose.doctor import Report
    from gunrtc_kit.lab.users import LabUser
    from gunrtc_kit.lab.views.dashboard import Dashboard
    from gunrtc_kit.lab.views.flow_view import FlowView
    from gunrtc_kit.lab.views.mesh_view import MeshView
    from gunrtc_kit.lab.views.peer_view import PeerView
    from gunrtc_kit.lab.views.replay import Replay
    from gunrtc_kit.lab.views.signaling_view import SignalingView

__all__ = ["Lab", "LabPeer", "MemoryLink", "NoValueWarning", "Read", "SignalingSteps"]

T = TypeVar("T")

log = logging.getLogger(__name__)

KeyPath = str | list[str] | tuple[str, ...]
"""A path in the graph: ``"soul.key.key"`` (split on dots) or a list/tuple of keys (as is)."""


def _keys(path: KeyPath) -> tuple[str, ...]:
    """The keys of ``path``, checked: a string is split on dots, a list/tuple is taken as is."""
    if isinstance(path, str):
        if not path:
            raise GunError(
                "path='' is empty: expected 'soul', 'soul.key.key' or a list of keys "
                "such as ['users', 'bob@example.com']"
            )
        keys: tuple[Any, ...] = tuple(path.split("."))
    elif isinstance(path, list | tuple):
        keys = tuple(path)
        if not keys:
            raise GunError(f"path={path!r} is empty: expected at least a soul, e.g. ['chat']")
    else:
        raise GunError(
            f"path={path!r}: expected a string 'soul.key' or a list of keys, "
            f"not {type(path).__name__}"
        )
    for i, k in enumerate(keys):
        if not isinstance(k, str):
            raise GunError(f"path={path!r}: key {i} is {k!r}, expected a string")
        if not k:
            hint = (
                " (two dots in a row, or a dot at an end: a key with dots in it goes in a "
                "list, e.g. ['users', 'bob@example.com'])"
                if isinstance(path, str)
                else ""
            )
            raise GunError(f"path={path!r}: key {i} is empty{hint}")
    return keys


def _chain(gun: Gun, keys: tuple[str, ...]) -> Chain:
    chain = gun.get(keys[0])
    for k in keys[1:]:
        chain = chain.get(k)
    return chain


def _path(gun: Gun, path: KeyPath) -> Chain:
    """The chain for ``path`` on ``gun`` (checked as ``_keys`` does)."""
    return _chain(gun, _keys(path))


def _read(fn: Any, default: Any) -> Any:
    """Call ``fn()`` for a repr, from a thread other than the runtime's: the peer's loop may
    change a dict while we copy it; then try again, and give ``default`` rather than fail."""
    for _ in range(3):
        try:
            return fn()
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    return default


def _ipython_shell() -> Any:
    """The running IPython shell, or None. Never imports IPython: if it is not imported, no
    shell runs (tests replace this function with one returning a fake shell)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None) if ipython is not None else None
    if get is None:
        return None
    try:
        return get()
    except Exception:
        return None


def _is_cell_file(shell: Any, filename: str) -> bool:
    """Is ``filename`` the code name IPython gave a cell? ipykernel names a cell's code by a hash
    of its source (``<tmp>/ipykernel_<pid>/<hash>.py``), terminal IPython
    ``<ipython-input-N-hash>``; both are in the shell's compiler's map of cell names."""
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if isinstance(names, dict) and filename in names:
        return True
    if filename.startswith("<ipython-input-"):
        return True
    return os.path.basename(os.path.dirname(filename)).startswith("ipykernel_")


def _cell_identity(shell: Any = None, frame: FrameType | None = None) -> tuple[str, int] | None:
    """(cell, execution) for a Lab made now, or None outside IPython or if no cell is found.

    The cell is the notebook's ``cellId`` from the kernel's parent header metadata when the
    front end sends one (JupyterLab, Notebook 7, VS Code), else the code name of the outermost
    frame on the stack that is a cell's code (the cell being run, even when a function from
    another cell makes the Lab). The execution is the shell's execution count, which tells two
    runs of one cell apart."""
    shell = _ipython_shell() if shell is None else shell
    if shell is None:
        return None
    count = getattr(shell, "execution_count", None)
    if not isinstance(count, int):
        return None
    parent = getattr(shell, "parent_header", None)
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
    if isinstance(cell_id, str) and cell_id:
        return f"cellId:{cell_id}", count
    f: FrameType | None = frame if frame is not None else sys._getframe(1)
    outermost: str | None = None
    while f is not None:
        name = f.f_code.co_filename
        if _is_cell_file(shell, name):
            outermost = name
        f = f.f_back
    if outermost is None:
        return None
    if outermost.startswith("<ipython-input-"):
        # terminal IPython puts the execution number in the name: keep the source hash only
        outermost = "<ipython-input-" + outermost.rstrip(">").rsplit("-", 1)[-1] + ">"
    return f"file:{outermost}", count


def _check_skew(clock_skew: float) -> None:
    """A clock skew is a finite number of seconds (a peer's clock ahead or behind)."""
    if isinstance(clock_skew, bool) or not isinstance(clock_skew, int | float):
        raise GunError(f"clock_skew={clock_skew!r}: expected seconds, e.g. +5.0 or -5.0")
    if clock_skew != clock_skew or abs(clock_skew) == float("inf"):
        raise GunError(f"clock_skew={clock_skew!r}: expected a finite number of seconds")


_labs_lock = threading.Lock()
_open_labs: weakref.WeakSet[Lab] = weakref.WeakSet()


class _Owned:
    """What a Lab runs on the runtime: its peers' roots and its relay.

    Kept apart from the Lab (which updates it) so that a finalizer can close them without
    holding the Lab: whatever a ``weakref.finalize`` keeps for its callback stays alive, and a
    ``LabPeer`` holds its Lab."""

    def __init__(self) -> None:
        self.guns: list[Gun] = []
        self.relay: Relay | None = None
        self.closed = False
        # every widget the Lab made (views, snapshots, the dashboard): closed with it
        self.widgets: list[Any] = []

    def close_widgets(self, notes: bool = True) -> None:
        """Close every widget the Lab made, each with its layout and inner boxes; the views
        first hear ``closed`` and (``notes``) their outputs shown with a display id become a
        note saying the Lab is closed (``views.peer_view.Published``). Once. ``notes=False``
        off a cell's thread (a collected Lab): an output update there has no cell to go to."""
        widgets, self.widgets = self.widgets, []
        if not widgets:
            return
        from gunrtc_kit.lab.views.dashboard import close_tree

        seen: set[int] = set()
        for w in widgets:
            try:
                mark = getattr(w, "mark_closed", None) if notes else None
                if mark is not None:
                    mark()
                close_tree(w, seen)
            except Exception:  # one widget's failure must not keep the others open
                log.exception("closing %s failed", type(w).__name__)

    async def aclose(self) -> None:
        """Close every peer, then the relay (on the runtime thread); once."""
        if self.closed:
            return
        self.closed = True
        for gun in list(self.guns):
            await gun.close()
        if self.relay is not None:
            await self.relay.stop()


# tasks closing collected Labs: asyncio keeps only weak references to tasks
_releasing: set[asyncio.Task[None]] = set()


async def _finish_release(owned: _Owned, hub: ViewHub) -> None:
    try:
        await owned.aclose()
    except Exception:  # nobody is left to hear it but the log
        log.exception("closing a Lab that was collected without close() failed")
    finally:
        hub.close()
        owned.close_widgets(notes=False)


def _release_on_runtime(owned: _Owned, hub: ViewHub, forget: Callable[[], None]) -> None:
    forget()
    task = asyncio.get_running_loop().create_task(_finish_release(owned, hub))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


def _release(rt: Runtime, owned: _Owned, hub: ViewHub, forget: Callable[[], None]) -> None:
    """Finalizer of a Lab collected without ``close()``: hand the closing of its relay and
    peers to the runtime thread, their owner. It may run on any thread, whenever the garbage
    collector does, even inside code holding a lock; so it only schedules the work (no lock,
    no wait), and the runtime thread does the rest."""
    if rt.closed or owned.closed:
        return
    try:
        rt.loop.call_soon_threadsafe(_release_on_runtime, owned, hub, forget)
    except RuntimeError:  # the runtime's loop is closed: its close() closed everything
        pass


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

    def __init__(self, lab: Lab, name: str, gun: Gun) -> None:
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
        """(transport, far-end name) of each open link, read without a runtime call."""
        peers = list(self.gun.mesh.peers.values())
        return [(p.transport, self.lab.name_of(p.pid or p.id)) for p in peers if p.met]

    def __repr__(self) -> str:
        if self.closed:
            return f"<LabPeer {self.name!r} pid={self.pid} (Lab closed)>"
        links = _read(self._links, [])
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
        links = _read(self._links, [])
        souls = _read(lambda: len(self.gun.graph.nodes), 0)
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
        return str(result.id)

    async def put_acked(self, path: KeyPath, data: Any) -> dict[str, Any]:
        """Write ``data`` at ``path`` and wait for the first ack (a relay with a store acks;
        plain peers do not, so this raises ``TimeoutError`` after Gun's ack timeout)."""
        self._check("put_acked")
        keys = _keys(path)

        async def go() -> dict[str, Any]:
            ack: dict[str, Any] = await _chain(self.gun, keys).put(data)
            return ack

        return await self.lab.rt.arun(go())

    def put_acked_sync(self, path: KeyPath, data: Any) -> dict[str, Any]:
        """Blocking twin of ``put_acked`` (for plain cells and scripts, where there is no
        ``await``): blocks this thread only, the peers go on."""
        self._check("put_acked_sync")
        keys = _keys(path)

        async def go() -> dict[str, Any]:
            ack: dict[str, Any] = await _chain(self.gun, keys).put(data)
            return ack

        wait = self.gun.ack_timeout + 10
        return self.lab.rt.run(go(), wait, what=f"{self.name}.put_acked_sync({path!r})")

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

        value, asked = await self.lab.rt.arun(go())
        return self._note_read(path, value, asked, timeout)

    def get_sync(self, path: KeyPath, timeout: float = 5.0) -> Any:
        """Blocking twin of ``get``: the same read, waited for from this thread (and the same
        ``last_read`` and ``NoValueWarning`` when it finds nothing). The read ends by itself
        after about ``timeout`` seconds; the wait for it is longer still, so a slow answer
        gives None and only a stuck runtime gives ``TimeoutError``."""
        self._check("get_sync")
        chain = _path(self.gun, path)

        async def go() -> tuple[Any, list[str]]:
            asked = self._asked()
            return await chain.once(timeout=timeout), asked

        value, asked = self.lab.rt.run(
            go(), timeout + max(5.0, timeout), what=f"{self.name}.get_sync({path!r})"
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


class MemoryLink:
    """An in-memory link between two Lab peers, with faults you can change live.

    Made by ``lab.link_memory(a, b)``. ``set`` changes both ends at once; the faults are read
    back from the wires (``latency``, ``jitter``, ``loss``, ``partitioned``), and ``dropped``
    counts the frames the faults ate, both directions together."""

    def __init__(
        self,
        a: MemoryWire,
        b: MemoryWire,
        *,
        lab: Lab | None = None,
        ends: tuple[str, str] = ("a", "b"),
    ) -> None:
        self.wires = (a, b)
        self.lab = lab
        self.ends = ends

    def _on_owner(self, action: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the thread that owns the wires, and wait for it: the Lab's runtime,
        or for a link made by hand around ``connect_memory`` wires, the loop they were joined
        on. A wire change reaches both meshes (``bye``, a ``Link`` event), and a mesh is only
        ever changed by its loop's thread. A link whose loop no longer runs has no other
        owner left, so it is changed where it is called."""
        what = f"MemoryLink {self._title}: {action}"
        if self.lab is not None:
            self.lab._check_open(what)
            self.lab.rt.call(fn, what=what)
            return
        loop = self.wires[0]._loop
        if loop is None or not loop.is_running():
            fn()
            return
        call_in_loop(loop, fn, what=what)

    @property
    def _title(self) -> str:
        return f"{self.ends[0]}\u2194{self.ends[1]}"

    def set(
        self,
        *,
        latency: float | None = None,
        jitter: float | None = None,
        loss: float | None = None,
        partitioned: bool | None = None,
    ) -> None:
        """Change faults on both ends now (None leaves one as it is): ``latency`` and ``jitter``
        in seconds, ``loss`` a share 0..1, ``partitioned`` drops everything until set False.
        Checked and changed on the wires' own thread, so a cut made meanwhile is seen."""

        def go() -> None:
            if self.closed:
                raise GunError(f"MemoryLink {self._title} is cut; make a new one with link_memory")
            for w in self.wires:
                if latency is not None:
                    w.latency = latency
                if jitter is not None:
                    w.jitter = jitter
                if loss is not None:
                    w.loss = loss
                if partitioned is not None:
                    w.partitioned = partitioned

        self._on_owner("set()", go)

    @property
    def latency(self) -> float:
        """Seconds each frame takes to arrive."""
        return float(self.wires[0].latency)

    @property
    def jitter(self) -> float:
        """Up to this many extra seconds per frame, drawn at random."""
        return float(self.wires[0].jitter)

    @property
    def loss(self) -> float:
        """Share of frames dropped (0..1)."""
        return float(self.wires[0].loss)

    @property
    def partitioned(self) -> bool:
        """True while every frame is dropped."""
        return any(w.partitioned for w in self.wires)

    @property
    def dropped(self) -> int:
        """Frames dropped by the faults so far, both directions."""
        return sum(w.dropped for w in self.wires)

    @property
    def closed(self) -> bool:
        """True once the link is cut (by ``cut()``, or because an end's peer closed)."""
        return any(w.closed for w in self.wires)

    def cut(self) -> None:
        """Fault: hang up the link for good (both meshes see ``bye``); a cut link cannot be
        healed, make a new one with ``lab.link_memory``. Cutting it twice is a ``GunError``,
        also when two threads cut it at once: the check is made where the cut is, on the
        wires' own thread."""

        def go() -> None:
            if self.closed:
                raise GunError(f"MemoryLink {self._title} is cut already")
            self.wires[0].close()

        self._on_owner("cut()", go)

    def _state(self) -> str:
        if self.closed:
            return "cut"
        return "partitioned" if self.partitioned else "open"

    def __repr__(self) -> str:
        return (
            f"<MemoryLink {self._title} {self._state()} latency={self.latency:g}s "
            f"jitter={self.jitter:g}s loss={self.loss:.0%} dropped={self.dropped}>"
        )

    def _repr_html_(self) -> str:
        e = html.escape
        return (
            f"<div><b>MemoryLink</b> {e(self.ends[0])} &harr; {e(self.ends[1])}: "
            f"<b>{e(self._state())}</b>; latency {self.latency:g} s, jitter {self.jitter:g} s, "
            f"loss {self.loss:.0%}, partitioned {'yes' if self.partitioned else 'no'}, "
            f"{self.dropped} frame{'s' if self.dropped != 1 else ''} dropped</div>"
        )


class SignalingSteps:
    """Drive one WebRTC link by hand: each step returns what it made, to read and pass on.

    Steps, in order: 1 ``make_offer``, 2 ``make_answer``, 3 ``apply_answer``, 4
    ``add_candidates`` (optional: aiortc puts its candidates in the SDP), 5 ``wait_open``.
    The repr shows which are done and which comes next. Each step blocks (it is a few
    hundred milliseconds of work on the runtime) so it reads like a recipe in plain cells."""

    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("offer", "make_offer"),
        ("answer", "make_answer"),
        ("apply answer", "apply_answer"),
        ("candidates (optional)", "add_candidates"),
        ("open", "wait_open"),
    )

    def __init__(self, lab: Lab, a: LabPeer, b: LabPeer) -> None:
        self.lab, self.a, self.b = lab, a, b
        self.offer: dict[str, Any] | None = None
        self.answer: dict[str, Any] | None = None
        self.applied = False
        self.trickled: int | None = None
        self.opened = False

    def _rtc(self, p: LabPeer) -> Any:
        if p.gun.rtc is None:
            raise GunError(f"{p.name} has no WebRTC (created with rtc=False)")
        return p.gun.rtc

    def _check(self, action: str) -> None:
        self.lab._check_open(f"signaling({self.a.name}, {self.b.name}).{action}")

    def _done(self) -> list[bool]:
        return [
            self.offer is not None,
            self.answer is not None,
            self.applied,
            self.trickled is not None,
            self.opened,
        ]

    @property
    def next_step(self) -> str | None:
        """The method to call next (``add_candidates`` is skipped: optional), or None."""
        for (_, method), done in zip(self.STEPS, self._done(), strict=True):
            if not done and method != "add_candidates":
                return method
        return None

    def _progress(self) -> list[tuple[int, str, str, str]]:
        """(number, label, method, 'done' | 'next' | 'todo') for every step."""
        nxt = self.next_step
        return [
            (i, label, method, "done" if done else "next" if method == nxt else "todo")
            for i, ((label, method), done) in enumerate(
                zip(self.STEPS, self._done(), strict=True), 1
            )
        ]

    def __repr__(self) -> str:
        parts = []
        for i, label, _, state in self._progress():
            if state == "done":
                parts.append(f"{i} {label} \u2713")
            elif state == "next":
                parts.append(f"{i} {label} \u2014 next")
                break
        if self.next_step is None:
            parts.append("\u2014 linked")
        closed = " (Lab closed)" if self.lab.closed else ""
        return f"<SignalingSteps {self.a.name}\u2192{self.b.name}: {' '.join(parts)}{closed}>"

    def _repr_html_(self) -> str:
        e = html.escape
        mark = {"done": "\u2713", "next": "\u2190 next", "todo": ""}
        bold = {"done": "", "next": ' style="font-weight:bold"', "todo": ""}
        items = "".join(
            f"<li{bold[state]}>{e(label)} <code>{e(method)}()</code> {mark[state]}</li>"
            for _, label, method, state in self._progress()
        )
        closed = " <i>(Lab closed)</i>" if self.lab.closed else ""
        return (
            f"<div><b>Signalling</b> {e(self.a.name)} &rarr; {e(self.b.name)}{closed}"
            f"<ol>{items}</ol></div>"
        )

    def make_offer(self) -> dict[str, Any]:
        """Step 1: ``a`` makes an offer for ``b`` (the SDP already holds a's candidates)."""
        self._check("make_offer()")
        self.offer = self.lab.rt.run(
            self._rtc(self.a).create_offer(self.b.pid), what="make_offer()"
        )
        return self.offer

    def make_answer(self) -> dict[str, Any]:
        """Step 2: hand the offer to ``b``; ``b`` answers."""
        self._check("make_answer()")
        if self.offer is None:
            raise GunError("make_offer() first")
        self.answer = self.lab.rt.run(
            self._rtc(self.b).accept_offer(self.a.pid, self.offer), what="make_answer()"
        )
        return self.answer

    def apply_answer(self) -> None:
        """Step 3: hand the answer back to ``a``."""
        self._check("apply_answer()")
        if self.answer is None:
            raise GunError("make_answer() first")
        self.lab.rt.run(
            self._rtc(self.a).accept_answer(self.b.pid, self.answer), what="apply_answer()"
        )
        self.applied = True

    def candidates(self) -> list[dict[str, Any]]:
        """The candidates in both SDPs, in Gun's JSON shape (what a browser would trickle)."""
        from gunrtc_kit.webrtc.signaling import candidates_from_sdp

        return [c for d in (self.offer, self.answer) if d for c in candidates_from_sdp(d["sdp"])]

    def add_candidates(self) -> int:
        """Step 4 (optional with aiortc): trickle every candidate to the other side too."""
        self._check("add_candidates()")
        n = 0
        from gunrtc_kit.webrtc.signaling import candidates_from_sdp

        for src, dst, desc in ((self.a, self.b, self.offer), (self.b, self.a, self.answer)):
            for c in candidates_from_sdp((desc or {}).get("sdp", "")):
                self.lab.rt.run(self._rtc(dst).add_candidate(src.pid, c), what="add_candidates()")
                n += 1
        self.trickled = n
        return n

    def wait_open(self, timeout: float = 20.0) -> None:
        """Step 5: the data channel opens on both sides."""
        self._check("wait_open()")
        for x, y in ((self.a, self.b), (self.b, self.a)):
            self.lab.rt.run(
                self._rtc(x).wait_open(y.pid, timeout),
                timeout + 5,
                what=f"wait_open(): {x.name}'s channel to {y.name}",
            )
        self.opened = True


class Lab:
    """A relay on 127.0.0.1 and named peers, all on one runtime, all traced on one bus.

    ``Lab(relay=False)`` makes no relay (in-memory peers need none). ``close()`` (or ``with
    Lab() as lab:``) stops it all; a closed Lab raises ``GunError`` on every action.

    In IPython, making a Lab closes any still-open Lab made by an earlier run of the same
    cell: re-running ``lab = Lab()`` replaces the old relay and peers instead of leaving them
    running beside the new ones. The cell is the notebook's ``cellId`` when the front end sends
    one, else the cell's code name (ipykernel names it by a hash of the source, so two cells
    with the very same source count as one); the execution count tells runs apart, so two Labs
    made by one run are both kept, and Labs from other cells are never touched. Outside
    IPython nothing is closed for you. ``Lab.close_all()`` closes every open Lab.

    A Lab nobody holds any more is collected like any object (the runtime holds it weakly);
    then its relay and peers are closed on the runtime thread, as ``close()`` would.

    The relay takes clients that are not browsers only (``allowed_origins=()``): every web
    page open in the user's browser can reach 127.0.0.1, and a browser sends its page's
    ``Origin``, so this keeps them from reading or writing the notebook's relay. Pass the
    origins to let in (``["http://localhost:8888"]``), or None for any, as Gun.js does.
    """

    def __init__(
        self,
        *,
        relay: bool = True,
        room: str | None = "lab",
        runtime: Runtime | None = None,
        store: str | None = None,
        keep: int = 50_000,
        allowed_origins: Iterable[str] | None = (),
    ) -> None:
        if isinstance(allowed_origins, str):
            raise GunError(
                f"allowed_origins={allowed_origins!r}: expected a list of origins such as "
                "['http://localhost:8888'], () for no browser at all, or None for any"
            )
        self.allowed_origins = None if allowed_origins is None else tuple(allowed_origins)
        self.rt = runtime or get_runtime()
        self.bus = trace.TraceBus(keep=keep)
        self.room = room
        self.peers: dict[str, LabPeer] = _Peers()
        self.names: dict[str, str] = {}
        self.directory = Directory()
        self._hub = ViewHub(self.directory, self.bus)
        self.views: dict[str, Any] = {}
        self._owned = _Owned()
        self._store = store
        self._closed = False
        self._cell: tuple[str, int] | None = None
        self._forget_closer = self.rt.on_close(self._aclose)
        self._finalizer = weakref.finalize(
            self, _release, self.rt, self._owned, self._hub, self._forget_closer
        )
        # at exit the runtime's own close() closes what is still open
        self._finalizer.atexit = False
        with _labs_lock:
            _open_labs.add(self)
        try:
            cell = _cell_identity()
        except Exception:  # an unusual shell: make the Lab, just without the re-run rule
            cell = None
        if cell is not None:
            self._claim_cell(*cell)
        if relay:
            self.start_relay_sync()

    def _claim_cell(self, cell: str, execution: int) -> list[Lab]:
        """Record that this Lab was made by run ``execution`` of ``cell``, and close every
        other open Lab made by an earlier run of that cell. Returns the Labs it closed."""
        self._cell = (cell, execution)
        with _labs_lock:
            stale = [
                lab
                for lab in _open_labs
                if lab is not self
                and not lab.closed
                and lab._cell is not None
                and lab._cell[0] == cell
                and lab._cell[1] != execution
            ]
        for lab in stale:
            try:
                lab.close()
            except Exception as exc:  # the new Lab must not fail because an old one did
                warnings.warn(f"could not close {lab!r} of an earlier run: {exc}", stacklevel=3)
        return stale

    @classmethod
    def close_all(cls) -> int:
        """Close every open Lab in this process (on any runtime); returns how many it closed.
        For a notebook that lost track of its Labs (an earlier run, a deleted cell)."""
        with _labs_lock:
            labs = [lab for lab in _open_labs if not lab.closed]
        for lab in labs:
            try:
                lab.close()
            except Exception as exc:  # keep closing the others
                warnings.warn(f"could not close {lab!r}: {exc}", stacklevel=2)
        return len(labs)

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran (or the runtime under it closed)."""
        return self._closed or self.rt.closed

    def _check_open(self, action: str) -> None:
        if self.closed:
            raise GunError(f"{action}: this Lab is closed; make a new Lab()")

    def _peer(self, action: str, p: LabPeer | str) -> LabPeer:
        """``p`` as one of this Lab's peers: a ``LabPeer`` of this Lab, or a peer's name. An
        unknown name is a ``GunError`` listing the known ones."""
        if isinstance(p, str):
            found = self.peers.get(p)
            if found is None:
                known = ", ".join(sorted(self.peers)) or "none yet"
                raise GunError(f"{action}: no peer named {p!r}; known: {known}")
            return found
        if not isinstance(p, LabPeer):
            raise GunError(f"{action}: expected a LabPeer or a peer's name, got {p!r}")
        if p.lab is not self:
            raise GunError(f"{action}: {p.name!r} belongs to another Lab")
        return p

    def _own(self, action: str, *peers: LabPeer | str) -> list[LabPeer]:
        """The Lab is open, and every peer is one of its own (not one of an older Lab), or
        the name of one; returns them as ``LabPeer``s."""
        self._check_open(action)
        return [self._peer(action, p) for p in peers]

    def _pair(
        self, action: str, a: LabPeer | str, b: LabPeer | str
    ) -> tuple[str, LabPeer, LabPeer]:
        """Check a two-peer action (open Lab, own peers or their names, two different peers);
        returns its name for messages (e.g. ``link(alice, bob)``) and the two peers."""
        label = f"{action}({getattr(a, 'name', a)}, {getattr(b, 'name', b)})"
        pa, pb = self._own(label, a, b)
        if pa is pb:
            raise GunError(f"{label}: a peer has no link to itself; give two different peers")
        return label, pa, pb

    def _peer_rows(self) -> list[tuple[str, str, int]]:
        return [
            (p.name, p.pid, sum(1 for m in list(p.gun.mesh.peers.values()) if m.met))
            for p in list(self.peers.values())
        ]

    def __repr__(self) -> str:
        if self.closed:
            return "<Lab closed>"
        relay = self.relay.url if self.relay is not None else "stopped"
        names = ", ".join(self.peers)
        return f"<Lab open relay={relay} peers=[{names}]>"

    def _repr_html_(self) -> str:
        e = html.escape
        if self.closed:
            return "<div><b>Lab</b>: <i>closed</i> (make a new <code>Lab()</code>)</div>"
        relay = f"<code>{e(self.relay.url)}</code>" if self.relay is not None else "<i>stopped</i>"
        rows = "".join(
            f"<tr><td>{e(name)}</td><td><code>{e(pid)}</code></td><td>{n}</td></tr>"
            for name, pid, n in _read(self._peer_rows, [])
        )
        table = (
            "<table><tr><th>peer</th><th>pid</th><th>links</th></tr>" + rows + "</table>"
            if rows
            else "<div>no peers yet</div>"
        )
        return f"<div><b>Lab</b> (open), relay {relay}{table}</div>"

    # ------------------------------------------------------------------ helpers
    def _run(
        self, coro: Coroutine[Any, Any, T], timeout: float = 60.0, what: str | None = None
    ) -> T:
        return self.rt.run(coro, timeout, what=what)

    @property
    def relay(self) -> Relay | None:
        """The Lab's relay while it runs; None once stopped, or with ``Lab(relay=False)``."""
        return self._owned.relay

    @relay.setter
    def relay(self, relay: Relay | None) -> None:
        """Set by the Lab itself when its relay starts or stops (kept in ``_owned`` so a
        collected Lab's finalizer can still stop it)."""
        self._owned.relay = relay

    def name_of(self, pid: str) -> str:
        """The Lab's name for ``pid`` (``'alice'``, ``'relay'``), or the pid if it has none."""
        return self.names.get(pid, pid)

    def _name(self, pid: str, name: str, role: str = "peer") -> None:
        self.names[pid] = name
        # the directory is one of the views' models, which the pump reads and changes
        # under the hub's lock
        with self._hub.lock:
            self.directory.name(pid, name, role)

    def _name_relay(self, relay: Relay) -> None:
        self._name(relay.pid, "relay", "relay")
        with self._hub.lock:
            self.directory.alias(relay.url, relay.pid)  # peers dial its URL: it is this pid

    def rtc_options(self, room: str | None) -> WebRTCOptions:
        """The WebRTC options a Lab peer gets: no STUN/TURN server and host candidates on
        127.0.0.1 only, so links work offline and on Binder; override in a subclass to use
        real networks."""
        return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"])

    # ------------------------------------------------------------------ relay
    async def _start_relay(self) -> Relay:
        relay = Relay(bus=self.bus, store=self._store, allowed_origins=self.allowed_origins)
        await relay.start()
        return relay

    async def start_relay(self) -> Relay:
        """Start the Lab's relay on 127.0.0.1 (a free port) if it is not running; returns it.
        Peers made before keep their links; new peers dial it."""
        self._check_open("start_relay()")
        if self.relay is None:
            self.relay = await self.rt.arun(self._start_relay())
            self._name_relay(self.relay)
        return self.relay

    def start_relay_sync(self) -> Relay:
        """Blocking twin of ``start_relay`` (what ``Lab()`` calls; usable in plain cells)."""
        self._check_open("start_relay_sync()")
        if self.relay is not None:
            return self.relay
        self.relay = self._run(self._start_relay(), what="start_relay_sync()")
        self._name_relay(self.relay)
        return self.relay

    def stop_relay_sync(self) -> None:
        """Fault: the relay goes away (peers linked by WebRTC keep syncing). Blocking twin of
        ``stop_relay``."""
        self._check_open("stop_relay_sync()")
        if self.relay is not None:
            self._run(self.relay.stop(), what="stop_relay_sync()")
            self.relay = None

    async def stop_relay(self) -> None:
        """Fault: the relay goes away (peers linked by WebRTC keep syncing)."""
        self._check_open("stop_relay()")
        if self.relay is not None:
            await self.rt.arun(self.relay.stop())
            self.relay = None

    @property
    def url(self) -> str:
        """The relay's ``ws://127.0.0.1:<port>/gun`` URL (for ``Gun(peers=[...])`` or Gun.js)."""
        self._check_open("url")
        if self.relay is None:
            raise GunError("the Lab's relay is stopped")
        return self.relay.url

    # ------------------------------------------------------------------ peers
    def _new_name(self, action: str, name: str) -> None:
        self._check_open(f"{action}({name!r})")
        if not isinstance(name, str) or not name:
            raise GunError(f"{action}(name={name!r}): expected a non-empty string")
        if name in self.peers:
            raise GunError(f"a peer named {name!r} exists already")

    async def _make(
        self, name: str, peers: list[str], rtc: WebRTCOptions | None, clock_skew: float = 0.0
    ) -> Gun:
        import time

        clock = (lambda: time.time() + clock_skew) if clock_skew else time.time
        gun = Gun(peers, rtc=rtc, bus=self.bus, clock=clock)
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

    async def _reach(self, action: str, url: str, timeout: float = 5.0) -> None:
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

    def peer(
        self,
        name: str,
        *,
        rtc: bool = True,
        room: str | None | bool = True,
        relay_url: str | None = None,
        clock_skew: float = 0.0,
    ) -> LabPeer:
        """A peer on the Lab's relay (or on ``relay_url``); with ``rtc`` it joins ``room``
        (the Lab's room by default; ``room=None``: link it by hand).

        ``clock_skew`` (seconds, + ahead, - behind) makes the peer's machine clock wrong, to
        show HAM for real: a peer running ahead writes states others hold back until their
        clock catches up (deferred); one running behind loses to older writes.

        Blocking, with no awaitable twin: it returns once the peer is connected to its relay,
        which on loopback takes milliseconds. A relay it cannot reach is a ``GunError``
        naming the URL and why (refused, no answer...), and leaves nothing: no peer, no name,
        and for a relay other than the Lab's own, checked before the peer is made, no trace
        events either (so no node in the views)."""
        self._new_name("peer", name)
        _check_skew(clock_skew)
        url = relay_url or (self.relay.url if self.relay is not None else None)
        use_room = self.room if room is True else (None if room is False else room)
        options = self.rtc_options(use_room) if rtc else None
        if url is not None and (self.relay is None or url != self.relay.url):
            self._run(self._reach(f"peer({name!r})", url), what=f"peer({name!r})")
        gun = self._run(
            self._make(name, [url] if url else [], options, clock_skew), what=f"peer({name!r})"
        )
        self._owned.guns.append(gun)
        p = self.peers[name] = LabPeer(self, name, gun)
        p.clock_skew = float(clock_skew)
        self._name(gun.pid, name)
        self._new_peer_view(p)
        return p

    def memory_peer(self, name: str, *, clock_skew: float = 0.0) -> LabPeer:
        """A peer with no relay and no WebRTC: join it to others with ``link_memory``
        (``clock_skew`` as for ``peer``)."""
        self._new_name("memory_peer", name)
        _check_skew(clock_skew)
        gun = self._run(self._make(name, [], None, clock_skew), what=f"memory_peer({name!r})")
        self._owned.guns.append(gun)
        p = self.peers[name] = LabPeer(self, name, gun)
        p.clock_skew = float(clock_skew)
        self._name(gun.pid, name)
        self._new_peer_view(p)
        return p

    def link_memory(
        self,
        a: LabPeer | str,
        b: LabPeer | str,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        loss: float = 0.0,
    ) -> MemoryLink:
        """Join two peers by an in-memory wire, with faults (``latency``/``jitter`` in seconds,
        ``loss`` a share 0..1) you can change later on the returned ``MemoryLink``. Needs no
        relay and no network; a peer can have memory links and WebRTC links at once. Peers
        are ``LabPeer``s or their names (as for every two-peer action)."""
        label, a, b = self._pair("link_memory", a, b)
        wires: list[MemoryWire] = []

        async def go() -> None:
            connect_memory(
                a.gun.mesh,
                b.gun.mesh,
                latency=latency,
                jitter=jitter,
                loss=loss,
                on_wire=lambda x, y: wires.extend([x, y]),
            )

        self._run(go(), what=label)
        return MemoryLink(wires[0], wires[1], lab=self, ends=(a.name, b.name))

    def attach(self, name: str, url: str, *, relay_name: str | None = None) -> LabPeer:
        """A peer connected to an outside Gun relay (e.g. a Gun.js one) by URL. The views
        call that relay ``relay_name`` (default: ``relay <host:port>``) and draw it in the
        middle, as soon as its ``?`` answer tells its pid."""
        from urllib.parse import urlsplit

        where = urlsplit(url).netloc or url
        self._new_name("attach", name)
        self._run(self._reach(f"attach({name!r})", url), what=f"attach({name!r})")
        with self._hub.lock:
            self.directory.name(url, relay_name or f"relay {where}", "external")
        return self.peer(name, rtc=False, relay_url=url)

    # ------------------------------------------------------------------ WebRTC
    def signaling(self, a: LabPeer | str, b: LabPeer | str) -> SignalingSteps:
        """Step-by-step signalling of one link (both peers need ``rtc=True``)."""
        _, a, b = self._pair("signaling", a, b)
        return SignalingSteps(self, a, b)

    async def link(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Link two peers by WebRTC now (offer, answer, wait for the channel)."""
        _, a, b = self._pair("link", a, b)
        await self.rt.arun(self._link(a, b, timeout))

    def link_sync(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Blocking twin of ``link`` (plain cells, scripts): blocks this thread only."""
        label, a, b = self._pair("link_sync", a, b)
        self._run(self._link(a, b, timeout), timeout + 10, what=label)

    async def _link(self, a: LabPeer, b: LabPeer, timeout: float) -> None:
        ra, rb = a.gun.rtc, b.gun.rtc
        if ra is None or rb is None:
            raise GunError("both peers need rtc=True")
        if b.pid not in ra.connected():
            offer = await ra.create_offer(b.pid)
            answer = await rb.accept_offer(a.pid, offer)
            await ra.accept_answer(b.pid, answer)
        await ra.wait_open(b.pid, timeout)
        await rb.wait_open(a.pid, timeout)

    async def wait_linked(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Wait for a link that room discovery is making."""
        _, a, b = self._pair("wait_linked", a, b)
        await self.rt.arun(self._wait_linked(a, b, timeout))

    def wait_linked_sync(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Blocking twin of ``wait_linked`` (plain cells, scripts): blocks this thread only."""
        label, a, b = self._pair("wait_linked_sync", a, b)
        self._run(self._wait_linked(a, b, timeout), timeout + 10, what=label)

    async def _wait_linked(self, a: LabPeer, b: LabPeer, timeout: float) -> None:
        if a.gun.rtc is None or b.gun.rtc is None:
            raise GunError("both peers need rtc=True")
        await a.gun.rtc.wait_open(b.pid, timeout)
        await b.gun.rtc.wait_open(a.pid, timeout)

    def cut(self, a: LabPeer | str, b: LabPeer | str) -> None:
        """Fault: drop the WebRTC link between ``a`` and ``b`` (both ends see it close).
        A ``GunError`` if there is no such link: same peer twice, a peer without WebRTC, or
        peers not linked by WebRTC (a memory link is cut with its ``MemoryLink.cut()``)."""
        label, a, b = self._pair("cut", a, b)
        self._run(self._cut(label, a, b), what=label)

    async def _cut(self, label: str, a: LabPeer, b: LabPeer) -> None:
        ra, rb = a.gun.rtc, b.gun.rtc
        if b.pid not in (ra.links if ra is not None else {}) and a.pid not in (
            rb.links if rb is not None else {}
        ):
            why = (
                f"{a.name if ra is None else b.name} has no WebRTC"
                if ra is None or rb is None
                else "no WebRTC link between them"
            )
            memory = any(
                p.transport == "memory" and p.pid == b.pid for p in a.gun.mesh.peers.values()
            )
            hint = "; they are linked in memory: use that link's MemoryLink.cut()" if memory else ""
            raise GunError(f"{label}: nothing to cut, {why}{hint}")
        if ra is not None and b.pid in ra.links:
            await ra.drop(b.pid, "cut by the Lab")
        elif rb is not None:
            await rb.drop(a.pid, "cut by the Lab")

    # ------------------------------------------------------------------ views
    @property
    def hub(self) -> ViewHub:
        """The models every view of this Lab reads (fed by the Lab's trace bus)."""
        return self._hub

    def _view(self, key: str, make: Any) -> Any:
        # a closed Lab's views are closed widgets: nothing to show or to read from
        self._check_open(f"the {key.split(':')[0]} view")
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = self._keep(make())
        return view

    def _keep(self, widget: T) -> T:
        """Record a widget this Lab made, to close it with the Lab (``close()``)."""
        self._owned.widgets.append(widget)
        return widget

    def mesh_view(self) -> MeshView:
        """The Lab's live mesh (one per Lab: displaying it again shows the same view)."""
        from gunrtc_kit.lab.views.mesh_view import MeshView

        return self._view("mesh", lambda: MeshView(self._hub))  # type: ignore[no-any-return]

    def flow_view(self, *, group: bool = False, **filters: Any) -> FlowView:
        """The Lab's live message flow. Without arguments: the one flow of the dashboard
        (``show()``), the same view each time. With filters (``peer``, ``kind``, ``soul``,
        ``transport``, ``hide_signaling``, ``pair``) or ``group=True`` (group repeats): a new
        view of its own, so a cell's output keeps the filters that cell asked for whatever
        later cells show. ``peer`` and ``pair`` take peers or their names (an unknown name
        raises ``GunError``); ``soul`` is exact, or a prefix ending in ``*`` (``"chat/*"``)."""
        from gunrtc_kit.lab.views.flow_view import FlowView

        if not filters and not group:
            return self._view("flow", lambda: FlowView(self._hub))  # type: ignore[no-any-return]
        if "peer" in filters and filters["peer"]:
            filters["peer"] = self._peer_pid(filters["peer"], "flow_view(peer=...)")
        if "pair" in filters and filters["pair"]:
            pair = list(filters["pair"])
            if len(pair) != 2:
                raise GunError(f"flow_view(pair={filters['pair']!r}): expected two peers")
            filters["pair"] = [self._peer_pid(x, "flow_view(pair=...)") for x in pair]
        return FlowView(self._hub, group=group, **filters)

    def _peer_pid(self, who: Any, action: str) -> str:
        """The pid of ``who`` (a LabPeer, a name or a pid this Lab's trace knows); a name
        that matches no peer raises instead of quietly matching nothing."""
        if isinstance(who, LabPeer):
            return who.pid
        with self._hub.lock:
            names = {**self.directory.names, **self.names}
        if who in names:
            return str(who)
        pid = next((p for p, n in names.items() if n == who), None)
        if pid is None:
            known = ", ".join(sorted(set(names.values()))) or "none yet"
            raise GunError(f"{action}: no peer is named {who!r}; known peers: {known}")
        return pid

    def signaling_view(
        self, a: LabPeer | str | None = None, b: LabPeer | str | None = None
    ) -> SignalingView:
        """The Lab's WebRTC signalling timeline; with two peers, showing only their link."""
        from gunrtc_kit.lab.views.signaling_view import SignalingView

        view: SignalingView = self._view("signaling", lambda: SignalingView(self._hub))
        if a is not None and b is not None:
            a, b = self._own("signaling_view", a, b)
            with self._hub.lock:
                view.show_link(a.pid, b.pid)
        return view

    def peer_view(self, p: LabPeer | str, *, live: bool = False) -> PeerView:
        """One peer's counters, links and data (from the trace; works on replays too).

        Frozen by default: a new view of what the peer is now, which later traffic does not
        change (an output under a cell tells what was true when that cell ran); tick "live"
        in it, or set ``view.live = True``, to follow the peer. ``live=True`` gives the
        Lab's one live view of the peer (the dashboard's tab): showing it again reuses it.
        ``p`` is a ``LabPeer`` or its name."""
        from gunrtc_kit.lab.views.peer_view import PeerView

        (p,) = self._own("peer_view", p)
        # a weak hold of the Lab: a view in ipywidgets' registry must not keep it alive
        lab, name = weakref.ref(self), p.name

        def explainer(soul: str, key: str) -> Any:
            found = lab()
            if found is None:
                raise GunError(f"peer {name}: its Lab is gone")
            return found.explain(name, soul, key)

        def make() -> PeerView:
            return PeerView(self._hub, p.pid, name=p.name, explainer=explainer, live=live)

        if live:
            return self._view(f"peer:{p.name}", make)  # type: ignore[no-any-return]
        self._hub.refresh()  # every event so far applied: the snapshot is of now
        return self._keep(make())

    def compact(self) -> MeshView:
        """A small mesh view to display again next to the cell you are working in (the same
        models: it costs one more front end, not more work)."""
        from gunrtc_kit.lab.views.mesh_view import MeshView

        return self._view(  # type: ignore[no-any-return]
            "compact", lambda: MeshView(self._hub, height=240, title="Mesh (compact)")
        )

    def show(self) -> Dashboard:
        """Mesh and flow side by side, then tabs: signalling and one per peer (live). Clicking
        a peer opens its tab; clicking a link filters the flow to it. Showing it again reuses
        the same views (nothing leaks); peers made later get their tab too.

        In IPython it displays the dashboard itself, wherever the call sits in its cell (a
        pasted snippet with ``show()`` before other lines still shows it); as the cell's
        last line the returned dashboard is not displayed a second time. Returns the
        ``Dashboard`` (its ``mesh``, ``flow``, ``tabs``...). A closed Lab raises
        ``GunError``: its dashboard would only be a picture of nothing running."""
        from gunrtc_kit.lab.views.dashboard import Dashboard

        self._check_open("show()")
        board: Dashboard = self._view(
            "dashboard",
            lambda: Dashboard(self.mesh_view(), self.flow_view(), self.signaling_view()),
        )
        for p in list(self.peers.values()):
            view = self.peer_view(p, live=True)
            with self._hub.lock:
                board.add_peer(p.pid, view)
        if _ipython_shell() is not None:
            board.shown_by_show()
        return board

    def _new_peer_view(self, p: LabPeer) -> None:
        board = self.views.get("dashboard")
        if board is not None:
            view = self.peer_view(p, live=True)
            with self._hub.lock:
                board.add_peer(p.pid, view)

    def refresh(self) -> None:
        """Apply every event so far to the views' models and send the changes now (tests and
        headless runs; live views update by themselves every 40 ms). Waits for a round of
        the view pump in progress rather than running beside it (one lock, see ``hub.py``)."""
        self._hub.refresh()

    def pause(self) -> None:
        """Freeze every view at this instant (the peers go on; the views catch up on
        ``resume``)."""
        self._hub.pause()

    def resume(self) -> None:
        """Let the views move again, catching up with what happened meanwhile."""
        self._hub.resume()

    def fate(self, msg: Any) -> Fate:
        """What became of a message: every copy said, heard, relayed, dropped by dedup or lost
        on a wire, and the answers to it. ``msg`` is its id (what ``put`` returns), or a
        message dict with ``#``."""
        mid = msg.get("#") if isinstance(msg, dict) else getattr(msg, "id", msg)
        if not isinstance(mid, str) or not mid:
            raise GunError(f"fate({msg!r}): expected a message id or a message with '#'")
        self._hub.refresh()
        try:
            with self._hub.lock:
                return self._hub.fate.fate(mid)
        except KeyError:
            raise GunError(f"fate({mid!r}): no such message in this Lab's trace") from None

    # ``explain`` returns this (imported here: names the annotation without a module import)
    from gunrtc_kit.diagnose.explain import Explanation as _Explanation

    def explain(self, peer: LabPeer | str, path: str, key: str | None = None) -> _Explanation:
        """Why ``peer`` holds what it holds at ``soul.key``: every write of that field it saw
        (value, HAM state, the peer and wire it came from, when it arrived) and HAM's verdict
        on each (newer state, Gun's lexical rule at equal states, a future state deferred
        until its time, an older state ignored), read from the Lab's trace and its graph.

        ``path`` is ``"soul.key"`` split at the *last* dot (``"a/b.c"``: soul ``a/b``, key
        ``c``), or the soul alone with ``key`` given apart (for a key with a dot in it). It
        names a field of the graph, not a chain path. ``peer`` is a ``LabPeer`` or its name;
        an unknown name is a ``GunError`` listing the known ones. A field never written gets
        an answer saying so; a trace that dropped its oldest events (over ``keep``) says so.
        """
        from gunrtc_kit.diagnose.explain import explain, split_field

        (p,) = self._own(f"explain({getattr(peer, 'name', peer)!r}, {path!r})", peer)
        if key is None:
            try:
                soul, key = split_field(path)
            except ValueError as exc:
                raise GunError(f"explain({p.name!r}, ...): {exc}") from None
        elif not isinstance(path, str) or not path or not isinstance(key, str) or not key:
            raise GunError(f"explain({p.name!r}, {path!r}, {key!r}): give a soul and a key")
        else:
            soul = path

        def read() -> tuple[list[trace.Event], dict[str, Any], bool]:
            node = p.gun.graph.nodes.get(soul)
            events = list(self.bus.history)
            return events, json.loads(json.dumps(node or {})), len(events) >= self.bus.keep

        # one read on the runtime thread: the history and the graph agree with each other
        events, node, dropped = self.rt.call(read, what=f"explain({p.name!r}, {path!r})")
        with self._hub.lock:
            directory = Directory.from_meta(self.directory.meta())
        return explain(events, p.pid, soul, key, node, directory, name=p.name, truncated=dropped)

    # ``sea`` returns this (a name for the annotation only: no widget module is imported)
    if TYPE_CHECKING:
        from gunrtc_kit.lab.views.sea_view import SeaView as _SeaView

    def sea(
        self, peer: LabPeer | str, who: Any, timeout: float = 5.0, *, live: bool = False
    ) -> _SeaView:
        """The SEA inspector: every field of a user's space as ``peer`` holds it, each with its
        verdict (``valid``, ``valid-cert``, ``invalid``, ``unsigned``) and the key that signed
        it, and the steps of the last ``auth`` on ``peer`` (``gunrtc_kit.diagnose.sea``).

        ``who`` is a user (``peer.user`` or ``peer.gun.user()``, logged in), a public key
        (``"x.y"`` or ``"~x.y"``) or an alias (``"alice"`` or ``"~@alice"``; the first
        account it lists, the peer's own user's if it is one of them). What ``peer`` lacks of
        the alias or the account is asked of its peers first (each read bounded by
        ``timeout``). ``peer`` is a ``LabPeer`` or its name.

        Frozen by default: each call reads now and makes a new view that keeps what it read
        (a wrong password's failed login stays failed under its cell after a later cell logs
        in); call it again for a new snapshot, or tick "live" in it. ``live=True`` gives the
        one live view per peer and user (showing it again reuses it): it reads the peer's
        graph again when the peer's traffic shows a change, on ``refresh()`` and on its
        button."""
        import re

        from gunrtc_kit.lab.users import LabUser
        from gunrtc_kit.lab.views.sea_view import SeaView
        from gunrtc_kit.sea.check import unpack
        from gunrtc_kit.user import User

        (peer,) = self._own("sea", peer)
        if isinstance(who, LabUser):
            who = who.peer.gun.user()
        gun = peer.gun
        label = f"sea({peer.name!r}, {who!r:.40})"
        user: User | None = who if isinstance(who, User) else None
        if user is not None:
            if user.pub is None:
                raise GunError(f"{label}: that user is not logged in; give its pub or alias")
            pub = user.pub
        elif isinstance(who, str) and who.strip("~@"):
            text = who.removeprefix("~")
            if re.fullmatch(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}", text):
                pub = text
            else:
                alias = text.removeprefix("@")

                async def accounts() -> list[str]:
                    soul = "~@" + alias
                    if not gun.graph.nodes.get(soul):
                        await gun.fetch({"#": soul}, timeout)
                    node = gun.graph.nodes.get(soul) or {}
                    links = [
                        v.get("#") for k, v in node.items() if k != "_" and isinstance(v, dict)
                    ]
                    return [s[1:] for s in links if isinstance(s, str) and s.startswith("~")]

                found = self.rt.run(accounts(), timeout + 5, what=label)
                if not found:
                    raise GunError(f"{label}: {peer.name} knows no account of {alias!r}")
                mine = self.rt.call(lambda: gun.user().pub, what=label)
                pub = mine if mine in found else found[0]
        else:
            raise GunError(f"{label}: expected a User, a public key or an alias")

        async def fetch_space() -> None:
            # what the peer lacks of the space: ~pub, then the souls its links name (bounded)
            loop = asyncio.get_running_loop()
            deadline, todo = loop.time() + timeout, ["~" + pub]
            seen: set[str] = set()
            while todo and len(seen) < 50 and loop.time() < deadline:
                soul = todo.pop(0)
                seen.add(soul)
                if soul not in gun.graph.nodes:
                    await gun.fetch({"#": soul}, max(deadline - loop.time(), 0.05))
                for k, v in (gun.graph.nodes.get(soul) or {}).items():
                    link = unpack(v) if k != "_" else None
                    target = link.get("#") if isinstance(link, dict) and len(link) == 1 else None
                    if isinstance(target, str) and target.startswith("~" + pub):
                        if target not in seen and target not in todo:
                            todo.append(target)

        self.rt.run(fetch_space(), timeout + 5, what=label)

        def read() -> tuple[dict[str, Any], list[Any]]:
            nodes = {s: n for s, n in gun.graph.nodes.items() if "~" in s}
            steps = list((user or gun.user()).last_auth)
            return json.loads(json.dumps(nodes)), steps

        rt = self.rt  # not ``self``: a view in ipywidgets' registry must not hold the Lab

        def source() -> tuple[dict[str, Any], list[Any]]:
            return rt.call(read, timeout=10, what=label)

        def make() -> SeaView:
            return SeaView(self._hub, pub, source, pid=peer.pid, name=peer.name, live=live)

        if live:
            return self._view(f"sea:{peer.name}:{pub}", make)  # type: ignore[no-any-return]
        return self._keep(make())

    def messages(self, *, kind: str = "", soul: str = "", by: LabPeer | str = "") -> list[str]:
        """Ids of the messages seen so far, oldest first: of a ``kind`` (``"get"``,
        ``"put"``, ``"reply"``...; a prefix), naming a ``soul`` (exactly: ``"chat/m49"`` is
        not ``"chat/m490"``; a prefix when it ends in ``*``: ``"chat/*"``), said first by
        peer ``by`` (a peer, its name or pid; a name no peer has raises ``GunError``, not an
        empty list). For ``fate()`` of a message a call did not hand you (a ``get_sync``)."""
        from gunrtc_kit.lab.views.flow_view import soul_test

        self._hub.refresh()
        pid = self._peer_pid(by, "messages(by=...)") if by else ""
        test = soul_test(soul)
        with self._hub.lock:
            return [
                m.mid
                for m in self._hub.fate.msgs.values()
                if (not kind or m.kind.startswith(kind))
                and (test is None or any(test(s) for s in m.souls))
                and (not pid or m.origin == pid)
            ]

    # ------------------------------------------------------------------ traces
    def save_trace(self, path: str | Path, *, compress: bool | None = None) -> Path:
        """Save what the Lab's bus kept (``keep`` events) with the peers' names, as JSONL
        (gzip when the path ends in ``.gz``, or when it is over 1 MiB: then ``.gz`` is added).
        Returns the path written; ``Lab.open_trace`` shows it again."""
        with self._hub.lock:
            meta = {**self.directory.meta(), "saved_by": "gunrtc_kit.lab.Lab"}
        return trace.save(path, list(self.bus.history), meta=meta, compress=compress)

    @staticmethod
    def load_trace(path: str | Path) -> list[trace.Event]:
        """The events of a saved trace (see ``open_trace`` to look at them)."""
        return trace.load(path).events

    @staticmethod
    def open_trace(path: str | Path) -> Replay:
        """A saved trace as views with a time slider (``replay.show()``)."""
        from gunrtc_kit.lab.views.replay import Replay

        return Replay.open(path)

    # ------------------------------------------------------------------ doctor
    def doctor(
        self, heal: bool = False, *, souls: Iterable[str] | None = None, max_wait: float = 10.0
    ) -> Report:
        """Where the peers (the relay too) disagree about the graph, each soul/key with the
        reason the trace gives (a partition or cut link, a lost frame, a deferred future state,
        a peer that never asked or did not ask again after reconnecting, an ``err`` ack, a put
        never acked) and the action that would heal it. ``heal=True`` does the safe ones
        (re-get, heal a memory link, wait up to ``max_wait`` s for a deferred state) and
        shows before and after. ``bool(report)`` is True when all agree."""
        self._check_open("doctor()")
        from gunrtc_kit.lab.doctor import lab_doctor

        return lab_doctor(self, heal, souls=souls, max_wait=max_wait)

    def converged(self, *, souls: Iterable[str] | None = None) -> bool | Report:
        """True when every peer holds the same graph (for ``souls``, default all), else the
        doctor's report saying where and why: a one-line convergence check for a cell or a
        test (``assert lab.converged()`` shows the report when it fails)."""
        report = self.doctor(souls=souls)
        return True if report else report

    # ------------------------------------------------------------------ end
    async def _aclose(self) -> None:
        """Close the peers and the relay (on the runtime thread: ``close()`` hands it there,
        and the runtime calls it when it closes)."""
        self._closed = True
        await self._owned.aclose()

    def close(self) -> None:
        """Stop every peer and the relay (the runtime thread stays for the next Lab); also
        done for you when the runtime closes at exit, or when the Lab is collected. Closing
        twice is harmless. The closing runs on the runtime thread; an error it raised (or a
        wait that ran out) is raised here once the views have been closed all the same, and
        what is left open is closed with the runtime (or when the Lab is collected).

        Every widget the Lab made is closed too (views, frozen snapshots, the dashboard, with
        their layouts: nothing stays in ipywidgets' registry), after its views were told
        ``closed`` and its outputs on the page were replaced by a note that the Lab is closed
        (the ones displayed with a display id: the dashboard, peer and SEA views)."""
        if self.rt.in_runtime:
            raise GunError(
                "Lab.close(): a blocking call was made on the runtime thread; call it from "
                "another thread (a cell), it hands the closing to the runtime"
            )
        with _labs_lock:
            _open_labs.discard(self)
        try:
            if not self.rt.closed and not self._owned.closed:
                self._run(self._aclose(), what="Lab.close()")
            # closed: neither the runtime nor a finalizer has anything left to close
            self._forget_closer()
            self._finalizer.detach()
        finally:
            self._closed = True
            self.peers.clear()
            self.relay = None
            self._hub.refresh()
            self._hub.close()
            self._owned.close_widgets()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
