"""SRTP on a relayed stream's SIP leg, keyed by SDES (RFC 3711, RFC 4568).

Theory of operation
-------------------
When the negotiation keyed a stream (``StreamPlan.sip_srtp``, :mod:`wcs.sdp.sdes`), the
relay decrypts and authenticates what the SIP peer sends (SRTP on the RTP port, SRTCP on
the RTCP port or on the RTP port with rtcp-mux) before anything else looks at it, and
protects everything it sends there — forwarded media, DTMF events, generated media, RTCP
reports and keyframe requests.  Each SDES key is one direction's master key (RFC 4568
§5.1.1): ours keys the sending context, the peer's the receiving one, with libsrtp's replay
window (RFC 3711 §3.3.2) over any SSRC the peer uses.

A renegotiation that keeps both keys keeps both contexts; one that changes a key replaces
only that direction's context, so our outgoing stream's rollover counter continues while
our key does.  The peer's key lifetime (RFC 4568 §6.1), when it declared one, is enforced:
packets beyond it are refused ("MUST NOT accept incoming packets that violate the policy").
"""

from __future__ import annotations

from collections import Counter

from ...rtp.errors import SrtpError
from ...rtp.srtp import SrtpSession
from ...sdp.crypto import SrtpKeys

__all__ = ["SipSrtp"]

Buffer = bytes | bytearray | memoryview


class SipSrtp:
    """The SIP leg's SRTP/SRTCP contexts of one stream (see the module docstring).

    Packets libsrtp refuses are counted in ``dropped`` (by reason) and come back as None.
    """

    __slots__ = ("keys", "dropped", "_tx", "_rx", "_limit", "received", "received_rtcp")

    def __init__(self, keys: SrtpKeys, dropped: Counter[str], tx: SrtpSession | None = None) -> None:
        self.keys = keys
        self.dropped = dropped
        session = SrtpSession.from_keys(keys.profile, keys.local, keys.remote)
        self._tx = tx or session
        self._rx = session
        self._limit = keys.remote_lifetime
        #: SRTP / SRTCP packets accepted under the peer's current key
        self.received = 0
        self.received_rtcp = 0

    @classmethod
    def update(cls, current: SipSrtp | None, keys: SrtpKeys | None, dropped: Counter[str]) -> SipSrtp | None:
        """The contexts for ``keys`` (None: plain RTP), reusing what did not change."""
        if keys is None:
            return None
        if current is None or current.keys.suite != keys.suite or current.keys.local != keys.local:
            return cls(keys, dropped)
        if current.keys.remote == keys.remote:
            current.keys = keys
            return current
        return cls(keys, dropped, current._tx)   # only the peer re-keyed: our sending context goes on

    def seal(self, packet: Buffer) -> bytes | None:
        """SRTP for the peer (None: refused, counted)."""
        try:
            return self._tx.protect(packet)
        except SrtpError as exc:
            self.dropped[f"SRTP toward the SIP side: {exc.reason}"] += 1
            return None

    def seal_rtcp(self, packet: Buffer) -> bytes | None:
        try:
            return self._tx.protect_rtcp(packet)
        except SrtpError as exc:
            self.dropped[f"SRTCP toward the SIP side: {exc.reason}"] += 1
            return None

    def open(self, data: Buffer) -> bytes | None:
        """The decrypted RTP packet (None: authentication, replay or lifetime failure, counted)."""
        try:
            if self._limit is not None and self.received >= self._limit:
                raise SrtpError("SRTP master key lifetime used up")
            packet = self._rx.unprotect(data)
        except SrtpError as exc:
            self.dropped[f"SRTP from the SIP side: {exc.reason}"] += 1
            return None
        self.received += 1
        return packet

    def open_rtcp(self, data: Buffer) -> bytes | None:
        try:
            if self._limit is not None and self.received_rtcp >= self._limit:
                raise SrtpError("SRTP master key lifetime used up")
            packet = self._rx.unprotect_rtcp(data)
        except SrtpError as exc:
            self.dropped[f"SRTCP from the SIP side: {exc.reason}"] += 1
            return None
        self.received_rtcp += 1
        return packet
