"""SEA's write checks (``gunrtc_kit.sea.check``) against user data real Gun.js made.

``sea_user_graph.json`` was captured from npm ``gun@0.2020.1241`` through
``interop/gunjs_sea_user.js`` (``python -m tests.interop.test_sea_users --capture`` makes it
again): the account ``alice`` with its password and key pair, signed values of every kind in
her space, a content-addressed value under ``#`` (base64) and ``#hex`` (hex), and the ``err``
texts Gun.js acked four forged writes with. No Node is needed here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gunrtc_kit import Gun
from gunrtc_kit.core import codec
from gunrtc_kit.errors import GunError, SeaError
from gunrtc_kit.sea import certify, pair, sea_parse, sign
from gunrtc_kit.sea.check import (
    ACCOUNT_NOT_SAME,
    ALIAS_MUST_EXIST,
    ALIAS_NOT_SAME,
    CERTIFICATE_FAIL,
    DATA_MUST_EXIST,
    HASH_NOT_SAME,
    UNVERIFIED,
    Refusal,
    check_graph,
    check_key,
    guarded,
    pack,
    sign_graph,
    sign_value,
    signed_parts,
    unpack,
)
from tests.unit.sea_user import ALICE, FIXTURE, GRAPH, PROFILE, PUB, SPACE

REFUSALS = FIXTURE["gunjs"]["refusals"]


def state(soul: str, key: str) -> Any:
    return GRAPH[soul]["_"][">"][key]


def every_key() -> list[tuple[str, str]]:
    return [(s, k) for s, n in GRAPH.items() for k in n if k != "_"]


@pytest.mark.parametrize(("soul", "key"), every_key(), ids=lambda x: str(x)[:20])
def test_every_value_gunjs_wrote_passes(soul: str, key: str) -> None:
    assert check_key(soul, key, GRAPH[soul][key], state(soul, key), {}) is None


def test_unpack_shows_what_gunjs_reads() -> None:
    node = GRAPH[SPACE]
    shown = {k: unpack(v) for k, v in node.items() if k != "_"}
    assert shown["hello"] == "world" and shown["n"] == 42 and shown["f"] == 1.5
    assert shown["t"] is True and shown["nothing"] is None
    assert shown["uni"] == "h\u00e9 \u6f22 \U0001f600"
    assert shown["profile"] == {"#": PROFILE}
    assert shown["alias"] == "alice" and shown["pub"] == PUB  # pub is stored unsigned
    assert shown["epub"] == ALICE["epub"]
    assert {k: unpack(v) for k, v in GRAPH[PROFILE].items() if k != "_"} == {
        "age": 30,
        "name": "Alice",
    }
    assert unpack({"#": "x"}) == {"#": "x"} and unpack("plain") == "plain"
    assert unpack('{":":1}') == '{":":1}'  # no signature: not a signed value


def test_gunjs_refusals_get_gunjs_texts() -> None:
    """The four forged writes Gun.js acked with ``err``, refused here with the same text."""
    now = 1_795_691_300_000
    assert check_key("~@alice", SPACE, {"#": "~someoneelse.x"}, now, GRAPH) == ALIAS_NOT_SAME
    assert check_key(SPACE, "hello", "forged", now, GRAPH) == UNVERIFIED
    assert check_key(SPACE, "pub", "not.me", now, GRAPH) == ACCOUNT_NOT_SAME
    assert check_key("#", "notthehash", FIXTURE["hash"]["data"], now, GRAPH) == HASH_NOT_SAME
    assert REFUSALS == {
        "alias_not_same": ALIAS_NOT_SAME,
        "unverified": UNVERIFIED,
        "account_not_same": ACCOUNT_NOT_SAME,
        "hash_not_same": HASH_NOT_SAME,
    }


def test_a_signature_covers_soul_key_value_and_state() -> None:
    value, st = GRAPH[SPACE]["hello"], state(SPACE, "hello")
    inner, sig, _ = signed_parts(value) or (None, "", {})
    assert inner == "world"
    # the same signed text anywhere else, or at another state, is not verified
    assert check_key(SPACE, "hello", value, st + 1, {}) == UNVERIFIED
    assert check_key(SPACE, "other", value, st, {}) == UNVERIFIED
    assert check_key(PROFILE, "hello", value, st, {}) == UNVERIFIED
    other = pair()
    assert check_key("~" + other["pub"], "hello", value, st, {}) == UNVERIFIED
    # another value under the same signature
    forged = codec.dumps({":": "w0rld", "~": sig})
    assert check_key(SPACE, "hello", forged, st, {}) == UNVERIFIED
    # not signed text at all: a number, a link, garbage, a falsy state
    for bad in (42, {"#": PROFILE}, "{not json", '{":":"x","~":""}', None):
        assert check_key(SPACE, "hello", bad, st, {}) == UNVERIFIED
    assert check_key(SPACE, "hello", value, 0, {}) == UNVERIFIED


def test_alias_lists_hold_only_links_to_themselves() -> None:
    link = {"#": SPACE}
    assert check_key("~@alice", SPACE, link, 1, {}) is None
    assert check_key("~@alice", "~other.pub", link, 1, {}) == ALIAS_NOT_SAME
    assert check_key("~@alice", SPACE, SPACE, 1, {}) == ALIAS_NOT_SAME  # text, not a link
    assert check_key("~@alice", SPACE, {"#": SPACE, "x": 1}, 1, {}) == ALIAS_NOT_SAME
    for falsy in (None, "", 0, False):
        assert check_key("~@alice", SPACE, falsy, 1, {}) == ALIAS_MUST_EXIST
        assert check_key("~@", "alice", falsy, 1, {}) == DATA_MUST_EXIST
    assert check_key("~@", "alice", {"#": "~@alice"}, 1, {}) is None
    assert check_key("~@", "alice", {"#": "~@bob"}, 1, {}) == ALIAS_NOT_SAME


def test_content_addressed_keys_are_the_hash() -> None:
    data, b64, hx = FIXTURE["hash"]["data"], FIXTURE["hash"]["base64"], FIXTURE["hash"]["hex"]
    assert check_key("#", b64, data, 1, {}) is None
    assert check_key("#hex", hx, data, 1, {}) is None
    assert check_key("any#soul", "prefix#" + b64, data, 1, {}) is None  # the last '#' part
    assert check_key("#", b64, data + ".", 1, {}) == HASH_NOT_SAME
    assert check_key("#", hx[:-2], data, 1, {}) == HASH_NOT_SAME
    assert check_key("#", "zz" * 32, data, 1, {}) == HASH_NOT_SAME
    # a value that is not text is hashed as JSON.stringify writes it
    import base64
    import hashlib

    key = base64.b64encode(hashlib.sha256(b'{"#":"a"}').digest()).decode()
    assert check_key("#", key, {"#": "a"}, 1, {}) is None


def test_other_souls_pass_and_guarded_says_which_are_checked() -> None:
    assert check_key("chat", "m", "anything", 1, {}) is None
    assert check_key("~alice", "k", "x", 1, {}) is None  # one part: no pub in it (Gun.js)
    assert [guarded(s) for s in ("chat", "a/b", "~@x", "~a.b", "x#", "a~b.c")] == [
        False,
        False,
        True,
        True,
        True,
        True,
    ]
    # SEA.opt.pub finds a pub after a '~' anywhere: Gun.js checks this soul as ~b.c's
    assert check_key("a~b.c", "k", "x", 1, {}) == UNVERIFIED


def test_check_graph_keeps_good_keys_and_reports_each_refusal() -> None:
    st = state(SPACE, "hello")
    put: dict[str, Any] = {
        SPACE: {
            "_": {"#": SPACE, ">": {"hello": st, "bad": st}},
            "hello": GRAPH[SPACE]["hello"],
            "bad": "unsigned",
        },
        PROFILE: {"_": {"#": PROFILE, ">": {"age": 1}}, "age": "nope"},
        "plain": {"_": {"#": "plain", ">": {"x": 1}}, "x": 1},
    }
    admitted, refused = check_graph(put, {})
    assert refused == [Refusal(SPACE, "bad", UNVERIFIED), Refusal(PROFILE, "age", UNVERIFIED)]
    assert admitted[SPACE] == {
        "_": {"#": SPACE, ">": {"hello": st}},
        "hello": GRAPH[SPACE]["hello"],
    }
    assert PROFILE not in admitted and admitted["plain"] is put["plain"]
    assert "bad" in put[SPACE]  # the caller's put is not changed
    # what is held already with this value and state passed when it came in: not re-verified
    held = {SPACE: {"_": {"#": SPACE, ">": {"bad": st}}, "bad": "unsigned"}}
    assert check_graph({SPACE: put[SPACE]}, held)[1] == []


def test_sign_value_is_gunjs_form_and_passes() -> None:
    st = state(SPACE, "hello")
    text = sign_value(SPACE, "hello", "world", st, ALICE)
    assert list(json.loads(text)) == [":", "~"] and json.loads(text)[":"] == "world"
    assert check_key(SPACE, "hello", text, st, {}) is None
    assert check_key(SPACE, "hello", text, st, {}) is None
    # ECDSA signatures differ each time; Gun.js's own verifies as ours does
    assert check_key(SPACE, "hello", GRAPH[SPACE]["hello"], st, {}) is None
    signed = sea_parse(sign(pack(SPACE, "n", 42, 7), ALICE))
    assert signed["m"] == {"#": SPACE, ".": "n", ":": 42, ">": 7}


def test_sign_graph_signs_only_the_owners_space() -> None:
    st = 1_795_691_300_000
    put: dict[str, Any] = {
        SPACE: {"_": {"#": SPACE, ">": {"pub": st, "x": st, "s": st}}, "pub": PUB, "x": 1},
        PROFILE: {"_": {"#": PROFILE, ">": {"y": st}}, "y": "why"},
        "~@alice": {"_": {"#": "~@alice", ">": {SPACE: st}}, SPACE: {"#": SPACE}},
        "other": {"_": {"#": "other", ">": {"z": st}}, "z": 3},
    }
    put[SPACE]["s"] = GRAPH[SPACE]["hello"]  # already signed: left as it is
    out = sign_graph(put, ALICE)
    assert out[SPACE]["pub"] == PUB and out[SPACE]["s"] == GRAPH[SPACE]["hello"]
    assert unpack(out[SPACE]["x"]) == 1 and unpack(out[PROFILE]["y"]) == "why"
    assert out["~@alice"] is put["~@alice"] and out["other"] is put["other"]
    assert put[SPACE]["x"] == 1  # the caller's nodes are copied, not changed
    admitted, refused = check_graph(out, {})
    assert [r.key for r in refused] == ["s"]  # a signature of another state: refused
    assert sign_graph(put, {"pub": ""}) is put


def test_a_write_by_another_key_needs_a_certificate() -> None:
    bob = pair()
    soul, key, st = SPACE + "/inbox", "from-bob", 1_795_691_300_000
    sig = sea_parse(sign(pack(soul, key, "hi", st), bob))["s"]

    def text(**more: Any) -> str:
        return codec.dumps({":": "hi", "~": sig, **more})

    # signed by bob and naming bob: Gun.js accepts this without any certificate (unsafe)
    assert check_key(soul, key, text(**{"*": bob["pub"]}), st, {}) == CERTIFICATE_FAIL
    # bob's signature checked against alice's key
    assert check_key(soul, key, text(), st, {}) == UNVERIFIED
    cert = sea_parse(certify(bob["pub"], {"#": "inbox"}, ALICE))
    assert check_key(soul, key, text(**{"*": bob["pub"], "+": cert}), st, {}) is None
    wrong = sea_parse(certify(bob["pub"], {"#": "outbox"}, ALICE))
    assert check_key(soul, key, text(**{"*": bob["pub"], "+": wrong}), st, {}) is not None
    by_bob = sea_parse(certify(bob["pub"], {"#": "inbox"}, bob))
    assert check_key(soul, key, text(**{"*": bob["pub"], "+": by_bob}), st, {}) is not None
    expired = sea_parse(certify(bob["pub"], {"#": "inbox"}, ALICE, expiry=st - 1))
    assert check_key(soul, key, text(**{"*": bob["pub"], "+": expired}), st, {}) == (
        "Certificate expired."
    )


async def test_auth_opens_the_account_gunjs_made_offline() -> None:
    """The Gun.js account in the fixture, logged into with its password from the local graph
    (no peers: every read is local and answered at once)."""
    gun = Gun()
    for soul, node in GRAPH.items():
        gun.graph.nodes[soul] = json.loads(json.dumps(node))
    user = gun.user()
    is_ = await user.auth("alice", FIXTURE["password"], timeout=5)
    assert is_ == {"pub": PUB, "epub": ALICE["epub"], "alias": "alice"}
    assert user.pair() == ALICE and gun.sea_pair == ALICE
    assert [s.step for s in user.last_auth] == ["alias", "account", "work", "decrypt", "keys"] + [
        "done"
    ]
    assert user.last_auth[2].ms > 0
    # the space reads unpacked, links followed
    assert await user.get("hello").once(0) == "world"
    assert await user.get("profile").once(0) == {"age": 30, "name": "Alice"}
    assert await gun.user(PUB).get("profile").get("name").once(0) == "Alice"
    user.leave()
    assert user.is_ is None and gun.sea_pair is None
    with pytest.raises(SeaError, match="Wrong user or password."):
        await user.auth("alice", "not the password", timeout=5)
    assert [(s.step, s.ok) for s in user.last_auth][-2:] == [("decrypt", False), ("failed", False)]
    with pytest.raises(SeaError, match="Wrong user or password."):
        await user.auth("nobody", "whatever1", timeout=0.2)
    assert user.last_auth[0].step == "alias" and not user.last_auth[0].ok
    await user.auth(ALICE)  # a pair logs in at once; Gun.js shows the pub as the alias
    assert user.is_ == {"pub": PUB, "epub": ALICE["epub"], "alias": PUB}
    with pytest.raises(SeaError):
        await user.auth({**ALICE, "priv": pair()["priv"]})  # keys of another account
    with pytest.raises(GunError):
        gun.user("")


async def test_create_checks_its_arguments_as_gunjs() -> None:
    gun = Gun()
    user = gun.user()
    with pytest.raises(SeaError, match="^No user.$"):
        await user.create("", "long enough")
    with pytest.raises(SeaError, match="^Password too short!$"):
        await user.create("x", "short")
    with pytest.raises(SeaError, match="^Password too short!$"):
        await user.create("", "")  # Gun.js: the later rule's text wins
    for soul, node in GRAPH.items():
        gun.graph.nodes[soul] = json.loads(json.dumps(node))
    with pytest.raises(SeaError, match="^User already created!$"):
        await user.create("alice", "long enough", timeout=1)


async def test_a_local_put_is_signed_in_the_own_space_and_refused_whole_elsewhere() -> None:
    gun = Gun()
    st = 1_795_691_300_000
    mixed = {
        SPACE: {"_": {"#": SPACE, ">": {"x": st}}, "x": 1},
        "plain": {"_": {"#": "plain", ">": {"y": st}}, "y": 2},
    }
    with pytest.raises(SeaError, match=r"^Unverified data\.$"):
        await gun.put_graph(mixed)
    assert gun.graph.nodes == {}  # nothing of it applied, not even the plain soul
    await gun.user().auth(ALICE)
    gun.put_graph(mixed)  # no peer: applied here, nobody to ack it
    held = gun.graph.nodes[SPACE]["x"]
    assert unpack(held) == 1 and check_key(SPACE, "x", held, st, {}) is None
    assert gun.graph.nodes["plain"]["y"] == 2 and mixed[SPACE]["x"] == 1
