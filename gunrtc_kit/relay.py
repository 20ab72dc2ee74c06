"""The built-in Gun relay: a WebSocket server at ``/gun`` that stores the graph and acks writes.

A ``Relay`` is a ``Gun`` root running as a super peer (it does not re-subscribe on connect) with
acks on, behind a ``WebSocketServer``. It relays puts and gets to the peers that asked for
those souls and to the relays it dialled (the root's AXE-style routing) and routes replies back
on ``@``.
With ``store=PATH`` the graph lives in SQLite and every ack follows a commit; with ``None`` it
lives in memory (acks still come: the memory is the store). It binds 127.0.0.1 unless told
otherwise, and may dial other relays (``peers=[url]``) to form a relay mesh.

Guards a relay needs that Gun.js lacks, each a parameter: ``wire_budget`` (bytes a connection
may hold unsent before it is cut, so a reader that never drains cannot grow the relay without
bound), ``total_budget`` (the same for all connections together), ``allowed_origins`` (None,
the Gun-compatible default, accepts any web page; a list,
such as the Lab's empty one, refuses browsers from other origins with HTTP 403, so a page open
in the user's browser cannot read or write a notebook's local relay), ``salvage`` (open a
damaged store by keeping what can be read, see ``SQLiteStore``), ``max_frame`` (the longest
frame, in chars, a peer may send: ``RELAY_MAX_FRAME`` by default, below Gun.js's 90 M, see
there) and ``cache_mb`` (with a store,
the store is the graph and memory only a cache of it, about this many MiB of nodes, least
recently used evicted: a relay starts without reading its store and stays bounded whatever the
store holds, see ``gunrtc_kit.root.cache``), ``check_store`` (read the whole file for damage
when it opens: None does so up to ``store.CHECK_BYTES``, True always, False never).

Pages: ``serve(prefix, files)`` makes the relay answer plain HTTP GETs on its own port for
``prefix + name``, with exactly the files it was given (a page, the scripts it loads): no
directory is listed and no path is ever looked up on disk, so nothing else can be read
through it. While it serves pages it also lets in WebSockets from its own origin
(``http://127.0.0.1:<port>``): only a page it served itself can have that origin. The Lab
serves a browser tab's page this way (``lab.browser()``), and ``wire_query`` tells which page
a wire came from (the query string of its WebSocket URL). A page may also be given a
``beacon``: a GET of ``prefix + "beacon?..."`` hands the query to it and is answered with what
it returns (204 for nothing), so the page can report what only it can see (its own WebRTC
links) and be asked things back, without a wire in the mesh.

Pages behind a proxy (jupyter-server-proxy, as on Binder: the user's browser reaches the relay
only as ``<jupyter>/proxy/<port>/...``): the page's origin is then the Jupyter server's, and so
is the ``Origin`` of its WebSocket, which the proxy passes on unchanged, with the ``Host`` the
browser asked for (jupyter-server-proxy 4 copies the browser's headers, ``Host`` and
``Origin`` included, and adds no ``X-Forwarded-*`` to a WebSocket). So while it serves pages,
a relay listening on loopback also lets in a WebSocket, from a loopback address, that is
same-origin *as the proxy saw it*: its ``Origin`` (http or https) names exactly the host and
port of its ``Host`` header (or of the first ``X-Forwarded-Host``, set by a proxy in front of
Jupyter), and that port is not the relay's own. Why that is safe:

- A page of another site (``http://evil.example``) has an ``Origin`` that names a host other
  than the one its WebSocket was made to: refused. (The Jupyter server's login comes first;
  its own Origin check too, but not for a request that carries its token in the URL, which
  it lets through from any origin: ours still refuses it.)
- A page can reach the relay's port straight only by naming that port in its URL (a DNS
  rebinding site: ``http://evil.example:<port>``, resolving to 127.0.0.1): then its Origin is
  same-origin with the Host, but it names the relay's own port, and a page reached through a
  proxy names the proxy's: refused. A page cannot set ``Host`` or ``X-Forwarded-Host`` on a
  WebSocket.
- Every page of the Jupyter server's origin is let in, not only ours: those pages can run code
  in the server's kernels anyway (the relay's own process among them).
- Only while a page is served, and only on a loopback listener (a proxy on this machine dials
  it), as the own-origin rule. Programs that are not browsers send no ``Origin`` and were never
  stopped by any of this.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from gunrtc_kit import trace
from gunrtc_kit.errors import GunError
from gunrtc_kit.root import Gun
from gunrtc_kit.store import SQLiteStore
from gunrtc_kit.transport.websocket import MAX_WS_FRAME, TOTAL_BUDGET, WIRE_BUDGET, WebSocketServer

__all__ = ["CONTENT_TYPES", "RELAY_MAX_FRAME", "Beacon", "Relay", "proxied_same_origin"]

#: The longest frame (chars) a relay takes from a peer unless told otherwise; a longer one is
#: answered ``{"dam": "!", "err": "Message too big!"}`` (Gun's text), put on the trace as an
#: error, and dropped unread; the connection stays open. Why 10 M and not Gun.js's 90 M
#: (``opt.max``, 300 MB x 0.3): the JSON decoder and the merge of one frame each run in one go,
#: so one 50 MB put of small keys held every other client 0.9 s (docs/benchmarks.md, "Big
#: frames"); at 10 M the worst frame we measured held them 60-90 ms (180 ms at most, on a
#: busy 2-core machine). Real apps send far less in one frame: Gun batches at 9,000 chars
#: (``opt.pack``), a browser's data channel carries at most 256 KiB a message, an image as
#: base64 is a few MB. A relay that must take bigger frames says so:
#: ``Relay(max_frame=...)``, ``gunrtc-kit relay --max-frame N``.
RELAY_MAX_FRAME = 10_000_000

#: a page's beacon hook: the query of its GET in, the JSON body of the answer out (None: 204)
Beacon = Callable[[dict[str, str]], bytes | None]

#: the content type of a served file, by the end of its name (others: octet-stream)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}


class Relay:
    """A Gun relay: ``async with Relay(port=8765, store="relay.sqlite3") as relay: ...``.

    ``max_frame``: the longest frame in chars a peer may send (None: ``RELAY_MAX_FRAME``);
    ``max_size``: the longest WebSocket message in bytes, past which the socket itself is
    closed (1009) before the frame is read whole; it is raised to ``max_frame`` if below, so
    that a frame too big is refused with words and the connection goes on."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        store: str | Path | None = None,
        *,
        peers: Iterable[str] = (),
        pid: str | None = None,
        bus: trace.TraceBus | None = None,
        max_size: int = MAX_WS_FRAME,
        max_frame: int | None = None,
        wire_budget: int = WIRE_BUDGET,
        total_budget: int = TOTAL_BUDGET,
        allowed_origins: Iterable[str] | None = None,
        salvage: bool = False,
        cache_mb: float | None = None,
        check_store: bool | None = None,
    ) -> None:
        if cache_mb is not None and not cache_mb >= 0:
            raise GunError(f"cache_mb={cache_mb!r}, expected MiB >= 0")
        if max_frame is None:
            max_frame = RELAY_MAX_FRAME
        if not isinstance(max_frame, int) or isinstance(max_frame, bool) or max_frame <= 0:
            raise GunError(f"max_frame={max_frame!r}, expected a number of chars > 0")
        max_size = max(max_size, max_frame)  # a raised frame limit raises the socket's too
        self.store_path = store
        self._pages: dict[str, dict[str, bytes]] = {}  # prefix -> {name under it: body}
        self._beacons: dict[str, Beacon] = {}  # prefix -> hook
        checking = {} if check_store is None else {"check": check_store}  # None: the default
        self._store = SQLiteStore(store, salvage=salvage, **checking) if store is not None else None
        try:
            self.gun = Gun(
                peers,
                pid=pid,
                bus=bus,
                store=self._store,
                acks=True,
                super_peer=True,
                max_frame=max_frame,
                cache_bytes=None if cache_mb is None else int(cache_mb * 2**20),
            )
            self.server = WebSocketServer(
                self.gun.mesh,
                host,
                port,
                max_size=max_size,
                wire_budget=wire_budget,
                total_budget=total_budget,
                allowed_origins=allowed_origins,
                http=self._http,
            )
            self._given_origins = self.server.allowed_origins  # before any page's own
        except BaseException:
            if self._store is not None:  # a bad argument must not leave the file open
                self._store.close()
            raise

    @property
    def pid(self) -> str:
        return self.gun.pid

    @property
    def bus(self) -> trace.TraceBus:
        return self.gun.bus

    @property
    def url(self) -> str:
        """``ws://host:port/gun`` once started (the real port when 0 was asked)."""
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    # ------------------------------------------------------------------ pages
    def serve(
        self,
        prefix: str,
        files: Mapping[str, bytes],
        beacon: Beacon | None = None,
    ) -> None:
        """Answer ``GET prefix + name`` with ``files[name]`` (``""`` is the page at ``prefix``
        itself), on the relay's own port; call it on the relay's loop once it is started.

        Only those exact names are served: anything else under ``prefix`` is a 404, and
        ``prefix`` without its last ``/`` is redirected to it (a page's relative URLs need
        it). While any page is served, WebSockets from the relay's own origin are let in
        (see the module docstring). ``beacon``, if given, is called on the relay's loop with
        the query of each ``GET prefix + "beacon?..."`` (the request line's length is bounded
        by the HTTP parser); what it returns is the answer's JSON body (None: a 204), an
        exception it raises is a 400."""
        if not prefix.startswith("/") or not prefix.endswith("/") or prefix == "/":
            raise GunError(f"serve(prefix={prefix!r}): expected a path like '/lab/browser/x/'")
        if not self.port:
            raise GunError("serve(): start the relay first (its origin needs its port)")
        self._pages[prefix] = dict(files)
        if beacon is not None:
            self._beacons[prefix] = beacon
        self._let_own_origin(True)

    def unserve(self, prefix: str) -> None:
        """Stop serving the files ``serve`` gave for ``prefix`` (unknown prefixes: nothing);
        with no page left, WebSockets from the relay's own origin are refused again."""
        self._pages.pop(prefix, None)
        self._beacons.pop(prefix, None)
        self._let_own_origin(bool(self._pages))

    def _let_own_origin(self, let: bool) -> None:
        given = self._given_origins
        if given is None:
            return  # any origin is let in anyway
        own = {f"http://{self.server.host}:{self.port}"}
        if self.server.host == "127.0.0.1":
            own.add(f"http://localhost:{self.port}")
        self.server.allowed_origins = given | own if let else given
        proxied = let and _is_loopback(self.server.host)
        self.server.let_origin = self._proxied_same_origin if proxied else None

    def _proxied_same_origin(self, conn: ServerConnection, request: Request, origin: str) -> bool:
        """Whether a browser's WebSocket came through a proxy from a page of the origin it was
        made to (see the module docstring): the relay's pages behind jupyter-server-proxy."""
        remote = conn.remote_address
        if not self._pages or not remote or not _is_loopback(str(remote[0])):
            return False
        return proxied_same_origin(origin, request.headers, self.port)

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        """The answer to a plain HTTP GET for a served page or file, or None (not ours)."""
        path = urlsplit(request.path).path
        for prefix, files in list(self._pages.items()):
            if path == prefix[:-1]:
                where = prefix[:-1].rsplit("/", 1)[-1] + "/"  # relative: works behind a proxy
                return _answer(HTTPStatus.FOUND, "text/plain; charset=utf-8", b"", where)
            if path.startswith(prefix):
                name = path[len(prefix) :]
                if name == "beacon" and prefix in self._beacons:
                    return self._beacon(conn, prefix, request)
                body = files.get(name)
                if body is None:
                    return conn.respond(HTTPStatus.NOT_FOUND, "Gun relay: no such file\n")
                ctype = CONTENT_TYPES.get(Path(name).suffix if name else ".html")
                return _answer(HTTPStatus.OK, ctype or "application/octet-stream", body)
        return None

    def _beacon(self, conn: ServerConnection, prefix: str, request: Request) -> Response:
        query = dict(parse_qsl(urlsplit(request.path).query))
        try:
            body = self._beacons[prefix](query)
        except Exception as exc:  # the page's report was bad: say so to it, not to the loop
            return conn.respond(HTTPStatus.BAD_REQUEST, f"Gun relay: beacon refused: {exc}\n")
        if body is None:
            return _answer(HTTPStatus.NO_CONTENT, "text/plain; charset=utf-8", b"")
        return _answer(HTTPStatus.OK, "application/json", body)

    def wire_query(self, peer_id: str) -> dict[str, str]:
        """The query string of the WebSocket URL an inbound wire (mesh peer id ``peer_id``)
        was opened with, as a dict: how a page says which tab it is. ``{}`` for an unknown
        wire (or one whose URL had none)."""
        request = self._request(peer_id)
        return dict(parse_qsl(urlsplit(request.path).query)) if request is not None else {}

    def wire_proxied(self, peer_id: str) -> bool:
        """Whether an inbound wire came through a proxy: its ``Host`` names another port
        than the relay's (a browser that dialled the relay itself names the relay's port; one
        behind jupyter-server-proxy names the Jupyter server's). False for an unknown wire."""
        request = self._request(peer_id)
        if request is None:
            return False
        host = request.headers.get("Host", "")
        try:
            port = urlsplit(f"//{host}").port
        except ValueError:
            return False
        return port != self.port

    def _request(self, peer_id: str) -> Request | None:
        for conn, peer in list(self.server.connections.items()):
            if peer.id == peer_id and conn.request is not None:
                return conn.request
        return None

    async def start(self) -> Relay:
        """Listen, then start the root (dialling ``peers``); returns self."""
        await self.server.start()
        await self.gun.start()
        return self

    async def stop(self) -> None:
        """Close every socket and the store; an acknowledged write is already on disk. Bounded:
        a client that ignores the close handshake is cut after about a second."""
        await self.server.close()
        await self.gun.close()
        if self._store is not None:
            self._store.close()

    async def __aenter__(self) -> Relay:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def proxied_same_origin(origin: str, headers: Headers, own_port: int) -> bool:
    """Whether ``origin`` is the origin a proxied WebSocket handshake was made to: it names
    exactly the host and port of ``Host`` (or of the first ``X-Forwarded-Host``), and that
    port (80 or 443 when unsaid) is not ``own_port``, which only a browser that dialled the
    relay itself would name."""
    default = {"http": 80, "https": 443}
    try:
        where = urlsplit(origin)
        port = where.port or default.get(where.scheme)
    except ValueError:
        return False
    if where.scheme not in default or port is None or port == own_port or not where.hostname:
        return False
    if where.path or where.query or where.fragment or "@" in where.netloc:
        return False  # an Origin is scheme://host[:port], nothing more
    hosts, forwarded = headers.get_all("Host"), headers.get_all("X-Forwarded-Host")
    if len(hosts) != 1:
        return False  # none, or an ambiguous request
    made_to = {hosts[0].strip().lower()}
    if forwarded:
        made_to.add(forwarded[0].split(",")[0].strip().lower())
    return where.netloc.lower() in made_to - {""}


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _answer(status: HTTPStatus, ctype: str, body: bytes, location: str = "") -> Response:
    """An HTTP response for a served file (not cached: a re-run Lab serves new ones)."""
    headers = Headers(
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
        ]
    )
    if location:
        headers["Location"] = location
    return Response(status.value, status.phrase, headers, body)
