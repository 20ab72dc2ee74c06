"""SeaView, the SEA inspector: its model (what Python sends), ``lab.sea`` on a live Lab, and
its front end in a real browser (Debian's chromium, through the harness of test_frontend.py).

The data is real: the Gun.js account in ``tests/unit/sea_user_graph.json``, one of its values
changed after signing (the ``invalid`` badge), and users created and logged into on Lab peers.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.core import codec
from gunrtc_kit.errors import GunError, SeaError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.views.hub import ViewHub
from gunrtc_kit.lab.views.sea_view import SeaView
from gunrtc_kit.user import AuthStep
from tests.lab import test_frontend as fe

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# the harness's fixtures, under the names pytest looks for
server = fe.server
browser = fe.browser
page = fe.page

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "unit" / "sea_user_graph.json").read_text()
)
GRAPH: dict[str, dict[str, Any]] = FIXTURE["graph"]
PUB = FIXTURE["pair"]["pub"]
SPACE = "~" + PUB
PROFILE = SPACE + "/profile"
PASSWORD = "correct horse battery"

WRONG_PASSWORD = [
    AuthStep("alias", True, "1 account(s) listed", "~@alice", 3.0),
    AuthStep("account", True, "account of ...", SPACE, 1.0),
    AuthStep("work", True, "PBKDF2 proof of the password", SPACE, 180.0),
    AuthStep("decrypt", False, "the proof does not open auth.ek (Could not decrypt)", SPACE),
    AuthStep("failed", False, "Wrong user or password."),
]


def forged() -> dict[str, dict[str, Any]]:
    """The Gun.js graph with profile.name changed after alice signed it."""
    g = copy.deepcopy(GRAPH)
    signed = json.loads(g[PROFILE]["name"])
    g[PROFILE]["name"] = codec.dumps({**signed, ":": "Mallory"})
    return g


# ---------------------------------------------------------------------- the model


def test_the_model_sends_verdicts_auth_rows_and_text() -> None:
    graph = {"g": GRAPH}
    view = SeaView(ViewHub(), SPACE, lambda: (graph["g"], WRONG_PASSWORD), name="alice")
    r = view.report
    assert r["pub"] == PUB and r["alias"] == "alice" and r["peer"] == "alice" and r["v"] == 1
    assert [n["soul"] for n in r["nodes"]] == [SPACE, PROFILE]
    assert r["counts"] == {"valid": 13, "valid-cert": 0, "invalid": 0, "unsigned": 0}
    name = r["nodes"][1]["fields"][1]
    assert (name["key"], name["value_text"], name["verdict"]) == ("name", '"Alice"', "valid")
    assert name["signer"] == PUB and name["signer_short"] == PUB[:8] + "…" + PUB[-5:]
    assert [x["step"] for x in view.auth["rows"]] == ["alias", "account", "work", "decrypt"] + [
        "failed"
    ]
    assert view.auth["summary"].startswith("auth failed at step 4, decrypting the private keys")
    # a refresh from the front end reads again: the forged field shows at once
    graph["g"] = forged()
    view._on_front_message(view, {"type": "refresh"}, [])
    assert view.report["v"] == 2 and view.report["counts"]["invalid"] == 1
    assert view.last is not None and view.last.field(PROFILE, "name").verdict == "invalid"
    # the text nbconvert shows: the whole report, not ipywidgets' 110 characters
    text = view.to_text()
    assert "SEA inspector on alice's peer" in text and "invalid against" in text
    assert "4. decrypting the private keys (auth.ek): FAILED, wrong password" in text
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["text/plain"] == text and repr(view) == text
    json.dumps(view.report), json.dumps(view.auth)  # what the comm carries is JSON


def test_a_failing_source_is_shown_and_a_hello_reads_again() -> None:
    calls = {"n": 0}

    def source() -> tuple[dict[str, Any], list[Any]]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("the peer is gone")
        return GRAPH, []

    view = SeaView(ViewHub(), PUB, source)
    view.refresh()  # a flush: reads again, fails, shows why, keeps the last report
    assert view.error == "SeaView: the peer is gone" and view.report["v"] == 1
    view._on_front_message(view, {"type": "hello"}, [])
    assert view.error == "" and view.report["v"] == 2
    assert view.auth["summary"] == "no auth on this peer yet" and view.auth["rows"] == []


# ---------------------------------------------------------------------- lab.sea, live


def wait(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_lab_sea_follows_a_users_writes_and_its_logins() -> None:
    lab = Lab(relay=False)
    try:
        alice = lab.memory_peer("alice")
        user = alice.gun.user()
        pub = lab.rt.run_sync(user.create("alice", PASSWORD), 30)
        view = lab.sea_sync(alice, user, live=True)  # live: this test follows the peer
        assert lab.sea_sync(alice, "alice", live=True) is view
        assert lab.sea_sync(alice, "~" + pub, live=True) is view
        assert view.last is not None and view.last.ok and view.report["alias"] == "alice"
        assert [f.key for f in view.last.fields] == ["pub", "alias", "epub", "auth"]
        # a signed write: the pump's tick sees alice's Put event and reads again by itself
        lab.rt.call(lambda: user.get("profile").put({"name": "Alice"}))
        wait(lambda: view.report["counts"]["valid"] == 6)
        assert view.last.field(f"~{pub}/profile", "name").signer == pub
        # a wrong password: the auth pane says where it failed
        with pytest.raises(SeaError, match="Wrong user or password"):
            lab.rt.run_sync(user.auth("alice", "not the password", timeout=5), 20)
        view.refresh()
        assert view.auth["summary"].startswith("auth failed at step 4, decrypting")
        assert [r["ok"] for r in view.auth["rows"]] == [True, True, True, False, False]
        with pytest.raises(GunError, match="knows no account"):
            lab.sea_sync(alice, "nobody")
        with pytest.raises(GunError, match="expected a User"):
            lab.sea_sync(alice, 42)
        user.leave()
        with pytest.raises(GunError, match="not logged in"):
            lab.sea_sync(alice, user)
    finally:
        lab.close()


def test_a_forged_write_from_another_peer_is_refused_and_nothing_changes() -> None:
    from gunrtc_kit.sea import pair, sea_parse, sign
    from gunrtc_kit.sea.check import pack

    lab = Lab(relay=False)
    try:
        alice, bob = lab.memory_peer("alice"), lab.memory_peer("bob")
        lab.link_memory(alice, bob)
        user = alice.gun.user()
        pub = lab.rt.run_sync(user.create("alice", PASSWORD), 30)
        view = lab.sea_sync(alice, "alice", live=True)
        before = view.report["nodes"]
        soul, state = "~" + pub, time.time() * 1000
        sig = sea_parse(sign(pack(soul, "alias", "mallory", state), pair()))["s"]
        node = {"_": {"#": soul, ">": {"alias": state}}, "alias": codec.dumps({":": "x", "~": sig})}
        msg = bob.say({"put": {soul: node}})
        reply = lab.bus.wait_for(
            lambda e: (
                isinstance(e, trace.Heard) and e.node == bob.pid and e.msg.get("@") == msg["#"]
            ),
            10,
            past=True,
        )
        assert reply.msg["err"] == "Unverified data."
        view.refresh()
        assert view.report["nodes"] == before and view.report["v"] >= 2
    finally:
        lab.close()


# ---------------------------------------------------------------------- in chromium


def test_the_browser_shows_badges_signers_and_the_failed_auth(page: Any, tmp_path: Path) -> None:
    graph = {"g": forged()}
    view = SeaView(ViewHub(), PUB, lambda: (graph["g"], WRONG_PASSWORD), name="alice", height=900)
    br = fe.Bridge(page, view, "sea")
    r = fe.root(br.h)
    br.pump()  # the view's hello, answered with a fresh report
    rows = page.locator(f"{r} tr.gk-sea-field")
    rows.first.wait_for()
    assert rows.count() == 13
    assert page.locator(f'{r} tr.gk-sea-field[data-verdict="valid"]').count() == 12
    bad = page.locator(f'{r} tr.gk-sea-field[data-verdict="invalid"]')
    assert bad.count() == 1 and bad.get_attribute("data-key") == "name"
    assert bad.get_attribute("data-soul") == PROFILE
    assert (bad.locator(".gk-sea-badge").text_content() or "") == "invalid"
    assert "Mallory" in (bad.locator(".gk-value").text_content() or "")
    assert "does not match" in (bad.locator(".gk-sea-why").text_content() or "")
    # the badge colours differ (green for valid, red for invalid)
    colours = page.eval_on_selector_all(
        f"{r} tr.gk-sea-field .gk-sea-badge",
        "es => [...new Set(es.map(e => getComputedStyle(e).backgroundColor))]",
    )
    assert len(colours) == 2
    # the signer is shortened; hovering it shows the whole key (its title)
    assert (bad.locator(".gk-sea-not").text_content() or "").strip() == "✗"
    signer = bad.locator(".gk-sea-signer")
    assert (signer.text_content() or "") == PUB[:8] + "…" + PUB[-5:]
    signer.hover()
    hovered = page.evaluate(
        """() => [...document.querySelectorAll(':hover')].pop().getAttribute('title')"""
    )
    assert hovered == PUB
    # the auth pane: each step, the failed one in words
    steps = page.locator(f"{r} tr.gk-auth-step")
    assert steps.count() == 5
    assert page.eval_on_selector_all(f"{r} tr.gk-auth-step", "es => es.map(e => e.dataset.ok)") == [
        "true",
        "true",
        "true",
        "false",
        "false",
    ]
    failed = page.locator(f'{r} tr.gk-auth-step[data-step="decrypt"]')
    assert "wrong password" in (failed.text_content() or "")
    assert "auth failed at step 4" in (page.text_content(f"{r} .gk-sea-auth-summary") or "")
    assert "1 invalid" in (page.text_content(f"{r} .gk-sea-counts") or "")
    shot = ARTIFACTS / "sea-inspector.png"  # kept, as the other views' (look at it)
    shot.parent.mkdir(exist_ok=True)
    page.locator(r).screenshot(path=str(shot))
    assert shot.stat().st_size > 0
    # the refresh button reads again: the value restored, every badge valid
    graph["g"] = copy.deepcopy(GRAPH)
    page.click(f"{r} .gk-sea-refresh")
    br.pump()
    page.wait_for_function(
        f"""() => document.querySelectorAll('{r} tr.gk-sea-field[data-verdict="valid"]')
              .length === 13"""
    )
    assert view.report["v"] >= 3
    assert page.evaluate("h => gk.unmount(h)", br.h) == 0  # no listener left behind
