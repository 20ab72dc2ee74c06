"""Strings a view shows survive any JSON text Gun allows, lone surrogates included.

``"\\ud800"`` is valid JSON; it decodes to a str that UTF-8 cannot encode, and the kernel sends
widget messages as UTF-8. Such a soul, key or value must reach the browser as a visible
escape (``\\ud800``), in every message and synced trait, never as an encoding error."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.views.base import text_safe
from tests.helpers import front, record, until

LONE = "\ud800"  # a high surrogate with no low one after it
ESCAPE = "\\ud800"  # what the user sees instead: the text that was on the wire
SOUL, KEY, VALUE = f"doc{LONE}", f"k{LONE}", f"v{LONE}\udfff"


def utf8(x: Any) -> str:
    """``x`` as the kernel would send it (raises if UTF-8 cannot carry it)."""
    text = json.dumps(x, ensure_ascii=False)
    text.encode("utf-8")
    return text


def test_the_raw_strings_would_fail_without_the_boundary() -> None:
    # the premise: without text_safe the kernel could not send these
    with pytest.raises(UnicodeEncodeError):
        utf8({SOUL: {KEY: VALUE}})
    safe = text_safe({SOUL: {KEY: [VALUE, 1, None]}, "plain": "x"})
    assert safe == {"doc\\ud800": {"k\\ud800": ["v\\ud800\\udfff", 1, None]}, "plain": "x"}
    honest = {"doc": {"k": ["v", 1]}, "é": "ü ✓ 😀"}
    assert text_safe(honest) is honest  # nothing to change: not even copied


def test_a_put_with_lone_surrogates_reaches_every_view_as_an_escape(lab: Lab) -> None:
    a, b = lab.memory_peer("a"), lab.memory_peer("b")
    lab.link_memory(a, b)
    flow = lab.flow_view()
    sent_flow = record(flow)
    mid = a.put(SOUL, {KEY: VALUE})

    async def arrived() -> None:
        def ok() -> bool:  # b merged the put, and the flow has the copy it heard
            merged = any(
                isinstance(e, trace.Put) and e.node == b.pid and e.msg_id == mid
                for e in list(lab.bus.history)
            )
            lab.refresh()
            return merged and any(r.mid == mid and r.mark == "heard" for r in flow.rows)

        await until(ok, 10)

    asyncio.run(arrived())
    peer_b = lab.peer_view(b)  # made now: a view frozen when made still holds the put
    # the peer tab: its snapshot trait is what the browser gets (no error banner)
    front(peer_b, {"type": "hello"})
    assert not peer_b.error and not flow.error
    state = peer_b.get_state()
    snapshot = utf8(state["peer"])
    assert ESCAPE in snapshot and "doc\\\\ud800" in snapshot  # json doubles the backslash
    # the flow: rows asked for by the browser, and ticks
    front(flow, {"type": "hello"})
    front(flow, {"type": "rows", "req": 1, "from": 0, "to": len(flow.rows)})
    assert sent_flow
    for msg in sent_flow:
        utf8(msg)
    # the selected message's detail (its JSON and fate), as the synced trait carries it
    flow.selected = mid
    detail = flow.get_state()["detail"]
    text = utf8(detail)
    assert detail["mid"] == mid and ESCAPE in detail["json"] and "loading" not in text
    assert not flow.error and not peer_b.error
