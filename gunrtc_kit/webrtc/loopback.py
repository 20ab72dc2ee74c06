"""Gather ICE host candidates only on chosen addresses (``WebRTCOptions.host_addresses``).

aioice collects host candidates from every interface and always skips 127.0.0.1, and aiortc
offers no setting for either. aioice looks its address list up through the module function
``aioice.ice.get_host_addresses`` each time it gathers, so we wrap that function once (lazily,
the first time a peer with ``host_addresses`` gathers; never at import) and let the wrapper read
a context variable that ``WebRTCPeer`` sets around its own ``setLocalDescription``. Other
aiortc users in the process, whose context does not set it, get aioice's own behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

__all__ = ["only_hosts"]

_HOSTS: ContextVar[tuple[str, ...] | None] = ContextVar("gunrtc_host_addresses", default=None)
_installed = False


def _install() -> None:
    global _installed
    if _installed:
        return
    import aioice.ice

    original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        wanted = _HOSTS.get()
        if wanted is None:
            return original(use_ipv4, use_ipv6)
        return [a for a in wanted if (use_ipv6 if ":" in a else use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
    _installed = True


@contextlib.contextmanager
def only_hosts(addresses: Sequence[str] | None) -> Iterator[None]:
    """Within this block (and tasks started in it) gather host candidates on ``addresses``."""
    if addresses is None:
        yield
        return
    _install()
    token = _HOSTS.set(tuple(addresses))
    try:
        yield
    finally:
        _HOSTS.reset(token)
