"""The wire-conformance table: frames in, frames out, the same for our relay and Gun.js's.

Why a table: a Python peer is only useful if a Gun.js peer and ours read the wire the same
way. Each ``Case`` is a short script of raw frames sent by bare WebSocket clients (``a`` and
``b``, no Gun code on their side) and of what they must hear back, so one list says where the
two implementations agree and, with ``differs``, records where we deliberately do not (we are
stricter where Gun.js is unsafe, or say aloud what it drops silently). Wire facts are from
``gun-wire.md`` (the shared protocol notes); expected differences cite why.

A pattern is a dict matched as a subset, recursively: ``ANY`` needs the key present with any
value, ``ABSENT`` needs it missing. Every client answers the relay's ``?`` greeting with its
pid, as a Gun.js client does, before a case starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from gunrtc_kit.trace import DropCause

__all__ = ["ABSENT", "ANY", "CASES", "Answer", "Case", "Client", "Expect", "Send", "matches"]

STATE = 1_700_000_000_000  # a state in the past: neither relay defers it as a future write
QUIET = 0.3  # seconds a case holds still before checking that something did NOT happen


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ANY = _Marker("ANY")
ABSENT = _Marker("ABSENT")


def matches(msg: Any, pattern: Any) -> bool:
    """``msg`` holds everything ``pattern`` asks for (see the module doc)."""
    if isinstance(pattern, dict):
        if not isinstance(msg, dict):
            return False
        for key, want in pattern.items():
            if want is ABSENT:
                if key in msg:
                    return False
            elif key not in msg or not (want is ANY or matches(msg[key], want)):
                return False
        return True
    return bool(msg == pattern)


# ----------------------------------------------------------------------------- the steps
@dataclass(frozen=True)
class Send:
    """Client ``by`` sends ``frame`` as is (text, or bytes for a binary frame)."""

    by: str
    frame: str | bytes


@dataclass(frozen=True)
class Expect:
    """Client ``by`` must hear a message matching ``pattern`` (bounded wait); with ``count``
    set, exactly that many such messages by the end of the case (checked after ``QUIET``)."""

    by: str
    pattern: dict[str, Any]
    count: int | None = None


@dataclass(frozen=True)
class Answer:
    """Client ``by`` waits for a GET of ``soul`` relayed to it and answers it with ``node``,
    as a peer holding the data would (``@`` = the relayed GET's ``#``)."""

    by: str
    soul: str
    node: dict[str, Any]


Step = Send | Expect | Answer


@dataclass(frozen=True)
class Case:
    """One row: ``steps`` run in order on a fresh relay, with clients ``a`` and ``b``.

    ``dropped``: on our relay, a ``trace.Dropped`` with this cause for this ``#`` must be
    emitted (the trace says why a frame had no effect). ``differs``: target name -> why that
    target is expected NOT to behave as the row says (run as a strict xfail there).
    """

    name: str
    steps: tuple[Step, ...]
    dropped: tuple[DropCause, str] | None = None
    differs: dict[str, str] = field(default_factory=dict)
    #: our relay's ``max_frame`` for this row (None: the relay's default, RELAY_MAX_FRAME)
    max_frame: int | None = None


# ----------------------------------------------------------------------------- frames
def node(soul: str, **values: Any) -> dict[str, Any]:
    """A node with every key at ``STATE``."""
    return {"_": {"#": soul, ">": {k: STATE for k in values}}, **values}


def put(mid: str, soul: str, **values: Any) -> str:
    return json.dumps({"#": mid, "put": {soul: node(soul, **values)}})


def get(mid: str, soul: str, key: str | None = None) -> str:
    lex: dict[str, str] = {"#": soul} if key is None else {"#": soul, ".": key}
    return json.dumps({"#": mid, "get": lex})


def ack_of(mid: str) -> dict[str, Any]:
    return {"@": mid, "ok": ANY, "err": ABSENT}


GUNJS_LENIENT_JSON = (
    "Gun.js's relay parses with YSON, which reads '{bad json' as {} and broadcasts it to the "
    "other peers (gun-wire.md 3.1); we refuse it with a 'DAM JSON parse error.' to the sender"
)

CASES: tuple[Case, ...] = (
    Case(
        "relay_greets_with_its_pid",
        (Expect("a", {"dam": "?", "pid": ANY, "#": ANY, "@": ABSENT}),),
    ),
    Case(
        "question_is_answered_with_pid",
        (
            Send("a", json.dumps({"#": "q1", "dam": "?", "pid": "CONFxxxxA"})),
            Expect("a", {"dam": "?", "@": "q1", "pid": ANY}),
        ),
    ),
    Case(
        "put_is_acked",
        (Send("a", put("p1", "conf/put", k="v")), Expect("a", ack_of("p1"))),
    ),
    Case(
        "get_returns_the_node",
        (
            Send("a", put("p1", "conf/node", k="v", n=2)),
            Expect("a", ack_of("p1")),
            Send("b", get("g1", "conf/node")),
            Expect("b", {"@": "g1", "put": {"conf/node": {"k": "v", "n": 2}}}),
        ),
    ),
    Case(
        "get_of_a_key_returns_that_key_only",
        (
            Send("a", put("p1", "conf/key", x=1, y=2)),
            Expect("a", ack_of("p1")),
            Send("b", get("g1", "conf/key", "x")),
            Expect("b", {"@": "g1", "put": {"conf/key": {"x": 1, "y": ABSENT}}}),
        ),
    ),
    Case(
        "get_of_a_missing_soul_is_answered_not_found",
        (
            Send("a", get("g1", "conf/missing")),
            Expect("a", {"@": "g1", "put": ABSENT, "err": ABSENT}),
        ),
    ),
    Case(
        "duplicate_id_is_dropped",
        (
            Send("a", put("p1", "conf/dup", k="v")),
            Expect("a", ack_of("p1")),
            Send("a", put("p1", "conf/dup", k="changed")),
            Expect("a", ack_of("p1"), count=1),
            Send("b", get("g1", "conf/dup")),
            Expect("b", {"@": "g1", "put": {"conf/dup": {"k": "v"}}}),
        ),
        dropped=(DropCause.DUPLICATE, "p1"),
    ),
    Case(
        "batch_frame_is_handled_message_by_message",
        (
            Send("a", f"[{put('p1', 'conf/batch', k='v')},{get('g1', 'conf/batch')}]"),
            Expect("a", ack_of("p1")),
            Expect("a", {"@": "g1", "put": {"conf/batch": {"k": "v"}}}),
        ),
    ),
    Case(
        "put_reaches_a_subscribed_peer",
        (
            Send("b", get("g1", "conf/sub")),
            Expect("b", {"@": "g1"}),
            Send("a", put("p1", "conf/sub", k="live")),
            Expect("b", {"put": {"conf/sub": {"k": "live"}}, "@": ABSENT}),
        ),
    ),
    Case(
        "reply_is_routed_back_to_the_asker",
        (
            # b asks first: a relay (ours, and Gun.js's AXE) relays a GET to the peers
            # subscribed to its soul, and asking is what subscribes (gun-wire.md 5.7)
            Send("b", get("g0", "conf/far")),
            Expect("b", {"@": "g0"}),
            Send("a", get("g1", "conf/far")),
            Answer("b", "conf/far", node("conf/far", x=42)),
            Expect("a", {"@": "g1", "put": {"conf/far": {"x": 42}}}),
        ),
    ),
    Case(
        "mesh_control_is_not_relayed",
        (
            Send("a", json.dumps({"#": "d1", "dam": "?", "pid": "CONFxxxxA"})),
            Expect("a", {"dam": "?", "@": "d1"}),
            Expect("b", {"#": "d1"}, count=0),
        ),
    ),
    Case(
        "invalid_json_is_refused_to_its_sender",
        (
            Send("a", "{bad json"),
            Expect("a", {"dam": "!", "err": "DAM JSON parse error."}),
            Expect("b", {"#": ANY, "put": ABSENT, "get": ABSENT, "dam": ABSENT}, count=0),
        ),
        differs={"gunjs": GUNJS_LENIENT_JSON},
    ),
    Case(
        "frame_over_max_frame_is_refused",
        (
            Send("a", put("p1", "conf/big", blob="x" * 300_000)),
            Expect("a", {"dam": "!", "err": "Message too big!"}),
            Expect("a", ack_of("p1"), count=0),
        ),
        max_frame=200_000,
        differs={
            "gunjs": "Gun.js's opt.max is 90 M chars and not lowered here; our relay is run "
            "with max_frame=200000, as an operator would bound what one peer may send",
        },
    ),
    Case(
        "binary_frame_is_refused_aloud",
        (
            Send("a", b'{"#":"bin1","get":{"#":"conf/bin"}}'),
            Expect("a", {"dam": "!", "err": ANY}),
        ),
        differs={
            "gunjs": "Gun.js ignores a binary frame silently (raw[0] is a number, gun-wire.md "
            "1); we tell the sender why nothing happened",
        },
    ),
    Case(
        "reply_nobody_asked_for_is_not_stored",
        (
            Send(
                "a",
                json.dumps(
                    {
                        "#": "r1",
                        "@": "nobody",
                        "put": {"conf/forged": node("conf/forged", k="forged")},
                    }
                ),
            ),
            Send("b", get("g1", "conf/forged")),
            Expect("b", {"@": "g1", "put": ABSENT}),
            Expect("b", {"put": {"conf/forged": ANY}}, count=0),
        ),
        dropped=(DropCause.UNSOLICITED_REPLY, "r1"),
    ),
)


# ----------------------------------------------------------------------------- the driver
class Client:
    """A bare WebSocket client that records every message it hears, batches unpacked."""

    def __init__(self, ws: ClientConnection, pid: str) -> None:
        self.ws = ws
        self.pid = pid
        self.heard: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                data = json.loads(frame)
                msgs = data if isinstance(data, list) else [data]
                self.heard.extend(m for m in msgs if isinstance(m, dict))
                self._new.set()

    async def wait(self, pattern: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """The first message heard (ever) matching ``pattern``; bounded."""
        seen = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for m in self.heard[seen:]:
                        if matches(m, pattern):
                            return m
                    seen = len(self.heard)
                    self._new.clear()
                    await self._new.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.pid} heard nothing matching {pattern!r}; heard {self.heard[-8:]!r}"
            ) from None

    def count(self, pattern: dict[str, Any]) -> int:
        return sum(1 for m in self.heard if matches(m, pattern))

    async def send(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def client(url: str, pid: str) -> AsyncIterator[Client]:
    """A client that has answered the relay's ``?`` greeting with ``pid``."""
    async with connect(url, max_size=None, ping_interval=None, open_timeout=10) as ws:
        c = Client(ws, pid)
        try:
            hello = await c.wait({"dam": "?", "pid": ANY, "@": ABSENT})
            await c.send(json.dumps({"#": f"{pid}hi", "dam": "?", "pid": pid, "@": hello["#"]}))
            yield c
        finally:
            await c.close()


async def run_case(case: Case, clients: dict[str, Client], timeout: float = 5.0) -> None:
    """Play ``case``'s steps (each wait bounded by ``timeout``); then, after holding
    ``QUIET``, check its counts."""
    counted: list[Expect] = []
    for step in case.steps:
        if isinstance(step, Send):
            await clients[step.by].send(step.frame)
        elif isinstance(step, Answer):
            c = clients[step.by]
            asked = await c.wait({"get": {"#": step.soul}, "#": ANY}, timeout)
            await c.send(
                json.dumps(
                    {"#": f"ans{asked['#']}", "@": asked["#"], "put": {step.soul: step.node}}
                )
            )
        elif step.count is None:
            await clients[step.by].wait(step.pattern, timeout)
        else:
            if step.count:
                await clients[step.by].wait(step.pattern, timeout)
            counted.append(step)
    if counted:
        # holding still IS the check: nothing more may arrive in this window
        await asyncio.sleep(QUIET)
        for step in counted:
            got = clients[step.by].count(step.pattern)
            assert got == step.count, f"{step.by} heard {got} x {step.pattern!r}, want {step.count}"
