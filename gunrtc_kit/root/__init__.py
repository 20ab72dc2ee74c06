"""The ``Gun`` root: graph + mesh + wires (+ WebRTC), the low-level API the chain builds on.

What the root does with a message the mesh hands it (matched to gun.js's root ``universe``):
a ``put`` is merged through HAM (request or reply alike); a reply (``@``) goes to whoever here
asked for it, else is routed back toward the asker; a ``get`` is answered from the graph in
Gun's chunks of 9 keys; requests are then relayed: by a plain peer to every other peer (Gun
without AXE), by a relay (``super_peer``) only to the peers subscribed to the souls in question
and to relays it dialled (AXE, see ``gunrtc_kit.root.axe``). Invalid puts are not
relayed; the sender gets ``{'@': id, 'err': "Error: Invalid graph! ..."}`` (gun.js sends nothing
back, which leaves writers waiting for a timeout; an ``err`` ack is what Gun's own callbacks
understand, so it is compatible).

Acks: a root built with ``store`` (the relay) acks every put that wrote at least one key, after
the write is committed; puts whose keys all lose HAM get no ack, as gun.js's storage does. A
put whose every key waits for its future state is acked when one lands (``deferred``).
Plain peers hold a memory graph only and, like a memory-only Gun.js peer, do not ack.

Only the relay answers a put: it passes a put on only once it changed something here. A stale
put goes nowhere, a put held for its future state goes on once a key of it landed, after the
relay's own ack (npm Gun.js's AXE relay does the same: it forwards neither at once). Passed on
at once, as it was, a subscriber's forged ``err`` or ``ok`` reached the writer before the
relay's answer, or in place of none (issue 22).

Bounds (each reached limit is a trace event and, where there is a sender, an ``err`` to it):
``MAX_DEFERRED`` keys waiting for a future state (one queue, one timer), ``max_nodes`` souls a
plain peer takes from remote puts, ``MAX_REPLY_CHUNKS`` messages of one reply stream,
``MAX_GET_SOULS`` souls per lex GET (the asker told by a last reply with ``err``),
``MAX_ANSWERS`` GET answers in flight and ``MAX_ANSWERS_QUEUED`` GETs waiting per connection,
``MAX_SUBS_PER_PEER`` subscriptions per connection on a relay, ``MAX_SEA_KEYS`` signed keys
one put may ask us to verify and ``MAX_SEA_PENDING`` puts waiting per connection.

Fairness under load: GET answers and SEA verification each have one budget per loop turn
(``GET_SLICE`` reply units, ``SEA_SLICE`` keys) shared by every connection, which take turns
(``scheduler.FairWork``), and a connection's queued work is dropped when it leaves.

The root is a package of small collaborators that ``Gun`` (``gunrtc_kit.root.gun``: start,
close, dispatch, the public API) composes, one concern each:

- ``scheduler``: the one place that knows the event loop: timers, the tasks the root owns,
  and ``FairWork`` (work queued per connection, served in turns within a budget per turn);
- ``replies``: reply listeners, ``PutResult`` and a put's wait for its ack (one timeout queue);
- ``merge``: a graph applied through HAM, admission (``max_nodes``), the trace, the watchers;
- ``commit``: store writes with undo records, the group commit of a turn, and rollback;
- ``deferred``: keys held for their future state (one heap, one timer);
- ``axe``: a relay's subscriptions and its routing of requests (AXE);
- ``answer``: GETs answered from the graph, in chunks, connections in turn;
- ``sea_gate``: SEA's write checks on puts heard (connections in turn) and signing of local
  puts.

The limits below live here, ahead of the collaborators, and those read them from this module
when they run: ``monkeypatch.setattr(gunrtc_kit.root, "MAX_DEFERRED", 50)`` changes what a
root does. The chain API (``gun.get(...)``) lives in ``gunrtc_kit.chain``.
"""

from __future__ import annotations

import logging
from typing import Any

from gunrtc_kit import chain
from gunrtc_kit import trace as trace
from gunrtc_kit.core import opts

log = logging.getLogger(__name__)

Message = dict[str, Any]
AskFn = chain.AskFn  # the chain names these: it hands reply and watch callbacks to the root
WatchFn = chain.WatchFn

ACK_TIMEOUT: float = opts.ACK_TIMEOUT  # gun.js opt.lack (core.opts: trace readers use it too)
ASK_LIFE = 9.0  # a reply listener lives 9 s after its last reply (gun ask.js)
MAX_DEFER_MS = 2_147_483_647  # setTimeout's cap, as gun.js defers at most this long
MAX_DEFERRED = 10_000  # keys held for a future state at once; past it such puts get ``err``
MAX_NODES = 50_000  # souls a plain peer takes from remote puts; past it new souls are refused
MAX_REPLY_CHUNKS = 20_000  # ``%`` chunks one read follows before it stops listening
MAX_GET_SOULS = 10_000  # souls one lex GET is answered with
MAX_SUBS_PER_PEER = 10_000  # souls a relay follows for one connection
MAX_REASK = 10_000  # souls a relay asks a relay it dialled for again when that one says hi
SETTLE_MS = 100.0  # a read waits for keys of its soul held back at most this long (ms)
SEA_SLICE = 64  # signed keys verified per loop turn, all connections together
SEA_STEP = 8  # keys of a waiting put verified in its connection's turn (then the next one's)
MAX_SEA_KEYS = 20_000  # keys of ~/# souls one put (or one connection's queue) may hold
MAX_SEA_PENDING = 1_000  # puts one connection may have waiting for verification
SEA_TRACED = 10  # refused keys of one put traced one by one (then one event for the rest)
GET_SLICE = 64  # reply units sent per loop turn, all answers together (a reply: 1 + chars/PACK)
MAX_ANSWERS = 64  # GET answers in flight at once (read, replies being sent); others wait
MAX_ANSWERS_QUEUED = 1_000  # GETs one connection may have waiting; past it the asker gets err
CLOSED = "closed"

# the collaborators, imported once the limits above exist (they read them from here), and
# the names this module held before it became a package, still importable from here
from gunrtc_kit.chain import PutResult as PutResult  # noqa: E402
from gunrtc_kit.root.commit import _MISSING as _MISSING  # noqa: E402
from gunrtc_kit.root.gun import Gun as Gun  # noqa: E402
from gunrtc_kit.root.gun import _register as _register  # noqa: E402
from gunrtc_kit.root.replies import _Ask as _Ask  # noqa: E402
from gunrtc_kit.root.replies import _PutWait as _PutWait  # noqa: E402
from gunrtc_kit.root.sea_gate import sea_guarded as _sea_guarded  # noqa: E402, F401

__all__ = ["Gun", "PutResult"]
