#!/usr/bin/env python3
"""Run the wcs WebRTC-to-SIP gateway: ``python server.py [--help]``.

Defaults: WebSocket on :8080 (any path), HTTP on :8081, SIP over UDP on :5070, media on
ports 31000-32000, all on 0.0.0.0. See ``wcs.aio.app`` for how the pieces are joined.
"""

import sys

from wcs.aio.app import main

if __name__ == "__main__":
    sys.exit(main())
