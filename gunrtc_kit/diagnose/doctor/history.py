"""Reasons from the history of the copies: where each copy carrying the data toward a peer went.

Why follow copies: a link that is up now says nothing of the frame it lost a minute ago.
Each put carrying the soul/key is followed to the behind peer (or to a peer on its way to the
data): dropped by a partition, lost on a lossy or closing wire, heard too late to be merged,
spared by a relay because the sayer's ``><`` list claimed the peer was told, lost on a data
channel that gave up, or still on its way.
"""

from __future__ import annotations

from gunrtc_kit import trace
from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.kinds import IN_FLIGHT, LOST, NOT_RELAYED, PARTITION
from gunrtc_kit.diagnose.doctor.reasons import Reasons
from gunrtc_kit.diagnose.doctor.records import PutRecord, carries, link_key
from gunrtc_kit.diagnose.doctor.report import Reason

__all__ = ["copy_reasons", "not_relayed_reason"]

_LOST_TEXT = {
    trace.DropCause.LOSS: "lost on the lossy link",
    trace.DropCause.WIRE_CLOSED: "lost when it was closed with the copy on it: link",
    trace.DropCause.PEER_LEFT: "never sent (the peer had left) on link",
    trace.DropCause.QUEUE_FULL: "never sent (the queue was full) on link",
    trace.DropCause.FRAME_TOO_BIG: "never sent (over the wire's size limit) on link",
}


def copy_reasons(
    ctx: Context,
    reasons: Reasons,
    pid: str,
    soul: str,
    key: str,
    via: set[str],
    win_state: float,
) -> None:
    """Add the copies carrying the data that were lost toward ``pid`` (or toward a peer
    ``via`` which the data would reach it), or are still on their way; ``win_state`` is the
    state of the value that wins (only a put of it can be ``not_relayed``)."""
    for mid in ctx.index.carried.get(soul, ()):
        if not carries(ctx.index.puts[mid].body, soul, key):
            continue
        _dropped(ctx, reasons, pid, soul, mid, via)
        not_relayed_reason(ctx, reasons, pid, soul, key, mid, win_state)
        _late(ctx, reasons, pid, soul, mid)
        _unarrived(ctx, reasons, pid, soul, mid)


def _dropped(ctx: Context, reasons: Reasons, pid: str, soul: str, mid: str, via: set[str]) -> None:
    """Copies of ``mid`` dropped on the way to ``pid`` or to a peer on its way."""
    for t, src, dst, why in ctx.index.drops.get(mid, ()):
        if dst != pid and dst not in via:
            continue  # lost toward a peer that is not on pid's way to the data
        text = ctx.link_text(src, dst)
        copy = f"{ctx.name_of(src)}'s copy of #{mid} ({soul}) to {ctx.name_of(dst)} was"
        if why is trace.DropCause.PARTITIONED:
            kind, said = PARTITION, f"{copy} dropped by the partition of {text} ({ctx.ago(t)})"
        else:
            kind, said = LOST, f"{copy} {_LOST_TEXT.get(why, 'lost on')} {text} ({ctx.ago(t)})"
        reasons.add(Reason(kind, said, (pid,), link_key(src, dst), t, mid, (ctx.reget(pid, soul),)))


def not_relayed_reason(
    ctx: Context,
    reasons: Reasons,
    pid: str,
    soul: str,
    key: str,
    mid: str,
    win_state: float,
) -> None:
    """A put ``pid`` never heard whose sayer listed ``pid`` in ``><`` (the peers it tells
    itself) and whose own copy for ``pid`` did not arrive, while a peer that heard it from
    that sayer has a wire to ``pid`` and so would have passed it on, but for the list.
    Only a put of the value that wins counts (an older write's fate explains nothing),
    and never for the peer that wrote it."""
    index = ctx.index
    put = index.puts[mid]
    if (mid, pid) in index.heard or put.origin == pid or not _wins(put, soul, key, win_state):
        return
    names = {pid, ctx.name_of(pid)}
    for sayer, told in index.told.get(mid, {}).items():
        if sayer == pid or not (names & told):
            continue
        own = [c for c in index.copies.get(mid, ()) if c.src == sayer and c.dst == pid]
        if not own and sayer in ctx.relays:
            continue  # a relay routes by subscription: not telling pid is its choice
        spared = _spared(ctx, pid, soul, mid, sayer)
        if not spared:
            continue
        lost = [d for d in index.drops.get(mid, ()) if d.src == sayer and d.dst == pid]
        if lost:
            what = f"it was lost on the way ({lost[0].cause.value})"
        elif own:
            what = "it never arrived"
        else:
            what = "none was sent (their link was closing)"
        name, sayer_name = ctx.name_of(pid), ctx.name_of(sayer)
        reasons.add(
            Reason(
                NOT_RELAYED,
                f"{sayer_name}'s copy of put #{mid} ({soul}) listed {name} in '><' "
                f"(the peers it tells itself), so "
                f"{', '.join(ctx.name_of(q) for q in spared)} did not pass it on to "
                f"{name}; but {sayer_name}'s own copy for {name}: {what}",
                (pid,),
                msg_id=mid,
                since=put.t,
                actions=(ctx.reget(pid, soul),),
            )
        )
        return


def _wins(put: PutRecord, soul: str, key: str, win_state: float) -> bool:
    """Whether ``put`` carries the state of ``soul``.``key`` that wins now."""
    node = put.body.get(soul)
    meta = node.get("_") if isinstance(node, dict) else None
    states = meta.get(">") if isinstance(meta, dict) else None
    state = states.get(key) if isinstance(states, dict) else None
    return isinstance(state, int | float) and state == win_state


def _spared(ctx: Context, pid: str, soul: str, mid: str, sayer: str) -> list[str]:
    """The peers that heard ``mid`` from ``sayer``, have a link to ``pid`` and would have
    passed it on but for the ``><`` list (a relay only if ``pid`` asked it for the soul)."""
    index = ctx.index
    heard_from = {c.dst for c in index.copies.get(mid, ()) if c.src == sayer}
    asked = {to for _, to in index.asked(pid, soul)}
    # a relay routes by subscription: it would pass the put to pid only if pid asked it
    heard_from = {q for q in heard_from if q not in ctx.relays or q in asked}
    return sorted(
        q
        for q in heard_from
        if q != pid and (mid, q) in index.heard and link_key(q, pid) in index.links
    )


def _late(ctx: Context, reasons: Reasons, pid: str, soul: str, mid: str) -> None:
    """Replies carrying the data that ``pid`` heard but dropped: no request of its own was
    still open for them."""
    for t, src, dst in ctx.index.late.get(mid, ()):
        if dst != pid:
            continue
        name = ctx.name_of(pid)
        reasons.add(
            Reason(
                LOST,
                f"{name} dropped the reply #{mid} ({soul}) from {ctx.name_of(src)}: "
                f"it answered no request of {name}'s still open ({ctx.ago(t)})",
                (pid,),
                since=t,
                msg_id=mid,
                actions=(ctx.reget(pid, soul),),
            )
        )


def _unarrived(ctx: Context, reasons: Reasons, pid: str, soul: str, mid: str) -> None:
    """Copies said to ``pid`` with no sign of their fate: on their way while young, lost
    when they went over a data channel (which gives up on a frame after its retransmits)."""
    index = ctx.index
    for c in index.copies.get(mid, ()):
        if (
            c.dst != pid
            or (mid, pid) in index.heard
            or (mid, pid) in index.refused
            or any(d.dst == pid for d in index.drops.get(mid, ()))
        ):
            continue
        age = ctx.at - c.t
        name, src = ctx.name_of(pid), ctx.name_of(c.src)
        if age < ctx.in_flight_for:
            reasons.add(
                Reason(
                    IN_FLIGHT,
                    f"#{mid} ({soul}) from {src} is on its way to {name} (said {age:.1f} s ago)",
                    (pid,),
                    msg_id=mid,
                    actions=(ctx.reget(pid, soul),),
                )
            )
        elif c.transport == "dc":
            reasons.add(
                Reason(
                    LOST,
                    f"{src} sent #{mid} ({soul}) to {name} over a "
                    f"WebRTC data channel {ctx.ago(c.t)} and it never arrived: Gun's "
                    "channel is unordered with maxRetransmits, so it gives up on a frame",
                    (pid,),
                    link_key(c.src, pid),
                    c.t,
                    mid,
                    (ctx.reget(pid, soul),),
                )
            )
