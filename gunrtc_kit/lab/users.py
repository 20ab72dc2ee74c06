"""``peer.user``: a Lab peer's SEA user session, with a blocking twin for every wait; and
the crawl ``Lab.sea`` makes of a user's space before it shows it (``sea_space``).

Why: ``gun.user()`` (``gunrtc_kit.user``) lives on the Lab's runtime thread like the rest of the
peer, and its waits (``create``, ``auth``, an acked write, a read) are coroutines there. A
notebook cell should not have to hand coroutines to the runtime by hand: as everywhere in the
Lab, each wait comes as a coroutine (``await alice.user.auth(...)``) and as a blocking twin
(``alice.user.auth_sync(...)``), bounded in time; quick actions (``leave``, reading who is
logged in) are plain calls. Paths in the user's space are ``"key.key"`` strings or lists of
keys, as ``LabPeer`` paths are, but start inside ``~<pub>``: ``"profile.name"``.

Why the crawl is here: it asks peers for the souls of a user's space over the mesh (I/O on a
live ``Gun`` root), so it cannot be in ``diagnose`` (pure readers of trace events and graphs,
which may not import ``root``); and it serves only the Lab's SEA inspector, so it stays in the
notebook layer, beside the Lab's user session, rather than widening ``gunrtc_kit.user``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.paths import _keys
from gunrtc_kit.lab.runtime import SLACK
from gunrtc_kit.sea.check import unpack

if TYPE_CHECKING:
    from gunrtc_kit.lab.peers import LabPeer
    from gunrtc_kit.root import Gun
    from gunrtc_kit.user import AuthStep, User, UserChain, UserIs

__all__ = ["LabUser", "alias_accounts", "fetch_space", "sea_space"]


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
        keys = _keys(path)
        chain = self._user().get(keys[0])
        for k in keys[1:]:
            chain = chain.get(k)
        return chain

    async def _run(self, what: str, make: Any, wait: float) -> Any:
        self.peer._check(f"user.{what}")

        async def go() -> Any:
            return await make()

        return await self.peer.lab.rt.run(go(), wait, what=f"{self.peer.name}.user.{what}")

    def _run_sync(self, what: str, make: Any, wait: float) -> Any:
        self.peer._check(f"user.{what}")

        async def go() -> Any:
            return await make()

        return self.peer.lab.rt.run_sync(go(), wait, what=f"{self.peer.name}.user.{what}")

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
        pub: str = await self._run(
            "create",
            lambda: self._user().create(alias, password, timeout=timeout),
            timeout + SLACK,
        )
        return pub

    def create_sync(self, alias: str, password: str, *, timeout: float = 9.0) -> str:
        """Blocking twin of ``create``."""
        pub: str = self._run_sync(
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
        result: UserIs = await self._run(
            "auth",
            lambda: self._user().auth(who, password, timeout=timeout),
            timeout + SLACK,
        )
        return result

    def auth_sync(
        self, who: str | Mapping[str, Any], password: str | None = None, *, timeout: float = 9.0
    ) -> UserIs:
        """Blocking twin of ``auth``."""
        shown = who if isinstance(who, str) else "a pair"
        result: UserIs = self._run_sync(
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
        wait = self.peer.gun.ack_timeout + SLACK
        ack: dict[str, Any] = await self._run(
            f"put_acked({path!r})", lambda: self._space(path).put(data), wait
        )
        return ack

    def put_acked_sync(self, path: Any, data: Any) -> dict[str, Any]:
        """Blocking twin of ``put_acked``."""
        wait = self.peer.gun.ack_timeout + SLACK
        ack: dict[str, Any] = self._run_sync(
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
        value, asked = await self._run(
            f"get({path!r})", lambda: self._read(path, timeout), timeout + SLACK
        )
        return self.peer._note_read(path, value, asked, timeout, f"{self.peer.name}.user")

    def get_sync(self, path: Any, timeout: float = 5.0) -> Any:
        """Blocking twin of ``get``."""
        value, asked = self._run_sync(
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


async def alias_accounts(gun: Gun, alias: str, timeout: float) -> list[str]:
    """The public keys ``~@alias`` lists on ``gun``, asked of its peers first when it lacks
    the alias (bounded by ``timeout``); on the runtime thread."""
    soul = "~@" + alias
    if not gun.graph.nodes.get(soul):
        await gun.fetch({"#": soul}, timeout)
    node = gun.graph.nodes.get(soul) or {}
    links = [v.get("#") for k, v in node.items() if k != "_" and isinstance(v, dict)]
    return [s[1:] for s in links if isinstance(s, str) and s.startswith("~")]


async def fetch_space(gun: Gun, pub: str, timeout: float) -> None:
    """Ask ``gun``'s peers for what it lacks of user ``pub``'s space: ``~pub``, then the souls
    its links name inside the space, breadth first; at most 50 souls, within ``timeout``
    seconds in all. On the runtime thread."""
    loop = asyncio.get_running_loop()
    deadline, todo = loop.time() + timeout, ["~" + pub]
    seen: set[str] = set()
    while todo and len(seen) < 50 and loop.time() < deadline:
        soul = todo.pop(0)
        seen.add(soul)
        if soul not in gun.graph.nodes:
            await gun.fetch({"#": soul}, max(deadline - loop.time(), 0.05))
        for k, v in (gun.graph.nodes.get(soul) or {}).items():
            link = unpack(v) if k != "_" else None
            target = link.get("#") if isinstance(link, dict) and len(link) == 1 else None
            if isinstance(target, str) and target.startswith("~" + pub):
                if target not in seen and target not in todo:
                    todo.append(target)


async def sea_space(peer: LabPeer, who: Any, timeout: float) -> tuple[str, User | None, str]:
    """``Lab.sea``'s reading of ``who`` on ``peer``, on the runtime thread: the user's pub,
    the ``User`` when one was given, and the call's name for messages (``sea('bob',
    'alice')``), with what ``peer`` lacks of the alias and of the space fetched first, all
    within ``timeout`` seconds. ``who`` is a ``LabUser``, a logged-in ``User``, a pub
    (``"x.y"``/``"~x.y"``) or an alias (the first account it lists, unless ``peer``'s own
    user is one of them)."""
    from gunrtc_kit.user import User

    gun = peer.gun
    if isinstance(who, LabUser):
        who = who.peer.gun.user()
    label = f"sea({peer.name!r}, {who!r:.40})"
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    user: User | None = who if isinstance(who, User) else None
    if user is not None:
        if user.pub is None:
            raise GunError(f"{label}: that user is not logged in; give its pub or alias")
        pub = user.pub
    elif isinstance(who, str) and who.strip("~@"):
        text = who.removeprefix("~")
        if re.fullmatch(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}", text):
            pub = text
        else:
            alias = text.removeprefix("@")
            found = await alias_accounts(gun, alias, timeout)
            if not found:
                raise GunError(f"{label}: {peer.name} knows no account of {alias!r}")
            mine = gun.user().pub
            pub = mine if mine in found else found[0]
    else:
        raise GunError(f"{label}: expected a User, a public key or an alias")
    await fetch_space(gun, pub, max(end - loop.time(), 0.05))
    return pub, user, label
