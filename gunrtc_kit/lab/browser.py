"""``lab.browser()``: a web page the Lab's relay serves, whose browser tab joins the Lab's mesh.

    tab = lab.browser(name="tab")   # open tab.url in a browser (the cell shows the link)

The page loads npm gun's own browser files (``gun.js``, ``lib/webrtc.js``, ``sea.js``) from the
npm install the project already makes in ``interop/node_modules/gun`` (found as
``gunjs.find_interop`` finds ``interop/``): never from a CDN, never copied into this package.
Its script (``tab/tab.js``, ours) starts npm gun's ``Gun`` with the Lab's relay as its peer,
at a URL relative to where the page was served (so it also works behind a proxy that serves
the relay's port under a path), and shows the tab's pid, its links and one soul's data live,
with a box that puts; its Gun instance is ``window.gun``.

How the tab gets its name in the views: each page has a random token in its path
(``/lab/browser/<token>/``) and puts it in the query of the WebSocket URL it dials. When the
relay hears that wire's ``?`` (a ``Hi`` event with the tab's pid), ``TabNamer`` asks the relay
which page the wire came from (``Relay.wire_query``) and names the pid in the Lab's directory,
with the role ``browser``.

With the Lab's room the tab links by WebRTC (npm gun's ``lib/webrtc.js``) to every peer in
it, Python peers and other tabs, signalled through the relay. What only the tab sees (its
links, its WebRTC links' stats, its user agent) it reports once a second: see ``tabreport``.

Not yet: a relay restarted by ``stop_relay``/``start_relay`` serves none of the earlier pages.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import secrets
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError, LimitError, TimeoutError
from gunrtc_kit.lab.gunjs import find_interop
from gunrtc_kit.lab.tabreport import TabReports, parse_report
from gunrtc_kit.relay import Relay

__all__ = [
    "GUN_FILES",
    "BrowserTab",
    "TabNamer",
    "gun_browser_files",
    "jupyter_base_url",
    "tab_files",
]

#: npm gun's files the page loads, as named under ``node_modules/gun``
GUN_FILES = ("gun.js", "lib/webrtc.js", "sea.js")
PAGE_DIR = Path(__file__).resolve().parent / "tab"
PREFIX = "/lab/browser/"
ROLE = "browser"
BEACON = 1.0  # seconds between a tab's reports of itself (see ``tabreport``)
MAX_ASKS = 100  # puts asked of a tab and not yet taken by it (it takes them once a second)
MAX_ASK_CHARS = 64 * 1024  # one asked put's key and value, as JSON


def gun_browser_files(interop: Path | None = None) -> dict[str, bytes]:
    """npm gun's browser files from ``interop/node_modules/gun``, by their names there; a
    ``GunError`` saying what to run when they are missing."""
    interop = interop if interop is not None else find_interop()
    gun = interop / "node_modules" / "gun"
    missing = [name for name in GUN_FILES if not (gun / name).is_file()]
    if missing:
        raise GunError(
            f"lab.browser(): npm gun's browser files are missing ({', '.join(missing)} in "
            f"{gun}): run scripts/setup, or `npm ci` in {interop} (cd {interop} && npm ci)"
        )
    return {name: (gun / name).read_bytes() for name in GUN_FILES}


def tab_files(
    name: str, token: str, soul: str, room: str | None = None, peer_url: str | None = None
) -> dict[str, bytes]:
    """Our page (``""``) and its script for one tab: the page carries its config as JSON
    (``<`` escaped, so no value can close the script element). With a ``room`` the tab links
    by WebRTC to the room's peers; without, it stays on the WebSocket."""
    # from /lab/browser/<token>/ up to /: one "../" per segment (PREFIX's and the token)
    relay = peer_url or "../" * PREFIX.count("/") + "gun"
    config = json.dumps(
        {"name": name, "token": token, "soul": soul, "relay": relay, "room": room, "beacon": BEACON}
    )
    page = (PAGE_DIR / "index.html").read_text("utf-8")
    page = page.replace("{{name}}", html.escape(name)).replace(
        "{{config}}", config.replace("<", "\\u003c")
    )
    return {"": page.encode("utf-8"), "tab.js": (PAGE_DIR / "tab.js").read_bytes()}


def jupyter_base_url(env: Mapping[str, str] | None = None) -> str | None:
    """The ``base_url`` (``/`` or ``/user/x/``) of the Jupyter server this kernel runs under,
    or None when there is none to be found.

    Asked of the server itself first: a kernel's ``JPY_PARENT_PID`` is its server's pid
    (jupyter_client sets it), and the server writes ``jpserver-<pid>.json`` with its
    ``base_url`` into the Jupyter runtime dir (read directly, not through
    ``list_running_servers``, which deletes the files of servers it thinks dead). Else
    ``JUPYTERHUB_SERVICE_PREFIX``, which JupyterHub (Binder) gives its single-user servers and
    their kernels."""
    env = os.environ if env is None else env
    pid = env.get("JPY_PARENT_PID", "")
    if pid.isdigit():
        runtime = env.get("JUPYTER_RUNTIME_DIR") or _jupyter_runtime_dir()
        try:
            info = json.loads((Path(runtime) / f"jpserver-{pid}.json").read_text("utf-8"))
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and isinstance(info.get("base_url"), str):
            return _as_base(info["base_url"])
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "")
    return _as_base(prefix) if prefix else None


def _as_base(path: str) -> str:
    """``user/x`` or ``/user/x/`` -> ``/user/x/`` (``/`` for the root)."""
    path = path.strip("/")
    return f"/{path}/" if path else "/"


def _jupyter_runtime_dir() -> str:
    """jupyter_core's runtime dir (``""`` without jupyter_core: then no server is found)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return ""
    return jupyter_runtime_dir()


class BrowserTab:
    """A page that joins the Lab's mesh from a browser tab: open ``url``; ``pid`` is the
    tab's Gun pid once its ``?`` reached the relay (None before, and per page load: a
    reloaded page is a new Gun with a new pid, named the same).

    Two ways to the page: ``url`` dials the relay straight (``http://127.0.0.1:<port>/...``:
    works in a browser on the machine the kernel runs on), and ``proxy_url`` is the same page
    through the Jupyter server the kernel runs under, with jupyter-server-proxy
    (``<base_url>proxy/<port>/lab/browser/<token>/``: works wherever the notebook is open, as
    on Binder, where nothing else reaches the kernel's machine). ``proxy_url`` is a path, not
    a full URL: the kernel cannot know the name the user's browser knows the server by, but
    the browser does, and resolves the path against the notebook page's own origin. The cell
    shows both links (a plain ``<a href>``, which JupyterLab's output sanitizer keeps; no
    script)."""

    def __init__(self, name: str, token: str, url: str, soul: str) -> None:
        self.name = name
        self.token = token
        self.url = url
        self.soul = soul
        self.pid: str | None = None
        #: it joined through a proxy (jupyter-server-proxy: it runs where the notebook is
        #: viewed, which may be another machine than the kernel's, as on Binder)
        self.via_proxy = False
        #: the Gun relay the page dials when not the Lab's (a tap's URL, say); None: the Lab's
        self.peer_url: str | None = None
        self._joined = threading.Event()  # set when the relay first hears the tab's "?"
        self._asks: deque[list[object]] = deque()  # puts asked of the tab (see ``put``)

    def open(self) -> bool:
        """Open the page in this machine's web browser (Python's ``webbrowser``: the
        ``BROWSER`` variable chooses it); False when there is none to open (on Binder the
        kernel's machine has none: click the cell's link instead)."""
        import webbrowser

        return webbrowser.open(self.url, new=2)

    async def wait_joined(self, timeout: float = 60.0) -> str:
        """Wait until the page has joined the Lab (the relay heard its ``?``); its pid. A
        ``TimeoutError`` saying what to do when nobody opened it in time."""
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self._joined.wait, timeout):
            raise TimeoutError(
                f"browser tab {self.name!r} did not join within {timeout:g} s: open {self.url} "
                "(or the cell's link) in a browser"
            )
        assert self.pid is not None
        return self.pid

    def wait_joined_sync(self, timeout: float = 60.0) -> str:
        """Blocking twin of ``wait_joined``."""
        if not self._joined.wait(timeout):
            raise TimeoutError(
                f"browser tab {self.name!r} did not join within {timeout:g} s: open {self.url} "
                "(or the cell's link) in a browser"
            )
        assert self.pid is not None
        return self.pid

    def put(self, key: str, value: str | int | float | bool | None) -> None:
        """Ask the tab to put ``value`` at ``key`` of its soul, as its box does: the tab's own
        npm gun writes it (so the trace shows a put coming from the browser), when it next
        reports to the Lab (within a second). Values are Gun's scalars. At most ``MAX_ASKS``
        wait at once (a ``LimitError`` past that: the tab is not taking them, closed?)."""
        if not isinstance(key, str) or not key:
            raise GunError(f"tab.put(key={key!r}): expected a non-empty string")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise GunError(f"tab.put({key!r}, {value!r}): a tab puts Gun's scalars only")
        if len(json.dumps([key, value])) > MAX_ASK_CHARS:
            raise LimitError(f"tab.put({key!r}, ...): over {MAX_ASK_CHARS} characters")
        if len(self._asks) >= MAX_ASKS:
            raise LimitError(
                f"tab {self.name!r} has {MAX_ASKS} puts waiting: it takes none (is it open?)"
            )
        self._asks.append([key, value])

    def _take_asks(self) -> bytes | None:
        """What the tab is asked to do, as the answer to its beacon (None: nothing)."""
        puts: list[list[object]] = []
        while self._asks:
            puts.append(self._asks.popleft())
        return json.dumps({"put": puts}).encode("utf-8") if puts else None

    @property
    def prefix(self) -> str:
        """The path the relay serves this tab's page under."""
        return f"{PREFIX}{self.token}/"

    @property
    def proxy_url(self) -> str | None:
        """The page's path on the Jupyter server this kernel runs under, through
        jupyter-server-proxy (``<base_url>proxy/<port>/lab/browser/<token>/``), or None when
        the kernel runs under no Jupyter server it can find (see ``jupyter_base_url``). The
        server needs jupyter-server-proxy (``binder/`` installs it with the ``lab`` extra)."""
        base = jupyter_base_url()
        port = urlsplit(self.url).port
        return None if base is None or port is None else f"{base}proxy/{port}{self.prefix}"

    def __repr__(self) -> str:
        pid = f" pid={self.pid}" if self.pid else " (not joined yet)"
        return f"<BrowserTab {self.name!r} {self.url}{pid}>"

    def _repr_html_(self) -> str:
        e = html.escape
        joined = f"joined as <code>{e(self.pid)}</code>" if self.pid else "not joined yet"
        direct = (
            f"<a href='{e(self.url, quote=True)}' target='_blank' rel='noopener'>{e(self.url)}</a>"
        )
        proxy = self.proxy_url
        if proxy is None:
            links = direct
        else:
            links = (
                f"<a class='gk-proxy' href='{e(proxy, quote=True)}' target='_blank' "
                f"rel='noopener'>open it through Jupyter</a> (or straight from this machine: "
                f"{direct})"
            )
        return f"<div><b>Browser tab</b> {e(self.name)!s}: {links} ({joined})</div>"


class _NamingLab(Protocol):
    """What ``TabNamer`` needs of the Lab: its relay and a way to name a pid."""

    @property
    def relay(self) -> Relay | None:
        """The Lab's relay while it runs."""
        ...

    def _name(self, pid: str, name: str, role: str = "peer") -> None: ...

    def _describe(self, pid: str, agent: str) -> None: ...


class TabNamer:
    """Names each tab's pid when the Lab's relay hears its ``?`` (a ``Hi`` with a pid).

    Runs on the runtime thread (the relay's bus); holds the Lab weakly: the bus belongs to
    the Lab's relay, which the Lab's finalizer keeps, so a strong reference would keep the
    Lab alive for ever."""

    def __init__(self, lab: _NamingLab, bus: trace.TraceBus) -> None:
        self._lab: Callable[[], _NamingLab | None] = weakref.ref(lab)
        self.tabs: dict[str, BrowserTab] = {}  # token -> tab
        self.reports = TabReports(bus, self._describe)
        self._unsubscribe = bus.subscribe(self._on_hi, (trace.Hi,))

    def new_tab(
        self,
        name: str,
        soul: str,
        relay: Relay,
        room: str | None = None,
        peer_url: str | None = None,
    ) -> tuple[BrowserTab, dict[str, bytes]]:
        """A tab served by ``relay`` under a new token (unguessable: it is the page's path),
        and the files to serve for it; the caller serves them, then adds the tab to
        ``tabs``. A ``GunError`` when npm gun's files are missing."""
        files = gun_browser_files()
        token = secrets.token_urlsafe(12)
        while token in self.tabs:
            token = secrets.token_urlsafe(12)
        prefix = f"{PREFIX}{token}/"
        tab = BrowserTab(name, token, f"http://{relay.server.host}:{relay.port}{prefix}", soul)
        files.update(tab_files(name, token, soul, room, peer_url))
        tab.peer_url = peer_url
        return tab, files

    def _describe(self, pid: str, agent: str) -> None:
        lab = self._lab()
        if lab is not None:
            lab._describe(pid, agent)

    def beacon_for(self, tab: BrowserTab) -> Callable[[dict[str, str]], bytes | None]:
        """The hook the relay calls with each of ``tab``'s beacons (see ``tabreport``); its
        answer carries what the tab is asked to do (``BrowserTab.put``)."""

        def hook(query: dict[str, str]) -> bytes | None:
            report = parse_report(query)
            if tab.pid is None and tab.peer_url is not None:
                self._joined_elsewhere(tab, report["pid"])
            self.reports.beacon(tab.pid, report, websockets=tab.peer_url is None)
            return tab._take_asks() if tab.pid is not None else None

        return hook

    def _joined_elsewhere(self, tab: BrowserTab, pid: str) -> None:
        """A tab that dials another relay (``peer_url``) is named by the pid its first
        report gives: the Lab's relay never hears its ``?``. Its page is ours and its path
        unguessable, so only that page can report for it."""
        lab = self._lab()
        if lab is not None and pid:
            tab.pid = pid
            tab._joined.set()
            lab._name(pid, tab.name, ROLE)

    def named(self, name: str) -> bool:
        """Whether a tab of this Lab is called ``name``."""
        return any(t.name == name for t in list(self.tabs.values()))

    def _on_hi(self, e: trace.Event) -> None:
        lab = self._lab()
        relay = lab.relay if lab is not None else None
        if not isinstance(e, trace.Hi) or not e.pid or relay is None or e.node != relay.pid:
            return
        tab = self.tabs.get(relay.wire_query(e.peer).get("tab", ""))
        if tab is not None and lab is not None:
            tab.pid = e.pid
            tab.via_proxy = relay.wire_proxied(e.peer)
            tab._joined.set()
            lab._name(e.pid, tab.name, ROLE)
            self.reports.joined(relay.pid, e.peer, e.pid)

    def close(self) -> None:
        """Stop listening (the Lab closed)."""
        self._unsubscribe()
        self.reports.close()


class _ServingLab(_NamingLab, Protocol):
    """What ``serve_tab`` needs of the Lab besides naming: its runtime, bus and room."""

    rt: Any
    bus: trace.TraceBus
    room: str | None


def serve_tab(
    lab: _ServingLab,
    namer: TabNamer | None,
    name: str,
    soul: str,
    rtc: bool,
    peer_url: str | None,
) -> tuple[TabNamer, BrowserTab]:
    """What ``Lab.browser`` does once the name is free: check the arguments, make the Lab's
    ``TabNamer`` on first use, and serve a new tab's page on the Lab's relay."""
    if peer_url is not None and not (
        isinstance(peer_url, str) and peer_url.startswith(("ws://", "wss://"))
    ):
        raise GunError(f"browser(peer_url={peer_url!r}): expected a ws:// or wss:// URL")
    if not isinstance(soul, str) or not soul:
        raise GunError(f"browser(soul={soul!r}): expected a non-empty string")
    relay = lab.relay
    if relay is None:
        raise GunError(f"browser({name!r}): the Lab's relay is stopped; start_relay_sync()")
    namer = namer if namer is not None else TabNamer(lab, lab.bus)
    tab, files = namer.new_tab(name, soul, relay, lab.room if rtc else None, peer_url)
    beacon = namer.beacon_for(tab)
    lab.rt.call(lambda: relay.serve(tab.prefix, files, beacon), what=f"browser({name!r})")
    namer.tabs[tab.token] = tab
    return namer, tab
