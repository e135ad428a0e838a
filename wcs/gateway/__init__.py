"""wcs.gateway."""
