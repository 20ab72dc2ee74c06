"""What a tap records about one proxied connection: sans-I/O, fed one frame at a time.

A tap sits on the wire between one client C and the relay R it was meant to reach; it made
both ends of what it forwards (the socket C opened to it, the socket it opened to R), and it
sees frames, never what C or R did with them. The events say exactly that, so the readers
(``diagnose.peers.Directory``, ``diagnose.fate``, ``diagnose.mesh``, ``diagnose.explain``) show
the truth and no more:

- ``Link`` (a fact: the tap made the wire) for each end, naming the far end, and a ``Hi`` with
  the same pid: ``Link(node=C, peer=<C's wire>, pid=R)`` and ``Link(node=R, peer=<R's wire>,
  pid=C)``. Each side is named by the pid it sent in its ``?`` (``{"dam": "?", "pid": ...}``),
  first one wins as in Gun (a pid the tap knows as another side's is not believed: see
  ``Pair.learn``); until then C by its address (``ip:port``) and R by the URL the tap
  dialled. When a pid is learned the wire is re-announced under the new name: ``Bye`` for the
  old names, then ``Link`` and ``Hi`` for the new (what the tap knew changed, not the wire).
  C's id for its wire is the URL it dialled (the tap's, with its path); R's is ``tap:<C's
  address>`` (a relay names a socket that dialled it by an id of its own). A Gun.js client
  sends what it queued (its first GET) before it answers the relay's ``?``: those first
  messages are said by its address, not yet by its pid.
- per DAM message in a frame from side A (an array frame is a batch: every object in it):
  ``Said(node=A, peer=<A's wire>, msg, transport="ws", size, batched)``: A wrote it (true: it
  came off A's socket). ``size`` is the frame's bytes when it held one message, else 0 (as the
  mesh counts); ``batched`` when the frame was an array.
- a put message also gives ``Put(node=A, msg_id, changes, values, states)``: the values and
  HAM states the put carried. In a tap trace a ``Put`` says "A sent these values" (A's own
  write, or a relay passing one on), not that A's graph kept them: the tap cannot see a graph.
- a message (not ``dam``) naming in ``@`` a message the receiver B said on this wire gives,
  once delivered, ``Ack(node=B, msg_id, reply_to, ok, err)``: the answer reached B's socket
  (a GET's answer too, as the mesh's ``Ack`` is any reply to our request).
- then one ``Tapped(node=A, peer=<A's wire>, to=B, size, binary, messages, delivered, tap)``
  for the frame. No ``Heard``: it means "passed the receiver's dedup and was handled", which
  only the receiver knows. Readers therefore show a copy the tap delivered as said, its
  arrival unknown, and a put as answered once its ``Ack`` is in (never "never acked" when
  the ack passed through the tap).
- a frame not delivered (the pair was cut first) gives ``Dropped(node=A, msg_id, cause)`` per
  message after its ``Said``, so fate marks those copies lost, with the cause.
- a frame that is not Gun JSON (binary, bad JSON, not an object or array) is forwarded all
  the same (the tap never changes what passes) and gives ``Error(node=A, peer=<A's wire>)``.

Bounded: the ids each side said (kept to match answers) are capped at ``MAX_SAID`` per pair.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.errors import GunError, LimitError

__all__ = ["CLIENT", "RELAY", "MAX_SAID", "Pair", "parse", "put_event"]

CLIENT = "client"
RELAY = "relay"
MAX_SAID = 10_000  # message ids kept per side and pair, to know an answer when it comes
MAX_OWNERS = 10_000  # pids a tap keeps the owner of (a target could say a new one each time)
TRANSPORT = "ws"
_JSON_SPACE = " \t\n\r"

# the events a frame's messages become (built only when someone takes them)
_MESSAGE_EVENTS = (trace.Said, trace.Put, trace.Ack, trace.Dropped)

Parsed = tuple[list[dict[str, Any]], list[GunError]]


def _other(side: str) -> str:
    return RELAY if side == CLIENT else CLIENT


def _is_array(raw: str) -> bool:
    """Whether a text frame is a JSON array (a batch), without copying a huge frame."""
    for ch in raw[:64]:
        if ch not in _JSON_SPACE:
            return ch == "["
    return False


def put_event(t: float, node: str, peer: str, msg: dict[str, Any]) -> trace.Put | None:
    """The ``Put`` a tap records for a put message ``node`` sent, or None when ``msg`` carries
    no well-formed put (what it holds is then only in the ``Said``)."""
    put = msg.get("put")
    if not isinstance(put, dict) or not put:
        return None
    changes: dict[str, list[str]] = {}
    values: dict[str, dict[str, Any]] = {}
    states: dict[str, dict[str, float]] = {}
    for soul, node_ in put.items():
        if not isinstance(node_, dict):
            continue
        meta = node_.get("_")
        gt = meta.get(">") if isinstance(meta, dict) else None
        gt = gt if isinstance(gt, dict) else {}
        keys = [k for k in node_ if k != "_"]
        changes[soul] = keys
        values[soul] = {k: node_[k] for k in keys}
        states[soul] = {k: gt[k] for k in keys if isinstance(gt.get(k), int | float) and k in gt}
    if not changes:
        return None
    mid = msg.get("#")
    return trace.Put(
        t,
        node,
        peer,
        msg_id=mid if isinstance(mid, str) else "",
        changes=changes,
        values=values,
        states=states,
    )


class Pair:
    """One client's connection through a tap, as trace events (see the module docstring).

    ``client`` is the client's address (``ip:port``), ``client_url`` the URL it dialled (the
    tap's), ``target`` the URL the tap dialled for it, ``tap`` the tap's name.
    """

    def __init__(
        self,
        bus: trace.TraceBus,
        tap: str,
        client: str,
        client_url: str,
        target: str,
        owners: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.bus = bus
        self.owners = owners if owners is not None else {}
        self.target = target
        self.tap = tap
        self.address = client
        self.names = {CLIENT: client, RELAY: target}
        self.pids = {CLIENT: "", RELAY: ""}
        self.wires = {CLIENT: client_url, RELAY: f"tap:{client}"}
        self._said: dict[str, OrderedDict[str, None]] = {
            CLIENT: OrderedDict(),
            RELAY: OrderedDict(),
        }
        self.open = False
        #: frames read from each side (delivered or not)
        self.frames = {CLIENT: 0, RELAY: 0}

    # ------------------------------------------------------------------ the wire
    def opened(self) -> None:
        """Both sockets are open: say so for each end."""
        self.open = True
        self._announce()

    def closed(self) -> None:
        """The pair ended: each end's wire is gone."""
        pid = self.pids[CLIENT]
        if pid and self.owners.get(pid) == (CLIENT, self.address):
            del self.owners[pid]  # a client's pid is its own while connected
        if not self.open:
            return
        self.open = False
        self._farewell()

    def _announce(self) -> None:
        now = self.bus.now()
        for side in (CLIENT, RELAY):
            far = self.names[_other(side)]
            node, wire = self.names[side], self.wires[side]
            self.bus.emit(trace.Link(now, node, wire, pid=far, transport=TRANSPORT))
            self.bus.emit(trace.Hi(now, node, wire, pid=far, transport=TRANSPORT))

    def _farewell(self) -> None:
        now = self.bus.now()
        for side in (CLIENT, RELAY):
            self.bus.emit(trace.Bye(now, self.names[side], self.wires[side], transport=TRANSPORT))

    def learn(self, side: str, pid: str) -> None:
        """``side`` said its pid in a ``?``: name it so from now on (first one wins).

        A pid is a claim: a client could say it is the relay, or another live client. One
        that names a pid the tap already knows as someone else's (the relay's for a client,
        a live client's, a client's for a relay) is not believed: the side keeps its address
        name and an ``Error`` says what it claimed, so no view shows its frames as another's.
        Past ``MAX_OWNERS`` known pids (a client's is forgotten when it leaves, a relay's is
        kept) a new one is not believed either, so a target that says a new pid on every
        connection cannot grow the tap without bound.
        """
        if self.pids[side] or not pid:
            return
        self.pids[side] = pid
        mine = (side, self.address if side == CLIENT else self.target)
        if pid not in self.owners and len(self.owners) >= MAX_OWNERS:
            self.error(side, f"said pid {pid!r}; the tap knows {MAX_OWNERS} pids: not believed")
            return
        owner = self.owners.setdefault(pid, mine)
        if owner != mine and not (side == RELAY and owner[0] == RELAY):
            who = f"the {owner[0]} {owner[1]}"
            self.error(side, f"claims pid {pid!r}, which is {who}'s here; not believed")
            return
        if self.open:
            self._farewell()
        self.names[side] = pid
        if self.open:
            self._announce()

    def error(self, side: str, text: str, msg_id: str = "") -> None:
        """Something about ``side``'s frames or socket, said on the trace."""
        node, wire = self.names[side], self.wires[side]
        self.bus.emit(trace.Error(self.bus.now(), node, wire, error=text, msg_id=msg_id))

    # ------------------------------------------------------------------ frames
    def frame(
        self,
        side: str,
        raw: str | bytes,
        size: int,
        parsed: Parsed | GunError | None,
        delivered: bool,
        cause: trace.DropCause | None = None,
        why: str = "",
    ) -> None:
        """Record one frame ``side`` sent: forwarded whole (``delivered``) or, with ``cause``
        and ``why``, not at all. ``parsed`` is ``codec.parse`` of a text frame (or the error
        it raised); None for a binary frame."""
        self.frames[side] += 1
        msgs = self._messages(side, raw, parsed)
        for m in msgs:
            pid = m.get("pid")
            if m.get("dam") == "?" and isinstance(pid, str):
                self.learn(side, pid)
        if msgs and any(self.bus.wants(k) for k in _MESSAGE_EVENTS):
            self._said_events(side, raw, size, msgs)
            if delivered:
                self._acks(side, msgs)
            elif cause is not None:
                self._dropped(side, msgs, cause, why)
        self.bus.emit(
            trace.Tapped(
                self.bus.now(),
                self.names[side],
                self.wires[side],
                to=self.names[_other(side)],
                size=size,
                binary=not isinstance(raw, str),
                messages=len(msgs),
                delivered=delivered,
                tap=self.tap,
                transport=TRANSPORT,
            )
        )

    def _messages(
        self, side: str, raw: str | bytes, parsed: Parsed | GunError | None
    ) -> list[dict[str, Any]]:
        if not isinstance(raw, str):
            self.error(side, f"binary frame of {len(raw)} bytes (DAM frames are text); passed on")
            return []
        if isinstance(parsed, LimitError):
            self.error(side, f"frame of {len(raw)} chars too big to read; passed on unread")
            return []
        if isinstance(parsed, GunError) or parsed is None:
            self.error(side, f"frame is not Gun JSON ({parsed}): {raw[:60]!r}; passed on")
            return []
        msgs, bad = parsed
        if bad:
            self.error(side, f"{bad[0]}; passed on")
        return msgs

    def _said_events(
        self, side: str, raw: str | bytes, size: int, msgs: list[dict[str, Any]]
    ) -> None:
        now = self.bus.now()
        node, wire = self.names[side], self.wires[side]
        one = size if len(msgs) == 1 else 0
        batched = isinstance(raw, str) and _is_array(raw)
        said = self._said[side]
        for m in msgs:
            self.bus.emit(
                trace.Said(now, node, wire, msg=m, transport=TRANSPORT, size=one, batched=batched)
            )
            mid = m.get("#")
            if isinstance(mid, str):
                said[mid] = None
                if len(said) > MAX_SAID:
                    said.popitem(last=False)
            put = put_event(now, node, wire, m)
            if put is not None:
                self.bus.emit(put)

    def _acks(self, side: str, msgs: list[dict[str, Any]]) -> None:
        to = _other(side)
        asked = self._said[to]
        now = self.bus.now()
        for m in msgs:
            ack = m.get("@")
            if isinstance(ack, str) and ack in asked and "dam" not in m:
                mid = m.get("#")
                err = m.get("err")
                self.bus.emit(
                    trace.Ack(
                        now,
                        self.names[to],
                        self.wires[to],
                        msg_id=mid if isinstance(mid, str) else "",
                        reply_to=ack,
                        ok=m.get("ok"),
                        err=str(err) if err else "",
                    )
                )

    def _dropped(
        self, side: str, msgs: list[dict[str, Any]], cause: trace.DropCause, why: str
    ) -> None:
        now = self.bus.now()
        for m in msgs:
            mid = m.get("#")
            self.bus.emit(
                trace.Dropped(
                    now,
                    self.names[side],
                    self.wires[side],
                    msg_id=mid if isinstance(mid, str) else "",
                    reason=why,
                    cause=cause,
                    transport=TRANSPORT,
                )
            )


def parse(raw: str, max_size: int) -> Parsed | GunError:
    """``codec.parse`` of a frame, or the error it raised (a tap records it, never raises)."""
    try:
        msgs, bad = codec.parse(raw, max_size)
    except GunError as exc:
        return exc
    return msgs, list(bad)
