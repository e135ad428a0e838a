"""A "browser-like" WebRTC peer built from our own pieces, for back-to-back endpoint tests.

It does what Chrome does against an ICE-lite DTLS-server answerer: sends Binding
requests as ICE controlling agent (USE-CANDIDATE on the nominated pair), starts DTLS as
client once a check succeeded, verifies the endpoint's fingerprint, and then sends and
receives SRTP.
"""

from __future__ import annotations

from wcs.rtp.srtp import SrtpSession
from wcs.webrtc import stun
from wcs.webrtc.certificate import parse_fingerprint
from wcs.webrtc.demux import classify
from wcs.webrtc.dtls import DtlsSession
from wcs.webrtc.stun import parse_message
from wcs.webrtc.transport import WebRtcEndpoint

from .dtls_pair import CLIENT_CERT, fingerprint
from .helpers import binding_request

Address = tuple[str, int]
ENDPOINT = ("127.0.0.1", 40000)


class Browser:
    """One browser transport talking to ``endpoint`` at ``ENDPOINT``."""

    ufrag = "brow"
    pwd = "browserpasswordbrowser12"

    def __init__(self, endpoint: WebRtcEndpoint, addr: Address = ("127.0.0.1", 50000),
                 dtls_role: str = "client") -> None:
        self.endpoint = endpoint
        self.addr = addr
        algorithm, _ = parse_fingerprint(endpoint.fingerprint)
        remote = [(algorithm, endpoint.fingerprint.split()[1])]
        self.dtls = DtlsSession(CLIENT_CERT, is_server=dtls_role == "server", remote_fingerprints=remote)
        self.successes = 0
        self.errors: list[int] = []
        self.received: list[bytes] = []
        self._tid = 0

    @property
    def srtp(self) -> SrtpSession:
        return self.dtls.srtp_session()

    def check(self, now: float, *, use_candidate: bool = True, addr: Address | None = None) -> None:
        """Send one connectivity check (from ``addr``, default ours) and process the reply.

        A first success starts the browser's DTLS client; its ClientHello stays queued
        until :meth:`deliver`.
        """
        self._tid += 1
        request = binding_request(f"{self.endpoint.local_ufrag}:{self.ufrag}", self.endpoint.local_pwd,
                                  tid=self._tid.to_bytes(12, "big"), use_candidate=use_candidate)
        self.endpoint.receive(request, addr or self.addr, now)
        for data, dest in self.endpoint.datagrams_to_send():
            self._on_datagram(data, dest, now)

    def deliver(self, now: float) -> None:
        """Hand everything the endpoint wants to send to this browser (any of its addresses)."""
        for _ in range(50):
            moved = False
            for data, dest in self.endpoint.datagrams_to_send():
                moved = True
                self._on_datagram(data, dest, now)
            for data in self.dtls.datagrams_to_send():
                moved = True
                self.endpoint.receive(data, self.addr, now)
            if not moved:
                return
        raise AssertionError("never quiet")

    def _on_datagram(self, data: bytes, dest: Address, now: float) -> None:
        kind = classify(data)
        if kind == "stun":
            response = parse_message(data)
            assert response.has_fingerprint
            if response.message_class == stun.SUCCESS_RESPONSE:
                assert response.check_integrity(self.endpoint.local_pwd.encode())
                assert response.xor_mapped_address == dest
                self.successes += 1
                if self.dtls.state == "new":
                    self.dtls.start(now)
            else:
                assert response.error_code is not None
                self.errors.append(response.error_code[0])
        elif kind == "dtls":
            assert dest == self.addr
            self.dtls.receive(data, now)
        elif kind in ("rtp", "rtcp"):
            assert dest == self.addr
            srtp = self.srtp
            self.received.append(srtp.unprotect_rtcp(data) if kind == "rtcp" else srtp.unprotect(data))
        else:
            raise AssertionError(f"endpoint sent {kind}")


def connect(endpoint: WebRtcEndpoint, browser: Browser | None = None, now: float = 0.0) -> Browser:
    """Check (nominating), then run DTLS to completion; returns the browser."""
    browser = browser or Browser(endpoint)
    endpoint.start(now)
    browser.check(now)
    browser.deliver(now)
    return browser


def endpoint_for(browser_fingerprints: bool = True, **kwargs: object) -> WebRtcEndpoint:
    from wcs.entropy import SeededEntropy

    from .dtls_pair import SERVER_CERT

    remote = fingerprint(CLIENT_CERT) if browser_fingerprints else []
    return WebRtcEndpoint(SERVER_CERT, entropy=SeededEntropy(5), remote_fingerprints=remote,
                          **kwargs)  # type: ignore[arg-type]
