"""Is this process in a network where the only way out is loopback?

WebRTC tests may send packets to loopback only. ``scripts/test`` runs the suite in a fresh
network namespace (``unshare -n``) that has nothing but ``lo``; a WebRTC test calls
``require_loopback_only()`` and skips, saying why, anywhere else.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator

import pytest


def loopback_only() -> tuple[bool, str]:
    """True when every interface of this network namespace is loopback (asked of the kernel
    through if_nameindex and the addresses aioice itself would gather from)."""
    import ipaddress

    import ifaddr

    names = [name for _, name in socket.if_nameindex()]
    addrs = [
        ip.ip if isinstance(ip.ip, str) else ip.ip[0]
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
    ]
    outside = [a for a in addrs if not ipaddress.ip_address(a.split("%")[0]).is_loopback]
    if names != ["lo"] or outside:
        return False, (
            f"this network namespace has {names} with addresses {outside}; WebRTC tests run "
            "only where nothing but loopback exists: run scripts/test as root (unshare -n)"
        )
    return True, "only lo"


def require_loopback_only() -> None:
    ok, why = loopback_only()
    if not ok:
        pytest.skip(why)


#: the test-only interface's name and address (a documentation range: never routed outside)
TEST_IF = "gktest0"
TEST_ADDR = "198.51.100.1"


@contextlib.contextmanager
def chromium_interface() -> Iterator[str]:
    """A test-only interface in this (loopback-only) namespace, so Chromium gathers a host
    candidate: it never offers loopback addresses, and gathers none at all without a
    non-loopback interface that carries the default route. The interface is an ``ifb`` (a
    device with no far end: what is sent out of it is dropped, so nothing leaves the
    namespace); traffic to its own address stays on this machine. Yields the address;
    removes the interface afterwards, so ``require_loopback_only`` holds again."""
    require_loopback_only()
    steps = [
        ["ip", "link", "add", TEST_IF, "type", "ifb"],
        ["ip", "addr", "add", f"{TEST_ADDR}/24", "dev", TEST_IF],
        ["ip", "link", "set", TEST_IF, "up"],
        ["ip", "link", "set", TEST_IF, "multicast", "on"],
        ["ip", "route", "add", "default", "dev", TEST_IF],
    ]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=10)
            if done.returncode != 0:
                pytest.skip(
                    f"cannot make a test-only interface ({' '.join(step)}: {done.stderr.strip()})"
                )
        yield TEST_ADDR
    finally:
        subprocess.run(["ip", "link", "del", TEST_IF], capture_output=True, timeout=10)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def udp_blocked() -> Iterator[None]:
    """UDP refused by a routing rule in this (loopback-only) namespace, TCP still going: what a
    kernel on Binder lives with. Sending a datagram fails at once with ``EACCES``. The rules
    are restored afterwards."""
    require_loopback_only()
    _ip("rule", "add", "pref", "5", "ipproto", "udp", "prohibit")
    _ip("rule", "del", "pref", "0")
    _ip("rule", "add", "pref", "10", "lookup", "local")
    try:
        yield
    finally:
        _ip("rule", "del", "pref", "5")
        _ip("rule", "add", "pref", "0", "lookup", "local")
        _ip("rule", "del", "pref", "10")
