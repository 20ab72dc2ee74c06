"""``lab.tap(target)``: a tap (``gunrtc_kit.tap``) in front of a relay, live in the Lab's views.

    tap = lab.tap(relay.url)         # or lab.tap(gunjs_relay), lab.tap("ws://host:8765/gun")
    # point the app's clients at tap.url instead of the relay

The tap runs on the Lab's runtime loop and is closed with the Lab (or ``LabTap.close()``).
What it records reaches the Lab's bus through ``_Feed``, which does three things, and why:

- **Names by pid, not by socket.** A tap knows a side by its address (a client) or by the URL
  it dialled (the relay) until that side says its pid in a ``?``; a Gun.js client sends its
  first GET before that. Events naming a side the tap knows only so are held (at most
  ``HOLD`` seconds and ``MAX_HELD`` events, all of them in their order) until every side they
  name has said its pid, then passed on under the pid, with their own times. Otherwise each
  client and the relay would be drawn twice: once by address, once by pid. A side that never
  says a pid is passed on under its address when the hold runs out.
- **No second account of what the Lab traces itself.** The Lab's own relay and peers emit
  their own events; the tap's events about them (``node`` one of them) would say every copy
  twice and give the relay a second wire to each client, so they are left out. Everything
  about the clients the Lab does not trace (Gun.js in Node or a browser, raw sockets) is kept.
  A Lab peer dialling the tap (``lab.peer(name, rtc=False, relay_url=tap.url)``) is therefore
  shown by its own events only: the tap's URL is aliased to the relay's pid (the tap is
  transparent, so that peer's wire leads to the relay), and its copies to a relay the Lab
  does not trace read ``sent``, as the tap's ``Tapped`` of them is left out with the rest.
- **Peers of their own kind.** Each new side is named in the Lab's directory: the relay
  ``relay <host:port>`` with the role ``external`` (``name`` to choose), unless it is the
  Lab's own relay (``relay``); each client by its pid with the role ``tapped`` (the mesh
  draws it as a diamond).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import weakref
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from gunrtc_kit import trace
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.diagnose.tapdoctor import TapExplanation, TapFinding, tap_doctor, tap_explain
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.peers import reach
from gunrtc_kit.lab.runtime import Runtime
from gunrtc_kit.lab.views.hub import ViewHub
from gunrtc_kit.relay import Relay
from gunrtc_kit.tap import Tap
from gunrtc_kit.tap.observe import CLIENT, RELAY
from gunrtc_kit.transport.websocket import normalize_url

__all__ = ["HOLD", "MAX_HELD", "ROLE", "LabTap", "start_tap"]

ROLE = "tapped"  # the directory role of a client seen through a tap
HOLD = 2.0  # seconds events naming a side by its address wait for that side's pid
MAX_HELD = 5_000  # events held at most; past it they go on under the names known
MAX_RENAMES = 10_000  # addresses remembered with their pid (one per client connection)


class _TapLab(Protocol):
    """What the tap needs of a Lab (``lab.Lab`` is one)."""

    rt: Runtime
    bus: trace.TraceBus
    names: dict[str, str]
    directory: Directory
    _hub: ViewHub

    @property
    def relay(self) -> Relay | None:
        """The Lab's relay while it runs."""
        ...

    def _name(self, pid: str, name: str, role: str = "peer") -> None: ...

    def _traces(self, entity: str) -> bool: ...


def _target_url(target: Any) -> str:
    """``target`` as a URL: a string, or a relay object with a ``url`` (``GunJsRelay``,
    ``Relay``)."""
    url = target if isinstance(target, str) else getattr(target, "url", None)
    if not isinstance(url, str):
        raise GunError(
            f"tap(target={target!r}): expected a relay URL such as ws://127.0.0.1:8765/gun, "
            "or a relay with a url (GunJsRelay, the Lab's relay)"
        )
    return normalize_url(url)


def _listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":") if isinstance(listen, str) else ("", "", "")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise GunError(f"tap(listen={listen!r}): expected 'host:port', e.g. '127.0.0.1:0'")
    return host, int(port)


class _Feed:
    """The tap's events on their way to the Lab's bus (see the module docstring). Runs on the
    runtime loop, where the tap emits; holds the Lab weakly (the tap is closed with the Lab,
    which must not be kept alive by it)."""

    def __init__(self, lab: _TapLab, tap: Tap, relay_name: str, relay_role: str) -> None:
        self._lab: Callable[[], _TapLab | None] = weakref.ref(lab)
        self.bus = lab.bus
        self.tap = tap
        self.relay_name, self.relay_role = relay_name, relay_role
        self.renames: dict[str, str] = {}
        own = lab.relay
        if own is not None and normalize_url(own.url) == tap.target:
            self.renames[tap.target] = own.pid  # the Lab's relay: its pid is known already
        self.provisional: set[str] = set()  # names a side has only until it says its pid
        self.relay_names: set[str] = {tap.target}
        self.named: set[str] = set()
        self.held: list[trace.Event] = []
        self._timer: asyncio.TimerHandle | None = None
        self.passed = 0  # events passed on to the Lab's bus
        self.left_out = 0  # events about peers the Lab traces itself
        # who says messages on the Lab's bus itself (its relay, its peers, before the Lab
        # has named them: a new peer says its '?' before the tap reads it); not the tap's
        self.self_traced: set[str] = set()
        self._sent: trace.Event | None = None  # the event this feed is putting on the bus
        self.unsubscribe = lab.bus.subscribe(self._saw, (trace.Said,))

    def _saw(self, e: trace.Event) -> None:
        if e is not self._sent and e.node not in self.self_traced:
            if len(self.self_traced) < MAX_RENAMES:
                self.self_traced.add(e.node)

    def __call__(self, e: trace.Event) -> None:
        if isinstance(e, trace.Link | trace.Bye | trace.Hi):
            self._refresh()
        if self.held or self._provisional(e):
            self._hold(e)
            return
        self._pass(e)

    def _provisional(self, e: trace.Event) -> bool:
        prov = self.provisional
        return bool(prov) and any(name in prov for name in _names(e))

    def _refresh(self) -> None:
        """What the tap's live pairs know now: pids learned, names still provisional."""
        prov: set[str] = set()
        for pair in list(self.tap.pairs.values()):
            for side, first in ((CLIENT, pair.address), (RELAY, pair.target)):
                name = pair.names[side]
                if side == RELAY:
                    self.relay_names.add(name)
                if name != first:
                    if side == RELAY and self.renames.get(first) != name:
                        self._alias(name)
                    if len(self.renames) >= MAX_RENAMES:
                        del self.renames[next(iter(self.renames))]
                    self.renames[first] = name
                elif pair.open and first not in self.renames:
                    prov.add(first)
        self.provisional = prov
        if self.held and not any(self._provisional(e) for e in self.held):
            self.flush()

    def _alias(self, relay_pid: str) -> None:
        """The tap's URL is the relay's (it is transparent): a peer of the Lab dialling it
        reaches that pid, as the Lab's relay's own URL is aliased to its pid."""
        lab = self._lab()
        if lab is not None:
            with lab._hub.lock:
                lab.directory.alias(self.tap.url, relay_pid)

    def _hold(self, e: trace.Event) -> None:
        self.held.append(e)
        if len(self.held) >= MAX_HELD:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(HOLD, self.flush)

    def flush(self) -> None:
        """Pass on every held event, under the names known now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self.held = self.held, []
        for e in held:
            self._pass(e)

    def _pass(self, e: trace.Event) -> None:
        renames = self.renames
        changes: dict[str, Any] = {
            f: renames[v]
            for f in ("node", "pid", "to")
            if (v := getattr(e, f, None)) is not None and v in renames
        }
        if changes:
            e = dataclasses.replace(e, **changes)
        lab = self._lab()
        if lab is None:
            return
        if e.node and (e.node in self.self_traced or lab._traces(e.node)):
            self.left_out += 1
            return
        for entity in (e.node, getattr(e, "to", "")):
            if entity and entity not in self.named:
                self._name(lab, entity)
        self.passed += 1
        self._sent = e
        try:
            self.bus.emit(e)
        finally:
            self._sent = None

    def _name(self, lab: _TapLab, entity: str) -> None:
        if len(self.named) >= MAX_RENAMES:
            self.named.clear()  # only means asking again (a name given is kept by the Lab)
        self.named.add(entity)
        if entity in lab.names or entity == self.tap.name:
            return
        if entity in self.self_traced or lab._traces(entity):
            return
        if entity in self.relay_names or entity == self.renames.get(self.tap.target):
            lab._name(entity, self.relay_name, self.relay_role)
        else:
            lab._name(entity, entity, ROLE)


def _names(e: trace.Event) -> tuple[str, ...]:
    return (e.node, getattr(e, "pid", ""), getattr(e, "to", ""))


class LabTap:
    """A tap a Lab runs (``lab.tap``): clients dial ``url`` instead of the relay at ``target``.

    ``tap`` is the ``gunrtc_kit.tap.Tap`` itself (its ``pairs``, its bounds); ``clients()``
    lists the connected clients as the views name them. ``close()`` stops it (the Lab's close
    does too): every client's connection is closed, both ways."""

    def __init__(
        self,
        rt: Runtime,
        tap: Tap,
        feed: _Feed,
        forget: Callable[[], None],
        names: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.rt = rt
        self.tap = tap
        self._feed = feed
        self._forget = forget
        self._names = names or dict
        self.closed = False

    def recording(self) -> list[trace.Event]:
        """What the tap itself recorded (its own bus's bounded history, before the Lab's
        forwarder renamed or left out anything): what ``doctor`` and ``explain`` read."""
        return self.rt.call(lambda: list(self.tap.bus.history), what="LabTap.recording()")

    def doctor(self) -> list[TapFinding]:
        """What the recording says is wrong between the tapped clients, each finding a
        sentence with its evidence (``gunrtc_kit.diagnose.tapdoctor``): a client that never
        asked for a soul others hold, a put the relay never forwarded to a subscriber, a put
        never acked, a client gone before the put, an older value. Only what the frames
        show: when they show too little, the finding says "unknown"."""
        return tap_doctor(self.recording(), self._names())

    def explain(self, client: str, path: str) -> TapExplanation:
        """Every value of ``soul.key`` (``path``, split at the last dot) that reached the
        tapped ``client`` (its name or pid) or that it sent, and which one it holds by HAM."""
        soul, dot, key = path.rpartition(".")
        if not dot or not soul or not key:
            raise GunError(f"explain({client!r}, {path!r}): expected 'soul.key'")
        return tap_explain(self.recording(), client, soul, key, self._names())

    @property
    def url(self) -> str:
        """What the app's clients dial instead of the relay: ``ws://host:port/gun``."""
        return self.tap.url

    @property
    def target(self) -> str:
        """The relay the tap forwards to."""
        return self.tap.target

    def clients(self) -> list[tuple[str, str]]:
        """(name, address) of each client connected now: the Lab's name for its pid, its pid,
        or its address until it said its pid."""
        pairs = self.rt.call(lambda: list(self.tap.pairs.values()), what="LabTap.clients()")
        names = self._names()
        return [(names.get(p.names[CLIENT], p.names[CLIENT]), p.address) for p in pairs]

    def close(self) -> None:
        """Stop the tap (closing every client's connection and its relay side), bounded."""
        if self.closed:
            return
        self.closed = True
        self._forget()
        if not self.rt.closed:
            self.rt.run_sync(_stop(self.tap, self._feed), what="LabTap.close()")

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"open url={self.url}"
        return f"<LabTap {state} target={self.target}>"

    def _repr_html_(self) -> str:
        e = html.escape
        if self.closed:
            return f"<div><b>Tap</b> of <code>{e(self.target)}</code>: <i>closed</i></div>"
        return (
            f"<div><b>Tap</b> in front of <code>{e(self.target)}</code>: point the app's "
            f"clients at <code>{e(self.url)}</code> instead of the relay; every frame is "
            f"forwarded unchanged and shown in the Lab's views ({len(self.tap.pairs)} "
            "client(s) now).</div>"
        )


async def _stop(tap: Tap, feed: _Feed) -> None:
    try:
        await tap.stop()
    finally:
        feed.flush()
        feed.unsubscribe()


def start_tap(lab: Any, target: Any, listen: str, name: str | None, owned: list[Tap]) -> LabTap:
    """What ``Lab.tap`` does: check ``target`` answers, start a ``Tap`` on the Lab's runtime
    listening on ``listen`` and feeding the Lab's bus, and keep it in ``owned`` (closed with
    the Lab)."""
    url = _target_url(target)
    host, port = _listen(listen)
    what = f"tap({url!r})"
    own = lab.relay is not None and normalize_url(lab.relay.url) == url
    if not own:
        lab.rt.run_sync(reach(what, url), what=what)
    if name is not None and (not isinstance(name, str) or not name):
        raise GunError(f"tap(name={name!r}): expected a non-empty string")
    # the tap's own bus keeps its recording as it was (bounded like the Lab's): the doctor
    # and explain read it, before the forwarder renamed or left out anything
    tap = Tap(url, host, port, bus=trace.TraceBus(clock=lab.bus.clock, keep=lab.bus.keep))
    relay_name = "relay" if own else (name or f"relay {urlsplit(url).netloc}")
    feed = _Feed(lab, tap, relay_name, "relay" if own else "external")
    unsubscribe = tap.bus.subscribe(feed)
    try:
        lab.rt.run_sync(tap.start(), what=what)
    except BaseException:
        unsubscribe()
        feed.unsubscribe()
        raise
    if own:
        feed._alias(lab.relay.pid)  # the port is known now, so is the tap's URL
    owned.append(tap)
    return LabTap(lab.rt, tap, feed, lambda: _discard(owned, tap), lambda: dict(lab.names))


def _discard(owned: list[Tap], tap: Tap) -> None:
    if tap in owned:
        owned.remove(tap)
