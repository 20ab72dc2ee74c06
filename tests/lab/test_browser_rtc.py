"""Browser tabs link by WebRTC to Python peers and to each other, and keep syncing without the
relay (issue 19).

Two headless Debian chromium tabs (``lab.browser()``: npm gun's own ``gun.js`` and
``lib/webrtc.js``) and two Python peers share the Lab's room; npm gun announces each tab there
and every pair links by WebRTC, signalled through the Lab's relay. The tests hold what each
side says against the other: a data channel open on both ends of every link (the tab's
``RTCPeerConnection`` and the Python peer's trace), puts carried by the data channels both
ways (the Python side's trace says ``dc`` and names the tab as the sender), and after the relay
stops, puts still reach every side.

Why a test-only interface (``tests.netns.chromium_interface``): in a namespace with only
``lo``, Chromium gathers no ICE candidate at all (it never offers loopback addresses, even
with ``--allow-loopback-in-peer-connection``, and needs a non-loopback interface holding the
default route). Two tabs then cannot link (each waits for the other's candidates), and a tab
links to a Python peer only when Chromium happens to send its checks to the Python side's
127.0.0.1 candidate. With the interface, Chromium's defaults work: its host candidates are
mDNS names (``<uuid>.local``), which Chromium resolves for its own tabs;
``--disable-features=WebRtcHideLocalIpsWithMdns`` gives plain addresses instead. Both are
tested. The Python side cannot resolve the mDNS names here (Chromium's responder does not answer
aioice's query in this namespace): the link forms through the peer-reflexive candidate that
Chromium's checks reveal, and the link report shows the name unresolved.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gunrtc_kit import trace
from gunrtc_kit.lab import Lab
from gunrtc_kit.lab.gunjs import find_interop
from tests.jlab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.netns import chromium_interface

WAIT = 20.0
PLAIN_ADDRESSES = "--disable-features=WebRtcHideLocalIpsWithMdns"

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not (find_interop() / "node_modules" / "gun" / "gun.js").is_file(),
        reason="npm gun is not installed in interop/ (scripts/setup, or npm ci there)",
    ),
]

#: the tab's WebRTC links as its own npm gun holds them: remote pid -> channel/ICE state
DC_LINKS = """() => {
  const out = {};
  for (const p of Object.values(window.gun._.opt.peers)) {
    if (p.url || !p.wire) continue;
    out[p.id] = {dc: p.wire.readyState, ice: p.iceConnectionState, pc: p.connectionState};
  }
  return out;
}"""

#: resolves with the value at chat.<key> once the tab's Gun has it
VALUE_IN_TAB = """([key, want]) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error("no " + key + " in the tab")), 15000);
  window.gun.get("chat").get(key).on((v) => {
    if (v === want) { clearTimeout(t); resolve(v); }
  });
})"""


@contextlib.contextmanager
def launched(flavour: str) -> Iterator[tuple[Any, str, str]]:
    """Chromium in this namespace with a test-only interface: its defaults (``mdns``: mDNS
    host candidates) or ``plain`` addresses; yields (browser, flavour, the interface's
    address)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian chromium missing: scripts/setup-tests installs it")
    args = list(CHROMIUM_ARGS) + ([PLAIN_ADDRESSES] if flavour == "plain" else [])
    with chromium_interface() as addr, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser, flavour, addr
        finally:
            browser.close()


@pytest.fixture(params=["mdns", "plain"])
def chromium(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str, str]]:
    """Chromium with mDNS host candidates (its defaults), then with plain addresses."""
    with launched(request.param) as it:
        yield it


@pytest.fixture
def plain_chromium() -> Iterator[tuple[Any, str, str]]:
    """Chromium with plain addresses (where how candidates are named does not matter)."""
    with launched("plain") as it:
        yield it


def open_tab(browser: Any, url: str, errors: list[str]) -> Any:
    page = browser.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page


def tab_pid(page: Any) -> str:
    pid = page.evaluate("() => window.gun._.opt.pid")
    assert isinstance(pid, str) and pid
    return pid


def heard_from(lab: Lab, node: str, sender: str, key: str) -> list[trace.Heard]:
    """The puts of chat.<key> that ``node`` heard on a wire whose far end is ``sender``."""
    out = []
    with lab._hub.lock:  # the directory is the views'; read it as they do
        lab.refresh()
        for e in list(lab.bus.history):
            if (
                isinstance(e, trace.Heard)
                and e.node == node
                and key in (e.msg.get("put") or {}).get("chat", {})
                and lab.directory.resolve(node, e.peer) == sender
            ):
                out.append(e)
    return out


def wait_until(ok: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.05)


def open_dc_pairs(lab: Lab) -> set[frozenset[str]]:
    """The pairs of peers the views draw an open data-channel edge between."""
    lab.refresh()
    with lab._hub.lock:
        return {
            frozenset((e.a, e.b))
            for e in lab._hub.mesh.edges.values()
            if e.transport == "dc" and e.state == "open"
        }


def link_open(node: str, peer: str) -> Callable[[trace.Event], bool]:
    """``node``'s trace says its WebRTC link to ``peer`` opened."""
    return lambda e: (
        isinstance(e, trace.RtcState)
        and e.node == node
        and e.peer == peer
        and e.layer == "link"
        and e.state == "open"
    )


def stats_from(lab: Lab, node: str, peer: str) -> list[trace.LinkStats]:
    """``node``'s LinkStats events about its WebRTC link to ``peer``."""
    return [
        e
        for e in list(lab.bus.history)
        if isinstance(e, trace.LinkStats) and e.node == node and e.peer == peer
    ]


def python_sees_tab(lab: Lab, node: str, tab: str) -> list[trace.CandidateInfo]:
    """The remote candidates a Python peer's last LinkStats about ``tab`` holds (waiting for
    one that has any)."""
    wait_until(
        lambda: any(e.remote_candidates for e in stats_from(lab, node, tab)),
        "the Python end's stats of the tab's link",
    )
    return [c for e in stats_from(lab, node, tab) for c in e.remote_candidates]


def test_tabs_and_python_peers_link_by_webrtc_and_sync_without_the_relay(
    chromium: tuple[Any, str, str],
) -> None:
    browser, flavour, addr = chromium
    errors: list[str] = []
    lab = Lab()
    pages: list[Any] = []
    try:
        a, b = lab.peer("a"), lab.peer("b")
        lab.wait_linked_sync(a, b)
        t1, t2 = lab.browser("t1"), lab.browser("t2")
        pages = [open_tab(browser, t.url, errors) for t in (t1, t2)]
        p1, p2 = (tab_pid(p) for p in pages)
        pys = {a.gun.pid: a, b.gun.pid: b}

        # every tab: a data channel open to both Python peers and to the other tab
        for page, other in ((pages[0], p2), (pages[1], p1)):
            want = sorted([*pys, other])
            page.wait_for_function(
                f"""() => {{ const l = ({DC_LINKS})();
                  return {want!r}.every(pid => l[pid] && l[pid].dc === "open"); }}""",
                timeout=WAIT * 1000,
            )
            links = page.evaluate(DC_LINKS)
            assert all(links[pid]["pc"] == "connected" for pid in want), links
        # ... and each Python peer has its WebRTC link to both tabs open (its own trace)
        for node, pid in [(py.gun.pid, pid) for py in (a, b) for pid in (p1, p2)]:
            lab.bus.wait_for(link_open(node, pid), WAIT, past=True)
        # the views draw each link once, tab to tab included (from the tabs' own reports)
        ends = [p1, p2, a.gun.pid, b.gun.pid]
        pairs = {frozenset((x, y)) for i, x in enumerate(ends) for y in ends[i + 1 :]}
        wait_until(lambda: pairs <= open_dc_pairs(lab), "every dc link drawn")
        with lab._hub.lock:
            dc = [e for e in lab._hub.mesh.edges.values() if e.transport == "dc"]
        assert len(dc) == len(pairs), [(e.a, e.b, e.state) for e in dc]
        assert lab._tabs is not None
        reports = lab._tabs.reports.tabs
        wait_until(lambda: {p1, p2} <= set(reports), "both tabs reported themselves")
        assert "Chrome" in reports[p1].ua and "Chrome" in reports[p2].ua
        # the Python end saw the tab's candidate as Chromium signalled it. With its defaults
        # that is an mDNS name; Chromium's responder does not answer aioice's query here (nor a
        # QU or legacy-unicast one), so it stays unresolved, and the link forms through the
        # peer-reflexive candidate Chromium's own checks reveal. Plain addresses are taken as is.
        seen = python_sees_tab(lab, a.gun.pid, p1)
        if flavour == "mdns":
            assert any(
                c["family"] == "mdns" and c["address"].endswith(".local") and not c["resolved"]
                for c in seen
            ), seen
            assert any(c["type"] == "prflx" for c in seen), seen
        else:
            assert any(c["family"] == "ipv4" and c["address"] == addr for c in seen), seen
        # every link explains itself, tab to tab too (from both tabs' getStats)
        wait_until(lambda: stats_from(lab, p1, p2) and stats_from(lab, p2, p1), "tab link stats")
        report = lab.link_report("t1", "t2")
        assert report.failure is None, report.summary()
        for me, other in ((p1, p2), (p2, p1)):
            last = stats_from(lab, me, other)[-1]
            assert last.phase == "open" and last.selected is not None, last
            assert last.selected["state"] == "succeeded" and last.local_candidates, last
        assert lab.link_report("a", "t1").failure is None

        # a tab's put reaches the Python peers over the data channel from that tab
        pages[0].evaluate("() => { window.gun.get('chat').get('t1').put('from t1'); }")
        for py in (a, b):
            assert py.get_sync("chat.t1") == "from t1"
            got = heard_from(lab, py.gun.pid, p1, "t1")
            assert got and {e.transport for e in got} == {"dc"}, got
        # fate and explain name the tab as the writer, and the data channel it came over
        story = str(lab.fate(str(got[0].msg.get("#"))))
        assert "from t1" in story and "b heard it from t1 over dc" in story, story
        assert "t1's write (heard over dc)" in str(lab.explain(b, "chat.t1"))
        # a Python peer's put reaches both tabs
        a.put("chat.fromA", "from a")
        for page in pages:
            assert page.evaluate(VALUE_IN_TAB, ["fromA", "from a"]) == "from a"

        # the relay stops: every pair keeps syncing over its data channels
        lab.stop_relay_sync()
        b.put("chat.norelay", "b without relay")
        for page in pages:
            assert page.evaluate(VALUE_IN_TAB, ["norelay", "b without relay"]) == (
                "b without relay"
            )
        pages[1].evaluate("() => { window.gun.get('chat').get('t2late').put('t2 late'); }")
        assert pages[0].evaluate(VALUE_IN_TAB, ["t2late", "t2 late"]) == "t2 late"
        for py in (a, b):
            assert py.get_sync("chat.t2late") == "t2 late"
            assert {e.transport for e in heard_from(lab, py.gun.pid, p2, "t2late")} == {"dc"}
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        for i, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"browser_rtc_{flavour}_t{i + 1}.png"))
            page.close()
        lab.close()
    assert not errors, errors


LENGTH_IN_TAB = """([key, n]) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error("no " + key + " in the tab")), 15000);
  window.gun.get("chat").get(key).on((v) => {
    if (typeof v === "string" && v.length === n) { clearTimeout(t); resolve(v.length); }
  });
})"""


def test_big_values_over_a_tabs_data_channel_respect_both_ends_max_message_size(
    plain_chromium: tuple[Any, str, str],
) -> None:
    """Chromium and aiortc both say ``a=max-message-size:262144``: a 200 kB put crosses the
    data channel each way, and a frame over 256 KiB is refused at our end as a traced loss
    (``FRAME_TOO_BIG``), never sent to break the channel."""
    browser = plain_chromium[0]
    lab = Lab()
    try:
        py = lab.peer("py")
        tab = lab.browser("tab")
        page = open_tab(browser, tab.url, [])
        pid = tab.wait_joined_sync(WAIT)
        wait_until(lambda: bool(stats_from(lab, pid, py.pid)), "the tab's link stats")
        lab.stop_relay_sync()  # from here on only the data channel carries anything
        big = "x" * 200_000
        py.put("chat.big", big)
        assert page.evaluate(LENGTH_IN_TAB, ["big", len(big)]) == len(big)
        page.evaluate("n => { window.gun.get('chat').get('fromtab').put('y'.repeat(n)); }", 200_000)

        def from_tab() -> int:
            got = py.gun.read_now(lambda: py.gun.graph.nodes.get("chat", {}).get("fromtab"), None)
            return len(got) if isinstance(got, str) else 0

        wait_until(lambda: from_tab() == 200_000, "the tab's 200 kB value at py")
        mid = py.put("chat.toobig", "z" * 300_000)
        dropped = lab.bus.wait_for(
            lambda e: isinstance(e, trace.Dropped) and e.node == py.pid and e.msg_id == mid,
            WAIT,
            past=True,
        )
        assert isinstance(dropped, trace.Dropped)
        assert dropped.cause is trace.DropCause.FRAME_TOO_BIG and dropped.peer == pid, dropped
        page.close()
    finally:
        lab.close()
