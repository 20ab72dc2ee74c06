"""GETs answered from the graph: Gun's chunks of 9 keys, chained by ``%``, shared fairly.

Every GET goes through one ``Answers`` per root. A connection's GETs are answered in the
order they came; connections take turns (``scheduler.FairWork``): each loop turn sends at most
``GET_SLICE`` units of replies in all (a reply is one unit, plus one per ``codec.PACK``
characters it carries), one reply of each connection's current answer in turn, so an honest
asker waits behind one reply of each other connection, not behind their whole queues. A small
answer whose connection has nothing queued goes out at once, against the same turn's budget.

Bounds, each traced when hit: ``MAX_ANSWERS`` answers in flight at once (read from the graph,
their replies being made); the other GETs wait, ``MAX_ANSWERS_QUEUED`` per connection at
most, and past that the asker gets ``err`` at once. A lex GET matching more than
``MAX_GET_SOULS`` souls is answered with the first of them, and its asker is told so by a
last reply of the chain, ``{"put": {}, "err": "lex get matched N souls; ..."}`` (a separate
reply, so a client that drops a reply with ``err`` loses no data; one without ``put`` would be
suppressed as a not-found after data, as gun.js does). Work for a connection that left is
dropped (``forget``), and an answer pauses while its asker's wire takes no frames. A GET we
cannot read is traced and its asker told (Gun.js ignores it in silence)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gunrtc_kit import root, trace
from gunrtc_kit.core import codec
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.errors import InvalidDataError
from gunrtc_kit.root.scheduler import FairWork

if TYPE_CHECKING:
    from gunrtc_kit.dam.peer import MeshPeer
    from gunrtc_kit.root import Message
    from gunrtc_kit.root.gun import Gun

# one reply of an answer, before its ids: ``{"put": graph}`` (``{"put": {}, "err": text}``
# for a notice), and the characters of data it carries (what it costs the turn's budget)
_Body = tuple[dict[str, Any], int]


def answer_get(gun: Gun, msg: Message, peer: MeshPeer) -> None:
    """Answer ``msg``'s GET to ``peer`` from ``gun``'s graph (a store says "not found"), now
    or in its connection's turn (``Answers.submit``)."""
    gun._answers.submit(msg, peer)


def read_graph(gun: Gun, get: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """What a GET asks for, read from the root's graph: the one place answers read it.

    Raises:
        InvalidDataError, TypeError, ValueError: a GET that cannot be read.
    """
    # with a store, a lex GET reads its index, no further than what is answered (+1: to know
    # that there was more)
    return gun.graph.read(get, None if gun.graph.source is None else root.MAX_GET_SOULS + 1)


class _Answer:
    """One GET and, once started, the replies still to send (made as they are sent)."""

    __slots__ = ("ahead", "bodies", "mid", "msg", "next_id", "peer", "rng")

    def __init__(self, msg: Message, peer: MeshPeer) -> None:
        self.msg = msg
        self.peer = peer
        self.mid = str(msg.get("#", ""))
        self.bodies: Iterator[_Body] | None = None  # None: not read yet
        self.ahead: _Body | None = None  # the next reply (its successor decides its '%')
        self.next_id = ""
        self.rng: random.Random | None = None  # the mesh's (a seeded Lab's ids repeat)

    @property
    def started(self) -> bool:
        return self.bodies is not None

    def begin(self, bodies: Iterator[_Body], rng: random.Random | None = None) -> None:
        self.bodies = bodies
        self.rng = rng
        self.ahead = next(bodies, None)
        self.next_id = random_id(9, rng)

    def next_reply(self) -> tuple[Message, int] | None:
        """The next reply message (naming the one after it in ``%``) and its characters;
        None once all are sent."""
        body = self.ahead
        if body is None or self.bodies is None:
            return None
        graph, chars = body
        reply: Message = {"#": self.next_id, "@": self.mid, **graph}
        self.ahead = next(self.bodies, None)
        if self.ahead is not None:
            self.next_id = random_id(9, self.rng)
            reply["%"] = self.next_id
        return reply, chars


class Answers:
    """The GETs one root answers: queued per connection, served in turns (module doc)."""

    __slots__ = ("capped", "gun", "live", "peak", "work")

    def __init__(self, gun: Gun) -> None:
        self.gun = gun
        self.work: FairWork[MeshPeer, _Answer] = FairWork(
            gun._sched, "answers", self._step, lambda: root.GET_SLICE
        )
        self.live = 0  # answers read and being sent, at most MAX_ANSWERS
        self.peak = 0  # the most answers in flight at once (what tests and benchmarks read)
        self.capped = False  # MAX_ANSWERS was reached (traced once until it is left again)

    def submit(self, msg: Message, peer: MeshPeer) -> None:
        """A GET heard from ``peer``: answered now when its connection has nothing queued and
        the turn has budget left, else queued (bounded) for the connection's turn."""
        if peer.met is None:
            return  # the rest of a frame from a connection that has left
        get = msg["get"]
        if not isinstance(get, dict) or "#" not in get:
            _bad_get(self.gun, msg, peer, "get without a soul ('#')")
            return
        work = self.work
        waiting = work.queued(peer)
        if not waiting and not peer.queue and work.left() > 0 and self.live < root.MAX_ANSWERS:
            job = _Answer(msg, peer)
            if self._start(job):
                done, spent = self._send(job, work.left())
                work.spend(spent)
                if not done:
                    work.add(peer, job)
            return
        if waiting >= root.MAX_ANSWERS_QUEUED:
            why = (
                f"{waiting} GETs of this connection already wait for an answer "
                f"(MAX_ANSWERS_QUEUED={root.MAX_ANSWERS_QUEUED}); ask again later"
            )
            mid = str(msg.get("#", ""))
            self.gun._error(why, peer.id, mid)
            self.gun.mesh.say({"@": mid, "err": why}, peer)
            return
        work.add(peer, _Answer(msg, peer))

    def forget(self, peer: MeshPeer) -> None:
        """``peer`` left: its queued and unfinished answers are dropped (each traced)."""
        for job in self.work.drop(peer):
            self._finish(job)
            self.gun._dropped(
                peer, job.msg, trace.DropCause.PEER_LEFT, "answer to a GET dropped: the asker left"
            )

    def _step(self, job: _Answer) -> tuple[bool, int]:
        """The worker's step for one connection: start its answer, or send one more reply."""
        if job.peer.met is None:  # the asker left (its bye drops the rest of its queue)
            self._finish(job)
            return True, 0
        if job.peer.queue:
            return False, 0  # its wire takes no frames now (closing, cut): no work for it
        if not job.started:
            if self.live >= root.MAX_ANSWERS:
                self._note_cap()
                return False, 0  # its turn comes again once an answer in flight is done
            if not self._start(job):
                return True, 1
        return self._send(job, 1)

    def _start(self, job: _Answer) -> bool:
        """Read ``job``'s GET; False when nothing is left to send (not found, or a GET we
        cannot read: the asker is told either way)."""
        gun, msg, peer = self.gun, job.msg, job.peer
        try:
            found = read_graph(gun, msg["get"])
        except (InvalidDataError, TypeError, ValueError) as exc:
            _bad_get(gun, msg, peer, f"bad get: {exc}")
            return False
        if not found:
            if gun.acks:
                gun.mesh.say({"@": job.mid}, peer)  # "not found" from a store (gun store.js)
            return False
        notice: str | None = None
        most = root.MAX_GET_SOULS
        if len(found) > most:
            matched = len(found) if gun.graph.source is None else f"more than {most}"
            notice = (
                f"lex get matched {matched} souls; answered with the first {most} (MAX_GET_SOULS)"
            )
            gun._error(notice, peer.id, job.mid)
            found = dict(itertools.islice(found.items(), most))
        job.begin(_bodies(gun, found, notice), gun.mesh.rng)
        self.live += 1
        self.peak = max(self.peak, self.live)
        return True

    def _send(self, job: _Answer, budget: int) -> tuple[bool, int]:
        """Send ``job``'s next replies, at least one, until ``budget`` units are spent;
        returns (the answer is done, units spent)."""
        spent = 0
        while True:
            nxt = job.next_reply()
            if nxt is None:
                self._finish(job)
                return True, max(spent, 1)
            reply, chars = nxt
            self.gun.mesh.say(reply, job.peer)
            spent += 1 + chars // codec.PACK
            if job.ahead is None:
                self._finish(job)
                return True, spent
            if spent >= budget:
                return False, spent

    def _finish(self, job: _Answer) -> None:
        """An answer done or dropped: its place in flight is free again."""
        if job.bodies is not None:
            job.bodies = None
            job.ahead = None
            self.live -= 1
            if self.live < root.MAX_ANSWERS:
                self.capped = False

    def _note_cap(self) -> None:
        """Trace, once each time it is reached, that answers in flight are at their bound."""
        if self.capped:
            return
        self.capped = True
        waiting = self.work.total() - self.live
        self.gun._error(
            f"MAX_ANSWERS={root.MAX_ANSWERS} answers in flight; {waiting} GETs wait their turn"
        )


def _bad_get(gun: Gun, msg: Message, peer: MeshPeer, err: str) -> None:
    """A GET we cannot read: traced, and the asker told."""
    mid = str(msg.get("#", ""))
    gun._error(err, peer.id, mid)
    gun.mesh.say({"@": mid, "err": err}, peer)


def _bodies(gun: Gun, found: dict[str, dict[str, Any]], notice: str | None) -> Iterator[_Body]:
    """The replies of one answer, made as they are sent. One soul: gun's 9-key chunks. Many
    souls (a lex GET): chunks packed together into replies of about ``codec.PACK``
    characters each, so 100k souls are not 100k replies. Then the notice, if any."""
    if len(found) == 1:
        for chunk in gun.graph.chunks(found):
            yield {"put": chunk}, _chars(chunk)
    else:
        packed: dict[str, Any] = {}
        size = 0
        for soul, node in found.items():
            for chunk in gun.graph.chunks({soul: node}):
                n = len(codec.dumps(chunk))
                if packed and (size + n > codec.PACK or soul in packed):
                    yield {"put": packed}, size
                    packed, size = {}, 0
                packed.update(chunk)
                size += n
        if packed:
            yield {"put": packed}, size
    if notice is not None:  # a reply of its own, so no client drops data over an err
        yield {"put": {}, "err": notice}, len(notice)


def _chars(graph: dict[str, Any]) -> int:
    """About how many characters a reply graph carries (its keys and string values)."""
    n = 0
    for node in graph.values():
        for k, v in node.items():
            n += len(k) + (len(v) if type(v) is str else 16)
    return n
