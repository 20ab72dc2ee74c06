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
        """from gunrtc_kit import trace
from gunrtc_kit.lab import Lab

lab = Lab()
alice = lab.peer("alice")
bob = lab.peer("bob")
lab.show()""",
    ),
    (
        "md",
        """**What you see.** Left, the mesh: the relay in the middle, joined to each peer by a
blue WebSocket link. A dot runs along a link for each message. Within a moment a **green**
link appears between alice and bob: the WebRTC data channel that room discovery set up (bob
announced himself in the room; alice offered; bob answered). Hover a peer for its counters;
click it to open its tab below; click a link to filter the flow to it.

Right, the flow: every copy of every message, newest on top, one lifeline per peer. The end
of each arrow says what became of that copy: a filled head, the receiver **heard** it; a
slashed circle, the receiver's **dedup dropped** it (it had it already); a red cross, the
wire **lost** it. Tick *hide discovery/signalling* to see only the application's messages.

Let's wait for the direct link, then write.""",
    ),
    (
        "code",
        """lab.wait_linked_sync(alice, bob)
msg = alice.put("chat.hello", {"text": "hi bob", "from": "alice"})
print("put", msg)
bob.get_sync("chat.hello")""",
    ),
    (
        "md",
        """**The fate of a put.** `put` returned the message's id. The put went to the relay
*and* straight to bob over the data channel. The relay floods puts to its other peers, but
not this one: alice listed the peers she had already told in the message's `><` field (see
its JSON), so the relay did not send bob a second copy. The relay stores data, so it
**acks** the put (a reply whose `@` names it); plain peers do not.
`lab.fate(id)` tells the whole story; in the flow, click the `put` row to see the same in
the detail pane, with the JSON. We wait for the ack on the trace bus (never a `sleep`).""",
    ),
    (
        "code",
        """lab.bus.wait_for(lambda e: isinstance(e, trace.Ack) and e.reply_to == msg, timeout=10, past=True)
fate = lab.fate(msg)
fate""",
    ),
    (
        "md",
        """Now take the relay away. The peers keep syncing over their direct link; in the mesh
the relay's links turn grey.""",
    ),
    (
        "code",
        """lab.stop_relay_sync()
reply = bob.put("chat.reply", {"text": "still here", "from": "bob"})
lab.bus.wait_for(lambda e: isinstance(e, trace.Put) and e.node == alice.pid and e.msg_id == reply,
                 timeout=10, past=True)
alice.get_sync("chat.reply")""",
    ),
    (
        "code",
        """# what the views show (the notebook tests check these)
lab.refresh()
mesh, flow = lab.views["mesh"], lab.views["flow"]
assert sorted(mesh.labels()) == ["alice", "bob", "relay"], mesh.labels()  # no phantom peers
assert ("alice", "bob", "dc", "open") in [l[:4] for l in mesh.links()], mesh.links()  # a green link
# each peer's blue WebSocket link to the relay turned grey (closed) when the relay stopped
ws = [l[:4] for l in mesh.links() if l[2] == "ws"]
assert ws == [("alice", "relay", "ws", "closed"), ("bob", "relay", "ws", "closed")], mesh.links()
assert fate.acked and {"relay", "bob"} <= set(fate.heard_by), fate.summary
assert not fate.relayed_by and fate.duplicates == 0, fate.summary  # '><' spared bob a copy
assert "><" in fate.msg and lab.fate(fate.replies[0]).kind == "ack"
assert any(r.kind == "put" and r.transport == "dc" and r.mark == "heard" for r in flow.rows)
assert lab.fate(reply).heard_by == ("alice",)  # the peers kept syncing without the relay
assert lab.views["peer:bob"].peer["data"]["chat/hello"]["text"] == "hi bob"
print(len(flow.rows), "copies in the flow;", mesh.links())""",
    ),
]

NOTEBOOKS["02-webrtc-signaling.ipynb"] = [
    (
        "md",
        """# WebRTC signalling, step by step

Two peers cannot open a WebRTC link alone: they must first swap an **offer** and an
**answer** (SDP text describing each side) and **ICE candidates** (addresses to try). Gun
passes these through its own mesh; here we pass them by hand to see each one.

Both peers are created with `room=None`, so nobody links them automatically. The signalling
view below lists every step with its time, and every state change of every layer as aiortc
reports it: ICE gathering and checks, the selected candidate pair, DTLS, SCTP, the data
channel. Open an offer's *SDP* to read each line with its meaning beside it.""",
    ),
    (
        "code",
        """from gunrtc_kit import trace
from gunrtc_kit.diagnose import annotate_sdp
from gunrtc_kit.lab import Lab

lab = Lab(room=None)
a = lab.peer("ana", room=None)
b = lab.peer("ben", room=None)
steps = lab.signaling(a, b)
sv = lab.signaling_view(a, b)
sv""",
    ),
    (
        "md",
        """**Step 1 — the offer.** aiortc gathers every candidate before it finishes the offer, so
the SDP already lists them (`a=candidate:` lines). We keep ICE on 127.0.0.1.""",
    ),
    (
        "code",
        """offer = steps.make_offer()
for line, note in annotate_sdp(offer["sdp"]):
    print(f"{line[:58]:60} {note}")""",
    ),
    (
        "md",
        """**Step 2 — the answer.** Ben takes the offer as his *remote description* and answers.
`steps` shows which steps are done and which comes next.""",
    ),
    (
        "code",
        """answer = steps.make_answer()
assert steps.next_step == "apply_answer"  # two steps done; applying the answer comes next
steps""",
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
steps.wait_open_sync()   # the one step that waits (`await steps.wait_open()` in an async cell)
steps""",
    ),
    (
        "code",
        """sent = a.put("notes.first", {"text": "sent over our own link"})
lab.bus.wait_for(lambda e: isinstance(e, trace.Put) and e.node == b.pid and e.msg_id == sent,
                 timeout=10, past=True)
print(b.get_sync("notes.first"))
lab.refresh()
names = [s.step for s in sv.steps]
layers = {s.layer for s in sv.steps if s.step == "state"}
assert "offer" in names and "answer" in names, names
# "the SDP already lists them (a=candidate: lines). We keep ICE on 127.0.0.1."
cands = [line for line, _ in annotate_sdp(offer["sdp"]) if line.startswith("a=candidate:")]
assert cands and all(" 127.0.0.1 " in line for line in cands), cands
assert steps.next_step is None and len(steps.candidates()) == 2  # all done: linked
assert {"ice", "dtls", "sctp", "dc", "pair"} <= layers, layers
assert "ben" in lab.fate(sent).heard_by
assert any(r.mid == sent and r.dst == "ben" and r.transport == "dc" and r.mark == "heard"
           for r in lab.flow_view().rows)  # over the link we just made
assert b.get_sync("notes.first")["text"] == "sent over our own link\"""",
    ),
]

NOTEBOOKS["03-dam-routing-and-dedup.ipynb"] = [
    (
        "md",
        """# DAM routing and dedup in a mesh of many peers

No relay and no WebRTC here: 12 peers joined by in-memory wires in a ring with a few chords.
A put **floods**: each peer passes it to all its other links. Copies meet, and each peer
handles a message only the first time (its **dedup** table remembers ids for 9–18 s); the
flow marks every copy dedup dropped.
A reply (`@`) is not flooded: it goes back hop by hop along the path its request came.""",
    ),
    (
        "code",
        """from gunrtc_kit import trace
from gunrtc_kit.lab import Lab

lab = Lab(relay=False)
peers = [lab.memory_peer(f"p{i}") for i in range(12)]
links = {}
for i in range(12):
    links[i, (i + 1) % 12] = lab.link_memory(peers[i], peers[(i + 1) % 12])
for i, j in [(0, 4), (2, 7), (5, 10)]:
    links[i, j] = lab.link_memory(peers[i], peers[j])
lab.show()""",
    ),
    (
        "code",
        """news = peers[0].put("news", {"headline": "flooding works"})
merged = set()  # peers whose graph took the put, as the trace reports them


def everyone_has_it(e):
    if isinstance(e, trace.Put) and e.msg_id == news:
        merged.add(e.node)
    return len(merged) == 12


lab.bus.wait_for(everyone_has_it, timeout=10, past=True)
fate = lab.fate(news)
print(fate.summary)""",
    ),
    (
        "md",
        """Now a **get** whose answer is far away. p9 writes while cut off from everyone (its
two links are partitioned, so the flow shows its put's copies **lost** on the wire); then
the links heal and p0, on the other side of the ring, asks. The request floods; p9 answers;
the answer returns **hop by hop** along the route each peer remembered for the request (its
dedup entry's `via`), never flooded. Click the `get` row in the flow: the detail shows its
reply, and the reply's rows show each hop.""",
    ),
    (
        "code",
        """p9_links = [l for (i, j), l in links.items() if 9 in (i, j)]
for l in p9_links:
    l.set(partitioned=True)
lost = peers[9].put("far", {"where": "only at p9"})
for l in p9_links:
    l.set(partitioned=False)
print(peers[0].get_sync("far"))
(get_id,) = lab.messages(kind="get", soul="far", by=peers[0])
lab.fate(get_id)""",
    ),
    (
        "code",
        """get = lab.fate(get_id)
reply = lab.fate(get.replies[0])
hops = [r for r in lab.flow_view().rows if r.mid == reply.mid]
print(reply.summary)
for r in hops:
    print(f"  {r.src:>4} -> {r.dst:<4} {r.mark}")
far_flow = lab.flow_view(soul="far")   # a view of its own: only the messages about 'far'
far_flow""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
mesh = lab.views["mesh"]
assert len(mesh.labels()) == 12 and len(mesh.links()) == 15  # 12 peers: a ring of 12, 3 chords
assert all(t == "memory" for _, _, t, _, _ in mesh.links())  # no relay, no WebRTC
# the put flooded: the 11 others took it, and dedup dropped the copies that met
assert len(fate.heard_by) == 11 and fate.duplicates > 0, fate.summary
dups = [r for r in lab.flow_view().rows if r.mid == news and r.mark == "dup"]
assert len(dups) == lab.fate(news).duplicates  # "the flow marks every copy dedup dropped"
assert lab.fate(lost).lost == 2  # p9's put: both copies lost on the partitioned wires
# the 'far' view (above) kept its filter: only messages about 'far', the lost put, the get
# and its reply among them
assert {lost, get_id, reply.mid} <= {r.mid for r in far_flow.rows}, far_flow.rows
assert all(r.label == "far" for r in far_flow.rows), far_flow.rows
assert peers[0].get_sync("far") == {"where": "only at p9"}  # p0 asked; p9 answered
assert get.heard_by and reply.origin == "p9"  # "the request floods; p9 answers"
# the answer came back hop by hop, never flooded: one copy per hop, no duplicate
assert len(hops) >= 3 and all(r.mark == "heard" for r in hops), hops
assert hops[0].src == "p9" and hops[-1].dst == "p0" and reply.duplicates == 0
assert [r.dst for r in hops[:-1]] == [r.src for r in hops[1:]]  # each hop starts where the last ended
print(lab.flow_view().mermaid(limit=12))""",
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
converge whatever the order.

`ham(now, state, value, current_state, current_value)` is that rule as one function. It
answers with a `Decision`: `ACCEPT` (the incoming write wins), `HISTORICAL` (an older state:
ignored), `DEFER` (a state ahead of our clock: held back until its time) or `EQUAL`, which
despite its name means *the current value is kept* (an equal state whose JSON text is not
greater). Below, each decision in words.""",
    ),
    (
        "code",
        """import json
from gunrtc_kit.core.ham import ham, Decision


def verdict(now, incoming, current):
    \"\"\"HAM's decision on an incoming (state, value) against the current one, in words.\"\"\"
    decision = ham(now, *incoming, *current)
    if decision is Decision.DEFER:
        return "deferred until its state's time"
    if decision is Decision.HISTORICAL:
        return "ignored (older state)"
    if decision is Decision.EQUAL:
        return "current kept (equal state: Gun keeps the greater JSON text)"
    if incoming[0] > current[0]:
        return "incoming wins (newer state)"
    return "incoming wins (equal state, greater JSON text)"


now = 1_000_000.0
cases = [((10, "b"), (5, "a")), ((5, "b"), (10, "a")), ((7, 9), (7, 10)),
         ((7, 10), (7, 9)), ((7, 1), (7, "zzz")), ((now + 5000, "x"), (5, "a"))]
words = {}
for incoming, current in cases:
    words[incoming, current] = verdict(now, incoming, current)
    texts = f"{json.dumps(incoming[1])} vs {json.dumps(current[1])}"
    print(f"{str(incoming):20} vs {str(current):10} {texts:14} -> {words[incoming, current]}")""",
    ),
    (
        "md",
        """Now two peers, cut off from each other, write the same key: left first, right a few
milliseconds later, so right's state is greater. The flow shows each put **lost** on the
partitioned wire (a red cross): nothing crossed, and each peer holds its own write. When the
link heals and they ask each other, both end with right's write.""",
    ),
    (
        "code",
        """import time
from gunrtc_kit import trace
from gunrtc_kit.lab import Lab

lab = Lab(relay=False)
left, right = lab.memory_peer("left"), lab.memory_peer("right")
link = lab.link_memory(left, right)
link.set(partitioned=True)
first = left.put("doc", {"title": "left's title"})
lab.bus.wait_for(lambda e: isinstance(e, trace.Put) and e.msg_id == first, timeout=5, past=True)
time.sleep(0.01)   # not a wait for anything: the clock moves on, so right's state is greater
second = right.put("doc", {"title": "right's title (later)"})
print(left.get_sync("doc", timeout=0.5), right.get_sync("doc", timeout=0.5))
puts = lab.flow_view(kind="put")   # a view of its own: the puts only
puts""",
    ),
    (
        "md",
        """The link heals; right asks first (and meets left's older write), then left asks (and
meets right's newer one).""",
    ),
    (
        "code",
        """link.set(partitioned=False)
right.lab.rt.run_sync(right.gun.fetch({"#": "doc"}))
left.lab.rt.run_sync(left.gun.fetch({"#": "doc"}))
print(left.get_sync("doc"), right.get_sync("doc"))
lab.flow_view(kind="")""",
    ),
    (
        "md",
        """**Why does each peer hold what it holds?** The graph keeps one value per key, and the
writes that lost leave no mark in it. The trace keeps them: `lab.explain(peer, "soul.key")`
lists every write of the field that peer saw, in arrival order, and runs HAM over them
again, with its verdict in words (`accepted`, `kept-current`, `same`, `ignored`, `deferred`).
The starred row is the write the peer holds. left took right's write (a newer state); right
ignored left's (an older state). Had both writes fallen in the same millisecond, right would
still win, on the greater JSON text, and the verdicts would say so.""",
    ),
    (
        "code",
        """why_left = lab.explain(left, "doc.title")
why_left""",
    ),
    (
        "code",
        """why_right = lab.explain(right, "doc.title")
print(why_right)""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
lab.refresh()
title = "right's title (later)"
# the HAM table: "9" beats 10, any number beats any string, EQUAL means "current kept"
assert words[(7, 9), (7, 10)].startswith("incoming wins") and words[(7, 1), (7, "zzz")].startswith("incoming wins")
assert words[(7, 10), (7, 9)].startswith("current kept") and "EQUAL" not in str(words)
assert words[(5, "b"), (10, "a")] == "ignored (older state)" and words[(now + 5000, "x"), (5, "a")].startswith("deferred")
# cut off, each put was lost on the wire (nothing crossed) and each peer held its own write
assert sorted((r.src, r.mark) for r in puts.rows) == [("left", "lost"), ("right", "lost")], puts.rows
assert not lab.fate(first).heard_by and not lab.fate(second).heard_by and link.dropped >= 2
# healed and asked: both end with right's write, which came back as replies
assert left.graph()["doc"]["title"] == right.graph()["doc"]["title"] == title
assert any(r.kind == "reply" and r.mark == "heard" for r in lab.flow_view().rows)
# explain: right's state is the greater; left accepted right's write, right ignored left's
state = {r.value: r.state for r in why_left.rows}
assert state["left's title"] < state[title], state  # "right a few milliseconds later"
for peer, why in ((left, why_left), (right, why_right)):
    win = why.rows[why.winner - 1]
    assert win.value == peer.graph()["doc"]["title"] == why.value == title, why
assert [r.verdict for r in why_left.rows if r.value == title][0] == "accepted", why_left
assert [r.verdict for r in why_right.rows if r.value == "left's title"] == ["ignored"], why_right
print(why_left.summary)
print(why_right.summary)""",
    ),
]

NOTEBOOKS["05-debugging-with-faults.ipynb"] = [
    (
        "md",
        """# Debugging a broken mesh

Faults you can inject: **latency** and **loss** on in-memory wires, a **partition**, a
**cut** WebRTC link, a **stopped relay**. The trace bus records every message heard, said
and dropped, every hi/bye and every error, so you can see what went wrong, save it and look
again later with a time slider.""",
    ),
    (
        "code",
        """import tempfile
from pathlib import Path
from gunrtc_kit import trace
from gunrtc_kit.lab import Lab

lab = Lab(relay=False)
a, b, c = (lab.memory_peer(n) for n in "abc")
ab = lab.link_memory(a, b, latency=0.05)
bc = lab.link_memory(b, c, loss=1.0)   # every frame from b to c (and back) is lost
lab.show()""",
    ),
    (
        "md",
        """The mesh shows exactly three peers. The b–c link is labelled with its fault, and the
status line counts **2 partitions**: with everything on b–c lost, c is on its own (even its
`?` handshake never got through; the view names c anyway, because the link named its ends
when it was made). The dashboard is live: once the wire is fixed below, the partition count
goes away. Now a write from a:""",
    ),
    (
        "code",
        """lab.refresh()
mesh = lab.views["mesh"]
assert sorted(mesh.labels()) == ["a", "b", "c"]  # "exactly three peers"
assert mesh.stats()["partitions"] == 2  # "the status line counts 2 partitions"
status = a.put("status", {"ok": True})
lab.bus.wait_for(lambda e: isinstance(e, trace.Dropped) and e.msg_id == status, timeout=5, past=True)
print("c has it:", "status" in c.graph())
lab.fate(status)""",
    ),
    (
        "md",
        """The flow shows a→b heard (after 50 ms of latency) and b→c **lost**. Fix the wire and
ask again:""",
    ),
    (
        "code",
        """bc.set(loss=0.0)
print(c.get_sync("status"))""",
    ),
    (
        "md",
        """**Time travel.** Save the trace (with the peers' names) and open it again: the same
views, and a slider that moves all of them to any instant. Drag it back to before the fix.""",
    ),
    (
        "code",
        """path = lab.save_trace(Path(tempfile.mkdtemp()) / "debug-trace.jsonl.gz")
replay = Lab.open_trace(path)
replay.show()""",
    ),
    (
        "code",
        """rows = replay.flow_view().rows
n_all = len(rows)
lost_at = next(r.t for r in rows if r.mid == status and r.mark == "lost")  # b→c lost the put
replay.seek(lost_at + 0.001)   # just after the loss, before the fix
n_then = len(replay.flow_view().rows)
print(n_all, "copies in the whole trace;", n_then, "by the time b→c lost the put")""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
copies = [(r.src, r.dst, r.mark) for r in lab.flow_view().rows if r.mid == status]
assert copies == [("a", "b", "heard"), ("b", "c", "lost")], copies  # "a→b heard and b→c lost"
sent, lost = (r.t for r in lab.flow_view().rows if r.mid == status)
assert lost - sent >= 0.05  # b relayed it on arrival, after the 50 ms of latency
assert lab.fate(status).heard_by == ("b",) and lab.fate(status).lost == 1
fix = lab.messages(kind="get", soul="status", by=c)[0]  # c's get after the wire was fixed
assert c.get_sync("status") == {"ok": True}  # fixed, c asked, and got it
assert sorted(lab.views["mesh"].labels()) == ["a", "b", "c"]  # still no phantom peers
# the replay stands where the put was lost: the loss is shown, c's get (the fix) not yet
assert replay.fate(status).lost == 1 and fix not in {r.mid for r in replay.flow_view().rows}
assert 0 < n_then < n_all and sorted(replay.mesh_view().labels()) == ["a", "b", "c"]""",
    ),
]

NOTEBOOKS["06-real-gunjs-relay.ipynb"] = [
    (
        "md",
        """# Talking to a real Gun.js relay

gunrtc_kit speaks Gun's wire protocol byte for byte, so it can use a real Gun.js relay (npm
`gun`, with AXE routing and radisk storage). `GunJsRelay` starts one from the project's
`interop/` folder (installed by `scripts/setup`, or by Binder's `postBuild`) on 127.0.0.1,
from whatever folder this notebook runs in, and never waits forever for it.""",
    ),
    (
        "code",
        """from gunrtc_kit import trace
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.gunjs import GunJsRelay

gunjs = GunJsRelay().start()
gunjs""",
    ),
    (
        "md",
        """Two of our peers attach to it. The Gun.js relay is not traced (it is another
program), so the views show what our peers **heard** from it: its acks and replies appear
as *heard-only* rows, and the relay itself is named, in the middle of the mesh.""",
    ),
    (
        "code",
        """lab = Lab(relay=False)
carol = lab.attach("carol", gunjs.url, relay_name="gun.js relay")
dave = lab.attach("dave", gunjs.url, relay_name="gun.js relay")
lab.show()""",
    ),
    (
        "code",
        """greeting = carol.put("gunjs.greeting", {"text": "hello from Python"})
lab.bus.wait_for(lambda e: isinstance(e, trace.Ack) and e.reply_to == greeting, timeout=15, past=True)
print(dave.get_sync("gunjs.greeting"))
lab.fate(greeting)""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
lab.refresh()
fate = lab.fate(greeting)
assert fate.acked and "answered by gun.js relay" in fate.summary, fate.summary  # Gun.js acked
assert dave.get_sync("gunjs.greeting")["text"] == "hello from Python"  # dave read carol's put
# "the relay itself is named, in the middle of the mesh"
assert sorted(lab.views["mesh"].labels()) == ["carol", "dave", "gun.js relay"], lab.views["mesh"].labels()
# "its acks and replies appear as heard-only rows"
heard_only = [r for r in lab.flow_view().rows if r.mark == "heard-only"]
assert any(r.src == "gun.js relay" and r.kind == "ack" for r in heard_only)
assert any(r.src == "gun.js relay" and r.kind == "reply" for r in heard_only)""",
    ),
    (
        "md",
        """Done: close the Lab and stop the relay. Closing turns the dashboard above into a note
saying its Lab is closed (run the cells one by one to watch it live).""",
    ),
    (
        "code",
        """lab.close()
gunjs.stop()""",
    ),
]

NOTEBOOKS["07-why-didnt-it-sync.ipynb"] = [
    (
        "md",
        """# Why didn't it sync?

Gun never tells you that a write failed to arrive. There is no error: one peer simply holds
a value and another does not (or holds an older one). This notebook breaks five meshes on
purpose, each in a different way, and for each one:

1. **breaks it**, and shows the symptom: `lab.converged()` is not `True` but the doctor's
   report, saying where the peers disagree;
2. asks **`lab.doctor()`** why: every soul/key where the peers differ, who holds what, and
   the *reason* the trace gives, in Gun's terms, with the cure;
3. lets **`lab.heal_sync()`** do the safe cures (heal a link, ask again, wait for a
   deferred state) and shows the before, the cure and the after. `lab.doctor()` only reads;
   healing waits, so it is `await lab.heal()` in an async cell, `lab.heal_sync()` in a plain
   one (the Lab's rule for every wait).

The reason kinds (`report.kinds()`, `report.reasons(kind)`):

| kind | in Gun's terms | cure |
|---|---|---|
| `partition` | a link is up but drops every frame | heal the link, then ask again |
| `cut` | no open link leads to a peer holding the data | link again, then ask |
| `lost` | a frame carrying the data was dropped on a lossy wire or data channel | ask again (`get`) |
| `deferred` | the state is ahead of this peer's clock; HAM holds it back | wait until its time |
| `never_subscribed` | the peer never sent a GET for the soul, so a relay pushes it nothing | `get` / `on` the soul |
| `not_reasked` | it asked, reconnected, and did not ask again | ask again (`on` does it for you) |
| `not_relayed` | the writer listed the peer in `><` (told already), so no relay sent it a copy, but the writer's own copy never arrived | ask again (`get`) |
| `error_ack` | a put was refused with `err` | fix the put and write it again |
| `never_acked` | a put no relay acked within Gun's 9 s | ask again; find where the put went |
| `in_flight` | a copy is on its way: said, neither heard nor lost yet | wait, then ask the doctor again |

Each mesh has its own `Lab`, so each `converged()` speaks of one mesh only.""",
    ),
    (
        "code",
        """from gunrtc_kit import trace
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.gunjs import GunJsRelay


def linked(lab, a, b, **faults):
    \"\"\"Link a and b in memory and wait (bounded) until their '?' handshake is done.\"\"\"
    link = lab.link_memory(a, b, **faults)
    for x, y in ((a, b), (b, a)):
        lab.bus.wait_for(lambda e: isinstance(e, trace.Link) and e.node == x.pid and e.pid == y.pid,
                         timeout=10, past=True)
    return link""",
    ),
    (
        "md",
        """## (a) A partition

alice — bob — carol in a line, in memory. The bob–carol link is **partitioned**: it stays
open, but every frame over it is dropped, as in a network split. alice writes; bob gets it,
carol does not. Gun does not queue a put for later or send it again: when the network comes
back, nothing flows by itself until someone *asks* (a GET). The mesh view labels the broken
link and counts 2 partitions: carol is on her own (the view is live: after the cure below it
shows the link healed).""",
    ),
    (
        "code",
        """lab_a = Lab(relay=False)
alice, bob, carol = (lab_a.memory_peer(n) for n in ("alice", "bob", "carol"))
linked(lab_a, alice, bob)
bc = linked(lab_a, bob, carol)
bc.set(partitioned=True)
mid_a = alice.put("chat.m1", "hello")
lab_a.bus.wait_for(lambda e: isinstance(e, trace.Dropped) and e.msg_id == mid_a, timeout=10, past=True)
lab_a.refresh()
assert lab_a.mesh_view().stats()["partitions"] == 2  # "counts 2 partitions"
lab_a.mesh_view()""",
    ),
    (
        "code",
        """symptom_a = lab_a.converged()   # not True: the report of where they differ
print(symptom_a is True, "|", bob.graph()["chat"]["m1"], "|", "chat" in carol.graph())
assert bob.graph()["chat"]["m1"] == "hello" and "chat" not in carol.graph()  # bob has it, carol not
report_a = lab_a.doctor()
report_a""",
    ),
    (
        "md",
        """The doctor names the partitioned link (it is down *now*) and the copy of alice's put
it ate. The cure has two steps: heal the link, and have carol ask for `chat` again.""",
    ),
    (
        "code",
        """healed_a = lab_a.heal_sync()
healed_a""",
    ),
    (
        "md",
        """## (b) A lossy channel

A link that loses frames: a WebRTC data channel is unordered with a retransmit limit, so it
may give up on a frame; here a memory link drops *every* frame while alice writes, then
becomes perfect again. The network is fine now, yet bob still lacks the write: Gun sends a
put once. A lost put stays lost until the peer that lacks it asks for the soul again.""",
    ),
    (
        "code",
        """lab_b = Lab(relay=False)
alice_b, bob_b = lab_b.memory_peer("alice"), lab_b.memory_peer("bob")
ab = linked(lab_b, alice_b, bob_b)
ab.set(loss=1.0)
mid_b = alice_b.put("chat.m1", "lost on the way")
lab_b.bus.wait_for(lambda e: isinstance(e, trace.Dropped) and e.msg_id == mid_b, timeout=10, past=True)
ab.set(loss=0.0)      # the channel is fine again...
symptom_b = lab_b.converged()
print(ab, "| bob has it:", "chat" in bob_b.graph())   # ...but nothing was sent again
assert ab.loss == 0 and "chat" not in bob_b.graph()  # "the network is fine now, yet bob still lacks"
report_b = lab_b.doctor()
report_b""",
    ),
    (
        "code",
        """healed_b = lab_b.heal_sync()
healed_b""",
    ),
    (
        "md",
        """## (c) A skewed clock

A HAM state is the writer's machine clock in ms. eve's clock runs **2 s ahead**
(`clock_skew=+2`), so her write carries a state from the future. bob *heard* it, but HAM
holds a state ahead of bob's clock back until his clock gets there (gun.js sets a timer): a
write from the future does not show up early. Until then bob holds nothing: the doctor says
**deferred**, and the cure is to wait. Waiting is not the whole cure, though: once applied,
eve's write still beats every write others make meanwhile with a right clock, so fix eve's
clock. `lab.explain(bob, "notes.n")` shows the write and its verdict.""",
    ),
    (
        "code",
        """lab_c = Lab(relay=False)
eve, bob_c = lab_c.memory_peer("eve", clock_skew=+2.0), lab_c.memory_peer("bob")
linked(lab_c, eve, bob_c)
mid_c = eve.put("notes.n", "from the future")
lab_c.bus.wait_for(lambda e: isinstance(e, trace.Heard) and e.node == bob_c.pid and e.msg.get("#") == mid_c,
                   timeout=10, past=True)
symptom_c = lab_c.converged()
why_c = lab_c.explain(bob_c, "notes.n")
print(eve, "|", why_c.verdicts())
report_c = lab_c.doctor()
report_c""",
    ),
    (
        "md",
        """Healing waits (at most `max_wait`, 10 s by default) until bob's
clock reaches the state, then checks that bob applied it.""",
    ),
    (
        "code",
        """healed_c = lab_c.heal_sync()
print(healed_c)
lab_c.explain(bob_c, "notes.n")""",
    ),
    (
        "md",
        """## (d) A peer that never subscribed

Our relay routes like Gun.js's **AXE**: a relay does not flood a put to every connection,
only to those that sent a GET for its soul (a `get`, `on` or `once`). alice and bob both
talk to the Lab's relay; alice writes `chat`; bob never asked for `chat`, so the relay
pushes him nothing. This is Gun working as designed: a peer receives what it asked for.
The cure is to ask (`on` keeps asking after a reconnect; a peer that asked once and
reconnected without asking again is `not_reasked`).""",
    ),
    (
        "code",
        """lab_d = Lab()
alice_d, bob_d = lab_d.peer("alice", rtc=False), lab_d.peer("bob", rtc=False)
mid_d = alice_d.put("chat.m1", "hi")
lab_d.bus.wait_for(lambda e: isinstance(e, trace.Put) and e.node == lab_d.relay.pid and e.msg_id == mid_d,
                   timeout=10, past=True)
symptom_d = lab_d.converged()
report_d = lab_d.doctor()
report_d""",
    ),
    (
        "code",
        """healed_d = lab_d.heal_sync()
healed_d""",
    ),
    (
        "md",
        """## (e) A relay that never acks

In Gun an **ack** (a reply whose `@` names the put) comes from storage: a relay acks a put
once its store took it. A real npm Gun.js relay started **without radisk**
(`GunJsRelay(radisk=False)`) keeps data in memory only, and never acks: alice's
`put_acked_sync` waits Gun's ack timeout (9 s) and raises `TimeoutError`. The relay did take
the put (it routes it, and answers GETs from memory), but alice cannot know that, and the
data dies with the relay process. bob never asked for `notes`, so he lacks it too.

The doctor names both causes: bob never asked (`never_subscribed`), and alice's put was
sent to a relay and never acked (`never_acked`): nothing says it is stored anywhere. Its
words "no relay took it" are what alice can know; the doctor's cure (bob asks again) shows
below that the relay had it all along, in memory. `lab.fate(id)` is the witness for the
missing ack: alice's copy to the relay reads `untraced` (the Gun.js relay is not traced,
and never answered it).""",
    ),
    (
        "code",
        """gunjs = GunJsRelay(radisk=False).start()
lab_e = Lab(relay=False)
alice_e = lab_e.attach("alice", gunjs.url, relay_name="gun.js relay")
bob_e = lab_e.attach("bob", gunjs.url, relay_name="gun.js relay")
try:
    ack_e = alice_e.put_acked_sync("notes.todo", "buy milk")   # waits Gun's 9 s ack timeout
except GunTimeoutError as exc:
    ack_e = None
    print("alice:", exc)
symptom_e = lab_e.converged()
report_e = lab_e.doctor()
report_e""",
    ),
    (
        "code",
        """healed_e = lab_e.heal_sync()
(mid_e,) = lab_e.messages(kind="put", soul="notes", by=alice_e)
(get_e,) = lab_e.messages(kind="get", soul="notes", by=bob_e)   # the doctor's re-get
print(healed_e)
print(lab_e.fate(get_e).summary)   # the relay answered from its memory: it had the put
fate_e = lab_e.fate(mid_e)
fate_e""",
    ),
    (
        "md",
        """The cure for the missing ack is a relay with storage: the same Gun.js relay with radisk
acks at once.""",
    ),
    (
        "code",
        """with GunJsRelay() as stored:   # radisk in a temp folder
    lab_e2 = Lab(relay=False)
    dave = lab_e2.attach("dave", stored.url, relay_name="gun.js relay (radisk)")
    ack_e2 = dave.put_acked_sync("notes.todo", "buy milk")
    lab_e2.close()
print(stored, ack_e2)""",
    ),
    (
        "code",
        """# what the doctor reported (the notebook tests check these)
for symptom in (symptom_a, symptom_b, symptom_c, symptom_d, symptom_e):
    assert symptom is not True and not symptom and symptom.findings, symptom
# (a) the partition: the doctor names the link and the copy of alice's put it ate; the cure
# has two steps: heal the link, carol asks again
assert report_a.kinds() == {"partition"} and report_a.finding("chat", "m1").behind == ("carol",)
assert any(r.link == tuple(sorted((bob.pid, carol.pid))) for r in report_a.reasons("partition"))
assert mid_a in [r.msg_id for r in report_a.reasons("partition")], report_a
assert len(healed_a.done) == 2 and "healed bob\\u2194carol" in healed_a.done[0], healed_a
assert "carol asked for 'chat' again: data came" in healed_a.done[1], healed_a
assert not bc.partitioned and carol.graph()["chat"]["m1"] == "hello"
# (b) the lost frame: the copy of alice's put, lost on the lossy link, though the link is fine now
assert report_b.kinds() == {"lost"} and report_b.finding("chat", "m1").behind == ("bob",), report_b
assert [r.msg_id for r in report_b.reasons("lost")] == [mid_b] and "lossy link" in str(report_b)
assert any("bob asked for 'chat' again: data came" in d for d in healed_b.done), healed_b
# (c) the future state: deferred at bob, and the cure was a wait
# bob heard eve's write but holds nothing until his clock gets there
assert report_c.kinds() == {"deferred"} and why_c.verdicts() == ["deferred"], (report_c, why_c)
assert report_c.finding("notes", "n").behind == ("bob",), report_c
assert [a.kind for a in report_c.actions()] == ["wait_until"] and 0 < report_c.actions()[0].wait <= 2.5
assert any("applied its deferred" in d for d in healed_c.done), healed_c
assert lab_c.explain(bob_c, "notes.n").value == bob_c.graph()["notes"]["n"] == "from the future"
# (d) never subscribed: the relay never pushed to bob, who never asked
assert report_d.kinds() == {"never_subscribed"} and report_d.finding("chat", "m1").behind == ("bob",)
assert "never asked relay " in report_d.reasons("never_subscribed")[0].text
# (e) the Gun.js relay without storage never acked; the doctor names that and bob's lack (he
# never asked)
assert ack_e is None and "never acked" in fate_e.summary, fate_e.summary  # put_acked_sync timed out
# alice's copy reads 'untraced': the relay took it, but nothing told alice so
assert not fate_e.heard_by and "untraced" in [s.mark for s in fate_e.steps], fate_e.steps
# it did take it: it answered bob's re-get from memory
assert "answered by gun.js relay" in lab_e.fate(get_e).summary, lab_e.fate(get_e).summary
assert report_e.kinds() == {"never_subscribed", "never_acked"}, report_e
assert [r.msg_id for r in report_e.reasons("never_acked")] == [mid_e], report_e
assert ack_e2.get("ok") and not ack_e2.get("err"), ack_e2   # with radisk: acked
# after healing, every mesh agrees
for lab, healed in ((lab_a, healed_a), (lab_b, healed_b), (lab_c, healed_c), (lab_d, healed_d),
                    (lab_e, healed_e)):
    assert healed and healed.before is not None and not healed.before, healed
    assert lab.converged() is True
print("all five meshes healed:", [sorted(r.kinds()) for r in (report_a, report_b, report_c, report_d, report_e)])""",
    ),
    (
        "code",
        """for lab in (lab_a, lab_b, lab_c, lab_d, lab_e):
    lab.close()
gunjs.stop()""",
    ),
]


NOTEBOOKS["08-users-signatures-encryption.ipynb"] = [
    (
        "md",
        """# Users, signatures and encryption (SEA)

Gun's graph is open: any peer may write any soul. **SEA** (Security, Encryption,
Authorization) adds what makes users possible, with nothing but data that every peer checks:

- a **key pair**: `pub`/`priv` to sign, `epub`/`epriv` to share secrets (P-256 ECDSA/ECDH);
- **signatures**: a value in a user's space (`~<pub>`) is stored signed, and every peer
  (ours and Gun.js alike) refuses a write there that the owner did not sign;
- **encryption**: AES-GCM with a passphrase, or with a secret two key pairs share (ECDH).

`gunrtc_kit.sea` is byte-compatible with Gun.js's `sea.js`: what one side signs or encrypts,
the other verifies or opens. Plain functions first; no network needed.""",
    ),
    (
        "code",
        """import json
import time

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.diagnose.sea import auth_summary, inspect_user
from gunrtc_kit.errors import SeaError
from gunrtc_kit.lab import Lab
from gunrtc_kit.sea import decrypt, encrypt, pair, sea_parse, secret, sign, verify, work
from gunrtc_kit.sea.check import pack

alice_keys = pair()
{k: v[:20] + "…" for k, v in alice_keys.items()}   # pub and epub are public; priv and epriv never leave""",
    ),
    (
        "md",
        """## Sign and verify

`sign(data, pair)` gives the text `SEA{"m": data, "s": signature}`; `verify(text, pub)` gives
the data back only if that `pub` signed it. Here a failed check raises `SeaError` (Gun.js
returns `undefined`, which is easy to forget to test).""",
    ),
    (
        "code",
        """signed = sign({"text": "hello", "n": 1}, alice_keys)
print(signed[:90], "…")
print("verified:", verify(signed, alice_keys["pub"]))

someone_else = pair()
try:
    verify(signed, someone_else["pub"])
except SeaError as exc:
    print("with another key:", exc)
tampered = signed.replace('"hello"', '"HELLO"')
try:
    verify(tampered, alice_keys["pub"])
except SeaError as exc:
    print("data changed after signing:", exc)""",
    ),
    (
        "md",
        """## Encrypt with a passphrase

`encrypt(data, passphrase)` derives an AES key from the passphrase and a fresh random salt
(so the same data encrypted twice gives two different texts); `decrypt` needs the same
passphrase. `work(password, salt)` is the slow part of a login: PBKDF2, 100,000 rounds, so
guessing passwords is expensive.""",
    ),
    (
        "code",
        """box = encrypt({"diary": "dear diary"}, "a long passphrase")
print(box[:80], "…")
print("opened:", decrypt(box, "a long passphrase"))
try:
    decrypt(box, "a wrong passphrase")
except SeaError as exc:
    print("wrong passphrase:", exc)
proof = work("correct horse battery", "some salt")
print("proof of work:", proof)""",
    ),
    (
        "md",
        """## A secret two pairs share (ECDH)

alice and bob never send a key to each other. Each combines their own `epriv` with the
other's public `epub`: `secret(bob.epub, alice)` equals `secret(alice.epub, bob)`. That text
is a passphrase only the two of them can compute.""",
    ),
    (
        "code",
        """bob_keys = pair()
alice_side = secret(bob_keys["epub"], alice_keys)
bob_side = secret(alice_keys["epub"], bob_keys)
print("same secret on both sides:", alice_side == bob_side)
letter = encrypt("meet at noon", alice_side)        # alice encrypts for bob
print("bob opens it:", decrypt(letter, bob_side))
eve_keys = pair()
try:
    decrypt(letter, secret(alice_keys["epub"], eve_keys))   # eve's secret with alice differs
except SeaError as exc:
    print("eve cannot:", exc)""",
    ),
    (
        "md",
        """## Users in a mesh

`gun.user()` keeps an account as Gun.js does, in the graph itself:

- `~<pub>` holds `pub`, and, signed by the new pair, `alias`, `epub` and `auth`: the private
  keys encrypted with the proof of work of the password;
- `~@<alias>` links the alias to the account.

`auth(alias, password)` reads them back (from any peer), works the password and decrypts the
keys. Every step is recorded in `user.last_auth`. Once logged in, writes into `~<pub>` are
signed with the user's key before they leave the peer.

In a Lab, `peer.user` is that peer's session: `create_sync`, `auth_sync`, `put_acked_sync`,
`get_sync` wait (bounded) in a plain cell; in an async cell, `await peer.user.create(...)`
and the others without `_sync` do the same. Paths start inside the user's space.""",
    ),
    (
        "code",
        """lab = Lab()
alice = lab.peer("alice", rtc=False)
bob = lab.peer("bob", rtc=False)
PASSWORD = "correct horse battery"

user = alice.user
pub = user.create_sync("alice", PASSWORD)
ack = user.put_acked_sync("profile", {"name": "Alice", "city": "Lisbon"})
print("account ~" + pub[:16] + "…", "| profile acked by the relay:", ack.get("ok"))
user.leave()                                          # log out, then in again
print(user.auth_sync("alice", PASSWORD))
user.get_sync("profile")""",
    ),
    (
        "md",
        """## The SEA inspector

`lab.sea_sync(peer, user)` (or a pub, or an alias; `await lab.sea(...)` in an async cell: it
may ask other peers for what this one lacks, so it waits) verifies every field of the user's
space as that peer holds it, and says who signed each: **valid** (the owner's signature matches over
the value, its key, its soul and its HAM state), **valid-cert** (another key, with the owner's
certificate), **invalid** (a signature that does not match: the key is named), **unsigned**
(a plain value that Gun would have refused). Hover a signer for the whole key. The lower
pane lists the steps of the last login on that peer.

`lab.sea_sync(...)` reads once and keeps that snapshot under its cell. This one is `live=True`:
it follows alice's peer, so that below we can watch whether anything changes there.""",
    ),
    (
        "code",
        """inspector = lab.sea_sync(alice, user, live=True)   # follows alice's peer
inspector""",
    ),
    (
        "md",
        """## A wrong password, step by step

bob's peer tries to log in as alice with a wrong password. It finds the alias and the
account (from the relay), works the password... and the proof does not open the encrypted
keys. The inspector on bob's peer says at which step it failed and why (a snapshot: it
keeps showing that failure). Then the right password, on the same peer: any peer can log in
as alice, with her password; a new snapshot shows that login.""",
    ),
    (
        "code",
        """bob_user = bob.user
try:
    bob_user.auth_sync("alice", "not the password")
except SeaError as exc:
    print("bob's peer:", exc)
wrong_steps = bob_user.last_auth
print(auth_summary(wrong_steps))
on_bob = lab.sea_sync(bob, "alice")
on_bob""",
    ),
    (
        "code",
        """bob_user.auth_sync("alice", PASSWORD)
print(lab.sea_sync(bob, "alice").auth["summary"])   # a new snapshot, after the right password
bob_user.leave()""",
    ),
    (
        "md",
        """## A forged write is refused

mallory wants to change alice's name. Mallory has no key of alice's, so she signs with her
own and sends the put straight onto the wire (her own peer would refuse it before it left).
The relay checks it as every Gun peer does: the signature does not match alice's key, so it
answers `err: "Unverified data."`, and stores and relays nothing. The flow view shows the put
and its `err` reply; `lab.fate` tells the same in words.""",
    ),
    (
        "code",
        """mallory = lab.peer("mallory", rtc=False)
before = inspector.last.as_dict()
soul = f"~{pub}/profile"
state = time.time() * 1000 + 1000                      # a newer state: HAM alone would take it
mallory_keys = pair()
forged_sig = sea_parse(sign(pack(soul, "name", "Mallory", state), mallory_keys))["s"]
forged = {soul: {"_": {"#": soul, ">": {"name": state}},
                 "name": codec.dumps({":": "Mallory", "~": forged_sig})}}
msg = mallory.say({"put": forged})
reply = lab.bus.wait_for(
    lambda e: isinstance(e, trace.Heard) and e.node == mallory.pid and e.msg.get("@") == msg["#"],
    timeout=10, past=True)
print("the relay answered mallory:", reply.msg)
display(lab.fate(msg["#"]))
mallory_flow = lab.flow_view(peer=mallory)   # mallory's messages only
mallory_flow""",
    ),
    (
        "code",
        """lab.refresh()              # the live inspector reads alice's graph again: nothing changed
inspector""",
    ),
    (
        "md",
        """## And a graph nobody checked?

The peers refuse forged writes as they arrive, so a live graph holds only valid fields. A
graph from elsewhere (a file, a store, a peer that does not run SEA) was never checked:
`inspect_user(nodes, pub)` verifies it again, offline. Here, a copy of alice's graph with
her name changed by hand, and one plain value added.""",
    ),
    (
        "code",
        """copy = alice.graph()
signed_name = json.loads(copy[soul]["name"])
copy[soul]["name"] = codec.dumps({**signed_name, ":": "Mallory"})   # alice's signature kept
copy[soul]["note"] = "no signature"
copy[soul]["_"][">"]["note"] = state
report = inspect_user(copy, pub)
print(report.to_text())""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
assert ack.get("ok") and user.get_sync("profile") == {"name": "Alice", "city": "Lisbon"}
lab.refresh()
after = inspector.last.as_dict()
assert after["nodes"] == before["nodes"] and inspector.last.ok, inspector.to_text()
assert inspector.report["counts"]["valid"] == len(inspector.last.fields) >= 7
assert inspector.last.field(soul, "name").value == "Alice"
assert all(f.signer == pub for f in inspector.last.fields)
assert inspector.auth["summary"].startswith("auth succeeded"), inspector.auth
# the wrong password: alias, account and proof of work fine; the keys did not open
assert [s.ok for s in wrong_steps] == [True, True, True, False, False], wrong_steps
assert [(s.step, s.ok) for s in wrong_steps][-2:] == [("decrypt", False), ("failed", False)]
assert auth_summary(wrong_steps).startswith("auth failed at step 4, decrypting the private keys")
assert on_bob.last.ok and not on_bob.last.missing, on_bob.to_text()   # bob fetched her space
assert on_bob.auth["summary"].startswith("auth failed at step 4")  # the snapshot keeps the failure
assert lab.sea_sync(bob, "alice").auth["summary"].startswith("auth succeeded")  # "any peer can log in"
# mallory's forged put: refused with 'Unverified data.', relayed and stored nowhere
forged_fate = lab.fate(msg["#"])
assert reply.msg.get("err") == "Unverified data." and forged_fate.rejected == "Unverified data."
assert not forged_fate.relayed_by, forged_fate.summary
# the flow shows the put and its err reply (an ack naming the put, with err)
assert {r.kind for r in mallory_flow.rows if msg["#"] in (r.mid, r.reply_to)} == {"put", "ack"}
relay_graph = lab.rt.call(lambda: json.dumps(lab.relay.gun.graph.nodes))
assert "Mallory" not in json.dumps(alice.graph()) and "Mallory" not in relay_graph
assert report.field(soul, "name").verdict == "invalid" and pub[:8] in report.field(soul, "name").why
assert report.field(soul, "note").verdict == "unsigned"
assert report.counts()["valid"] == len(report.fields) - 2
print("inspector:", inspector.last.summary())""",
    ),
    (
        "md",
        """Done: close the Lab. The inspectors above keep what they showed last, marked closed.""",
    ),
    (
        "code",
        """lab.close()""",
    ),
]


NOTEBOOKS["09-your-browser-joins-the-mesh.ipynb"] = [
    (
        "md",
        """# Your browser joins the mesh

Gun's main client is a browser tab. Here your own browser joins the Lab's mesh: a page served
by the Lab's relay loads npm gun's own `gun.js` and `lib/webrtc.js` (the files the project's
npm install holds: no CDN), joins the relay over a WebSocket, and links by WebRTC to every peer
in the Lab's room, Python peers and other tabs alike. You will watch the tab appear in the mesh
(a small window, not a circle), put from the tab and from Python, follow each WebRTC link's
candidates and states in the **WebRTC links** tab, and stop the relay while the data channels
keep syncing.

**On Binder** the kernel runs in a container your browser reaches only through the Jupyter
server: the tab joins through `/proxy/<port>/` (jupyter-server-proxy), but the container has no
UDP path, so a direct WebRTC link from your tab to the kernel cannot form. Two tabs of yours
still link to each other on your own machine, signalled through the Lab, and the link report
says why the tab cannot reach the kernel. The cells below say which part is which.""",
    ),
    (
        "code",
        """import os

from gunrtc_kit import trace
from gunrtc_kit.lab import Lab

ON_BINDER = bool(os.environ.get("BINDER_LAUNCH_HOST"))  # set by mybinder.org
lab = Lab()
py = lab.peer("py")
lab.show()""",
    ),
    (
        "md",
        """## Open the page

`lab.browser("tab")` serves the page; the cell shows its link (through Jupyter, and straight
from this machine). `tab.open()` opens it in this machine's browser; on Binder click **open it
through Jupyter** instead. The next cell waits until the tab has joined: then its node appears
in the mesh above, linked to the relay by a WebSocket.""",
    ),
    (
        "code",
        """tab = lab.browser("tab")
tab""",
    ),
    (
        "code",
        """if not ON_BINDER:
    tab.open()   # your browser, on the machine this kernel runs on
pid = tab.wait_joined_sync(timeout=180)
print(f"the tab joined as {pid}")""",
    ),
    (
        "md",
        """## Put from the tab, put from Python

Type a key and a value in the tab's box and press *put*, or let Python ask the tab to do it:
`tab.put(key, value)` reaches the tab with its next report (within a second) and the tab's own
npm gun writes it. Python's peer then has it. A put from Python shows in the tab's table.""",
    ),
    (
        "code",
        """tab.put("hello", "hi from the browser")
lab.bus.wait_for(lambda e: isinstance(e, trace.Put) and e.node == py.pid
                 and "hello" in e.values.get("chat", {}), 15, past=True)
print("py has:", py.get_sync("chat.hello"))
py.put("chat.reply", "hi from python")
flow = lab.flow_view()
flow""",
    ),
    (
        "md",
        """## The tab's WebRTC link to Python

The tab announced itself in the room `lab`, as npm gun's `lib/webrtc.js` does; the Python peer
heard it and they made a WebRTC link, signalled through the relay. `lab.link_report` shows the
link as each end sees it: the candidates (Chromium's host candidates are mDNS names such as
`3f2c….local`), the pairs checked, the selected pair, DTLS and SCTP, and the rates. The **WebRTC
links** tab of the dashboard shows the same, live. On Binder this link cannot form: after a
few seconds the report names the reason instead.""",
    ),
    (
        "code",
        """def link_open(node, peer):
    return lambda e: (isinstance(e, trace.RtcState) and e.node == node and e.peer == peer
                      and e.layer == "link" and e.state == "open")

if ON_BINDER:
    import time
    time.sleep(12)   # the link is called stalled after 10 s, and its report says why
else:
    lab.bus.wait_for(link_open(py.pid, tab.pid), 30, past=True)
    for a, b in ((py.pid, tab.pid), (tab.pid, py.pid)):   # each end's stats, once a second
        lab.bus.wait_for(lambda e, a=a, b=b: isinstance(e, trace.LinkStats) and e.node == a
                         and e.peer == b and e.phase == "open", 30, past=True)
py_tab = lab.link_report("py", "tab")
py_tab""",
    ),
    (
        "md",
        """## A second tab: tab to tab

Open a second tab. The two tabs link to each other by WebRTC (on your machine, even on Binder),
signalled through the Lab's relay. No Python peer sees that link, so each tab reports its own
links and their `getStats()` to the Lab once a second: the mesh draws the link between the two
windows, and the link report reads both tabs' side of it.""",
    ),
    (
        "code",
        """tab2 = lab.browser("tab2")
if not ON_BINDER:
    tab2.open()
tab2
""",
    ),
    (
        "code",
        """pid2 = tab2.wait_joined_sync(timeout=180)
for a, b in ((tab.pid, pid2), (pid2, tab.pid)):
    lab.bus.wait_for(lambda e, a=a, b=b: isinstance(e, trace.LinkStats) and e.node == a
                     and e.peer == b and e.phase == "open", 60, past=True)
tab_tab = lab.link_report("tab", "tab2")
tab_tab""",
    ),
    (
        "md",
        """## Stop the relay

The relay goes away. Everything linked by WebRTC keeps syncing over its data channels: Python's
put reaches both tabs straight (the trace says `dc`). Type in one tab's box: the other tab shows
it, tab to tab. (On Binder only the two tabs stay linked: they have no other way to the kernel.)""",
    ),
    (
        "code",
        """lab.stop_relay_sync()
if not ON_BINDER:
    mid = py.put("chat.norelay", "python, without the relay")
    told = lambda e: (isinstance(e, trace.Said) and e.node == py.pid and e.msg.get("#") == mid
                      and e.transport == "dc")
    lab.bus.wait_for(lambda e: told(e) and e.peer == tab.pid, 15, past=True)
    lab.bus.wait_for(lambda e: told(e) and e.peer == pid2, 15, past=True)
    print("said over dc to", sorted(lab.name_of(e.peer) for e in lab.bus.history if told(e)))""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
lab.refresh()
with lab._hub.lock:
    roles = {lab.directory.label(p): lab.directory.role(p) for p in (tab.pid, pid2)}
    agents = [lab.directory.agent(p) for p in (tab.pid, pid2)]
    dc = {frozenset((e.a, e.b)) for e in lab._hub.mesh.edges.values() if e.transport == "dc"}
assert roles == {"tab": "browser", "tab2": "browser"}, roles
assert all(agents), agents            # each tab's user agent, from its own report
assert py.get_sync("chat.hello") == "hi from the browser"
with lab._hub.lock:  # python's reply was written to the tab's wire (relay's or py's own)
    to_tab = {e.transport for e in lab.bus.history if isinstance(e, trace.Said)
              and "reply" in (e.msg.get("put") or {}).get("chat", {})
              and lab.directory.resolve(e.node, e.peer) == tab.pid}
assert to_tab, "python's put was never written to the tab"
assert tab_tab.failure is None and frozenset((tab.pid, pid2)) in dc, tab_tab.summary()
if ON_BINDER:
    assert py_tab.failure is not None, py_tab.summary()   # it says why, instead of hanging
else:
    assert py_tab.failure is None and frozenset((py.pid, tab.pid)) in dc, py_tab.summary()
    assert len(py_tab.sides) == 2, py_tab.summary()   # python's end and the tab's
    assert all(side.last.selected for side in py_tab.sides), py_tab.summary()
print("py-tab:", py_tab.failure or "open", "| tab-tab:", tab_tab.failure or "open")""",
    ),
    (
        "md",
        """Done: close the Lab. The tabs stay open with their Gun and their links to each other;
close them in your browser.""",
    ),
    (
        "code",
        """lab.close()""",
    ),
]


NOTEBOOKS["10-watch-a-real-gunjs-app.ipynb"] = [
    (
        "md",
        """# Watch a real Gun.js app

The meshes people debug are not ones we built: they are Gun.js apps, in browsers and in Node,
talking to their relay. Their questions fill Gun's issue tracker: did my put arrive, who acked
it, why does this peer not have the data, which write won. Here a **tap** sits between a real
npm Gun.js relay and its clients: every client dials the tap instead of the relay, the tap
forwards every frame byte for byte, unchanged, and says what passed on the Lab's trace. The
views then show an app we did not write: two Gun.js clients in Node and one in a browser tab.

What a tap can and cannot say: it sees frames. It knows a copy was *delivered to a client's
socket*, not whether the client's Gun kept it (only the client knows that), and it says so.""",
    ),
    (
        "code",
        """import os
import time

from gunrtc_kit import trace
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.gunjs import GunJsRelay

ON_BINDER = bool(os.environ.get("BINDER_LAUNCH_HOST"))
relay = GunJsRelay().start()            # npm gun's own relay, in Node
lab = Lab()
tap = lab.tap(relay, name="npm relay")  # the app's clients dial tap.url instead of relay.url
lab.show()""",
    ),
    (
        "code",
        """tap""",
    ),
    (
        "md",
        """## The app's clients

`alice` and `bob` are npm Gun.js clients in Node (`lab.gunjs_client`); alice's app shows the
`chat` page (`gun.get("chat").map().on(...)`), bob's shows `profile` only. A browser tab (npm
gun's `gun.js` in a page) shows `chat` too; its Gun dials the tap (`peer_url`). They appear in
the mesh as amber diamonds: peers the Lab did not make, seen through the tap. (On Binder your
browser cannot reach a socket inside the kernel's container, so the tab is left out there.)""",
    ),
    (
        "code",
        """alice = lab.gunjs_client("alice", tap.url)
bob = lab.gunjs_client("bob", tap.url)
alice.subscribe_sync("chat")
bob.subscribe_sync("profile")
tab = None
if not ON_BINDER:
    tab = lab.browser("tab", peer_url=tap.url, rtc=False)
    tab.open()
    tab.wait_joined_sync(timeout=120)
print("clients through the tap:", [name for name, _ in tap.clients()])""",
    ),
    (
        "md",
        """## Follow one put

Alice writes. The tap shows her put going to the relay, the relay's ack coming back, and the
relay passing the write on to every client that asked for `chat`. npm Gun.js gives the copy it
passes on a **new message id**, so fate links it to alice's put by its soul, key, value and
state, and says so.""",
    ),
    (
        "code",
        """ack = alice.put_sync("chat", {"hello": "from alice"})
print("alice's Gun got its ack:", ack)
said = lab.bus.wait_for(lambda e: isinstance(e, trace.Said) and e.node == alice.pid
                        and "hello" in ((e.msg.get("put") or {}).get("chat") or {}), 10, past=True)
time.sleep(1.0)   # let the copies and the ack pass the tap
put_fate = lab.fate(said.msg["#"])
put_fate""",
    ),
    (
        "md",
        """## Why does bob not have it?

`tap.doctor()` compares the tapped clients from the frames alone. Bob never asked for `chat`:
a Gun relay pushes a put only to the peers that asked for its soul (as Gun's AXE does), so the
relay was right not to send it. The finding names the evidence (message ids) and says what it
could not know. `tap.explain` tells, for one client and one field, every value that reached it
or left it, and which one it holds by HAM.""",
    ),
    (
        "code",
        """time.sleep(1.0)   # past the doctor's grace: a copy still missing is a finding, not "on its way"
findings = tap.doctor()
for f in findings:
    print("-", f)
print()
print(tap.explain("alice", "chat.hello"))""",
    ),
    (
        "md",
        """## The recording, replayed

Everything the Lab saw is saved with the names, and opens again with a time slider: a tap's
recording can be looked at later, or by someone else.""",
    ),
    (
        "code",
        """path = lab.save_trace("tap-recording.jsonl.gz")
replay = lab.open_trace(path)
replay.seek(replay.duration / 2)
replay.show()""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
lab.refresh()
with lab._hub.lock:
    roles = {lab.directory.label(p): lab.directory.role(p) for p in lab._hub.mesh.nodes}
assert roles.get("alice") == "tapped" and roles.get("bob") == "tapped", roles
assert roles.get("npm relay") == "external", roles
assert not [n for n, r in roles.items() if r == "claim"], roles   # no doubted wire
assert ack.get("err") is None
story = str(put_fate)
assert "delivered to" in story and put_fate.acked, story
never = [f for f in findings if f.kind.value == "never_asked"]
assert [(f.client, f.soul) for f in never] == [(bob.pid, "chat")], [str(f) for f in findings]
assert bob.data("chat") == {} and alice.data("chat") == {"hello": "from alice"}  # true of them
assert tap.explain("alice", "chat.hello").held.copy.value == "from alice"
if tab is not None:
    assert roles.get("tab") == "browser", roles           # a browser tab, behind the tap
    assert not [n for n, r in roles.items() if r == "claim"], roles
    assert put_fate.forwarded_as, story          # the relay's own copy to the tab, re-ided
replay.seek(replay.duration)                   # the replay, at the end of the recording
replayed = replay.fate(said.msg["#"])
assert replayed.acked and "alice" in replayed.summary
print("doctor:", [str(f)[:60] for f in findings])""",
    ),
    (
        "md",
        """Done: close the Lab (its tap and Gun.js clients with it) and the relay.""",
    ),
    (
        "code",
        """lab.close()
relay.stop()
os.remove(path)""",
    ),
]


NOTEBOOKS["11-dam-step-by-step.ipynb"] = [
    (
        "md",
        """# DAM step by step: hold every message, deliver it by hand, fork the world

Until now messages flew by themselves. Here the world stops: **step mode** holds every frame on
its wire until *you* choose what becomes of it: deliver it, drop it, or deliver it twice. A
held frame is a real frame: when you deliver it, the receiver's dedup, `><`, `@` routing and
HAM act on it, in the order you chose.

Only in-memory wires can be held (a WebSocket's frames are in the kernel before we could stop
them), so this Lab's relay is a memory peer too: `Lab(relay="memory")`. And `seed=11` makes
the Lab repeatable: the same cells give the same ids, states and trace every time you run
them. Its clock stands still while the peers work and moves on 1 ms for each thing you do.

Three peers around the relay, and one direct link alice—bob. Each asks for `chat` once, so
the relay follows that soul for them (a relay passes a put only to peers that asked).""",
    ),
    (
        "code",
        """import warnings

from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.peers import NoValueWarning

lab = Lab(relay="memory", seed=11)
alice, bob, carol = (lab.peer(name, rtc=False) for name in ("alice", "bob", "carol"))
lab.link_memory(alice, bob)
with warnings.catch_warnings():  # nothing is there yet: each read finds nothing, and says so
    warnings.simplefilter("ignore", NoValueWarning)
    for p in (alice, bob, carol):
        p.get_sync("chat.hello", timeout=0.3)
lab.show()""",
    ),
    (
        "md",
        """## One put, every copy held

`lab.hold()` stops the world. alice writes; her put leaves her as two frames, one to the relay
and one to bob, and both wait on their wires: tokens in the mesh, rows marked *held* in the
flow. Click a token (or a held row) for a menu: deliver, drop, duplicate. Or use the cells.""",
    ),
    (
        "code",
        """lab.hold()
hello = alice.put("chat.hello", "hi all")
pending = lab.pending()
told = [lab.name_of(pid) for pid in pending[0].msgs[0]["><"].split(",")]
print("alice told herself:", told)
pending""",
    ),
    (
        "md",
        """The put's `><` lists the peers alice sent it to herself (the relay and bob). Deliver
the copy to the relay with `lab.step()` (the oldest held frame) and see what it causes: the
relay merges the write, **acks** it (a reply whose `@` names the put), and passes it on to the
peers that asked for `chat`, **except bob**: `><` spared him a copy he is getting from alice
anyway.""",
    ),
    (
        "code",
        """step = lab.step()
step""",
    ),
    (
        "md",
        """Now let the network misbehave: `duplicate` makes a second copy of alice's frame to bob
(a network that delivered it twice). Deliver both: bob **hears** the first and his **dedup**
drops the second (it has that `#` already). In the flow, the second arrow ends in a slashed
circle.""",
    ),
    (
        "code",
        """to_bob = next(p for p in lab.pending() if (p.src, p.dst) == ("alice", "bob"))
copy = lab.duplicate(to_bob)
lab.deliver(to_bob)
lab.deliver(copy)
lab.pending()""",
    ),
    (
        "md",
        """Two frames are left: the relay's copy for carol, and its ack for alice. The ack finds
its way back by `@`: the relay remembers which wire the put came from (its dedup entry), and
alice takes it because she sent that put to the relay. Deliver both and read the fate.""",
    ),
    (
        "code",
        """lab.deliver_all()
lab.fate(hello)""",
    ),
    (
        "md",
        """## Two writes at once, delivered in both orders

bob and carol write the same key before either hears the other. Which write arrives first
must not matter: **HAM** picks the write with the greater state (carol's, 1 ms later on the
Lab's clock), and on a tie the greater value. To try both orders on the very same situation,
**fork** the Lab now: `lab.fork()` builds a second Lab of memory peers where this one stands,
the same frames held, and we deliver them the other way round there.""",
    ),
    (
        "code",
        """bob.put("chat.topic", "apples")
carol.put("chat.topic", "bananas")
other = lab.fork()
print("held here:", [p.label for p in lab.pending()])
lab.deliver_all()                            # oldest first
for p in reversed(other.pending()):          # newest first, in the fork
    other.deliver(p)
other.deliver_all()
here = {n: p.graph()["chat"]["topic"] for n, p in lab.peers.items()}
there = {n: p.graph()["chat"]["topic"] for n, p in other.peers.items()}
print("this Lab:", here)
print("the fork:", there)
lab.explain(alice, "chat.topic")""",
    ),
    (
        "md",
        """## What if the ack had been lost?

alice writes again; deliver her put to the relay, so the relay's ack is on its way back to
her. Fork here, and in the fork **drop** the ack. Everyone still agrees on the data, yet
alice never hears her answer (her `await put()` would time out). The doctor compares the
graphs (converged) and lists the unanswered put, with the reason from the trace: the ack was
dropped by hand on relay→alice. The fork's views say they are a fork, and of what.""",
    ),
    (
        "code",
        """bye = alice.put("chat.bye", "see you")
lab.deliver(next(p for p in lab.pending() if p.dst == "relay"))
what_if = lab.fork()
what_if.drop(next(p for p in what_if.pending() if p.kinds == ("ack",)))
what_if.deliver_all()
what_if.show()
what_if.doctor()""",
    ),
    (
        "code",
        """lab.deliver_all()   # in the Lab itself the ack arrives
lab.doctor()""",
    ),
    (
        "code",
        """# checks: what the text above says, held against what the cells showed
assert set(told) == {"relay", "bob"}, told
made = {(p.src, p.dst, p.kinds) for p in step.new}
assert ("relay", "carol", ("put",)) in made and ("relay", "alice", ("ack",)) in made, made
assert not [p for p in step.new if p.dst == "bob"], step.new      # >< spared bob
fate = lab.fate(hello)
assert fate.acked and fate.duplicates == 1 and set(fate.heard_by) == {"relay", "bob", "carol"}, fate
assert set(here.values()) == set(there.values()) == {"bananas"}, (here, there)
report = what_if.doctor()
assert report.converged and len(report.unanswered) == 1, report
assert report.unanswered[0].msg_id == bye and "dropped by hand" in report.unanswered[0].text
assert what_if.forked_from and "fork of this Lab" in what_if.hub.notice
assert lab.fate(bye).acked and not lab.doctor().unanswered
print("checked")""",
    ),
    (
        "code",
        """other.close()
what_if.close()
lab.close()""",
    ),
]

def main() -> None:
    for name, cells in NOTEBOOKS.items():
        stem = name.split("-", 1)[0]
        nb = new_notebook(
            cells=[
                (new_markdown_cell if kind == "md" else new_code_cell)(src, id=f"nb{stem}-{i:02d}")
                for i, (kind, src) in enumerate(cells)
            ],
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
        )
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    main()
