"""Is this process in a network where the only way out is loopback?

WebRTC tests may send packets to loopback only. ``scripts/test`` runs the suite in a fresh
network namespace (``unshare -n``) that has nothing but ``lo``; a WebRTC test calls
``require_loopback_only()`` and skips, saying why, anywhere else.
"""

from __future__ import annotations

import socket

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
