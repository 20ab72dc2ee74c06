"""One finding explained: every reason family asked about every peer behind on one soul/key.

Why the order matters: reasons are listed as found, and some families speak only when the
earlier ones found nothing for a peer (the links at the time of the write, a subscription's
down link), so a report names the nearest cause first and does not pile guesses on it.
"""

from __future__ import annotations

import math

from gunrtc_kit.diagnose.doctor.acks import ack_reasons
from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.deferred import deferred_reasons
from gunrtc_kit.diagnose.doctor.history import copy_reasons
from gunrtc_kit.diagnose.doctor.links import path_downs, path_reasons, write_time_reasons
from gunrtc_kit.diagnose.doctor.reasons import Reasons
from gunrtc_kit.diagnose.doctor.report import Finding, Holding
from gunrtc_kit.diagnose.doctor.subscriptions import subscription_reasons

__all__ = ["explain"]


def explain(ctx: Context, soul: str, key: str, holdings: tuple[Holding, ...]) -> Finding:
    """The finding for one soul/key: every reason that keeps each behind peer from the
    winning value, and the actions that would cure them."""
    ahead = {h.pid for h in holdings if h.current}
    behind = tuple(h.pid for h in holdings if not h.current)
    win = next(h for h in holdings if h.current)
    win_state = win.state if win.state is not None else -math.inf
    written = ctx.index.written.get((soul, key, win_state))
    merged = ctx.index.merged.get((soul, key, win_state))
    t_write = written.t if written else merged.t if merged else None
    origin = written.origin if written else merged.node if merged else win.pid
    reasons = Reasons()
    ways: dict[str, set[str]] = {}
    for pid in behind:
        deferred_reasons(ctx, reasons, pid, soul, key)
        ways[pid] = path_reasons(ctx, reasons, pid, soul, key, ahead)
        if t_write is not None:  # and the way the write could have taken to pid back then
            then = path_downs(ctx.index, origin, {pid}, t_write)
            if then is not None:
                ways[pid] = ways[pid] | then[1]
        copy_reasons(ctx, reasons, pid, soul, key, ways[pid], win_state)
        if t_write is not None and not reasons.has(pid):
            write_time_reasons(ctx, reasons, pid, soul, key, origin, t_write)
        quiet = reasons.has(pid)
        subscription_reasons(
            ctx, reasons, pid, soul, ahead, t_write, quiet=quiet, late=(key, win_state)
        )
    ack_reasons(ctx, reasons, soul, key, win_state, behind)
    _share_reasons(ctx, reasons, soul, behind, ways)
    fallback = () if reasons else tuple(ctx.reget(pid, soul) for pid in behind)
    return Finding(soul, key, holdings, reasons.all(), fallback)


def _share_reasons(
    ctx: Context, reasons: Reasons, soul: str, behind: tuple[str, ...], ways: dict[str, set[str]]
) -> None:
    """A peer whose way to the data passes a peer that lacks it too lacks it for the same
    reasons as that peer: bob reaches the relay only through alice, who never asked; or, when
    the value was written, the relay's way to the writer went through alice, whose copy was
    lost (the way now is direct, but nobody pushes an old write again). Repeated until
    nothing moves, since a peer given reasons may pass them on in turn."""
    for _ in behind:
        bare = [pid for pid in behind if not reasons.has(pid)]
        moved = False
        for pid in bare:
            via = next((q for q in ways[pid] if q != pid and q in behind and reasons.has(q)), None)
            if via is None:
                continue
            reasons.extend_to(via, pid, ctx.reget(pid, soul))
            moved = True
        if not moved:
            break
