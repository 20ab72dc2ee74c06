"""``scheduler.FairWork``: connections take turns, one budget per loop turn for them all.

Loop turns are counted by a callback that schedules itself again each turn (``call_soon``
runs once per iteration of the loop), so "per turn" is checked, not guessed from time."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from gunrtc_kit.root.scheduler import FairWork, Scheduler

pytestmark = pytest.mark.asyncio


class Ticker:
    """The number of the loop turn we are in."""

    def __init__(self) -> None:
        self.turn = 0
        self.on = True
        asyncio.get_running_loop().call_soon(self.tick)

    def tick(self) -> None:
        self.turn += 1
        if self.on:
            asyncio.get_running_loop().call_soon(self.tick)


async def finish(work: FairWork[str, list[int]]) -> None:
    assert work.worker is not None
    await asyncio.wait_for(work.worker, 5)


async def test_connections_take_turns_within_one_budget_per_turn() -> None:
    errors: list[str] = []
    sched = Scheduler(errors.append)
    ticker = Ticker()
    steps: list[tuple[str, int]] = []

    def step(job: list[int]) -> tuple[bool, int]:
        key, left = job[0], job[1]
        steps.append(("abc"[key], ticker.turn))
        job[1] = left - 1
        return job[1] == 0, 1

    work: FairWork[str, list[int]] = FairWork(sched, "test", step, lambda: 4)
    work.add("a", [0, 30])  # a big job, then a second one on the same connection
    work.add("a", [0, 30])
    work.add("b", [1, 3])
    work.add("c", [2, 2])
    await finish(work)
    ticker.on = False
    order = "".join(k for k, _ in steps)
    assert order.startswith("abcabcab")  # one step each in turn; c's job is done after two
    assert order.index("b") < 2 and order.rindex("b") < 10  # b waits behind steps, not jobs
    per_turn = Counter(turn for _, turn in steps)
    assert max(per_turn.values()) == 4  # the budget, shared by all three
    assert len(steps) == 65 and work.total() == 0 and not errors


async def test_spent_work_counts_against_the_turn_and_drop_takes_a_connections_jobs() -> None:
    errors: list[str] = []
    sched = Scheduler(errors.append)
    done: list[str] = []

    def step(job: list[int]) -> tuple[bool, int]:
        done.append("abc"[job[0]])
        return True, 1

    work: FairWork[str, list[int]] = FairWork(sched, "test", step, lambda: 3)
    work.spend(3)  # done outside the worker this turn: the worker waits for the next one
    assert work.left() == 0
    work.add("a", [0])
    work.add("b", [1])
    work.add("b", [1])
    assert [j[0] for j in work.drop("b")] == [1, 1]
    assert work.queued("b") == 0 and work.total() == 1
    await finish(work)
    assert done == ["a"] and work.left() == 3 and not errors


async def test_a_failing_step_is_reported_and_the_others_go_on() -> None:
    errors: list[str] = []
    sched = Scheduler(errors.append)
    done: list[int] = []

    def step(job: list[int]) -> tuple[bool, int]:
        if job[0] == 0:
            raise ValueError("bad job")
        done.append(job[0])
        return True, 1

    work: FairWork[str, list[int]] = FairWork(sched, "test", step, lambda: 8)
    work.add("a", [0])
    work.add("b", [1])
    await finish(work)
    assert done == [1]
    assert errors == ["test: a step failed: ValueError('bad job')"]
