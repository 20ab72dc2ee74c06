"""A peer that says it is alice in its ``?`` is not shown as alice.

Who said a message is the wire it arrived on. Mallory opens her own WebSocket to a real relay
(the Lab's, on 127.0.0.1), answers the relay's ``?`` with alice's pid and then puts: the views
(flow rows, the message's fate, the mesh) must not say alice put it, and the directory must list
the claim."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from gunrtc_kit.lab import Lab
from tests.adversarial.hostile import messages, raw_client
from tests.helpers import until


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()  # a real relay on 127.0.0.1:0 and peers that dial it
    yield lab
    lab.close()


async def mallory(url: str, pid: str, mid: str) -> None:
    """Dial the relay, answer its ``?`` with ``pid`` (not ours), put, wait for the ack."""
    async with raw_client(url) as ws:
        async with asyncio.timeout(10):
            hello = next(m for m in messages(await ws.recv()) if m.get("dam") == "?")
        await ws.send(json.dumps({"#": "mal-hi", "dam": "?", "pid": pid, "@": hello["#"]}))
        state = time.time() * 1000
        put = {"doc": {"_": {"#": "doc", ">": {"who": state}}, "who": "mallory"}}
        await ws.send(json.dumps({"#": mid, "put": put}))
        async with asyncio.timeout(10):
            while not any(m.get("@") == mid for m in messages(await ws.recv())):
                pass


def test_a_wire_claiming_alices_pid_is_flagged_not_drawn_as_alice(lab: Lab) -> None:
    alice, bob = lab.peer("alice", rtc=False), lab.peer("bob", rtc=False)
    assert lab.relay is not None
    relay_pid, url = lab.relay.pid, lab.relay.url

    async def both_known() -> None:
        def ok() -> bool:  # the relay has learned both honest pids from their '?'
            lab.refresh()
            return {alice.pid, bob.pid} <= set(lab.directory.lanes)

        await until(ok, 10)

    asyncio.run(both_known())
    honest = alice.put("note", {"by": "alice"})
    mid = "mallory-put-1"
    asyncio.run(mallory(url, alice.pid, mid))
    flow = lab.flow_view()

    async def seen() -> None:
        def ok() -> bool:
            lab.refresh()
            rows = {r.mid for r in flow.rows}
            return mid in rows and honest in rows

        await until(ok, 10)

    asyncio.run(seen())
    # the flow: mallory's put came from a claim of alice, never from alice
    src = {r.src for r in flow.rows if r.mid == mid and r.dst == "relay"}
    assert len(src) == 1 and next(iter(src)).startswith("⚠ claims alice (wire ")
    assert all("alice" not in (r.src, r.dst) for r in flow.rows if r.mid == mid)
    # the honest put is still alice's
    assert {r.src for r in flow.rows if r.mid == honest and r.dst == "relay"} == {"alice"}
    # the message's detail (summary and fate) names the claim, not alice
    detail = flow.select(mid)
    assert detail["summary"].startswith(f"put #{mid} from ⚠ claims alice")
    lines = [s["text"] for s in detail["fate"]]
    assert any(t.startswith("relay heard it from ⚠ claims alice") for t in lines)
    assert not any("from alice" in t for t in lines + [detail["summary"]])
    # the directory lists the claim: who was claimed, at which node, and why it was doubted
    claims = lab.directory.claims()
    assert [(c.node, c.pid) for c in claims] == [(relay_pid, alice.pid)]
    claim = claims[0]
    assert claim.entity == f"claim:{claim.peer}" and lab.directory.role(claim.entity) == "claim"
    assert lab.directory.label(claim.entity) == next(iter(src))
    assert "alice" in claim.why
    # the mesh: the claim is a node of its own next to alice
    hub = lab.mesh_view().hub
    lab.refresh()
    assert {claim.entity, alice.pid, bob.pid, relay_pid} <= set(hub.mesh.nodes)
