"""One wire contract and the checks every wire passes (trio's ``check_one_way_stream``).

A wire (``gunrtc_kit.dam.peer.Wire``) is ``send(text)``, ``close()`` and ``transport``; it feeds
what arrives to its mesh and tells the mesh ``bye`` when it closes. The contract, as checked
here on a fresh pair of ends per check:

- text arrives intact both ways, non-ASCII included, up to the wire's size limit;
- a wire that declares ``ordered`` keeps the order; one that declares ``reliable`` loses
  nothing (an unreliable wire only has to deliver what it delivers intact, once each);
- closing either end reaches the other (its mesh hears ``bye``), and from then on ``send`` on
  both ends raises ``NetworkError`` (the mesh queues on that);
- a frame over the wire's limit raises ``LimitError`` naming the limit, and the wire stays open;
- nothing is delivered to an end after it was closed, and ``close`` may be called again.

Each wire is met through a ``Pair``: its two ends, the ``Consumer`` meshes they feed (real
``Mesh`` objects that record frames instead of parsing DAM, and never greet, so a wire carries
only the checks' frames), and the limit the pair was built with. ``check_wire(make_pair)``
runs every check, each on a pair of its own; ``make_pair`` is an async context manager factory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import pytest

from gunrtc_kit import trace
from gunrtc_kit.dam.mesh import Mesh, Message, Parsed
from gunrtc_kit.dam.peer import MeshPeer, Wire
from gunrtc_kit.errors import GunError, LimitError, NetworkError

__all__ = ["CHECKS", "Consumer", "Pair", "check_wire"]

WAIT = 10.0  # seconds a check gives frames or a bye to arrive
QUIET = 0.3  # seconds a check watches for frames that must not arrive (a negative can't be awaited)
UNBOUNDED_BIG = 1 << 20  # the large frame sent on a wire with no limit (bytes)
TEXTS = (
    "plain ascii",
    "é ü ß ñ",  # two-byte UTF-8
    "漢字かな",  # three-byte
    "🦄 🌍 𝄞",  # four-byte: a surrogate pair in JavaScript, one code point here
    '{"#":"x","put":{"a":{"_":{"#":"a",">":{"k":1}},"k":"v\\u0000"}}}',  # DAM-like, escapes
    "",  # the empty frame
)


class Consumer(Mesh):
    """The mesh a wire end feeds, reduced to a recorder: every frame as it arrived (``frames``)
    and the ``bye`` s heard (``byes``)."""

    def __init__(self, bus: trace.TraceBus) -> None:
        super().__init__(clock_ms=lambda: time.time() * 1000.0, bus=bus)
        self.frames: list[str | bytes] = []
        self.byes = 0
        self._changed = asyncio.Event()

    def hear(self, raw: str | bytes, peer: MeshPeer) -> None:
        self._take(raw)

    def frame(
        self, raw: str | bytes, peer: MeshPeer, parsed: Parsed | GunError | None = None
    ) -> list[Message]:
        self._take(raw)
        return []

    def _take(self, raw: str | bytes) -> None:
        self.frames.append(raw)
        self._changed.set()

    def hi(self, peer: MeshPeer, *, greet: bool | None = None) -> None:
        super().hi(peer, greet=False)  # no '?': the wire carries the checks' frames only
        self._changed.set()

    def bye(self, peer: MeshPeer) -> None:
        if peer.met is not None:
            self.byes += 1
        super().bye(peer)
        self._changed.set()

    async def until(self, pred: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait until ``pred()`` holds, woken by each frame, hi or bye (bounded)."""
        async with asyncio.timeout(timeout):
            while not pred():
                self._changed.clear()
                await self._changed.wait()


@dataclass
class Pair:
    """Two connected ends of one wire and the meshes they feed: ``a`` feeds ``mesh_a``.

    ``max_frame``: the largest frame (UTF-8 bytes) the pair was built to carry, None for no
    limit. ``settle`` waits until an end's close has fully run (a connection closed in a task)."""

    a: Wire
    b: Wire
    mesh_a: Consumer
    mesh_b: Consumer
    max_frame: int | None
    settle: Callable[[], Awaitable[None]] | None = None

    @property
    def ordered(self) -> bool:
        """Both ends declare ``ordered``."""
        return _declared(self.a, "ordered") and _declared(self.b, "ordered")

    @property
    def reliable(self) -> bool:
        """Both ends declare ``reliable``."""
        return _declared(self.a, "reliable") and _declared(self.b, "reliable")

    def ends(self, which: str) -> tuple[Wire, Consumer, Wire, Consumer]:
        """(``which`` end, its mesh, the other end, its mesh); ``which`` is "a" or "b"."""
        if which == "a":
            return self.a, self.mesh_a, self.b, self.mesh_b
        return self.b, self.mesh_b, self.a, self.mesh_a


def _declared(wire: Wire, promise: str) -> bool:
    """What ``wire`` declares about ``promise`` (``ordered``/``reliable``): a wire must say."""
    value = getattr(wire, promise, None)
    assert isinstance(value, bool), f"{type(wire).__name__} does not declare {promise!r}"
    return value


MakePair = Callable[[], AbstractAsyncContextManager[Pair]]
Check = Callable[[Pair], Awaitable[None]]


def sized(n: int, tag: str = "") -> str:
    """A text of exactly ``n`` UTF-8 bytes with multi-byte characters at both ends and ``tag``
    near the start, so a truncation, a re-encoding or a mix-up of two frames all show."""
    head = f"é{tag}漢"
    tail = "🦄"
    fill = n - len((head + tail).encode())
    assert fill >= 0, n
    return head + "x" * fill + tail


async def _delivered(pair: Pair, sent: dict[str, list[str]]) -> None:
    """Wait until every frame sent arrives (reliable), or for a while (unreliable); then check
    what arrived: intact, each once, nothing made up, in order when the wire says ordered."""
    meshes = {"a": pair.mesh_b, "b": pair.mesh_a}  # frames sent from "a" arrive at mesh_b
    for side, texts in sent.items():
        mesh = meshes[side]
        await _arrived(mesh, len(texts), reliable=pair.reliable)
        assert all(isinstance(f, str) for f in mesh.frames), "a text frame arrived as bytes"
        got = [f for f in mesh.frames if isinstance(f, str)]
        assert len(set(got)) == len(got), "a frame arrived twice"
        assert set(got) <= set(texts), "a frame arrived that was never sent (or was altered)"
        if pair.reliable:
            assert sorted(got) == sorted(texts)
        else:
            assert got, "an unreliable wire still delivers on loopback; nothing came"
        if pair.ordered:
            rank = {t: i for i, t in enumerate(texts)}
            assert [rank[t] for t in got] == sorted(rank[t] for t in got), "order not kept"


async def _arrived(mesh: Consumer, count: int, *, reliable: bool) -> None:
    """Wait until ``mesh`` has ``count`` frames; on an unreliable wire, give up quietly after a
    while (some may be lost)."""
    try:
        await mesh.until(lambda: len(mesh.frames) >= count, WAIT if reliable else QUIET * 3)
    except TimeoutError:
        if reliable:
            raise


# ----------------------------------------------------------------------------- the checks
async def text_both_ways(pair: Pair) -> None:
    """Text frames, non-ASCII and empty ones included, arrive intact in both directions."""
    sent: dict[str, list[str]] = {"a": [], "b": []}
    for side, end in (("a", pair.a), ("b", pair.b)):
        for i, text in enumerate(TEXTS):
            frame = f"{side}{i}:{text}"
            end.send(frame)
            sent[side].append(frame)
    await _delivered(pair, sent)


async def large_frames(pair: Pair) -> None:
    """A frame of exactly the wire's limit (1 MiB when it has none) arrives intact both ways."""
    size = pair.max_frame or UNBOUNDED_BIG
    sent = {"a": [sized(size, "a")], "b": [sized(size, "b")]}
    pair.a.send(sent["a"][0])
    pair.b.send(sent["b"][0])
    await _delivered(pair, sent)


async def order_kept(pair: Pair) -> None:
    """A burst of frames keeps its order (checked only on a wire that declares ``ordered``; an
    unreliable ordered wire may skip frames but never swap two)."""
    if not pair.ordered:
        pytest.skip("the wire does not declare ordered")
    sent = {"a": [f"{i:05d}" + "ö" * (i % 7) for i in range(300)]}
    for text in sent["a"]:
        pair.a.send(text)
    await _delivered(pair, sent)


async def _close_reaches_other(pair: Pair, which: str) -> None:
    end, mesh, other, other_mesh = pair.ends(which)
    end.send("before close")  # in flight at the close: delivered or dropped, as the wire does
    end.close()
    with pytest.raises(NetworkError):
        end.send("right after close")  # before any of the closing has run
    await other_mesh.until(lambda: other_mesh.byes == 1)
    await mesh.until(lambda: mesh.byes == 1)
    for wire in (end, other):
        with pytest.raises(NetworkError):
            wire.send("after close")


async def close_from_a(pair: Pair) -> None:
    """Closing end ``a`` reaches ``b``: both meshes hear ``bye``. ``a`` refuses sends with
    ``NetworkError`` from the moment it is closed, ``b`` once the close reached it."""
    await _close_reaches_other(pair, "a")


async def close_from_b(pair: Pair) -> None:
    """The same, closing end ``b`` (for a client/server wire, the other role)."""
    await _close_reaches_other(pair, "b")


async def over_limit_refused(pair: Pair) -> None:
    """A frame one byte over the limit raises ``LimitError`` naming the limit; the wire is
    still open and carries the next frame."""
    if pair.max_frame is None:
        pytest.skip("the wire declares no frame limit")
    for end in (pair.a, pair.b):
        with pytest.raises(LimitError, match=str(pair.max_frame)):
            end.send(sized(pair.max_frame + 1))
    sent = {"a": ["still open a"], "b": ["still open b"]}
    pair.a.send(sent["a"][0])
    pair.b.send(sent["b"][0])
    await _delivered(pair, sent)


async def nothing_after_close(pair: Pair) -> None:
    """Frames on their way to an end when it closes are not delivered to it afterwards."""
    for i in range(50):
        pair.b.send(f"in flight {i}" + "ü" * 2000)
    pair.a.close()
    at_close = len(pair.mesh_a.frames)
    await pair.mesh_b.until(lambda: pair.mesh_b.byes == 1)
    if pair.settle is not None:
        await pair.settle()
    await asyncio.sleep(QUIET)  # watching for frames that must not come: no event to await
    assert len(pair.mesh_a.frames) == at_close, "frames delivered after close"


async def close_idempotent(pair: Pair) -> None:
    """``close`` may be called again on an end, and on the other end after the close reached
    it: nothing raises and each mesh hears exactly one ``bye``."""
    pair.a.close()
    pair.a.close()
    await pair.mesh_b.until(lambda: pair.mesh_b.byes == 1)
    pair.b.close()
    pair.a.close()
    if pair.settle is not None:
        await pair.settle()
    await asyncio.sleep(QUIET)  # a second bye would come late, if at all
    assert (pair.mesh_a.byes, pair.mesh_b.byes) == (1, 1)


#: every check, by name (the order they run in)
CHECKS: dict[str, Check] = {
    "text_both_ways": text_both_ways,
    "large_frames": large_frames,
    "order_kept": order_kept,
    "close_from_a": close_from_a,
    "close_from_b": close_from_b,
    "over_limit_refused": over_limit_refused,
    "nothing_after_close": nothing_after_close,
    "close_idempotent": close_idempotent,
}


async def check_wire(make_pair: MakePair, only: list[str] | None = None) -> list[str]:
    """Run the checks (all, or those named in ``only``) on ``make_pair()``'s wires, each check
    on a fresh pair; returns the names of those that did not apply to the wire (a lone check
    that does not apply skips the test, ``pytest.skip``)."""
    names = only if only is not None else list(CHECKS)
    skipped = []
    for name in names:
        async with make_pair() as pair:
            try:
                await CHECKS[name](pair)
            except pytest.skip.Exception:
                if len(names) == 1:
                    raise
                skipped.append(name)
    return skipped
