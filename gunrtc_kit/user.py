"""``gun.user()``: SEA user accounts, as Gun.js's ``sea.js`` keeps them, and a user's space.

Why a module of its own: an account is nothing but graph data that every Gun.js peer checks
(``gunrtc_kit.sea.check``), so creating one, logging in and writing in one's space are a few
graph reads and writes around SEA's crypto; the root stays free of them and only signs a
logged-in user's local writes (``Gun.sea_pair``).

The account, as ``User.prototype.create`` writes it (sea.js 861-943, npm ``gun@0.2020.1241``):

* ``~<pub>``: ``pub`` (the pub itself, unsigned), and signed by the new pair: ``alias``,
  ``epub``, and ``auth`` = ``JSON.stringify({ek: SEA.encrypt({priv, epriv}, proof, {raw: 1}),
  s: salt})`` with ``proof = SEA.work(password, salt)`` (PBKDF2, 100,000 rounds) and a
  64-character random ``salt`` (896-928).
* ``~@<alias>``: ``{'~<pub>': {'#': '~<pub>'}}``, the alias's list of accounts (929). Aliases
  are not unique: anyone may add an account to a list; a login tries each account in it.

``auth(alias, password)`` (sea.js 965-1121): read ``~@alias``, then each account it links to,
``work(password, auth.s)``, decrypt ``auth.ek`` with the proof; the first that opens gives the
private keys. ``auth(pair)`` logs in with the keys at once. Every step is recorded in
``User.last_auth`` (``AuthStep``), for the SEA inspector and for anyone asking why a login
failed.

Matched on purpose, and said: ``create`` logs the new user in (Gun.js sets ``user.is`` to write
the signed account, 903-911); ``create`` of a taken alias logs the current user out (Gun.js
calls ``gun.leave()``, 886-894); ``auth(pair)`` shows the pub as the alias (1034); the error
texts are Gun.js's (``"User already created!"``, ``"Wrong user or password."``, ``"Password too
short!"``, ``"No user."``, ``"User is already being created or authenticated!"``).

Done differently, on purpose:

* Every wait is bounded (``timeout``): a Gun.js ``create`` with no peer that answers "not
  found" waits forever; a wrong password there costs ten rounds of two PBKDF2 runs (``tries =
  9``, plus the old UTF-8 format each time) before it answers; here each account is tried once.
* The keys decrypted by ``auth`` must belong to the account's ``pub``/``epub`` (Gun.js does not
  look), so a login never leaves a session that signs with a key nobody can verify.
* The legacy UTF-8 ``work`` format and the shuffled-password migration (1010-1016, 1037, 1067-1095)
  are left out; every account this Gun.js creates uses the current format.

Reads in a user's space (``UserChain``) show values unpacked (``SEA.opt.unpack``): the graph
and the wire keep Gun's signed text. A path is resolved by the chain's own rule, which follows
the child soul ``soul/key`` (what a nested put makes, in Gun.js too); a signed link to any
other soul is followed at the end of a path and by ``map()``, not in its middle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from gunrtc_kit.chain import Chain, PutResult, Root, resolve
from gunrtc_kit.core import codec
from gunrtc_kit.core.build import add_key, set_item
from gunrtc_kit.core.ids import random_id
from gunrtc_kit.errors import GunError, SeaError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.sea import decrypt, encrypt, pair, sea_parse, work
from gunrtc_kit.sea.check import unpack
from gunrtc_kit.sea.encoding import parse_json, private_key
from gunrtc_kit.sea.keys import Pair, PairLike


class UserRoot(Root, Protocol):
    """What a user session needs of its peer's root besides what a chain needs: where the
    logged-in user's pair is kept, so the root signs local writes into the user's space."""

    sea_pair: PairLike | None


__all__ = ["AuthStep", "User", "UserChain", "UserIs", "UserRoot"]

NO_USER = "No user."
PASSWORD_TOO_SHORT = "Password too short!"
ALREADY_CREATED = "User already created!"
BUSY = "User is already being created or authenticated!"
WRONG = "Wrong user or password."
ALIAS_TRIES = 9  # Gun.js reads ``~@alias`` again up to 9 times while it has no account (980, 995)
ACK_WAIT = 2.0  # the most ``create`` waits for a storing peer's ack of the account
# the most accounts of one alias a login tries: anyone may add accounts to ``~@alias``, and
# each costs a read and a PBKDF2 run, so a list grown by others must not make a login endless
# (the timeout bounds the time; this, the work); ``auth({"pub": ...}, password)`` skips the list
MAX_ACCOUNTS = 100


class UserIs(TypedDict):
    """``user.is`` in Gun.js: who is logged in (no private key in it)."""

    pub: str
    epub: str
    alias: str


@dataclass(frozen=True, slots=True)
class AuthStep:
    """One step of the last ``auth``, in order: what was read, tried, or failed, and why.

    ``step`` is ``"alias"`` (the ``~@alias`` lookup), ``"account"`` (reading one ``~pub``),
    ``"work"`` (the proof of work, ``ms`` its time), ``"decrypt"`` (opening ``auth.ek``),
    ``"keys"`` (the keys checked against the account), ``"done"`` or ``"failed"`` (the verdict,
    ``detail`` says why). ``ms`` is the step's time (the lookups' includes waiting for peers)."""

    step: str
    ok: bool
    detail: str
    soul: str = ""
    ms: float = 0.0


def _js_length(text: str) -> int:
    """``text.length`` in JavaScript: UTF-16 code units (Gun.js's password rule counts them)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _link(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("#"), str):
        return str(value["#"])
    return None


def _open(value: Any) -> Any:
    """A read's result as a chain shows it: signed values unpacked, in a node or alone."""
    if isinstance(value, dict) and _link(value) is None:
        return {k: unpack(v) for k, v in value.items()}
    return unpack(value)


def _pair_ok(keys: Mapping[str, Any]) -> str | None:
    """None if ``priv``/``epriv`` belong to ``pub``/``epub``, else why not."""
    try:
        private_key(keys.get("pub"), keys.get("priv"))
        private_key(keys.get("epub"), keys.get("epriv"), "epriv")
    except SeaError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class UserChain:
    """A path in a user's space (``~<pub>`` and below) whose reads show values unpacked.

    Writes go through the root like any chain's; the root signs those in the logged-in user's
    own space (``Gun.sea_pair``) and every peer checks them, so a write into another user's
    space is refused (``SeaError("Unverified data.")``) unless it carries a certificate."""

    gun: UserRoot
    path: tuple[str, ...]
    each: bool = field(default=False)

    @classmethod
    def space(cls, gun: UserRoot, pub: str) -> UserChain:
        """The space of the user ``pub`` (``gun.user(pub)``; a leading ``~`` is allowed)."""
        if not isinstance(pub, str) or not pub.removeprefix("~"):
            raise GunError(f"user(pub={pub!r}): expected a public key text")
        return cls(gun, ("~" + pub.removeprefix("~"),))

    @property
    def chain(self) -> Chain:
        """The plain chain of this path (values as stored: Gun's signed text)."""
        return Chain(self.gun, self.path, self.each)

    def get(self, key: str) -> UserChain:
        """One key further, still in the user's space."""
        return UserChain(self.gun, self.chain.get(key).path)

    def map(self) -> UserChain:
        """Every key of this node (links followed, values unpacked), for ``once``/``on``."""
        return UserChain(self.gun, self.path, each=True)

    def put(self, data: Any) -> PutResult:
        """Write ``data`` here; signed by the root when this is the logged-in user's space."""
        return self.chain.put(data)

    def set(self, data: Any) -> PutResult:
        """Add ``data`` as a new item of this node, its soul in the same space
        (``~<pub>/<id>``, as Gun.js's user ``uuid`` makes it, sea.js 831-836). Bad input
        raises as ``Chain.set`` does: ``InvalidDataError`` for an item that is neither an
        object nor a link, ``GunError`` after ``map()``."""
        if self.each:
            raise GunError("set() after map() is not supported")
        route = resolve(self.gun.graph.nodes, self.path)
        state = self.gun.machine()
        graph: dict[str, dict[str, Any]] = {}
        if route.key is not None:
            add_key(graph, route.soul, route.key, {"#": route.node}, state)
        item = set_item(graph, data, state, self.gun.graph, soul_prefix=f"{self.path[0]}/")
        add_key(graph, route.node, item, {"#": item}, state)
        result = self.gun.put_graph(graph)
        result.soul = item
        return result

    async def once(self, timeout: float = 5.0) -> Any:
        """The value here (unpacked), a signed link followed to its node; after ``map()``, the
        items with their links followed. Bounded by ``timeout`` as ``Chain.once``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        value = _open(await Chain(self.gun, self.path).once(timeout))
        soul = _link(value)
        if soul is not None:
            value = _open(await Chain(self.gun, (soul,)).once(max(deadline - loop.time(), 0)))
        if not self.each:
            return value
        if not isinstance(value, dict):
            return None
        items: dict[str, Any] = {}
        for key, item in value.items():
            soul = _link(item)
            if soul is None:
                items[key] = item
            else:
                left = max(deadline - loop.time(), 0)
                items[key] = _open(await Chain(self.gun, (soul,)).once(left))
        return items

    def on(self, callback: Callable[[Any, str], Any]) -> Callable[[], None]:
        """Live updates as ``Chain.on``, values unpacked. Returns the unsubscribe function.

        A signed link (a ``set`` item, a link put by hand) is reported as the link
        ``{'#': soul}``: the chain follows only the links it can read, and these are inside
        signed text (``once`` follows them)."""
        unsubscribe: Callable[[], None] = self.chain.on(
            lambda value, key: callback(_open(value), key)
        )
        return unsubscribe


class User:
    """``gun.user()``: the one user session of a peer (Gun.js allows one per instance).

    ``await user.create(alias, password)``, ``await user.auth(alias, password)`` or
    ``await user.auth(pair)``, ``user.leave()``; ``user.is_`` (``{pub, epub, alias}`` or None),
    ``user.pub``; ``user.get(key)`` / ``put`` / ``set`` work in the user's space."""

    def __init__(self, gun: UserRoot) -> None:
        self.gun = gun
        self._pair: Pair | None = None
        self._is: UserIs | None = None
        self._busy = False
        self.last_auth: list[AuthStep] = []
        """Every step of the last ``auth`` (kept after it ends, for the SEA inspector)."""

    # -------------------------------------------------- who
    @property
    def is_(self) -> UserIs | None:
        """Who is logged in, as Gun.js's ``user.is``: ``{pub, epub, alias}``, or None."""
        return None if self._is is None else UserIs(**self._is)

    @property
    def pub(self) -> str | None:
        """The logged-in user's public key (the ``~<pub>`` soul of its space), or None."""
        return None if self._is is None else self._is["pub"]

    def pair(self) -> Pair | None:
        """The logged-in user's key pair, private keys included (Gun.js ``user.pair()``)."""
        return None if self._pair is None else Pair(**self._pair)

    def _login(self, keys: Pair, alias: str) -> UserIs:
        self._pair = Pair(
            pub=keys["pub"], priv=keys["priv"], epub=keys["epub"], epriv=keys["epriv"]
        )
        self._is = UserIs(pub=keys["pub"], epub=keys["epub"], alias=alias)
        self.gun.sea_pair = self._pair
        return UserIs(**self._is)

    def leave(self) -> None:
        """Log out: forget the keys; later writes in the space are no longer signed."""
        self._pair = None
        self._is = None
        self.gun.sea_pair = None

    # -------------------------------------------------- the space
    def _space(self) -> UserChain:
        if self._is is None:
            raise GunError("no user is logged in: create() or auth() first")
        return UserChain(self.gun, ("~" + self._is["pub"],))

    def get(self, key: str) -> UserChain:
        """``key`` in the logged-in user's space (``~<pub>``)."""
        return self._space().get(key)

    def put(self, data: Any) -> PutResult:
        """Write ``data`` (an object) onto the user's own node ``~<pub>``, signed."""
        return self._space().put(data)

    def set(self, data: Any) -> PutResult:
        """Add an item to the user's own node, its soul in the user's space."""
        return self._space().set(data)

    async def once(self, timeout: float = 5.0) -> Any:
        """The user's own node, values unpacked."""
        return await self._space().once(timeout)

    # -------------------------------------------------- reading accounts
    async def _node(self, soul: str, deadline: float) -> dict[str, Any] | None:
        """``soul`` as the local graph holds it after asking the peers (bounded; a node held
        here may be a few keys of it only, so the peers are asked in any case)."""
        left = deadline - asyncio.get_running_loop().time()
        if left > 0:
            await self.gun.fetch({"#": soul}, left)
        node = self.gun.graph.nodes.get(soul)
        return None if node is None else {k: v for k, v in node.items() if k != "_"}

    # -------------------------------------------------- create
    async def create(self, alias: str, password: str, *, timeout: float = 9.0) -> str:
        """Create the account ``alias`` (and log it in); returns its pub.

        Raises:
            SeaError: with Gun's text: ``"No user."``, ``"Password too short!"`` (fewer than
                8 characters), ``"User already created!"`` (some peer knows ``~@alias``),
                ``"User is already being created or authenticated!"``; or the ``err`` a
                peer acked the account's write with."""
        err = None
        if not isinstance(alias, str) or not alias:
            err = NO_USER
        if not isinstance(password, str) or _js_length(password) < 8:
            err = PASSWORD_TOO_SHORT
        if err is not None:
            raise SeaError(err)
        if self._busy:
            raise SeaError(BUSY)
        self._busy = True
        try:
            return await self._create(alias, password, timeout)
        finally:
            self._busy = False

    async def _create(self, alias: str, password: str, timeout: float) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if await self._node("~@" + alias, deadline):
            self.leave()  # as Gun.js does on a taken alias (sea.js 893)
            raise SeaError(ALREADY_CREATED)
        salt = random_id(64)
        proof = await asyncio.to_thread(work, password, salt)
        keys = await asyncio.to_thread(pair)
        ek = sea_parse(encrypt({"priv": keys["priv"], "epriv": keys["epriv"]}, proof))
        self._login(keys, alias)
        soul = "~" + keys["pub"]
        account = {
            "pub": keys["pub"],
            "alias": alias,
            "epub": keys["epub"],
            "auth": codec.dumps({"ek": ek, "s": salt}),
        }
        writes = [
            Chain(self.gun, (soul,)).put(account),
            Chain(self.gun, ("~@" + alias,)).put({soul: {"#": soul}}),
        ]
        # Gun.js does not wait for storage (its create answers ``ok: 0``); we give a storing
        # peer a moment, both writes at once, so its ``err`` is not missed
        futures = [w.future for w in writes]
        if self.gun.mesh.peers:
            await asyncio.wait(futures, timeout=min(ACK_WAIT, max(deadline - loop.time(), 0.05)))
        for f in futures:
            exc = f.exception() if f.done() and not f.cancelled() else None
            if isinstance(exc, GunError) and not isinstance(exc, GunTimeoutError):
                self.leave()
                raise SeaError(str(exc))
        return keys["pub"]

    # -------------------------------------------------- auth
    async def auth(
        self, who: str | Mapping[str, Any], password: str | None = None, *, timeout: float = 9.0
    ) -> UserIs:
        """Log in with an alias and password, or with a key pair (``password`` then only when
        the pair has no private keys). Returns ``user.is``; ``last_auth`` tells each step.

        Raises:
            SeaError: ``"Wrong user or password."`` (no account of that alias opened with that
                password within ``timeout``), ``"User is already being created or
                authenticated!"``, or why a pair's keys do not fit."""
        if self._busy:
            raise SeaError(BUSY)
        self._busy = True
        self.last_auth = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            if isinstance(who, Mapping):
                return await self._auth_pair(who, password, deadline)
            if not isinstance(who, str) or not who:
                self._step("failed", False, NO_USER)
                raise SeaError(NO_USER)
            return await self._auth_alias(who, password or "", deadline)
        finally:
            self._busy = False

    def _step(self, step: str, ok: bool, detail: str, soul: str = "", ms: float = 0.0) -> None:
        self.last_auth.append(AuthStep(step, ok, detail, soul, ms))

    def _fail(self, why: str = WRONG) -> SeaError:
        self._step("failed", False, why)
        return SeaError(why)

    async def _auth_pair(
        self, keys: Mapping[str, Any], password: str | None, deadline: float
    ) -> UserIs:
        pub = keys.get("pub")
        if not isinstance(pub, str) or not pub:
            raise self._fail("a pair needs its 'pub'")
        if keys.get("priv") and keys.get("epriv"):
            bad = _pair_ok(keys)
            self._step("keys", bad is None, bad or "priv/epriv belong to pub/epub", "~" + pub)
            if bad is not None:
                raise self._fail(bad)
            full = Pair(pub=pub, priv=keys["priv"], epub=keys["epub"], epriv=keys["epriv"])
            self._step("done", True, "logged in with the pair", "~" + pub)
            return self._login(full, pub)  # Gun.js: alias || pair.pub (sea.js 1034)
        # a pub and a password: the account's own auth (sea.js 1056-1066, 1106)
        opened = await self._open_account("~" + pub, password or "", deadline, None)
        if opened is None:
            raise self._fail()
        return opened

    async def _auth_alias(self, alias: str, password: str, deadline: float) -> UserIs:
        loop = asyncio.get_running_loop()
        soul = "~@" + alias
        accounts: list[str] = []
        started = time.perf_counter()
        for attempt in range(ALIAS_TRIES + 1):
            node = await self._node(soul, deadline) or {}
            accounts = [s for s in map(_link, node.values()) if s is not None]
            if accounts or loop.time() >= deadline:
                break
            await asyncio.sleep(min(0.1 * (attempt + 1), max(deadline - loop.time(), 0)))
        self._step(
            "alias",
            bool(accounts),
            f"{len(accounts)} account(s) listed" if accounts else "no account of that alias",
            soul,
            _ms(started),
        )
        if len(accounts) > MAX_ACCOUNTS:
            self._step(
                "alias",
                False,
                f"{len(accounts)} accounts listed: only the first {MAX_ACCOUNTS} are tried",
                soul,
            )
            accounts = accounts[:MAX_ACCOUNTS]
        for account in accounts:
            if loop.time() >= deadline:
                self._step("account", False, "the login's time ran out", account)
                break
            opened = await self._open_account(account, password, deadline, alias)
            if opened is not None:
                return opened
        raise self._fail()

    async def _open_account(
        self, soul: str, password: str, deadline: float, alias: str | None
    ) -> UserIs | None:
        """Try one account: read it, work, decrypt, check the keys. None if it does not open."""
        started = time.perf_counter()
        data = await self._node(soul, deadline)
        pub = (data or {}).get("pub")
        auth = unpack((data or {}).get("auth"))
        if not data or not isinstance(pub, str) or not isinstance(auth, str):
            self._step("account", False, "no account data (pub, auth) here", soul, _ms(started))
            return None
        try:
            sealed = parse_json(auth)
            ek, salt = sealed["ek"], sealed["s"]
        except (SeaError, KeyError, TypeError):
            self._step("account", False, "its auth is not {ek, s}", soul, _ms(started))
            return None
        self._step("account", True, f"account of {pub[:12]}...", soul, _ms(started))
        started = time.perf_counter()
        proof = await asyncio.to_thread(work, password, salt)
        self._step("work", True, "PBKDF2 proof of the password", soul, _ms(started))
        try:
            half = decrypt(ek, proof)
        except SeaError as exc:
            self._step("decrypt", False, f"the proof does not open auth.ek ({exc})", soul)
            return None
        if not isinstance(half, Mapping):
            self._step("decrypt", False, "auth.ek did not hold {priv, epriv}", soul)
            return None
        self._step("decrypt", True, "auth.ek opened", soul)
        epub = unpack(data.get("epub"))
        keys = {"pub": pub, "epub": epub, "priv": half.get("priv"), "epriv": half.get("epriv")}
        bad = _pair_ok(keys)
        self._step("keys", bad is None, bad or "priv/epriv belong to pub/epub", soul)
        if bad is not None:
            return None
        name = alias if alias is not None else unpack(data.get("alias"))
        full = Pair(pub=pub, priv=keys["priv"], epub=epub, epriv=keys["epriv"])
        self._step("done", True, "logged in", soul)
        return self._login(full, name if isinstance(name, str) and name else "~" + pub)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
