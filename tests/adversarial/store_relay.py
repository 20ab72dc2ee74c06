"""``gunrtc-kit`` (the real CLI, in this process) with knobs the store fault tests need.

Run as ``python -m tests.adversarial.store_relay [--hang-stop] relay --port 0 --store F``.
The first stdout line is the CLI's own ("listening on ws://..."). Then stdin takes commands,
each answered by a stdout line ``control: ...``:

- ``fsize N``: set the soft ``RLIMIT_FSIZE`` to N bytes, so a write past N fails with EFBIG as
  on a full disk (SIGXFSZ is ignored here, else the kernel would kill the process instead);
- ``fsize max``: raise it back to the hard limit ("room is made").

``--hang-stop`` makes ``Relay.stop`` never return, to show the CLI exits anyway.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
import threading

from gunrtc_kit import cli
from gunrtc_kit.relay import Relay

_lock = threading.Lock()


def _say(text: str) -> None:
    with _lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _control() -> None:
    for line in sys.stdin:
        words = line.split()
        if len(words) == 2 and words[0] == "fsize":
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            soft = hard if words[1] == "max" else int(words[1])
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            _say(f"control: fsize {words[1]}")
        else:
            _say(f"control: unknown {line.strip()!r}")


async def _never(self: Relay) -> None:
    while True:  # stuck for good: even a cancel does not end it
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["--hang-stop"]:
        argv = argv[1:]
        Relay.stop = _never  # type: ignore[method-assign]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    threading.Thread(target=_control, name="store-relay-control", daemon=True).start()
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
