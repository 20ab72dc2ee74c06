"""What a Lab can tell from its trace and its peers' graphs: the fate of a message, why a
peer holds a value (``explain``), the SEA inspector, message ids, saved traces, the doctor.

Why apart: these read the Lab (its trace bus, the views' models, the peers' graphs, each read
on the runtime thread) and change nothing of it, apart from ``heal``/``heal_sync``, the
doctor's cures (in ``doctor.py``); ``Lab`` takes these methods from ``LabInquiry``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from gunrtc_kit import trace
from gunrtc_kit.capture import load_any
from gunrtc_kit.diagnose.explain import Explanation
from gunrtc_kit.diagnose.fate import Fate
from gunrtc_kit.diagnose.peers import Directory
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.peers import LabPeer
from gunrtc_kit.lab.runtime import SLACK, Runtime
from gunrtc_kit.lab.views.hub import ViewHub
from gunrtc_kit.relay import Relay

if TYPE_CHECKING:
    from gunrtc_kit.diagnose.doctor import Report
    from gunrtc_kit.lab.views.replay import Replay
    from gunrtc_kit.lab.views.sea_view import SeaView
    from gunrtc_kit.user import User

__all__ = ["LabInquiry"]

T = TypeVar("T")


class LabInquiry:
    """The reading half of ``Lab`` (a Lab is one): fate, explain, sea, messages, traces and
    the doctor, each reading the Lab's trace and graphs where they are consistent."""

    _hub: ViewHub
    rt: Runtime
    bus: trace.TraceBus
    directory: Directory
    peers: dict[str, LabPeer]
    names: dict[str, str]

    if TYPE_CHECKING:

        @property
        def closed(self) -> bool: ...

        @property
        def relay(self) -> Relay | None: ...

        def name_of(self, pid: str) -> str: ...

        def _check_open(self, action: str) -> None: ...

        def _settle(self, action: str, *, always: bool = False) -> None: ...

        def _holds(self, peer: LabPeer) -> bool: ...

        def _own(self, action: str, *peers: LabPeer | str) -> list[LabPeer]: ...

        def _peer_pid(self, who: Any, action: str) -> str: ...

        def _view(self, key: str, make: Any) -> Any: ...

        def _keep(self, widget: T) -> T: ...

    def fate(self, msg: Any) -> Fate:
        """What became of a message: every copy said, heard, relayed, dropped by dedup or lost
        on a wire, and the answers to it. ``msg`` is its id (what ``put`` returns), or a
        message dict with ``#``."""
        mid = msg.get("#") if isinstance(msg, dict) else getattr(msg, "id", msg)
        if not isinstance(mid, str) or not mid:
            raise GunError(f"fate({msg!r}): expected a message id or a message with '#'")
        self._hub.refresh()
        try:
            with self._hub.lock:
                return self._hub.fate.fate(mid)
        except KeyError:
            raise GunError(f"fate({mid!r}): no such message in this Lab's trace") from None

    def explain(self, peer: LabPeer | str, path: str, key: str | None = None) -> Explanation:
        """Why ``peer`` holds what it holds at ``soul.key``: every write of that field it saw
        (value, HAM state, the peer and wire it came from, when it arrived) and HAM's verdict
        on each (newer state, Gun's lexical rule at equal states, a future state deferred
        until its time, an older state ignored), read from the Lab's trace and its graph.

        ``path`` is ``"soul.key"`` split at the *last* dot (``"a/b.c"``: soul ``a/b``, key
        ``c``), or the soul alone with ``key`` given apart (for a key with a dot in it). It
        names a field of the graph, not a chain path. ``peer`` is a ``LabPeer`` or its name;
        an unknown name is a ``GunError`` listing the known ones. A field never written gets
        an answer saying so; a trace that dropped its oldest events (over ``keep``) says so.
        """
        from gunrtc_kit.diagnose.explain import explain, split_field

        (p,) = self._own(f"explain({getattr(peer, 'name', peer)!r}, {path!r})", peer)
        if key is None:
            try:
                soul, key = split_field(path)
            except ValueError as exc:
                raise GunError(f"explain({p.name!r}, ...): {exc}") from None
        elif not isinstance(path, str) or not path or not isinstance(key, str) or not key:
            raise GunError(f"explain({p.name!r}, {path!r}, {key!r}): give a soul and a key")
        else:
            soul = path

        def read() -> tuple[list[trace.Event], dict[str, Any], bool]:
            node = p.gun.graph.nodes.get(soul)
            events = list(self.bus.history)
            return events, json.loads(json.dumps(node or {})), len(events) >= self.bus.keep

        # one read on the runtime thread: the history and the graph agree with each other
        events, node, dropped = self.rt.call(read, what=f"explain({p.name!r}, {path!r})")
        with self._hub.lock:
            directory = Directory.from_meta(self.directory.meta())
        return explain(events, p.pid, soul, key, node, directory, name=p.name, truncated=dropped)

    async def sea(
        self, peer: LabPeer | str, who: Any, timeout: float = 5.0, *, live: bool = False
    ) -> SeaView:
        """The SEA inspector: every field of a user's space as ``peer`` holds it, each with its
        verdict (``valid``, ``valid-cert``, ``invalid``, ``unsigned``) and the key that signed
        it, and the steps of the last ``auth`` on ``peer`` (``gunrtc_kit.diagnose.sea``).

        ``who`` is a user (``peer.user`` or ``peer.gun.user()``, logged in), a public key
        (``"x.y"`` or ``"~x.y"``) or an alias (``"alice"`` or ``"~@alice"``; the first
        account it lists, the peer's own user's if it is one of them). What ``peer`` lacks of
        the alias or the account is asked of its peers first, within ``timeout`` seconds in
        all: that wait is why it is a coroutine, with ``sea_sync`` as its blocking twin.
        ``peer`` is a ``LabPeer`` or its name.

        Frozen by default: each call reads now and makes a new view that keeps what it read
        (a wrong password's failed login stays failed under its cell after a later cell logs
        in); call it again for a new snapshot, or tick "live" in it. ``live=True`` gives the
        one live view per peer and user (showing it again reuses it): it reads the peer's
        graph again when the peer's traffic shows a change, on ``refresh()`` and on its
        button."""
        from gunrtc_kit.lab.users import sea_space

        (p,) = self._own("sea", peer)
        found = await self.rt.run(
            sea_space(p, who, timeout), timeout + SLACK, what=f"sea({p.name!r}, ...)"
        )
        return self._sea_view(p, *found, live=live)

    def sea_sync(
        self, peer: LabPeer | str, who: Any, timeout: float = 5.0, *, live: bool = False
    ) -> SeaView:
        """Blocking twin of ``sea`` (plain cells): the same inspector, the same snapshot."""
        from gunrtc_kit.lab.users import sea_space

        (p,) = self._own("sea_sync", peer)
        found = self.rt.run_sync(
            sea_space(p, who, timeout), timeout + SLACK, what=f"sea_sync({p.name!r}, ...)"
        )
        return self._sea_view(p, *found, live=live)

    def _sea_view(
        self, peer: LabPeer, pub: str, user: User | None, label: str, *, live: bool
    ) -> SeaView:
        """The inspector of ``pub`` on ``peer``, once what it lacked was fetched."""
        from gunrtc_kit.lab.views.sea_view import SeaView

        gun = peer.gun

        def read() -> tuple[dict[str, Any], list[Any]]:
            nodes = {s: n for s, n in gun.graph.nodes.items() if "~" in s}
            steps = list((user or gun.user()).last_auth)
            return json.loads(json.dumps(nodes)), steps

        rt = self.rt  # not ``self``: a view in ipywidgets' registry must not hold the Lab

        def source() -> tuple[dict[str, Any], list[Any]]:
            return rt.call(read, timeout=10, what=label)

        def make() -> SeaView:
            return SeaView(self._hub, pub, source, pid=peer.pid, name=peer.name, live=live)

        if live:
            return self._view(f"sea:{peer.name}:{pub}", make)  # type: ignore[no-any-return]
        return self._keep(make())

    def messages(self, *, kind: str = "", soul: str = "", by: LabPeer | str = "") -> list[str]:
        """Ids of the messages seen so far, oldest first: of a ``kind`` (``"get"``,
        ``"put"``, ``"reply"``...; a prefix), naming a ``soul`` (exactly: ``"chat/m49"`` is
        not ``"chat/m490"``; a prefix when it ends in ``*``: ``"chat/*"``), said first by
        peer ``by`` (a peer, its name or pid; a name no peer has raises ``GunError``, not an
        empty list). For ``fate()`` of a message a call did not hand you (a ``get_sync``)."""
        from gunrtc_kit.lab.views.flow_view import soul_test

        self._hub.refresh()
        pid = self._peer_pid(by, "messages(by=...)") if by else ""
        test = soul_test(soul)
        with self._hub.lock:
            return [
                m.mid
                for m in self._hub.fate.msgs.values()
                if (not kind or m.kind.startswith(kind))
                and (test is None or any(test(s) for s in m.souls))
                and (not pid or m.origin == pid)
            ]

    # ------------------------------------------------------------------ traces
    def save_trace(self, path: str | Path, *, compress: bool | None = None) -> Path:
        """Save what the Lab's bus kept (``keep`` events) with the peers' names, as JSONL
        (gzip when the path ends in ``.gz``, or when it is over 1 MiB: then ``.gz`` is added).
        Returns the path written; ``Lab.open_trace`` shows it again."""
        with self._hub.lock:
            meta = {**self.directory.meta(), "saved_by": "gunrtc_kit.lab.Lab"}
        return trace.save(path, list(self.bus.history), meta=meta, compress=compress)

    @staticmethod
    def load_trace(path: str | Path) -> list[trace.Event]:
        """The events of a saved trace, or of a frame capture (docs/trace.md; see
        ``open_trace`` to look at them)."""
        return load_any(path).events

    @classmethod
    def open_trace(cls, path: str | Path) -> Replay:
        """A saved trace, or a frame capture, as views with a time slider (``replay.show()``);
        ``replay.fork(t)`` makes a Lab that starts where the trace stood at ``t``."""
        import functools

        from gunrtc_kit.lab.fork import build_fork
        from gunrtc_kit.lab.views.replay import Replay

        f = load_any(path)  # a trace file or a frame capture (gunrtc_kit.capture)
        replay = Replay(f.events, f.meta)
        make = cast("Callable[..., Any]", cls)  # a LabInquiry is only ever a Lab
        replay.forker = functools.partial(build_fork, make, source=Path(path).name)
        return replay

    # ------------------------------------------------------------------ doctor
    def doctor(self, *, souls: Iterable[str] | None = None) -> Report:
        """Where the peers (the relay too) disagree about the graph, each soul/key with the
        reason the trace gives (a partition or cut link, a lost frame, a deferred future state,
        a peer that never asked or did not ask again after reconnecting, an ``err`` ack, a put
        never acked) and the action that would heal it; ``heal`` does the safe ones. A read
        of what the peers hold now (it changes nothing). ``bool(report)`` is True when all
        agree."""
        self._check_open("doctor()")
        from gunrtc_kit.lab.doctor import lab_doctor

        return lab_doctor(self, souls=souls)

    async def heal(
        self,
        *,
        souls: Iterable[str] | None = None,
        max_wait: float = 10.0,
        timeout: float | None = None,
    ) -> Report:
        """The doctor, then its safe cures (re-get, heal a memory link, make a cut memory link
        again, wait up to ``max_wait`` s for a deferred state), a round at a time until the
        peers agree or nothing safe is left; the report shows before, the cures done
        (``done``) and after. ``timeout`` bounds it all (by default long enough for four
        rounds). ``heal_sync`` is its blocking twin."""
        self._check_open("heal()")
        from gunrtc_kit.lab.doctor import lab_heal

        return await lab_heal(self, souls=souls, max_wait=max_wait, timeout=timeout)

    def heal_sync(
        self,
        *,
        souls: Iterable[str] | None = None,
        max_wait: float = 10.0,
        timeout: float | None = None,
    ) -> Report:
        """Blocking twin of ``heal`` (plain cells, scripts): blocks this thread only."""
        self._check_open("heal_sync()")
        from gunrtc_kit.lab.doctor import lab_heal_sync

        return lab_heal_sync(self, souls=souls, max_wait=max_wait, timeout=timeout)

    def converged(self, *, souls: Iterable[str] | None = None) -> bool | Report:
        """True when every peer holds the same graph (for ``souls``, default all), else the
        doctor's report saying where and why: a one-line convergence check for a cell or a
        test (``assert lab.converged()`` shows the report when it fails)."""
        report = self.doctor(souls=souls)
        return True if report else report
