"""``peer.user``: a Lab peer's SEA user session, with a blocking twin for every wait.

Why: ``gun.user()`` (``gunrtc_kit.user``) lives on the Lab's runtime thread like the rest of the
peer, and its waits (``create``, ``auth``, an acked write, a read) are coroutines there. A
notebook cell should not have to hand coroutines to the runtime by hand: as everywhere in the
Lab, each wait comes as a coroutine (``await alice.user.auth(...)``) and as a blocking twin
(``alice.user.auth_sync(...)``), bounded in time; quick actions (``leave``, reading who is
logged in) are plain calls. Paths in the user's space are ``"key.key"`` strings or lists of
keys, as ``LabPeer`` paths are, but start inside ``~<pub>``: ``"profile.name"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import GunError

if TYPE_CHECKING:
    from gunrtc_kit.lab.lab import LabPeer
    from gunrtc_kit.user import AuthStep, User, UserChain, UserIs

__all__ = ["LabUser"]

SLACK = 5.0  # how much longer a blocking twin waits than the call's own timeout


class LabUser:
    """``peer.user`` in a Lab: ``create``, ``auth``, ``leave``, and reads and signed writes in
    the user's space, each wait as a coroutine and as a ``_sync`` twin."""

    def __init__(self, peer: LabPeer) -> None:
        self.peer = peer

    # ------------------------------------------------------------------ on the runtime
    def _user(self) -> User:
        return self.peer.gun.user()

    def _call(self, fn: Any, what: str) -> Any:
        self.peer._check(f"user.{what}")
        return self.peer.lab.rt.call(fn, what=f"{self.peer.name}.user.{what}")

    def _space(self, path: Any) -> UserChain:
        from gunrtc_kit.lab.lab import _keys

        keys = _keys(path)
        chain = self._user().get(keys[0])
        for k in keys[1:]:
            chain = chain.get(k)
        return chain

    async def _arun(self, what: str, make: Any) -> Any:
        self.peer._check(f"user.{what}")

        async def go() -> Any:
            return await make()

        return await self.peer.lab.rt.arun(go())

    def _run(self, what: str, make: Any, wait: float) -> Any:
        self.peer._check(f"user.{what}")

        async def go() -> Any:
            return await make()

        return self.peer.lab.rt.run(go(), wait, what=f"{self.peer.name}.user.{what}")

    # ------------------------------------------------------------------ who
    @property
    def is_(self) -> UserIs | None:
        """``{pub, epub, alias}`` of the logged-in user, or None (Gun.js ``user.is``)."""
        result: UserIs | None = self._call(lambda: self._user().is_, "is_")
        return result

    @property
    def pub(self) -> str | None:
        """The logged-in user's public key, or None."""
        result: str | None = self._call(lambda: self._user().pub, "pub")
        return result

    @property
    def last_auth(self) -> list[AuthStep]:
        """The steps the last ``auth`` took on this peer (see ``gunrtc_kit.user.AuthStep``)."""
        result: list[AuthStep] = self._call(lambda: list(self._user().last_auth), "last_auth")
        return result

    def leave(self) -> None:
        """Log out: this peer's writes are no longer signed."""
        self._call(lambda: self._user().leave(), "leave")

    # ------------------------------------------------------------------ create / auth
    async def create(self, alias: str, password: str, *, timeout: float = 9.0) -> str:
        """Create the account ``alias`` (and log it in, as Gun.js does); returns its pub.
        Raises ``SeaError`` with Gun's text (``"User already created!"``...)."""
        pub: str = await self._arun(
            "create", lambda: self._user().create(alias, password, timeout=timeout)
        )
        return pub

    def create_sync(self, alias: str, password: str, *, timeout: float = 9.0) -> str:
        """Blocking twin of ``create``."""
        pub: str = self._run(
            f"create_sync({alias!r})",
            lambda: self._user().create(alias, password, timeout=timeout),
            timeout + SLACK,
        )
        return pub

    async def auth(
        self, who: str | Mapping[str, Any], password: str | None = None, *, timeout: float = 9.0
    ) -> UserIs:
        """Log in with an alias and password, or a key pair; ``last_auth`` tells each step.
        Raises ``SeaError`` (``"Wrong user or password."``...)."""
        result: UserIs = await self._arun(
            "auth", lambda: self._user().auth(who, password, timeout=timeout)
        )
        return result

    def auth_sync(
        self, who: str | Mapping[str, Any], password: str | None = None, *, timeout: float = 9.0
    ) -> UserIs:
        """Blocking twin of ``auth``."""
        shown = who if isinstance(who, str) else "a pair"
        result: UserIs = self._run(
            f"auth_sync({shown!r})",
            lambda: self._user().auth(who, password, timeout=timeout),
            timeout + SLACK,
        )
        return result

    # ------------------------------------------------------------------ the user's space
    def put(self, path: Any, data: Any) -> str:
        """Write ``data`` at ``path`` in the user's space, signed with its key, without
        waiting; returns the message id (for ``lab.fate``). Raises ``GunError`` when nobody
        is logged in on this peer (the write would be refused everywhere)."""

        def go() -> str:
            if self._user().pub is None:
                raise GunError(
                    f"{self.peer.name}.user.put({path!r}): nobody is logged in on this peer; "
                    "create or auth first"
                )
            return str(self._space(path).put(data).id)

        result: str = self._call(go, f"put({path!r})")
        return result

    async def put_acked(self, path: Any, data: Any) -> dict[str, Any]:
        """Write and wait for the first ack (``err`` from a peer that refused it raises)."""
        ack: dict[str, Any] = await self._arun(
            f"put_acked({path!r})", lambda: self._space(path).put(data)
        )
        return ack

    def put_acked_sync(self, path: Any, data: Any) -> dict[str, Any]:
        """Blocking twin of ``put_acked``."""
        wait = self.peer.gun.ack_timeout + SLACK
        ack: dict[str, Any] = self._run(
            f"put_acked_sync({path!r})", lambda: self._space(path).put(data), wait
        )
        return ack

    async def _read(self, path: Any, timeout: float) -> tuple[Any, list[str]]:
        """Read ``path`` (on the runtime), with the names of the peers it was asked of."""
        asked = self.peer._asked()
        return await self._space(path).once(timeout), asked

    async def get(self, path: Any, timeout: float = 5.0) -> Any:
        """The value at ``path`` in the user's space, verified and unpacked, or None; as for
        ``LabPeer.get``, a read that finds nothing is kept in ``peer.last_read`` and warns
        what was asked and of whom (``NoValueWarning``)."""
        value, asked = await self._arun(f"get({path!r})", lambda: self._read(path, timeout))
        return self.peer._note_read(path, value, asked, timeout, f"{self.peer.name}.user")

    def get_sync(self, path: Any, timeout: float = 5.0) -> Any:
        """Blocking twin of ``get``."""
        value, asked = self._run(
            f"get_sync({path!r})", lambda: self._read(path, timeout), timeout + SLACK
        )
        return self.peer._note_read(path, value, asked, timeout, f"{self.peer.name}.user")

    def __repr__(self) -> str:
        try:
            who = self.is_
        except GunError:
            who = None
        if who is None:
            return f"LabUser({self.peer.name}: nobody logged in)"
        return f"LabUser({self.peer.name}: {who.get('alias')!r}, pub {who['pub'][:12]}...)"
