"""A message's story in words: every copy with what became of it, the merges, the replies and
the answer its origin got, read from a ``FateModel`` into a ``Fate``.

Why apart from the model: the model is fed one event at a time and must stay small and fast;
the story is read on demand (a click, ``lab.fate(id)``) and is all wording. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gunrtc_kit.diagnose.fate_types import Fate, FateStep, Mark, MsgInfo, Row

if TYPE_CHECKING:  # the model calls this module; only its type is needed here
    from gunrtc_kit.diagnose.fate import FateModel

__all__ = ["story"]


class _Copies:
    """The copies of one message, tallied as the story lists them."""

    def __init__(self) -> None:
        self.steps: list[FateStep] = []
        self.heard: list[str] = []
        self.relayed: list[str] = []
        self.dups = 0
        self.lost = 0
        self.missing = 0

    def add(self, r: Row, origin: str) -> None:
        """Tally copy ``r`` (said by the ``origin`` or relayed) and add its line."""
        verb = "said" if r.src == origin else "relayed"
        if r.mark not in (Mark.HEARD_ONLY, Mark.DUP, Mark.REFUSED):
            if verb == "relayed" and r.src not in self.relayed:
                self.relayed.append(r.src)
        if r.mark in (Mark.HEARD, Mark.HEARD_ONLY, Mark.ANSWERED):
            self.heard.append(r.dst)
        self.dups += r.mark == Mark.DUP
        self.lost += r.mark == Mark.LOST
        self.steps.append(FateStep(r.t, copy_text(r, verb), r.mark.value))


def story(model: FateModel, mid: str) -> Fate:
    """Everything ``model`` knows about message ``mid`` (``KeyError`` if never seen)."""
    info = model.msgs.get(mid)
    if info is None:
        raise KeyError(f"no message {mid!r} in the trace (or no longer kept)")
    label = model.directory.label
    origin = label(info.origin)
    copies = _Copies()
    for seq in info.seqs:
        if model.index(seq) < 0:
            copies.missing += 1
        else:
            copies.add(model.row(seq), origin)
    steps = copies.steps
    if copies.missing:
        steps.append(FateStep(info.t, f"{copies.missing} older copies are no longer kept", "note"))
    steps.extend(_merges_and_replies(model, info))
    answer = _answer(model, info, origin, steps)
    steps.sort(key=lambda s: s.t)
    heard_by = tuple(dict.fromkeys(copies.heard))
    rejected = info.answer_err
    return Fate(
        mid=mid,
        kind=info.kind,
        origin=origin,
        t=info.t,
        msg=info.msg,
        summary=_summary(info, origin, heard_by, copies, answer),
        steps=tuple(steps),
        heard_by=heard_by,
        relayed_by=tuple(copies.relayed),
        duplicates=copies.dups,
        lost=copies.lost,
        replies=tuple(info.replies),
        request=info.reply_to,
        acked=info.answered_at is not None and not rejected,
        never_acked=_never_acked(model, info),
        rejected=rejected,
    )


def _merges_and_replies(model: FateModel, info: MsgInfo) -> list[FateStep]:
    label = model.directory.label
    steps: list[FateStep] = []
    for t, node, nkeys, deferred in info.merged:
        extra = f", {deferred} deferred (future state)" if deferred else ""
        steps.append(FateStep(t, f"{label(node)} merged {nkeys} key(s){extra}", "put"))
    for t, text, mark in info.notes:
        steps.append(FateStep(t, text, mark))
    for rid in info.replies:
        rep = model.msgs.get(rid)
        if rep is None:
            continue
        what = "an error" if rep.msg.get("err") else rep.kind
        steps.append(FateStep(rep.t, f"{label(rep.origin)} answered with {what} #{rid}", "reply"))
    return steps


def _never_acked(model: FateModel, info: MsgInfo) -> bool:
    """A put that wanted an ack and got no answer within the ack timeout (judged on the
    trace's own clock, so a replay judges it the same way)."""
    return (
        info.wants_ack
        and info.traced_origin
        and info.answered_at is None
        and model.now - info.t > model.ack_timeout
    )


def _answer(model: FateModel, info: MsgInfo, origin: str, steps: list[FateStep]) -> str:
    """The answer part of the summary, adding its step to ``steps``."""
    rejected = info.answer_err
    if info.answered_at is not None:
        ms = (info.answered_at - info.t) * 1000
        by = model.directory.label(info.answered_by) if info.answered_by else "a peer"
        word = f"rejected ({rejected})" if rejected else "answered"
        steps.append(FateStep(info.answered_at, f"{origin} got the answer: {word}", "ack"))
        return f"{word} by {by} after {ms:.1f} ms"
    if _never_acked(model, info):
        answer = f"never acked (no answer within {model.ack_timeout:g} s)"
        steps.append(FateStep(info.t + model.ack_timeout, answer, "never"))
        return answer
    return "no ack yet" if info.wants_ack and info.traced_origin else ""


def _summary(
    info: MsgInfo, origin: str, heard_by: tuple[str, ...], copies: _Copies, answer: str
) -> str:
    first = f"{info.kind} #{info.mid} from {origin}"
    if info.label:
        first += f" ({info.label})"
    if info.reply_to:
        first += f" answering #{info.reply_to}"
    parts = [first, f"heard by {len(heard_by)} peer(s)"]
    if copies.relayed:
        parts.append(f"relayed by {', '.join(copies.relayed)}")
    if copies.dups:
        parts.append(f"{copies.dups} duplicate copies dropped by dedup")
    if copies.lost:
        parts.append(f"{copies.lost} lost on the wire")
    if answer:
        parts.append(answer)
    return "; ".join(parts)


def copy_text(r: Row, verb: str) -> str:
    """One copy's line in a fate, in words that match its mark."""
    how = f" over {r.transport}" if r.transport else ""
    said = f"{r.src} {verb} it to {r.dst}{how}"
    mark = r.mark
    if mark == Mark.HEARD_ONLY:
        return f"{r.dst} heard it from {r.src}{how}"
    if mark == Mark.DUP:
        return f"{r.dst} dropped a copy from {r.src}{how} (dedup: it had it already)"
    if mark == Mark.REFUSED:
        return f"{r.dst} refused a copy from {r.src}{how}: {r.why}"
    if mark == Mark.HEARD:
        return f"{said}; {r.dst} heard it"
    if mark == Mark.LOST:
        return f"{said}; it never arrived: {r.why or 'the wire lost it'}"
    if mark == Mark.ANSWERED:
        return f"{said}; {r.dst} answered it, so it arrived ({r.dst} is not traced)"
    if mark == Mark.UNTRACED:
        return f"{said}; handed to the wire ({r.dst} is not traced: its arrival is not known)"
    if mark == Mark.QUEUED:
        return f"{said}; queued: the wire was not open (sent when it opens again)"
    return f"{said}; no sign it arrived (yet)"
