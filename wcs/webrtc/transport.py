"""One WebRTC media transport: a UDP port shared by ICE-lite, DTLS-SRTP and SRTP (sans-I/O).

Theory of operation
-------------------
:class:`WebRtcEndpoint` owns an :class:`~wcs.webrtc.ice_lite.IceLiteAgent`, a
:class:`~wcs.webrtc.dtls.DtlsSession` and, once that is connected, the
:class:`~wcs.rtp.srtp.SrtpSession` keyed from it.  The I/O adapter gives it every
datagram of the call's socket with :meth:`~WebRtcEndpoint.receive`, sends what
:meth:`~WebRtcEndpoint.datagrams_to_send` returns and fires
:meth:`~WebRtcEndpoint.handle_timer` at :meth:`~WebRtcEndpoint.get_timer`.

Each datagram is classified by its first byte (RFC 7983 §7):

* RTP/RTCP (128–191; RTCP by RFC 5761 §4) — the hot path: accepted only from an
  address that passed an ICE check (RFC 8445 §7.3) and once DTLS-SRTP is up, then
  unprotected and returned to the caller;
* STUN — answered by the ICE-lite agent (the answer is queued to the source); the
  browser's address is learnt from its checks (peer-reflexive);
* DTLS — fed to the DTLS session (only from validated addresses); its replies go back
  to where the DTLS datagram came from;
* anything else is dropped.

Every dropped datagram is counted in :attr:`~WebRtcEndpoint.dropped` by reason.

States (``state``), each change also reported as a :class:`StateChanged` event:

* ``"new"`` — no valid connectivity check yet;
* ``"checking"`` — a check succeeded (``remote_address`` is known), DTLS under way;
* ``"connected"`` — DTLS connected, peer fingerprint verified, SRTP keyed;
* ``"failed"`` — ``error`` says why: ICE checks never arrived within
  ``connect_timeout``, consent lost (RFC 7675: no check for ``consent_timeout``
  seconds; we must stop sending), or the DTLS error;
* ``"closed"`` — :meth:`close` was called or the peer sent close_notify.

As DTLS server (``a=setup:passive``, what Chrome expects of us) we wait for the
ClientHello; as client (``a=setup:active``) we send it once a check has told us where
the peer is.  Media packets never move the deadline of :meth:`get_timer`, so an
adapter only needs to re-arm its timer after STUN or DTLS input.

Addresses are ``(host, port)`` tuples; IPv6 socket addresses must be cut to two items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from wcs.entropy import Entropy, SystemEntropy, random_token
from wcs.rtp.errors import SrtpError
from wcs.rtp.srtp import SrtpSession
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.demux import classify
from wcs.webrtc.dtls import DEFAULT_SRTP_PROFILES, DtlsSession
from wcs.webrtc.errors import StunError
from wcs.webrtc.ice_lite import IceLiteAgent

__all__ = ["EndpointState", "RemoteAddressChanged", "StateChanged", "WebRtcEndpoint", "host_candidate"]

Address = tuple[str, int]
EndpointState = Literal["new", "checking", "connected", "failed", "closed"]


@dataclass(frozen=True)
class StateChanged:
    state: EndpointState
    error: str | None


@dataclass(frozen=True)
class RemoteAddressChanged:
    """Media now goes to ``address`` (``nominated``: the browser chose it with USE-CANDIDATE)."""

    address: Address
    nominated: bool


EndpointEvent = StateChanged | RemoteAddressChanged


def host_candidate(host: str, port: int, *, foundation: str = "1", component: int = 1,
                   local_preference: int = 65535) -> str:
    """An ``a=candidate`` value for a UDP host candidate (RFC 8839 §5.1).

    Priority per RFC 8445 §5.1.2.1: type preference 126 (host), ``local_preference``,
    component 1 (RTP; rtcp-mux is assumed).
    """
    priority = (126 << 24) | (local_preference << 8) | (256 - component)
    return f"{foundation} {component} udp {priority} {host} {port} typ host"


class WebRtcEndpoint:
    """ICE-lite + DTLS-SRTP for one browser media transport; see the module docstring."""

    # slots: one compact block, the per-packet fields (SRTP, validated addresses) first
    __slots__ = ("_srtp", "_remote", "_pairs", "dropped", "state", "certificate", "ice", "dtls",
                 "connect_timeout", "consent_timeout", "error", "_dtls_peer", "_connect_deadline",
                 "_outgoing", "last_stun_error", "_events")

    def __init__(self, certificate: Certificate, *, entropy: Entropy | None = None,
                 dtls_role: Literal["server", "client"] = "server",
                 local_ufrag: str | None = None, local_pwd: str | None = None,
                 remote_ufrag: str | None = None, remote_pwd: str | None = None,
                 remote_fingerprints: Iterable[tuple[str, str]] = (),
                 srtp_profiles: Sequence[str] = DEFAULT_SRTP_PROFILES, mtu: int = 1200,
                 connect_timeout: float = 30.0, consent_timeout: float = 30.0,
                 software: str | None = None) -> None:
        entropy = entropy or SystemEntropy()
        self.certificate = certificate
        self.ice = IceLiteAgent(local_ufrag or random_token(entropy, 8),
                                local_pwd or random_token(entropy, 24),
                                remote_ufrag, remote_pwd, software=software)
        self._pairs = self.ice.pairs  # validated source addresses (the same dict, cached)
        self.dtls = DtlsSession(certificate, is_server=dtls_role == "server",
                                remote_fingerprints=remote_fingerprints, srtp_profiles=srtp_profiles,
                                mtu=mtu, handshake_timeout=connect_timeout)
        self.connect_timeout = connect_timeout
        self.consent_timeout = consent_timeout
        self.state: EndpointState = "new"
        self.error: str | None = None
        #: inbound datagrams dropped, by reason (outbound failures are keyed "protect: …")
        self.dropped: Counter[str] = Counter()
        self._srtp: SrtpSession | None = None
        self._remote: Address | None = None
        self._dtls_peer: Address | None = None
        self._connect_deadline: float | None = None
        self._outgoing: list[tuple[bytes, Address]] = []
        #: why the last rejected STUN message was rejected (for logs and tests)
        self.last_stun_error: str | None = None
        self._events: list[EndpointEvent] = []

    # -- what the SDP needs -------------------------------------------------------------------

    @property
    def local_ufrag(self) -> str:
        return self.ice.local_ufrag

    @property
    def local_pwd(self) -> str:
        return self.ice.local_pwd

    @property
    def fingerprint(self) -> str:
        """``a=fingerprint`` value: ``"sha-256 AB:CD:…"``."""
        return self.certificate.fingerprint_attribute("sha-256")

    @property
    def setup(self) -> str:
        """``a=setup`` value for an answer (RFC 5763 §5): ``passive`` as DTLS server."""
        return "passive" if self.dtls.is_server else "active"

    def set_remote_credentials(self, ufrag: str, pwd: str) -> None:
        self.ice.set_remote_credentials(ufrag, pwd)

    def set_remote_fingerprints(self, fingerprints: Iterable[tuple[str, str]], now: float) -> None:
        """The peer's ``a=fingerprint`` values; may arrive after the handshake (verified then)."""
        self.dtls.set_remote_fingerprints(fingerprints)
        self._after_dtls(now)

    # -- state ------------------------------------------------------------------------------------

    @property
    def remote_address(self) -> Address | None:
        """The browser's selected address (where media is sent)."""
        return self._remote

    def events(self) -> list[EndpointEvent]:
        """Drain state and address changes since the last call."""
        events, self._events = self._events, []
        return events

    def start(self, now: float) -> None:
        """Arm the connect timeout (call when the SDP carrying our candidates is sent)."""
        if self._connect_deadline is None and self.state == "new":
            self._connect_deadline = now + self.connect_timeout

    # -- input ------------------------------------------------------------------------------------

    def receive(self, data: bytes, addr: Address, now: float) -> list[bytes]:
        """Process one datagram from ``addr``; return the decrypted RTP/RTCP packets in it."""
        if data and 127 < data[0] < 192:  # RTP or RTCP: the hot path
            packet = self.unprotect(data, addr)
            return [] if packet is None else [packet]
        if self.state in ("failed", "closed"):
            self.dropped[f"datagram after the transport {self.state}"] += 1
            return []
        if self._connect_deadline is None:
            self.start(now)
        kind = classify(data)
        if kind == "stun":
            self._receive_stun(data, addr, now)
        elif kind == "dtls":
            if addr not in self._pairs:
                self.dropped["DTLS from an address that passed no ICE check"] += 1
            else:
                self._dtls_peer = addr
                self.dtls.receive(data, now)
                self._after_dtls(now)
        else:
            self.dropped[f"unsupported packet type ({kind})"] += 1
        return []

    def unprotect(self, data: bytes, addr: Address) -> bytes | None:
        """The media part of :meth:`receive`, for a datagram whose first octet is 128–191.

        The decrypted RTP or RTCP packet, or ``None`` (dropped and counted).  The relay calls
        this directly for SRTP/SRTCP (its per-packet path: no list per packet); such a
        datagram never changes the state, the deadline or what there is to send.
        """
        srtp = self._srtp
        if srtp is None:
            self.dropped["SRTP before DTLS is connected" if self.state in ("new", "checking")
                         else f"datagram after the transport {self.state}"] += 1
            return None
        if addr not in self._pairs:
            self.dropped["media from an address that passed no ICE check"] += 1
            return None
        if len(data) < 12:
            self.dropped["RTP/RTCP packet too short"] += 1
            return None
        try:
            if 191 < data[1] < 224:  # RFC 5761 §4
                return srtp.unprotect_rtcp(data)
            return srtp.unprotect(data)
        except SrtpError as exc:
            self.dropped[exc.reason] += 1
            return None

    def _receive_stun(self, data: bytes, addr: Address, now: float) -> None:
        try:
            reply = self.ice.handle_stun(data, addr, now)
        except StunError as exc:
            # one counter for every malformed/unauthenticated check: reasons can name attribute
            # numbers, and a flood of them must not grow memory per call
            self.dropped["STUN message rejected"] += 1
            self.last_stun_error = exc.reason
            return
        if reply is not None:
            self._outgoing.append((reply, addr))
        for change in self.ice.events():
            self._remote = change.address
            self._events.append(RemoteAddressChanged(change.address, change.nominated))
        if self.state == "new" and self._remote is not None:
            self._set_state("checking")
            self.dtls.start(now)
            self._after_dtls(now)

    def _after_dtls(self, now: float) -> None:
        dest = self._dtls_peer or self._remote
        datagrams = self.dtls.datagrams_to_send()
        if dest is not None:
            self._outgoing.extend((datagram, dest) for datagram in datagrams)
        for _ in self.dtls.application_data():
            self.dropped["DTLS application data (no data channels)"] += 1
        dtls_state = self.dtls.state
        if dtls_state == "connected" and self.state == "checking":
            self._srtp = self.dtls.srtp_session()
            self._set_state("connected")
        elif dtls_state == "failed" and self.state in ("new", "checking", "connected"):
            self._fail(self.dtls.error or "DTLS failed")
        elif dtls_state == "closed" and self.state in ("checking", "connected"):
            self._srtp = None
            self._set_state("closed", "DTLS closed by the peer")

    # -- timers -----------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """Earliest deadline: connect timeout, DTLS retransmission, consent expiry."""
        if self.state in ("failed", "closed"):
            return None
        deadlines = [self.dtls.get_timer(), self.ice.consent_deadline(self.consent_timeout)]
        if self.state != "connected":
            deadlines.append(self._connect_deadline)
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def handle_timer(self, now: float) -> None:
        if self.state in ("failed", "closed"):
            return
        if self.ice.consent_expired(now, self.consent_timeout):
            self._fail(f"ICE consent expired: no connectivity check for {self.consent_timeout:g} s")
            return
        if self.state != "connected" and self._connect_deadline is not None and now >= self._connect_deadline:
            if self._remote is None:
                self._fail("ICE connectivity checks never arrived")
            elif self.dtls.awaiting_fingerprint:
                self._fail("DTLS fingerprint not signalled in time")
            else:
                self._fail("DTLS handshake timeout")
            return
        self.dtls.handle_timer(now)
        self._after_dtls(now)

    # -- output -----------------------------------------------------------------------------------

    def protect_rtp(self, packet: bytes) -> tuple[bytes, Address] | None:
        """SRTP-protect an RTP packet for the browser; ``None`` until connected."""
        srtp, remote = self._srtp, self._remote
        if srtp is None or remote is None:
            return None
        try:
            return srtp.protect(packet), remote
        except SrtpError as exc:
            self.dropped["protect: " + exc.reason] += 1
            return None

    def protect_rtcp(self, packet: bytes) -> tuple[bytes, Address] | None:
        """SRTCP-protect a (compound) RTCP packet for the browser; ``None`` until connected."""
        srtp, remote = self._srtp, self._remote
        if srtp is None or remote is None:
            return None
        try:
            return srtp.protect_rtcp(packet), remote
        except SrtpError as exc:
            self.dropped["protect: " + exc.reason] += 1
            return None

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Drain STUN responses and DTLS records to send, with their destinations."""
        out, self._outgoing = self._outgoing, []
        return out

    def close(self) -> None:
        """Send DTLS close_notify (if connected) and stop; further input is dropped."""
        if self.state in ("failed", "closed"):
            return
        self.dtls.close()
        dest = self._dtls_peer or self._remote
        if dest is not None:
            self._outgoing.extend((d, dest) for d in self.dtls.datagrams_to_send())
        self._srtp = None
        self._set_state("closed")

    # -- internals --------------------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        self._srtp = None
        self._set_state("failed", reason)

    def _set_state(self, state: EndpointState, error: str | None = None) -> None:
        self.state = state
        self.error = error
        self._events.append(StateChanged(state, error))
