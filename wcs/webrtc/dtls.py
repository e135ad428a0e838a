"""DTLS-SRTP session over memory BIOs (RFC 6347, RFC 5764) — the only OpenSSL import.

Theory of operation
-------------------
A :class:`DtlsSession` wraps one pyOpenSSL ``Connection`` created without a socket, so
OpenSSL reads from and writes to memory BIOs.  Datagrams from the peer go in with
:meth:`~DtlsSession.receive`; what OpenSSL writes comes out of
:meth:`~DtlsSession.datagrams_to_send`.  The output BIO is a byte stream, so it is cut
back into DTLS records (13-byte header, RFC 6347 §4.1) and records are packed into
datagrams of at most ``mtu`` bytes (records never straddle datagrams, §4.1.1).

Configuration, as WebRTC requires (RFC 8827 §6.5, RFC 5763 §5):

* DTLS 1.2 only, ECDHE with AEAD ciphers first (ECDSA for our P-256 certificate; the
  RSA variants only matter when we are the client of an RSA server);
* the peer certificate is requested (server: ``VERIFY_FAIL_IF_NO_PEER_CERT``) but its
  chain is not validated — it is self-signed; instead its hash must match one of the
  ``a=fingerprint`` values of the peer's SDP (RFC 8122 §5.1: those with the strongest
  hash function offered).  A mismatch detected inside the handshake aborts it with a
  fatal alert (OpenSSL sends ``unknown_ca`` for the rejected self-signed certificate).
  When the fingerprints arrive only after the handshake (the browser's answer is
  late), the session waits in ``"connecting"`` until
  :meth:`~DtlsSession.set_remote_fingerprints` — no keys leave before that;
* ``use_srtp`` with :data:`DEFAULT_SRTP_PROFILES`.  As DTLS server OpenSSL picks the
  first profile in *our* list that the client offers.  Chrome offers AES128_CM_SHA1_80,
  AEAD_AES_256_GCM, AEAD_AES_128_GCM in that order (captured in tests/data/webrtc/;
  libwebrtc leaves the choice to a non-WebRTC peer), so listing AEAD_AES_128_GCM first
  gets AES-GCM, the AEAD suite RFC 8827 §6.5 says to favour (verified against headless
  Chromium in tests/webrtc/test_chromium_interop.py; per-packet cost through libsrtp is
  the same as SHA1_80 within noise, benchmarks/bench_webrtc.py).  AES128_CM_SHA1_80 is
  mandatory to implement, so every WebRTC peer can fall back to it;
* once connected, the SRTP master keys come from the exporter
  ``"EXTRACTOR-dtls_srtp"`` (RFC 5764 §4.2), 2 × (key + salt) bytes, and become a
  :class:`~wcs.rtp.srtp.SrtpSession` via ``SrtpSession.from_dtls``.

Timers — an honest limitation
-----------------------------
OpenSSL keeps its retransmission timer (RFC 6347 §4.2.4: 1 s, doubling up to 60 s) on
its own clock, and pyOpenSSL offers no way to inject one.  :meth:`get_timer` is the
caller's ``now`` at the input that produced the current flight plus
``DTLSv1_get_timeout()``.  :meth:`handle_timer` asks OpenSSL to retransmit
(``DTLSv1_handle_timeout``).  If OpenSSL's clock has not got there yet:

* it is only slightly behind (< 50 ms): the timer is re-armed for when it will be;
* it is far behind — the caller's clock runs ahead, as in tests that drive ``now``
  by hand: the last flight is re-sent byte for byte and the interval doubles.  Such a
  copy repeats record sequence numbers, so a peer that did receive the original drops
  it as a replay; the case that needs a real retransmission (a lost reply) is covered
  by the peer's own timer, except for a lost *final* flight, which only OpenSSL's real
  retransmission can repair.

The whole handshake is bounded by ``handshake_timeout`` on the caller's clock.

Errors never escape as OpenSSL exceptions: the session moves to ``"failed"`` with a
short ``error`` (``"DTLS fingerprint mismatch"``, ``"DTLS handshake timeout"``,
``"DTLS handshake failed: <OpenSSL reason>"`` …).  Input after that is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from wcs.rtp.srtp import PROFILES, SrtpSession
from wcs.webrtc.certificate import HASH_ALGORITHMS, Certificate, digest, parse_fingerprint
from wcs.webrtc.errors import WebRtcUsageError

__all__ = ["DEFAULT_SRTP_PROFILES", "DtlsSession", "DtlsState"]

DtlsState = Literal["new", "connecting", "connected", "failed", "closed"]

DEFAULT_SRTP_PROFILES: tuple[str, ...] = ("SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_SHA1_80")

_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA"
)
_DTLS1_2_VERSION = 0xFEFD
_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"
_RECORD_HEADER = 13
_MAX_INTERVAL = 60.0     # RFC 6347 §4.2.4.1: cap of the doubled timer
_CLOCK_SLACK = 0.05      # how far OpenSSL's clock may trail ours before we re-send ourselves
_MAX_APP_DATA = 16384
# strongest first (RFC 8122 §5.1: verify with the most preferred hash the peer offered)
_HASH_PREFERENCE = tuple(reversed(HASH_ALGORITHMS))


class DtlsSession:
    """One DTLS association; see the module docstring for the rules it follows."""

    def __init__(self, certificate: Certificate, *, is_server: bool,
                 remote_fingerprints: Iterable[tuple[str, str]] = (),
                 srtp_profiles: Sequence[str] = DEFAULT_SRTP_PROFILES,
                 mtu: int = 1200, handshake_timeout: float = 30.0) -> None:
        unknown = [p for p in srtp_profiles if p not in PROFILES]
        if unknown or not srtp_profiles:
            raise WebRtcUsageError(f"unsupported SRTP profiles {unknown or list(srtp_profiles)}")
        if not 256 <= mtu <= 65507:
            raise WebRtcUsageError(f"DTLS MTU {mtu} out of range")
        self.is_server = is_server
        self.mtu = mtu
        self.handshake_timeout = handshake_timeout
        self.state: DtlsState = "new"
        self.error: str | None = None
        self.srtp_profile: str | None = None
        self.peer_certificate_der: bytes | None = None
        self._fingerprints: list[tuple[str, bytes]] = []
        self.set_remote_fingerprints(remote_fingerprints)
        self._certificate = certificate
        self._conn = SSL.Connection(self._context(certificate, srtp_profiles), None)
        self._conn.set_app_data(self)
        self._conn.set_ciphertext_mtu(mtu)
        if is_server:
            self._conn.set_accept_state()
        else:
            self._conn.set_connect_state()
        self._handshake_done = False
        self._peer_verified = False
        self._verify_mismatch = False
        self._outgoing: list[bytes] = []
        self._app_data: list[bytes] = []
        self._last_flight: list[bytes] = []
        self._retransmit_at: float | None = None
        self._interval = 1.0
        self._give_up_at: float | None = None
        self._srtp: SrtpSession | None = None

    # -- configuration -------------------------------------------------------------------------

    def _context(self, certificate: Certificate, profiles: Sequence[str]) -> SSL.Context:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.set_min_proto_version(_DTLS1_2_VERSION)
        ctx.set_max_proto_version(_DTLS1_2_VERSION)
        ctx.set_cipher_list(_CIPHERS)
        ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_TICKET | SSL.OP_NO_RENEGOTIATION
                        | SSL.OP_CIPHER_SERVER_PREFERENCE)
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify_callback)
        ctx.use_certificate(certificate.x509)
        ctx.use_privatekey(certificate.private_key)
        ctx.set_tlsext_use_srtp(":".join(profiles).encode())
        return ctx

    def set_remote_fingerprints(self, fingerprints: Iterable[tuple[str, str]]) -> None:
        """Set the peer's ``a=fingerprint`` values as ``(hash-func, "AB:CD:…")`` pairs.

        Raises :class:`~wcs.webrtc.errors.FingerprintError` for malformed values.  If
        the handshake already finished, the peer certificate is checked now.
        """
        parsed = [parse_fingerprint(f"{algorithm} {value}") for algorithm, value in fingerprints]
        self._fingerprints = parsed
        if parsed and self.state == "connecting" and self._handshake_done:
            self._verify_peer()

    def _matches(self, der: bytes) -> bool:
        """RFC 8122 §5.1: the strongest offered hash decides; any fingerprint of it may match."""
        for algorithm in _HASH_PREFERENCE:
            wanted = [value for alg, value in self._fingerprints if alg == algorithm]
            if wanted:
                return digest(der, algorithm) in wanted
        return False

    @property
    def awaiting_fingerprint(self) -> bool:
        """Handshake finished but the peer's fingerprints are not known yet."""
        return self.state == "connecting" and self._handshake_done and not self._peer_verified

    # -- inputs ----------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin the handshake: a client queues its ClientHello, a server starts waiting."""
        if self.state != "new":
            return
        self.state = "connecting"
        self._give_up_at = now + self.handshake_timeout
        if not self.is_server:
            self._advance(now)

    def receive(self, data: bytes, now: float) -> None:
        """Feed one datagram from the peer."""
        if self.state == "new":
            self.start(now)
        if not data or self.state not in ("connecting", "connected"):
            return
        try:
            self._conn.bio_write(data)
        except SSL.Error:  # the memory BIO refused it; treat as a lost datagram
            return
        self._advance(now)

    def handle_timer(self, now: float) -> None:
        """Retransmit a flight or give up, when due (see "Timers" in the module docstring)."""
        if self.state != "connecting":
            return
        if self._give_up_at is not None and now >= self._give_up_at:
            self._fail("DTLS fingerprint not signalled in time" if self._handshake_done
                       else "DTLS handshake timeout")
            return
        if self._retransmit_at is None or now < self._retransmit_at:
            return
        try:
            self._conn.DTLSv1_handle_timeout()
        except SSL.Error as exc:
            self._fail(_describe(exc))
            return
        if self._flush():  # OpenSSL retransmitted (fresh record numbers)
            remaining = self._conn.DTLSv1_get_timeout()
            self._interval = remaining if remaining else min(self._interval * 2, _MAX_INTERVAL)
            self._retransmit_at = now + self._interval
            return
        remaining = self._conn.DTLSv1_get_timeout()
        if remaining is None:
            self._retransmit_at = None
        elif remaining < _CLOCK_SLACK:
            self._retransmit_at = now + remaining + 0.001
        else:
            self._outgoing.extend(self._last_flight)
            self._interval = min(self._interval * 2, _MAX_INTERVAL)
            self._retransmit_at = now + self._interval

    # -- outputs ---------------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[bytes]:
        """Drain the datagrams to send to the peer (each at most ``mtu`` bytes)."""
        out, self._outgoing = self._outgoing, []
        return out

    def get_timer(self) -> float | None:
        """Deadline for :meth:`handle_timer`: retransmission or handshake timeout."""
        if self.state != "connecting":
            return None
        if self._retransmit_at is None:
            return self._give_up_at
        if self._give_up_at is None:
            return self._retransmit_at
        return min(self._retransmit_at, self._give_up_at)

    def keying_material(self) -> tuple[str, bytes]:
        """``(profile, material)``: the RFC 5764 §4.2 exporter output, once connected."""
        if self.state != "connected" or self.srtp_profile is None:
            raise WebRtcUsageError(f"no DTLS-SRTP keys in state {self.state!r}")
        info = PROFILES[self.srtp_profile]
        length = 2 * (info.key_length + info.salt_length)
        return self.srtp_profile, self._conn.export_keying_material(_EXPORTER_LABEL, length)

    def srtp_session(self) -> SrtpSession:
        """The SRTP contexts keyed from this association (RFC 5764 §4.2), once connected."""
        if self._srtp is None:
            profile, material = self.keying_material()
            self._srtp = SrtpSession.from_dtls(profile, material, self.is_server)
        return self._srtp

    def application_data(self) -> list[bytes]:
        """Drain application data records received (WebRTC data channels would use them)."""
        out, self._app_data = self._app_data, []
        return out

    def send(self, data: bytes) -> None:
        """Send application data (once connected)."""
        if self.state != "connected":
            raise WebRtcUsageError(f"cannot send DTLS application data in state {self.state!r}")
        try:
            self._conn.write(data)
        except SSL.Error as exc:
            self._fail(_describe(exc, during_handshake=False))
            return
        self._flush()

    def close(self) -> None:
        """Send close_notify (RFC 5246 §7.2.1) and move to ``"closed"``."""
        if self.state in ("closed", "failed"):
            return
        if self._handshake_done:
            try:
                self._conn.shutdown()
            except SSL.Error:
                pass
            self._flush()
        self.state = "closed"

    # -- internals ---------------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if not self._handshake_done:
            try:
                self._conn.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                self._flush()  # the alert OpenSSL queued, if any
                self._fail("DTLS fingerprint mismatch" if self._verify_mismatch else _describe(exc))
                return
            else:
                self._handshake_done = True
                self._retransmit_at = None
            if self._flush() and not self._handshake_done:  # a new flight: (re)arm its timer
                remaining = self._conn.DTLSv1_get_timeout()
                if remaining is None:  # a flight that expects no answer
                    self._retransmit_at = None
                else:
                    self._interval = max(remaining, 0.001)
                    self._retransmit_at = now + self._interval
            if self._handshake_done:
                self._on_handshake_done()
        if self._handshake_done and self.state in ("connecting", "connected"):
            self._read_records()

    def _on_handshake_done(self) -> None:
        if self.peer_certificate_der is not None:
            return
        peer = self._conn.get_peer_certificate(as_cryptography=True)
        if peer is None:
            self._fail("DTLS peer sent no certificate")
            return
        self.peer_certificate_der = peer.public_bytes(serialization.Encoding.DER)
        profile = self._conn.get_selected_srtp_profile().decode("ascii", "replace")
        if profile not in PROFILES:
            self._fail("DTLS peer negotiated no SRTP profile")
            return
        self.srtp_profile = profile
        if self._fingerprints:
            self._verify_peer()

    def _verify_peer(self) -> None:
        assert self.peer_certificate_der is not None
        if self._matches(self.peer_certificate_der):
            self._peer_verified = True
            self.state = "connected"
        else:
            self._fail("DTLS fingerprint mismatch")

    def _read_records(self) -> None:
        while True:
            try:
                data = self._conn.recv(_MAX_APP_DATA)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:  # close_notify from the peer
                try:
                    self._conn.shutdown()
                except SSL.Error:
                    pass
                self._flush()
                self.state = "closed"
                return
            except SSL.Error as exc:
                self._flush()
                self._fail(_describe(exc, during_handshake=False))
                return
            if self._peer_verified:
                self._app_data.append(data)
        self._flush()  # e.g. a retransmitted final flight

    def _flush(self) -> bool:
        """Move what OpenSSL wrote into MTU-sized datagrams; True if there was anything."""
        chunks = []
        while True:
            try:
                chunks.append(self._conn.bio_read(65536))
            except SSL.WantReadError:
                break
        if not chunks:
            return False
        datagrams = _pack_records(b"".join(chunks), self.mtu)
        self._outgoing.extend(datagrams)
        if not self._handshake_done:
            self._last_flight = datagrams
        return True

    def _fail(self, reason: str) -> None:
        if self._handshake_done and self.state == "connecting":
            try:  # tell the peer (e.g. fingerprint mismatch found after the handshake)
                self._conn.shutdown()
            except SSL.Error:
                pass
            self._flush()
        self.state = "failed"
        self.error = reason
        self._retransmit_at = None


def _verify_callback(conn: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
    """Accept self-signed certificates; reject a leaf that contradicts known fingerprints."""
    session = conn.get_app_data()
    if depth != 0 or not isinstance(session, DtlsSession) or not session._fingerprints:
        return True
    der = cert.to_cryptography().public_bytes(serialization.Encoding.DER)
    if session._matches(der):
        return True
    session._verify_mismatch = True
    return False


def _pack_records(data: bytes, mtu: int) -> list[bytes]:
    """Split a stream of DTLS records and pack whole records into datagrams ≤ ``mtu``."""
    datagrams: list[bytes] = []
    current = b""
    offset, n = 0, len(data)
    while offset < n:
        if n - offset < _RECORD_HEADER:
            end = n
        else:
            end = min(n, offset + _RECORD_HEADER + int.from_bytes(data[offset + 11:offset + 13], "big"))
        record = data[offset:end]
        offset = end
        if current and len(current) + len(record) > mtu:
            datagrams.append(current)
            current = b""
        current += record
    if current:
        datagrams.append(current)
    return datagrams


def _describe(exc: SSL.Error, during_handshake: bool = True) -> str:
    """A short reason from an OpenSSL error (its last reason string)."""
    reasons: list[str] = []
    if exc.args and isinstance(exc.args[0], list):
        for entry in exc.args[0]:
            if isinstance(entry, tuple) and entry:
                reasons.append(str(entry[-1]))
    elif len(exc.args) >= 2:
        reasons.append(str(exc.args[1]))
    prefix = "DTLS handshake failed: " if during_handshake else "DTLS error: "
    return prefix + (reasons[-1] if reasons else type(exc).__name__)
