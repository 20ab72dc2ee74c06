"""The one place that reads aiortc's and aioice's state for a link's statistics.

Why: aiortc's ``getStats()`` has no candidate pairs, so to say why a link does not open we read
what aioice keeps. Public API where it exists: the peer connection's and transports' states
(``pc.connectionState``, ``pc.iceConnectionState``, ``pc.sctp.state``, the DTLS transport's
``state``), the channels' ``readyState``/``bufferedAmount``, aioice's ``Connection``
``local_candidates``/``remote_candidates``. Private attributes only where nothing public holds
the fact, all named in ``PRIVATE`` (``tests/integration/test_aiortc_internals.py`` asserts each
one on a real open link, so an aiortc or aioice upgrade that moves one fails there, loudly):

- ``RTCIceTransport._connection``: aioice's ``Connection`` (aiortc exposes no handle to it);
- ``Connection._check_list``: the candidate pairs and their ``CandidatePair.State``;
- ``Connection._nominated``: the selected pair per component;
- ``Candidate._network_host``: the address aioice resolved an mDNS name to;
- ``RTCSctpTransport._srtt``: SCTP's smoothed round-trip time (RFC 4960 section 6.3.1).

Reading never raises: what cannot be read is left out and its name listed in ``unread``.
``udp_probe`` sends one datagram to tell "the OS refuses UDP here" (Binder) from "the far end
never answered".
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from typing import Any, Protocol, TypedDict

from gunrtc_kit.trace import CandidateInfo, ChannelInfo, PairInfo

__all__ = [
    "CAP",
    "MDNS_GROUP",
    "PRIVATE",
    "Counters",
    "Snapshot",
    "candidate_info",
    "candidates_in_sdp",
    "connection_states",
    "family_of",
    "probe_targets",
    "snapshot",
    "udp_probe",
]

CAP = 32  # candidates and pairs kept per list in a snapshot; the rest are counted in ``more``
PROBE_WAIT = 0.3  # seconds a probe waits for the OS to report an ICMP refusal
PROBE_MAX = 4  # distinct remote addresses probed per link
MDNS_GROUP = ("224.0.0.251", 5353)  # where an mDNS name is asked for (RFC 6762)

#: every private attribute this module reads, as ``owner.attribute``
PRIVATE = (
    "RTCIceTransport._connection",
    "Connection._check_list",
    "Connection._nominated",
    "Candidate._network_host",
    "RTCSctpTransport._srtt",
)


class Counters(Protocol):
    """What a snapshot reads of the link besides aiortc's objects (``WebRTCPeer`` has it)."""

    pc: Any
    channel: Any
    remote_channel: Any
    sent: int
    received: int
    bytes_sent: int
    bytes_received: int
    signalled: list[CandidateInfo]


class Snapshot(TypedDict):
    """A link's state now: the ``trace.LinkStats`` fields that come from aiortc/aioice."""

    pc: str
    ice: str
    gathering: str
    dtls: str
    sctp: str
    channels: dict[str, ChannelInfo]
    local_candidates: list[CandidateInfo]
    remote_candidates: list[CandidateInfo]
    pairs: list[PairInfo]
    selected: PairInfo | None
    more: dict[str, int]
    rtt: float | None
    messages_sent: int
    messages_received: int
    bytes_sent: int
    bytes_received: int
    buffered: int
    unread: list[str]


def family_of(address: str) -> str:
    """``ipv4``, ``ipv6``, ``mdns`` (a ``.local`` name) or ``other``."""
    if address.endswith(".local"):
        return "mdns"
    try:
        return f"ipv{ipaddress.ip_address(address.split('%')[0]).version}"
    except ValueError:
        return "other"


def candidate_info(cand: Any, resolved: str = "") -> CandidateInfo:
    """A plain record of an aioice ``Candidate`` (``host``, ``transport``) or an aiortc
    ``RTCIceCandidate`` (``ip``, ``protocol``)."""
    address = str(getattr(cand, "host", None) or getattr(cand, "ip", "") or "")
    protocol = str(getattr(cand, "transport", None) or getattr(cand, "protocol", "") or "")
    if not resolved and family_of(address) != "mdns":
        resolved = address
    return CandidateInfo(
        address=address,
        resolved=resolved,
        port=int(getattr(cand, "port", 0) or 0),
        type=str(getattr(cand, "type", "") or ""),
        protocol=protocol.lower(),
        family=family_of(address),
    )


def candidates_in_sdp(sdp: str) -> list[CandidateInfo]:
    """The candidates an SDP carries (``a=candidate:`` lines), through aioice's parser."""
    from aioice import Candidate

    out: list[CandidateInfo] = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            with contextlib.suppress(ValueError, IndexError):
                out.append(candidate_info(Candidate.from_sdp(line[len("a=") :])))
    return out


def connection_states(pc: Any) -> dict[str, str]:
    """The ``pc``, ``ice``, ``dtls`` and ``sctp`` states (public API), "" where absent."""
    sctp = getattr(pc, "sctp", None)
    dtls = getattr(sctp, "transport", None)
    return {
        "pc": str(getattr(pc, "connectionState", "") or ""),
        "ice": str(getattr(pc, "iceConnectionState", "") or ""),
        "dtls": str(getattr(dtls, "state", "") or ""),
        "sctp": str(getattr(sctp, "state", "") or ""),
    }


def _connection(pc: Any, unread: list[str]) -> Any:
    """aioice's ``Connection`` under ``pc`` (private), or None."""
    ice = getattr(getattr(getattr(pc, "sctp", None), "transport", None), "transport", None)
    if ice is None:
        return None
    conn = getattr(ice, "_connection", None)
    if conn is None:
        unread.append("RTCIceTransport._connection")
    return conn


def _addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _remote(conn: Any, signalled: list[CandidateInfo], unread: list[str]) -> list[CandidateInfo]:
    """Remote candidates as signalled, each with the address aioice resolved it to (if it
    took it), then those aioice learned by itself (peer-reflexive)."""
    known: dict[tuple[str, int], str] = {}
    for cand in list(getattr(conn, "remote_candidates", []) if conn is not None else []):
        network = getattr(cand, "_network_host", None)
        if network is None:
            if "Candidate._network_host" not in unread:
                unread.append("Candidate._network_host")
            network = cand.host if family_of(cand.host) != "mdns" else ""
        known[(str(cand.host), int(cand.port))] = str(network)
    out: list[CandidateInfo] = []
    for c in signalled:
        key = (c["address"], c["port"])
        out.append({**c, "resolved": known.pop(key, c["resolved"])})
    for cand in list(getattr(conn, "remote_candidates", []) if conn is not None else []):
        key = (str(cand.host), int(cand.port))
        if key in known:
            out.append(candidate_info(cand, known.pop(key)))
    return out


def _pairs(conn: Any, unread: list[str]) -> tuple[list[PairInfo], PairInfo | None]:
    """aioice's check list (private) and its nominated pair (private)."""
    if conn is None:
        return [], None
    check_list = getattr(conn, "_check_list", None)
    if check_list is None:
        unread.append("Connection._check_list")
        check_list = []
    nominated = getattr(conn, "_nominated", None)
    if nominated is None:
        unread.append("Connection._nominated")
        nominated = {}
    chosen = {id(p) for p in list(nominated.values())}
    pairs: list[PairInfo] = []
    selected: PairInfo | None = None
    for pair in list(check_list):
        try:
            local, remote = pair.local_candidate, pair.remote_candidate
            info = PairInfo(
                local=_addr(local.host, local.port),
                remote=_addr(remote.host, remote.port),
                state=pair.state.name.lower().replace("_", "-"),
                nominated=id(pair) in chosen or bool(pair.nominated),
            )
        except AttributeError:
            continue
        pairs.append(info)
        if id(pair) in chosen and selected is None:
            selected = info
    return pairs, selected


def _channels(peer: Counters) -> dict[str, ChannelInfo]:
    out: dict[str, ChannelInfo] = {}
    for whose, name in (("local", "channel"), ("remote", "remote_channel")):
        ch = getattr(peer, name, None)
        if ch is not None:
            out[whose] = ChannelInfo(
                state=str(getattr(ch, "readyState", "")),
                buffered=int(getattr(ch, "bufferedAmount", 0) or 0),
            )
    return out


def _rtt(pc: Any, unread: list[str]) -> float | None:
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return None
    if not hasattr(sctp, "_srtt"):
        unread.append("RTCSctpTransport._srtt")
        return None
    srtt = sctp._srtt
    return float(srtt) if isinstance(srtt, int | float) else None


def _capped(items: list[Any], name: str, more: dict[str, int]) -> list[Any]:
    if len(items) > CAP:
        more[name] = len(items) - CAP
    return items[:CAP]


def snapshot(peer: Counters) -> Snapshot:
    """The link's state now, as plain data; never raises (see the module docstring)."""
    pc = getattr(peer, "pc", None)
    unread: list[str] = []
    states = connection_states(pc)
    conn = _connection(pc, unread)
    local = [candidate_info(c) for c in list(getattr(conn, "local_candidates", []) or [])]
    remote = _remote(conn, list(getattr(peer, "signalled", [])), unread)
    pairs, selected = _pairs(conn, unread)
    channels = _channels(peer)
    more: dict[str, int] = {}
    return Snapshot(
        pc=states["pc"],
        ice=states["ice"],
        gathering=str(getattr(pc, "iceGatheringState", "") or ""),
        dtls=states["dtls"],
        sctp=states["sctp"],
        channels=channels,
        local_candidates=_capped(local, "local_candidates", more),
        remote_candidates=_capped(remote, "remote_candidates", more),
        pairs=_capped(pairs, "pairs", more),
        selected=selected,
        more=more,
        rtt=_rtt(pc, unread),
        messages_sent=int(getattr(peer, "sent", 0)),
        messages_received=int(getattr(peer, "received", 0)),
        bytes_sent=int(getattr(peer, "bytes_sent", 0)),
        bytes_received=int(getattr(peer, "bytes_received", 0)),
        buffered=sum(c["buffered"] for c in channels.values()),
        unread=unread,
    )


def probe_targets(remote: Iterable[CandidateInfo]) -> list[tuple[str, int]]:
    """Distinct UDP ``(ip, port)`` of remote candidates to probe (at most ``PROBE_MAX``): the
    resolved address of each, IP literals only. When there is none (the far end offered only
    mDNS names that did not resolve, or no candidate at all), the mDNS group (``MDNS_GROUP``):
    resolving a name needs UDP to it, and a refusal there says this machine sends no UDP at
    all (a kernel on Binder, whose tab offers only names)."""
    out: list[tuple[str, int]] = []
    remote = list(remote)
    for c in remote:
        host = c["resolved"] or c["address"]
        if c["protocol"] != "udp" or family_of(host) not in ("ipv4", "ipv6"):
            continue
        if (host, c["port"]) not in out:
            out.append((host, c["port"]))
        if len(out) >= PROBE_MAX:
            break
    if not out:
        out.append(MDNS_GROUP)
    return out


def _stun_binding() -> bytes:
    """A STUN binding request with no attributes (RFC 5389): an ICE agent answers it with an
    error or ignores it; nothing on the far end mistakes it for DTLS or media."""
    return struct.pack("!HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)


def _mdns_query() -> bytes:
    """An mDNS query (RFC 6762) for the A record of a name nobody holds: to the mDNS group a
    probe says what mDNS speakers expect, never a STUN request."""
    name = b"".join(bytes([len(p)]) + p for p in (b"gunrtc-kit-probe", b"local")) + b"\0"
    return struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, f"errno {exc.errno}")


async def udp_probe(host: str, port: int, wait: float = PROBE_WAIT) -> str | None:
    """Send one datagram to ``host:port``; return the errno name when the OS refuses it
    (``EACCES``/``EPERM`` from a firewall or routing rule, ``ENETUNREACH``, ``EHOSTUNREACH``,
    or ``ECONNREFUSED`` from an ICMP port-unreachable within ``wait`` s), None when it went."""
    family = socket.AF_INET6 if family_of(host) == "ipv6" else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        try:
            sock.connect((host, port))
            sock.send(_mdns_query() if (host, port) == MDNS_GROUP else _stun_binding())
        except OSError as exc:
            return _errno_name(exc)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 2048), wait)
        except TimeoutError:
            return None
        except OSError as exc:
            return _errno_name(exc)
        return None
    finally:
        sock.close()
