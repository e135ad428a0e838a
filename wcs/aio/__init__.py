"""wcs.aio."""
