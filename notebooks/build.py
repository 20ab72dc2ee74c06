"""Writes the teaching notebooks (no outputs) from the cells below: edit here, then run
``python notebooks/build.py``. Each notebook ends with checks on what its widgets hold, so
running it headless (tests/lab/test_notebooks.py) proves it teaches what it says."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["01-quick-start.ipynb"] = [
    (
        "md",
        """# Quick start: a Gun mesh you can watch

Gun syncs a graph between peers. Every peer speaks **DAM**, a tiny message protocol: `put`
(write), `get` (read) and replies (`@`) that travel back the way the request came. A
**relay** helps peers find each other; peers may then open **direct WebRTC links** and keep
syncing without it.

`Lab()` starts our built-in relay on 127.0.0.1. Each `lab.peer(name)` is a real Gun peer (it
would talk to Gun.js just as well) that joins the room `lab` for WebRTC. Everything runs on a
loop in a background thread, so the links stay alive between cells.""",
    ),
    (
        "code",
        """from gunrtc_kit.lab import Lab

lab = Lab()
alice = lab.peer("alice")
bob = lab.peer("bob")
lab.show()""",
    ),
    (
        "md",
        """The mesh view shows three nodes: the relay and the two peers, joined by blue WebSocket
links. Within a moment a **green** line appears between alice and bob: the WebRTC data channel
that room discovery set up (bob announced himself in the room; alice, the older peer, offered;
bob answered). Let's wait for it, then write.""",
    ),
    (
        "code",
        """lab.wait_linked_sync(alice, bob)
alice.put("chat.hello", {"text": "hi bob", "from": "alice"})
bob.get_sync("chat.hello")""",
    ),
    (
        "md",
        """`put` applies the write locally and sends it to every peer at once. The flow view lists
each message: the `put` goes to the relay **and** straight to bob over the data channel; bob
drops whichever copy comes second (dedup by message id). Click a row to see its JSON.

Now take the relay away. The peers keep syncing over their direct link:""",
    ),
    (
        "code",
        """lab.stop_relay_sync()
bob.put("chat.reply", {"text": "still here", "from": "bob"})
import time; time.sleep(0.5)
alice.get_sync("chat.reply")""",
    ),
    (
        "code",
        """# what the views hold (the notebook tests check these)
lab.refresh()
mesh, flow = lab.views["mesh"], lab.views["flow"]
names = {d["label"] for _, d in mesh.graph.nodes(data=True)}
assert {"alice", "bob", "relay"} <= names, names
assert ("alice", "bob", "dc", "open") in [l[:4] for l in mesh.model.links()], mesh.model.links()
assert any(r.kind == "put" and r.transport == "dc" for r in flow.rows)
assert "chat" in lab.views["peer:bob"].peer.graph()
assert alice.get_sync("chat.reply")["text"] == "still here"
print(len(flow.rows), "messages in the flow;", mesh.model.links())""",
    ),
]

NOTEBOOKS["02-webrtc-signaling.ipynb"] = [
    (
        "md",
        """# WebRTC signalling, step by step

Two peers cannot open a WebRTC link alone: they must first swap an **offer** and an
**answer** (SDP text describing each side) and **ICE candidates** (addresses to try). Gun
passes these through its own mesh; here we pass them by hand to see each one.

Both peers are created with `room=None`, so nobody links them automatically.""",
    ),
    (
        "code",
        """from gunrtc_kit.lab import Lab

lab = Lab(room=None)
a = lab.peer("ana", room=None)
b = lab.peer("ben", room=None)
steps = lab.signaling(a, b)
sv = lab.signaling_view(a, b)
sv.widget""",
    ),
    (
        "md",
        """**Step 1 — the offer.** aiortc gathers every candidate before it finishes the offer, so
the SDP already lists them (`a=candidate:` lines). We keep ICE on 127.0.0.1.""",
    ),
    (
        "code",
        """offer = steps.make_offer()
print(offer["sdp"])""",
    ),
    (
        "md",
        """**Step 2 — the answer.** Ben takes the offer as his *remote description* and answers.""",
    ),
    (
        "code",
        """answer = steps.make_answer()
print(answer["sdp"][:400], "...")""",
    ),
    (
        "md",
        """**Step 3 — apply the answer**, and **step 4 — candidates**. Browsers send candidates
one by one ("trickle ICE"); Gun carries each as `{candidate, sdpMid, sdpMLineIndex}`. aiortc
does not trickle, but accepts trickled ones, so we pass them too to show the shape.""",
    ),
    (
        "code",
        """steps.apply_answer()
for c in steps.candidates():
    print(c)
steps.add_candidates()
steps.wait_open()
print("data channel open")""",
    ),
    (
        "code",
        """a.put("notes.first", {"text": "sent over our own link"})
import time; time.sleep(0.3)
print(b.get_sync("notes.first"))
lab.refresh()
sig = [s["step"] for s in sv.steps]
assert "offer" in sig and "answer" in sig and "candidate" in sig, sig
assert b.get_sync("notes.first")["text"] == "sent over our own link\"""",
    ),
]

NOTEBOOKS["03-dam-routing-and-dedup.ipynb"] = [
    (
        "md",
        """# DAM routing and dedup in a mesh of many peers

No relay and no WebRTC here: 12 peers joined by in-memory wires in a ring with a few chords.
A put **floods**: each peer passes it to all its other links. Copies meet, and each peer
handles a message only the first time (its **dedup** table remembers ids for 9–18 s).
A reply (`@`) is not flooded: it goes back hop by hop along the path its request came.""",
    ),
    (
        "code",
        """import random
from gunrtc_kit.lab import Lab
from gunrtc_kit import trace

lab = Lab(relay=False)
peers = [lab.memory_peer(f"p{i}") for i in range(12)]
rng = random.Random(3)
for i in range(12):
    lab.link_memory(peers[i], peers[(i + 1) % 12])
for _ in range(4):
    i, j = rng.sample(range(12), 2)
    lab.link_memory(peers[i], peers[j])
mesh = lab.mesh_view()
mesh.widget""",
    ),
    (
        "code",
        """peers[0].put("news", {"headline": "flooding works"})
import time; time.sleep(0.5)
have = sum(1 for p in peers if "news" in p.graph())
dups = [e for e in lab.bus.events(trace.Dropped) if e.reason == "duplicate"]
print(have, "of 12 peers have it;", len(dups), "duplicate copies were dropped by dedup")""",
    ),
    (
        "md",
        """Now a **get** from the far side of the ring. The request floods out; the peer that has
the data answers, and the answer returns along the route each hop remembered (its dedup
entry's `via`).""",
    ),
    (
        "code",
        """far = peers[6]
print(far.get_sync("news"))
flow = lab.flow_view()
lab.refresh()
replies = [r for r in flow.rows if r.kind == "reply"]
print(len(replies), "reply hops")
flow.widget""",
    ),
    (
        "code",
        """assert have == 12
assert len(dups) > 0
assert len(mesh.graph.nodes) == 12 and len(mesh.graph.edges) >= 12
assert all(d["transport"] == "memory" for _, _, d in mesh.graph.edges(data=True))
print(flow.mermaid()[:300])""",
    ),
]

NOTEBOOKS["04-ham-conflicts.ipynb"] = [
    (
        "md",
        """# HAM: how Gun settles conflicting writes

Every key carries a **state**: the writer's machine clock in ms. When two writes of one key
meet, HAM keeps the one with the greater state. A state in the future waits until our clock
gets there. At **equal** states, Gun compares the values' JSON *text*: the greater text wins,
so `"9"` beats `10` and any number beats any string. Every peer applies the same rule, so all
converge whatever the order.""",
    ),
    (
        "code",
        """from gunrtc_kit.core.ham import ham, Decision

now = 1_000_000.0
for incoming, current in [((10, "b"), (5, "a")), ((5, "b"), (10, "a")), ((7, 9), (7, 10)),
                          ((7, 10), (7, 9)), ((7, 1), (7, "zzz")), ((now + 5000, "x"), (5, "a"))]:
    print(incoming, "vs", current, "->", ham(now, incoming[0], incoming[1], *current).name)""",
    ),
    (
        "md",
        """Now two peers, cut off from each other, write the same key. When the link heals and they
ask each other, both end with the write whose state is greater.""",
    ),
    (
        "code",
        """import time
from gunrtc_kit.lab import Lab

lab = Lab(relay=False)
left, right = lab.memory_peer("left"), lab.memory_peer("right")
link = lab.link_memory(left, right)
link.set(partitioned=True)
left.put("doc", {"title": "left's title"})
time.sleep(0.01)
right.put("doc", {"title": "right's title (later)"})
print(left.get_sync("doc", timeout=0.5), right.get_sync("doc", timeout=0.5))
link.set(partitioned=False)
left.lab.rt.run(left.gun.fetch({"#": "doc"}))
right.lab.rt.run(right.gun.fetch({"#": "doc"}))
print(left.get_sync("doc"), right.get_sync("doc"))""",
    ),
    (
        "code",
        """assert left.graph()["doc"]["title"] == right.graph()["doc"]["title"] == "right's title (later)"
assert link.dropped >= 2
view = lab.flow_view(live=False)
assert any(r.kind == "reply" for r in view.rows)  # the answers to the fetches
view.widget""",
    ),
]

NOTEBOOKS["05-debugging-with-faults.ipynb"] = [
    (
        "md",
        """# Debugging a broken mesh

Faults you can inject: **latency** and **loss** on in-memory wires, a **partition**, a
**cut** WebRTC link, a **stopped relay**. The trace bus records every message heard, said
and dropped, every hi/bye and every error, so you can see what went wrong, save it as JSONL
and look again later.""",
    ),
    (
        "code",
        """import time
from gunrtc_kit.lab import Lab
from gunrtc_kit import trace

lab = Lab(relay=False)
a, b, c = (lab.memory_peer(n) for n in "abc")
ab = lab.link_memory(a, b, latency=0.05)
bc = lab.link_memory(b, c, loss=1.0)   # every frame from b to c (and back) is lost
lab.show()""",
    ),
    (
        "code",
        """a.put("status", {"ok": True})
time.sleep(0.5)
print("c has it:", "status" in c.graph())
lost = [e for e in lab.bus.events(trace.Dropped) if "loss" in e.reason]
print(len(lost), "frames lost on b-c")""",
    ),
    (
        "md",
        """The flow view shows a→b and b→c sends, but nothing arriving at c. Fix the wire and
ask again:""",
    ),
    (
        "code",
        """bc.set(loss=0.0)
print(c.get_sync("status"))""",
    ),
    (
        "code",
        """path = "debug-trace.jsonl"
n = lab.save_trace(path)
from gunrtc_kit.lab.views import FlowView
replay = FlowView(events=Lab.load_trace(path), names=lab.names, live=False)
print(n, "events saved;", len(replay.rows), "messages in the replayed flow")
assert c.get_sync("status") == {"ok": True}
assert len(lost) > 0 and len(replay.rows) > 0
import os; os.remove(path)""",
    ),
]

NOTEBOOKS["06-real-gunjs-relay.ipynb"] = [
    (
        "md",
        """# Talking to a real Gun.js relay

gunrtc_kit speaks Gun's wire protocol byte for byte, so it can use a real Gun.js relay (npm
`gun`, with AXE routing and radisk storage). We start one from `interop/` (installed by
`scripts/setup`) on 127.0.0.1 and attach a peer to it.""",
    ),
    (
        "code",
        """import json, os, socket, subprocess, tempfile, time
from pathlib import Path

root = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
radata = tempfile.mkdtemp()
relay = subprocess.Popen(["node", str(root / "interop" / "gunjs_relay.js"), str(port), "--radisk", radata],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, MULTICAST="false"))
line = ""
while '"listening"' not in line:
    line = relay.stdout.readline()
print(line)""",
    ),
    (
        "code",
        """from gunrtc_kit.lab import Lab

lab = Lab(relay=False)
carol = lab.attach("carol", f"ws://127.0.0.1:{port}/gun")
dave = lab.attach("dave", f"ws://127.0.0.1:{port}/gun")
ack = carol.put_acked_sync("gunjs.greeting", {"text": "hello from Python"})
print("ack from the Gun.js relay:", ack)
print(dave.get_sync("gunjs.greeting"))
lab.flow_view().widget""",
    ),
    (
        "code",
        """assert ack.get("ok") is True
assert dave.get_sync("gunjs.greeting")["text"] == "hello from Python"
lab.close()
relay.kill(); relay.wait()""",
    ),
]


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(
            cells=[
                new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                for kind, src in cells
            ],
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
        )
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    main()
