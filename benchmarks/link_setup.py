"""WebRTC link setup from a browser tab: tab <-> our Python peer against tab <-> a Node Gun.js peer.

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python benchmarks/link_setup.py'

(``run.py --only link_setup`` does that for you.) Inside a network namespace that has only
``lo``, this adds ``tests/netns.chromium_interface()`` (a test-only ``ifb`` interface with the
default route: Chromium gathers no ICE candidate at all without one; nothing leaves the
namespace) and runs Debian's chromium headless through Playwright, started once, outside every
timed window.

One sample, the same for both sides: a fresh ``Lab`` (its relay, a room of its own) and the
far peer in that room, given 0.5 s to settle after it reached the relay: (ours) a Lab peer,
``lab.peer("far")`` (aiortc, in this process, on the Lab's runtime thread beside the relay);
(gunjs) ``interop/gunjs_rtc_peer.js`` (npm gun + lib/webrtc.js on @roamhq/wrtc, its own
process) dialling the Lab relay's URL. Then a fresh browser context opens ``lab.browser()``'s
page, whose npm gun joins the relay and the room; npm gun's lib/webrtc.js in the tab and the
far peer link through the relay (the far peer, already in the room, offers).

Timed from the tab's Gun starting (npm gun's ``opt`` event for the page's ``Gun(...)`` call,
``performance.now()`` in the page, hooked by an init script) to a data channel ``open``:

- tab side: the first ``open`` of a data channel on the tab's RTCPeerConnection (the init
  script wraps the page's RTCPeerConnection), on the page's clock only;
- far side: ours: the trace's ``RtcState(layer="dc", state="open")`` for the tab's pid on
  ``lab.bus`` (monotonic clock, mapped to the epoch); Gun.js: the peer's ``hi`` line for the
  tab's pid (npm gun's ``mesh.hi``, called from the channel's ``onopen``; ``Date.now()``, whole
  ms);
- both: the later of the two, against the tab's start, all on the epoch
  (``performance.timeOrigin + performance.now()`` in the page).

Samples alternate which side goes first; ``--warmup`` unrecorded samples per side go first.
Prints one JSON object: per side the lists of samples in ms with their median, min, max, p90
and n; the medians of the tab's steps (``PHASES``); how often the tab offered (expected: never,
the far peer offers); the page-vs-Python clock check; the load average at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunrtc_kit import trace  # noqa: E402
from gunrtc_kit.lab import Lab  # noqa: E402
from tests.interop.gunjs import GunJsRtcPeer  # noqa: E402
from tests.jlab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.netns import chromium_interface, loopback_only  # noqa: E402

SIDES = ("ours", "gunjs")
SETTLE = 0.5  # s the far peer has in its room before the tab opens
WAIT = 30.0  # s for a link, per side

# Runs before the page's scripts: marks npm gun's "opt" event (the page calling Gun(...)) and
# every data channel's "open" on the page's RTCPeerConnections (lib/webrtc.js's own handlers
# stay as they are: these are extra listeners).
HOOK = r"""
(() => {
  const B = window.__bench = {
    start: null, relayHi: null, announce: null, opens: [], pcs: [], tabOffered: false,
    hookError: null,
  };
  const Native = window.RTCPeerConnection;
  class Timed extends Native {
    constructor(...args) {
      super(...args);
      const pc = { created: performance.now(), ice: null, dtls: null };
      B.pcs.push(pc);
      this.addEventListener("iceconnectionstatechange", () => {
        const s = this.iceConnectionState;
        if (pc.ice === null && (s === "connected" || s === "completed")) pc.ice = performance.now();
      });
      this.addEventListener("connectionstatechange", () => {
        if (pc.dtls === null && this.connectionState === "connected") pc.dtls = performance.now();
      });
      this.addEventListener("datachannel", (e) => this.__mark(e.channel, "remote"));
    }
    __mark(channel, whose) {
      channel.addEventListener("open", () => {
        B.opens.push({ id: this.id || null, whose, t: performance.now() });
      });
    }
    createOffer(...args) {
      B.tabOffered = true;
      return super.createOffer(...args);
    }
    createDataChannel(...args) {
      const channel = super.createDataChannel(...args);
      this.__mark(channel, "local");
      return channel;
    }
  }
  window.RTCPeerConnection = Timed;
  let gun;
  Object.defineProperty(window, "Gun", {
    configurable: true,
    enumerable: true,
    get() { return gun; },
    set(v) {
      gun = v;
      try {
        v.on("opt", function (root) {
          if (B.start === null) {
            B.start = performance.now();
            root.on("out", function (msg) {
              const put = B.announce === null && msg && msg.put;
              const soul = put && (typeof put["#"] === "string" ? put["#"] : Object.keys(put)[0]);
              if (soul && String(soul).indexOf("/RTC/") === 0) B.announce = performance.now();
              this.to.next(msg);
            });
            root.on("hi", function (peer) {
              if (B.relayHi === null && peer.url) B.relayHi = performance.now();
              this.to.next(peer);
            });
          }
          this.to.next(root);
        });
      } catch (e) {
        B.hookError = String(e);
      }
    },
  });
})();
"""


async def far_ours(lab: Lab) -> str:
    """Our Lab peer in the Lab's room; returns its pid."""
    peer = await asyncio.to_thread(lab.peer, "far")
    return str(peer.gun.pid)


async def far_gunjs(lab: Lab, room: str) -> GunJsRtcPeer:
    """A Node Gun.js WebRTC peer in ``room``, on the Lab's relay (it dials lazily: a get)."""
    js = GunJsRtcPeer(lab.url.replace("ws://", "http://"), room)
    await js.__aenter__()
    await js.on("warmup")
    await js.wait_hi(WAIT)
    return js


def epoch_ms_of_monotonic(t: float) -> float:
    """A ``time.monotonic()`` stamp (the Lab bus's clock) as ms since the epoch."""
    return (time.time() - time.monotonic() + t) * 1000


async def clock_check(page: Any, tries: int = 5) -> tuple[float, float]:
    """The page's epoch clock minus Python's, and half the round trip that bounds it (ms),
    from the try with the shortest round trip."""
    best: tuple[float, float] | None = None
    for _ in range(tries):
        before = time.time() * 1000
        page_now = await page.evaluate("() => performance.timeOrigin + performance.now()")
        after = time.time() * 1000
        got = (page_now - (before + after) / 2, (after - before) / 2)
        best = got if best is None or got[1] < best[1] else best
    assert best is not None
    return best


#: the tab's steps, on the page's clock, ms from its Gun's start: the WebSocket to the relay
#: open (npm gun's ``hi``), its announce in the room said (``out``; queued until the socket
#: opens), the RTCPeerConnection made (the far peer's offer arrived, as the answer to the
#: announce), ICE connected, DTLS connected (connectionState), the first channel open
PHASES = ("relay_hi", "announce", "offer_in", "ice", "dtls", "dc_open")


def phases(b: dict[str, Any]) -> dict[str, float]:
    pc = b["pcs"][0] if b["pcs"] else {}
    first_open = b["opens"][0]["t"]
    marks = (
        b["relayHi"],
        b["announce"],
        pc.get("created"),
        pc.get("ice"),
        pc.get("dtls"),
        first_open,
    )
    return {
        f"phase_{name}_ms": (t - b["start"]) if t is not None else math.nan
        for name, t in zip(PHASES, marks, strict=True)
    }


async def one(browser: Any, side: str, tag: str) -> dict[str, float]:
    """One sample of ``side``: a fresh Lab, the far peer, a fresh tab; times in ms."""
    room = f"link-setup-{tag}"
    lab = await asyncio.to_thread(Lab, room=room)
    js: GunJsRtcPeer | None = None
    context = await browser.new_context()
    try:
        if side == "ours":
            far_pid = await far_ours(lab)
        else:
            js = await far_gunjs(lab, room)
            far_pid = js.pid
        await asyncio.sleep(SETTLE)
        tab = await asyncio.to_thread(lab.browser, "tab", rtc=True)
        await context.add_init_script(HOOK)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(tab.url)
        await page.wait_for_function(
            "() => window.__bench.opens.length > 0 && window.gun && window.gun._.opt.pid",
            timeout=WAIT * 1000,
        )
        b = await page.evaluate(
            "() => ({...window.__bench, pid: window.gun._.opt.pid, origin: performance.timeOrigin})"
        )
        if b["hookError"] or b["start"] is None:
            raise RuntimeError(f"the page's Gun start was not seen: {b['hookError']}")
        tab_pid = b["pid"]
        first = b["opens"][0]
        if first["id"] not in (None, far_pid):
            raise RuntimeError(f"the tab's first channel is to {first['id']}, not {far_pid}")
        if side == "ours":
            e = await lab.bus.until(
                lambda e: (
                    isinstance(e, trace.RtcState)
                    and e.layer == "dc"
                    and e.state == "open"
                    and e.node == far_pid
                    and e.peer == tab_pid
                ),
                WAIT,
                past=True,
            )
            far_open = epoch_ms_of_monotonic(e.t)
        else:
            assert js is not None
            hi = await js.wait_event(
                lambda e: e.get("event") == "hi" and e.get("rtc") and e.get("peer") == tab_pid,
                WAIT,
            )
            far_open = float(hi["t"])
        start = b["origin"] + b["start"]
        tab_open = b["origin"] + first["t"]
        skew, bound = await clock_check(page)
        if errors:
            raise RuntimeError(f"page errors: {errors}")
        return {
            "tab_ms": first["t"] - b["start"],
            "far_ms": far_open - start,
            "both_ms": max(tab_open, far_open) - start,
            "clock_skew_ms": skew,
            "clock_bound_ms": bound,
            "tab_offered": float(bool(b["tabOffered"])),
            **phases(b),
        }
    finally:
        await context.close()
        if js is not None:
            await js.stop()
        await asyncio.to_thread(lab.close)


def p90(values: list[float]) -> float:
    """The nearest-rank 90th percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "p90": p90(values),
        "n": len(values),
    }


async def run(repeats: int, warmup: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    samples: dict[str, list[dict[str, float]]] = {s: [] for s in SIDES}
    load_start = os.getloadavg()[0]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for w in range(warmup):
                for side in SIDES:
                    await one(browser, side, f"warm{w}-{side}")
            for rep in range(repeats):
                for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
                    samples[side].append(await one(browser, side, f"{rep}-{side}"))
        finally:
            await browser.close()
    out: dict[str, Any] = {"repeats": repeats, "warmup": warmup, "settle_s": SETTLE}
    out["loadavg_1min"] = [load_start, os.getloadavg()[0]]
    for key in ("both_ms", "tab_ms", "far_ms", "phase_offer_in_ms"):
        out[key] = {s: [x[key] for x in samples[s]] for s in SIDES}
        out[key + "_summary"] = {s: spread(out[key][s]) for s in SIDES}
    out["tab_phases_median_ms"] = {
        s: {name: statistics.median(x[f"phase_{name}_ms"] for x in samples[s]) for name in PHASES}
        for s in SIDES
    }
    out["tab_offered"] = {s: sum(x["tab_offered"] for x in samples[s]) for s in SIDES}
    skews = [x["clock_skew_ms"] for s in SIDES for x in samples[s]]
    bounds = [x["clock_bound_ms"] for s in SIDES for x in samples[s]]
    out["clock_check_ms"] = {"skew_min": min(skews), "skew_max": max(skews), "bound": max(bounds)}
    return out


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=10, help="samples per side, sides alternating")
    p.add_argument("--warmup", type=int, default=1, help="unrecorded samples per side first")
    a = p.parse_args()
    ok, why = loopback_only()
    if not ok:
        sys.stdout.write(json.dumps({"skipped": why}) + "\n")
        return 0
    if not CHROMIUM.exists():
        sys.stdout.write(json.dumps({"skipped": f"{CHROMIUM} is not installed"}) + "\n")
        return 0
    import pytest

    try:
        with chromium_interface():
            res = asyncio.run(run(a.repeats, a.warmup))
    except pytest.skip.Exception as exc:  # no test-only interface could be made
        res = {"skipped": str(exc)}
    sys.stdout.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
