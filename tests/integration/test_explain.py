"""``explain`` on every HAM branch, from real Gun peers on memory wires.

Each test makes the peers write for real (their graphs merge through the core ``ham``, their
trace is the bus's), then asks ``explain`` about the receiving peer's field and checks the
verdicts against what the peer's graph really did, and the equal-state winners against the
Node-verified vectors (``test_ham.GUN_WINNERS``, ``js_vectors.json`` ``cmp``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import Gun, trace
from gunrtc_kit.core.codec import dumps
from gunrtc_kit.diagnose import Directory, explain
from gunrtc_kit.diagnose.explain import (
    ACCEPTED,
    DEFERRED,
    IGNORED,
    KEPT,
    REFUSED,
    SAME,
    Explanation,
    split_field,
)
from gunrtc_kit.transport.memory import connect_memory
from tests.helpers import until
from tests.unit.test_ham import GUN_WINNERS

CMP = json.loads((Path(__file__).parents[1] / "unit" / "js_vectors.json").read_text())["cmp"]


class Pair:
    """Two peers, ``a`` (alice) and ``b`` (bob), on one memory wire and one bus."""

    def __init__(self, bus: trace.TraceBus, a: Gun, b: Gun) -> None:
        self.bus, self.a, self.b = bus, a, b
        self.names = Directory({a.pid: "alice", b.pid: "bob"})

    def write(self, gun: Gun, soul: str, key: str, value: Any, state: float) -> str:
        """A put of one field at an explicit state (as a peer with that clock would)."""
        node = {"_": {"#": soul, ">": {key: state}}, key: value}
        return gun.put_graph({soul: node}).id

    async def heard(self, gun: Gun, mid: str) -> None:
        await self.bus.until(
            lambda e: isinstance(e, trace.Heard) and e.node == gun.pid and e.msg.get("#") == mid,
            5,
            past=True,
        )

    async def send(self, soul: str, key: str, value: Any, state: float) -> str:
        """alice writes; wait until bob heard it."""
        mid = self.write(self.a, soul, key, value, state)
        await self.heard(self.b, mid)
        return mid

    def explain(self, soul: str, key: str, gun: Gun | None = None) -> Explanation:
        g = gun or self.b
        return explain(
            list(self.bus.history),
            g.pid,
            soul,
            key,
            g.graph.get_node(soul) or {},
            self.names,
            name="bob" if g is self.b else "alice",
        )


async def pair(b_clock: Any = time.time, a_clock: Any = time.time, keep: int = 10_000) -> Pair:
    bus = trace.TraceBus(keep=keep)
    a = await Gun(bus=bus, clock=a_clock).start()
    b = await Gun(bus=bus, clock=b_clock).start()
    connect_memory(a.mesh, b.mesh)
    for g in (a, b):
        await bus.until(lambda e, g=g: isinstance(e, trace.Link) and e.node == g.pid, 5, past=True)
    return Pair(bus, a, b)


@pytest.fixture
async def p() -> AsyncIterator[Pair]:
    x = await pair()
    yield x
    await x.a.close()
    await x.b.close()


def graph_value(g: Gun, soul: str, key: str) -> Any:
    return g.graph.nodes[soul][key]


# ---------------------------------------------------------------------------- newer, older


async def test_newer_state_is_accepted_and_older_ignored(p: Pair) -> None:
    p.write(p.b, "doc", "x", "bob's", 10)
    await p.send("doc", "x", "newer", 20)
    await p.send("doc", "x", "older", 15)
    ex = p.explain("doc", "x")
    assert ex.verdicts() == [ACCEPTED, ACCEPTED, IGNORED]
    first, newer, older = ex.rows
    assert first.source == "local" and "first value" in first.reason
    assert newer.source == "heard" and newer.sender == p.a.pid and newer.sender_name == "alice"
    assert newer.via == "memory" and newer.author == p.a.pid
    assert "newer" in newer.reason and newer.held_by == 1 and newer.held_state == 10
    assert "older" in older.reason and older.held_by == 2 and older.held_state == 20
    # the winner is what bob's graph holds, and the summary says why in HAM's terms
    assert graph_value(p.b, "doc", "x") == "newer" == ex.value and ex.state == 20
    assert ex.winner == 2 and newer.winner and not older.winner
    assert "newer than that of the other 2 writes" in ex.summary
    assert older.at >= newer.at >= first.at >= 0


async def test_explain_from_the_sender_side_sees_its_own_writes(p: Pair) -> None:
    mid = p.write(p.b, "doc", "x", "bob's", 10)
    await p.heard(p.a, mid)
    p.write(p.a, "doc", "x", "alice's", 5)  # alice's own write, older than what she holds
    ex = p.explain("doc", "x", p.a)
    assert [r.source for r in ex.rows] == ["heard", "local"]
    assert ex.rows[0].sender_name == "bob" and ex.rows[0].verdict == ACCEPTED
    # a local put with an older state: gun's merge ignores it, and the Said put shows it
    assert ex.rows[1].verdict == IGNORED
    assert graph_value(p.a, "doc", "x") == "bob's" and ex.winner == 1


# ---------------------------------------------------------------------------- equal states


def equal_state_cases() -> list[tuple[Any, Any, bool]]:
    """(held, incoming, incoming's JSON text is greater), from Node's own answers."""
    cases: list[tuple[Any, Any, bool]] = []
    for a, b, winner in GUN_WINNERS:
        for held, incoming in ((a, b), (b, a)):
            wins = dumps(incoming) == dumps(winner) and dumps(held) != dumps(winner)
            cases.append((held, incoming, wins))
    for a, b, a_greater in CMP:  # JSON.stringify(a) > JSON.stringify(b), from node
        cases.append((b, a, a_greater))
    return cases


async def test_equal_states_follow_gun_lexical_rule_both_ways(p: Pair) -> None:
    cases = equal_state_cases()
    assert any(w for *_, w in cases) and any(not w for *_, w in cases)
    for i, (held, incoming, wins) in enumerate(cases):
        soul = f"eq{i}"
        p.write(p.b, soul, "v", held, 5)
        await p.send(soul, "v", incoming, 5)
        ex = p.explain(soul, "v")
        case = f"case {i}: held {held!r}, incoming {incoming!r}"
        local, heard = ex.rows
        assert local.verdict == ACCEPTED, case
        assert heard.verdict == (ACCEPTED if wins else KEPT), case
        # the verdict is what the real merge did, and the node vectors say the same
        got = graph_value(p.b, soul, "v")
        assert dumps(got) == dumps(incoming if wins else held), case
        assert ex.winner == (2 if wins else 1), case
        # both JSON texts and the comparison are shown, in Gun's terms
        sign = ">" if wins else "<"
        assert f"{dumps(incoming)} {sign} {dumps(held)}" in heard.reason, case
        assert "equal states" in heard.reason and "equal states" in ex.summary, case


async def test_nine_beats_ten_and_a_link_beats_a_string(p: Pair) -> None:
    p.write(p.b, "n", "v", 10, 7)
    await p.send("n", "v", 9, 7)
    ex = p.explain("n", "v")
    assert ex.verdicts() == [ACCEPTED, ACCEPTED] and ex.value == 9
    assert "9 > 10" in ex.rows[1].reason and "9 > 10" in ex.summary
    p.write(p.b, "l", "v", {"#": "users/bob"}, 7)
    await p.send("l", "v", "zzz", 7)
    ex = p.explain("l", "v")
    assert ex.verdicts() == [ACCEPTED, KEPT] and ex.value == {"#": "users/bob"}
    assert '"zzz" < {"#":"users/bob"}' in ex.rows[1].reason
    # the string "9" loses to the number 10: '"' < '1'
    p.write(p.b, "s", "v", 10, 7)
    await p.send("s", "v", "9", 7)
    assert p.explain("s", "v").verdicts() == [ACCEPTED, KEPT]


async def test_the_same_value_and_state_again_changes_nothing(p: Pair) -> None:
    p.write(p.b, "doc", "x", "hi", 5)
    await p.send("doc", "x", "hi", 5)
    ex = p.explain("doc", "x")
    assert ex.verdicts() == [ACCEPTED, SAME]
    assert "nothing to change" in ex.rows[1].reason and ex.winner == 1


# ---------------------------------------------------------------------------- the future


async def test_a_future_state_is_deferred_then_applied() -> None:
    x = await pair(a_clock=lambda: time.time() + 0.25)  # alice's clock runs 250 ms ahead
    try:
        put = x.a.get("doc").get("x").put("from the future")
        await x.heard(x.b, put.id)
        early = x.explain("doc", "x")
        assert early.verdicts() == [DEFERRED] and not early.held and early.winner == 0
        row = early.rows[0]
        assert row.due == row.state and "ahead of this peer's clock" in row.reason
        assert row.then.startswith("still held back")
        assert "holds no value" in early.summary
        await x.bus.until(
            lambda e: isinstance(e, trace.Put) and e.node == x.b.pid and e.msg_id == put.id,
            5,
            past=True,
        )
        ex = x.explain("doc", "x")
        row = ex.rows[0]
        assert ex.verdicts() == [DEFERRED] and row.winner and ex.value == "from the future"
        assert row.then.startswith("held back") and "applied at" in row.then
        assert row.applied_at is not None and row.applied_at > row.at
        assert row.ahead_ms is not None and row.ahead_ms > 0
        assert "held it back until" in ex.summary
        assert graph_value(x.b, "doc", "x") == "from the future"
    finally:
        await x.a.close()
        await x.b.close()


async def test_a_deferred_state_superseded_before_its_time_is_not_applied() -> None:
    now = [time.time()]
    x = await pair(b_clock=lambda: now[0])  # bob's clock moves only when told
    try:
        due = now[0] * 1000 + 200
        await x.send("doc", "x", "early bird", due)  # 200 ms ahead of bob: held back
        now[0] += 1.0  # bob's clock jumps a second; his own write is newer than alice's
        x.b.get("doc").get("x").put("bob's")
        await until(lambda: not x.b._deferred, 5)  # the timer came and HAM ignored it
        ex = x.explain("doc", "x")
        assert ex.verdicts() == [DEFERRED, ACCEPTED]
        early, mine = ex.rows
        assert early.due == due and early.applied_at is None
        assert early.then.startswith("not applied") and "#2" in early.then
        assert mine.source == "local" and mine.winner and ex.value == "bob's"
        assert graph_value(x.b, "doc", "x") == "bob's"
    finally:
        await x.a.close()
        await x.b.close()


async def test_a_pending_future_state_is_named_in_the_summary(p: Pair) -> None:
    p.write(p.b, "doc", "x", "now", 5)
    far = time.time() * 1000 + 3_600_000  # an hour ahead
    await p.send("doc", "x", "later", far)
    ex = p.explain("doc", "x")
    assert ex.verdicts() == [ACCEPTED, DEFERRED] and ex.winner == 1
    assert "held back until" in ex.summary and "UTC" in ex.summary
    assert ex.rows[1].then.startswith("still held back")


# ---------------------------------------------------------------------------- what is missing


async def test_a_field_never_written_gets_a_clear_answer(p: Pair) -> None:
    await p.send("doc", "x", 1, 5)
    ex = p.explain("doc", "nope")
    assert ex.rows == () and not ex.held and ex.winner == 0
    assert "never written" in ex.summary
    assert "never written" in str(ex) and "never written" in ex._repr_html_()
    none = explain([], "pid", "s", "k")
    assert none.rows == () and "never written" in none.summary


async def test_a_refused_put_says_why(p: Pair) -> None:
    # no state for x: gun's "no state." error; the peer refuses the put
    p.a.mesh.say({"#": "bad1", "put": {"doc": {"_": {"#": "doc", ">": {}}, "x": 5}}})
    await p.heard(p.b, "bad1")
    await p.bus.until(
        lambda e: isinstance(e, trace.Error) and e.node == p.b.pid and e.msg_id == "bad1",
        5,
        past=True,
    )
    ex = p.explain("doc", "x")
    assert ex.verdicts() == [REFUSED] and "no state" in ex.rows[0].reason
    assert not ex.held and "doc" not in p.b.graph.nodes


async def test_summarized_big_messages_show_a_preview(p: Pair) -> None:
    big = "x" * 5000  # the bus history keeps messages over 2 KiB as summaries
    await p.send("doc", "x", big, 5)
    ex = p.explain("doc", "x")
    row = ex.rows[0]
    assert row.preview and row.verdict == ACCEPTED and row.winner
    assert len(row.text) < 100 and row.text.endswith('…"')
    assert any("summaries" in n for n in ex.notes)
    assert graph_value(p.b, "doc", "x") == big and ex.value == big


async def test_a_truncated_history_says_so() -> None:
    x = await pair(keep=30)
    try:
        x.write(x.b, "doc", "x", "old news", 5)
        for i in range(40):  # enough traffic to push the write out of the history
            await x.send(f"other{i}", "y", i, 5)
        events = list(x.bus.history)
        assert len(events) == x.bus.keep
        ex = explain(
            events,
            x.b.pid,
            "doc",
            "x",
            x.b.graph.get_node("doc"),
            truncated=len(events) >= x.bus.keep,
        )
        assert ex.rows == () and ex.held and ex.value == "old news"
        assert "no write in the trace explains it" in ex.summary
        assert "dropped its oldest events" in ex.summary
        assert any("dropped its oldest events" in n for n in ex.notes)
    finally:
        await x.a.close()
        await x.b.close()


# ---------------------------------------------------------------------------- relayed writes


async def test_a_relayed_write_names_its_author_and_the_wire_it_came_by() -> None:
    bus = trace.TraceBus()
    a, c, b = [await Gun(bus=bus).start() for _ in range(3)]
    try:
        connect_memory(a.mesh, c.mesh)
        connect_memory(c.mesh, b.mesh)
        for g in (a, b, c):
            await bus.until(
                lambda e, g=g: isinstance(e, trace.Link) and e.node == g.pid, 5, past=True
            )
        put = a.get("doc").get("x").put("via carol")
        await until(lambda: "doc" in b.graph.nodes)
        d = Directory({a.pid: "alice", b.pid: "bob", c.pid: "carol"})
        ex = explain(list(bus.history), b.pid, "doc", "x", b.graph.get_node("doc"), d)
        (row,) = ex.rows
        assert row.mid == put.id and row.sender == c.pid and row.author == a.pid
        assert "alice's write (heard from carol over memory)" in ex.summary
    finally:
        for g in (a, b, c):
            await g.close()


# ---------------------------------------------------------------------------- shapes


def test_split_field_splits_at_the_last_dot() -> None:
    assert split_field("a/b.c") == ("a/b", "c")
    assert split_field("x.y.z") == ("x.y", "z")
    for bad in ("nodot", ".k", "s.", ""):
        with pytest.raises(ValueError, match="soul"):
            split_field(bad)


async def test_text_and_html_reprs_show_every_row_escaped(p: Pair) -> None:
    p.write(p.b, "doc", "x", "<b>bold</b>", 10)
    await p.send("doc", "x", "older", 3)
    ex = p.explain("doc", "x")
    text, page = str(ex), ex._repr_html_()
    assert "#1" in text and "#2" in text and "ignored" in text and ex.summary in text
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert page.count("gk-explain-ignored") == 1 and page.count("gk-winner") == 1
    d = ex.as_dict()
    assert [r["verdict"] for r in d["rows"]] == [ACCEPTED, IGNORED]
    assert d["rows"][1]["from"] == "alice" and d["rows"][0]["from"] == "this peer"
    json.dumps(d)  # what a view sends must be JSON
