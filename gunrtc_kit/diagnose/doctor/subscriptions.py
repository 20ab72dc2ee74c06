"""Reasons from subscriptions: relays push a put only to the connections that asked for its soul.

Why its own family: with AXE routing a peer linked to a relay, on an up link, can still never
see a write, because it never asked the relay for the soul, or asked on a connection since
closed and did not ask again on the new one, or its get was lost on the way. The cure is the
same each time (ask again), but the story differs, and the story is what a user needs.
"""

from __future__ import annotations

import dataclasses

from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.kinds import NOT_REASKED, NOT_SUBSCRIBED
from gunrtc_kit.diagnose.doctor.links import link_reason
from gunrtc_kit.diagnose.doctor.reasons import Reasons
from gunrtc_kit.diagnose.doctor.records import SaidGet
from gunrtc_kit.diagnose.doctor.report import Reason

__all__ = ["subscription_reasons"]


def subscription_reasons(
    ctx: Context,
    reasons: Reasons,
    pid: str,
    soul: str,
    ahead: set[str],
    t_write: float | None,
    quiet: bool,
    late: tuple[str, float] | None = None,
) -> None:
    """Did ``pid`` ask the relays it is linked to for ``soul``, and ask again after it
    reconnected, or after the relay applied a write it had held back (``late``: the key and
    the winning state)? Then, unless a reason already accounts for ``pid`` (``quiet``): is the link
    to a relay it asked, or to a peer holding the data, down now?"""
    index = ctx.index
    asked = index.asked(pid, soul)
    relays = [
        r
        for (a, b), link in index.links.items()
        if pid in (a, b) and not link.state()
        for r in ((b if a == pid else a),)
        if r in ctx.relays
    ]
    if pid in ctx.relays:
        return
    for relay in relays:
        _relay_reason(ctx, reasons, pid, soul, relay, asked, t_write, late)
    if quiet:
        return
    quiet = _gone_reasons(ctx, reasons, pid, soul, ahead, asked)
    # a get it only passed on to plain peers subscribed it nowhere; one to a relay did
    subscribed = (pid, soul) in index.own_gets or any(to in ctx.relays for _, to in asked)
    if not relays and not subscribed and not quiet:
        reasons.add(
            Reason(
                NOT_SUBSCRIBED,
                f"{ctx.name_of(pid)} never asked for {soul!r} (no get or on) and no put of it "
                f"reached {ctx.name_of(pid)} when it was written",
                (pid,),
                actions=(ctx.reget(pid, soul),),
            )
        )


def _relay_reason(
    ctx: Context,
    reasons: Reasons,
    pid: str,
    soul: str,
    relay: str,
    asked: list[SaidGet],
    t_write: float | None,
    late: tuple[str, float] | None = None,
) -> None:
    """Why ``relay`` (on an up link to ``pid``) pushes nothing to ``pid``: never asked, not
    asked again since the link reopened, the last get was lost on the way, or it was
    answered while the relay still held the write back (a relay pushes a put when it
    arrives, not when a held one is applied later)."""
    index = ctx.index
    name, relay_name = ctx.name_of(pid), ctx.relay_name(relay)
    to_relay = [t for t, to in asked if to == relay]
    opened = index.opened.get((pid, relay), [])
    last_open = opened[-1] if opened else None
    if not to_relay:
        reasons.add(
            Reason(
                NOT_SUBSCRIBED,
                f"{name} never asked {relay_name} for {soul!r} (no get or "
                f"on): a relay pushes a put only to the peers that asked for its "
                f"soul, so nothing was pushed to {name}",
                (pid,),
                actions=(ctx.reget(pid, soul),),
            )
        )
    elif (
        last_open is not None
        and to_relay[-1] < last_open
        and len(opened) > 1
        and (t_write is None or t_write >= to_relay[-1])
    ):
        closed = [c for c in index.closed_at.get((pid, relay), []) if c <= last_open]
        when = f"closed {ctx.ago(closed[-1])} and " if closed else ""
        reasons.add(
            Reason(
                NOT_REASKED,
                f"{name} asked {relay_name} for {soul!r} "
                f"{ctx.ago(to_relay[-1])}; their link {when}reopened "
                f"{ctx.ago(last_open)}, and {name} did not ask again: the relay "
                "forgot the subscription with the old connection",
                (pid,),
                since=last_open,
                actions=(ctx.reget(pid, soul),),
            )
        )
    elif _asked_before_applied(ctx, soul, relay, to_relay[-1], late):
        key, state = late or ("", 0.0)
        applied = index.applied_late[(soul, key, state, relay)]
        reasons.add(
            Reason(
                NOT_REASKED,
                f"{name} asked {relay_name} for {soul!r} {ctx.ago(to_relay[-1])}, while "
                f"{relay_name} held {soul}.{key} back (its state was ahead of the relay's "
                f"clock); the relay applied it {ctx.ago(applied)} and pushes a put only "
                f"when it arrives, so {name} must ask again",
                (pid,),
                since=applied,
                actions=(ctx.reget(pid, soul),),
            )
        )
    elif index.last_get_lost(pid, soul, relay):
        # the get was lost on the way (a partition or a lossy link, since mended or
        # remade): the relay never subscribed pid, and pid never asked again
        reasons.add(
            Reason(
                NOT_REASKED,
                f"{name} asked {relay_name} for {soul!r} "
                f"{ctx.ago(to_relay[-1])}, but that get never reached it (lost on their "
                f"link), and {name} did not ask again: the relay never followed "
                f"{soul!r} for {name}",
                (pid,),
                actions=(ctx.reget(pid, soul),),
            )
        )


def _gone_reasons(
    ctx: Context,
    reasons: Reasons,
    pid: str,
    soul: str,
    ahead: set[str],
    asked: list[SaidGet],
) -> bool:
    """Add the links, down now, from ``pid`` to the relays it asked or to the peers holding
    the data: what they push no longer reaches it. Returns whether any was found."""
    found = False
    gone = {to for _, to in asked if to in ctx.relays} | ahead
    for (a, b), link in ctx.index.links.items():
        other = b if a == pid else a if b == pid else ""
        if other in gone and link.state():
            found = True
            reason = link_reason(ctx, a, b, (pid,), soul)
            if other in ctx.relays:
                text = f"{ctx.name_of(pid)} asked {ctx.name_of(other)} for {soul!r}, but "
                reason = dataclasses.replace(reason, text=text + reason.text)
            reasons.add(reason)
    return found


def _asked_before_applied(
    ctx: Context, soul: str, relay: str, asked_at: float, late: tuple[str, float] | None
) -> bool:
    """Whether ``relay`` applied the winning write it had held back after ``asked_at``."""
    if late is None:
        return False
    applied = ctx.index.applied_late.get((soul, late[0], late[1], relay))
    return applied is not None and applied > asked_at
