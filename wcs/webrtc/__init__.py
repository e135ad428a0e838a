"""wcs.webrtc — the browser side of a media path, sans-I/O.

* :mod:`~wcs.webrtc.demux`       RFC 7983 first-byte classification (STUN/DTLS/RTP/RTCP …)
* :mod:`~wcs.webrtc.stun`        STUN messages (RFC 5389) with the ICE attributes (RFC 8445 §16)
* :mod:`~wcs.webrtc.ice_lite`    ICE-lite responder and consent freshness (RFC 8445 §2.5, §7.3; RFC 7675)
* :mod:`~wcs.webrtc.certificate` self-signed ECDSA certificate and SDP fingerprints (RFC 8122)
* :mod:`~wcs.webrtc.dtls`        DTLS-SRTP session over memory BIOs (RFC 6347, RFC 5764) — OpenSSL
* :mod:`~wcs.webrtc.transport`   :class:`WebRtcEndpoint`: all of the above for one UDP socket

Submodules are not imported here, so importing the package does not load OpenSSL.
"""
