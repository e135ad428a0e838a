"""wcs.rtp."""
