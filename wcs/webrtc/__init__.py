"""wcs.webrtc."""
