"""Simulated call peers built from our own library: a browser's WebRTC transport and a SIP phone's RTP.

Used by ``benchmarks/relay_load.py`` (many calls, an epoll loop of its own) and by
``tests/aio/test_media_*.py`` (a few calls on the asyncio loop).

* :class:`SimBrowser` does what Chrome does toward our ICE-lite, DTLS-server endpoint: a
  STUN Binding request as controlling agent with USE-CANDIDATE (RFC 8445 §7.2.2), then the
  DTLS client handshake checking the server's fingerprint (RFC 5763), then SRTP with the
  exported keys (RFC 5764 §4.2).  It is sans-I/O: :meth:`SimBrowser.receive` takes what
  came from the server, :meth:`SimBrowser.outgoing` gives what to send.
* :class:`SimPhone` is plain RTP (RFC 3550) from a SIP phone.

Media packets carry ``(sender id, sequence counter, send time in ns)`` in the first 20
payload octets, so the receiver can measure loss and one-way latency through the relay
(``time.time_ns``: the clock of the kernel's SO_TIMESTAMPNS receive stamps).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from datetime import UTC, datetime, timedelta

from wcs.entropy import SeededEntropy
from wcs.rtp.errors import SrtpError
from wcs.rtp.srtp import SrtpSession
from wcs.webrtc import stun
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.demux import classify
from wcs.webrtc.dtls import DtlsSession
from wcs.webrtc.stun import StunMessage, parse_message

Address = tuple[str, int]
RTP = struct.Struct("!BBHII")
STAMP = struct.Struct("!IQQ")  # sender id, counter, monotonic ns
PAYLOAD = 160  # 20 ms of G.711

_CERT: Certificate | None = None


def client_certificate() -> Certificate:
    """One certificate for every simulated browser (the server only checks its fingerprint)."""
    global _CERT
    if _CERT is None:
        _CERT = Certificate.generate(datetime.now(UTC) - timedelta(days=1), entropy=SeededEntropy(77))
    return _CERT


def udp_socket(host: str = "127.0.0.1", *, buffer: int = 1 << 20) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


def media_payload(sender: int, counter: int, sent_ns: int | None = None) -> bytes:
    stamp = STAMP.pack(sender, counter, time.time_ns() if sent_ns is None else sent_ns)
    return stamp + bytes(PAYLOAD - len(stamp))


def read_stamp(rtp: bytes) -> tuple[int, int, int]:
    """(sender, counter, send time ns) from a packet made with :func:`media_payload`."""
    start = 12 + 4 * (rtp[0] & 0x0F)
    if rtp[0] & 0x10:
        start += 4 + 4 * int.from_bytes(rtp[start + 2:start + 4], "big")
    return STAMP.unpack_from(rtp, start)  # type: ignore[return-value]


class SimPhone:
    """A SIP phone's RTP: PCMU, 20 ms per packet, fixed SSRC."""

    def __init__(self, ssrc: int, pt: int = 0) -> None:
        self.ssrc, self.pt = ssrc, pt
        self.seq = ssrc & 0xFFFF
        self.ts = ssrc
        self.counter = 0

    def packet(self, sender: int, sent_ns: int | None = None) -> bytes:
        """The next packet; ``sent_ns``: the send time to stamp (default: now)."""
        data = RTP.pack(0x80, self.pt, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.ssrc)
        data += media_payload(sender, self.counter, sent_ns)
        self.seq += 1
        self.ts += 160
        self.counter += 1
        return data


class SimBrowser:
    """A browser's transport toward an ICE-lite DTLS server (see the module docstring)."""

    ufrag = "simb"
    pwd = "simulatedbrowserpassword"

    def __init__(self, server: Address, server_ufrag: str, server_pwd: str, server_fingerprint: str,
                 ssrc: int, pt: int = 0) -> None:
        self.server = server
        self._server_ufrag, self._server_pwd = server_ufrag, server_pwd
        algorithm, value = server_fingerprint.split(" ", 1)
        self.dtls = DtlsSession(client_certificate(), is_server=False,
                                remote_fingerprints=[(algorithm, value)])
        self.srtp: SrtpSession | None = None
        self.phone = SimPhone(ssrc, pt)  # the same RTP numbering, then protected
        self._out: list[bytes] = []
        self._tid = 0
        #: SRTP/SRTCP the server sent that did not decrypt (a relay bug if ever non-empty)
        self.errors: list[str] = []

    @property
    def fingerprint(self) -> tuple[str, str]:
        """Our ``a=fingerprint`` (algorithm, value), for the server's ``connect``."""
        return "sha-256", client_certificate().fingerprint("sha-256")

    @property
    def connected(self) -> bool:
        return self.srtp is not None

    def check(self) -> bytes:
        """A connectivity check nominating the pair (send it; repeat as consent freshness)."""
        self._tid += 1
        request = StunMessage(stun.BINDING, stun.REQUEST, self._tid.to_bytes(12, "big"))
        request.add_text(stun.USERNAME, f"{self._server_ufrag}:{self.ufrag}")
        request.add_uint64(stun.ICE_CONTROLLING, 0x1234_5678_9ABC_DEF0)
        request.add(stun.USE_CANDIDATE, b"")
        request.add_uint32(stun.PRIORITY, 1853824767)
        return request.encode(self._server_pwd.encode(), fingerprint=True)

    def receive(self, data: bytes, now: float) -> bytes | None:
        """Take a datagram from the server; returns decrypted RTP/RTCP, or None (handshake)."""
        kind = classify(data)
        if kind in ("rtp", "rtcp"):
            if self.srtp is None:
                return None
            try:
                return self.srtp.unprotect_rtcp(data) if kind == "rtcp" else self.srtp.unprotect(data)
            except SrtpError as exc:
                self.errors.append(f"{kind}: {exc.reason}")
                return None
        if kind == "stun":
            response = parse_message(data)
            if response.message_class == stun.SUCCESS_RESPONSE and self.dtls.state == "new":
                self.dtls.start(now)
        elif kind == "dtls":
            self.dtls.receive(data, now)
        self._out += self.dtls.datagrams_to_send()
        if self.dtls.state == "connected" and self.srtp is None:
            self.srtp = self.dtls.srtp_session()
        return None

    def outgoing(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def packet(self, sender: int, sent_ns: int | None = None) -> bytes:
        assert self.srtp is not None
        return self.srtp.protect(self.phone.packet(sender, sent_ns))


async def establish(browser: SimBrowser, sock: socket.socket, timeout: float = 5.0) -> None:
    """Run the ICE check and DTLS handshake of ``browser`` over ``sock`` on the running loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await loop.sock_sendto(sock, browser.check(), browser.server)
    while not browser.connected:
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError(f"DTLS with {browser.server} not connected ({browser.dtls.state})")
        try:
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), min(left, 0.5))
        except TimeoutError:
            await loop.sock_sendto(sock, browser.check(), browser.server)  # lost? check again
            continue
        browser.receive(data, loop.time())
        for datagram in browser.outgoing():
            await loop.sock_sendto(sock, datagram, browser.server)
