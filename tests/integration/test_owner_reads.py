"""Reads from another thread (a notebook's repr of a chain or a Lab's peer) run on the thread
that owns the graph, its loop's: copying a dict beside the loop that changes it races."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

from gunrtc_kit import Gun
from gunrtc_kit.lab import Lab


@contextlib.contextmanager
def gun_on_its_own_thread(*, hold: bool) -> Iterator[tuple[Gun, threading.Thread]]:
    """A started root whose loop runs on a thread of its own (as a Lab's peers do): the root
    and that thread. With ``hold`` the loop is blocked until the block ends (nothing
    scheduled on it runs); else it keeps turning."""
    ready, done = threading.Event(), threading.Event()
    box: dict[str, object] = {}

    def owner() -> None:
        async def main() -> None:
            gun = await Gun().start()
            gun.get("doc").get("x").put(1)  # applied locally at once (a plain peer never acks)
            box["gun"], box["thread"] = gun, threading.current_thread()
            ready.set()
            if hold:
                done.wait(10)  # the loop is held here
            while not done.is_set():
                await asyncio.sleep(0.01)
            await gun.close()

        asyncio.run(main())

    t = threading.Thread(target=owner)
    t.start()
    try:
        assert ready.wait(10)
        gun, thread = box["gun"], box["thread"]
        assert isinstance(gun, Gun) and isinstance(thread, threading.Thread)
        yield gun, thread
    finally:
        done.set()
        t.join(10)


def test_a_read_from_another_thread_runs_on_the_roots_loop_thread() -> None:
    with gun_on_its_own_thread(hold=False) as (gun, owner):
        seen: list[threading.Thread] = []

        def probe() -> int:
            seen.append(threading.current_thread())
            return len(gun.graph.nodes)

        assert gun.read_now(probe, -1) >= 1
        assert seen == [owner]  # not this thread
        assert "1" in repr(gun.get("doc").get("x"))  # the chain's repr reads there too


def test_a_read_gives_its_default_when_the_loop_is_busy() -> None:
    with gun_on_its_own_thread(hold=True) as (gun, _owner):
        t0 = time.monotonic()
        assert gun.read_now(lambda: "read", "busy", wait=0.2) == "busy"
        assert time.monotonic() - t0 < 5  # bounded by wait, never a hang (generous bound)


def test_a_lab_peers_repr_reads_on_the_runtime_thread() -> None:
    lab = Lab(relay=False)
    try:
        a, b = lab.memory_peer("a"), lab.memory_peer("b")
        lab.link_memory(a, b)
        seen: list[str] = []
        real = a._links

        def links() -> list[tuple[str, str]]:
            seen.append(threading.current_thread().name)
            return real()

        a._links = links  # type: ignore[method-assign]
        assert "links=1 [memory b]" in repr(a)
        assert seen and all(n == lab.rt.thread.name for n in seen)
    finally:
        lab.close()
