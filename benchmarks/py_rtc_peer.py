"""Our WebRTC peer as a process, speaking the same JSON-line protocol as
interop/gunjs_rtc_peer.js, so the benchmarks drive both sides the same way, one process per
peer. ``python benchmarks/py_rtc_peer.py <relay-url> <room>``

Mirrors the Node script's start-up too: the WebRTC library is loaded before ``ready`` (Node
requires @roamhq/wrtc at the top; our manager would otherwise import aiortc when it starts),
and every event is stamped with whole ms since the epoch, as ``Date.now()`` stamps them."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunrtc_kit import Gun, WebRTCOptions, trace  # noqa: E402
from gunrtc_kit.webrtc.noav import load_aiortc  # noqa: E402

# loaded before "ready", as the Node peer loads wrtc; as the manager loads it (PyAV left out
# unless GUNRTC_KIT_LOAD_AV=1, see gunrtc_kit/webrtc/noav.py)
load_aiortc()


def out(obj: dict[str, Any]) -> None:
    obj["t"] = time.time_ns() // 1_000_000  # Date.now(): whole ms
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(url: str, room: str) -> None:
    gun = Gun([url], rtc=WebRTCOptions(ice_servers=[], room=room, host_addresses=["127.0.0.1"]))

    def on_event(e: trace.Event) -> None:
        if isinstance(e, trace.Hi) and e.node == gun.pid and e.transport == "dc":
            out({"event": "hi", "peer": e.peer, "rtc": True})
        elif isinstance(e, trace.Hi) and e.node == gun.pid and e.transport == "ws" and not e.pid:
            out({"event": "hi", "peer": e.peer, "rtc": False})

    gun.bus.keep = 0
    gun.bus.subscribe(on_event, (trace.Hi,))
    out({"event": "ready", "pid": gun.pid})
    await gun.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[Any]] = set()
    while line := await reader.readline():
        c = json.loads(line)
        if c["cmd"] == "on":
            gun.get(c["soul"]).map().on(
                lambda v, k, s=c["soul"]: out({"event": "data", "soul": s, "key": k, "value": v})
            )
            out({"event": "on", "soul": c["soul"]})
        elif c["cmd"] == "count":
            seen: set[str] = set()
            state = {"last": 0.0}

            def count(
                _v: Any,
                k: str,
                seen: set[str] = seen,
                n: int = c["n"],
                state: dict[str, float] = state,
            ) -> None:
                if k not in seen:
                    seen.add(k)
                    state["last"] = time.time_ns() // 1_000_000
                    if len(seen) == n:
                        out({"event": "counted", "n": n, "last": state["last"]})

            gun.get(c["soul"]).map().on(count)

            async def progress(seen: set[str] = seen, state: dict[str, float] = state) -> None:
                while True:
                    await asyncio.sleep(0.25)
                    out({"event": "progress", "n": len(seen), "last": state["last"]})

            tasks.add(loop.create_task(progress()))
            out({"event": "counting", "soul": c["soul"]})
        elif c["cmd"] == "burst":
            out({"event": "burst-start", "soul": c["soul"]})
            for i in range(c["n"]):
                gun.get(c["soul"]).get(f"k{i}").put(i)
            out({"event": "burst-sent", "soul": c["soul"], "n": c["n"]})
        elif c["cmd"] == "exit":
            break
    await gun.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
