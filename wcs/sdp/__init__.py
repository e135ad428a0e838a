"""wcs.sdp."""
