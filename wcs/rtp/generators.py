"""Media generators: black video and audio silence toward a peer that must see/hear a track.

When a SIP device answers an audio+video call with audio only, the browser still
expects a video track that renders (and audio that plays before the far end speaks).
The gateway then sends generated media (the seed product's ``generate_av_for_ua`` and
``rtp_generator_start_timeout`` settings): :class:`BlackVideoGenerator` for VP8 or
H.264 and :class:`SilenceGenerator` for Opus, PCMU, PCMA or G.722.

Theory of operation
-------------------
A generator is a sans-I/O clock-driven source.  :meth:`RtpGenerator.start` arms it to
begin ``delay`` seconds later (the start timeout; :meth:`RtpGenerator.stop` cancels it,
e.g. when real media arrives first).  Frame ``k`` is due at ``t0 + k * interval`` and
carries RTP timestamp ``ts0 + k * step`` (``interval = step / clock_rate``, so there is
no drift); :meth:`get_timer` returns the next due time and :meth:`handle_timer` queues
the packets due by ``now`` for :meth:`pop_packets`.  After a stall, at most
``max_burst`` frames are sent at once and the others skipped, timestamps still
advancing with real time.  SSRC, first sequence number and ``ts0`` are random (RFC 3550
§5.1) from the injected entropy.

Black video is encoded once per process and parameter set (:func:`black_frames`): a
group of pictures at a low size and rate, opening with a keyframe, is cached and
looped, so a call only pays for RTP framing.  A keyframe request restarts the loop.
Silence is a constant payload: the Opus CELT silence frame ``f8 ff fe`` (TOC: config 31,
20 ms fullband, mono, one frame; RFC 6716 §3.1), ``0xFF`` for PCMU and ``0xD5`` for PCMA
(ITU-T G.711 zero), and ``0xFF`` for G.722 (the codeword pair that decodes to ±3 LSB).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from wcs.entropy import Entropy, SystemEntropy, random_uint
from wcs.rtp.errors import RtpUsageError
from wcs.rtp.ffmpeg import Picture, VideoEncoder
from wcs.rtp.video.common import VIDEO_CLOCK_RATE, RtpWriter, VideoPacket
from wcs.rtp.video.h264 import H264Packetizer, split_annex_b
from wcs.rtp.video.vp8 import Vp8Packetizer

__all__ = ["SILENCE", "BlackVideoGenerator", "RtpGenerator", "SilenceGenerator", "black_frames"]

#: codec → (RTP clock rate, silence payload for 20 ms; PCM/G.722 payloads scale with ptime)
SILENCE: dict[str, tuple[int, bytes]] = {
    "opus": (48000, b"\xf8\xff\xfe"),
    "pcmu": (8000, b"\xff" * 160),
    "pcma": (8000, b"\xd5" * 160),
    "g722": (8000, b"\xff" * 160),  # RFC 3551 §4.5.2: 8000 Hz RTP clock, 16 kHz sampling
}


class RtpGenerator:
    """Base of the generators: cadence, delayed start, RTP numbering (see the module docstring)."""

    def __init__(
        self,
        payload_type: int,
        clock_rate: int,
        step: int,
        *,
        ssrc: int | None = None,
        entropy: Entropy | None = None,
        max_burst: int = 5,
    ) -> None:
        if step <= 0 or clock_rate <= 0:
            raise RtpUsageError("generator clock rate and step must be positive")
        rng = entropy or SystemEntropy()
        self._writer = RtpWriter(payload_type, ssrc=ssrc, entropy=rng)
        self.clock_rate = clock_rate
        self.step = step
        self.interval = step / clock_rate
        self.max_burst = max(1, max_burst)
        self._ts0 = random_uint(rng, 32)
        self._t0: float | None = None
        self._next = 0
        self._out: list[bytes] = []
        self.frames_sent = 0
        self.frames_skipped = 0

    # -- numbering (for a relay that takes over the stream) ---------------------------------------

    @property
    def ssrc(self) -> int:
        return self._writer.ssrc

    @property
    def sequence_number(self) -> int:
        """The sequence number of the next packet."""
        return self._writer.sequence_number

    @property
    def timestamp(self) -> int:
        """The RTP timestamp of the next frame."""
        return (self._ts0 + self._next * self.step) & 0xFFFFFFFF

    @property
    def running(self) -> bool:
        """Started (possibly still waiting for its delay) and not stopped."""
        return self._t0 is not None

    # -- control ----------------------------------------------------------------------------------

    def start(self, now: float, delay: float = 0.0) -> None:
        """Begin sending ``delay`` seconds from ``now`` (no-op if already running)."""
        if self._t0 is None:
            self._t0 = now + max(0.0, delay) - self._next * self.interval

    def stop(self) -> None:
        """Stop (or cancel a pending start); :meth:`start` resumes with advancing numbers."""
        self._t0 = None

    # -- timers -----------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        if self._t0 is None:
            return None
        return self._t0 + self._next * self.interval

    def handle_timer(self, now: float) -> None:
        if self._t0 is None or now < self._t0 + self._next * self.interval:
            return
        due = math.floor((now - self._t0) / self.interval + 1e-9) + 1 - self._next
        if due <= 0:
            return
        if due > self.max_burst:
            self.frames_skipped += due - self.max_burst
            self._next += due - self.max_burst
            due = self.max_burst
        for _ in range(due):
            ts = self.timestamp
            for packet in self._frame(ts):
                self._out.append(self._writer.write(packet.payload, packet.timestamp, packet.marker))
            self._next += 1
            self.frames_sent += 1

    def pop_packets(self) -> list[bytes]:
        """RTP packets queued by :meth:`handle_timer`, oldest first."""
        out, self._out = self._out, []
        return out

    def _frame(self, timestamp: int) -> Sequence[VideoPacket]:
        raise NotImplementedError


class SilenceGenerator(RtpGenerator):
    """Audio silence: one packet per ``ptime`` seconds (Opus: 20 ms only), marker on the first."""

    def __init__(
        self,
        codec: str,
        payload_type: int,
        *,
        ptime: float = 0.02,
        ssrc: int | None = None,
        entropy: Entropy | None = None,
        max_burst: int = 5,
    ) -> None:
        try:
            clock, payload = SILENCE[codec.lower()]
        except KeyError:
            raise RtpUsageError(f"no silence for codec {codec!r} (have {', '.join(SILENCE)})") from None
        samples = round(ptime * clock)
        if codec.lower() == "opus":
            if samples != 960:
                raise RtpUsageError("Opus silence is generated in 20 ms frames only")
        elif not 40 <= samples <= 960:  # 5..120 ms
            raise RtpUsageError(f"ptime {ptime} out of range")
        else:
            payload = payload[:1] * samples
        super().__init__(payload_type, clock, samples, ssrc=ssrc, entropy=entropy, max_burst=max_burst)
        self.codec = codec.lower()
        self.payload = payload

    def _frame(self, timestamp: int) -> Sequence[VideoPacket]:
        return (VideoPacket(self.payload, timestamp, self.frames_sent == 0),)


@lru_cache(maxsize=16)
def black_frames(
    codec: str, width: int = 320, height: int = 240, fps: int = 10, gop: int = 20, max_slice_size: int = 0
) -> tuple[tuple[bytes, ...], ...]:
    """A cached loop of ``gop`` black frames opening with a keyframe.

    Each frame is a tuple: the VP8 frame, or the H.264 NAL units.  Encoded once per
    argument set (a few ms at 320x240).
    """
    encoder = VideoEncoder(
        codec, width, height, bitrate=100_000, fps=fps, keyframe_interval=gop,
        max_slice_size=max_slice_size or None,
    )
    picture = Picture.black(width, height)
    step = VIDEO_CLOCK_RATE // fps
    frames: list[tuple[bytes, ...]] = []
    for k in range(gop):
        for enc in encoder.encode(picture, k * step, keyframe=k == 0):
            if codec.lower() == "h264":
                frames.append(tuple(split_annex_b(enc.data)))
            else:
                frames.append((enc.data,))
    return tuple(frames)


class BlackVideoGenerator(RtpGenerator):
    """Black VP8 or H.264 video at ``fps`` with a keyframe every ``keyframe_interval`` seconds.

    ``max_payload`` bounds each RTP payload; ``packetization_mode`` is the negotiated
    H.264 mode (0 makes the encoder cut slices that fit).  :meth:`request_keyframe`
    (on PLI/FIR from the browser) makes the next frame a keyframe.
    """

    def __init__(
        self,
        codec: str,
        payload_type: int,
        *,
        width: int = 320,
        height: int = 240,
        fps: int = 10,
        keyframe_interval: float = 2.0,
        max_payload: int = 1200,
        packetization_mode: int = 1,
        ssrc: int | None = None,
        entropy: Entropy | None = None,
        max_burst: int = 3,
    ) -> None:
        self.codec = codec.lower()
        if self.codec not in ("vp8", "h264"):
            raise RtpUsageError(f"no black video for codec {codec!r} (have vp8, h264)")
        if not 1 <= fps <= 60:
            raise RtpUsageError(f"fps {fps} out of range")
        rng = entropy or SystemEntropy()
        super().__init__(payload_type, VIDEO_CLOCK_RATE, round(VIDEO_CLOCK_RATE / fps), ssrc=ssrc,
                         entropy=rng, max_burst=max_burst)
        gop = max(2, round(keyframe_interval * fps))
        slice_size = max_payload if self.codec == "h264" and packetization_mode == 0 else 0
        self._frames = black_frames(self.codec, width, height, fps, gop, slice_size)
        self._vp8 = Vp8Packetizer(max_payload, entropy=rng) if self.codec == "vp8" else None
        self._h264 = H264Packetizer(max_payload, packetization_mode) if self.codec == "h264" else None
        self._gop_pos = 0
        self.keyframes_sent = 0

    def start(self, now: float, delay: float = 0.0) -> None:
        """As :meth:`RtpGenerator.start`; the first frame sent is a keyframe."""
        if not self.running:
            self.request_keyframe()
        super().start(now, delay)

    def request_keyframe(self) -> None:
        """Send a keyframe next (restart the cached loop) unless one was the last frame sent.

        Two consecutive identical IDR pictures would repeat ``idr_pic_id``, which H.264
        §7.4.3 forbids; the keyframe just sent answers the request anyway.
        """
        if self._gop_pos != 1:
            self._gop_pos = 0

    def _frame(self, timestamp: int) -> Sequence[VideoPacket]:
        frame = self._frames[self._gop_pos]
        if self._gop_pos == 0:
            self.keyframes_sent += 1
        self._gop_pos = (self._gop_pos + 1) % len(self._frames)
        if self._vp8 is not None:
            return self._vp8.packetize(frame[0], timestamp)
        assert self._h264 is not None
        return self._h264.packetize(frame, timestamp)
