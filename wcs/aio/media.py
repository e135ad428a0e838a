"""The media plane's sockets: one WebRTC port and one RTP/RTCP pair per SIP stream, per call.

:class:`MediaManager` implements :class:`wcs.gateway.media.MediaController` for the
gateway core.  Each call gets a sans-I/O :class:`~wcs.gateway.relay.CallRelay`; this
module only moves datagrams between the relay and non-blocking UDP sockets (all on one
epoll that the loop watches, :class:`MediaPoller` — no transport/protocol objects or loop
handles on the per-packet path) and keeps one
timer handle per call for everything the relay schedules (ICE consent, DTLS
retransmissions, RTCP reports, DTMF events, RTP activity).  It re-reads the relay's
deadline after control input (STUN, DTLS, API calls) and when the relay says a media
packet changed it (:attr:`~wcs.gateway.relay.CallRelay.changed`), never otherwise.

Audio a stream's negotiation marked for transcoding goes through the codec registry's coders
(:func:`~wcs.gateway.relay.transcoding.transcoding_factory`); the registry's report — which
codecs load here and why the others do not — is logged once at start-up.

Ports come from ``media_port_from``..``media_port_to``: every allocation takes an even
port (RTP) and the odd port above it (RTCP, RFC 3550 §11); the WebRTC transport uses the
even port only (rtcp-mux).  A port someone else holds is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..entropy import Entropy, SystemEntropy
from ..gateway.media import MediaAllocation, MediaError, MediaEvent, MediaStateChanged
from ..gateway.relay import BROWSER, SIP_RTCP, CallRelay, Datagram, RelayConfig
from ..gateway.relay.generators import generator_factory
from ..gateway.relay.processor import passthrough_factory
from ..gateway.relay.transcoding import transcoding_factory
from ..gateway.relay.video import video_factory
from ..gateway.settings import Settings
from ..rtp.codecs import CodecRegistry, default_registry
from ..rtp.errors import RtpUsageError
from ..sdp.browser import WebRtcTransport
from ..sdp.crypto import KEY_MATERIAL, OFFERED_SUITES
from ..sdp.plan import SipTransport, StreamPlan
from ..webrtc.certificate import Certificate
from ..webrtc.transport import WebRtcEndpoint, host_candidate

__all__ = ["MediaManager", "MediaPoller", "UdpSocket"]

log = logging.getLogger("wcs.media")

Address = tuple[str, int]
#: read buffer size: the largest UDP payload, so no datagram is ever truncated
_MAX_DATAGRAM = 65535


#: a socket's handler: ``(datagram, source address as recvfrom gives it, now)``
Handler = Callable[[bytes, tuple[Any, ...], float], None]


class MediaPoller:
    """Every media socket on one epoll, which is the only thing the asyncio loop watches.

    The loop calls :meth:`_ready` when any media socket is readable, and one round works
    through the ready sockets in three phases, each a run of the same kind of work:

    1. read one datagram from each ready socket (``recvfrom``, back to back);
    2. hand each datagram to its socket's handler, with one reading of the clock for the
       round (taken after the reads, so never earlier than a datagram's arrival);
    3. run the ``flush`` hook, with which the owner sends what the handlers queued.

    Batching is the point.  A system call leaves the CPU's caches and branch predictors cold
    for the interpreter: measured on the relay, its Python per packet grows from ~5 µs to
    ~12 µs when every packet is followed by a ``recv``.  Reading, relaying and sending packet
    by packet therefore paid that penalty twice per packet; a round pays it once per phase.
    A packet waits at most for the round's relaying before it is sent (tens of µs for the
    handful of sockets that are ready together at hundreds of calls).

    The poller dispatches the ready sockets itself (a dict lookup each), skipping the
    per-socket handle machinery of the loop.  Registrations are level-triggered and each
    socket reads one datagram per round: a socket with more waiting is simply ready again on
    the next round, so a flooded socket gets one read per round like every other, and no read
    ends in EAGAIN (an exception and a wasted system call per packet at 50 packets/s per
    socket).  A handler that raises is logged; the round goes on.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, flush: Callable[[], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._flush = flush
        self._clock = clock or loop.time
        #: fd → (recvfrom, handler)
        self._sockets: dict[int, tuple[Callable[[int], tuple[bytes, Any]], Handler]] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def add(self, fd: int, recvfrom: Callable[[int], tuple[bytes, Any]], handler: Handler) -> None:
        self._sockets[fd] = (recvfrom, handler)
        self._epoll.register(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        if self._sockets.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def _ready(self) -> None:
        sockets = self._sockets
        received = []
        for fd, _ in self._epoll.poll(0):
            entry = sockets.get(fd)
            if entry is not None:
                try:
                    data, addr = entry[0](_MAX_DATAGRAM)
                except OSError:  # EAGAIN (another reader was first), or an ICMP error surfacing
                    continue
                received.append((fd, entry, data, addr))
        now = self._clock()
        for fd, entry, data, addr in received:
            if sockets.get(fd) is not entry:
                continue  # closed (or closed and its fd reused) by an earlier handler of this round
            try:
                entry[1](data, addr, now)
            except Exception:
                log.exception("media datagram from %s crashed its handler", addr)
        if self._flush is not None:
            try:
                self._flush()
            except Exception:
                log.exception("sending a media round crashed")

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()


class UdpSocket:
    """A bound non-blocking UDP socket on the poller.

    ``on_datagram(data, addr)`` gets each datagram (``addr`` cut to ``(host, port)``);
    ``None``: the owner installs its own handler with :meth:`watch`.
    """

    def __init__(self, poller: MediaPoller, sock: socket.socket,
                 on_datagram: Callable[[bytes, Address], None] | None) -> None:
        self._poller = poller
        self._sock = sock
        #: ``sock.sendto`` bound once; raises OSError (see :meth:`sendto`)
        self.send = sock.sendto
        #: IPv6 socket addresses have four items; ours are (host, port)
        self.v6 = sock.family == socket.AF_INET6
        self._on_datagram = on_datagram
        self.port: int = sock.getsockname()[1]
        self.send_errors = 0
        if on_datagram is not None:
            self.watch(self._deliver)

    def watch(self, handler: Handler) -> None:
        """Give each datagram to ``handler(data, addr, now)`` (``addr`` as recvfrom returns it)."""
        self._poller.add(self._sock.fileno(), self._sock.recvfrom, handler)

    def _deliver(self, data: bytes, addr: tuple[Any, ...], now: float) -> None:
        self._on_datagram(data, addr[:2] if self.v6 else addr)  # type: ignore[misc]

    def sendto(self, data: bytes | bytearray, addr: Address) -> None:
        try:
            self.send(data, addr)
        except OSError:
            self.send_errors += 1

    def close(self) -> None:
        self._poller.remove(self._sock.fileno())
        self._sock.close()


@dataclass(eq=False, slots=True)
class _CallMedia:
    call_id: str
    relay: CallRelay
    webrtc: UdpSocket | None = None
    rtp: list[UdpSocket] = field(default_factory=list)
    rtcp: list[UdpSocket] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None
    started: bool = False
    #: released (its sockets closed): what a poller round still queued for it is not sent
    released: bool = False


class MediaManager:
    """Sockets and relays of every call; the gateway core's MediaController."""

    def __init__(self, settings: Settings, certificate: Certificate, advertised_address: str,
                 on_event: Callable[[MediaEvent], None], *,
                 entropy: Entropy | None = None, registry: CodecRegistry | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._settings = settings
        self._certificate = certificate
        self._address = advertised_address
        self._bind_address = settings.address
        self._on_event = on_event
        self._entropy = entropy or SystemEntropy()
        self._config = RelayConfig(activity_detecting=settings.rtp_activity_detecting,
                                   activity_timeout=settings.rtp_activity_timeout,
                                   activity_grace=settings.rtp_activity_start_grace,
                                   latching=settings.rtp_latching)
        self._wallclock_offset = time.time() - self._loop.time()
        #: the loop's clock, read once per packet: asyncio's own loops read time.monotonic(), which
        #: is then called directly (a C call instead of the loop's Python method)
        own_clock = type(self._loop).time is asyncio.BaseEventLoop.time
        self._clock: Callable[[], float] = time.monotonic if own_clock else self._loop.time
        #: the registry the codec policy was built from (Settings.codec_policy: the default one)
        self.registry = registry or default_registry
        self._processors = transcoding_factory(self._entropy, self.registry,
                                               passthrough_factory(self._entropy))
        # generated media (generate_av_for_ua) and VP8 ⇄ H.264 (video_transcoding) around it
        self._processors = generator_factory(self._entropy, settings.rtp_generator_start_timeout,
                                             video_factory(self._entropy, self._processors))
        log.info("%s; transcoding %s", self.registry.report(),
                 "allowed" if settings.allow_transcoding else "disabled (allow_transcoding=false)")
        self._calls: dict[str, _CallMedia] = {}
        #: (call, datagrams) the relays returned in the poller's current round (see _flush)
        self._outbox: list[tuple[_CallMedia, list[Datagram]]] = []
        self._poller = MediaPoller(self._loop, self._flush, self._clock)
        first = settings.media_port_from + (settings.media_port_from & 1)
        self._even_ports = range(first, settings.media_port_to, 2)
        self._cursor = 0
        self._held_ports: set[int] = set()

    # ------------------------------------------------------------------ MediaController

    def allocate(self, call_id: str, sip_streams: int, now: float) -> MediaAllocation:
        if call_id in self._calls:
            raise MediaError(f"media for call {call_id} already allocated")
        endpoint = WebRtcEndpoint(self._certificate, entropy=self._entropy)
        relay = CallRelay(endpoint, call_id=call_id, entropy=self._entropy, config=self._config,
                          processors=self._processors, wallclock_offset=self._wallclock_offset)
        media = _CallMedia(call_id, relay)
        try:
            webrtc_sock, _ = self._bind_pair(rtcp=False)
            media.webrtc = UdpSocket(self._poller, webrtc_sock, None)
            media.webrtc.watch(self._browser_handler(media, media.webrtc.v6))
            for index in range(sip_streams):
                rtp_sock, rtcp_sock = self._bind_pair(rtcp=True)
                assert rtcp_sock is not None
                rtp = UdpSocket(self._poller, rtp_sock, None)
                media.rtp.append(rtp)
                rtp.watch(self._sip_handler(media, index, rtp.v6))
                media.rtcp.append(UdpSocket(self._poller, rtcp_sock,
                                            partial(self._from_sip_rtcp, media, index)))
        except MediaError:
            self._close(media)
            raise
        self._calls[call_id] = media
        candidate = host_candidate(self._address, media.webrtc.port)
        webrtc = WebRtcTransport(ice_ufrag=endpoint.local_ufrag, ice_pwd=endpoint.local_pwd,
                                 fingerprint=endpoint.fingerprint, candidates=[candidate])
        sip = SipTransport(address=self._address, ports={i: s.port for i, s in enumerate(media.rtp)},
                           srtp=self._settings.sip_srtp, transcode_video=self._settings.video_transcoding)
        if sip.srtp != "off":   # SDES: fresh keys per m-line, one per offered suite (wcs.sdp.sdes)
            sip.srtp_keys = {i: tuple(self._entropy.token_bytes(KEY_MATERIAL) for _ in OFFERED_SUITES)
                             for i in sip.ports}
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
        media.relay.configure(plans, now)
        media.started = True
        self._send(media, [(BROWSER, d, a) for d, a in endpoint.datagrams_to_send()])
        self._after_control(media)

    def set_held(self, call_id: str, held: bool) -> None:
        media = self._calls.get(call_id)
        if media is not None:
            media.relay.set_held(held, self._clock())
            self._after_control(media)

    def send_dtmf(self, call_id: str, digits: str, now: float, *, duration: float = 0.1) -> bool:
        media = self._calls.get(call_id)
        if media is None:
            return False
        try:
            sent = media.relay.send_dtmf(digits, now, duration=duration)
        except RtpUsageError as exc:
            raise MediaError(str(exc)) from None
        self._after_control(media)
        return sent

    def release(self, call_id: str) -> None:
        media = self._calls.pop(call_id, None)
        if media is None:
            return
        self._send(media, media.relay.close(self._clock()))
        self._close(media)

    def close(self) -> None:
        for call_id in list(self._calls):
            self.release(call_id)
        self._poller.close()

    def stats(self, call_id: str) -> dict[str, object] | None:
        """Per-leg packets/bytes/lost/jitter/RTT of one call (see ``CallRelay.stats``)."""
        media = self._calls.get(call_id)
        return media.relay.stats() if media is not None else None

    # ------------------------------------------------------------------ datagrams

    # The per-packet path: the poller hands each datagram of a call's WebRTC or SIP RTP socket
    # to a closure made here, which runs the relay and queues what it returns; the poller's
    # flush (_flush) sends the round's datagrams together (see MediaPoller).  The closures
    # bind their state once instead of looking it up per packet.

    def _browser_handler(self, media: _CallMedia, v6: bool) -> Handler:
        relay = media.relay
        from_browser, outbox, after_control = relay.from_browser, self._outbox, self._after_control

        def handle(data: bytes, addr: tuple[Any, ...], now: float) -> None:
            out = from_browser(data, addr[:2] if v6 else addr, now)
            if out:
                outbox.append((media, out))
            if relay.changed or not data or not 127 < data[0] < 192:  # STUN/DTLS may change deadlines
                after_control(media)

        return handle

    def _sip_handler(self, media: _CallMedia, index: int, v6: bool) -> Handler:
        relay = media.relay
        from_sip, outbox, after_control = relay.from_sip, self._outbox, self._after_control

        def handle(data: bytes, addr: tuple[Any, ...], now: float) -> None:
            out = from_sip(index, data, addr[:2] if v6 else addr, now)
            if out:
                outbox.append((media, out))
            if relay.changed:
                after_control(media)

        return handle

    def _flush(self) -> None:
        """Send what the relays returned in the poller's round (calls released meanwhile: nothing).

        :meth:`_send` unrolled into the loop: this runs for every relayed packet.
        """
        outbox = self._outbox
        try:
            for media, out in outbox:
                if media.released:
                    continue
                for leg, data, dest in out:
                    if leg == BROWSER:
                        sock = media.webrtc
                    elif leg >= SIP_RTCP:
                        sock = media.rtcp[leg - SIP_RTCP] if leg - SIP_RTCP < len(media.rtcp) else None
                    else:
                        sock = media.rtp[leg] if leg < len(media.rtp) else None
                    if sock is not None:
                        try:
                            sock.send(data, dest)
                        except OSError:
                            sock.send_errors += 1
        finally:
            outbox.clear()   # the handlers hold this list: emptied, never replaced

    def _from_sip_rtcp(self, media: _CallMedia, index: int, data: bytes, addr: Address) -> None:
        self._send(media, media.relay.from_sip_rtcp(index, data, addr, self._clock()))
        if media.relay.changed:
            self._after_control(media)

    def _send(self, media: _CallMedia, datagrams: list[Datagram]) -> None:
        for leg, data, dest in datagrams:
            if leg == BROWSER:
                sock = media.webrtc
            elif leg >= SIP_RTCP:
                sock = media.rtcp[leg - SIP_RTCP] if leg - SIP_RTCP < len(media.rtcp) else None
            else:
                sock = media.rtp[leg] if leg < len(media.rtp) else None
            if sock is not None:
                try:
                    sock.send(data, dest)
                except OSError:
                    sock.send_errors += 1

    # ------------------------------------------------------------------ control and timers

    def _after_control(self, media: _CallMedia) -> None:
        for event in media.relay.events():
            if isinstance(event, MediaStateChanged):
                log.info("call %s browser transport %s%s", media.call_id, event.state,
                         f": {event.error}" if event.error else "")
            self._on_event(event)
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
        self._send(media, media.relay.handle_timer(self._clock()))
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
        media.released = True
        if media.timer is not None:
            media.timer.cancel()
            media.timer = None
        for sock in [media.webrtc, *media.rtp, *media.rtcp]:
            if sock is not None:
                self._held_ports.discard(sock.port)
                sock.close()
