"""Reasons from the links: no path to the data, a down link on the way, or one down when written.

Why the links as a graph: a behind peer rarely touches the writer directly; what keeps it
from the data is the cheapest way there, and the down links on that way are the cures worth
naming (healing a link nobody's data crosses would change nothing). Now and at the time of
the write are two questions: a link since mended left a hole nobody pushes again.
"""

from __future__ import annotations

from collections import deque

from gunrtc_kit.diagnose.doctor.context import Context
from gunrtc_kit.diagnose.doctor.kinds import CUT, HEAL, LOST, PARTITION, RELINK
from gunrtc_kit.diagnose.doctor.reasons import Reasons
from gunrtc_kit.diagnose.doctor.records import link_key
from gunrtc_kit.diagnose.doctor.report import Action, Reason
from gunrtc_kit.diagnose.doctor.trace_index import TraceIndex

__all__ = ["Path", "link_reason", "path_downs", "path_reasons", "write_time_reasons"]

# the down links on the way, and every peer on it
Path = tuple[list[tuple[str, str]], set[str]]


def path_downs(index: TraceIndex, src: str, targets: set[str], t: float | None) -> Path | None:
    """The down links and the peers on a path from ``src`` to any of ``targets`` with the
    fewest down links (now, or at trace time ``t``); None when no known link leads there."""
    adjacent: dict[str, list[tuple[str, bool]]] = {}
    for (a, b), link in index.links.items():
        down = bool(link.state() if t is None else link.down_at(t))
        adjacent.setdefault(a, []).append((b, down))
        adjacent.setdefault(b, []).append((a, down))
    # 0-1 breadth-first search: an up link costs nothing, a down one costs one
    cost: dict[str, int] = {src: 0}
    previous: dict[str, tuple[str, bool]] = {}
    queue: deque[str] = deque([src])
    while queue:
        here = queue.popleft()
        for there, down in adjacent.get(here, ()):
            through = cost[here] + (1 if down else 0)
            if through < cost.get(there, 1 << 30):
                cost[there] = through
                previous[there] = (here, down)
                if down:
                    queue.append(there)
                else:
                    queue.appendleft(there)
    reached = sorted(p for p in targets if p in cost)  # ties go the same way on every run
    if not reached:
        return None
    end = min(reached, key=lambda p: cost[p])
    downs: list[tuple[str, str]] = []
    nodes = {end}
    while end != src:
        here, down = previous[end]
        if down:
            downs.append((here, end))
        end = here
        nodes.add(here)
    return downs, nodes


def link_reason(ctx: Context, a: str, b: str, behind: tuple[str, ...], soul: str) -> Reason:
    """Why the link ``a``-``b`` is down now, as a reason with its cure."""
    key = link_key(a, b)
    link = ctx.index.links[key]
    why = link.state()
    since = link.down_since
    when = f" since {ctx.ago(since)}" if since is not None else ""
    text = ctx.link_text(a, b)
    regets = tuple(ctx.reget(p, soul) for p in behind)
    if why == "cut":
        memory = link.transport == "memory"
        relink = Action(
            RELINK,
            f"link {text} again (a new memory link)"
            if memory
            else f"reconnect {text} (a closed {link.transport or '?'} link)",
            link=key,
            safe=memory,
        )
        names = ", ".join(ctx.name_of(p) for p in behind)
        return Reason(
            CUT,
            f"link {text} is closed{when}: nothing reaches {names} over it",
            behind,
            key,
            since,
            actions=(relink, *regets),
        )
    if why == "partitioned":
        return Reason(
            PARTITION,
            f"link {text} is partitioned{when}: every frame over it is dropped",
            behind,
            key,
            since,
            actions=(Action(HEAL, f"heal the partition of {text}", link=key), *regets),
        )
    return Reason(
        LOST,
        f"link {text} loses every frame (loss 100 %){when}",
        behind,
        key,
        since,
        actions=(Action(HEAL, f"set the loss of {text} back to 0", link=key), *regets),
    )


def path_reasons(
    ctx: Context, reasons: Reasons, pid: str, soul: str, key: str, ahead: set[str]
) -> set[str]:
    """Add why ``pid`` cannot reach a peer holding the value now: no link at all, or the down
    links on its cheapest way there. Returns the peers on that way (just ``pid`` if none)."""
    path = path_downs(ctx.index, pid, ahead, None)
    if path is None:
        text = f"{ctx.name_of(pid)} has no link to any peer that holds {soul}.{key}"
        reasons.add(Reason(CUT, text, (pid,)))
        return {pid}
    for a, b in path[0]:
        reasons.add(link_reason(ctx, a, b, (pid,), soul))
    return path[1]


def write_time_reasons(
    ctx: Context, reasons: Reasons, pid: str, soul: str, key: str, origin: str, t_write: float
) -> None:
    """Add the links that were down between the writer and ``pid`` when it wrote: the put
    was not sent to ``pid`` then, and nothing pushes it again once they come back."""
    then = path_downs(ctx.index, origin, {pid}, t_write)
    for a, b in then[0] if then else ():
        k = link_key(a, b)
        why = ctx.index.links[k].down_at(t_write)
        kind = CUT if why == "cut" else PARTITION if why == "partitioned" else LOST
        reasons.add(
            Reason(
                kind,
                f"when {ctx.name_of(origin)} wrote {soul}.{key} ({ctx.ago(t_write)}), "
                f"link {ctx.link_text(a, b)} was "
                f"{'closed' if why == 'cut' else why}: nothing was sent "
                f"to {ctx.name_of(pid)} then, and nobody pushes it again",
                (pid,),
                k,
                t_write,
                actions=(ctx.reget(pid, soul),),
            )
        )
