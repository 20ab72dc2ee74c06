"""Property (hypothesis, stateful): whatever happens to a small mesh on in-memory links
(random puts, partitions and heals, links losing every frame, cut links, the relay going away
and coming back, peers asking for souls or following them), a doctor pass with
``heal`` leaves every peer with the same graph (``converged()``), and before it,
whenever the peers disagree, the doctor names for every differing field at least one reason
that covers every peer holding it back.

Bounded so it stays well under a minute on two cores: three peers and a memory relay, a few
examples of a few steps each, no deadline (the runtime thread is shared with other work)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from gunrtc_kit import trace
from gunrtc_kit.lab import Lab, MemoryLink
from gunrtc_kit.lab.doctor import lab_heal_sync
from tests.lab.relays import memory_relay

WAIT = 10.0
PEERS = ("p0", "p1", "p2")
SOULS = ("chat", "todo")
KEYS = ("a", "b")
# which pairs are linked: every peer to the relay, and p0-p1 directly (plain flooding)
PAIRS = (("p0", "hub"), ("p1", "hub"), ("p2", "hub"), ("p0", "p1"))


class Mesh(RuleBasedStateMachine):
    """Three memory peers around a memory relay, with faults."""

    def __init__(self) -> None:
        super().__init__()
        self.lab = Lab(relay=False)
        self.hub = memory_relay(self.lab)
        self.p = {n: self.lab.memory_peer(n) for n in PEERS}
        self.p["hub"] = self.hub
        self.links: dict[tuple[str, str], MemoryLink] = {}
        for pair in PAIRS:
            self._link(pair)
        self.n = 0

    def _link(self, pair: tuple[str, str]) -> None:
        a, b = self.p[pair[0]], self.p[pair[1]]
        self.links[pair] = self.lab.link_memory(a, b)
        self.lab.bus.wait_for(
            lambda e: isinstance(e, trace.Link) and e.node == a.pid and e.pid == b.pid,
            WAIT,
            past=True,
        )

    def _quiet(self) -> None:
        """Let the runtime run what is queued (memory wires deliver with call_soon): a few
        round trips through its loop, each queued behind the work before it."""
        for _ in range(30):
            self.lab.rt.call(lambda: None)

    @rule(peer=st.sampled_from(PEERS), soul=st.sampled_from(SOULS), key=st.sampled_from(KEYS))
    def put(self, peer: str, soul: str, key: str) -> None:
        self.n += 1
        self.p[peer].put([soul, key], f"{peer}-{self.n}")

    @rule(peer=st.sampled_from(PEERS), soul=st.sampled_from(SOULS), follow=st.booleans())
    def ask(self, peer: str, soul: str, follow: bool) -> None:
        p = self.p[peer]
        if follow:
            self.lab.rt.call(lambda: p.gun.get(soul).on(lambda v, k: None))
        else:
            self.lab.rt.call(lambda: p.gun.spawn(p.gun.fetch({"#": soul}, 0.2), "ask"))

    @rule(pair=st.sampled_from(PAIRS), on=st.booleans())
    def partition(self, pair: tuple[str, str], on: bool) -> None:
        link = self.links[pair]
        if not link.closed:
            link.set(partitioned=on)

    @rule(pair=st.sampled_from(PAIRS), total=st.booleans())
    def lose(self, pair: tuple[str, str], total: bool) -> None:
        link = self.links[pair]
        if not link.closed:
            link.set(loss=1.0 if total else 0.0)

    @rule(pair=st.sampled_from(PAIRS))
    def cut(self, pair: tuple[str, str]) -> None:
        if not self.links[pair].closed:
            self.links[pair].cut()

    @rule(pair=st.sampled_from(PAIRS))
    def relink(self, pair: tuple[str, str]) -> None:
        if self.links[pair].closed:
            self._link(pair)

    @precondition(lambda self: any(not self.links[p].closed for p in PAIRS if "hub" in p))
    @rule()
    def relay_stops(self) -> None:
        for pair in PAIRS:
            if "hub" in pair and not self.links[pair].closed:
                self.links[pair].cut()

    @precondition(lambda self: all(self.links[p].closed for p in PAIRS if "hub" in p))
    @rule()
    def relay_starts(self) -> None:
        for pair in PAIRS:
            if "hub" in pair:
                self._link(pair)

    def teardown(self) -> None:
        try:
            self._check()
        finally:
            self.lab.close()

    def _check(self) -> None:
        self._quiet()
        before = self.lab.doctor()
        for f in before.findings:
            covered = {p for r in f.reasons for p in r.peers}
            behind = {h.pid for h in f.holdings if not h.current}
            assert behind <= covered, f"unexplained {f.soul}.{f.key}:\n{before}"
        after = lab_heal_sync(self.lab, rounds=6, fetch_timeout=0.5)
        assert after, str(after)
        self._quiet()
        converged: Any = self.lab.converged()
        assert converged is True, str(converged)


Mesh.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # the same examples on every run: a CI run must not pass or fail by the draw; a case a
    # random run found is kept below as a test of its own
    derandomize=True,
)
TestConvergence = Mesh.TestCase


def test_a_get_lost_to_a_partition_then_a_relay_restart_is_explained() -> None:
    # found by a random run: a get dropped on a partition, then the relay's links cut and
    # made again (the partition gone with them); the doctor now names the lost get
    # (not_reasked: the relay never followed the soul for p2, and p2 never asked again)
    state = Mesh()
    try:
        state.put(key="a", peer="p0", soul="chat")
        state.partition(on=True, pair=("p2", "hub"))
        state.ask(follow=False, peer="p2", soul="chat")
        state.relay_stops()
        state.relay_starts()
    finally:
        state.teardown()
