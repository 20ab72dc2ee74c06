"""The DAM mesh: who hears what, who gets told what, and where replies go.

Rules (each matched on purpose to npm gun 0.2020.1241's built ``gun.js`` mesh):

- Every message gets a ``#`` (9 chars of Gun's alphabet) if it has none, and is tracked in the
  shared dedup table when heard and when said, so a message that comes back is dropped.
- A message with ``dam`` is mesh control: its handler runs (``?`` pid exchange, ``!`` error log,
  and whatever other layers register, e.g. the WebRTC manager's ``rtc``); it is never given to
  the graph and never relayed. The peer it came from is recorded first, as the built gun.js
  does, so a reply to a ``dam`` message can be routed.
- Any other message goes to ``on_message`` (the graph layer), with its dedup entry holding
  ``via`` (the peer it came from) and, for a GET, ``it`` (the request), so that a reply naming
  it in ``@`` can be routed back hop by hop.
- ``say(msg)`` with ``@`` and no peer routes to ``dup[@].via``; when the entry exists without a
  via the reply was addressed to us; when there is no entry the route is lost. Replies are
  never broadcast. Both cases become ``trace.Dropped`` events instead of vanishing.
- ``say(msg)`` without ``@`` and no peer broadcasts to every peer except the one it came from,
  and except peers listed in the ``><`` it arrived with.
- Per peer, the first message of a burst goes out alone; later ones are joined into one
  ``[..]`` frame (at most ``pack`` characters) flushed on the next turn of the owner's loop.
- A frame that cannot be sent (wire not open) is queued, bounded, and sent at the next ``hi``.

Where we differ on purpose (gun.js does neither):

- A reply (``@``) is taken only from a peer its request was said to: the dedup entry of every
  message we say remembers its recipients (``DupEntry.to``: a few ids, or for a wide broadcast
  the time, meaning "every peer connected then"). Anyone else naming the id, e.g. a forged
  ``ok`` for someone's put, is dropped here with a ``trace.Dropped``.
- A frame's problems get one ``!`` reply per frame, never one per bad batch element; and
  ``frame``/``hear_all`` let a transport handle a big batch in slices (``SLICE`` per turn).
- The dedup table is bounded in count (``Dup.max_entries``), not by time only: past the bound
  its oldest entries are evicted and an ``Error`` says so, at most once per
  ``core.dup.EVICT_REPORT_MS``.

Theory of operation: the mesh is sans-I/O. It reads no clock (``clock_ms`` is passed in), owns
no task and no socket: wires are objects with ``send(text)``; the deferred batch flush is handed
to ``call_soon`` (the owner's loop) or, without one, left for ``flush_all()``; dedup expiry is a
deadline (``next_deadline``/``expire``) that the owner schedules. The mesh hears and decides;
two collaborators hold the rest: ``Routes`` (``dam/routes.py``: reply routes and recipients in
dedup) and ``Outbox`` (``dam/outbox.py``: batches, flushes and the queues of unsent frames).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.core.dup import Dup
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.dam.outbox import Outbox
from gunrtc_kit.dam.peer import MeshPeer
from gunrtc_kit.dam.report import Reporter
from gunrtc_kit.dam.routes import Routes
from gunrtc_kit.errors import GunError, InvalidDataError, LimitError

__all__ = ["SLICE", "Handler", "Mesh"]

log = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message, MeshPeer], None]
Parsed = tuple[list[Message], list[InvalidDataError]]

# dam values Gun.js sends that need no handling here: a client's start-up "hi" is sent to
# open lazy wires and nothing on the receiving side handles it (gun-wire 5.2).
_QUIET_DAMS = frozenset({"hi"})

# messages of one batch handled per turn of the loop by network transports: small enough that
# a 5M-element frame yields thousands of times, large enough that a normal batch is one turn
SLICE = 256


QUEUE_CHARS = 16 * 2**20  # characters one peer's queue of unsent frames may hold


class Mesh:
    """Gun's DAM mesh over abstract wires.

    ``on_message(msg, peer)`` receives every non-``dam`` message that passed dedup (the Gun
    root merges puts, answers gets and dispatches acks there). ``on_hi``/``on_bye`` lists are
    called when a peer joins or leaves.
    """

    # one per peer of a scaling run (thousands): attributes in slots, not a dict each
    __slots__ = (
        "pid",
        "rng",
        "clock_ms",
        "bus",
        "dup",
        "on_message",
        "max_frame",
        "queue_limit",
        "peers",
        "near",
        "said",
        "duplicates",
        "handlers",
        "on_hi",
        "on_bye",
        "report",
        "routes",
        "outbox",
        "_current",
        "__weakref__",
    )

    def __init__(
        self,
        pid: str | None = None,
        *,
        clock_ms: Callable[[], float],
        bus: trace.TraceBus | None = None,
        dup: Dup | None = None,
        on_message: Handler | None = None,
        call_soon: Callable[[Callable[[], None]], Any] | None = None,
        max_frame: int = codec.MAX_FRAME,
        pack: int = codec.PACK,
        queue_limit: int = 1000,
        queue_chars: int = QUEUE_CHARS,
        rng: random.Random | None = None,
    ) -> None:
        if max_frame <= 0:
            raise ValueError(f"max_frame={max_frame!r}, expected an int > 0")
        if pack <= 0:
            raise ValueError(f"pack={pack!r}, expected an int > 0")
        #: draws message ids, peer ids and the pid (None: the process's shared generator; a
        #: seeded one makes them repeatable, as ``Lab(seed=N)`` asks)
        self.rng = rng
        self.pid = pid or random_id(9, rng)
        self.clock_ms = clock_ms
        self.bus = bus or trace.TraceBus()
        self.dup = dup if dup is not None else Dup(clock_ms)  # an empty Dup is falsy
        self.on_message: Handler | None = on_message
        self.max_frame = max_frame
        self.queue_limit = queue_limit
        self.peers: dict[str, MeshPeer] = {}
        self.near = 0
        # messages said (copies: one per peer sent to) and duplicates heard and dropped, kept
        # as plain counts: the trace builds an event for each only when someone takes them
        self.said = 0
        self.duplicates = 0
        self.handlers: dict[str, Handler] = {"?": self._hear_pid, "!": self._hear_error}
        self.on_hi: list[Callable[[MeshPeer], None]] = []
        self.on_bye: list[Callable[[MeshPeer], None]] = []
        self.report = Reporter(self.bus, self.pid)
        if self.dup.on_evict is None:
            self.dup.on_evict = self._dup_evicted
        self.routes = Routes(self.dup, self.peers, clock_ms, self.report)
        self.outbox = Outbox(
            self.peers, pack=pack, queue_chars=queue_chars, call_soon=call_soon, report=self.report
        )
        # the message being handled right now, and the peer it came from (Gun's mesh.leap)
        self._current: tuple[Message, MeshPeer] | None = None

    # ------------------------------------------------------------------ events
    def _emit(self, event: trace.Event) -> None:
        self.bus.emit(event)

    def _now(self) -> float:
        return self.bus.now()

    # ------------------------------------------------------------------ hearing
    def hear(self, raw: str | bytes, peer: MeshPeer) -> None:
        """Feed one frame that arrived on ``peer``'s wire, all of it now. Never raises on remote
        input. Transports facing the network use ``frame`` and ``hear_all`` in slices instead,
        so that one huge batch cannot hold the loop (``SLICE`` messages per turn)."""
        msgs = self.frame(raw, peer)
        self.hear_all(msgs, peer, len(raw) if len(msgs) == 1 else 0)

    def frame(
        self, raw: str | bytes, peer: MeshPeer, parsed: Parsed | GunError | None = None
    ) -> list[Message]:
        """Parse one frame from ``peer``: its messages. A bad frame, or bad elements in a batch,
        get one ``!`` error reply per frame (never one per element) and a trace error.

        ``parsed`` is ``codec.parse(raw, self.max_frame)``'s result (or the error it raised)
        when the owner already parsed the frame elsewhere, e.g. a big one in a worker thread."""
        if isinstance(raw, bytes | bytearray | memoryview):
            # gun.js ignores binary frames silently (raw[0] is a number); we say so.
            self.report.error(peer, "binary frame ignored: DAM frames are text")
            self.say({"dam": "!", "err": "DAM frames are text; binary frame ignored."}, peer)
            return []
        try:
            if isinstance(parsed, GunError):
                raise parsed
            msgs, bad = parsed if parsed is not None else codec.parse(raw, self.max_frame)
        except LimitError:
            self.report.error(peer, f"frame of {len(raw)} chars over max_frame={self.max_frame}")
            self.say({"dam": "!", "err": "Message too big!"}, peer)
            return []
        except InvalidDataError as exc:
            self.report.error(peer, f"{exc} ({raw[:60]!r})")
            self.say({"dam": "!", "err": "DAM JSON parse error."}, peer)
            return []
        if bad:
            problem = str(bad[0])
            self.report.error(peer, problem)
            self.say({"dam": "!", "err": problem}, peer)
        return msgs

    def hear_all(self, msgs: list[Message], peer: MeshPeer, size: int = 0) -> None:
        """Handle parsed messages from ``peer`` (a frame, or one slice of a big batch), then
        send what they made us say to ``peer`` as one batch."""
        for msg in msgs:
            try:
                self.hear_one(msg, peer, size)
            except Exception as exc:  # a bug in a handler must not stop the peer
                # one line, not a traceback per message: a hostile frame must not flood the log
                log.warning("handling %r from %s failed: %r", msg.get("#"), peer.id, exc)
                log.debug("traceback", exc_info=True)
                self.report.error(peer, f"handling message failed: {exc!r}", str(msg.get("#", "")))
        self.flush(peer)

    def hear_one(self, msg: Message, peer: MeshPeer, size: int = 0) -> None:
        """Handle one parsed message from ``peer``."""
        mid = msg.get("#")
        if not isinstance(mid, str) or not mid:
            mid = msg["#"] = random_id(9, self.rng)
        if self.dup.check(mid) is not None:
            self.duplicates += 1
            self.report.dropped(peer, mid, trace.DropCause.DUPLICATE, "duplicate")
            return
        ack = msg.get("@")
        hsh = msg.get("##")
        if hsh is not None:
            # a reply whose content this route already carried, or a GET re-asked with the
            # same hash (gun.js mesh hear: dup_check(ack+hash) / id+hash)
            key = f"{ack}{hsh}" if isinstance(ack, str) else f"{mid}{hsh}" if "get" in msg else ""
            if key:
                if self.dup.check(key) is not None:
                    self.report.dropped(
                        peer, mid, trace.DropCause.DUPLICATE_REPLY, "duplicate reply (same ##)"
                    )
                    return
                self.dup.track(key)
        dam = msg.get("dam")
        if (
            dam is None
            and isinstance(ack, str)
            and ack in self.dup
            and not self.routes.sent_to(ack, peer)
        ):
            # a reply is taken only from a peer its request went to: anyone else naming the id
            # (a forged ``ok`` for someone's put, say) is refused here, before any layer sees it
            self.report.dropped(
                peer,
                mid,
                trace.DropCause.REPLY_FROM_STRANGER,
                f"reply to {ack!r} from a peer it was not sent to",
            )
            return
        peer.heard += 1
        if self.bus.wants(trace.Heard):
            self._emit(
                trace.Heard(
                    self._now(), self.pid, peer.id, msg=msg, transport=peer.transport, size=size
                )
            )
        entry = self.dup.track(mid)
        entry.via = peer
        if dam is not None:
            handler = self.handlers.get(dam) if isinstance(dam, str) else None
            if handler is not None:
                handler(msg, peer)
            elif not isinstance(dam, str) or dam not in _QUIET_DAMS:
                shown = codec.js_slice(codec.dumps(dam), 40)
                self.report.error(peer, f"unknown dam {shown}", mid)
                self.say({"dam": "!", "err": f"Unknown dam {shown}.", "@": mid}, peer)
            return
        if "get" in msg:
            entry.it = msg
        if self.on_message is None:
            return
        prev = self._current
        self._current = (msg, peer)
        try:
            self.on_message(msg, peer)
        finally:
            self._current = prev

    # ------------------------------------------------------------------ built-in dams
    def _hear_pid(self, msg: Message, peer: MeshPeer) -> None:
        pid = msg.get("pid")
        if isinstance(pid, str) and pid and peer.pid is None:
            peer.pid = pid  # first one wins, as gun.js
            self._emit(trace.Hi(self._now(), self.pid, peer.id, pid=pid, transport=peer.transport))
        if pid == self.pid:
            self.report.error(peer, "connected to ourselves (same pid); hanging up")
            self.disconnect(peer)
            return
        if "@" in msg:
            return
        self.say({"dam": "?", "pid": self.pid, "@": msg["#"]}, peer)

    def _dup_evicted(self, n: int) -> None:
        """The dedup table passed its bound (``Dup.max_entries``) and evicted its oldest
        entries: said on the trace as an ``Error`` (``Dup`` calls this at most once per
        ``EVICT_REPORT_MS``), since a reply to an evicted id has lost its route and a late
        copy of an evicted message is no longer known as a duplicate."""
        self.report.error(
            None,
            f"dedup table full (max_entries={self.dup.max_entries}): {n} oldest message ids "
            "evicted; replies to them have no route back, late copies are not seen as "
            "duplicates",
        )

    def _hear_error(self, msg: Message, peer: MeshPeer) -> None:
        self.report.error(peer, f"peer says: {msg.get('err')!r}", str(msg.get("#", "")))

    # ------------------------------------------------------------------ saying
    def say(
        self,
        msg: Message,
        peer: MeshPeer | None = None,
        *,
        targets: Iterable[MeshPeer] | None = None,
    ) -> bool:
        """Send ``msg`` to ``peer``, or route/broadcast it. Returns whether anything was sent.

        ``targets`` narrows a broadcast to those peers (a relay's AXE-style routing: a put goes
        to the peers subscribed to its souls, not to every socket). Whoever a message is sent
        to is noted in its dedup entry, so that a reply is accepted only from them."""
        mid = msg.get("#")
        if not isinstance(mid, str) or not mid:
            mid = msg["#"] = random_id(9, self.rng)
        self.dup.track(mid)
        ack = msg.get("@")
        via: MeshPeer | None = None
        entry = self.dup.get(mid)
        if entry is not None and isinstance(entry.via, MeshPeer):
            via = entry.via
        if isinstance(ack, str):
            if peer is None:
                peer = self.routes.back(mid, ack, self._current)
                if peer is None:
                    return False
            if self.routes.not_found_suppressed(msg, mid, ack, peer):
                return False
        to: list[MeshPeer] = []
        if peer is None:
            to = self.routes.recipients(msg, via, targets)
            if not to:
                # nobody to tell (a peer relaying what it heard from its only peer): skip
                # the serialization
                if isinstance(ack, str):
                    self.dup.track(ack)
                return False
        out = self._raw(msg, via)
        if out is None:
            self.report.dropped(
                peer, mid, trace.DropCause.IDENTICAL_REPLY, "identical reply already sent"
            )
            return False
        msg, raw = out
        if len(raw) > self.max_frame:
            raise LimitError(f"message of {len(raw)} chars over max_frame={self.max_frame}")
        if peer is not None:
            if self._say_to(msg, raw, peer, via):
                self.routes.note_sent(mid, (peer.id,))
                return True
            return False
        sent: list[str] = []
        for p in to:
            if self._say_to(msg, raw, p, via):
                sent.append(p.id)
        if isinstance(ack, str):
            self.dup.track(ack)  # keep a streamed reply's route alive
        if sent:
            self.routes.note_sent(mid, sent)
        return bool(sent)

    def sent_to(self, mid: str, peer: MeshPeer) -> bool:
        """Whether ``mid`` was said to ``peer`` (as far as its dedup entry remembers)."""
        return self.routes.sent_to(mid, peer)

    def _raw(self, msg: Message, via: MeshPeer | None) -> tuple[Message, str] | None:
        """Serialize once per ``say`` call, applying gun.js's send-time rewrites to a copy
        (the caller's dict, which the trace may hold, keeps what was heard)."""
        msg = dict(msg)
        ack = msg.get("@")
        put = msg.get("put")
        put_text: str | None = None
        if isinstance(ack, str) and put is not None and "##" not in msg and via is None:
            # a reply we produce that carries data: hash it, and send the key-sorted text
            put_text, msg["##"] = codec.put_hash(put)
        hsh = msg.get("##")
        if hsh is not None and isinstance(ack, str):
            key = f"{ack}{hsh}"
            if via is None and self.dup.check(key) is not None:
                return None
            req = self.dup.get(ack)
            it = req.it if req is not None else None
            if isinstance(it, dict):
                if it.get("##") == hsh:
                    return None
                it.setdefault("##", hsh)
            if via is None:
                self.dup.track(key)
        if "dam" not in msg and ack is None and len(self.peers) > 1:
            labels = [p.label for p in itertools.islice(self.peers.values(), 7)]
            msg["><"] = ",".join(labels)
        ok = msg.get("ok")
        if put is not None and isinstance(ok, dict):
            # the ack budget counts down one per hop; '/' becomes our peer count (gun.js raw)
            budget = ok.get("@")
            budget = budget if isinstance(budget, int | float) and budget else 1
            msg["ok"] = {"@": budget - 1, "/": self.near}
        if put_text is not None:
            rest = {k: v for k, v in msg.items() if k != "put"}
            head = codec.dumps(rest)
            return msg, head[:-1] + ("," if len(head) > 2 else "") + '"put":' + put_text + "}"
        return msg, codec.dumps(msg)

    def _say_to(self, msg: Message, raw: str, peer: MeshPeer, via: MeshPeer | None) -> bool:
        mid = str(msg["#"])
        if peer is via:
            return False
        if peer.last == mid:
            return False
        peer.last = mid
        peer.said += 1
        self.said += 1
        batched = self.outbox.join(raw, peer)
        self._emit_said(msg, peer, len(raw), batched=batched)  # traced before it is written
        if not batched:  # the first of a burst goes out alone (and may be lost: traced after)
            self.outbox.write(raw, peer)
        return True

    def _emit_said(self, msg: Message, peer: MeshPeer, size: int, batched: bool) -> None:
        if not self.bus.wants(trace.Said):
            return
        self._emit(
            trace.Said(
                self._now(),
                self.pid,
                peer.id,
                msg=msg,
                transport=peer.transport,
                size=size,
                batched=batched,
                queued=peer.met is None,
            )
        )

    def flush(self, peer: MeshPeer) -> None:
        """Send ``peer``'s open batch as one ``[..]`` frame, if it holds anything, and close it."""
        self.outbox.flush(peer)

    def flush_all(self) -> None:
        """Send every open batch now (a mesh with no ``call_soon``)."""
        self.outbox.flush_all()

    # ------------------------------------------------------------------ peers
    def add(self, peer: MeshPeer) -> MeshPeer:
        """Register a peer we know of but whose wire is not open yet (frames queue)."""
        peer.queue_limit = self.queue_limit
        self.peers[peer.id] = peer
        return peer

    def hi(self, peer: MeshPeer, *, greet: bool | None = None) -> None:
        """A wire opened. Inbound peers get our ``?`` (``greet``; default: those with no id
        yet, which get one here); the queue drains."""
        ask_pid = not peer.id if greet is None else greet
        if not peer.id:
            peer.id = random_id(9, self.rng)
        peer.queue_limit = self.queue_limit
        self.peers[peer.id] = peer
        first = peer.met is None
        if first:
            self.near += 1
            peer.met = self.clock_ms()
            self._emit(
                trace.Hi(
                    self._now(), self.pid, peer.id, pid=peer.pid or "", transport=peer.transport
                )
            )
        if ask_pid:
            hello: Message = {"dam": "?", "pid": self.pid}
            self.say(hello, peer)
            # gun.js deletes this entry so that our own '?' coming back is seen (self-dial)
            self.dup.forget(str(hello["#"]))
        self.outbox.drain(peer)
        if first:
            for fn in list(self.on_hi):
                fn(peer)

    def bye(self, peer: MeshPeer) -> None:
        """A wire closed or failed: the peer leaves the mesh (closing the socket is Gun's bye)."""
        known = self.peers.get(peer.id) is peer
        if known:
            del self.peers[peer.id]
        self.outbox.close(peer)
        if peer.met is None:
            return
        self.near -= 1
        peer.met = None
        self._emit(trace.Bye(self._now(), self.pid, peer.id, transport=peer.transport))
        for fn in list(self.on_bye):
            fn(peer)

    def disconnect(self, peer: MeshPeer) -> None:
        """Hang up on ``peer`` (close its wire) and let it leave."""
        wire = peer.wire
        self.bye(peer)
        if wire is not None:
            try:
                wire.close()
            except Exception:
                log.debug("closing %r failed", peer, exc_info=True)

    def peer_by_pid(self, pid: str) -> MeshPeer | None:
        for p in self.peers.values():
            if p.pid == pid or p.id == pid:
                return p
        return None

    # ------------------------------------------------------------------ time
    def next_deadline(self) -> float | None:
        """When ``expire`` next has work (clock_ms units), or None."""
        return self.dup.next_deadline()

    def expire(self) -> int:
        return self.dup.expire()
