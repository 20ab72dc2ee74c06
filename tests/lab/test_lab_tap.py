"""``lab.tap``: a tap in front of a relay, live in the Lab's views (all on 127.0.0.1).

(a) The Lab's own relay behind the tap, two raw-socket Gun clients dialling the tap: a put
from one reaches the other; the views draw each client once, by its pid, as ``tapped``, one
edge per wire; fate holds what the frames did (sent by A, delivered to the relay's socket,
heard by the relay, which traces itself, relayed to B's socket, acked); a saved trace opens
with the same names and roles. (b) The same with the npm Gun.js relay and Gun.js Node
clients, where every event comes from the tap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from gunrtc_kit import trace
from gunrtc_kit.diagnose.fate_types import TAP_DELIVERED, Mark
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.tapping import ROLE

WAIT = 10.0
SOUL = "tapped/s"


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    yield lab
    lab.close()


class Raw:
    """A Gun client made of one raw WebSocket: it answers the relay's ``?`` with ``pid``."""

    def __init__(self, url: str, pid: str) -> None:
        self.pid = pid
        self.ws: ClientConnection = connect(url, compression=None).__enter__()
        hello = self.recv(lambda m: m.get("dam") == "?")
        self.send({"#": f"{pid}-hi", "dam": "?", "pid": pid, "@": hello["#"]})

    def send(self, msg: dict[str, Any]) -> None:
        self.ws.send(json.dumps(msg))

    def recv(self, pred: Any) -> dict[str, Any]:
        while True:
            raw = self.ws.recv(timeout=WAIT)
            data = json.loads(raw)
            for m in data if isinstance(data, list) else [data]:
                if isinstance(m, dict) and pred(m):
                    return m

    def close(self) -> None:
        self.ws.close()


def put_msg(mid: str) -> dict[str, Any]:
    return {"#": mid, "put": {SOUL: {"_": {"#": SOUL, ">": {"k": 1.0}}, "k": "v"}}}


def run_put_through_tap(lab: Lab, close: bool = True) -> tuple[Any, Raw, Raw, dict[str, Any]]:
    """Two raw clients behind a tap of the Lab's relay: B asks for SOUL, A puts to it, B gets
    it. With ``close`` both clients are closed (and their wires gone) before it returns."""
    tap = lab.tap(lab.url)
    a, b = Raw(tap.url, "rawA"), Raw(tap.url, "rawB")
    try:
        b.send({"#": "gB", "get": {"#": SOUL}})
        b.recv(lambda m: m.get("@") == "gB")  # the relay answered: b is subscribed
        a.send(put_msg("pA"))
        ack = a.recv(lambda m: m.get("@") == "pA")
        got = b.recv(lambda m: SOUL in (m.get("put") or {}))
    finally:
        if close:
            a.close()
            b.close()
    assert got["put"][SOUL]["k"] == "v" and not ack.get("err")
    if close:
        lab.bus.wait_for(lambda e: isinstance(e, trace.Bye) and e.node == "rawB", WAIT, past=True)
    return tap, a, b, got


def test_our_relay_behind_lab_tap_views_and_fate(lab: Lab, tmp_path: Path) -> None:
    tap, _a, _b, got = run_put_through_tap(lab)
    assert tap.url.startswith("ws://127.0.0.1:") and tap.url.endswith("/gun")
    assert tap.url in tap._repr_html_() and "instead of the relay" in tap._repr_html_()
    hub = lab._hub
    hub.refresh()
    relay = lab.relay
    assert relay is not None
    with hub.lock:
        d, mesh = hub.directory, hub.mesh
        labels = sorted(d.label(n) for n in mesh.nodes)
        roles = {d.label(n): d.role(n) for n in mesh.nodes}
        links = mesh.links()
        tapped = {e.id: e.tapped for e in mesh.edges.values()}
    # each client once, by its pid (never by its address), as a peer of its own kind
    assert labels == ["rawA", "rawB", "relay"], labels
    assert roles == {"rawA": ROLE, "rawB": ROLE, "relay": "relay"}
    # one wire per client: the relay's own wire and the tap's account of it are one edge
    assert [(x, y, tr) for x, y, tr, _s, _n in links] == [
        ("rawA", "relay", "ws"),
        ("rawB", "relay", "ws"),
    ]
    assert all(tap.tap.name == v for v in tapped.values()), tapped
    # messages per wire: each said once (the tap's account of the relay, which traces
    # itself, is left out, so nothing is counted twice)
    counts = {(x, y): n for x, y, _t, _s, n in links}
    said = lab.bus.events(trace.Said)
    for client in ("rawA", "rawB"):
        on_wire = [e for e in said if client in (e.node, lab.directory.resolve(e.node, e.peer))]
        # the relay's '?' left before the client said who it is: not counted on a wire yet
        hello = [e for e in on_wire if e.node == relay.pid and e.msg.get("dam") == "?"]
        assert len(hello) == 1 and counts[(client, "relay")] == len(on_wire) - 1
    assert not [e for e in lab.bus.events(trace.Heard) if e.node in ("rawA", "rawB")]
    # fate: sent by A, delivered to the relay's socket, heard there (the relay traces
    # itself), relayed to B, delivered to B's socket; A got the relay's ack
    fate = lab.fate("pA")
    assert fate.origin == "rawA" and fate.acked and "relay" in fate.heard_by, fate
    rows = {(r.src, r.dst): r for r in hub.fate.rows() if r.mid == "pA"}
    assert rows[("rawA", "relay")].mark == Mark.HEARD
    fwd_mid = got["#"]
    fwd = {(r.src, r.dst): r for r in hub.fate.rows() if r.mid == fwd_mid}
    assert fwd[("relay", "rawB")].mark == Mark.SENT  # the relay's own copy: no Tapped for it
    text = str(fate)
    assert "rawA said it to relay over ws; relay heard it" in text, text
    # a saved tap opens with the same names and roles, and the time slider
    path = lab.save_trace(tmp_path / "tap.jsonl")
    replay = Lab.open_trace(path)
    replay.seek(replay.duration)
    with replay.hub.lock:
        rd = replay.hub.directory
        again = {rd.label(n): rd.role(n) for n in replay.hub.mesh.nodes}
        rlinks = [(x, y, tr) for x, y, tr, _s, _n in replay.hub.mesh.links()]
    assert again == roles and rlinks == [("rawA", "relay", "ws"), ("rawB", "relay", "ws")]
    assert replay.duration > 0
    tap.close()
    assert "closed" in repr(tap) and not tap.tap.pairs


def test_lab_tap_refuses_bad_arguments(lab: Lab) -> None:
    with pytest.raises(GunError, match="host:port"):
        lab.tap(lab.url, listen="nowhere")
    with pytest.raises(GunError, match="cannot reach"):
        lab.tap("ws://127.0.0.1:9/gun")
    with pytest.raises(GunError, match="relay URL"):
        lab.tap(42)


def said_put(lab: Lab, node: str, soul: str, peer: str = "") -> Any:
    return lambda e: (
        isinstance(e, trace.Said)
        and e.node == node
        and soul in (e.msg.get("put") or {})
        and not e.msg.get("@")
        and (not peer or e.peer == peer)
    )


@pytest.mark.interop
@pytest.mark.asyncio
async def test_gunjs_relay_and_clients_behind_lab_tap(lab: Lab, tmp_path: Path) -> None:
    from gunrtc_kit.lab.gunjs import GunJsRelay
    from tests.interop.gunjs import GunJsPeer

    soul = "tap/js"
    with GunJsRelay(data_dir=tmp_path / "radata") as relay:
        tap = lab.tap(relay)
        http = tap.url.replace("ws://", "http://")
        async with GunJsPeer([http]) as a, GunJsPeer([http]) as b:
            await b.on(soul)
            await a.on("tap/js-other")  # a Gun.js client dials on its first message
            await a.wait_hi()
            await b.wait_hi()
            ack = await a.put(soul, {"x": 1, "y": "two"})
            assert ack["err"] is None
            assert await b.wait_data(soul, "x") == 1
            put = await lab.bus.until(said_put(lab, a.pid, soul), WAIT, past=True)
            assert isinstance(put, trace.Said)
            await lab.bus.until(
                lambda e: isinstance(e, trace.Ack) and e.reply_to == put.msg["#"], WAIT, past=True
            )
            rpid = relay.gun_pid
            assert rpid
            # the relay's end of b's wire, as the tap names it (``tap:<b's address>``): the
            # views' directory learns it later, on the view pump's thread
            b_wire = next(f"tap:{addr}" for name, addr in tap.clients() if name == b.pid)
            fwd = await lab.bus.until(said_put(lab, rpid, soul, b_wire), WAIT, past=True)
            await lab.bus.until(
                lambda e: isinstance(e, trace.Tapped) and e.node == rpid and e.to == b.pid,
                WAIT,
                past=True,
            )
        tap.close()
    assert isinstance(fwd, trace.Said)
    hub = lab._hub
    hub.refresh()
    with hub.lock:
        d, mesh = hub.directory, hub.mesh
        ours = lab.relay.pid if lab.relay is not None else ""
        nodes = {d.label(n): d.role(n) for n in mesh.nodes if n != ours}
        links = [(x, y, tr) for x, y, tr, _s, _n in mesh.links()]
    where = tap.target.split("/")[2]
    # every side by its pid, never by its address or the URL dialled: clients as tapped,
    # the npm relay as an outside relay named by its address
    assert nodes == {a.pid: ROLE, b.pid: ROLE, f"relay {where}": "external"}, nodes
    want = [(*sorted((c.pid, f"relay {where}")), "ws") for c in (a, b)]
    assert links == sorted(want), links
    assert not [e for e in lab.bus.events(trace.Heard) if e.node in (a.pid, b.pid, rpid)]
    fate = lab.fate(put.msg["#"])
    rows = {(r.src, r.dst): r for r in hub.fate.rows() if r.mid == put.msg["#"]}
    to_relay = rows[(a.pid, f"relay {where}")]
    assert to_relay.mark == Mark.UNTRACED and to_relay.why == TAP_DELIVERED
    assert fate.acked and fate.origin == a.pid
    assert "sent 2 key(s) (seen on the wire by a tap)" in str(fate) and "merged" not in str(fate)
    assert f"delivered by a tap to relay {where}" in fate.summary, fate.summary
    # the npm relay forwards the put under an id of its own: tied to it by its write
    assert fwd.msg["#"] in fate.forwarded_as, str(fate)
    assert f"passed the same write on as put #{fwd.msg['#']}" in str(fate)
    assert f"to {b.pid} (delivered to its socket)" in str(fate)
    # a Gun.js client says its GET before its pid: held, then passed on under the pid, so no
    # side is ever known by its address or by the URL the tap dialled
    assert not [e for e in lab.bus.history if e.node.startswith(("127.0.0.1:", "ws://"))]
    path = lab.save_trace(tmp_path / "gunjs-tap.jsonl")
    replay = Lab.open_trace(path)
    replay.seek(replay.duration)
    with replay.hub.lock:
        rd = replay.hub.directory
        again = {rd.label(n): rd.role(n) for n in replay.hub.mesh.nodes if n != ours}
        assert again == nodes
        assert replay.hub.fate.fate(put.msg["#"]).forwarded_as == fate.forwarded_as


def test_readers_of_an_undelivered_frame_and_a_lost_heartbeat() -> None:
    """Pure: a frame the tap could not deliver is lost in fate with the tap's cause, and in
    the mesh; a lost heartbeat (no message) is a lost frame on its wire; nothing is heard."""
    from gunrtc_kit.diagnose.fate import FateModel
    from gunrtc_kit.diagnose.mesh import MeshModel, edge_id
    from gunrtc_kit.diagnose.peers import Directory
    from gunrtc_kit.tap.observe import CLIENT, RELAY, Pair, parse

    bus = trace.TraceBus()
    p = Pair(bus, "tap:t", "127.0.0.1:5", "ws://t/gun", "ws://r/gun")
    p.opened()

    def feed(side: str, raw: str, delivered: bool = True) -> None:
        cause = None if delivered else trace.DropCause.BUDGET
        p.frame(side, raw, len(raw), parse(raw, 10_000), delivered, cause, "cut: over budget")

    feed(RELAY, '{"#":"h1","dam":"?","pid":"R"}')
    feed(CLIENT, '{"#":"h2","dam":"?","pid":"C","@":"h1"}')
    feed(CLIENT, json.dumps(put_msg("ok1")))
    feed(CLIENT, json.dumps([put_msg("gone1"), {"#": "gone2", "get": {"#": SOUL}}]), False)
    feed(RELAY, "[]", False)
    d = Directory()
    fate, mesh = FateModel(d), MeshModel(d)
    for e in bus.history:
        d.apply(e)
        fate.apply(e)
        mesh.apply(e)
    rows = {r.mid: r for r in fate.rows()}
    assert rows["ok1"].mark == Mark.UNTRACED and rows["ok1"].why == TAP_DELIVERED
    for mid in ("gone1", "gone2"):
        assert rows[mid].mark == Mark.LOST
        assert rows[mid].why == "the tap could not deliver it: cut: over budget"
    assert "it never arrived: the tap could not deliver it" in str(fate.fate("gone1"))
    assert "delivered to R's socket" in str(fate.fate("ok1"))
    edge = mesh.edges[edge_id("C", "R", "ws")]  # (read alone, the address phase has its own)
    assert edge.tapped == "tap:t" and edge.lost == 3  # two messages and the heartbeat
    assert edge.count == 4  # said on it once named: C's '?', ok1, gone1, gone2
    assert mesh.nodes["C"].heard == mesh.nodes["R"].heard == 0


def test_lab_peers_behind_the_tap_are_shown_once(lab: Lab) -> None:
    """Lab peers dialling the tap of the Lab's relay trace themselves: the tap's account of
    them is left out (nothing counted twice, no second wire, no doubted '?'), and the tap's
    URL leads to the relay."""
    tap = lab.tap(lab.url)
    alice = lab.peer("alice", rtc=False, relay_url=tap.url)
    bob = lab.peer("bob", rtc=False, relay_url=tap.url)
    mid = alice.put("tapped.k", 1)
    assert bob.get_sync("tapped.k") == 1
    lab._hub.refresh()
    with lab._hub.lock:
        d, mesh = lab._hub.directory, lab._hub.mesh
        nodes = sorted((d.label(n), d.role(n)) for n in mesh.nodes)
        links = [(x, y, tr) for x, y, tr, _s, _n in mesh.links()]
        assert not d.claims()
    assert nodes == [("alice", "peer"), ("bob", "peer"), ("relay", "relay")]
    assert links == [("alice", "relay", "ws"), ("bob", "relay", "ws")]
    assert tap._feed.passed == 0 and tap._feed.left_out > 0
    assert "alice said it to relay over ws; relay heard it" in str(lab.fate(mid))
    # named as the Lab names them (Lab peers: their names)
    assert sorted(name for name, _addr in tap.clients()) == ["alice", "bob"]


@pytest.mark.interop
def test_lab_tap_doctor_finds_the_gunjs_client_that_never_asked_and_it_is_true(
    lab: Lab, tmp_path: Path
) -> None:
    """Three npm Gun.js clients (``lab.gunjs_client``) behind ``lab.tap`` in front of an npm
    Gun.js relay: alice subscribes to ``chat``, bob only to ``profile``, carol puts. The
    tap's doctor names bob, and only bob, as never having asked for ``chat``; that is true of
    what each client's own Gun holds. ``explain`` says what alice holds and from whom."""
    import time

    from gunrtc_kit.diagnose.tapdoctor import TapFindingKind
    from gunrtc_kit.lab.gunjs import GunJsRelay

    with GunJsRelay(data_dir=tmp_path / "radata") as relay:
        tap = lab.tap(relay)
        alice = lab.gunjs_client("alice", tap.url)
        bob = lab.gunjs_client("bob", tap.url)
        carol = lab.gunjs_client("carol", tap.url)
        alice.subscribe_sync("chat")
        bob.subscribe_sync("profile")  # bob's app shows another page: it never asks for chat
        ack = carol.put_sync("chat", {"hello": "from carol"})
        assert ack.get("err") is None, ack
        deadline = time.monotonic() + 10
        while alice.data("chat").get("hello") != "from carol" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alice.data("chat") == {"hello": "from carol"}
        time.sleep(1.5)  # past the doctor's grace: a missing copy is then a finding
        findings = tap.doctor()
        never = [f for f in findings if f.kind is TapFindingKind.NEVER_ASKED]
        assert [(f.client, f.soul) for f in never] == [(bob.pid, "chat")], [
            str(f) for f in findings
        ]
        assert "bob never asked for soul 'chat'" in str(never[0])
        assert not [f for f in findings if f.kind is not TapFindingKind.NEVER_ASKED], findings
        # true against the clients themselves: bob's own Gun has no chat, alice's has it
        assert bob.data("chat") == {}
        assert alice.read_sync("chat") == {"hello": "from carol"}
        why = tap.explain("alice", "chat.hello")
        assert why.held is not None and why.held.copy.value == "from carol"
        assert "carol" in str(why)
        with pytest.raises(GunError, match="soul.key"):
            tap.explain("alice", "chat")
    assert alice.process is not None
    lab.close()
    assert alice.process.poll() is not None  # the Lab stopped its Gun.js clients
