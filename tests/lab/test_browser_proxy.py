"""``lab.browser()`` through jupyter-server-proxy, as on Binder (issue 19).

On Binder the user's browser reaches the kernel's machine only through the Jupyter server, so a
tab's page is opened as ``<jupyter>/proxy/<relay port>/lab/browser/<token>/``. The page's
origin is then the Jupyter server's, and so is the ``Origin`` of the WebSocket it dials
(relative to where it was served: through the proxy too). The relay lets such a WebSocket in
only when its Origin is the origin the request was made to, as the proxy passes it on (its
``Host``), and never on the relay's own port (see ``gunrtc_kit.relay``).

Here: the rule on hand-made handshakes (straight to the relay with the Host a proxy sends, and
through a real jupyter-server-proxy), ``BrowserTab.proxy_url`` as a kernel of that server
finds it, and Debian chromium opening the page through the proxy: npm gun loads through it,
the tab joins over the WebSocket through it, the views name it, and its put reaches a Python
peer. JupyterLab on 127.0.0.1 only; the browser test runs in a loopback-only namespace.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.typing import Origin

from gunrtc_kit import trace
from gunrtc_kit.diagnose.linkreport import LinkFailure
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.browser import jupyter_base_url
from gunrtc_kit.relay import proxied_same_origin
from tests.jlab import ARTIFACTS, chromium, jupyterlab
from tests.lab.test_browser_tab import needs_gun, node_dicts, relay_took
from tests.netns import chromium_interface, require_loopback_only, udp_blocked

WAIT = 20.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A Lab with its relay (the page is served by it)."""
    lab = Lab()
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def jlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab on 127.0.0.1 (jupyter-server-proxy is enabled by its install): (base URL,
    token, runtime dir)."""
    require_loopback_only()
    pytest.importorskip("jupyter_server_proxy")
    folder = tmp_path_factory.mktemp("jlab")
    with jupyterlab(folder) as (base, token):
        yield base, token, folder / ".jrt"


def server_pid(runtime: Path) -> int:
    """The pid of the one Jupyter server writing into ``runtime``."""
    (info,) = runtime.glob("jpserver-*.json")
    return int(json.loads(info.read_text())["pid"])


def ws_status(connect_to: tuple[str, int], url: str, origin: str) -> int:
    """The HTTP status of a WebSocket handshake for ``url`` (its host is the ``Host`` sent)
    from a page of ``origin``, made over a socket to ``connect_to``: what a proxy that dials
    the relay sends, or a browser through the proxy."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    sock = socket.create_connection(connect_to, timeout=5)
    try:
        with connect(url, sock=sock, origin=Origin(origin), open_timeout=5):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code
    finally:
        sock.close()


# ---------------------------------------------------------------------- the rule on its own
def headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(list(pairs))


def test_the_proxied_origin_rule() -> None:
    jupyter = headers(("Host", "127.0.0.1:8888"))
    assert proxied_same_origin("http://127.0.0.1:8888", jupyter, 4567)
    assert proxied_same_origin("http://LOCALHOST:8888", headers(("Host", "localhost:8888")), 4567)
    binder = headers(("Host", "hub.example.org"))
    assert proxied_same_origin("https://hub.example.org", binder, 4567)
    assert proxied_same_origin("http://hub.example.org", binder, 4567)
    # a proxy in front of Jupyter that names the host the browser asked for
    fronted = headers(("Host", "10.0.0.5:8888"), ("X-Forwarded-Host", "hub.example.org, x"))
    assert proxied_same_origin("https://hub.example.org", fronted, 4567)
    refused = {
        "another site": ("http://evil.example", jupyter),
        "another port": ("http://127.0.0.1:9999", jupyter),
        "another host": ("http://localhost:8888", jupyter),
        "a sandboxed page": ("null", jupyter),
        "not http": ("ws://127.0.0.1:8888", jupyter),
        "a path": ("http://127.0.0.1:8888/x", jupyter),
        "a user": ("http://u@127.0.0.1:8888", headers(("Host", "u@127.0.0.1:8888"))),
        "no Host": ("http://127.0.0.1:8888", headers()),
        "two Hosts": (
            "http://127.0.0.1:8888",
            headers(("Host", "127.0.0.1:8888"), ("Host", "evil.example")),
        ),
        # DNS rebinding: a page of evil.example:<relay port>, resolved to 127.0.0.1, dials
        # the relay straight: same-origin with its Host, but on the relay's own port
        "the relay's own port": (
            "http://evil.example:4567",
            headers(("Host", "evil.example:4567")),
        ),
        "the relay's own port, unsaid": ("http://evil.example", headers(("Host", "evil.example"))),
        "a bad port": ("http://127.0.0.1:99999", headers(("Host", "127.0.0.1:99999"))),
    }
    own_port = {"the relay's own port, unsaid": 80}
    let_in = [
        why
        for why, (origin, hs) in refused.items()
        if proxied_same_origin(origin, hs, own_port.get(why, 4567))
    ]
    assert not let_in


@needs_gun
def test_the_relay_lets_in_proxied_same_origin_only_while_it_serves_a_page(lab: Lab) -> None:
    relay = lab.relay
    assert relay is not None
    at = ("127.0.0.1", relay.port)
    own = f"http://127.0.0.1:{relay.port}"
    jupyter_url = "ws://127.0.0.1:8888/gun"  # the Host a proxy on :8888 passes on
    assert ws_status(at, jupyter_url, "http://127.0.0.1:8888") == 403  # no page served yet
    tab = lab.browser("tab", rtc=False)
    assert ws_status(at, jupyter_url, "http://127.0.0.1:8888") == 101  # proxied, same-origin
    assert ws_status(at, jupyter_url, "http://evil.example") == 403  # proxied, another origin
    assert ws_status(at, "ws://evil.example:8888/gun", "http://127.0.0.1:8888") == 403
    assert ws_status(at, relay.url, own) == 101  # straight, its own origin
    assert ws_status(at, relay.url, "http://evil.example") == 403
    rebound = f"ws://evil.example:{relay.port}/gun"
    assert ws_status(at, rebound, f"http://evil.example:{relay.port}") == 403
    lab.rt.call(lambda: relay.unserve(tab.prefix))
    assert ws_status(at, jupyter_url, "http://127.0.0.1:8888") == 403  # no page: refused again


# ---------------------------------------------------------------------- the kernel's side
@needs_gun
def test_proxy_url_follows_the_jupyter_server_the_kernel_runs_under(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JPY_PARENT_PID", "JUPYTERHUB_SERVICE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    tab = lab.browser("tab", rtc=False)
    assert tab.proxy_url is None  # no Jupyter server: only the direct link
    assert tab.url in tab._repr_html_() and "gk-proxy" not in tab._repr_html_()
    relay = lab.relay
    assert relay is not None
    # a kernel's JPY_PARENT_PID is its server's pid, whose jpserver file has its base_url
    (tmp_path / "jpserver-4242.json").write_text(json.dumps({"pid": 4242, "base_url": "/u/x/"}))
    monkeypatch.setenv("JPY_PARENT_PID", "4242")
    assert tab.proxy_url == f"/u/x/proxy/{relay.port}/lab/browser/{tab.token}/"
    shown = tab._repr_html_()
    assert f"href='{tab.proxy_url}'" in shown and tab.url in shown
    # JupyterHub's prefix (Binder) when the server's file is not found
    monkeypatch.setenv("JPY_PARENT_PID", "4243")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/someone/")
    assert jupyter_base_url() == "/user/someone/"
    assert jupyter_base_url({}) is None
    assert jupyter_base_url({"JUPYTERHUB_SERVICE_PREFIX": "/"}) == "/"


def test_the_lab_extra_and_binder_install_jupyter_server_proxy() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    lab_extra = text.split("\nlab = [", 1)[1].split("]", 1)[0]
    assert '"jupyter-server-proxy' in lab_extra
    env = ROOT / ".cache" / "binder-env"
    if not (env / "bin" / "python").exists():
        pytest.skip("no Binder environment: scripts/setup-tests builds it")
    enabled = env / "etc" / "jupyter" / "jupyter_server_config.d" / "jupyter-server-proxy.json"
    assert enabled.is_file(), "rebuild the Binder environment: scripts/binder-env"


# ---------------------------------------------------------------------- through a real proxy
def first_frame(url: str, origin: str) -> str | None:
    """The first frame a WebSocket to ``url`` from a page of ``origin`` gets, or None when it
    is closed first. Through jupyter-server-proxy that is how a refusal looks: the proxy
    answers the browser's handshake (101) before it dials the relay, and closes the socket
    when the relay refuses."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(url, origin=Origin(origin), open_timeout=10) as ws:
        try:
            frame = ws.recv(timeout=10)
        except ConnectionClosed:
            return None
        return frame if isinstance(frame, str) else frame.decode()


@needs_gun
def test_a_real_proxy_passes_the_origin_and_host_the_rule_reads(
    lab: Lab, jlab: tuple[str, str, Path]
) -> None:
    base, token, _ = jlab
    relay = lab.relay
    assert relay is not None
    tab = lab.browser("tab", rtc=False)
    jport = int(base.rsplit(":", 1)[1])
    url = f"ws://127.0.0.1:{jport}/proxy/{relay.port}/gun?tab=x&token={token}"
    hello = first_frame(url, base)  # the page's origin is JupyterLab's: let in, Gun says "?"
    assert hello is not None and json.loads(hello).get("dam") == "?"
    # Jupyter lets a token-authenticated WebSocket from any origin through: the relay refuses
    assert first_frame(url, "http://evil.example") is None
    lab.rt.call(lambda: relay.unserve(tab.prefix))
    assert first_frame(url, base) is None  # no page served: refused again


@needs_gun
@pytest.mark.interop
def test_a_tab_joins_through_jupyter_server_proxy(
    lab: Lab, jlab: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_loopback_only()
    from playwright.sync_api import sync_playwright

    base, token, runtime = jlab
    # as in a kernel this Jupyter server started
    monkeypatch.setenv("JPY_PARENT_PID", str(server_pid(runtime)))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    relay = lab.relay
    assert relay is not None
    py = lab.peer("py", rtc=False)
    tab = lab.browser("tab", rtc=False)
    assert tab.proxy_url == f"/proxy/{relay.port}/lab/browser/{tab.token}/"
    assert f"href='{tab.proxy_url}'" in tab._repr_html_()
    errors: list[str] = []
    fetched: list[str] = []
    sockets: list[str] = []
    with sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: fetched.append(f"{r.status} {r.url}"))
            page.on("websocket", lambda ws: sockets.append(ws.url))
            try:
                # the token in the URL logs in (Jupyter keeps it in a cookie for the rest)
                page.goto(f"{base}{tab.proxy_url}?token={token}")
                page_pid = page.evaluate("() => window.gun._.opt.pid")
                assert isinstance(page_pid, str) and page_pid
                lab.bus.wait_for(
                    lambda e: isinstance(e, trace.Hi) and e.node == relay.pid and e.pid == page_pid,
                    WAIT,
                    past=True,
                )
                page.wait_for_selector("#gk-links td.open")
                page.fill("#gk-key", "fromtab")
                page.fill("#gk-value", "hello through the proxy")
                page.click("#gk-put button")
                relay_took(lab, relay.pid, "fromtab", "hello through the proxy")
                page.wait_for_function(
                    "() => document.getElementById('gk-ack').textContent === 'acked'"
                )
                assert py.get_sync("chat.fromtab") == "hello through the proxy"
            finally:
                ARTIFACTS.mkdir(exist_ok=True)  # look at it
                page.screenshot(path=str(ARTIFACTS / "browser_proxy.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    # npm gun's files came through the proxy, and so did the WebSocket
    proxied = f"{base}/proxy/{relay.port}/lab/browser/{tab.token}/"
    for name in ("gun.js", "lib/webrtc.js", "sea.js", "tab.js"):
        assert f"200 {proxied}{name}" in fetched, fetched
    ws = f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/proxy/{relay.port}/gun?tab={tab.token}"
    assert ws in sockets, sockets
    assert not any(f":{relay.port}/" in u.split("/proxy/")[0] for u in fetched + sockets)

    # the views name the tab's node "tab", a browser, linked to the relay by a WebSocket
    assert tab.pid == page_pid and lab.name_of(page_pid) == "tab"
    assert tab.via_proxy  # its WebSocket named Jupyter's port, not the relay's
    nodes = node_dicts(lab)
    assert nodes["tab"]["role"] == "browser" and nodes["tab"]["pid"] == page_pid
    with lab._hub.lock:
        edges = [(e.a, e.b, e.transport) for e in lab._hub.mesh.edges.values()]
    assert any({a, b} == {relay.pid, page_pid} and t == "ws" for a, b, t in edges), edges


@needs_gun
def test_with_no_udp_the_tab_joins_through_the_proxy_and_its_link_to_the_kernel_says_why(
    lab: Lab, jlab: tuple[str, str, Path]
) -> None:
    """Binder's case: the kernel's machine has no UDP path. The tab still joins over the proxied
    WebSocket (TCP), its WebRTC link to the kernel's peer cannot form, and the link report says
    "no UDP path" instead of leaving the link pending."""
    from playwright.sync_api import sync_playwright

    base, token, _ = jlab
    relay = lab.relay
    assert relay is not None
    py = lab.peer("py")
    assert py.gun.rtc is not None  # stalled after 2 s rather than 10: the test is about the class
    lab.rt.call(lambda s=py.gun.rtc.sampler: setattr(s, "stall_after", 2.0))
    tab = lab.browser("tab")
    with udp_blocked(), chromium_interface(), sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page()
            page.goto(f"{base}/proxy/{relay.port}/lab/browser/{tab.token}/?token={token}")
            page_pid = page.evaluate("() => window.gun._.opt.pid")
            lab.bus.wait_for(
                lambda e: (
                    isinstance(e, trace.LinkStats)
                    and e.node == py.pid
                    and e.peer == page_pid
                    and bool(e.probe)
                ),
                WAIT,
                past=True,
            )
            page.wait_for_selector("#gk-links td.open")  # its WebSocket, through the proxy
        finally:
            browser.close()
    report = lab.link_report("py", "tab")
    side = report.side(py.pid)
    assert side is not None and not side.opened
    assert side.failure is LinkFailure.NO_UDP_PATH, report.summary()
    assert "EACCES" in side.why and "224.0.0.251:5353" in side.why, side.why
    assert "no UDP path" in report.summary()


def test_jupyter_serves_nothing_of_the_relay_without_its_login(
    lab: Lab, jlab: tuple[str, str, Path]
) -> None:
    base, _, _ = jlab
    relay = lab.relay
    assert relay is not None
    tab = lab.browser("tab", rtc=False)
    jport = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", jport, timeout=10)
    try:
        conn.request("GET", f"/proxy/{relay.port}{tab.prefix}gun.js")
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    assert reply.status in (302, 401, 403) and b"Gun" not in body, reply.status


NOTEBOOK_CELLS = [
    "from gunrtc_kit.lab import Lab\nlab = Lab()",
    'tab = lab.browser("tab", rtc=False)\ntab',
]


@needs_gun
@pytest.mark.interop
def test_the_cells_link_opens_the_tab_through_jupyter(tmp_path: Path) -> None:
    """In JupyterLab itself: the kernel finds its server, the cell's link survives the output
    sanitizer and resolves, in the browser, to the page through the proxy, which joins."""
    require_loopback_only()
    pytest.importorskip("jupyter_server_proxy")
    from tests.jlab import notebook_page

    with notebook_page(tmp_path, "proxytab", NOTEBOOK_CELLS) as page:
        link = page.wait_for_selector(".jp-OutputArea-output a.gk-proxy", timeout=60_000)
        assert link is not None
        href = link.evaluate("a => a.href")  # as the browser resolved it
        base = page.evaluate("() => location.origin")
        assert re.fullmatch(rf"{re.escape(base)}/proxy/\d+/lab/browser/[\w-]+/", href), href
        page.screenshot(path=str(ARTIFACTS / "browser_proxy_notebook.png"))
        with page.context.expect_page() as opened:
            link.click()
        tab = opened.value
        try:
            tab.wait_for_selector("#gk-links td.open", timeout=30_000)
            assert tab.url == href
            pid = tab.evaluate("() => window.gun._.opt.pid")
            tab.wait_for_function(
                "pid => document.getElementById('gk-pid').textContent === pid", arg=pid
            )
        finally:
            tab.screenshot(path=str(ARTIFACTS / "browser_proxy_from_notebook.png"))
            tab.close()
