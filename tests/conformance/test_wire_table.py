"""Run the wire-conformance table (``wire.CASES``) against our relay and npm gun's relay.

Each row runs on a fresh relay (dedup, subscriptions and the graph start empty) with two bare
WebSocket clients on loopback. A row listed in ``differs`` for a target is a strict xfail
there: if Gun.js ever starts behaving like us, or we like it, the table must be updated.
Our relay also has to say *why* a frame had no effect: a row's ``dropped`` cause must appear
on its trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gunrtc_kit import Relay, trace
from tests.conformance.wire import CASES, Case, Client, client, run_case
from tests.interop.gunjs import GunJsRelay

pytestmark = pytest.mark.asyncio


def _rows(target: str) -> list[object]:
    return [
        pytest.param(
            case,
            id=case.name,
            marks=[pytest.mark.xfail(reason=case.differs[target], strict=True)]
            if target in case.differs
            else [],
        )
        for case in CASES
    ]


@contextlib.asynccontextmanager
async def _clients(url: str) -> AsyncIterator[dict[str, Client]]:
    async with client(url, "CONFxxxxA") as a, client(url, "CONFxxxxB") as b:
        yield {"a": a, "b": b}


@pytest.mark.parametrize("case", _rows("ours"))
async def test_our_relay(case: Case) -> None:
    bus = trace.TraceBus()
    relay = await Relay(bus=bus, max_frame=case.max_frame).start()
    try:
        async with _clients(relay.url) as clients:
            await run_case(case, clients)
            if case.dropped is not None:
                cause, mid = case.dropped
                await bus.until(
                    lambda e: isinstance(e, trace.Dropped) and e.cause is cause and e.msg_id == mid,
                    5,
                    past=True,
                )
    finally:
        await relay.stop()


@pytest.mark.interop
@pytest.mark.parametrize("case", _rows("gunjs"))
async def test_gunjs_relay(case: Case, tmp_path: Path) -> None:
    # radisk on: a Gun.js relay without storage sends no put acks and no not-found replies
    async with GunJsRelay(radisk=tmp_path / "radata") as relay:
        async with _clients(relay.ws_url) as clients:
            # a row known to differ fails at its first wait: no need to wait the full 5 s
            await run_case(case, clients, timeout=1.0 if "gunjs" in case.differs else 5.0)
