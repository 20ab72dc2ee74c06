"""The bad-input matrix against our relay over real sockets: each hostile frame gets its
answer (Gun's error text where Gun has one), a second client's put is still acked while it
runs, the relay's memory stays within a stated bound, and its log stays small (one line per
bad message, never a traceback per message)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.adversarial.hostile import RelayProcess, messages, put_ack_time, raw_client

pytestmark = pytest.mark.asyncio

Check = Callable[[list[dict[str, Any]]], bool]


def _put(mid: str, soul: str, key: str, value: Any) -> str:
    st = time.time() * 1000
    return json.dumps({"#": mid, "put": {soul: {"_": {"#": soul, ">": {key: st}}, key: value}}})


def err_is(text: str) -> Check:
    return lambda got: any(text in str(m.get("err", "")) for m in got)


def ok_for(mid: str) -> Check:
    return lambda got: any(m.get("@") == mid and m.get("ok") for m in got)


# (name, frame as sent, check on what came back)
CASES: list[tuple[str, str | bytes, Check]] = [
    ("binary frame", b"\x00\x01\x02", err_is("DAM frames are text")),
    ("not JSON", "{nope", err_is("DAM JSON parse error.")),
    ("a bare number", "42", err_is("DAM JSON parse error.")),
    ("dam that is an object", '{"#":"m01","dam":{}}', err_is("Unknown dam {}.")),
    ("unknown dam", '{"#":"m02","dam":"zap"}', err_is('Unknown dam "zap".')),
    ("a batch of numbers", "[" + ",".join(["1"] * 50_000) + "]", err_is("50000 of 50000")),
    ("put that is a number", '{"#":"m03","put":5}', err_is("Invalid graph! put is not")),
    ("node without meta", '{"#":"m04","put":{"s":{"a":1}}}', err_is("Invalid graph!")),
    ("get without a soul", '{"#":"m05","get":{}}', err_is("get without a soul")),
    ("get that is a string", '{"#":"m06","get":"s"}', err_is("get without a soul")),
    ("soul named constructor", _put("m07", "constructor", "k", 1), ok_for("m07")),
    ("soul named __proto__", _put("m08", "__proto__", "k", 1), ok_for("m08")),
    ("lone surrogate in a key", _put("m09", "s", "\ud800k", 1), ok_for("m09")),
    ("lone surrogate in a value", _put("m10", "s", "k", "v\udfff"), ok_for("m10")),
    (
        "array value",
        '{"#":"m11","put":{"s":{"_":{"#":"s",">":{"a":1}},"a":[1]}}}',
        err_is("Invalid graph!"),
    ),
    (
        "state that is a string",
        '{"#":"m12","put":{"s":{"_":{"#":"s",">":{"a":"x"}},"a":1}}}',
        err_is("Invalid graph!"),
    ),
]


async def _answers(url: str, frame: str | bytes, want: Check) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with raw_client(url) as ws:
        await ws.send(frame)
        async with asyncio.timeout(10):
            while not want(got):
                raw = await ws.recv()
                got.extend(m for m in messages(raw) if isinstance(m, dict))
    return got


@pytest.mark.parametrize(("name", "frame", "want"), CASES, ids=[c[0] for c in CASES])
async def test_each_bad_input_gets_its_answer_and_stalls_no_one(
    relay_proc: RelayProcess, name: str, frame: str | bytes, want: Check
) -> None:
    attack = asyncio.ensure_future(_answers(relay_proc.url, frame, want))
    worst = 0.0
    for i in range(3):
        worst = max(worst, await put_ack_time(relay_proc.url, f"honest/{name}/{i}"))
    got = await attack
    assert want(got), got
    errors = [m for m in got if m.get("dam") == "!"]
    assert len(errors) <= 1, f"{len(errors)} error replies for one frame"
    assert worst < 2.0, f"an honest put waited {worst:.2f} s"


async def test_the_matrix_leaves_memory_and_log_bounded(relay_proc: RelayProcess) -> None:
    # runs after the cases (file order): the relay saw every bad input above
    sent = sum(len(f) for _, f, _ in CASES)
    assert relay_proc.proc.poll() is None, "the relay died"
    assert relay_proc.rss_mb() < 150, f"relay RSS {relay_proc.rss_mb():.0f} MB after the matrix"
    log = relay_proc.log_text()
    assert "Traceback" not in log
    assert len(log) < max(20_000, sent // 10), f"{len(log)} bytes of log for {sent} sent"
