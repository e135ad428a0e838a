"""H.264 through the gateway, and VP8 ⇄ H.264 transcoding, against a TEST-ONLY SIP video phone.

No independent SIP peer here speaks H.264 (baresip has no avcodec module, pjsua2's wheel has no video),
so the "phone" is our own code: :class:`H264Peer` — wcs.aio.sip for SIP (registered at Kamailio as
1003), wcs.rtp.ffmpeg (libx264, Constrained Baseline) for a synthetic moving clip, wcs.rtp.video.h264 to
packetize it (packetization-mode 1: STAP-A for SPS+PPS, FU-A for large slices) and to depacketize and
decode what it receives.  What these tests prove is therefore agreement between Chromium's H.264/VP8
and our gateway with our own packetizer — not interoperability with an independent SIP video phone.

* the browser calls the peer with video: H.264 passthrough (the gateway's stats show no transcoding),
  the browser decodes H264 frames, the peer decodes the browser's;
* the peer calls the browser with H.264 video, the browser answers with video;
* the peer drops its first keyframe (as if lost): the browser can only decode once a keyframe request
  reached the peer — RTCP PLI when the peer declared `nack pli`, SIP INFO picture_fast_update when not;
* `video_transcoding=true` and a browser that offers only VP8 (stripCodecs "H264"): the gateway offers
  H.264 too, the peer picks it, the relay transcodes both ways; the transcoder's decoder asks the peer
  for the keyframe it missed.  (The incoming direction — an H.264-only SIP offer answered by a VP8-only
  browser — is tested sans-I/O only: the SDK's stripCodecs on `answer` strips only the SDP it sends to
  the server, Chrome itself keeps H.264 and sends it, so no such browser can be simulated here.)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import pytest

from wcs.aio.sip import SipEndpoint, create_sip_endpoint
from wcs.rtp.ffmpeg import Picture, VideoDecoder, VideoEncoder
from wcs.rtp.packet import RtpPacket
from wcs.rtp.rtcp import Fir, Pli, ReceiverReport, parse_compound, serialize_compound
from wcs.rtp.video.common import RtpWriter
from wcs.rtp.video.errors import DecodeError
from wcs.rtp.video.h264 import FU_A, STAP_A, H264Depacketizer, H264Packetizer, split_annex_b
from wcs.rtp.video.keyframe import is_picture_fast_update
from wcs.sdp.build import remote_rtcp, remote_rtp
from wcs.sdp.codecs import media_formats
from wcs.sdp.h264 import h264_profile, packetization_mode, profile_level_id
from wcs.sdp.parse import parse_sdp
from wcs.sip.events import InfoReceived
from wcs.sip.transport import Address
from wcs.sip.ua import Account, CallAnswered, IncomingCall, RegistrationChanged, UaEvent

from .rig.browser import Phone
from .rig.common import LOOPBACK
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .test_call_scenarios import CALL_TERMINAL, register_browser
from .test_keepalive_and_rest import rest
from .test_video import wait_decoding

pytestmark = pytest.mark.interop

WIDTH, HEIGHT, FPS = 320, 240, 15
H264_FMTP = "profile-level-id=42e01f;packetization-mode=1"
H264_PT = 102


def clip_picture(k: int) -> Picture:
    """Frame ``k`` of a synthetic clip: diagonal bands moving across a fixed noise texture."""
    rows, cols = np.arange(HEIGHT)[:, None], np.arange(WIDTH)[None, :]
    texture = np.random.default_rng(7).integers(0, 48, (HEIGHT, WIDTH))
    luma = ((rows * 2 + cols * 3 + 6 * k) % 160 + texture + 16).astype(np.uint8)
    chroma = np.full((HEIGHT // 2, WIDTH), 128, np.uint8)
    frame = av.VideoFrame.from_ndarray(np.vstack([luma, chroma]), format="yuv420p")
    return Picture(frame)


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.handler(data, addr)


class H264Peer:
    """A test-only SIP video phone (see the module docstring), run on its own event loop thread."""

    def __init__(self, user: str = "1003", password: str = "pass1003", proxy_port: int = 5060, *,
                 feedback: bool = True, drop_first_keyframe: bool = True) -> None:
        self.user, self.password, self.proxy_port = user, password, proxy_port
        self.feedback = feedback
        self.drop_first_keyframe = drop_first_keyframe
        self.counts: Counter[str] = Counter()
        self.log: list[str] = []
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"h264-peer-{user}", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ep: SipEndpoint | None = None
        self._account = Account(user, LOOPBACK, password=password, proxy=Address(LOOPBACK, proxy_port))
        self._sockets: dict[str, _Socket] = {}
        self._ports: dict[str, int] = {}
        self._remote: dict[str, tuple[str, int]] = {}
        self._video_pt = H264_PT
        self._session: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._keyframe = True
        self._on_unregistered: Callable[[], None] = lambda: None
        self._last_pli = 0.0
        self._ssrc = 0x264264
        self._depacketizer = H264Depacketizer()
        self._decoder = VideoDecoder("h264")

    # -- control from the test thread -------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> H264Peer:
        self._thread.start()
        if not self._ready.wait(timeout) or self.error is not None:
            raise AssertionError(f"the H.264 peer did not register: {self.error!r}\n" + "\n".join(self.log))
        return self

    def call(self, target: str) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._invite, target)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait(self, what: str, at_least: int, timeout: float = 15.0) -> int:
        end = time.monotonic() + timeout
        while self.counts[what] < at_least:
            if time.monotonic() > end:
                raise AssertionError(f"H.264 peer: {what} = {self.counts[what]} < {at_least} after "
                                     f"{timeout} s: {dict(self.counts)}\n" + "\n".join(self.log[-30:]))
            time.sleep(0.1)
        return self.counts[what]

    # -- the peer's loop --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        registered = asyncio.Event()

        def on_event(event: UaEvent) -> None:
            self.log.append(f"{time.monotonic():.3f} {type(event).__name__}")
            if isinstance(event, RegistrationChanged) and event.state == "registered":
                registered.set()
            elif isinstance(event, RegistrationChanged) and event.state == "unregistered":
                self._on_unregistered()
            elif isinstance(event, IncomingCall):
                self._answer(event)
            elif isinstance(event, CallAnswered):
                if event.sdp is not None and not event.session.incoming:
                    self._use_answer(event.sdp)
                self._start_media()
            elif isinstance(event, InfoReceived):
                if is_picture_fast_update(event.body):
                    self.counts["info picture_fast_update"] += 1
                    self._keyframe = True

        for kind in ("audio", "video", "rtcp"):
            transport, proto = await self._loop.create_datagram_endpoint(
                lambda kind=kind: _Socket(lambda d, a, kind=kind: self._received(kind, d, a)),  # type: ignore[misc]
                local_addr=(LOOPBACK, 0))
            self._sockets[kind] = proto
            self._ports[kind] = transport.get_extra_info("sockname")[1]
        self._ep = await create_sip_endpoint(LOOPBACK, 0, on_event, user_agent="wcs-test-h264-peer")
        registration = self._ep.register(self._account)
        await asyncio.wait_for(registered.wait(), 5)
        self._ready.set()
        await self._stop.wait()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            if self._session is not None and not self._session.ended:
                self._ep.cancel_or_bye(self._session)
                await asyncio.sleep(0.2)
        # unbind before closing: a stale contact would become a silent fork branch for a later
        # test calling 1003 (Kamailio waits fr_timer on it before relaying the busy answer)
        unregistered = asyncio.Event()
        self._on_unregistered = unregistered.set
        with contextlib.suppress(Exception):
            self._ep.unregister(registration)
            await asyncio.wait_for(unregistered.wait(), 2)
        self._ep.close()
        for proto in self._sockets.values():
            if proto.transport is not None:
                proto.transport.close()

    # -- SDP ----------------------------------------------------------------------------------------

    def _sdp(self, video_pt: int, audio: bool = True) -> bytes:
        lines = ["v=0", "o=h264peer 1 1 IN IP4 127.0.0.1", "s=-", f"c=IN IP4 {LOOPBACK}", "t=0 0"]
        lines += [f"m=audio {self._ports['audio'] if audio else 0} RTP/AVP 0", "a=rtpmap:0 PCMU/8000",
                  "a=sendrecv"]
        lines += [f"m=video {self._ports['video']} RTP/AVP {video_pt}", f"a=rtpmap:{video_pt} H264/90000",
                  f"a=fmtp:{video_pt} {H264_FMTP}", f"a=rtcp:{self._ports['rtcp']}"]
        if self.feedback:
            lines.append(f"a=rtcp-fb:{video_pt} nack pli")
        lines.append("a=sendrecv")
        return ("\r\n".join(lines) + "\r\n").encode()

    def _answer(self, event: IncomingCall) -> None:
        assert self._ep is not None
        offer = parse_sdp(event.session.remote_sdp or b"")
        audio = next((md for md in offer.media if md.kind == "audio" and "0" in md.formats and md.port), None)
        video = next((md for md in offer.media if md.kind == "video" and md.port), None)
        h264 = next((f for f in (media_formats(video) if video else []) if f.encoding == "h264"
                     and packetization_mode(f.fmtp) == "1"
                     and h264_profile(profile_level_id(f.fmtp)) == "constrained-baseline"), None)
        if video is None or h264 is None:
            self.log.append(f"no H.264 in the offer: {offer}")
            self._ep.reject(event.session, 488, "Not Acceptable Here")
            return
        self._video_pt = h264.pt
        self._remote["video"] = remote_rtp(offer, video) or ("", 0)
        self._remote["rtcp"] = remote_rtcp(offer, video) or ("", 0)
        if audio is not None:
            self._remote["audio"] = remote_rtp(offer, audio) or ("", 0)
        self._session = event.session
        sdp = self._sdp(h264.pt, audio is not None)
        if len(offer.media) > 2 or offer.media[0].kind != "audio":
            raise AssertionError(f"unexpected offer layout: {offer}")
        self._ep.answer(event.session, sdp)
        self.log.append(f"answered with H.264 PT {h264.pt}")

    def _invite(self, target: str) -> None:
        assert self._ep is not None
        self._session = self._ep.invite(self._account, target, self._sdp(H264_PT))

    def _use_answer(self, sdp: bytes) -> None:
        answer = parse_sdp(sdp)
        for md in answer.media:
            if md.port and md.kind in ("audio", "video"):
                self._remote[md.kind] = remote_rtp(answer, md) or ("", 0)
                if md.kind == "video":
                    self._remote["rtcp"] = remote_rtcp(answer, md) or ("", 0)

    # -- media --------------------------------------------------------------------------------------

    def _start_media(self) -> None:
        if self._tasks:
            return
        self.log.append(f"media to {self._remote}")
        assert self._loop is not None
        self._tasks = [self._loop.create_task(self._send_video()), self._loop.create_task(self._send_audio())]

    def _send(self, kind: str, data: bytes) -> None:
        dest = self._remote.get(kind)
        transport = self._sockets[kind].transport
        if dest and dest[1] and transport is not None:
            transport.sendto(data, dest)

    async def _send_audio(self) -> None:
        writer = RtpWriter(0)
        k = 0
        start = time.monotonic()
        while True:
            self._send("audio", writer.write(b"\xff" * 160, 160 * k, k == 0))
            k += 1
            await asyncio.sleep(max(0.0, start + k * 0.02 - time.monotonic()))

    async def _send_video(self) -> None:
        encoder = VideoEncoder("h264", WIDTH, HEIGHT, bitrate=500_000, fps=FPS, keyframe_interval=100_000)
        packetizer = H264Packetizer(1200, 1)
        writer = RtpWriter(self._video_pt, ssrc=self._ssrc)
        start = time.monotonic()
        k = 0
        while True:
            ts = k * 90000 // FPS
            keyframe, self._keyframe = self._keyframe, False
            for frame in encoder.encode(clip_picture(k), ts, keyframe=keyframe):
                if frame.keyframe:
                    self.counts["keyframes encoded"] += 1
                    if self.drop_first_keyframe and self.counts["keyframes encoded"] == 1:
                        self.log.append("first keyframe dropped on purpose")
                        continue
                for packet in packetizer.packetize(split_annex_b(frame.data), frame.pts):
                    kind = packet.payload[0] & 0x1F
                    self.counts["STAP-A sent" if kind == STAP_A else "FU-A sent" if kind == FU_A
                                else "single NAL sent"] += 1
                    self._send("video", writer.write_packet(packet))
                self.counts["frames sent"] += 1
            k += 1
            await asyncio.sleep(max(0.0, start + k / FPS - time.monotonic()))

    def _received(self, kind: str, data: bytes, addr: tuple[str, int]) -> None:
        if kind == "rtcp":
            try:
                packets = parse_compound(data)
            except Exception:
                self.counts["bad rtcp"] += 1
                return
            for feedback in packets:
                if isinstance(feedback, Pli | Fir):
                    self.counts[f"{type(feedback).__name__.upper()} received"] += 1
                    self._keyframe = True
            return
        if kind != "video" or len(data) < 12 or 191 < data[1] < 224:
            return
        packet = RtpPacket.parse(data)
        self.counts["video packets received"] += 1
        for frame in self._depacketizer.push(packet.payload, packet.sequence_number, packet.timestamp,
                                             packet.marker):
            self.counts["frames received"] += 1
            if frame.discontinuity and not frame.keyframe:
                self._picture_lost(packet.ssrc)
                continue
            try:
                self.counts["frames decoded"] += len(self._decoder.decode(frame.data, frame.timestamp))
            except DecodeError as exc:
                self.counts["decode errors"] += 1
                self.log.append(str(exc))
                self._picture_lost(packet.ssrc)

    def _picture_lost(self, media_ssrc: int) -> None:
        """What a phone does on loss: ask for a keyframe (RTCP PLI, RFC 4585 §6.3.1), at most every 0.5 s."""
        now = time.monotonic()
        if not self.feedback or now < self._last_pli + 0.5 or "rtcp" not in self._remote:
            return
        self._last_pli = now
        packet = serialize_compound([ReceiverReport(self._ssrc), Pli(self._ssrc, media_ssrc)])
        transport = self._sockets["rtcp"].transport
        if transport is not None:
            transport.sendto(packet, self._remote["rtcp"])
            self.counts["PLI sent"] += 1


@pytest.fixture
def h264_peer(kamailio: Kamailio, rig_log: Any) -> Any:
    started: list[H264Peer] = []

    def make(**kwargs: Any) -> H264Peer:
        peer = H264Peer(proxy_port=kamailio.udp_port, **kwargs)
        rig_log.add_source("H.264 peer", lambda: f"{dict(peer.counts)}\n" + "\n".join(peer.log[-60:]))
        started.append(peer.start())
        return peer

    yield make
    for peer in started:
        peer.stop()


def processing(gateway: Gateway, call_id: str) -> dict[str, Any]:
    status, body = rest(gateway, "stats", {"callId": call_id})
    assert status == 200, body
    [video] = [p for p, s in zip(body["processing"], body["streams"], strict=True) if s["kind"] == "video"]
    return {"video": video, "stats": body}


def test_browser_calls_the_h264_peer_passthrough(kamailio: Kamailio, gateway: Gateway, phone: Phone,
                                                 h264_peer: Any) -> None:
    peer = h264_peer(feedback=True)
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1003", video=True)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    browser = wait_decoding(phone, "H264")
    peer.wait("frames decoded", 10)
    seen = processing(gateway, call_id)
    print(f"browser: {browser}; peer: {dict(peer.counts)}; gateway: {seen}")
    assert seen["video"]["codec"] == {"browser": "H264", "sip": "H264"} and not seen["video"]["transcoded"]
    assert peer.counts["STAP-A sent"] >= 1 and peer.counts["FU-A sent"] >= 1
    # the peer's first keyframe never went out: the browser's PLI reached it as RTCP PLI
    assert peer.counts["PLI received"] >= 1 and peer.counts["keyframes encoded"] >= 2
    assert seen["stats"]["keyframeRequests"].get("toSipPli", 0) >= 1
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)


def test_the_h264_peer_calls_the_browser(kamailio: Kamailio, gateway: Gateway, phone: Phone,
                                         h264_peer: Any) -> None:
    peer = h264_peer(feedback=True)
    register_browser(phone, gateway, kamailio)
    peer.call(f"sip:1001@{LOOPBACK}")
    incoming = phone.wait_event("session", "INCOMING_CALL", 15, fail_on=("DISCONNECTED", "FAILED"))
    phone.answer(incoming["callId"], video=True)
    phone.wait_event("call", "ESTABLISHED", 15, call_id=incoming["callId"], fail_on=CALL_TERMINAL)
    browser = wait_decoding(phone, "H264")
    peer.wait("frames decoded", 10)
    print(f"browser: {browser}; peer: {dict(peer.counts)}")
    assert not processing(gateway, incoming["callId"])["video"]["transcoded"]


def test_keyframe_requests_reach_a_peer_without_rtcp_feedback_as_sip_info(
        kamailio: Kamailio, gateway: Gateway, phone: Phone, h264_peer: Any) -> None:
    peer = h264_peer(feedback=False)
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1003", video=True)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    browser = wait_decoding(phone, "H264")
    print(f"browser: {browser}; peer: {dict(peer.counts)}")
    assert peer.counts["info picture_fast_update"] >= 1 and peer.counts["PLI received"] == 0
    assert processing(gateway, call_id)["stats"]["keyframeRequests"].get("toSipInfo", 0) >= 1


def test_vp8_browser_and_h264_peer_through_the_transcoder(kamailio: Kamailio, make_gateway: Any,
                                                          phone: Phone, h264_peer: Any) -> None:
    gateway = make_gateway(extra_args=["--set", "video_transcoding=true"])
    peer = h264_peer(feedback=True)
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1003", video=True, stripCodecs="H264")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    browser = wait_decoding(phone, "VP8", timeout=20)
    peer.wait("frames decoded", 10, timeout=20)
    seen = processing(gateway, call_id)
    print(f"browser: {browser}; peer: {dict(peer.counts)}; gateway: {seen}")
    assert seen["video"]["codec"] == {"browser": "VP8", "sip": "H264"} and seen["video"]["transcoded"]
    # the peer's first keyframe never went out: the transcoder's decoder asked the peer for one
    assert peer.counts["PLI received"] + peer.counts["FIR received"] >= 1
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
