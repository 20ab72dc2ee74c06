"""A relay on memory wires for Lab tests: a super peer with acks, routing as the Lab's relay
does (a put goes only to the connections that asked for its soul), named and owned by the Lab
so its views draw it as a relay and ``lab.close()`` stops it."""

from __future__ import annotations

from gunrtc_kit.lab import Lab, LabPeer
from gunrtc_kit.root import Gun


def memory_relay(lab: Lab, name: str = "hub", timeout: float = 10.0) -> LabPeer:
    """Start the relay on the Lab's runtime and register it as the Lab's peer ``name``."""

    async def make() -> Gun:
        return await Gun(super_peer=True, acks=True, bus=lab.bus).start()

    gun = lab.rt.run_sync(make(), timeout)
    lab._owned.guns.append(gun)
    p = lab.peers[name] = LabPeer(lab, name, gun)
    lab._name(gun.pid, name, "relay")
    return p
