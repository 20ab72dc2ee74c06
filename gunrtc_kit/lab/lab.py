"""``Lab``: a relay and named peers for one notebook, and the views that watch them.

Every peer, the relay and every link live on the Lab's runtime loop (see ``runtime.py``).
Convention for the two call styles: each action is a coroutine method (``await lab.link(a,
b)``) with a blocking twin of the same name plus ``_sync`` (``lab.link_sync(a, b)``); cheap
actions that need no waiting (``put``, ``say``) are plain methods usable either way.
WebRTC stays on loopback by default (``ice_servers=[]``, ``host_addresses=["127.0.0.1"]``), so
it works on Binder with no STUN server.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.gun import Gun
from gunrtc_kit.lab.runtime import Runtime, get_runtime
from gunrtc_kit.relay import Relay
from gunrtc_kit.transport.memory import MemoryWire, connect_memory
from gunrtc_kit.webrtc.options import WebRTCOptions

__all__ = ["Lab", "LabPeer", "MemoryLink", "SignalingSteps"]

T = TypeVar("T")


def _path(gun: Gun, path: str) -> Any:
    parts = [p for p in path.split(".") if p]
    if not parts:
        raise GunError(f"path={path!r}: expected 'soul' or 'soul.key.key'")
    chain = gun.get(parts[0])
    for p in parts[1:]:
        chain = chain.get(p)
    return chain


class LabPeer:
    """A named Gun peer living on the Lab's runtime."""

    def __init__(self, lab: Lab, name: str, gun: Gun) -> None:
        self.lab = lab
        self.name = name
        self.gun = gun

    @property
    def pid(self) -> str:
        return self.gun.pid

    def __repr__(self) -> str:
        return f"<LabPeer {self.name} pid={self.pid} peers={len(self.gun.mesh.peers)}>"

    def put(self, path: str, data: Any) -> None:
        """Write ``data`` at ``'soul.key'`` (sent at once; use ``put_acked`` to wait for an ack)."""
        self.lab.rt.call(lambda: _path(self.gun, path).put(data))

    async def put_acked(self, path: str, data: Any) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            ack: dict[str, Any] = await _path(self.gun, path).put(data)
            return ack

        return await self.lab.rt.arun(go())

    def put_acked_sync(self, path: str, data: Any) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            ack: dict[str, Any] = await _path(self.gun, path).put(data)
            return ack

        return self.lab.rt.run(go())

    async def get(self, path: str, timeout: float = 5.0) -> Any:
        return await self.lab.rt.arun(_path(self.gun, path).once(timeout=timeout))

    def get_sync(self, path: str, timeout: float = 5.0) -> Any:
        return self.lab.rt.run(_path(self.gun, path).once(timeout=timeout), timeout + 5)

    def say(self, msg: dict[str, Any], to: LabPeer | None = None) -> dict[str, Any]:
        """Send a raw DAM message to one linked peer, or to the mesh; returns it with its ``#``."""
        msg = dict(msg)

        def go() -> None:
            target = None
            if to is not None:
                target = self.gun.mesh.peer_by_pid(to.pid)
                if target is None:
                    raise GunError(f"{self.name} has no link to {to.name}")
            self.gun.mesh.say(msg, target)

        self.lab.rt.call(go)
        return msg

    def graph(self) -> dict[str, Any]:
        return self.lab.rt.call(lambda: json.loads(json.dumps(self.gun.graph.nodes)))

    def snapshot(self) -> dict[str, Any]:
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

        return self.lab.rt.call(go)

    def links(self) -> list[str]:
        return list(self.snapshot()["links"])


class MemoryLink:
    """An in-memory link between two Lab peers, with faults you can change live."""

    def __init__(self, a: MemoryWire, b: MemoryWire) -> None:
        self.wires = (a, b)

    def set(
        self,
        *,
        latency: float | None = None,
        loss: float | None = None,
        partitioned: bool | None = None,
    ) -> None:
        for w in self.wires:
            if latency is not None:
                w.latency = latency
            if loss is not None:
                w.loss = loss
            if partitioned is not None:
                w.partitioned = partitioned

    @property
    def dropped(self) -> int:
        return sum(w.dropped for w in self.wires)

    def cut(self) -> None:
        self.wires[0].close()


class SignalingSteps:
    """Drive one WebRTC link by hand: each step returns what it made, to read and pass on."""

    def __init__(self, lab: Lab, a: LabPeer, b: LabPeer) -> None:
        self.lab, self.a, self.b = lab, a, b
        self.offer: dict[str, Any] | None = None
        self.answer: dict[str, Any] | None = None

    def _rtc(self, p: LabPeer) -> Any:
        if p.gun.rtc is None:
            raise GunError(f"{p.name} has no WebRTC (created with rtc=False)")
        return p.gun.rtc

    def make_offer(self) -> dict[str, Any]:
        """Step 1: ``a`` makes an offer for ``b`` (the SDP already holds a's candidates)."""
        self.offer = self.lab.rt.run(self._rtc(self.a).create_offer(self.b.pid))
        return self.offer

    def make_answer(self) -> dict[str, Any]:
        """Step 2: hand the offer to ``b``; ``b`` answers."""
        if self.offer is None:
            raise GunError("make_offer() first")
        self.answer = self.lab.rt.run(self._rtc(self.b).accept_offer(self.a.pid, self.offer))
        return self.answer

    def apply_answer(self) -> None:
        """Step 3: hand the answer back to ``a``."""
        if self.answer is None:
            raise GunError("make_answer() first")
        self.lab.rt.run(self._rtc(self.a).accept_answer(self.b.pid, self.answer))

    def candidates(self) -> list[dict[str, Any]]:
        """The candidates in both SDPs, in Gun's JSON shape (what a browser would trickle)."""
        from gunrtc_kit.webrtc.signaling import candidates_from_sdp

        return [c for d in (self.offer, self.answer) if d for c in candidates_from_sdp(d["sdp"])]

    def add_candidates(self) -> int:
        """Step 4 (optional with aiortc): trickle every candidate to the other side too."""
        n = 0
        from gunrtc_kit.webrtc.signaling import candidates_from_sdp

        for src, dst, desc in ((self.a, self.b, self.offer), (self.b, self.a, self.answer)):
            for c in candidates_from_sdp((desc or {}).get("sdp", "")):
                self.lab.rt.run(self._rtc(dst).add_candidate(src.pid, c))
                n += 1
        return n

    def wait_open(self, timeout: float = 20.0) -> None:
        """Step 5: the data channel opens on both sides."""
        self.lab.rt.run(self._rtc(self.a).wait_open(self.b.pid, timeout), timeout + 5)
        self.lab.rt.run(self._rtc(self.b).wait_open(self.a.pid, timeout), timeout + 5)


class Lab:
    """A relay on 127.0.0.1 and named peers, all on one runtime, all traced on one bus."""

    def __init__(
        self,
        *,
        relay: bool = True,
        room: str | None = "lab",
        runtime: Runtime | None = None,
        store: str | None = None,
        keep: int = 50_000,
    ) -> None:
        self.rt = runtime or get_runtime()
        self.bus = trace.TraceBus(keep=keep)
        self.room = room
        self.peers: dict[str, LabPeer] = {}
        self.names: dict[str, str] = {}
        self._views: list[Any] = []
        self.relay: Relay | None = None
        self._store = store
        self._closed = False
        self.rt.on_close(self._aclose)
        if relay:
            self.start_relay_sync()

    # ------------------------------------------------------------------ helpers
    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return self.rt.run(coro, timeout)

    def name_of(self, pid: str) -> str:
        return self.names.get(pid, pid)

    def _name(self, pid: str, name: str) -> None:
        self.names[pid] = name
        for v in self._views:
            v.rename(pid, name)

    def rtc_options(self, room: str | None) -> WebRTCOptions:
        return WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"])

    # ------------------------------------------------------------------ relay
    async def _start_relay(self) -> Relay:
        relay = Relay(bus=self.bus, store=self._store)
        await relay.start()
        return relay

    def start_relay_sync(self) -> Relay:
        if self.relay is not None:
            return self.relay
        self.relay = self._run(self._start_relay())
        self._name(self.relay.pid, "relay")
        return self.relay

    def stop_relay_sync(self) -> None:
        """Fault: the relay goes away (peers linked by WebRTC keep syncing)."""
        if self.relay is not None:
            self._run(self.relay.stop())
            self.relay = None

    async def stop_relay(self) -> None:
        if self.relay is not None:
            await self.rt.arun(self.relay.stop())
            self.relay = None

    @property
    def url(self) -> str:
        if self.relay is None:
            raise GunError("the Lab's relay is stopped")
        return self.relay.url

    # ------------------------------------------------------------------ peers
    async def _make(self, name: str, peers: list[str], rtc: WebRTCOptions | None) -> Gun:
        gun = Gun(peers, rtc=rtc, bus=self.bus)
        await gun.start()
        if peers:
            await gun.wait_connected(10)
        return gun

    def peer(
        self,
        name: str,
        *,
        rtc: bool = True,
        room: str | None | bool = True,
        relay_url: str | None = None,
    ) -> LabPeer:
        """A peer on the Lab's relay (or on ``relay_url``); with ``rtc`` it joins ``room``
        (the Lab's room by default; ``room=None``: link it by hand)."""
        if name in self.peers:
            raise GunError(f"a peer named {name!r} exists already")
        url = relay_url or (self.relay.url if self.relay is not None else None)
        use_room = self.room if room is True else (None if room is False else room)
        options = self.rtc_options(use_room) if rtc else None
        gun = self._run(self._make(name, [url] if url else [], options))
        p = self.peers[name] = LabPeer(self, name, gun)
        self._name(gun.pid, name)
        return p

    def memory_peer(self, name: str) -> LabPeer:
        """A peer with no relay and no WebRTC: join it to others with ``link_memory``."""
        if name in self.peers:
            raise GunError(f"a peer named {name!r} exists already")
        gun = self._run(self._make(name, [], None))
        p = self.peers[name] = LabPeer(self, name, gun)
        self._name(gun.pid, name)
        return p

    def link_memory(
        self,
        a: LabPeer,
        b: LabPeer,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        loss: float = 0.0,
    ) -> MemoryLink:
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

        self._run(go())
        return MemoryLink(wires[0], wires[1])

    def attach(self, name: str, url: str) -> LabPeer:
        """A peer connected to an outside Gun relay (e.g. a Gun.js one) by URL."""
        return self.peer(name, rtc=False, relay_url=url)

    # ------------------------------------------------------------------ WebRTC
    def signaling(self, a: LabPeer, b: LabPeer) -> SignalingSteps:
        """Step-by-step signalling of one link (both peers need ``rtc=True``)."""
        return SignalingSteps(self, a, b)

    async def link(self, a: LabPeer, b: LabPeer, timeout: float = 20.0) -> None:
        """Link two peers by WebRTC now (offer, answer, wait for the channel)."""
        await self.rt.arun(self._link(a, b, timeout))

    def link_sync(self, a: LabPeer, b: LabPeer, timeout: float = 20.0) -> None:
        self._run(self._link(a, b, timeout), timeout + 10)

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

    async def wait_linked(self, a: LabPeer, b: LabPeer, timeout: float = 20.0) -> None:
        """Wait for a link that room discovery is making."""
        await self.rt.arun(self._wait_linked(a, b, timeout))

    def wait_linked_sync(self, a: LabPeer, b: LabPeer, timeout: float = 20.0) -> None:
        self._run(self._wait_linked(a, b, timeout), timeout + 10)

    async def _wait_linked(self, a: LabPeer, b: LabPeer, timeout: float) -> None:
        if a.gun.rtc is None or b.gun.rtc is None:
            raise GunError("both peers need rtc=True")
        await a.gun.rtc.wait_open(b.pid, timeout)
        await b.gun.rtc.wait_open(a.pid, timeout)

    def cut(self, a: LabPeer, b: LabPeer) -> None:
        """Fault: drop the WebRTC link between ``a`` and ``b``."""
        if a.gun.rtc is None:
            raise GunError(f"{a.name} has no WebRTC")
        self._run(a.gun.rtc.drop(b.pid, "cut by the Lab"))

    # ------------------------------------------------------------------ views
    def mesh_view(self, live: bool = True) -> Any:
        from gunrtc_kit.lab.views.widgets import MeshView

        return self._keep(MeshView(self.bus, names=self.names, live=live))

    def flow_view(self, live: bool = True) -> Any:
        from gunrtc_kit.lab.views.widgets import FlowView

        return self._keep(FlowView(self.bus, names=self.names, live=live))

    def signaling_view(
        self, a: LabPeer | None = None, b: LabPeer | None = None, live: bool = True
    ) -> Any:
        from gunrtc_kit.lab.views.widgets import SignalingView

        link = (a.name, b.name) if a is not None and b is not None else None
        return self._keep(SignalingView(self.bus, link=link, names=self.names, live=live))

    def peer_view(self, p: LabPeer, live: bool = True) -> Any:
        from gunrtc_kit.lab.views.widgets import PeerView

        return self._keep(PeerView(p, self.bus, names=self.names, live=live))

    def _keep(self, view: Any) -> Any:
        self._views.append(view)
        return view

    def show(self) -> Any:
        """Mesh, flow and signalling side by side, and a tab per peer (its data, links and
        counters), as one widget."""
        import ipywidgets as widgets

        mesh, flow, sig = self.mesh_view(), self.flow_view(), self.signaling_view()
        peers = [self.peer_view(p) for p in self.peers.values()]
        self.views = {"mesh": mesh, "flow": flow, "signaling": sig}
        self.views.update(
            {f"peer:{p.name}": v for p, v in zip(self.peers.values(), peers, strict=True)}
        )
        tabs = widgets.Tab(children=[v.widget for v in peers])
        for i, name in enumerate(self.peers):
            tabs.set_title(i, name)
        return widgets.VBox([widgets.HBox([mesh.widget, flow.widget]), sig.widget, tabs])

    def refresh(self) -> None:
        """Draw every view now (tests and headless runs; live views redraw by themselves)."""
        for v in self._views:
            v.refresh()

    # ------------------------------------------------------------------ traces
    def save_trace(self, path: str | Path) -> int:
        events = list(self.bus.history)
        Path(path).write_text(trace.to_jsonl(events), encoding="utf-8")
        return len(events)

    @staticmethod
    def load_trace(path: str | Path) -> list[trace.Event]:
        return list(trace.from_jsonl(Path(path).read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ end
    async def _aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for p in list(self.peers.values()):
            await p.gun.close()
        if self.relay is not None:
            await self.relay.stop()

    def close(self) -> None:
        """Stop every peer and the relay (the runtime thread stays for the next Lab); also
        done for you when the runtime closes at exit."""
        self._run(self._aclose())
        self.peers.clear()
        self.relay = None
        for v in self._views:
            v.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
