"""One owner per object in the lab layer: peers, meshes, wires and relays are changed on the
runtime's thread only; the views' models and views under the hub's lock only (the lock the
view pump holds for its rounds); and the runtime does not keep Labs alive.

How it is shown: events on the trace bus are emitted by the thread that changed the mesh or
the wire, so a subscriber that records ``threading.current_thread()`` tells who did it. For
the views, a probe view can hold the pump inside one of its ticks (a tick runs under the
hub's lock) while another thread calls the Lab: a call that respects the lock cannot touch a
view or a model before the tick ends. Every wait is bounded; nothing needs the network
except the relay test, which uses loopback WebSockets only (no WebRTC).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab, LabPeer, MemoryLink, Runtime, get_runtime
from gunrtc_kit.lab.views import hub as hub_module
from gunrtc_kit.lab.views.hub import Changes, ViewHub
from gunrtc_kit.root import Gun
from gunrtc_kit.transport.memory import MemoryWire, connect_memory

HOLD = 0.3  # how long a held tick leaves another thread the chance to overlap it


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(relay=False)
    yield lab
    lab.close()


class Threads:
    """Records the thread that emitted each event of a bus."""

    def __init__(self, bus: trace.TraceBus) -> None:
        self.seen: list[tuple[str, threading.Thread]] = []
        self._unsubscribe = bus.subscribe(self._record)

    def _record(self, e: trace.Event) -> None:
        self.seen.append((type(e).__name__, threading.current_thread()))

    def of(self, *kinds: str) -> set[threading.Thread]:
        return {t for k, t in list(self.seen) if k in kinds}

    def close(self) -> None:
        self._unsubscribe()


def linked(lab: Lab) -> tuple[LabPeer, LabPeer, MemoryLink]:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    link = lab.link_memory(a, b)
    return a, b, link


# ------------------------------------------------------------------ peers, meshes, wires
def test_every_change_a_cell_makes_runs_on_the_runtime_thread(lab: Lab) -> None:
    rt_thread = lab.rt.thread
    seen = Threads(lab.bus)
    a, b, link = linked(lab)
    lab.bus.wait_for(lambda e: isinstance(e, trace.Hi), 10, past=True)
    link.set(latency=0.01, loss=0.1)
    link.set(partitioned=True)
    link.set(partitioned=False)
    a.put("chat.hello", "hi")
    link.cut()
    lab.bus.wait_for(lambda e: isinstance(e, trace.Bye), 10, past=True)
    c = lab.memory_peer("carol")
    lab.link_memory(a, c)
    lab.close()  # its peers say bye on the way out
    seen.close()
    assert seen.of("Bye"), "no peer said bye when the link was cut"  # mesh.bye emits it
    for kinds in (("Link",), ("Bye",), ("Put",), ("Hi",)):
        assert seen.of(*kinds) == {rt_thread}, (kinds, seen.of(*kinds))


def test_a_memory_link_made_by_hand_is_changed_on_its_wires_loop() -> None:
    """A MemoryLink with no Lab around ``connect_memory`` wires: ``cut()`` and ``set()`` from
    this thread run on the loop the wires were joined on (before: right here)."""
    rt = get_runtime()
    bus = trace.TraceBus()
    wires: list[MemoryWire] = []

    async def make() -> tuple[Gun, Gun]:
        a, b = Gun([], bus=bus), Gun([], bus=bus)
        await a.start()
        await b.start()
        connect_memory(a.mesh, b.mesh, on_wire=lambda x, y: wires.extend([x, y]))
        return a, b

    a, b = rt.run_sync(make())
    try:
        seen = Threads(bus)
        link = MemoryLink(wires[0], wires[1])
        link.set(latency=0.02)
        link.cut()
        bus.wait_for(lambda e: isinstance(e, trace.Bye), 10, past=True)
        seen.close()
        assert seen.of("Link") == {rt.thread}
        assert seen.of("Bye") == {rt.thread}
        with pytest.raises(GunError, match="cut already"):
            link.cut()
    finally:
        rt.run_sync(a.close())
        rt.run_sync(b.close())


def test_two_threads_cutting_one_link_at_once_make_one_cut_and_one_error(lab: Lab) -> None:
    """The 'cut already' check is made on the runtime thread, where the cut is: two cuts from
    two threads cannot both pass it (before: both checked here, then both 'cut')."""
    _, _, link = linked(lab)
    release = threading.Event()
    held = threading.Event()

    async def hold_the_runtime() -> None:
        held.set()
        release.wait(10)  # blocks the loop on purpose, bounded: both cuts queue behind it

    fut = lab.rt.submit(hold_the_runtime())
    assert held.wait(10)
    errors: list[BaseException] = []

    def cut() -> None:
        try:
            link.cut()
        except GunError as exc:
            errors.append(exc)

    cutters = [threading.Thread(target=cut) for _ in range(2)]
    for t in cutters:
        t.start()
    for t in cutters:  # each is now waiting on the held runtime, or already done
        t.join(HOLD)
    release.set()
    fut.result(10)
    for t in cutters:
        t.join(10)
        assert not t.is_alive()
    assert len(errors) == 1 and "cut already" in str(errors[0]), errors
    assert link.closed


# ------------------------------------------------------------------ the views
class Probe:
    """A view the hub ticks. It counts the ticks in progress, notes any view or model change
    made while one is in progress, and can hold the pump thread inside a tick."""

    def __init__(self) -> None:
        self.active = 0
        self.ticks = 0
        self.pump_ticks = 0
        self.overlaps: list[str] = []
        self.pauses: list[bool] = []
        self._count = threading.Lock()
        self._holding = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def touched(self, what: str) -> None:
        if self.active:
            self.overlaps.append(what)

    def tick(self, changes: Changes) -> None:
        with self._count:
            self.active += 1
            self.ticks += 1
            pump = hub_module._pump().thread
            if threading.current_thread() is pump:
                self.pump_ticks += 1
            if self.active > 1:
                self.overlaps.append("tick")
        try:
            if self._holding and threading.current_thread() is pump and not self.entered.is_set():
                self.entered.set()
                self.release.wait(10)
        finally:
            with self._count:
                self.active -= 1

    def reset(self) -> None:
        self.touched("reset")

    def on_pause(self, paused: bool) -> None:
        self.touched("on_pause")
        self.pauses.append(paused)

    def hold(self) -> None:
        """Hold the pump in its next tick of this view (``entered`` is set once it is)."""
        self.entered.clear()
        self.release.clear()
        self._holding = True

    def let_go(self) -> None:
        self._holding = False
        self.release.set()


def while_the_pump_ticks(hub: ViewHub, probe: Probe, action: Callable[[], Any]) -> None:
    """Hold the pump inside ``probe``'s tick, run ``action`` on another thread and give it
    ``HOLD`` seconds to overlap the tick; then let the tick end and wait for ``action``."""
    hub.add(probe)
    probe.hold()
    assert probe.entered.wait(10), "the pump did not tick the probe"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(HOLD)
    probe.let_go()
    t.join(20)
    assert not t.is_alive(), "the action never finished"
    if errors:
        raise errors[0]


def test_refresh_waits_for_the_pump_round_in_progress(lab: Lab) -> None:
    probe = Probe()
    ran = threading.Event()

    def refresh() -> None:
        lab.refresh()
        probe.touched("refresh returned")
        ran.set()

    while_the_pump_ticks(lab.hub, probe, refresh)
    assert ran.is_set()
    assert probe.overlaps == []


def test_refresh_in_a_loop_never_overlaps_the_pump_while_traffic_flows(lab: Lab) -> None:
    a, b, _ = linked(lab)
    probe = Probe()
    lab.hub.add(probe)
    stop = threading.Event()

    def traffic() -> None:
        i = 0
        while not stop.is_set():
            a.put(["load", f"k{i % 50}"], i)
            i += 1

    writer = threading.Thread(target=traffic)
    writer.start()
    try:
        lab.bus.wait_for(lambda e: isinstance(e, trace.Put) and e.node == b.pid, 10, past=True)
        start = probe.pump_ticks
        done = threading.Event()
        refreshes = 0
        # at least 200 refreshes, and on until the pump ticked 5 times meanwhile (so the two
        # really ran side by side); bounded by the wait below
        deadline = threading.Timer(20, done.set)
        deadline.start()
        while not done.is_set() and (refreshes < 200 or probe.pump_ticks < start + 5):
            lab.refresh()
            refreshes += 1
        deadline.cancel()
    finally:
        stop.set()
        writer.join(10)
    assert probe.pump_ticks >= start + 5, "the pump did not tick while refresh() looped"
    assert probe.overlaps == []


def test_pause_and_resume_wait_for_the_pump_round_in_progress(lab: Lab) -> None:
    """Before: ``pause()`` told every view at once, while the pump was inside their ticks."""
    probe = Probe()
    while_the_pump_ticks(lab.hub, probe, lab.pause)
    assert probe.pauses == [True]
    probe2 = Probe()
    while_the_pump_ticks(lab.hub, probe2, lab.resume)
    assert probe.pauses == [True, False]
    assert probe.overlaps == [] and probe2.overlaps == []


def test_naming_a_new_peer_waits_for_the_pump_round_in_progress(lab: Lab) -> None:
    """The directory is a model the pump changes and reads in its rounds; before, making a
    peer named it from this thread while a round ran."""
    probe = Probe()
    real_name = lab.directory.name

    def name(*args: Any, **kw: Any) -> Any:
        probe.touched(f"directory.name{args}")
        return real_name(*args, **kw)

    lab.directory.name = name  # type: ignore[method-assign]
    while_the_pump_ticks(lab.hub, probe, lambda: lab.memory_peer("dora"))
    assert lab.name_of(lab.peers["dora"].pid) == "dora"
    assert probe.overlaps == []


def test_a_view_added_during_a_round_joins_the_hub_after_it(lab: Lab) -> None:
    """The pump lists the hub's views in its round; before, another thread changed that set
    meanwhile (a WeakSet changed while listed raises, and the round fails)."""
    probe, late = Probe(), Probe()

    def add() -> None:
        lab.hub.add(late)
        probe.touched("views changed")

    while_the_pump_ticks(lab.hub, probe, add)
    assert late in lab.hub.views
    assert probe.overlaps == []


# ------------------------------------------------------------------ lifetime
def test_a_closed_lab_is_not_kept_alive_by_its_runtime() -> None:
    lab = Lab(relay=False)
    lab.memory_peer("a")
    lab.close()
    ref = weakref.ref(lab)
    del lab
    gc.collect()
    assert ref() is None
    # and it left the runtime's closers when it closed
    rt = get_runtime()
    before = rt.closers
    other = Lab(relay=False)
    assert rt.closers == before + 1
    other.close()
    assert rt.closers == before


def test_a_lab_dropped_without_close_is_collected_and_its_relay_and_peers_stop() -> None:
    rt = get_runtime()
    lab = Lab()
    a = lab.peer("a", rtc=False)
    relay, gun = lab.relay, a.gun
    assert relay is not None
    stopped, closed = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    real_stop, real_close = relay.stop, gun.close

    async def stop() -> None:
        threads.append(threading.current_thread())
        await real_stop()
        stopped.set()

    async def close() -> None:
        threads.append(threading.current_thread())
        await real_close()
        closed.set()

    relay.stop = stop  # type: ignore[method-assign]
    gun.close = close  # type: ignore[method-assign]
    ref = weakref.ref(lab)
    del lab, a
    gc.collect()
    assert ref() is None, gc.get_referrers(ref()) if ref() is not None else None
    assert closed.wait(10) and stopped.wait(10)
    assert set(threads) == {rt.thread}
    assert relay.server.server is None

    async def sockets_left() -> int:
        return len(relay.server.connections)

    assert rt.run_sync(sockets_left()) == 0


def test_a_lab_still_open_when_its_runtime_closes_is_closed_by_it() -> None:
    """The runtime holds Labs weakly, yet closes those still alive when it closes."""
    rt = Runtime(name="gunrtc-kit-test-runtime")
    try:
        lab = Lab(runtime=rt)
        relay = lab.relay
        assert relay is not None
        lab.memory_peer("a")
    finally:
        rt.close()
    assert lab.closed
    assert relay.server.server is None


def test_a_lab_call_that_fails_on_the_runtime_raises_its_own_error(lab: Lab) -> None:
    a = lab.memory_peer("a")
    with pytest.raises(GunError, match="has no link to"):
        a.say({"get": {"#": "x"}}, to=lab.memory_peer("b"))


def test_a_memory_link_made_by_hand_is_cut_at_once_on_its_own_loop() -> None:
    rt = get_runtime()
    wires: list[MemoryWire] = []

    async def inner() -> None:
        a, b = Gun([]), Gun([])
        await a.start()
        await b.start()
        connect_memory(a.mesh, b.mesh, on_wire=lambda x, y: wires.extend([x, y]))
        link = MemoryLink(wires[0], wires[1])
        link.cut()  # on its own loop: runs right here, no hand-over
        assert link.closed
        await asyncio.gather(a.close(), b.close())

    rt.run_sync(inner())


def test_the_pump_outlives_a_failing_hub() -> None:
    """Anything failing in a pump round is logged and the pump goes on: it is the clock of
    every view in the process (before: an error outside ``step`` ended its thread)."""

    class Broken:
        calls = 0

        @property
        def closed(self) -> bool:
            Broken.calls += 1
            raise RuntimeError("Set changed size during iteration")

    broken = Broken()
    pump = hub_module._pump()
    hub = ViewHub()
    probe = Probe()
    pump.add(broken)  # type: ignore[arg-type]
    try:
        hub.add(probe)
        for _ in range(2):  # two ticks of the probe: a whole round, broken hub included
            probe.hold()
            assert probe.entered.wait(10), "the pump stopped ticking"
            probe.let_go()
        assert Broken.calls >= 1 and pump.thread.is_alive()
    finally:
        pump.discard(broken)  # type: ignore[arg-type]
        hub.close()


# ------------------------------------------------------------------ the relay's clients
def _handshake(url: str, origin: str | None) -> int:
    """The HTTP status the relay answers a WebSocket handshake with (101: accepted)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus
    from websockets.typing import Origin

    async def go() -> int:
        try:
            async with connect(url, origin=Origin(origin) if origin else None, open_timeout=10):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)

    return asyncio.run(go())


def test_the_lab_relay_takes_no_browser_unless_told() -> None:
    """By default a page in the user's browser (it sends an ``Origin``) cannot use the
    notebook's relay on 127.0.0.1; a client with no ``Origin`` (a peer, Gun.js on Node) can."""
    with Lab() as lab:
        assert lab.allowed_origins == ()
        assert _handshake(lab.url, None) == 101
        assert _handshake(lab.url, "http://evil.example") == 403
    with Lab(allowed_origins=["http://localhost:8888"]) as lab:
        assert _handshake(lab.url, "http://localhost:8888") == 101
        assert _handshake(lab.url, "http://evil.example") == 403
    with Lab(allowed_origins=None) as lab:
        assert _handshake(lab.url, "http://evil.example") == 101
    with pytest.raises(GunError, match="allowed_origins"):
        Lab(relay=False, allowed_origins="http://localhost:8888")
