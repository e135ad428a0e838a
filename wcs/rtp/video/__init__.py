"""Video over RTP, sans-I/O: payload formats, keyframe requests, transcoding.

* :mod:`.vp8` — RFC 7741 payload descriptor, packetizer, depacketizer, keyframe test,
  PictureID rewriting for spliced sources.
* :mod:`.h264` — RFC 6184 single NAL / STAP-A / FU-A, packetization-mode 0 and 1,
  Annex B access units, sprop-parameter-sets, profile-level-id.
* :mod:`.assembler` — frame reassembly and loss detection shared by both depacketizers.
* :mod:`.keyframe` — PLI / FIR (RFC 4585, RFC 5104) / SIP INFO (RFC 5168) requests, rate-limited.
* :mod:`.codec` — the PyAV (FFmpeg) boundary: decoders and encoders (only module importing ``av``).
* :mod:`.transcode` — VP8 ⇄ H.264 transcoder fed with RTP packets.
* :mod:`.common` — :class:`VideoPacket`, :class:`VideoFrame`, :class:`RtpWriter`.

Black-frame and silence generators live in :mod:`wcs.rtp.generators`.  Importing this
package does not import ``av``; :mod:`.codec`, :mod:`.transcode` and the generators do.
"""
