"""Reasons from the answers to puts: refused with ``err``, or never acked by any relay.

Why apart: these are about the writer's put, not the behind peer's links; one reason names
every behind peer, and a refused put's cure (fix it and write again) is the one action the
healer never runs on its own.
"""

from __future__ import annotations

from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.kinds import ERROR_ACK, FIX, NEVER_ACKED
from gunrtc_kit.diagnose.doctor.reasons import Reasons
from gunrtc_kit.diagnose.doctor.records import carries
from gunrtc_kit.diagnose.doctor.report import Action, Reason

__all__ = ["ack_reasons"]


def ack_reasons(
    ctx: Context,
    reasons: Reasons,
    soul: str,
    key: str,
    win_state: float,
    behind: tuple[str, ...],
) -> None:
    """Add the puts carrying the data that were refused with ``err``, or that no relay
    acked."""
    _refused(ctx, reasons, soul, key, behind)
    _never_acked(ctx, reasons, soul, key, win_state, behind)


def _refused(ctx: Context, reasons: Reasons, soul: str, key: str, behind: tuple[str, ...]) -> None:
    index = ctx.index
    for mid in index.carried.get(soul, ()):
        put = index.puts[mid]
        if not carries(put.body, soul, key):
            continue
        for te, who, err in index.errors.get(mid, ())[:1]:
            fix = Action(
                FIX,
                f"fix the put #{mid} and write it again",
                peer=put.origin,
                soul=soul,
                safe=False,
            )
            reasons.add(
                Reason(
                    ERROR_ACK,
                    f"{ctx.name_of(who)} refused put #{mid} from {ctx.name_of(put.origin)} "
                    f"with err {err!r} ({ctx.ago(te)}): a refused put is not relayed on",
                    behind,
                    msg_id=mid,
                    since=te,
                    actions=(*(ctx.reget(p, soul) for p in behind), fix),
                )
            )


def _never_acked(
    ctx: Context,
    reasons: Reasons,
    soul: str,
    key: str,
    win_state: float,
    behind: tuple[str, ...],
) -> None:
    index = ctx.index
    written = index.written.get((soul, key, win_state))
    if written is None:
        return
    t, origin, mid = written
    if not index.puts[mid].wants_ack or mid in index.acked or index.errors.get(mid):
        return
    if ctx.at - t <= ctx.ack_timeout:
        return
    # plain peers never ack: a put that only ever reached snapshotted non-relay peers was
    # not expected to be acked; one said to a relay we see, or to a peer outside the
    # snapshots (an attached Gun.js relay), was
    sent_to = {c.dst for c in index.copies.get(mid, ())}
    plain = set(ctx.snapshots) - ctx.relays
    if not (sent_to & ctx.relays) and sent_to <= plain:
        return
    reasons.add(
        Reason(
            NEVER_ACKED,
            f"put #{mid} of {soul}.{key} from {ctx.name_of(origin)} was never acked (no "
            f"answer within {ctx.ack_timeout:g} s): no relay took it",
            behind,
            msg_id=mid,
            since=t,
            actions=tuple(ctx.reget(p, soul) for p in behind),
        )
    )
