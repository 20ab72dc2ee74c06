"""The SEA gate: SEA's write checks on every put into a ``~`` or ``#`` soul, heard or local.

A put heard is checked before it is merged; a refused key is neither merged, stored nor
relayed, and the sender gets ``err`` with Gun's text. Bounded against hostile connections,
and fair between them (each verification is about 80 us of CPU): at most ``MAX_SEA_KEYS``
keys per put; one budget of ``SEA_SLICE`` keys per loop turn shared by every connection
(``scheduler.FairWork``): a put checked at once counts against it, and once it is spent (or
its connection already has puts waiting) a put waits its connection's turn, verified
``SEA_STEP`` keys at a time, connections in turn. A connection may have ``MAX_SEA_PENDING``
puts (and ``MAX_SEA_KEYS`` keys) waiting; past that its sender gets ``err``, but a connection
with nothing waiting is always taken, so an honest writer is never refused because attackers
filled the queue. Checks for a connection that left are dropped. A local put is signed in the
logged-in user's space, then checked as a put from the wire is."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from gunrtc_kit import root, trace
from gunrtc_kit.root import merge
from gunrtc_kit.root.scheduler import FairWork

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.errors import SeaError
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun
    from gunrtc_kit.sea.check import Refusal


def sea_guarded(put: Any) -> bool:
    """Whether a put holds a soul SEA checks (a ``~`` or ``#`` in it): the one test a graph
    of ordinary souls pays (``gunrtc_kit.sea.check.guarded``, inlined here)."""
    if isinstance(put, dict):
        for soul in put:
            if isinstance(soul, str) and ("~" in soul or "#" in soul):
                return True
    return False


class _Check:
    """One put waiting for (or under) verification, and the keys it has left to check."""

    __slots__ = ("keys", "left", "msg", "peer", "steps")

    def __init__(self, msg: Message, peer: MeshPeer, keys: int) -> None:
        self.msg = msg
        self.peer = peer
        self.keys = keys
        self.left = keys
        self.steps: Generator[None, None, tuple[dict[str, Any], list[Refusal]]] | None = None


class SeaGate:
    """SEA's checks for one root, and the puts waiting their connection's turn."""

    __slots__ = ("gun", "keys", "work")

    def __init__(self, gun: Gun) -> None:
        self.gun = gun
        self.work: FairWork[MeshPeer, _Check] = FairWork(
            gun._sched, "SEA checks", self._step, lambda: root.SEA_SLICE
        )
        self.keys: dict[MeshPeer, int] = {}  # keys waiting, per connection

    @property
    def pending(self) -> int:
        """Puts waiting for (or under) verification, across every connection."""
        return self.work.total()

    def heard(self, msg: Message, peer: MeshPeer) -> Message | None:
        """SEA's write checks (``gunrtc_kit.sea.check``) on a put from the wire, before the
        merge: the message goes on as a copy holding the admitted keys (None if none is
        left, or if it waits its turn), and the sender gets ``err`` with the first refusal's
        text (each is traced with its soul and key)."""
        from gunrtc_kit.sea.check import check_graph, guarded_keys

        gun = self.gun
        mid = str(msg.get("#", ""))
        n = guarded_keys(msg["put"])
        if n > root.MAX_SEA_KEYS:
            why = f"SEA: {n} keys to verify in one put, over MAX_SEA_KEYS={root.MAX_SEA_KEYS}"
            gun._error(f"{why}; refused whole", peer.id, mid)
            if "@" not in msg:
                gun.mesh.say({"@": mid, "err": why}, peer)
            return None
        work = self.work
        if n > root.SEA_SLICE or work.queued(peer) or work.left() < n:
            self._queue(msg, peer, n)
            return None
        work.spend(n)
        admitted, refused = check_graph(msg["put"], gun.graph.nodes)
        return self._verdict(msg, peer, admitted, refused)

    def forget(self, peer: MeshPeer) -> None:
        """``peer`` left: the checks of its puts are dropped (each traced)."""
        self.keys.pop(peer, None)
        for job in self.work.drop(peer):
            self.gun._dropped(
                peer, job.msg, trace.DropCause.PEER_LEFT, "SEA check dropped: the sender left"
            )

    def _queue(self, msg: Message, peer: MeshPeer, n: int) -> None:
        """A put that waits its connection's turn to be verified (Gun.js too verifies
        asynchronously), then is merged and passed on as if it arrived then. Refused with
        ``err`` when its connection already has ``MAX_SEA_PENDING`` puts or ``MAX_SEA_KEYS``
        keys waiting; the sender may send it again."""
        gun = self.gun
        mid = str(msg.get("#", ""))
        waiting = self.work.queued(peer)
        keys = self.keys.get(peer, 0)
        if waiting and (waiting >= root.MAX_SEA_PENDING or keys + n > root.MAX_SEA_KEYS):
            why = (
                f"SEA: {waiting} puts ({keys} keys) of this connection already being "
                "verified; send it again later"
            )
            gun._error(why, peer.id, mid)
            if "@" not in msg:
                gun.mesh.say({"@": mid, "err": why}, peer)
            return
        self.keys[peer] = keys + n
        self.work.add(peer, _Check(msg, peer, n))

    def _step(self, job: _Check) -> tuple[bool, int]:
        """The worker's step for one connection: ``SEA_STEP`` more keys of its first put
        verified; once all are, the put is merged and passed on."""
        from gunrtc_kit.sea.check import check_graph_steps

        gun = self.gun
        if job.peer.met is None:  # the sender left (its bye drops the rest of its queue)
            self._done(job)
            return True, 0
        if job.steps is None:
            job.steps = check_graph_steps(job.msg["put"], gun.graph.nodes, every=root.SEA_STEP)
        cost = max(min(job.left, root.SEA_STEP), 1)
        job.left -= cost
        try:
            next(job.steps)
            return False, cost
        except StopIteration as finished:
            admitted, refused = finished.value
        self._done(job)
        if gun.closed:
            return True, cost
        checked = self._verdict(job.msg, job.peer, admitted, refused)
        if checked is None or not merge.merge_heard(gun, checked, job.peer):
            return True, cost
        ack = checked.get("@")
        listener = gun._replies.listeners.get(ack) if isinstance(ack, str) else None
        gun._after_heard(checked, job.peer, ack, listener)
        return True, cost

    def _done(self, job: _Check) -> None:
        left = self.keys.get(job.peer, 0) - job.keys
        if left > 0:
            self.keys[job.peer] = left
        else:
            self.keys.pop(job.peer, None)

    def _verdict(
        self, msg: Message, peer: MeshPeer, admitted: dict[str, Any], refused: list[Any]
    ) -> Message | None:
        """The message to go on with after SEA's checks (None: nothing admitted); each
        refusal traced, and the sender told the first with ``err``."""
        if not refused:
            return msg
        gun = self.gun
        mid = str(msg.get("#", ""))
        shown = root.SEA_TRACED
        for r in refused[:shown]:
            gun._error(f"SEA refused {r.soul!r} key {r.key!r}: {r.why}", peer.id, mid)
        if len(refused) > shown:
            more = len(refused) - shown
            gun._error(f"SEA refused {more} more keys of this put", peer.id, mid)
        if "@" not in msg:
            gun.mesh.say({"@": mid, "err": refused[0].why}, peer)
        return {**msg, "put": admitted} if admitted else None

    def local(
        self, graph: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, dict[str, Any]], SeaError | None]:
        """A local put: signed in the logged-in user's space (``sign_graph``), then checked as
        a put from the wire is. Returns the (signed) graph, and the error for the writer if
        any key is refused: a local put is then refused whole, nothing applied or sent (Gun.js
        writes its other keys; a half-applied write that raises is harder to reason about)."""
        from gunrtc_kit.errors import SeaError
        from gunrtc_kit.sea.check import check_graph, sign_graph

        gun = self.gun
        if gun.sea_pair is not None:
            try:
                graph = sign_graph(graph, gun.sea_pair)
            except SeaError as exc:
                return {}, exc
        _, refused = check_graph(graph, gun.graph.nodes)
        for r in refused:
            gun._error(f"SEA refused {r.soul!r} key {r.key!r}: {r.why}")
        return graph, SeaError(refused[0].why) if refused else None
