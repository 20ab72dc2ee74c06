"""Group commit: the store writes of one loop turn committed together, then acked.

Every write to the store keeps an undo record (what its keys held before) until the turn's
one commit; if the store fails, every write of the group is taken back out of memory and
its writer gets ``err`` (the store rolled its transaction back, memory must agree). On a
relay, the puts of the turn are forwarded only once they are on disk."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import StoreError
from gunrtc_kit.root.cache import NodeCache

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun

_MISSING = object()  # an undo record's "the key was not there"

Undo = list[tuple[str, str, Any]]


class GroupCommit:
    """This turn's uncommitted writes, the acks and forwards that wait for their commit."""

    __slots__ = ("failed", "forwards", "gun", "pending_acks", "scheduled", "uncommitted")

    def __init__(self, gun: Gun) -> None:
        self.gun = gun
        self.pending_acks: list[Message] = []
        # undo records of the store writes not yet committed: (msg id, [(soul, key, old)])
        self.uncommitted: list[tuple[str, Undo]] = []
        self.scheduled = False
        self.forwards: list[tuple[Message, MeshPeer]] = []
        self.failed: dict[str, None] = {}  # a set, as a dict: lighter empty, one per peer

    def undo_record(self, put: dict[str, Any]) -> Undo:
        """What the keys of ``put`` hold now, to put back if the store fails to keep them."""
        undo: Undo = []
        nodes = self.gun.graph.nodes
        for soul, node in put.items():
            if not isinstance(node, dict):
                continue
            have = nodes.get(soul)
            for key in node:
                if key == "_":
                    continue
                if have is None or key not in have:
                    undo.append((soul, key, _MISSING))
                else:
                    undo.append((soul, key, (have[key], have["_"][">"].get(key))))
        return undo

    def write(self, diff: dict[str, dict[str, Any]], mid: str, undo: Undo | None) -> bool:
        """Write what a merge changed to the store (committed with the turn's group). False
        when the store could not take it: memory is then rolled back with the group."""
        store = self.gun.store
        assert store is not None
        try:
            store.write(diff)
        except StoreError as exc:
            self.rollback(undo or [], str(exc), mid)
            return False
        nodes = self.gun.graph.nodes
        if isinstance(nodes, NodeCache):
            nodes.wrote(diff)  # kept in memory until committed
        self.uncommitted.append((mid, undo or []))
        self.schedule()
        return True

    def queue_ack(self, mid: str) -> None:
        """Ack put ``mid`` once this turn's writes are committed."""
        self.pending_acks.append({"@": mid, "ok": True})
        self.schedule()

    def forward(self, msg: Message, peer: MeshPeer) -> None:
        """Route a relay's put on once it is on disk (after this turn's commit)."""
        self.forwards.append((msg, peer))
        self.schedule()

    def schedule(self) -> None:
        """Flush the group at the end of this turn (once, however many writes it holds)."""
        if not self.scheduled:
            self.scheduled = True
            self.gun._sched.call_soon(self.flush)

    def flush(self) -> None:
        """Group commit: one disk commit for the writes of this turn, then their acks and (on
        a relay) the forwarding of their puts. If the commit fails, every write of the group
        is taken back out of memory and its writer gets ``err``; the next turn starts
        afresh."""
        gun = self.gun
        self.scheduled = False
        if gun.store is not None and self.uncommitted:
            try:
                gun.store.commit()
            except StoreError as exc:
                self.rollback([], str(exc), "")
        self.uncommitted.clear()
        nodes = gun.graph.nodes
        if isinstance(nodes, NodeCache):
            nodes.committed()  # on disk (or rolled back in both): evictable again
        acks, self.pending_acks = self.pending_acks, []
        forwards, self.forwards = self.forwards, []
        for a in acks:
            gun.mesh.say(a)
        for msg, peer in forwards:
            if str(msg.get("#", "")) not in self.failed:
                gun._axe.route(msg, peer)
        self.failed.clear()

    def rollback(self, undo: Undo, why: str, mid: str) -> None:
        """The store lost this turn's writes: restore memory to before them, and turn every
        pending ack of the group into an ``err`` (the store rolled its transaction back)."""
        gun = self.gun
        groups = [*self.uncommitted, (mid, undo)]
        self.uncommitted.clear()
        with contextlib.suppress(StoreError):
            assert gun.store is not None
            gun.store.rollback()
        failed = {m for m, _ in groups if m}
        _restore(gun.graph.nodes, groups)
        self.failed.update(dict.fromkeys(failed))
        err = f"store failed: {why}"
        gun._error(f"{err}; {len(failed)} writes rolled back", msg_id=mid)
        for a in self.pending_acks:
            if a.get("@") in failed:
                a.pop("ok", None)
                a["err"] = err
        for m in failed - {a.get("@") for a in self.pending_acks}:
            self.pending_acks.append({"@": m, "err": err})
        self.schedule()


def _restore(nodes: dict[str, Any], groups: list[tuple[str, Undo]]) -> None:
    """Put back what the undo records of ``groups`` say the keys held, newest write first."""
    for _, records in reversed(groups):
        for soul, key, old in reversed(records):
            node = nodes.get(soul)
            if node is None:
                continue
            if old is _MISSING:
                node.pop(key, None)
                node["_"][">"].pop(key, None)
                if len(node) == 1:
                    del nodes[soul]
            else:
                node[key], node["_"][">"][key] = old
