"""The reason from a snapshot alone: a peer holds the value back until its clock reaches it.

Why apart: it needs no trace at all (HAM on the peer keeps a state from the future waiting),
and its cure is not to ask again but to wait, so it must be named before anything else.
"""

from __future__ import annotations

from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.kinds import DEFERRED, WAIT_UNTIL
from gunrtc_kit.diagnose.doctor.reasons import Reasons
from gunrtc_kit.diagnose.doctor.render import short
from gunrtc_kit.diagnose.doctor.report import Action, Reason

__all__ = ["deferred_reasons"]


def deferred_reasons(ctx: Context, reasons: Reasons, pid: str, soul: str, key: str) -> None:
    """Add a reason for each write of ``soul``/``key`` that ``pid`` holds for a future state."""
    snap = ctx.snapshots.get(pid)
    if snap is None:
        return
    name = ctx.name_of(pid)
    for pending in snap.deferred:
        if pending.soul != soul or pending.key != key:
            continue
        wait = max(pending.when - snap.now, 0.0) / 1000.0
        reasons.add(
            Reason(
                DEFERRED,
                f"{name} holds {soul}.{key}={short(pending.value)} back: its state is "
                f"{wait:.1f} s ahead of {name}'s clock (a writer's clock runs "
                "ahead), and HAM applies a future state only when its time comes",
                (pid,),
                actions=(
                    Action(
                        WAIT_UNTIL,
                        f"wait {wait:.1f} s until {name}'s clock reaches the state",
                        peer=pid,
                        soul=soul,
                        until=pending.when,
                        wait=wait,
                    ),
                ),
            )
        )
