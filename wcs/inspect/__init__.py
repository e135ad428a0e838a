"""``wcs-inspect``: conformance checks of SIP and SDP input against the RFCs.

Usage::

    wcs-inspect sip FILE… | -     one JSON object per file (see wcs.inspect.sip)
    wcs-inspect sdp FILE… | -     one JSON object per file (see wcs.inspect.sdp)

Each sub-command lives in its own module exposing ``run(argv) -> int``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = ("sip", "sdp")


def read_input(name: str) -> bytes:
    """The bytes of file ``name``, or of standard input for ``-``."""
    if name == "-":
        return sys.stdin.buffer.read()
    with open(name, "rb") as f:
        return f.read()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: wcs-inspect {{{','.join(COMMANDS)}}} FILE... (or - for stdin)", file=sys.stderr)
        return 2
    module = importlib.import_module(f"wcs.inspect.{args[0]}")
    code: int = module.run(args[1:])
    return code


if __name__ == "__main__":
    sys.exit(main())
