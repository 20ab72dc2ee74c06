"""A graph applied to the root: admitted, merged through HAM, stored, traced, watched.

Both ways a graph comes in share the tail here (``after_merge``): a put heard from a peer
(``merge_heard``: checked, bounded by ``max_nodes`` on a plain peer, its listeners told what
was sent) and a local put (``Gun.put_graph``), and a key applied late once its future state
is reached (``deferred``). Functions of the root, not a class: they hold no state of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gunrtc_kit import root, trace
from gunrtc_kit.core import opts

if TYPE_CHECKING:
    from gunrtc_kit.core.graph import Deferred
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.commit import Undo
    from gunrtc_kit.root.gun import Gun


def merge_heard(gun: Gun, msg: Message, peer: MeshPeer) -> bool:
    """Merge the put of a message heard from ``peer``; False when it is not to go on (invalid,
    refused, or nothing left of it), the sender told why."""
    put = msg["put"]
    mid = str(msg.get("#", ""))
    if not isinstance(put, dict):
        reject(gun, msg, peer, "Error: Invalid graph! put is not an object.")
        return False
    if "#" in put and "." in put:
        return False  # gun.js ignores the single-key internal form on the wire
    if gun.max_nodes is not None:
        put = _admit(gun, put, peer, mid, msg)
        if not put:
            return False
    undo = gun._commit.undo_record(put) if gun.store is not None else None
    result = gun.graph.merge(put, gun.machine())
    heard = gun._heard_puts
    for soul in [s for s in heard if s in put]:
        node = put[soul]
        if isinstance(node, dict):
            for fn in list(heard.get(soul, ())):
                fn(soul, node, msg)
    if not after_merge(gun, result.diff, result.deferred, msg, mid, undo):
        return False
    refused = gun._held.defer(result.deferred, msg) if result.deferred else 0
    if result.error is not None:
        reject(gun, msg, peer, result.error)
        return False
    if refused:
        reject(
            gun,
            msg,
            peer,
            f"Error: {refused} keys with a future state refused: {root.MAX_DEFERRED} are "
            "already waiting for their time.",
        )
        return False
    if gun.acks and "@" not in msg:
        if result.accepted:
            gun._commit.queue_ack(mid)
        elif result.deferred:
            gun._held.acks[mid] = None
    # a relay passes on no put that changed nothing now (stale; future keys: once they land),
    # but for WebRTC room announcements: peers joining at once all write the room's '+', so
    # most announcements lose to a newer one, and each must still reach the room (its replies
    # are the offers; without them, pairs that announced at once never linked)
    if result.accepted or not gun.super_peer or "@" in msg:
        return True
    return all(isinstance(s, str) and s.startswith(opts.RTC_ROOM_PREFIX) for s in put)


def _admit(
    gun: Gun, put: dict[str, Any], peer: MeshPeer, mid: str, put_msg: Message
) -> dict[str, Any]:
    """The part of a remote put a plain peer takes: souls it holds, and new ones while it
    holds fewer than ``max_nodes`` (a relay that floods us with souls cannot grow us
    without bound; Gun.js has no such limit)."""
    assert gun.max_nodes is not None
    nodes = gun.graph.nodes
    room = gun.max_nodes - len(nodes)
    new = [s for s in put if s not in nodes]
    if len(new) <= room:
        return put
    keep = set(new[: max(room, 0)])
    admitted = {s: n for s, n in put.items() if s in nodes or s in keep}
    err = (
        f"graph full (max_nodes={gun.max_nodes}): {len(new) - len(keep)} new souls of a put refused"
    )
    gun._error(err, peer.id, mid)
    if "@" not in put_msg:
        gun.mesh.say({"@": mid, "err": f"Error: {err}."}, peer)  # tell the sender
    return admitted


def reject(gun: Gun, msg: Message, peer: MeshPeer, err: str) -> None:
    """A put not taken: traced, and its sender told with ``err`` (unless it was a reply)."""
    mid = str(msg.get("#", ""))
    gun._error(err, peer.id, mid)
    if "@" not in msg:
        gun.mesh.say({"@": mid, "err": err}, peer)


def after_merge(
    gun: Gun,
    diff: dict[str, dict[str, Any]],
    deferred: list[Deferred],
    msg: Message,
    mid: str,
    undo: Undo | None = None,
    held: bool = False,
) -> bool:
    """Persist, trace and tell watchers what a merge changed (``held``: a key applied late,
    once its future state was reached). False when the store could not take it: memory is
    then rolled back (with the rest of this turn's group), and the writers of the group get
    ``err``."""
    if not diff:
        return True
    if gun.store is not None and not gun._commit.write(diff, mid, undo):
        return False
    if gun.bus.wants(trace.Put):
        _emit_put(gun, diff, deferred, mid, held)
    watch = gun._watch
    for soul, node in diff.items():
        for fn in list(watch.get(soul, ())):
            try:
                fn(soul, node, msg)
            except Exception as exc:
                root.log.warning("watcher of %r failed: %r", soul, exc)
                gun._error(f"callback for {soul!r} failed: {exc!r}", msg_id=mid)
    return True


def _emit_put(
    gun: Gun, diff: dict[str, dict[str, Any]], deferred: list[Deferred], mid: str, held: bool
) -> None:
    gun.bus.emit(
        trace.Put(
            gun.bus.now(),
            gun.pid,
            msg_id=mid,
            changes={s: [k for k in n if k != "_"] for s, n in diff.items()},
            deferred=len(deferred),
            values={s: {k: v for k, v in n.items() if k != "_"} for s, n in diff.items()},
            states={
                s: {
                    k: st
                    for k, st in ((n.get("_") or {}).get(">") or {}).items()
                    if k in n and k != "_"
                }
                for s, n in diff.items()
            },
            held=held,
        )
    )
