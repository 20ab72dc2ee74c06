"""A relay's subscriptions and routing, as Gun.js's AXE does on npm relays.

A relay (super peer) routes a put to the peers that asked for (GET) one of its souls, and to
the relays we dialled; a GET goes to those same peers; nothing else is relayed. Idle sockets
then cost nothing and a client sees only what it subscribed to. Unlike AXE we forward the put
as it came (same ``#``, all its keys) rather than a per-subscriber rewrite with a new id and
ack backtracking: acks then route back by ``@`` through the dedup table, as on a Gun relay
without AXE. At most ``MAX_SUBS_PER_PEER`` souls are followed for one connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gunrtc_kit import root, trace

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun


class Subscriptions:
    """Soul -> the peers that asked for it, and peer -> its souls (to forget them at bye)."""

    __slots__ = ("gun", "peer_subs", "subs")

    def __init__(self, gun: Gun) -> None:
        self.gun = gun
        self.subs: dict[str, dict[MeshPeer, None]] = {}
        self.peer_subs: dict[MeshPeer, set[str]] = {}

    def subscribe(self, peer: MeshPeer, get: Any) -> None:
        """Follow the soul ``peer`` asked for (a GET of one soul), up to the cap."""
        soul = get.get("#") if isinstance(get, dict) else None
        if not isinstance(soul, str) or not soul:
            return  # lex GETs are answered, not remembered
        mine = self.peer_subs.setdefault(peer, set())
        if soul in mine:
            return
        if len(mine) >= root.MAX_SUBS_PER_PEER:
            self.gun._error(
                f"peer {peer.id} asked for more than {root.MAX_SUBS_PER_PEER} souls; "
                f"{soul!r} is answered but not followed",
                peer.id,
            )
            return
        mine.add(soul)
        self.subs.setdefault(soul, {})[peer] = None

    def reask(self, relay: MeshPeer) -> None:
        """Ask ``relay`` (one we dialled, saying hi) for every soul our clients follow: after
        a restart it has forgotten our subscriptions, and without asking again its puts would
        stop reaching our clients (a one-way federation did lose them). At most
        ``MAX_REASK`` souls; past it an Error says how many were left out."""
        gun = self.gun
        souls = list(self.subs)
        for soul in souls[: root.MAX_REASK]:
            gun.mesh.say({"get": {"#": soul}}, relay)
        if len(souls) > root.MAX_REASK:
            gun._error(
                f"{len(souls)} souls followed; asked {relay.url} again for the first "
                f"{root.MAX_REASK} only (MAX_REASK)",
                relay.id,
            )

    def unsubscribe_all(self, peer: MeshPeer) -> None:
        """Forget every soul ``peer`` followed (it said bye)."""
        for soul in self.peer_subs.pop(peer, ()):
            subs = self.subs.get(soul)
            if subs is not None:
                subs.pop(peer, None)
                if not subs:
                    del self.subs[soul]

    def route(self, msg: Message, peer: MeshPeer) -> None:
        """Relay a request to the relays we dialled and the peers subscribed to its souls."""
        gun = self.gun
        put = msg.get("put")
        get = msg.get("get")
        if put is None and get is None:
            gun._dropped(
                peer, msg, trace.DropCause.NOTHING_TO_RELAY, "nothing to relay: no put, get or @"
            )
            return
        souls: list[Any] = []
        if isinstance(put, dict):
            souls = list(put)
        elif isinstance(get, dict) and isinstance(get.get("#"), str):
            souls = [get["#"]]
        targets: dict[MeshPeer, None] = {p: None for p in gun.mesh.peers.values() if p.url}
        for soul in souls:
            targets.update(self.subs.get(soul, {}))
        targets.pop(peer, None)
        if targets:
            gun.mesh.say(msg, targets=targets)
