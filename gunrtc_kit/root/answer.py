"""GETs answered from the graph: Gun's chunks of 9 keys, chained by ``%``.

A lex GET may match many souls: at most ``MAX_GET_SOULS`` are answered, their chunks packed
into replies of about ``codec.PACK`` characters, and an answer of more than ``GET_SLICE``
replies is sent a slice per loop turn by a task of the root, so other clients are not held
up. A GET we cannot read is traced and its asker told (Gun.js ignores it in silence)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gunrtc_kit import root
from gunrtc_kit.core import codec
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.errors import InvalidDataError

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun


def answer_get(gun: Gun, msg: Message, peer: MeshPeer) -> None:
    """Answer ``msg``'s GET to ``peer`` from ``gun``'s graph (a store says "not found")."""
    get = msg["get"]
    mid = str(msg.get("#", ""))
    if not isinstance(get, dict) or "#" not in get:
        _bad_get(gun, msg, peer, "get without a soul ('#')")
        return
    try:
        found = gun.graph.read(get)
    except (InvalidDataError, TypeError, ValueError) as exc:
        _bad_get(gun, msg, peer, f"bad get: {exc}")
        return
    if not found:
        if gun.acks:
            gun.mesh.say({"@": mid}, peer)  # "not found" from a store (gun store.js)
        return
    most = root.MAX_GET_SOULS
    if len(found) > most:
        gun._error(
            f"lex get matched {len(found)} souls; answered with the first {most}", peer.id, mid
        )
        found = dict(itertools.islice(found.items(), most))
    replies = _reply_graphs(gun, found)
    if len(replies) <= root.GET_SLICE:
        for reply in _chained(mid, replies):
            gun.mesh.say(reply, peer)
    else:
        gun._sched.spawn(_send_replies_slowly(gun, mid, replies, peer), f"answer {mid}")


def _bad_get(gun: Gun, msg: Message, peer: MeshPeer, err: str) -> None:
    """A GET we cannot read: traced, and the asker told."""
    mid = str(msg.get("#", ""))
    gun._error(err, peer.id, mid)
    gun.mesh.say({"@": mid, "err": err}, peer)


def _reply_graphs(gun: Gun, found: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One soul: gun's 9-key chunks. Many souls (a lex GET): chunks packed together into
    replies of about ``codec.PACK`` characters each, so 100k souls are not 100k replies."""
    chunks = gun.graph.chunks(found)
    if len(found) == 1:
        return chunks
    packed: list[dict[str, Any]] = []
    size = 0
    for chunk in chunks:
        n = len(codec.dumps(chunk))
        if packed and size + n <= codec.PACK and not (set(chunk) & set(packed[-1])):
            packed[-1].update(chunk)
            size += n
        else:
            packed.append(dict(chunk))
            size = n
    return packed


def _chained(mid: str, replies: list[dict[str, Any]]) -> Iterator[Message]:
    """The reply messages of one answer, each naming the next in ``%`` (gun's chunks)."""
    ids = [random_id(9) for _ in replies]
    for i, graph in enumerate(replies):
        reply: Message = {"#": ids[i], "@": mid, "put": graph}
        if i + 1 < len(replies):
            reply["%"] = ids[i + 1]
        yield reply


async def _send_replies_slowly(
    gun: Gun, mid: str, replies: list[dict[str, Any]], peer: MeshPeer
) -> None:
    """A big answer, ``GET_SLICE`` replies per turn, so other clients are not held up."""
    for i, reply in enumerate(_chained(mid, replies)):
        if peer.met is None:
            return  # the asker left
        gun.mesh.say(reply, peer)
        if i % root.GET_SLICE == root.GET_SLICE - 1:
            await asyncio.sleep(0)
