"""One WebRTC link on aiortc: an ``RTCPeerConnection`` and Gun's data channel ``dc``.

As Gun.js does, each side opens its own channel labelled ``dc`` (not pre-negotiated,
``ordered=False, maxRetransmits=2`` by default), sends on the one it made and reads both:
after connecting there are two SCTP channels per link. Text from either goes to
``on_message``; ``on_open`` fires once, when the first channel opens; ``on_close`` once, when
the link closes or fails.

aiortc does not trickle ICE: ``setLocalDescription`` gathers every candidate and puts them in
the SDP, so ``create_offer``/``create_answer`` return descriptions that already carry them.
Candidates the other side trickles (browsers and Node's wrtc do) are added with
``add_ice_candidate``; those arriving before the remote description are held and applied after.
Errors raised deep inside aiortc on bad remote input come out as ``WebRTCError``.

Sending respects the data channel's ``bufferedAmount``. aiortc's ``send`` never refuses: it
appends to an unbounded queue that only drains as fast as the far end acknowledges, so a far
end that stops reading would grow us without bound. Past the high-water mark ``send`` raises
``NetworkError`` (the wire is not writable now) instead of queueing a second time here: the
mesh already keeps a bounded queue per peer for exactly that case, with ``trace.Dropped`` when
it is full, so one queue and one set of limits and events cover every wire. When the buffer
falls to the low-water mark, ``on_writable`` fires and the manager lets the mesh drain.

Every state aiortc reports is put on the trace bus as ``trace.RtcState`` with its ``layer``, so
a view can tell where a link is stuck: ``pc`` (connectionState), ``ice`` (iceConnectionState:
aiortc has new/checking/completed/failed/closed, no connected/disconnected), ``ice-gathering``,
``dtls`` (the DTLS transport's ``statechange``), ``dc`` (each channel's readyState; aiortc emits
only open and close, so ``closing`` is never seen), ``sctp`` (aiortc's RTCSctpTransport has a
``state`` but no event: it is read when a data channel opens or closes and on pc/DTLS changes,
and reported when it moved) and ``pair`` (the nominated ICE candidate pair once ICE completes,
read from aioice's connection; if aiortc's internals move, that event is simply not sent).

For ``trace.LinkStats`` (read by ``gunrtc_kit.webrtc.stats``) the peer keeps what aiortc does
not: the remote candidates as they were signalled (``signalled``: in the remote SDP and in
``add_ice_candidate``, before aioice resolves or drops them), byte counters each way beside the
message counters, and who ended the link (``ended_by``: "local" when ``close`` was called
first, "remote" when the channels or the connection closed or failed under us) with the
connection's states at that moment (``at_close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from gunrtc_kit import trace
from gunrtc_kit.errors import LimitError, NetworkError, WebRTCError
from gunrtc_kit.webrtc import stats
from gunrtc_kit.webrtc.loopback import only_hosts
from gunrtc_kit.webrtc.options import WebRTCOptions
from gunrtc_kit.webrtc.signaling import candidate_from_json, description_from_json

__all__ = ["WebRTCPeer"]

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 4 * 1024 * 1024
SEND_HIGH_WATER = 1024 * 1024  # bufferedAmount past which send refuses (NetworkError)
SEND_LOW_WATER = 256 * 1024  # bufferedAmount at which the channel is writable again
HELD_MAX = 64  # remote candidates kept until the remote description arrives
SIGNALLED_MAX = 64  # remote candidates remembered as signalled (for LinkStats)


class WebRTCPeer:
    """One RTCPeerConnection with Gun's data channel; see the module docstring."""

    def __init__(
        self,
        remote_pid: str,
        options: WebRTCOptions,
        *,
        on_message: Callable[[str], None],
        on_open: Callable[[], None],
        on_close: Callable[[], None],
        bus: trace.TraceBus | None = None,
        node: str = "",
        on_writable: Callable[[], None] | None = None,
        high_water: int = SEND_HIGH_WATER,
        low_water: int = SEND_LOW_WATER,
    ) -> None:
        from aiortc import RTCPeerConnection

        if not 0 <= low_water < high_water:
            raise WebRTCError(
                f"low_water={low_water!r}, high_water={high_water!r}: expected 0 <= low < high"
            )

        self.remote_pid = remote_pid
        self.options = options
        self.bus = bus
        self.node = node
        self._on_message = on_message
        self._on_open = on_open
        self._on_close = on_close
        self._on_writable = on_writable
        self.high_water = high_water
        self.low_water = low_water
        self.refused_sends = 0  # frames refused because the channel's buffer was full
        self._opened = False
        self._closed = False
        self._held: list[Any] = []
        self.received = 0
        self.sent = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.signalled: list[trace.CandidateInfo] = []
        self.ended_by = ""  # "local" or "remote" once the link ended (see the module docstring)
        self.at_close: dict[str, str] = {}
        self.pc = RTCPeerConnection(configuration=options.to_rtc_configuration())
        dc = options.channel
        self.channel = self.pc.createDataChannel(
            "dc", ordered=dc.ordered, maxRetransmits=dc.max_retransmits
        )
        self.remote_channel: Any = None
        self._sctp_state = "new"  # the last SCTP state reported (aiortc starts at "new")
        self._dtls_watched: list[Any] = []
        self._watch(self.channel, "local")
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("iceconnectionstatechange", self._on_ice_state)
        self.pc.on("icegatheringstatechange", self._on_gathering_state)
        self._watch_dtls()

    # ------------------------------------------------------------------ state
    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    @property
    def ever_opened(self) -> bool:
        """Whether a data channel of this link opened at some point (it may be closed now)."""
        return self._opened

    @property
    def open(self) -> bool:
        return any(
            ch is not None and ch.readyState == "open" for ch in (self.channel, self.remote_channel)
        )

    def _state_event(self, state: str, layer: str = "pc", detail: str = "") -> None:
        if self.bus is not None:
            self.bus.emit(
                trace.RtcState(
                    self.bus.now(),
                    self.node,
                    self.remote_pid,
                    state=state,
                    layer=layer,
                    detail=detail,
                )
            )

    def _on_state(self) -> None:
        state = self.connection_state
        self._state_event(state)
        self._watch_dtls()
        self._report_sctp()
        if state in ("failed", "closed"):
            self._fire_close()

    def _on_ice_state(self) -> None:
        state = str(self.pc.iceConnectionState)
        self._state_event(state, "ice")
        if state == "completed":
            self._report_pair()

    def _on_gathering_state(self) -> None:
        self._state_event(str(self.pc.iceGatheringState), "ice-gathering")

    def _watch_dtls(self) -> None:
        """Listen to the DTLS transport under the data channels (again if aiortc swaps it)."""
        dtls: Any = getattr(self.pc.sctp, "transport", None)
        if not callable(getattr(dtls, "on", None)):
            log.debug("no DTLS transport to watch under %r", self.pc.sctp)
            return
        if any(d is dtls for d in self._dtls_watched):
            return
        self._dtls_watched.append(dtls)

        def changed() -> None:
            self._state_event(str(dtls.state), "dtls")
            self._report_sctp()

        dtls.on("statechange", changed)

    def _report_sctp(self) -> None:
        """Report the SCTP association's state if it moved since last reported (aiortc emits
        no event for it)."""
        state = getattr(self.pc.sctp, "state", None)
        if isinstance(state, str) and state != self._sctp_state:
            self._sctp_state = state
            self._state_event(state, "sctp")

    def _report_pair(self) -> None:
        """Report the nominated candidate pair, read from aioice's connection (private
        attributes: any change there means no event, never an error)."""
        sctp: Any = self.pc.sctp
        try:
            connection = sctp.transport.transport._connection
            nominated = connection._nominated
            pair = nominated[min(nominated)]
            detail = f"{_candidate(pair.local_candidate)} <-> {_candidate(pair.remote_candidate)}"
        except Exception as exc:
            log.debug("could not read the selected ICE candidate pair: %r", exc)
            return
        self._state_event("selected", "pair", detail)

    def _watch(self, channel: Any, whose: str) -> None:
        def opened() -> None:
            self._state_event("open", "dc", whose)
            self._report_sctp()
            self._fire_open()

        def closed() -> None:
            self._state_event("closed", "dc", whose)
            self._report_sctp()
            self._channel_closed()

        channel.on("open", opened)
        channel.on("close", closed)
        channel.on("message", self._message)
        # the two channels share the budget (see send): when their sum is over low_water, at
        # least one is over half of it, so its crossing below half is the wake-up we need
        channel.bufferedAmountLowThreshold = self.low_water // 2
        channel.on("bufferedamountlow", self._buffer_low)
        self._state_event(str(channel.readyState), "dc", whose)

    def _on_datachannel(self, channel: Any) -> None:
        self.remote_channel = channel
        self._watch(channel, "remote")
        if channel.readyState == "open":
            self._report_sctp()
            self._fire_open()

    def _buffer_low(self) -> None:
        """aiortc says a channel's buffer fell to the low-water mark: writable again."""
        if self._on_writable is None or self._closed:
            return
        try:
            self._on_writable()
        except Exception as exc:  # an event-emitter callback: report, never raise into aiortc
            log.debug("on_writable failed", exc_info=True)
            if self.bus is not None:
                self.bus.emit(
                    trace.Error(
                        self.bus.now(), self.node, self.remote_pid, error=f"on_writable: {exc!r}"
                    )
                )

    def _fire_open(self) -> None:
        if self._opened or self._closed:
            return
        self._opened = True
        self._on_open()

    def _channel_closed(self) -> None:
        if not self.open:
            self._fire_close()

    def _fire_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._ended("remote")
        self._on_close()

    def _ended(self, by: str) -> None:
        """Record who ended the link first, and the connection's states at that moment."""
        if not self.ended_by:
            self.ended_by = by
            self.at_close = stats.connection_states(self.pc)

    def _message(self, data: str | bytes) -> None:
        self.received += 1
        self.bytes_received += len(data)
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                if self.bus is not None:
                    self.bus.emit(
                        trace.Error(
                            self.bus.now(),
                            self.node,
                            self.remote_pid,
                            error=f"binary data-channel message of {len(data)} bytes "
                            "is not UTF-8 text; ignored",
                        )
                    )
                return
        self._on_message(data)

    # ------------------------------------------------------------------ signalling
    async def create_offer(self) -> dict[str, Any]:
        offer = await self.pc.createOffer()
        with only_hosts(self.options.host_addresses):
            await self.pc.setLocalDescription(offer)
        self._widen_receive_buffers()
        return self._local()

    async def create_answer(self) -> dict[str, Any]:
        if self.pc.remoteDescription is None:
            raise WebRTCError("create_answer needs the remote offer first")
        answer = await self.pc.createAnswer()
        with only_hosts(self.options.host_addresses):
            await self.pc.setLocalDescription(answer)
        self._widen_receive_buffers()
        return self._local()

    def _widen_receive_buffers(self) -> None:
        """Ask for 4 MiB UDP receive buffers (the OS caps it at net.core.rmem_max).

        aiortc reads datagrams on the event loop; while the loop is busy a burst larger than
        the default buffer (208 KiB) is dropped by the kernel (RcvbufErrors), and on Gun's
        ``maxRetransmits: 2`` channel retransmissions then run out and messages are lost.
        aiortc has no setting for it, so we reach the sockets through its ICE transport; if
        that path changes in a later aiortc, we carry on with the default buffers.
        """
        sctp = self.pc.sctp
        if sctp is None:
            return
        try:
            ice = sctp.transport.transport
            for protocol in ice._connection._protocols:
                sock = protocol.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except (AttributeError, OSError) as exc:
            log.debug("could not widen UDP receive buffers: %r", exc)

    def _local(self) -> dict[str, Any]:
        desc = self.pc.localDescription
        return {"type": desc.type, "sdp": desc.sdp}

    async def set_remote_description(self, desc: Any) -> None:
        session = description_from_json(desc)
        try:
            await self.pc.setRemoteDescription(session)
        except Exception as exc:  # aiortc raises ValueError, KeyError, IndexError... on bad SDP
            raise WebRTCError(f"invalid {session.type}: {exc!r}") from None
        self._remember(stats.candidates_in_sdp(str(session.sdp)))
        held, self._held = self._held, []
        for cand in held:
            await self._add(cand)

    async def add_ice_candidate(self, cand: Any) -> None:
        ice = candidate_from_json(cand)
        if ice is None:
            return
        self._remember([stats.candidate_info(ice)])
        if self.pc.remoteDescription is None:
            if len(self._held) >= HELD_MAX:
                raise LimitError(
                    f"{HELD_MAX} candidates from {self.remote_pid} already wait for its "
                    "description (HELD_MAX); this one is dropped"
                )
            self._held.append(ice)
            return
        await self._add(ice)

    def _remember(self, cands: list[trace.CandidateInfo]) -> None:
        """Keep remote candidates as signalled (bounded, each address once)."""
        seen = {(c["address"], c["port"], c["protocol"]) for c in self.signalled}
        for c in cands:
            key = (c["address"], c["port"], c["protocol"])
            if key not in seen and len(self.signalled) < SIGNALLED_MAX:
                seen.add(key)
                self.signalled.append(c)

    async def _add(self, ice: Any) -> None:
        try:
            await self.pc.addIceCandidate(ice)
        except Exception as exc:
            raise WebRTCError(f"could not add ICE candidate: {exc!r}") from None

    # ------------------------------------------------------------------ data
    def send(self, text: str) -> None:
        """Send one frame on the first open channel, or raise ``NetworkError``: no channel is
        open, or our channels (both ride one SCTP association, and which one is open first
        varies) already buffer more than ``low_water`` together and this frame would take them
        past ``high_water``. So at most ``high_water`` plus one frame is ever buffered; below
        ``low_water`` a frame always goes, so a frame larger than the mark is not stuck; and a
        refusal always has a later ``bufferedamountlow`` that ends it (see ``_watch``). A frame
        over the far end's ``max-message-size`` (256 KiB between aiortc peers, 64 KiB by default)
        raises ``LimitError``."""
        for ch in (self.channel, self.remote_channel):
            if ch is not None and ch.readyState == "open":
                buffered = self.buffered
                if buffered > self.low_water and buffered + len(text) > self.high_water:
                    self.refused_sends += 1
                    raise NetworkError(
                        f"data channel to {self.remote_pid} is not writable: bufferedAmount="
                        f"{buffered} over high_water={self.high_water}"
                    )
                try:
                    ch.send(text)
                except ValueError as exc:  # aiortc: over the far end's max-message-size
                    raise LimitError(f"data channel to {self.remote_pid}: {exc}") from None
                self.sent += 1
                self.bytes_sent += len(text)
                return
        raise NetworkError(f"no open data channel to {self.remote_pid}")

    @property
    def buffered(self) -> int:
        """Bytes our channels hold that the far end has not taken yet (``bufferedAmount``)."""
        return sum(
            int(ch.bufferedAmount) for ch in (self.channel, self.remote_channel) if ch is not None
        )

    async def close(self) -> None:
        """Close the connection (bounded to 5 s) and fire ``on_close`` once."""
        self._ended("local")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5)
        self._fire_close()


def _candidate(cand: Any) -> str:
    """``host:port type protocol`` of an aioice candidate, as the ``pair`` detail shows it."""
    return f"{cand.host}:{cand.port} {cand.type} {str(cand.transport).lower()}"
