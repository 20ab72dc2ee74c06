"""A message's story in words: every copy with what became of it, the merges, the replies and
the answer its origin got, read from a ``FateModel`` into a ``Fate``.

Why apart from the model: the model is fed one event at a time and must stay small and fast;
the story is read on demand (a click, ``lab.fate(id)``) and is all wording. Pure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gunrtc_kit.diagnose.fate_types import TAP_DELIVERED, Fate, FateStep, Mark, MsgInfo, Row

if TYPE_CHECKING:  # the model calls this module; only its type is needed here
    from gunrtc_kit.diagnose.fate import FateModel

__all__ = ["story"]


class _Copies:
    """The copies of one message, tallied as the story lists them."""

    def __init__(self) -> None:
        self.steps: list[FateStep] = []
        self.heard: list[str] = []
        self.delivered: list[str] = []  # receivers a tap delivered a copy to
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
        elif r.mark == Mark.UNTRACED and r.why == TAP_DELIVERED:
            self.delivered.append(r.dst)
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
    forwarded = _same_write(model, info)
    steps.extend(_forwarded_steps(model, forwarded))
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
        forwarded_as=tuple(f.mid for f in forwarded),
    )


def _merges_and_replies(model: FateModel, info: MsgInfo) -> list[FateStep]:
    label = model.directory.label
    steps: list[FateStep] = []
    for t, node, nkeys, deferred in info.merged:
        extra = f", {deferred} deferred (future state)" if deferred else ""
        if node in model.tapped:  # a tap's Put: the values sent, not what a graph kept
            text = f"{label(node)} sent {nkeys} key(s) (seen on the wire by a tap)"
        else:
            text = f"{label(node)} merged {nkeys} key(s){extra}"
        steps.append(FateStep(t, text, "put"))
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
    parts = [first]
    if heard_by or not copies.delivered:
        parts.append(f"heard by {len(heard_by)} peer(s)")
    if copies.delivered:
        to = ", ".join(dict.fromkeys(copies.delivered))
        parts.append(f"delivered by a tap to {to} (whether handled, the tap cannot see)")
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
    if mark == Mark.UNTRACED and r.why == TAP_DELIVERED:
        return (
            f"{said}; delivered to {r.dst}'s socket (the tap cannot see whether {r.dst} handled it)"
        )
    if mark == Mark.UNTRACED:
        return f"{said}; handed to the wire ({r.dst} is not traced: its arrival is not known)"
    if mark == Mark.HELD:
        at = f" {r.why}" if r.why else ""
        return f"{said}; held on the wire{at} (step mode): in flight until delivered or dropped"
    if mark == Mark.QUEUED:
        return f"{said}; queued: the wire was not open (sent when it opens again)"
    return f"{said}; no sign it arrived (yet)"


MAX_SAME = 20  # puts listed as carrying one write on


def _write(put: Any) -> frozenset[tuple[str, str, str, str]]:
    """A put's write as (soul, key, value as JSON, state) items: what stays the same when a
    relay passes the put on under a new id."""
    items: set[tuple[str, str, str, str]] = set()
    if not isinstance(put, dict):
        return frozenset()
    for soul, node in put.items():
        meta = node.get("_") if isinstance(node, dict) else None
        states = meta.get(">") if isinstance(meta, dict) else None
        if not isinstance(node, dict) or not isinstance(states, dict):
            continue
        for key, value in node.items():
            if key != "_" and key in states:
                items.add((soul, key, json.dumps(value, sort_keys=True), repr(states[key])))
    return frozenset(items)


def _same_write(model: FateModel, info: MsgInfo) -> list[MsgInfo]:
    """Later puts from other senders that carry (part of) ``info``'s write under ids of
    their own, not as answers: a Gun.js relay gives every put it forwards a new id, so only
    the souls, keys, values and states tie the forwarded copies to the write."""
    if info.kind != "put" or info.reply_to:
        return []
    want = _write(info.msg.get("put"))
    if not want:
        return []
    found: list[MsgInfo] = []
    for other in list(model.msgs.values()):
        if (
            other.mid == info.mid
            or other.kind != "put"
            or other.reply_to
            or other.t < info.t
            or other.origin == info.origin
        ):
            continue
        got = _write(other.msg.get("put"))
        if got and got <= want:
            found.append(other)
            if len(found) >= MAX_SAME:
                break
    return found


def _forwarded_steps(model: FateModel, forwarded: list[MsgInfo]) -> list[FateStep]:
    label = model.directory.label
    steps = []
    for other in forwarded:
        copies = [model.row(s) for s in other.seqs if model.index(s) >= 0]
        to = ", ".join(
            f"{r.dst} ({'delivered to its socket' if r.why == TAP_DELIVERED else r.mark.value})"
            for r in copies
        )
        text = (
            f"{label(other.origin)} passed the same write on as put #{other.mid} (an id of its "
            f"own, as a Gun.js relay gives each put it forwards)" + (f" to {to}" if to else "")
        )
        steps.append(FateStep(other.t, text, "relay"))
    return steps
