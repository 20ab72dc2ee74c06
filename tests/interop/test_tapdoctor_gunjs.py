"""The tap doctor against the real npm Gun.js relay and three Gun.js clients, on 127.0.0.1.

One client subscribes to soul S, one never does (it asks for another soul), one puts to S
(each also asks for a soul of its own, which makes a Gun.js client dial). The doctor, reading
only the tap's trace, finds exactly one thing: the one that never asked for S never asked for
S. Then the finding is checked against the clients themselves: each Gun.js client is asked,
through its own driver, what its own graph holds for S (``graph``: no network, no get): the
non-subscriber holds nothing, the subscriber and the writer hold the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.diagnose.tapdoctor import TapFindingKind, tap_doctor, tap_explain
from gunrtc_kit.diagnose.tapview import tap_clients
from gunrtc_kit.tap import Tap
from tests.interop.gunjs import GunJsPeer, GunJsRelay
from tests.interop.test_tap_gunjs import first, tapped  # one way to start and wait

pytestmark = [pytest.mark.asyncio, pytest.mark.interop]

WAIT = 15.0
S = "tapdoc/shared"


async def held(js: GunJsPeer, soul: str) -> Any:
    """What the Gun.js client's own graph holds for ``soul`` (None: nothing), asking no one."""
    n = len(js.events)
    await js.send({"cmd": "graph", "id": f"g{n}", "soul": soul})
    e = await js.wait_event(lambda e: e.get("event") == "graph" and e.get("id") == f"g{n}")
    return e["node"]


async def subscribed(tap: Tap, relay_pid: str, soul: str) -> None:
    """A client asked for ``soul`` and the relay answered it (so the relay took the get)."""
    ask = await first(
        tap,
        trace.Said,
        lambda e: (
            e.node != relay_pid
            and isinstance(e.msg.get("get"), dict)
            and e.msg["get"].get("#") == soul
        ),
    )
    await first(tap, trace.Said, lambda e: e.node == relay_pid and e.msg.get("@") == ask.msg["#"])


async def test_the_doctor_finds_the_client_that_never_asked(tmp_path: Path) -> None:
    async with GunJsRelay(radisk=tmp_path / "radata") as relay, tapped(relay) as tap:
        rpid = str(next(e for e in relay.events if e.get("event") == "listening")["pid"])
        http = tap.url.replace("ws://", "http://")
        async with GunJsPeer([http]) as sub, GunJsPeer([http]) as non, GunJsPeer([http]) as w:
            await sub.on(S)
            await non.on("tapdoc/elsewhere")
            await w.on("tapdoc/mine")
            for js in (sub, non, w):
                await js.wait_hi()
                await first(tap, trace.Link, lambda e, js=js: e.node == js.pid)
            await subscribed(tap, rpid, S)
            ack = await w.put(S, {"x": 1, "y": "two"})
            assert ack["err"] is None
            assert await sub.wait_data(S, "x") == 1
            put = await first(
                tap, trace.Said, lambda e: e.node == w.pid and S in (e.msg.get("put") or {})
            )
            await first(tap, trace.Ack, lambda e: e.reply_to == put.msg["#"])
            # what the clients themselves hold, each asked through its own driver
            assert await held(non, S) is None
            sub_node = await held(sub, S)
            assert {k: sub_node[k] for k in ("x", "y")} == {"x": 1, "y": "two"}
            assert (await held(w, S))["x"] == 1
            events = list(tap.bus.history)
    names = {sub.pid: "sub", non.pid: "non", w.pid: "writer"}
    found = tap_doctor(events, names=names)
    assert [(f.kind, f.client, f.soul) for f in found] == [
        (TapFindingKind.NEVER_ASKED, non.pid, S)
    ], [f.text for f in found]
    assert found[0].text.startswith(f"non never asked for soul {S!r}")
    assert put.msg["#"] in found[0].evidence
    # and the carried graphs agree with what each client holds
    views = tap_clients(events)
    assert set(views) == {sub.pid, non.pid, w.pid}
    assert views[sub.pid].graph_values()[S] == {"x": 1, "y": "two"}
    assert views[w.pid].graph_values()[S] == {"x": 1, "y": "two"}
    assert S not in views[non.pid].graph
    ex = tap_explain(events, sub.pid, S, "x", names=names)
    assert ex.held is not None and ex.held.copy.sender == rpid
    assert ex.held.author == "writer" and ex.held.author_mid == put.msg["#"]
    assert ex.held.copy.mid != put.msg["#"]  # the relay passed it on under a new id
