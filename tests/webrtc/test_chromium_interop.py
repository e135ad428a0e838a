"""WebRtcEndpoint against real Chromium (headless, Playwright): ICE-lite, DTLS, SRTP both ways.

The page takes the (fake) microphone with getUserMedia — which also makes Chromium
gather its 127.0.0.1 candidate inside a network namespace holding only ``lo`` — and
makes an RTCPeerConnection offer that carries no candidates, exactly like the WebSDK;
we answer ``a=ice-lite``, ``a=setup:passive`` with one 127.0.0.1 host candidate, and
drive the endpoint over a real UDP socket in a thread (``now`` = the monotonic clock).  Checks: the endpoint
connects, decrypts Chromium's Opus RTP, Chromium decrypts ours (getStats
``packetsReceived``), and the negotiated SRTP profile is AES-GCM (the server-order
choice documented in wcs/webrtc/dtls.py).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from wcs.rtp.packet import is_rtcp
from wcs.webrtc.transport import WebRtcEndpoint, host_candidate

from .dtls_pair import SERVER_CERT

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")

PAGE = "http://127.0.0.1:9/"   # served by Playwright's router: a secure context without a server
OFFER_JS = """
async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const pc = new RTCPeerConnection({bundlePolicy: "max-compat"});
  window.pc = pc;
  pc.addTrack(stream.getAudioTracks()[0], stream);
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  return offer.sdp;
}
"""

STATS_JS = """
async () => {
  const out = {inbound: 0, srtpCipher: null, dtlsState: null, iceState: window.pc.iceConnectionState};
  (await window.pc.getStats()).forEach(r => {
    if (r.type === "inbound-rtp") out.inbound += r.packetsReceived || 0;
    if (r.type === "transport") { out.srtpCipher = r.srtpCipher; out.dtlsState = r.dtlsState; }
  });
  return out;
}
"""


def _attr(sdp: str, name: str) -> str:
    match = re.search(rf"^a={name}:(.+?)\r?$", sdp, re.M)
    assert match, f"no a={name} in offer"
    return match.group(1).strip()


def _answer(offer: str, endpoint: WebRtcEndpoint, port: int) -> str:
    mid = _attr(offer, "mid")
    opus = re.search(r"^a=rtpmap:(\d+) opus/48000/2", offer, re.M)
    assert opus
    pt = opus.group(1)
    lines = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=ice-lite", f"a=group:BUNDLE {mid}",
        f"m=audio {port} UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 127.0.0.1",
        f"a=ice-ufrag:{endpoint.local_ufrag}", f"a=ice-pwd:{endpoint.local_pwd}",
        f"a=fingerprint:{endpoint.fingerprint}", f"a=setup:{endpoint.setup}", f"a=mid:{mid}",
        "a=sendrecv", "a=rtcp-mux", f"a=rtpmap:{pt} opus/48000/2", "a=ssrc:305419896 cname:wcs",
        f"a=candidate:{host_candidate('127.0.0.1', port)}", "a=end-of-candidates",
    ]
    return "\r\n".join(lines) + "\r\n"


class Driver(threading.Thread):
    """Runs the endpoint over a UDP socket; sends 20 ms Opus packets once connected."""

    def __init__(self, endpoint: WebRtcEndpoint, sock: socket.socket, pt: int) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.sock, self.pt = endpoint, sock, pt
        self.stop = threading.Event()
        self.rtp_in: list[bytes] = []
        self.rtcp_in = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def _loop(self) -> None:
        endpoint, seq, next_send = self.endpoint, 0, 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            for data, addr in endpoint.datagrams_to_send():
                self.sock.sendto(data, addr)
            if endpoint.state == "connected" and now >= next_send:
                header = bytes([0x80, self.pt]) + seq.to_bytes(2, "big") + (seq * 960).to_bytes(4, "big")
                out = endpoint.protect_rtp(header + (0x12345678).to_bytes(4, "big") + b"\xf8\xff\xfe")
                if out is not None:
                    self.sock.sendto(*out)
                seq, next_send = seq + 1, now + 0.02
            timer = endpoint.get_timer()
            wait = 0.01 if timer is None else max(0.001, min(0.01, timer - now))
            self.sock.settimeout(wait)
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                timer = endpoint.get_timer()
                if timer is not None and time.monotonic() >= timer:
                    endpoint.handle_timer(time.monotonic())
                continue
            for packet in endpoint.receive(data, source[:2], time.monotonic()):
                if is_rtcp(packet):
                    self.rtcp_in += 1
                else:
                    self.rtp_in.append(packet)


def test_chromium_connects_to_endpoint(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    endpoint = WebRtcEndpoint(SERVER_CERT)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
             "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"]
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=flags)
        driver: Driver | None = None
        try:
            page = context.new_page()
            page.route(PAGE, lambda route: route.fulfill(status=200, content_type="text/html",
                                                         body="<!doctype html><title>wcs</title>"))
            page.goto(PAGE)
            offer: str = page.evaluate(OFFER_JS)
            assert "a=candidate" not in offer  # like the WebSDK: sent before gathering, never trickled
            fingerprint = _attr(offer, "fingerprint").split()
            endpoint.set_remote_fingerprints([(fingerprint[0], fingerprint[1])], time.monotonic())
            endpoint.set_remote_credentials(_attr(offer, "ice-ufrag"), _attr(offer, "ice-pwd"))
            answer = _answer(offer, endpoint, port)
            pt = int(answer.split(f"m=audio {port} UDP/TLS/RTP/SAVPF ")[1].split("\r\n")[0])
            endpoint.start(time.monotonic())
            driver = Driver(endpoint, sock, pt)
            driver.start()
            page.evaluate("async (sdp) => window.pc.setRemoteDescription({type: 'answer', sdp})", answer)
            stats: dict[str, Any] = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                stats = page.evaluate(STATS_JS)
                if stats["inbound"] >= 10 and len(driver.rtp_in) >= 10:
                    break
                page.wait_for_timeout(200)
        finally:
            if driver is not None:
                driver.stop.set()
                driver.join(5)
            context.close()
            sock.close()
    assert driver is not None and driver.error is None, driver and driver.error
    assert endpoint.state == "connected", (endpoint.state, endpoint.error, dict(endpoint.dropped))
    assert endpoint.dtls.srtp_profile == "SRTP_AEAD_AES_128_GCM"
    assert stats["srtpCipher"] == "SRTP_AEAD_AES_128_GCM", stats
    assert stats["dtlsState"] == "connected" and stats["inbound"] >= 10, stats
    assert len(driver.rtp_in) >= 10 and all(p[1] & 0x7F == pt for p in driver.rtp_in)
    assert endpoint.ice.nominated
    assert not {k for k in endpoint.dropped if "SRTP" in k and "before" not in k}, dict(endpoint.dropped)

