"""Video against real Chromium (headless, Playwright): its VP8/H.264 through our code, ours through its.

Chromium sends its fake camera (320x240) over a WebRtcEndpoint (ICE-lite, DTLS-SRTP);
we depacketize and decode it with PyAV, ask for a keyframe with an RTCP PLI made by
:class:`KeyframeRequester` (Chromium's ``pliCount`` and a second keyframe prove it
worked), and send :class:`BlackVideoGenerator` output back, which Chromium must decode
(``framesDecoded``, ``frameWidth``).  In the ``transcode`` case Chromium's VP8 comes back
to it as H.264 from :class:`VideoTranscoder` (both payload types are in the answer).
Set ``WCS_VIDEO_CAPTURE=dir`` to dump Chromium's first decrypted RTP packets (that is
how tests/data/video/chromium156_*.rtp were made).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wcs.entropy import SeededEntropy
from wcs.rtp.ffmpeg import VideoDecoder
from wcs.rtp.generators import BlackVideoGenerator
from wcs.rtp.packet import RtpPacket, is_rtcp
from wcs.rtp.rtcp import Fir, Pli, ReceiverReport, parse_compound, serialize_compound
from wcs.rtp.video.common import RtpWriter, VideoFrame
from wcs.rtp.video.h264 import H264Depacketizer
from wcs.rtp.video.keyframe import FeedbackSupport, KeyframeRequester
from wcs.rtp.video.transcode import VideoTranscoder
from wcs.rtp.video.vp8 import Vp8Depacketizer
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.transport import WebRtcEndpoint, host_candidate

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")

PAGE = "http://127.0.0.1:9/"
OUR_SSRC = 0x0BADCAFE
OFFER_JS = """
async () => {
  const stream = await navigator.mediaDevices.getUserMedia({video: {width: 320, height: 240, frameRate: 15}});
  const pc = new RTCPeerConnection({bundlePolicy: "max-compat"});
  window.pc = pc;
  pc.addTrack(stream.getVideoTracks()[0], stream);
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  return offer.sdp;
}
"""
STATS_JS = """
async () => {
  const out = {framesDecoded: 0, frameWidth: 0, frameHeight: 0, pliCount: 0, keyFramesEncoded: 0,
               decoder: null, encoder: null};
  (await window.pc.getStats()).forEach(r => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.framesDecoded = r.framesDecoded || 0; out.frameWidth = r.frameWidth || 0;
      out.frameHeight = r.frameHeight || 0; out.decoder = r.decoderImplementation || null;
    }
    if (r.type === "outbound-rtp" && r.kind === "video") {
      out.pliCount = r.pliCount || 0; out.keyFramesEncoded = r.keyFramesEncoded || 0;
      out.encoder = r.encoderImplementation || null;
    }
  });
  return out;
}
"""


def _attr(sdp: str, name: str) -> str:
    match = re.search(rf"^a={name}:(.+?)\r?$", sdp, re.M)
    assert match, f"no a={name} in offer"
    return match.group(1).strip()


def _payload_type(offer: str, codec: str) -> int:
    if codec == "vp8":
        match = re.search(r"^a=rtpmap:(\d+) VP8/90000", offer, re.M)
    else:
        fmtp = r"^a=fmtp:(\d+) level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
        match = re.search(fmtp, offer, re.M)
    assert match, f"Chromium offers no {codec}"
    return int(match.group(1))


def _answer(offer: str, endpoint: WebRtcEndpoint, port: int, pts: dict[str, int]) -> str:
    mid = _attr(offer, "mid")
    fmt = []
    for codec, pt in pts.items():
        if codec == "vp8":
            fmt.append(f"a=rtpmap:{pt} VP8/90000")
        else:
            fmt += [f"a=rtpmap:{pt} H264/90000",
                    f"a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"]
        fmt += [f"a=rtcp-fb:{pt} nack pli", f"a=rtcp-fb:{pt} ccm fir"]
    lines = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=ice-lite", f"a=group:BUNDLE {mid}",
        f"m=video {port} UDP/TLS/RTP/SAVPF {' '.join(map(str, pts.values()))}", "c=IN IP4 127.0.0.1",
        f"a=ice-ufrag:{endpoint.local_ufrag}", f"a=ice-pwd:{endpoint.local_pwd}",
        f"a=fingerprint:{endpoint.fingerprint}", f"a=setup:{endpoint.setup}", f"a=mid:{mid}",
        "a=sendrecv", "a=rtcp-mux", "a=rtcp-rsize", *fmt, f"a=ssrc:{OUR_SSRC} cname:wcs",
        f"a=candidate:{host_candidate('127.0.0.1', port)}", "a=end-of-candidates",
    ]
    return "\r\n".join(lines) + "\r\n"


class Driver(threading.Thread):
    """Runs the endpoint: collects Chromium's video, sends black video, asks for one keyframe."""

    def __init__(self, endpoint: WebRtcEndpoint, sock: socket.socket, codec: str, pts: dict[str, int],
                 transcode: bool) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.sock, self.codec = endpoint, sock, codec
        self.stop = threading.Event()
        self.generator = BlackVideoGenerator(codec, pts[codec], ssrc=OUR_SSRC, entropy=SeededEntropy(1))
        self.transcoder = VideoTranscoder("vp8", "h264", max_payload=1100) if transcode else None
        self.writer = RtpWriter(pts.get("h264", 0), ssrc=OUR_SSRC, entropy=SeededEntropy(2))
        self.plis_in = 0
        self.requester = KeyframeRequester(FeedbackSupport(pli=True, fir=True), sender_ssrc=OUR_SSRC)
        self.depacketizer = Vp8Depacketizer() if codec == "vp8" else H264Depacketizer()
        self.rtp_in: list[bytes] = []
        self.frames: list[VideoFrame] = []
        self.pli_sent = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def _send_rtcp(self, now: float) -> None:
        for req in self.requester.pop_requests():
            assert req.rtcp is not None
            out = self.endpoint.protect_rtcp(serialize_compound([ReceiverReport(OUR_SSRC, []), req.rtcp]))
            if out is not None:
                self.sock.sendto(*out)
                self.pli_sent = True

    def _loop(self) -> None:
        endpoint, gen = self.endpoint, self.generator
        while not self.stop.is_set():
            now = time.monotonic()
            for data, addr in endpoint.datagrams_to_send():
                self.sock.sendto(data, addr)
            if endpoint.state == "connected" and self.transcoder is None:
                gen.start(now)
                gen.handle_timer(now)
                for packet in gen.pop_packets():
                    out = endpoint.protect_rtp(packet)
                    if out is not None:
                        self.sock.sendto(*out)
            if endpoint.state == "connected":
                if len(self.frames) >= 10 and not self.pli_sent:
                    self.requester.request(now)
                    self._send_rtcp(now)
            deadlines = [t for t in (endpoint.get_timer(), gen.get_timer()) if t is not None]
            wait = max(0.001, min([0.01, *[t - now for t in deadlines]]))
            self.sock.settimeout(wait)
            try:
                data, source = self.sock.recvfrom(4096)
            except TimeoutError:
                timer = endpoint.get_timer()
                if timer is not None and time.monotonic() >= timer:
                    endpoint.handle_timer(time.monotonic())
                continue
            for packet in endpoint.receive(data, source[:2], time.monotonic()):
                if is_rtcp(packet):
                    self._on_rtcp(packet)
                    continue
                self.rtp_in.append(packet)
                if self.requester.media_ssrc is None:
                    self.requester.media_ssrc = RtpPacket.parse(packet).ssrc
                self.frames += self.depacketizer.push_packet(packet)
                if self.transcoder is not None:
                    for out in self.transcoder.receive(packet):
                        protected = endpoint.protect_rtp(self.writer.write_packet(out))
                        if protected is not None:
                            self.sock.sendto(*protected)
                    if self.transcoder.pop_keyframe_request():
                        self.requester.request(time.monotonic())
                        self._send_rtcp(time.monotonic())

    def _on_rtcp(self, packet: bytes) -> None:
        """Chromium's PLI/FIR for our stream: a keyframe from the generator or the transcoder."""
        for rtcp in parse_compound(packet):
            target = rtcp.media_ssrc if isinstance(rtcp, Pli) else None
            if isinstance(rtcp, Fir):
                target = next((ssrc for ssrc, _ in rtcp.entries if ssrc == OUR_SSRC), None)
            if target == OUR_SSRC:
                self.plis_in += 1
                self.generator.request_keyframe()
                if self.transcoder is not None:
                    self.transcoder.request_keyframe()


@pytest.mark.parametrize("codec", ["vp8", "h264", "transcode"])
def test_chromium_video_both_ways(codec: str, tmp_path: Path) -> None:
    transcode = codec == "transcode"
    codec = "vp8" if transcode else codec
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    cert = Certificate.generate(datetime(2026, 1, 1, tzinfo=UTC))
    endpoint = WebRtcEndpoint(cert)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
             "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--allow-loopback-in-peer-connection"]
    stats: dict[str, Any] = {}
    driver: Driver | None = None
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=flags)
        try:
            page = context.new_page()
            page.route(PAGE, lambda route: route.fulfill(status=200, content_type="text/html",
                                                         body="<!doctype html><title>wcs</title>"))
            page.goto(PAGE)
            offer: str = page.evaluate(OFFER_JS)
            pts = {c: _payload_type(offer, c) for c in (("vp8", "h264") if transcode else (codec,))}
            fingerprint = _attr(offer, "fingerprint").split()
            endpoint.set_remote_fingerprints([(fingerprint[0], fingerprint[1])], time.monotonic())
            endpoint.set_remote_credentials(_attr(offer, "ice-ufrag"), _attr(offer, "ice-pwd"))
            endpoint.start(time.monotonic())
            driver = Driver(endpoint, sock, codec, pts, transcode)
            driver.start()
            answer = _answer(offer, endpoint, port, pts)
            page.evaluate("async (sdp) => window.pc.setRemoteDescription({type: 'answer', sdp})", answer)
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                stats = page.evaluate(STATS_JS)
                keyframes = sum(f.keyframe for f in driver.frames)
                if stats["framesDecoded"] >= 10 and stats["pliCount"] >= 1 and keyframes >= 2:
                    break
                page.wait_for_timeout(200)
        finally:
            if driver is not None:
                driver.stop.set()
                driver.join(5)
            context.close()
            sock.close()
    assert driver is not None and driver.error is None, driver and driver.error
    assert endpoint.state == "connected", (endpoint.state, endpoint.error)
    # Chromium decoded our black video, or its own camera transcoded to H.264
    assert stats["framesDecoded"] >= 10 and (stats["frameWidth"], stats["frameHeight"]) == (320, 240), stats
    if driver.transcoder is not None:
        assert driver.transcoder.frames_encoded >= 10 and driver.transcoder.decode_errors == 0
    # our depacketizer and PyAV decoded Chromium's; the PLI brought a second keyframe
    frames = driver.frames
    assert len(frames) >= 10 and frames[0].keyframe, [(f.keyframe, f.discontinuity) for f in frames[:5]]
    assert stats["pliCount"] >= 1 and sum(f.keyframe for f in frames) >= 2, stats
    decoder = VideoDecoder(codec)
    sizes = {(p.width, p.height) for f in frames for p in decoder.decode(f.data, f.timestamp)}
    assert sizes and all(w <= 320 and h <= 240 for w, h in sizes), sizes
    dep = driver.depacketizer
    assert dep.packets_malformed == 0 and dep.frames_emitted == len(frames)
    capture = os.environ.get("WCS_VIDEO_CAPTURE")
    if capture and not transcode:  # the first 1.5 s of media packets (padding-only probes included)
        first_ts = RtpPacket.parse(driver.rtp_in[0]).timestamp
        keep = [p for p in driver.rtp_in if (RtpPacket.parse(p).timestamp - first_ts) & 0xFFFFFFFF < 135000]
        dump = b"".join(struct.pack("!H", len(p)) + p for p in keep)
        Path(capture, f"chromium_{codec}.rtp").write_bytes(dump)
        Path(capture, f"chromium_{codec}.txt").write_text(f"{stats}\n{offer}")
