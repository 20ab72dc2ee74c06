"""Puts whose writer heard no answer, and why: the question a writer asks when its
``await put()`` times out ("No ACK yet." in Gun.js), which a comparison of graphs cannot
answer (the peers may all agree and the writer still never hear its ack).

For each put that wants an ack, was said to a relay, and whose writer heard neither ``ok`` nor
``err``, the trace says which of these happened, first match wins:

- a relay answered, but the answer never reached the writer: its copy was dropped on the way
  (the wire's loss, a partition, dropped by hand in step mode...), with the cause;
- a relay answered and the answer is still on its way (held in step mode, or in flight);
- the put never reached any relay it was said to (each copy dropped), with the causes;
- a relay heard it and has not answered (yet);
- nothing is known yet (the copies are on their way).
"""

from __future__ import annotations

from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.report import Unanswered
from gunrtc_kit.diagnose.fate_types import LOST_WHY

__all__ = ["MAX_UNANSWERED", "unanswered"]

MAX_UNANSWERED = 50  # puts listed at most (the oldest first)


def unanswered(ctx: Context) -> tuple[Unanswered, ...]:
    """The unanswered puts of the trace, each with the reason the trace gives."""
    index = ctx.index
    out: list[Unanswered] = []
    for mid, put in index.puts.items():
        if len(out) >= MAX_UNANSWERED:
            break
        if not put.wants_ack or mid in index.acked or index.errors.get(mid):
            continue
        if put.origin not in ctx.snapshots:
            continue
        told = {c.dst for c in index.copies.get(mid, ()) if c.src == put.origin}
        answers = [r for r in index.answers.get(mid, ()) if r[1] == put.origin]
        if not answers and not (told & ctx.relays):
            continue  # said to plain peers only: nobody was going to ack it
        out.append(Unanswered(mid, put.origin, _why(ctx, mid, put.origin, told, answers)))
    return tuple(out)


def _why(
    ctx: Context, mid: str, origin: str, told: set[str], answers: list[tuple[str, str, str]]
) -> str:
    index = ctx.index
    who = ctx.name_of(origin)
    for reply, _to, sayer in answers:
        for drop in index.drops.get(reply, ()):
            if drop.dst == origin:
                why = LOST_WHY.get(drop.cause, drop.cause.value)
                return (
                    f"{ctx.name_of(sayer)} acked it (#{reply}), but that ack never reached "
                    f"{who}: {why} on {ctx.name_of(sayer)}\u2192{who}"
                )
    for reply, _to, sayer in answers:
        if (reply, origin) not in index.heard:
            return (
                f"{ctx.name_of(sayer)} acked it (#{reply}); the ack is still on its way to "
                f"{who} (held or in flight)"
            )
    relays = sorted(told & ctx.relays) or sorted(told)
    lost = [d for d in index.drops.get(mid, ()) if d.src == origin and d.dst in relays]
    if relays and len({d.dst for d in lost}) == len(relays):
        causes = "; ".join(
            f"to {ctx.name_of(d.dst)}: {LOST_WHY.get(d.cause, d.cause.value)}" for d in lost
        )
        return f"the put never reached a relay ({causes})"
    heard_by = [r for r in relays if (mid, r) in index.heard]
    if heard_by:
        names = ", ".join(ctx.name_of(r) for r in heard_by)
        return f"{names} heard it and has not answered (yet)"
    return "no answer yet: its copies are on their way"
