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
- Names and roles (``relay``, ``peer``, ``external``) come from whoever made the peers (the
  Lab) or from a saved trace's metadata; a URL's name passes to its pid once known.

Pure: no clock, no asyncio, no widgets; fed one event at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunrtc_kit import trace

__all__ = ["Directory"]

Resolved = Callable[[str, str, str], None]

MAX_LANES = 10_000  # entities that get a lane; more peers than that are drawn as "?"
MAX_VIA = 100_000  # (node, peer id) -> pid entries kept (oldest forgotten first)


class Directory:
    """Entities (pids, or URLs before their pid is known), their names, roles and lanes."""

    def __init__(
        self,
        names: dict[str, str] | None = None,
        roles: dict[str, str] | None = None,
    ) -> None:
        self.names: dict[str, str] = dict(names or {})
        self.roles: dict[str, str] = dict(roles or {})
        self.lanes: list[str] = []
        self._lane: dict[str, int] = {}
        self._via: dict[tuple[str, str], str] = {}
        self._alias: dict[str, str] = {}
        self.on_resolved: list[Resolved] = []
        self.lanes_refused = 0  # entities met after MAX_LANES (a remote side can make pids)
        self.version = 0  # grows whenever names, roles or lanes change

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
        """``relay``, ``external`` or ``peer`` (the default)."""
        return self.roles.get(entity, "peer")

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
        """Learn from one event: ``Hi`` with a pid, ``Link`` with a pid, WebRTC ids (pids)."""
        if isinstance(e, trace.Hi):
            if e.pid:
                self.learn(e.node, e.peer, e.pid)
        elif isinstance(e, trace.Link):
            if e.pid:
                self.learn(e.node, e.peer, e.pid)
        elif isinstance(e, trace.RtcSignal | trace.RtcState):
            if e.peer:
                self.learn(e.node, e.peer, e.peer)  # WebRTC names the other side by pid

    # ------------------------------------------------------------------ saving
    def meta(self) -> dict[str, Any]:
        """What a saved trace needs to show the same names: names, roles, aliases."""
        return {
            "names": dict(self.names),
            "roles": dict(self.roles),
            "aliases": dict(self._alias),
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Directory:
        """The directory a saved trace's metadata describes (missing parts are empty)."""
        d = cls(_str_dict(meta.get("names")), _str_dict(meta.get("roles")))
        for url, pid in _str_dict(meta.get("aliases")).items():
            d.alias(url, pid)
        return d


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
