"""A browser tab joins the Lab's mesh (``lab.browser()``): the first slice of issue 19.

Debian's chromium, driven headless by Playwright, opens the page the Lab's relay serves; npm
gun's own ``gun.js`` in it joins the relay over a WebSocket. The tab's put reaches a Python
peer (through the relay, which the trace shows hearing it from the tab), the Python peer's put
shows in the tab's ``window.gun`` and on its page, and the views name the tab's node ``tab``
with the role ``browser``. WebRTC between the tab and Python is not part of this slice. Also:
the relay serves only the page and npm gun's three files (no listing, no path traversal), and
a missing npm install is a ``GunError`` saying what to run.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.typing import Origin

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.browser import BrowserTab
from gunrtc_kit.lab.gunjs import find_interop
from tests.jlab import ARTIFACTS
from tests.lab.test_frontend import MESH, mount, py_send, small_mesh
from tests.lab.test_frontend import browser as browser  # noqa: F401 (fixtures: chromium)
from tests.lab.test_frontend import edge as fe_edge
from tests.lab.test_frontend import node as fe_node
from tests.lab.test_frontend import page as page  # noqa: F401
from tests.lab.test_frontend import server as server  # noqa: F401
from tests.netns import require_loopback_only

WAIT = 15.0
needs_gun = pytest.mark.skipif(
    not (find_interop() / "node_modules" / "gun" / "gun.js").is_file(),
    reason="npm gun is not installed in interop/ (scripts/setup, or npm ci there)",
)


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A Lab with its relay (the page is served by it)."""
    lab = Lab()
    yield lab
    lab.close()


def get(url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalising of ``..``)."""
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=5)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


@needs_gun
def test_the_relay_serves_the_page_and_npm_guns_files_and_nothing_else(lab: Lab) -> None:
    tab = lab.browser(name="tab")
    prefix = urlsplit(tab.url).path
    gun = find_interop() / "node_modules" / "gun"
    for name in ("gun.js", "lib/webrtc.js", "sea.js"):
        status, body = get(tab.url, prefix + name)
        assert (status, body) == (200, (gun / name).read_bytes()), name
    status, page = get(tab.url, prefix)
    assert status == 200 and b'src="gun.js"' in page and b'src="tab.js"' in page
    assert get(tab.url, prefix + "tab.js")[0] == 200
    refused = [
        prefix + "../../../gun",
        prefix + "../relay.py",
        prefix + "%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        prefix + "lib/",  # no listing
        prefix + "lib/../gun.js",
        prefix + "lib/webrtc.js/",
        prefix + "index.html",
        prefix + "gun.min.js",  # in the npm install, but not one of the files served
        prefix + "package.json",
        prefix + "node_modules/gun/gun.js",
        "/lab/browser/",
        "/lab/browser/not-a-token/gun.js",
        "/",
        "/gun.js",
    ]
    answers = {p: get(tab.url, p)[0] for p in refused}
    assert all(status in (400, 404) for status in answers.values()), answers
    # without its last slash the page's relative URLs would break: redirected, relatively
    where = urlsplit(tab.url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=5)
    try:
        conn.request("GET", prefix[:-1])
        reply = conn.getresponse()
        reply.read()  # else its file keeps the socket open past conn.close()
        assert (reply.status, reply.getheader("Location")) == (302, prefix.split("/")[-2] + "/")
    finally:
        conn.close()
    # a WebSocket from the relay's own origin (only its pages have it) is let in, no other
    relay = lab.relay
    assert relay is not None
    own = f"http://127.0.0.1:{relay.port}"
    assert ws_status(relay.url, own) == 101
    assert ws_status(relay.url, "http://evil.example") == 403
    lab.rt.call(lambda: relay.unserve(prefix))
    assert get(tab.url, prefix)[0] == 400 and get(tab.url, prefix + "gun.js")[0] == 400
    assert ws_status(relay.url, own) == 403  # no page served: browsers are refused again


def ws_status(url: str, origin: str) -> int:
    """The HTTP status a WebSocket handshake to ``url`` from a page of ``origin`` gets."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, origin=Origin(origin), open_timeout=5):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


@needs_gun
def test_a_tab_nobody_opened_times_out_saying_so_and_puts_are_checked_and_bounded(
    lab: Lab,
) -> None:
    import asyncio

    from gunrtc_kit.errors import LimitError
    from gunrtc_kit.errors import TimeoutError as GunTimeout
    from gunrtc_kit.lab.browser import MAX_ASKS

    tab = lab.browser("tab")
    with pytest.raises(GunTimeout, match="did not join within 0.2 s: open http"):
        tab.wait_joined_sync(0.2)
    with pytest.raises(GunTimeout, match="did not join"):
        asyncio.run(tab.wait_joined(0.1))
    with pytest.raises(GunError, match="scalars only"):
        tab.put("k", {"a": 1})  # type: ignore[arg-type]
    with pytest.raises(GunError, match="non-empty string"):
        tab.put("", "v")
    for i in range(MAX_ASKS):
        tab.put(f"k{i}", i)
    with pytest.raises(LimitError, match="takes none"):
        tab.put("one-more", 1)


def test_a_missing_npm_install_says_what_to_run(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUNRTC_INTEROP", str(tmp_path))
    with pytest.raises(GunError, match="npm ci"):
        lab.browser(name="tab")
    lab.peer("tab", rtc=False)  # nothing was left half-made: the name is still free
    monkeypatch.delenv("GUNRTC_INTEROP")
    with pytest.raises(GunError, match="exists already"):
        lab.browser(name="tab")


def relay_took(lab: Lab, relay: str, key: str, value: str) -> trace.Put:
    """Wait for the relay ``relay`` (its pid) to take a put of ``chat.<key> = value``."""
    put = lab.bus.wait_for(
        lambda e: (
            isinstance(e, trace.Put)
            and e.node == relay
            and e.values.get("chat", {}).get(key) == value
        ),
        WAIT,
        past=True,
    )
    assert isinstance(put, trace.Put)
    return put


def node_dicts(lab: Lab) -> dict[str, dict[str, Any]]:
    """The mesh view's nodes, by label, as the front end gets them."""
    mesh = lab.mesh_view()
    lab.refresh()
    with lab._hub.lock:
        return {d["label"]: d for d in (mesh.node_dict(n) for n in lab._hub.mesh.nodes)}


@needs_gun
@pytest.mark.interop
def test_a_tab_joins_the_mesh_puts_both_ways_and_is_named_in_the_views(
    lab: Lab, browser: Any
) -> None:
    require_loopback_only()

    relay = lab.relay
    assert relay is not None
    py = lab.peer("py", rtc=False)
    tab = lab.browser(name="tab")
    assert isinstance(tab, BrowserTab) and tab.url in tab._repr_html_()
    errors: list[str] = []
    page = browser.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(tab.url)
        page_pid = page.evaluate("() => window.gun._.opt.pid")
        assert isinstance(page_pid, str) and page_pid
        # the relay hears the tab's "?" (its pid): then the views know it
        lab.bus.wait_for(
            lambda e: isinstance(e, trace.Hi) and e.node == relay.pid and e.pid == page_pid,
            WAIT,
            past=True,
        )
        page.wait_for_function(
            "pid => document.getElementById('gk-pid').textContent === pid", arg=page_pid
        )
        page.wait_for_selector("#gk-links td.open")

        # the tab puts (through its page's box): the relay hears it from the tab...
        page.fill("#gk-key", "fromtab")
        page.fill("#gk-value", "hello from the tab")
        page.click("#gk-put button")
        heard = relay_took(lab, relay.pid, "fromtab", "hello from the tab")
        page.wait_for_function("() => document.getElementById('gk-ack').textContent === 'acked'")
        said_by = [
            e
            for e in lab.bus.history
            if isinstance(e, trace.Heard) and e.node == relay.pid and e.msg.get("#") == heard.msg_id
        ]
        lab.refresh()  # the views' directory has taken every event so far
        with lab._hub.lock:
            assert said_by and lab.directory.resolve(relay.pid, said_by[0].peer) == page_pid
        # ... and the Python peer gets it
        assert py.get_sync("chat.fromtab") == "hello from the tab"

        # the Python peer puts: it shows in the tab's window.gun and on its page
        py.put("chat.frompy", "hello from python")
        got = page.evaluate(
            """() => new Promise((resolve, reject) => {
                const t = setTimeout(() => reject(new Error("no value")), 10000);
                window.gun.get("chat").get("frompy").on((v) => {
                    if (v !== undefined) { clearTimeout(t); resolve(v); }
                });
            })"""
        )
        assert got == "hello from python"
        page.wait_for_selector("#gk-data tr[data-key='frompy']")
        assert "hello from python" in page.inner_text("#gk-data")

        # Python asks the tab to put: the tab's own Gun writes it (the relay hears it from
        # the tab), at its next report
        assert tab.wait_joined_sync(1.0) == page_pid
        tab.put("asked", "asked by the lab")
        asked = relay_took(lab, relay.pid, "asked", "asked by the lab")
        lab.refresh()
        with lab._hub.lock:
            froms = {
                lab.directory.resolve(relay.pid, e.peer)
                for e in lab.bus.history
                if isinstance(e, trace.Heard)
                and e.node == relay.pid
                and e.msg.get("#") == asked.msg_id
            }
        assert froms == {page_pid}
        page.wait_for_function(
            "() => document.getElementById('gk-ack').textContent === 'asked acked'"
        )
        assert py.get_sync("chat.asked") == "asked by the lab"
        # the tab reports itself (its user agent among it) once a second
        for _ in range(int(WAIT * 10)):
            if lab.directory.agent(page_pid):
                break
            page.wait_for_timeout(100)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)  # look at it
        page.screenshot(path=str(ARTIFACTS / "browser_tab.png"), full_page=True)
        page.close()
    assert not errors, errors

    # the views name the tab's node "tab", a browser, linked to the relay by a WebSocket
    assert tab.pid == page_pid and lab.name_of(page_pid) == "tab"
    assert not tab.via_proxy  # it dialled the relay itself
    nodes = node_dicts(lab)
    assert nodes["tab"]["role"] == "browser" and nodes["tab"]["pid"] == page_pid
    assert "Chrome" in nodes["tab"]["agent"]  # its user agent, from the tab's own report
    assert nodes["py"]["agent"] == ""
    assert {"relay", "py", "tab"} <= set(nodes)
    with lab._hub.lock:
        edges = [(e.a, e.b, e.transport) for e in lab._hub.mesh.edges.values()]
    assert any({a, b} == {relay.pid, page_pid} and t == "ws" for a, b, t in edges), edges


@needs_gun
@pytest.mark.interop
def test_a_tab_can_dial_another_relay_and_is_named_by_its_own_report(
    lab: Lab, browser: Any
) -> None:
    """``peer_url``: the page comes from the Lab's relay, its Gun dials another relay (here
    a second one of ours); the tab is named by the pid its first report gives."""
    require_loopback_only()
    from gunrtc_kit.relay import Relay

    other = Relay()
    lab.rt.run_sync(other.start())
    try:
        with pytest.raises(GunError, match="ws:// or wss://"):
            lab.browser("bad", peer_url="http://x")
        tab = lab.browser("far", peer_url=other.url, rtc=False)
        page = browser.new_page()
        try:
            page.goto(tab.url)
            page_pid = page.evaluate("() => window.gun._.opt.pid")
            assert tab.wait_joined_sync(WAIT) == page_pid
            assert lab.name_of(page_pid) == "far"
            sockets = page.evaluate(
                "() => Object.values(window.gun._.opt.peers).map(p => p.url).filter(Boolean)"
            )
            assert [u.split("?")[0] for u in sockets] == [other.url], sockets
        finally:
            page.close()
    finally:
        lab.rt.run_sync(other.stop())


def test_the_mesh_view_draws_a_browser_tab_as_a_small_window(page: Any) -> None:
    """The role ``browser`` has a shape of its own (a window, not a peer's circle)."""
    h = mount(page, "mesh", MESH)
    reset = small_mesh()
    reset["nodes"].append(fe_node("p-tab", "tab", 0.5, 0.5, "browser"))
    reset["nodes"][-1]["agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0"
    reset["edges"].append(fe_edge("p-relay", "p-tab", "ws"))
    py_send(page, h, reset)
    tab = '.gk-node[data-id="p-tab"]'
    assert "gk-role-browser" in (page.get_attribute(tab, "class") or "")
    assert page.eval_on_selector(f"{tab} .gk-shape", "e => e.tagName") == "rect"
    assert page.eval_on_selector('.gk-node[data-id="p-alice"] .gk-shape', "e => e.tagName") == (
        "circle"
    )
    box = page.locator(f"{tab} .gk-shape").bounding_box()
    assert box is not None and box["width"] > box["height"]  # wider than high: a window
    page.hover(f"{tab} .gk-shape")  # its tooltip says what it runs
    page.wait_for_selector(".gk-tooltip:not([hidden])")
    assert "Chrome/156" in page.inner_text(".gk-tooltip")
