"""The SEA inspector (``gunrtc_kit.diagnose.sea``) on real Gun.js user data and on our own.

``sea_user_graph.json`` holds an account npm ``gun@0.2020.1241`` made (see
test_sea_check.py): every field of it must come out ``valid``, signed by its owner. Then the
same graph with one value changed after signing (``invalid``, against the owner's key), a plain
value (``unsigned``), a value another key signed (with and without the owner's certificate),
and a login that fails, read from the steps a real ``gun.user().auth`` recorded.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gunrtc_kit import Gun
from gunrtc_kit.core import codec
from gunrtc_kit.diagnose.sea import (
    INVALID,
    UNSIGNED,
    VALID,
    VALID_CERT,
    VERDICTS,
    auth_report,
    auth_summary,
    inspect_user,
    short_key,
)
from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea import certify, encrypt, pair, sea_parse, sign
from gunrtc_kit.sea.check import check_graph, pack, sign_graph
from gunrtc_kit.user import AuthStep
from tests.unit.sea_user import ALICE, FIXTURE, GRAPH, PROFILE, PUB, SPACE


def graph() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(GRAPH)


def test_every_field_gunjs_signed_is_valid_and_signed_by_the_owner() -> None:
    report = inspect_user(GRAPH, PUB)
    assert [n.soul for n in report.nodes] == [SPACE, PROFILE]  # ~pub, then what it links to
    assert all(n.reached for n in report.nodes)
    keys = [(f.soul, f.key) for f in report.fields]
    held = [(s, k) for s in (SPACE, PROFILE) for k in GRAPH[s] if k != "_"]
    assert keys == held and len(keys) == 13
    assert report.counts() == {VALID: 13, VALID_CERT: 0, INVALID: 0, UNSIGNED: 0}
    assert report.ok and all(f.signer == PUB for f in report.fields)
    assert report.alias == "alice"
    assert [(a.alias, a.soul, a.ok) for a in report.aliases] == [("alice", "~@alice", True)]
    # values as a reader sees them; the state and the stored text kept beside
    hello = report.field(SPACE, "hello")
    assert hello.value == "world" and hello.raw == GRAPH[SPACE]["hello"]
    assert hello.state == GRAPH[SPACE]["_"][">"]["hello"]
    assert report.field(PROFILE, "age").value == 30
    assert report.field(SPACE, "profile").link == PROFILE
    assert "unsigned" in report.field(SPACE, "pub").why  # the account key: valid, by rule
    assert report.summary().startswith(f"alice (~{short_key(PUB)}): 13 fields in 2 nodes: 13 valid")
    assert not report.missing and not report.outside
    # a '~pub' text works as well, and the report is JSON
    again = inspect_user(GRAPH, SPACE).as_dict()
    assert json.loads(json.dumps(again)) == again
    assert again["counts"][VALID] == 13 and again["nodes"][1]["fields"][0]["signer"] == PUB


def test_a_value_changed_after_signing_is_invalid_against_the_owners_key() -> None:
    g = graph()
    signed = json.loads(g[PROFILE]["name"])
    g[PROFILE]["name"] = codec.dumps({**signed, ":": "Mallory"})  # the owner's signature kept
    report = inspect_user(g, PUB)
    bad = report.field(PROFILE, "name")
    assert bad.verdict == INVALID and bad.value == "Mallory" and bad.signer == PUB
    assert "does not match" in bad.why and short_key(PUB) in bad.why and "owner" in bad.why
    assert report.counts()[INVALID] == 1 and not report.ok
    assert "first invalid: ~/profile.name" in report.summary()
    # the same value, its state moved: the signature covers the state too
    g2 = graph()
    g2[SPACE]["_"][">"]["hello"] += 1
    assert inspect_user(g2, PUB).field(SPACE, "hello").verdict == INVALID
    # SEA's own check refuses both, as the inspector says
    _, refused = check_graph({PROFILE: g[PROFILE]}, {})
    assert [r.key for r in refused] == ["name"]


def test_a_plain_value_is_unsigned_and_a_wrong_account_key_invalid() -> None:
    g = graph()
    g[SPACE]["hello"] = "plain text, no signature"
    g[SPACE]["pub"] = "somebody else"
    report = inspect_user(g, PUB)
    plain = report.field(SPACE, "hello")
    assert plain.verdict == UNSIGNED and plain.signer == "" and "Unverified data." in plain.why
    assert report.field(SPACE, "pub").verdict == INVALID
    assert report.counts() == {VALID: 11, VALID_CERT: 0, INVALID: 1, UNSIGNED: 1}


def test_a_forger_signing_with_its_own_key_is_invalid_under_the_owners() -> None:
    mallory = pair()
    g = graph()
    state = 1_795_691_299_000
    sig = sea_parse(sign(pack(SPACE, "hello", "pwned", state), mallory))["s"]
    g[SPACE]["hello"] = codec.dumps({":": "pwned", "~": sig})
    g[SPACE]["_"][">"]["hello"] = state
    bad = inspect_user(g, PUB).field(SPACE, "hello")
    assert bad.verdict == INVALID and bad.signer == PUB and "owner's key" in bad.why


def test_another_key_needs_the_owners_certificate() -> None:
    bob = pair()
    soul, key, state = SPACE + "/inbox", "from-bob", 1_795_691_300_000
    sig = sea_parse(sign(pack(soul, key, "hi", state), bob))["s"]

    def write(**more: Any) -> dict[str, dict[str, Any]]:
        g = graph()
        link = {SPACE: {"_": {">": {"inbox": state}}, "inbox": {"#": soul}}}
        g[SPACE]["inbox"] = sign_graph(link, ALICE)[SPACE]["inbox"]
        g[SPACE]["_"][">"]["inbox"] = state
        value = codec.dumps({":": "hi", "~": sig, **more})
        g[soul] = {"_": {"#": soul, ">": {key: state}}, key: value}
        return g

    cert = sea_parse(certify(bob["pub"], {"#": "inbox"}, ALICE))
    report = inspect_user(write(**{"*": bob["pub"], "+": cert}), PUB)
    assert [n.soul for n in report.nodes] == [SPACE, PROFILE, soul]  # reached through inbox
    ok = report.field(soul, key)
    assert ok.verdict == VALID_CERT and ok.signer == bob["pub"] and ok.value == "hi"
    assert report.field(SPACE, "inbox").verdict == VALID and report.ok
    no_cert = inspect_user(write(**{"*": bob["pub"]}), PUB).field(soul, key)
    assert no_cert.verdict == INVALID and "no certificate" in no_cert.why
    wrong = sea_parse(certify(bob["pub"], {"#": "outbox"}, ALICE))
    refused = inspect_user(write(**{"*": bob["pub"], "+": wrong}), PUB).field(soul, key)
    assert refused.verdict == INVALID and "certificate fails" in refused.why


def test_data_we_sign_ourselves_unreached_nodes_and_links_out() -> None:
    me = pair()
    own = "~" + me["pub"]
    put = {
        own: {"_": {"#": own, ">": {"pub": 1, "alias": 2, "box": 3, "ext": 4}}}
        | {"pub": me["pub"], "alias": "carol", "box": {"#": own + "/box"}}
        | {"ext": {"#": "public"}},
        own + "/box": {"_": {"#": own + "/box", ">": {"secret": 5}}}
        | {"secret": encrypt("for my eyes", me)},
        own + "/orphan": {"_": {"#": own + "/orphan", ">": {"x": 6}}, "x": 1},
        "public": {"_": {"#": "public", ">": {"y": 7}}, "y": "not hers"},
    }
    signed = sign_graph(put, me)
    gone = {own: {"_": {">": {"gone": 8}}, "gone": {"#": own + "/gone"}}}
    signed[own]["gone"] = sign_graph(gone, me)[own]["gone"]
    signed[own]["_"][">"]["gone"] = 8
    report = inspect_user(signed, me["pub"])
    assert [(n.soul, n.reached) for n in report.nodes] == [
        (own, True),
        (own + "/box", True),
        (own + "/orphan", False),  # in the space, but no link from ~pub reaches it
    ]
    assert report.ok and report.alias == "carol" and not report.aliases
    assert report.field(own + "/box", "secret").encrypted
    assert report.missing == (own + "/gone",) and report.outside == ("public",)
    text = report.to_text()
    assert "no link from ~pub reaches it" in text and "not held here" in text and "public" in text
    assert inspect_user({}, me["pub"]).summary().endswith("holds nothing of that user")
    with pytest.raises(ValueError, match="public key"):
        inspect_user(signed, "not a key")


async def test_auth_report_of_a_real_login_that_failed_and_one_that_worked() -> None:
    gun = Gun()
    for soul, node in GRAPH.items():
        gun.graph.nodes[soul] = copy.deepcopy(node)
    user = gun.user()
    with pytest.raises(SeaError):
        await user.auth("alice", "not the password", timeout=5)
    rows = auth_report(user.last_auth)
    assert [(r["n"], r["step"], r["ok"]) for r in rows] == [
        (1, "alias", True),
        (2, "account", True),
        (3, "work", True),
        (4, "decrypt", False),
        (5, "failed", False),
    ]
    assert rows[2]["ms"] > 0 and rows[3]["what"] == "decrypting the private keys (auth.ek)"
    assert rows[3]["why"].startswith("wrong password")
    assert auth_summary(user.last_auth) == (
        "auth failed at step 4, decrypting the private keys (auth.ek): wrong password: "
        "the proof of work from it does not open the private keys"
    )
    await user.auth("alice", FIXTURE["password"], timeout=5)
    assert auth_summary(user.last_auth).startswith("auth succeeded in 6 steps")
    assert all(r["ok"] for r in auth_report(user.last_auth))


def test_auth_summary_of_a_missing_alias_and_of_nothing() -> None:
    steps = [AuthStep("alias", False, "no account of that alias", "~@nobody", 200.0)]
    steps.append(AuthStep("failed", False, "Wrong user or password."))
    assert auth_summary(steps) == (
        "auth failed at step 1, looking up the alias (~@alias): "
        "no account of that alias reached this peer"
    )
    assert auth_summary([]) == "no auth on this peer yet"
    assert (
        auth_summary([AuthStep("failed", False, "No user.")]) == "auth failed at step 1: No user."
    )
    assert VERDICTS == ("valid", "valid-cert", "invalid", "unsigned")
