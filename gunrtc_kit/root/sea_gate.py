"""The SEA gate: SEA's write checks on every put into a ``~`` or ``#`` soul, heard or local.

A put heard is checked before it is merged; a refused key is neither merged, stored nor
relayed, and the sender gets ``err`` with Gun's text. Bounded against a hostile connection:
at most ``MAX_SEA_KEYS`` keys per put, a put of more than ``SEA_SLICE`` keys verified a slice
per loop turn by a task of the root, ``MAX_SEA_PENDING`` such puts at once. A local put is
signed in the logged-in user's space, then checked as a put from the wire is."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gunrtc_kit import root
from gunrtc_kit.root import merge

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.errors import SeaError
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun


def sea_guarded(put: Any) -> bool:
    """Whether a put holds a soul SEA checks (a ``~`` or ``#`` in it): the one test a graph
    of ordinary souls pays (``gunrtc_kit.sea.check.guarded``, inlined here)."""
    if isinstance(put, dict):
        for soul in put:
            if isinstance(soul, str) and ("~" in soul or "#" in soul):
                return True
    return False


class SeaGate:
    """SEA's checks for one root, and the count of big puts being verified a slice a turn."""

    __slots__ = ("gun", "pending")

    def __init__(self, gun: Gun) -> None:
        self.gun = gun
        self.pending = 0

    def heard(self, msg: Message, peer: MeshPeer) -> Message | None:
        """SEA's write checks (``gunrtc_kit.sea.check``) on a put from the wire, before the
        merge: the message goes on as a copy holding the admitted keys (None if none is
        left), and the sender gets ``err`` with the first refusal's text (each is traced
        with its soul and key)."""
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
        if n > root.SEA_SLICE:
            self._sliced(msg, peer)
            return None
        admitted, refused = check_graph(msg["put"], gun.graph.nodes)
        return self._verdict(msg, peer, admitted, refused)

    def _sliced(self, msg: Message, peer: MeshPeer) -> None:
        """A put of many signed keys: verified ``SEA_SLICE`` keys per loop turn by a task of
        the root (each verification is about 80 us; 10,000 at once held the loop 0.8 s for
        every other connection), then merged and passed on as if it arrived then (Gun.js too
        verifies asynchronously). At most ``MAX_SEA_PENDING`` such puts wait at once; past
        that the sender gets ``err`` and may send again."""
        gun = self.gun
        mid = str(msg.get("#", ""))
        if self.pending >= root.MAX_SEA_PENDING:
            why = f"SEA: {self.pending} big puts already being verified; send it again later"
            gun._error(why, peer.id, mid)
            if "@" not in msg:
                gun.mesh.say({"@": mid, "err": why}, peer)
            return
        self.pending += 1
        gun._sched.spawn(self._check_slowly(msg, peer), f"SEA check of {mid}")

    async def _check_slowly(self, msg: Message, peer: MeshPeer) -> None:
        from gunrtc_kit.sea.check import check_graph_steps

        gun = self.gun
        try:
            steps = check_graph_steps(msg["put"], gun.graph.nodes, every=root.SEA_SLICE)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    admitted, refused = done.value
                    break
                await asyncio.sleep(0)  # the next slice in a later turn: others go first
        finally:
            self.pending -= 1
        if gun.closed:
            return
        checked = self._verdict(msg, peer, admitted, refused)
        if checked is None or not merge.merge_heard(gun, checked, peer):
            return
        ack = checked.get("@")
        listener = gun._replies.listeners.get(ack) if isinstance(ack, str) else None
        gun._after_heard(checked, peer, ack, listener)

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
