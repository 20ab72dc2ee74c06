"""The reasons found for one finding, collected once each in the order they were found.

Why a collector: several families find the same cause for different behind peers (one cut
link keeps alice and bob from the data); it is one reason naming both, with the cures of
both, not two lines. A reason is the same when its kind, text and message are.
"""

from __future__ import annotations

import dataclasses

from gunrtc_kit.diagnose.doctor.report import Action, Reason

__all__ = ["Reasons"]


class Reasons:
    """Reasons keyed by ``(kind, text, msg_id)``; adding one again merges peers and actions."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], Reason] = {}

    def add(self, reason: Reason) -> None:
        """Keep ``reason``, or merge its peers and actions into the same one kept before."""
        key = (reason.kind, reason.text, reason.msg_id)
        old = self._by_key.get(key)
        if old is None:
            self._by_key[key] = reason
            return
        peers = tuple(dict.fromkeys(old.peers + reason.peers))
        actions = {(a.kind, a.peer, a.soul, a.link): a for a in old.actions + reason.actions}
        self._by_key[key] = Reason(
            old.kind, old.text, peers, old.link, old.since, old.msg_id, tuple(actions.values())
        )

    def has(self, pid: str) -> bool:
        """Whether some reason already accounts for ``pid``."""
        return any(pid in r.peers for r in self._by_key.values())

    def extend_to(self, via: str, pid: str, action: Action) -> None:
        """Every reason that keeps ``via`` from the data keeps ``pid`` too (its only way to
        the data passes ``via``): add ``pid`` and its cure to each."""
        for key, reason in list(self._by_key.items()):
            if via in reason.peers:
                self._by_key[key] = dataclasses.replace(
                    reason, peers=(*reason.peers, pid), actions=(*reason.actions, action)
                )

    def all(self) -> tuple[Reason, ...]:
        """Every reason, in the order first found."""
        return tuple(self._by_key.values())

    def __bool__(self) -> bool:
        return bool(self._by_key)
