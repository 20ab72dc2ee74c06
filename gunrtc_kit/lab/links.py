"""Links between Lab peers: ``MemoryLink`` (an in-memory wire with live faults),
``SignalingSteps`` (one WebRTC link driven by hand) and the WebRTC link, wait and cut that
``Lab.link``, ``Lab.wait_linked`` and ``Lab.cut`` run on the runtime.

Why apart: a link's work is on two peers' meshes and wires, not on the rest of the Lab; of
the Lab it needs only its runtime and whether it is open (``peers.LabLike``).
"""

from __future__ import annotations

import asyncio
import html
import random
from collections.abc import Callable
from typing import Any, ClassVar

from gunrtc_kit.errors import GunError, WebRTCError
from gunrtc_kit.lab.peers import LabLike, LabPeer
from gunrtc_kit.lab.runtime import SLACK, call_in_loop
from gunrtc_kit.transport.hold import Hold
from gunrtc_kit.transport.memory import MemoryWire, connect_memory

__all__ = [
    "MemoryLink",
    "SignalingSteps",
    "Wiring",
    "cut_rtc",
    "link_rtc",
    "memory_link",
    "wait_rtc",
]


class Wiring:
    """What a Lab's memory wires share: the step-mode ``hold``, whether new wires start held,
    their tags (``m1``, ``m2``... counted per Lab), the seed their loss and jitter draw from,
    and the list of every wire made (what ``hold()`` holds)."""

    def __init__(self, seed: int | str | None) -> None:
        self.seed = seed
        self.hold = Hold()
        self.holding = False
        self.wires: list[MemoryWire] = []
        self._count = 0

    def next_wire(self) -> tuple[str | None, random.Random | None, Hold, bool]:
        """(tag, rng, hold, held) for the next wire: a Lab-counted tag and a seeded
        generator when the Lab has a seed (else the process's), held if holding."""
        self._count += 1
        if self.seed is None:
            return None, None, self.hold, self.holding
        tag = f"m{self._count}"
        return tag, random.Random(f"{self.seed}/wire/{tag}"), self.hold, self.holding


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
        lab: LabLike | None = None,
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

    def hold(self) -> None:
        """Step mode on this link only: its frames wait, both ways, until delivered by hand
        (``lab.pending()``, ``lab.deliver``...); other links keep flowing."""

        def go() -> None:
            if self.closed:
                raise GunError(f"MemoryLink {self._title} is cut; make a new one with link_memory")
            if self.wires[0].hold is None:
                raise GunError(f"MemoryLink {self._title} was not made by a Lab: nothing holds it")
            for w in self.wires:
                w.held = True

        self._on_owner("hold()", go)

    def release(self) -> int:
        """Stop holding this link and deliver what waits on it, oldest first; returns how
        many frames went."""

        def go() -> None:
            hold = self.wires[0].hold
            for w in self.wires:
                w.held = False
            if hold is None:
                return
            for f in [f for f in hold.frames.values() if f.wire in self.wires]:
                hold.deliver(f.name)
                sent.append(f.name)

        sent: list[str] = []
        self._on_owner("release()", go)
        if self.lab is not None:
            self.lab._settle("release()", always=True)
        return len(sent)

    @property
    def held(self) -> bool:
        """True while this link's frames wait to be delivered by hand."""
        return any(w.held for w in self.wires)

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
        return "partitioned" if self.partitioned else "held" if self.held else "open"

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
    ``add_candidates`` (optional: aiortc puts its candidates in the SDP), 5
    ``wait_open_sync`` (or ``await wait_open()``). The repr shows which are done and which
    comes next. Steps 1 to 4 are quick (a few hundred milliseconds of work on the runtime),
    so they are plain blocking calls and read like a recipe in plain cells; step 5 waits
    for the network, so it is a coroutine with a blocking twin, as every wait of the Lab."""

    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("offer", "make_offer"),
        ("answer", "make_answer"),
        ("apply answer", "apply_answer"),
        ("candidates (optional)", "add_candidates"),
        ("open", "wait_open_sync"),
    )

    def __init__(self, lab: LabLike, a: LabPeer, b: LabPeer) -> None:
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
        self.offer = self.lab.rt.run_sync(
            self._rtc(self.a).create_offer(self.b.pid), what="make_offer()"
        )
        return self.offer

    def make_answer(self) -> dict[str, Any]:
        """Step 2: hand the offer to ``b``; ``b`` answers."""
        self._check("make_answer()")
        if self.offer is None:
            raise GunError("make_offer() first")
        self.answer = self.lab.rt.run_sync(
            self._rtc(self.b).accept_offer(self.a.pid, self.offer), what="make_answer()"
        )
        return self.answer

    def apply_answer(self) -> None:
        """Step 3: hand the answer back to ``a``."""
        self._check("apply_answer()")
        if self.answer is None:
            raise GunError("make_answer() first")
        self.lab.rt.run_sync(
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
                self.lab.rt.run_sync(
                    self._rtc(dst).add_candidate(src.pid, c), what="add_candidates()"
                )
                n += 1
        self.trickled = n
        return n

    async def _both_open(self, timeout: float) -> None:
        """The wait of step 5, on the runtime thread: the channel open on ``a``'s side and
        on ``b``'s, within ``timeout`` seconds for both."""
        ra, rb = self._rtc(self.a), self._rtc(self.b)
        await _within(self.a, self.b, timeout, _open_both(ra, rb, self.a, self.b, timeout))

    async def wait_open(self, timeout: float = 20.0) -> None:
        """Step 5: the data channel opens on both sides (within ``timeout`` seconds)."""
        self._check("wait_open()")
        what = f"wait_open(): {self.a.name}\u2194{self.b.name}'s channel"
        await self.lab.rt.run(self._both_open(timeout), timeout + SLACK, what=what)
        self.opened = True

    def wait_open_sync(self, timeout: float = 20.0) -> None:
        """Blocking twin of ``wait_open`` (plain cells, scripts): blocks this thread only."""
        self._check("wait_open_sync()")
        what = f"wait_open_sync(): {self.a.name}\u2194{self.b.name}'s channel"
        self.lab.rt.run_sync(self._both_open(timeout), timeout + SLACK, what=what)
        self.opened = True


def memory_link(
    lab: LabLike,
    label: str,
    a: LabPeer,
    b: LabPeer,
    latency: float,
    jitter: float,
    loss: float,
    *,
    wiring: Wiring | None = None,
) -> MemoryLink:
    """Join ``a`` and ``b`` by an in-memory wire with these faults (on the runtime thread,
    the meshes' owner); returns the ``MemoryLink`` that changes them later. ``wiring`` (the
    Lab's) names the wire, seeds it, and holds it in step mode."""
    wires: list[MemoryWire] = []
    tag = rng = hold = None
    held = False
    if wiring is not None:
        tag, rng, hold, held = wiring.next_wire()

    async def go() -> None:
        connect_memory(
            a.gun.mesh,
            b.gun.mesh,
            latency=latency,
            jitter=jitter,
            loss=loss,
            on_wire=lambda x, y: wires.extend([x, y]),
            tag=tag,
            rng=rng,
            hold=hold,
            held=held,
        )
        if wiring is not None:
            wiring.wires.extend(wires)

    lab.rt.run_sync(go(), 60.0, what=label)
    return MemoryLink(wires[0], wires[1], lab=lab, ends=(a.name, b.name))


async def _within(a: LabPeer, b: LabPeer, timeout: float, work: Any) -> None:
    """Await ``work`` (a link's steps and waits) within ``timeout`` seconds in all, however
    many waits it makes: the whole call is bounded by the caller's ``timeout``, and its
    blocking twin waits that plus ``SLACK``, no more. Running out is a ``WebRTCError``
    naming the link, as a single ``wait_open`` that runs out is."""
    try:
        async with asyncio.timeout(timeout):
            await work
    except TimeoutError:
        raise WebRTCError(
            f"the WebRTC link {a.name}\u2194{b.name} did not open within {timeout:g} s"
        ) from None


async def _open_both(ra: Any, rb: Any, a: LabPeer, b: LabPeer, timeout: float) -> None:
    await ra.wait_open(b.pid, timeout)
    await rb.wait_open(a.pid, timeout)


async def link_rtc(a: LabPeer, b: LabPeer, timeout: float) -> None:
    """Link ``a`` and ``b`` by WebRTC (offer, answer, unless linked already) and wait for
    the channel to open on both sides, within ``timeout`` seconds; on the runtime thread."""
    ra, rb = a.gun.rtc, b.gun.rtc
    if ra is None or rb is None:
        raise GunError("both peers need rtc=True")

    async def go() -> None:
        if b.pid not in ra.connected():
            offer = await ra.create_offer(b.pid)
            answer = await rb.accept_offer(a.pid, offer)
            await ra.accept_answer(b.pid, answer)
        await _open_both(ra, rb, a, b, timeout)

    await _within(a, b, timeout, go())


async def wait_rtc(a: LabPeer, b: LabPeer, timeout: float) -> None:
    """Wait for the WebRTC channel between ``a`` and ``b`` (one room discovery is making)
    to open on both sides, within ``timeout`` seconds; on the runtime thread."""
    if a.gun.rtc is None or b.gun.rtc is None:
        raise GunError("both peers need rtc=True")
    await _within(a, b, timeout, _open_both(a.gun.rtc, b.gun.rtc, a, b, timeout))


async def cut_rtc(label: str, a: LabPeer, b: LabPeer) -> None:
    """Drop the WebRTC link between ``a`` and ``b``, or say why there is none to drop (a
    memory link is cut with its own ``MemoryLink.cut()``); on the runtime thread."""
    ra, rb = a.gun.rtc, b.gun.rtc
    if b.pid not in (ra.links if ra is not None else {}) and a.pid not in (
        rb.links if rb is not None else {}
    ):
        why = (
            f"{a.name if ra is None else b.name} has no WebRTC"
            if ra is None or rb is None
            else "no WebRTC link between them"
        )
        memory = any(p.transport == "memory" and p.pid == b.pid for p in a.gun.mesh.peers.values())
        hint = "; they are linked in memory: use that link's MemoryLink.cut()" if memory else ""
        raise GunError(f"{label}: nothing to cut, {why}{hint}")
    if ra is not None and b.pid in ra.links:
        await ra.drop(b.pid, "cut by the Lab")
    elif rb is not None:
        await rb.drop(a.pid, "cut by the Lab")
