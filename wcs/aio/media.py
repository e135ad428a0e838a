"""The media plane's sockets: one WebRTC port and one RTP/RTCP pair per SIP stream, per call.

:class:`MediaManager` implements :class:`wcs.gateway.media.MediaController` for the
gateway core.  Each call gets a sans-I/O :class:`~wcs.gateway.relay.CallRelay`; this
module only moves datagrams between the relay and non-blocking UDP sockets (read with
``loop.add_reader`` — no transport/protocol objects on the per-packet path) and keeps one
timer handle per call for ICE consent and DTLS retransmissions.

Ports come from ``media_port_from``..``media_port_to``: every allocation takes an even
port (RTP) and the odd port above it (RTCP, RFC 3550 §11); the WebRTC transport uses the
even port only (rtcp-mux).  A port someone else holds is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ..entropy import Entropy, SystemEntropy
from ..gateway.media import MediaAllocation, MediaError, MediaStateChanged
from ..gateway.relay import BROWSER, CallRelay, Datagram
from ..gateway.settings import Settings
from ..sdp.webrtc import SipTransport, StreamPlan, WebRtcTransport
from ..webrtc.certificate import Certificate
from ..webrtc.transport import StateChanged, WebRtcEndpoint, host_candidate

__all__ = ["MediaManager", "UdpSocket"]

log = logging.getLogger("wcs.media")

Address = tuple[str, int]
#: datagrams read per readiness callback before yielding to the loop
_READ_BURST = 64


class UdpSocket:
    """A bound non-blocking UDP socket whose datagrams go to ``on_datagram(data, addr)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 on_datagram: Callable[[bytes, Address], None]) -> None:
        self._loop = loop
        self._sock = sock
        self._on_datagram = on_datagram
        self.port: int = sock.getsockname()[1]
        self.send_errors = 0
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        recv, deliver = self._sock.recvfrom, self._on_datagram
        for _ in range(_READ_BURST):
            try:
                data, addr = recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP errors surface here on Linux; nothing to read
                return
            try:
                deliver(data, (addr[0], addr[1]))
            except Exception:
                log.exception("media datagram from %s crashed its handler", addr)

    def sendto(self, data: bytes, addr: Address) -> None:
        try:
            self._sock.sendto(data, addr)
        except OSError:
            self.send_errors += 1

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


@dataclass(eq=False)
class _CallMedia:
    call_id: str
    relay: CallRelay
    webrtc: UdpSocket | None = None
    rtp: list[UdpSocket] = field(default_factory=list)
    rtcp: list[UdpSocket] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None
    started: bool = False


class MediaManager:
    """Sockets and relays of every call; the gateway core's MediaController."""

    def __init__(self, settings: Settings, certificate: Certificate, advertised_address: str,
                 on_event: Callable[[MediaStateChanged], None], *,
                 entropy: Entropy | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._settings = settings
        self._certificate = certificate
        self._address = advertised_address
        self._bind_address = settings.address
        self._on_event = on_event
        self._entropy = entropy or SystemEntropy()
        self._calls: dict[str, _CallMedia] = {}
        first = settings.media_port_from + (settings.media_port_from & 1)
        self._even_ports = range(first, settings.media_port_to, 2)
        self._cursor = 0
        self._held_ports: set[int] = set()

    # ------------------------------------------------------------------ MediaController

    def allocate(self, call_id: str, sip_streams: int, now: float) -> MediaAllocation:
        if call_id in self._calls:
            raise MediaError(f"media for call {call_id} already allocated")
        endpoint = WebRtcEndpoint(self._certificate, entropy=self._entropy)
        media = _CallMedia(call_id, CallRelay(endpoint, entropy=self._entropy))
        try:
            webrtc_sock, _ = self._bind_pair(rtcp=False)
            media.webrtc = UdpSocket(self._loop, webrtc_sock, partial(self._from_browser, media))
            for index in range(sip_streams):
                rtp_sock, rtcp_sock = self._bind_pair(rtcp=True)
                assert rtcp_sock is not None
                media.rtp.append(UdpSocket(self._loop, rtp_sock, partial(self._from_sip, media, index)))
                media.rtcp.append(UdpSocket(self._loop, rtcp_sock,
                                            partial(self._from_sip_rtcp, media, index)))
        except MediaError:
            self._close(media)
            raise
        self._calls[call_id] = media
        candidate = host_candidate(self._address, media.webrtc.port)
        webrtc = WebRtcTransport(ice_ufrag=endpoint.local_ufrag, ice_pwd=endpoint.local_pwd,
                                 fingerprint=endpoint.fingerprint, candidates=[candidate])
        sip = SipTransport(address=self._address, ports={i: s.port for i, s in enumerate(media.rtp)})
        endpoint.start(now)
        self._rearm(media)
        log.debug("call %s media: webrtc %d, sip %s", call_id, media.webrtc.port, sip.ports)
        return MediaAllocation(webrtc=webrtc, sip=sip)

    def connect(self, call_id: str, plans: Sequence[StreamPlan], *,
                fingerprints: Sequence[tuple[str, str]], ice: tuple[str, str] | None,
                now: float) -> None:
        media = self._calls.get(call_id)
        if media is None:
            return
        endpoint = media.relay.endpoint
        if ice is not None:
            endpoint.set_remote_credentials(*ice)
        endpoint.set_remote_fingerprints(fingerprints, now)
        media.relay.configure(plans)
        media.started = True
        self._send(media, [(BROWSER, d, a) for d, a in endpoint.datagrams_to_send()])
        self._after_control(media)

    def set_held(self, call_id: str, held: bool) -> None:
        media = self._calls.get(call_id)
        if media is not None:
            media.relay.set_held(held)

    def release(self, call_id: str) -> None:
        media = self._calls.pop(call_id, None)
        if media is None:
            return
        self._send(media, media.relay.close())
        self._close(media)

    def close(self) -> None:
        for call_id in list(self._calls):
            self.release(call_id)

    def stats(self, call_id: str) -> dict[str, object] | None:
        """Counters of one call's media (for logs and the REST API)."""
        media = self._calls.get(call_id)
        if media is None:
            return None
        relay = media.relay
        return {"state": relay.endpoint.state, "toSip": relay.forwarded_to_sip,
                "toBrowser": relay.forwarded_to_browser,
                "dropped": dict(relay.dropped + relay.endpoint.dropped)}

    # ------------------------------------------------------------------ datagrams

    def _from_browser(self, media: _CallMedia, data: bytes, addr: Address) -> None:
        out = media.relay.from_browser(data, addr, self._loop.time())
        if out:
            self._send(media, out)
        if not data or not 127 < data[0] < 192:  # STUN/DTLS may change state and deadlines
            self._after_control(media)

    def _from_sip(self, media: _CallMedia, index: int, data: bytes, addr: Address) -> None:
        out = media.relay.from_sip(index, data, addr, self._loop.time())
        if out:
            self._send(media, out)

    def _from_sip_rtcp(self, media: _CallMedia, index: int, data: bytes, addr: Address) -> None:
        self._send(media, media.relay.from_sip_rtcp(index, data, addr, self._loop.time()))

    def _send(self, media: _CallMedia, datagrams: list[Datagram]) -> None:
        for leg, data, dest in datagrams:
            sock = media.webrtc if leg == BROWSER else (media.rtp[leg] if leg < len(media.rtp) else None)
            if sock is not None:
                sock.sendto(data, dest)

    # ------------------------------------------------------------------ control and timers

    def _after_control(self, media: _CallMedia) -> None:
        for event in media.relay.events():
            if isinstance(event, StateChanged):
                log.info("call %s browser transport %s%s", media.call_id, event.state,
                         f": {event.error}" if event.error else "")
                self._on_event(MediaStateChanged(media.call_id, event.state, event.error))
        if media.call_id in self._calls:
            self._rearm(media)

    def _rearm(self, media: _CallMedia) -> None:
        deadline = media.relay.get_timer()
        if deadline == media.timer_at:
            return
        if media.timer is not None:
            media.timer.cancel()
        media.timer_at = deadline
        media.timer = self._loop.call_at(deadline, self._on_timer, media) if deadline is not None else None

    def _on_timer(self, media: _CallMedia) -> None:
        media.timer = media.timer_at = None
        if media.call_id not in self._calls:
            return
        self._send(media, media.relay.handle_timer(self._loop.time()))
        self._after_control(media)

    # ------------------------------------------------------------------ ports

    def _bind_pair(self, *, rtcp: bool) -> tuple[socket.socket, socket.socket | None]:
        ports = self._even_ports
        for _ in range(len(ports)):
            port = ports[self._cursor % len(ports)]
            self._cursor += 1
            if port in self._held_ports:
                continue
            first = self._try_bind(port)
            if first is None:
                continue
            second = None
            if rtcp:
                second = self._try_bind(port + 1)
                if second is None:
                    first.close()
                    continue
            self._held_ports.add(port)
            return first, second
        raise MediaError("No free media ports")

    def _try_bind(self, port: int) -> socket.socket | None:
        family = socket.AF_INET6 if ":" in self._bind_address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self._bind_address, port))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def _close(self, media: _CallMedia) -> None:
        if media.timer is not None:
            media.timer.cancel()
            media.timer = None
        for sock in [media.webrtc, *media.rtp, *media.rtcp]:
            if sock is not None:
                self._held_ports.discard(sock.port)
                sock.close()
