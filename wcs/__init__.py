"""wcs — a WebRTC-to-SIP gateway and a sans-I/O VoIP protocol library.

Packages:

* :mod:`wcs.sip`    SIP messages, transactions, dialogs, digest auth, user agent (sans-I/O)
* :mod:`wcs.sdp`    SDP model, offer/answer, codec registry, WebRTC ⇄ SIP translation (sans-I/O)
* :mod:`wcs.rtp`    RTP/RTCP packets, SRTP, DTMF, stream rewriting (sans-I/O)
* :mod:`wcs.webrtc` STUN / ICE-lite, DTLS-SRTP, RFC 7983 demultiplexing (sans-I/O)
* :mod:`wcs.gateway` the gateway's decisions: calls, WebSDK signalling, settings
* :mod:`wcs.aio`    asyncio adapters: the only place that touches sockets and the clock
"""

__version__ = "0.1.0"
