"""wcs.sip."""
