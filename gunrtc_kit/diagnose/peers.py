"""Who is who in a trace: turn the ids each peer uses for the other side into one name.

Every trace event says which peer emitted it (``node``, its pid) and names the other side
by *that node's* id for it (``peer``): a relay URL for a socket we dialled, a random id for a
socket that dialled us, the remote pid for a WebRTC link, ``mem:<pid>`` or a random id for a
memory wire. Two ends of one link therefore use different ids, and only the ``?`` exchange
(``Hi`` with ``pid``) or a ``Link`` event joins them. The views must never draw an id as if it
were a peer (that is how phantom nodes appeared), so everything goes through a ``Directory``:

- ``resolve(node, peer)`` gives the remote side's *entity* (a pid, or a URL whose pid is not
  known yet) or ``""`` when nothing says who it is yet; callers keep such rows aside and
  ``on_resolved`` tells them when the answer arrives.
- Entities get a stable *lane* number on first sight (the order lifelines are drawn in).
- Names and roles (``relay``, ``peer``, ``external``, ``browser``, ``tapped``) come from whoever
  made the peers (the Lab) or from a saved trace's metadata; a URL's name passes to its pid
  once known.

Who is at the far end of a wire is learned two ways, and they are not equal:

- *Facts*: a ``Link`` from the wire's maker (it made both ends), a WebRTC link (its id is the
  far pid, from signalling), the Lab's ``alias`` of its relay's URL.
- *Claims*: the pid the far end sent in its ``?`` (a ``Hi`` with ``pid``). Anybody who can open a
  wire can send any pid, so a claim is believed only when nothing we know contradicts it: the
  claimed pid, if it is a traced peer (it emits events, or the Lab named it a ``peer`` or
  ``relay``), must show in its own events more wires to this node (plus any of its wires whose
  far end is not known yet) than this node already has bound to it: one wire counts once at
  each end, so honest counts agree. An untraced pid must not already have a live wire of the
  same kind here (a reconnect follows the old wire's ``Bye``). A
  claim that fails resolves to an entity of its own, ``claim:<peer id>``, role ``claim``,
  labelled ``⚠ claims alice (wire 3fz…)``, and is listed by ``claims()``: a hostile peer can
  say it is alice, but the views never show its messages as alice's.

Pure: no clock, no asyncio, no widgets; fed one event at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunrtc_kit import trace

__all__ = ["Claim", "Directory"]

Resolved = Callable[[str, str, str], None]

MAX_LANES = 10_000  # entities that get a lane; more peers than that are drawn as "?"
MAX_VIA = 100_000  # (node, peer id) -> pid entries kept (oldest forgotten first)
MAX_CLAIMS = 10_000  # flagged claims listed (a hostile side can make as many as it likes)
TRACED_ROLES = ("peer", "relay")  # roles the Lab gives to peers it made (they emit events)
CLAIM_ROLE = "claim"


@dataclass(frozen=True, slots=True)
class Claim:
    """A ``?`` pid that was not believed: ``node``'s wire ``peer`` said it is ``pid``.

    ``entity`` is what the wire resolves to instead (``claim:<peer>``, or the pid a fact named);
    ``why`` says what contradicted the claim, in words a user can check.
    """

    node: str
    peer: str
    pid: str
    why: str
    entity: str


class Directory:
    """Entities (pids, or URLs before their pid is known), their names, roles and lanes."""

    def __init__(
        self,
        names: dict[str, str] | None = None,
        roles: dict[str, str] | None = None,
    ) -> None:
        self.names: dict[str, str] = dict(names or {})
        self.roles: dict[str, str] = dict(roles or {})
        #: what an entity's software says it is (a browser tab's user agent), to show it
        self.agents: dict[str, str] = {}
        self.lanes: list[str] = []
        self._lane: dict[str, int] = {}
        self._via: dict[tuple[str, str], str] = {}
        self._alias: dict[str, str] = {}
        self.on_resolved: list[Resolved] = []
        self.lanes_refused = 0  # entities met after MAX_LANES (a remote side can make pids)
        self.version = 0  # grows whenever names, roles or lanes change
        # what claims are checked against (see the module docstring)
        self._traced: set[str] = set()  # nodes seen emitting events
        # (node, far entity) -> wires ``node`` had whose far end is that entity; a wire between
        # two traced peers counts once at each end, so the two counts agree when all is honest
        self._opens: dict[tuple[str, str], int] = {}
        self._counted: set[tuple[str, str]] = set()  # (node, peer) wires already in _opens
        self._unresolved: dict[str, set[str]] = {}  # node -> its live wires of unknown far end
        self._live: dict[tuple[str, str], tuple[str, str]] = {}  # (node, peer) -> (far, transport)
        self._live_n: dict[tuple[str, str, str], int] = {}  # (node, far, transport) -> live wires
        self._claims: list[Claim] = []
        self.claims_dropped = 0  # flagged claims past MAX_CLAIMS (counted, not listed)

    # ------------------------------------------------------------------ naming
    def name(self, entity: str, name: str, role: str | None = None) -> None:
        """Give ``entity`` (a pid or a URL) a display name, and optionally a role."""
        entity = self._alias.get(entity, entity)
        if self.names.get(entity) != name:
            self.names[entity] = name
            self.version += 1
        if role is not None and self.roles.get(entity) != role:
            self.roles[entity] = role
            self.version += 1

    def describe(self, entity: str, agent: str) -> None:
        """Say what software ``entity`` runs (a browser tab's user agent); kept short."""
        agent = agent[:200]
        if self.agents.get(entity) != agent:
            self.agents[entity] = agent
            self.version += 1

    def agent(self, entity: str) -> str:
        """What ``describe`` said of ``entity``, or ``""``."""
        return self.agents.get(entity, "")

    def alias(self, url: str, pid: str) -> None:
        """Say that the peer reached at ``url`` is ``pid`` (e.g. the Lab's own relay)."""
        self._alias[url] = pid
        if url in self.names and pid not in self.names:
            self.names[pid] = self.names[url]
        if url in self.roles and pid not in self.roles:
            self.roles[pid] = self.roles[url]
        self.version += 1

    def label(self, entity: str) -> str:
        """The name to show for ``entity``: its name, else the id itself."""
        if not entity:
            return "?"
        return self.names.get(entity) or self.names.get(self._alias.get(entity, ""), entity)

    def role(self, entity: str) -> str:
        """``relay``, ``external``, ``browser`` (a Lab's browser tab), ``tapped`` (a client
        seen through a tap), ``claim`` (an unbelieved ``?`` pid) or ``peer`` (default)."""
        return self.roles.get(entity, "peer")

    def claims(self) -> list[Claim]:
        """The ``?`` pids not believed, oldest first (see ``Claim``)."""
        return list(self._claims)

    def lane(self, entity: str) -> int:
        """The entity's lane (lifeline) number, given on first sight; -1 for unknown."""
        if not entity:
            return -1
        n = self._lane.get(entity)
        if n is None:
            if len(self.lanes) >= MAX_LANES:
                self.lanes_refused += 1
                return -1
            n = self._lane[entity] = len(self.lanes)
            self.lanes.append(entity)
            self.version += 1
        return n

    def lane_of(self, entity: str) -> int:
        """The lane number, or -1 when the entity has none yet (never creates one)."""
        return self._lane.get(entity, -1)

    # ------------------------------------------------------------------ resolution
    def resolve(self, node: str, peer: str) -> str:
        """The entity ``node`` calls ``peer``, or ``""`` when that is not known yet."""
        if not peer:
            return ""
        known = self._via.get((node, peer))
        if known is not None:
            return known
        alias = self._alias.get(peer)
        if alias is not None:
            return alias
        if "://" in peer:
            return ""  # a URL is a peer only once its pid is known (else: two lanes for one)
        if peer in self._lane or peer in self.names:
            return peer  # a pid used directly as the id (WebRTC)
        return ""

    def learn(self, node: str, peer: str, pid: str) -> None:
        """``node``'s peer ``peer`` is ``pid``; tells ``on_resolved`` listeners."""
        if not peer or not pid:
            return
        entity = self._alias.get(pid, pid)
        if self._via.get((node, peer)) == entity:
            return
        if len(self._via) >= MAX_VIA:
            del self._via[next(iter(self._via))]
        self._via[(node, peer)] = entity
        if peer in self.names and entity not in self.names:
            self.names[entity] = self.names[peer]  # a URL's name passes to its pid
            self.version += 1
        if peer in self.roles and entity not in self.roles:
            self.roles[entity] = self.roles[peer]
        for fn in list(self.on_resolved):
            fn(node, peer, entity)

    def apply(self, e: trace.Event) -> None:
        """Learn from one event: ``Link`` (fact), WebRTC ids (facts: they are pids), ``Hi``
        with a pid (a claim, checked), ``Bye`` (the wire is gone)."""
        if e.node and len(self._traced) < MAX_LANES:
            self._traced.add(e.node)
        if isinstance(e, trace.Hi):
            if e.pid:
                self._claimed(e.node, e.peer, e.pid, e.transport)
            self._opened(e.node, e.peer, e.transport)
        elif isinstance(e, trace.Link):
            if e.pid:
                self.learn(e.node, e.peer, e.pid)
            self._opened(e.node, e.peer, e.transport)
        elif isinstance(e, trace.RtcSignal | trace.RtcState):
            if e.peer:
                self.learn(e.node, e.peer, e.peer)  # WebRTC names the other side by pid
        elif isinstance(e, trace.Bye):
            key = (e.node, e.peer)
            self._drop_live(key)
            self._counted.discard(key)
            self._unresolved.get(e.node, set()).discard(e.peer)

    # ------------------------------------------------------------------ claims
    def _opened(self, node: str, peer: str, transport: str) -> None:
        """``node`` has a live wire ``peer``: count it once toward the far end's opens."""
        if not peer:
            return
        key = (node, peer)
        far = self.resolve(node, peer)
        if not far:
            waiting = self._unresolved.setdefault(node, set())
            if len(waiting) < MAX_LANES:
                waiting.add(peer)
            return
        self._unresolved.get(node, set()).discard(peer)
        if self._live.get(key) != (far, transport):
            self._drop_live(key)
            if len(self._live) >= MAX_VIA:
                self._drop_live(next(iter(self._live)))
            self._live[key] = (far, transport)
            n = (node, far, transport)
            self._live_n[n] = self._live_n.get(n, 0) + 1
        if key in self._counted or far.startswith("claim:"):
            return
        if len(self._counted) >= MAX_VIA:
            self._counted.clear()  # only ever more lenient: a wire may be counted twice
        self._counted.add(key)
        if (node, far) not in self._opens and len(self._opens) >= MAX_VIA:
            del self._opens[next(iter(self._opens))]
        self._opens[(node, far)] = self._opens.get((node, far), 0) + 1

    def _drop_live(self, key: tuple[str, str]) -> None:
        far = self._live.pop(key, None)
        if far is not None:
            n = (key[0], *far)
            left = self._live_n.get(n, 1) - 1
            if left > 0:
                self._live_n[n] = left
            else:
                self._live_n.pop(n, None)

    def _traced_pid(self, pid: str) -> bool:
        return pid in self._traced or self.roles.get(pid) in TRACED_ROLES

    def _claimed(self, node: str, peer: str, pid: str, transport: str) -> None:
        """``node``'s wire ``peer`` sent ``?`` saying it is ``pid``: believe it, or flag it."""
        if not peer:
            return
        pid = self._alias.get(pid, pid)
        known = self._via.get((node, peer))
        if known is not None:
            if known != pid and not known.startswith("claim:"):
                self._flag(node, peer, pid, f"the wire is known to be {self.label(known)}", known)
            return  # a wire's far end is decided once; its later Hi (a redial) says the same
        if pid == node:
            return  # the mesh hangs up on itself
        if peer == pid or peer in self._alias:
            self.learn(node, peer, pid)  # a WebRTC link's id, or the Lab's own relay's URL
            return
        why = self._doubt(node, pid, transport)
        if not why:
            self.learn(node, peer, pid)
            return
        entity = f"claim:{peer}"
        self.name(entity, f"⚠ claims {self.label(pid)} (wire {peer[:3]}…)", CLAIM_ROLE)
        self._flag(node, peer, pid, why, entity)
        self.learn(node, peer, entity)

    def _doubt(self, node: str, pid: str, transport: str) -> str:
        """Why a claim of ``pid`` at ``node`` cannot be believed, or ``""``."""
        name = self.label(pid)
        if self._traced_pid(pid):
            opened = self._opens.get((pid, node), 0) + len(self._unresolved.get(pid, ()))
            if self._opens.get((node, pid), 0) < opened:
                return ""
            if opened == 0:
                return f"{name}'s own events show no wire to {self.label(node)}"
            return f"more wires claim to be {name} here than {name} opened to {self.label(node)}"
        if self._live_n.get((node, pid, transport)):
            return f"a live {transport or 'wire'} wire here is already {name}"
        return ""

    def _flag(self, node: str, peer: str, pid: str, why: str, entity: str) -> None:
        if len(self._claims) >= MAX_CLAIMS:
            self.claims_dropped += 1
            return
        self._claims.append(Claim(node, peer, pid, why, entity))
        self.version += 1

    # ------------------------------------------------------------------ saving
    def meta(self) -> dict[str, Any]:
        """What a saved trace needs to show the same names: names, roles, aliases, agents."""
        return {
            "names": dict(self.names),
            "roles": dict(self.roles),
            "aliases": dict(self._alias),
            "agents": dict(self.agents),
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Directory:
        """The directory a saved trace's metadata describes (missing parts are empty)."""
        d = cls(_str_dict(meta.get("names")), _str_dict(meta.get("roles")))
        for url, pid in _str_dict(meta.get("aliases")).items():
            d.alias(url, pid)
        for entity, agent in _str_dict(meta.get("agents")).items():
            d.describe(entity, agent)
        return d


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
