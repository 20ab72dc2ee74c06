"""``Lab``: a relay and named peers for one notebook, and the views that watch them.

Every peer, the relay and every link live on the Lab's runtime loop (see ``runtime.py``).
Convention for the two call styles (the README's rule): a call that waits on the network or
on time is a coroutine method (``await lab.link(a, b)``) whose blocking twin has the same name
plus ``_sync`` (``lab.link_sync(a, b)``), the same parameters and defaults, and waits the
call's own timeout plus ``runtime.SLACK``; calls that only start something or read what is
already here (``peer``, ``cut``, ``put``, ``say``, ``doctor``) are plain methods usable
either way (``tests/unit/test_twins.py`` checks the names).
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

Where the parts are (this file keeps the Lab itself: making peers and links, the relay,
closing; none of the parts imports it back, ``tests/unit/test_layering.py``): ``peers.py``
(``LabPeer``, ``Read``, ``NoValueWarning``, making a peer's root), ``links.py``
(``MemoryLink``, ``SignalingSteps``, WebRTC link/wait/cut), ``paths.py`` (``KeyPath``),
``cells.py`` (which cell made a Lab, the register of open Labs), ``lifecycle.py`` (what a Lab
owns, its finalizer), ``labviews.py`` (the views, ``LabViews``), ``inquiry.py`` (fate,
explain, sea, messages, traces, doctor: ``LabInquiry``), ``viewcache.py`` (one view per key,
shared with ``Replay``), ``users.py`` (``peer.user`` and the crawl of a user's space).
"""

from __future__ import annotations

import html
import sys
import weakref
from collections.abc import Coroutine, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from gunrtc_kit import trace
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import cells
from gunrtc_kit.lab.browser import BrowserTab, TabNamer, serve_tab
from gunrtc_kit.lab.cells import OpenLabs
from gunrtc_kit.lab.cells import _ipython_shell as _ipython_shell
from gunrtc_kit.lab.cells import _is_cell_file as _is_cell_file
from gunrtc_kit.lab.clock import LabClock, seeded
from gunrtc_kit.lab.gunjs_client import GunJsClient
from gunrtc_kit.lab.inquiry import LabInquiry
from gunrtc_kit.lab.labviews import LabViews
from gunrtc_kit.lab.lifecycle import _finish_release as _finish_release
from gunrtc_kit.lab.lifecycle import _Owned, _release
from gunrtc_kit.lab.lifecycle import _release_on_runtime as _release_on_runtime
from gunrtc_kit.lab.lifecycle import _releasing as _releasing
from gunrtc_kit.lab.lifecycle import log as log
from gunrtc_kit.lab.links import (
    MemoryLink,
    SignalingSteps,
    Wiring,
    cut_rtc,
    link_rtc,
    memory_link,
    wait_rtc,
)
from gunrtc_kit.lab.paths import KeyPath as KeyPath
from gunrtc_kit.lab.paths import _chain as _chain
from gunrtc_kit.lab.paths import _keys as _keys
from gunrtc_kit.lab.paths import _path as _path
from gunrtc_kit.lab.peers import (
    LabPeer,
    NoValueWarning,
    Read,
    _check_skew,
    _Peers,
    _read,
    make_gun,
    reach,
)
from gunrtc_kit.lab.relaying import LabRelay
from gunrtc_kit.lab.runtime import SLACK, Runtime, get_runtime
from gunrtc_kit.lab.steps import LabSteps
from gunrtc_kit.lab.tapping import LabTap, start_tap
from gunrtc_kit.lab.viewcache import ViewCache
from gunrtc_kit.lab.views.hub import ViewHub
from gunrtc_kit.relay import Relay
from gunrtc_kit.root import Gun
from gunrtc_kit.webrtc.options import WebRTCOptions

if TYPE_CHECKING:
    from gunrtc_kit.diagnose.linkreport import LinkReport
    from gunrtc_kit.lab.views.dashboard import Dashboard

__all__ = ["Lab", "LabPeer", "MemoryLink", "NoValueWarning", "Read", "SignalingSteps"]

T = TypeVar("T")


def _cell_identity(shell: Any = None, frame: FrameType | None = None) -> tuple[str, int] | None:
    """``cells._cell_identity`` asked with this module's ``_ipython_shell``: the hook tests
    replace (``monkeypatch.setattr(gunrtc_kit.lab.lab, "_ipython_shell", ...)``)."""
    shell = _ipython_shell() if shell is None else shell
    if shell is None:
        return None
    return cells._cell_identity(shell, frame if frame is not None else sys._getframe(1))


_labs: OpenLabs[Lab] = OpenLabs()
# the register's lock and set, by the names they had before ``cells.py``
_labs_lock = _labs.lock
_open_labs = _labs.labs


class Lab(LabInquiry, LabViews, LabSteps, LabRelay):
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

    ``Lab(relay="memory")`` makes the relay a memory peer (named ``relay``) that ``peer()``
    joins by memory wires, so step mode (``hold()``) holds every frame. ``Lab(seed=N)``
    makes the Lab repeatable: the same cells give the same trace, event for event (see
    ``steps.py``: what is seeded, and the ``LabClock`` memory peers read).
    """

    def __init__(
        self,
        *,
        relay: bool | str = True,
        room: str | None = "lab",
        runtime: Runtime | None = None,
        store: str | None = None,
        keep: int = 50_000,
        allowed_origins: Iterable[str] | None = (),
        seed: int | str | None = None,
    ) -> None:
        if relay not in (True, False, "memory"):
            raise GunError(f"relay={relay!r}: expected True, False or 'memory'")
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
        self._owned = _Owned()
        # the cache records each view it makes with ``_owned`` (not the Lab: no cycle)
        self.views = ViewCache(self._owned.keep)
        self._store = store
        self._tabs: TabNamer | None = None  # made by the first browser()
        self.seed = seed
        #: the wall clock of memory peers in a seeded Lab (None: the machine's)
        self.clock: LabClock | None = LabClock() if seed is not None else None
        self._wiring = Wiring(seed)  # the memory wires, their hold (step mode), their tags
        self._memory_relay: LabPeer | None = None
        #: what this Lab is a fork of (``fork``), None for a Lab made from scratch
        self.forked_from: str | None = None
        self._closed = False
        self._cell: tuple[str, int] | None = None
        self._forget_closer = self.rt.on_close(self._aclose)
        self._finalizer = weakref.finalize(
            self, _release, self.rt, self._owned, self._hub, self._forget_closer
        )
        # at exit the runtime's own close() closes what is still open
        self._finalizer.atexit = False
        _labs.add(self)
        try:
            cell = _cell_identity()
        except Exception:  # an unusual shell: make the Lab, just without the re-run rule
            cell = None
        if cell is not None:
            self._claim_cell(*cell)
        if relay == "memory":
            self._memory_relay = self._memory_gun("relay", 0.0, role="relay")
        elif relay:
            self.start_relay_sync()

    def _claim_cell(self, cell: str, execution: int) -> list[Lab]:
        """Record that this Lab was made by run ``execution`` of ``cell``, and close every
        other open Lab made by an earlier run of that cell. Returns the Labs it closed."""
        return _labs.claim(self, cell, execution)

    @classmethod
    def close_all(cls) -> int:
        """Close every open Lab in this process (on any runtime); returns how many it closed.
        For a notebook that lost track of its Labs (an earlier run, a deleted cell)."""
        return _labs.close_all()

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran (or the runtime under it closed)."""
        return self._closed or self.rt.closed

    def _check_open(self, action: str) -> None:
        if self.closed:
            raise GunError(f"{action}: this Lab is closed; make a new Lab()")
        if self.clock is not None:
            self.clock.tick()  # each action from a cell moves a seeded Lab's clock on 1 ms

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
        peer_rows: list[tuple[str, str, int]] = _read(self.rt, self._peer_rows, [])
        rows = "".join(
            f"<tr><td>{e(name)}</td><td><code>{e(pid)}</code></td><td>{n}</td></tr>"
            for name, pid, n in peer_rows
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
        return self.rt.run_sync(coro, timeout, what=what)

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

    def _traces(self, entity: str) -> bool:
        """Whether ``entity`` is this Lab's relay or one of its peers (they trace themselves)."""
        relay = self.relay
        return (relay is not None and entity == relay.pid) or self.names.get(entity) in self.peers

    def _name(self, pid: str, name: str, role: str = "peer") -> None:
        self.names[pid] = name
        # the directory is one of the views' models, which the pump reads and changes
        # under the hub's lock
        with self._hub.lock:
            self.directory.name(pid, name, role)

    def _describe(self, pid: str, agent: str) -> None:
        """Show what ``pid`` runs (a browser tab's user agent) in the views."""
        with self._hub.lock:
            self.directory.describe(pid, agent)

    def _name_relay(self, relay: Relay) -> None:
        self._name(relay.pid, "relay", "relay")
        with self._hub.lock:
            self.directory.alias(relay.url, relay.pid)  # peers dial its URL: it is this pid

    def rtc_options(self, room: str | None) -> WebRTCOptions:
        """The WebRTC options a Lab peer gets: no STUN/TURN server and host candidates on
        127.0.0.1 only, so links work offline and on Binder; override in a subclass to use
        real networks."""
        return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"])

    # ------------------------------------------------------------------ peers
    def _new_name(self, action: str, name: str) -> None:
        self._check_open(f"{action}({name!r})")
        if not isinstance(name, str) or not name:
            raise GunError(f"{action}(name={name!r}): expected a non-empty string")
        if name in self.peers or (self._tabs is not None and self._tabs.named(name)):
            raise GunError(f"a peer named {name!r} exists already")

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
        if self._memory_relay is not None and relay_url is None:
            use = self.room if room is True else (None if room is False else room)
            p = self._memory_gun(name, clock_skew)
            self.link_memory(self._memory_relay, p)
            if rtc:  # once linked: its room announcement goes over the memory wire
                self._run(p.gun.start_rtc(self.rtc_options(use)), what=f"peer({name!r})")
            return p
        url = relay_url or (self.relay.url if self.relay is not None else None)
        use_room = self.room if room is True else (None if room is False else room)
        options = self.rtc_options(use_room) if rtc else None
        if url is not None and (self.relay is None or url != self.relay.url):
            self._run(reach(f"peer({name!r})", url), what=f"peer({name!r})")
        gun = self._run(
            make_gun(self.bus, name, [url] if url else [], options, clock_skew),
            what=f"peer({name!r})",
        )
        return self._add_peer(name, gun, clock_skew)

    def memory_peer(self, name: str, *, clock_skew: float = 0.0) -> LabPeer:
        """A peer with no relay and no WebRTC: join it to others with ``link_memory``
        (``clock_skew`` as for ``peer``)."""
        self._new_name("memory_peer", name)
        _check_skew(clock_skew)
        return self._memory_gun(name, clock_skew)

    def _memory_gun(
        self,
        name: str,
        skew: float,
        *,
        rtc: WebRTCOptions | None = None,
        role: str = "peer",
        pid: str | None = None,
    ) -> LabPeer:
        """A peer with no relay: in a seeded Lab it reads the Lab's clock and draws its pid
        and ids from a generator seeded by its name; the memory relay acks as a relay does;
        a fork gives each peer the pid it had in the trace."""
        relay: dict[str, Any] = {"super_peer": True, "acks": True} if role == "relay" else {}
        if pid is not None:
            relay["pid"] = pid
        gun = self._run(
            make_gun(
                self.bus, name, [], rtc, skew, wall=self.clock, rng=seeded(self.seed, name), **relay
            ),
            what=f"memory_peer({name!r})",
        )
        if self.clock is not None:  # when the Lab's clock jumps, held-back keys may be due
            self.clock.on_advance.append(lambda: self.rt.call(gun.clock_moved, what="advance"))
        return self._add_peer(name, gun, skew, role)

    def _add_peer(self, name: str, gun: Gun, clock_skew: float, role: str = "peer") -> LabPeer:
        """Keep a started peer: closed with the Lab, named in the views, given its tab."""
        self._owned.guns.append(gun)
        p = self.peers[name] = LabPeer(self, name, gun)
        p.clock_skew = float(clock_skew)
        self._name(gun.pid, name, role)
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
        link = memory_link(self, label, a, b, latency, jitter, loss, wiring=self._wiring)
        self._settle(label)
        return link

    def attach(self, name: str, url: str, *, relay_name: str | None = None) -> LabPeer:
        """A peer connected to an outside Gun relay (e.g. a Gun.js one) by URL. The views
        call that relay ``relay_name`` (default: ``relay <host:port>``) and draw it in the
        middle, as soon as its ``?`` answer tells its pid."""
        from urllib.parse import urlsplit

        where = urlsplit(url).netloc or url
        self._new_name("attach", name)
        self._run(reach(f"attach({name!r})", url), what=f"attach({name!r})")
        with self._hub.lock:
            self.directory.name(url, relay_name or f"relay {where}", "external")
        return self.peer(name, rtc=False, relay_url=url)

    def tap(self, target: Any, *, listen: str = "127.0.0.1:0", name: str | None = None) -> LabTap:
        """A tap (``gunrtc_kit.tap``) in front of the relay at ``target`` (a URL, a
        ``GunJsRelay``, the Lab's own relay), listening on ``listen``: the app's clients dial
        the returned tap's ``url`` instead, every frame passes unchanged, and the clients and
        the relay show in every view (clients by pid, role ``tapped``; the relay as ``name``,
        default ``relay <host:port>``). Closed with the Lab, or by ``LabTap.close()``. See
        ``gunrtc_kit.lab.tapping`` for what reaches the views and why."""
        self._check_open("tap()")
        return start_tap(self, target, listen, name, self._owned.taps)

    def gunjs_client(self, name: str, url: str) -> GunJsClient:
        """A real npm Gun.js client in Node (``GunJsClient``) dialling ``url`` (a relay, or a
        tap's ``url``), named ``name`` in the views and stopped with the Lab."""
        self._new_name("gunjs_client", name)
        client = GunJsClient(url, name=name).start()
        self._owned.processes.append(client)
        tapped = any(t.url == url for t in self._owned.taps)
        self._name(client.pid, name, "tapped" if tapped else "external")
        return client

    def browser(
        self,
        name: str = "tab",
        *,
        soul: str = "chat",
        rtc: bool = True,
        peer_url: str | None = None,
    ) -> BrowserTab:
        """A page the Lab's relay serves on its own port (``/lab/browser/<token>/``) whose
        browser tab joins the mesh over a WebSocket: open the returned tab's ``url`` (a cell
        shows it as a link). The views name the tab's peer ``name``, with the role
        ``browser``, once it said ``?`` to the relay. The page shows the tab's pid, its links
        and soul ``soul``'s data live, with a box that puts; its Gun is ``window.gun``. It
        loads npm gun from ``interop/node_modules/gun`` (a ``GunError`` says what to run when
        it is missing). With ``peer_url`` (a ``ws://`` URL: another relay, or a tap in front
        of one) the page still comes from the Lab's relay but its Gun dials that instead; it is
        then named by the pid its first report gives. See ``gunrtc_kit.lab.browser``."""
        self._new_name("browser", name)
        self._tabs, tab = serve_tab(self, self._tabs, name, soul, rtc, peer_url)
        return tab

    # ------------------------------------------------------------------ WebRTC
    def link_report(self, a: Any, b: Any) -> LinkReport:
        """What the WebRTC link between ``a`` and ``b`` (peers, tabs, their names or pids)
        looks like and, if it failed, why (``gunrtc_kit.lab.linkreport``)."""
        from gunrtc_kit.lab.linkreport import link_report

        return link_report(self, a, b)

    def signaling(self, a: LabPeer | str, b: LabPeer | str) -> SignalingSteps:
        """Step-by-step signalling of one link (both peers need ``rtc=True``)."""
        _, a, b = self._pair("signaling", a, b)
        return SignalingSteps(self, a, b)

    async def link(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Link two peers by WebRTC now (offer, answer, wait for the channel)."""
        label, a, b = self._pair("link", a, b)
        await self.rt.run(link_rtc(a, b, timeout), timeout + SLACK, what=label)

    def link_sync(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Blocking twin of ``link`` (plain cells, scripts): blocks this thread only."""
        label, a, b = self._pair("link_sync", a, b)
        self._run(link_rtc(a, b, timeout), timeout + SLACK, what=label)

    async def wait_linked(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Wait for a link that room discovery is making."""
        label, a, b = self._pair("wait_linked", a, b)
        await self.rt.run(wait_rtc(a, b, timeout), timeout + SLACK, what=label)

    def wait_linked_sync(self, a: LabPeer | str, b: LabPeer | str, timeout: float = 20.0) -> None:
        """Blocking twin of ``wait_linked`` (plain cells, scripts): blocks this thread only."""
        label, a, b = self._pair("wait_linked_sync", a, b)
        self._run(wait_rtc(a, b, timeout), timeout + SLACK, what=label)

    def cut(self, a: LabPeer | str, b: LabPeer | str) -> None:
        """Fault: drop the WebRTC link between ``a`` and ``b`` (both ends see it close).
        A ``GunError`` if there is no such link: same peer twice, a peer without WebRTC, or
        peers not linked by WebRTC (a memory link is cut with its ``MemoryLink.cut()``)."""
        label, a, b = self._pair("cut", a, b)
        self._run(cut_rtc(label, a, b), what=label)

    # ------------------------------------------------------------------ views
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
            lambda: Dashboard(
                self.mesh_view(), self.flow_view(), self.signaling_view(), links=self.link_view()
            ),
        )
        for p in list(self.peers.values()):
            view = self.peer_view(p, live=True)
            with self._hub.lock:
                board.add_peer(p.pid, view)
        if _ipython_shell() is not None:
            board.shown_by_show()
        return board

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
        _labs.discard(self)
        try:
            if not self.rt.closed and not self._owned.closed:
                self._run(self._aclose(), what="Lab.close()")
            # closed: neither the runtime nor a finalizer has anything left to close
            self._forget_closer()
            self._finalizer.detach()
        finally:
            self._closed = True
            if self._tabs is not None:
                self._tabs.close()
            self.peers.clear()
            self.relay = None
            self._hub.refresh()
            self._hub.close()
            self._owned.close_widgets()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
