"""A long fuzz run of the SIP parsers (outside CI): ``parse_message``, ``StreamParser``, the views.

Inputs are mutations of the SIP corpus (tests/data/sip/: the RFC 4475 torture messages,
the RFC 3261 §24 and RFC 3665 call flows) and of the benchmark's browser INVITE and
200 OK: bit flips, byte insertions/deletions/replacements, header-line duplication,
removal, swapping and truncation, CRLF games (bare CR/LF, folding, leading and extra
CRLFs), huge or odd Content-Length values, random Unicode, splices of two messages,
grammar fragments ("<sip:", ";tag=", "%00", "[::1]" ...).  Inputs that parsed are kept in
a small pool and mutated again, so the run goes deeper than one mutation from the seeds.

Every input goes through these oracles; anything else than the allowed outcome is a
*finding*, saved under .cache/fuzz-findings/ (input bytes + traceback), and the run goes on:

1. ``parse_message(x)`` returns a message or raises :class:`SipParseError`.
2. On a parsed message the validated views (call_id, cseq, vias, top_via, from_, to,
   from_tag, to_tag, content_length, content_type; request_uri and max_forwards of a
   request) never raise; contact / Route / Record-Route and a response's max_forwards may
   raise SipParseError only (the parser does not validate them: Max-Forwards means nothing
   in a response, and a response is not rejected for it); ``str()`` of every view works.
3. ``bytes(message)`` works (a :class:`SipUsageError` while serializing a message that the
   parser accepted is a finding too: usage errors are for messages built in code), the
   bytes parse again to the same Call-ID/CSeq/Vias/From/To/body, and serialize to the same
   bytes (idempotent); a StreamParser frames those bytes to the same message.
4. ``StreamParser`` fed the input whole, at random cut points, and (for a share of the
   inputs) byte by byte raises only SipParseError; a fatal error is raised again by every
   later ``feed``; after a non-fatal one ``feed(b"")`` continues; all feedings yield the
   same messages and the same errors.
5. No input takes more than ``--slow-ms`` of CPU time (catastrophic regex backtracking).
6. With ``--reference REV`` (e.g. the commit before a performance change): the parser
   modules as of git revision REV are loaded side by side and must give exactly the same
   outcome (error reason and status, or the same serialization and view values) and the
   same stream events: a differential check that a rewrite kept the behaviour.  Each
   input also brings five header values assembled from pieces on both sides of the fast
   paths (URI, name-addr, Via, CSeq, generic parameters) that parse_uri,
   parse_name_addr, parse_via, parse_cseq and parse_params must treat alike.

Engines: ``loop`` (default), a seeded mutational loop bounded by ``--inputs`` and
``--max-seconds``; ``atheris``, coverage-guided (libFuzzer) when atheris is installed
(benchmarks/sip_peers/setup.sh puts it into ./.cache/bench-venv), bounded the same way.

Run:  .venv/bin/python benchmarks/fuzz_sip.py --inputs 1000000 --max-seconds 3600 [--reference REV]
      .cache/bench-venv/bin/python benchmarks/fuzz_sip.py --engine atheris --inputs 200000

Ends with ONE JSON line: inputs, seconds, parsed/rejected counts, stream feedings,
findings by signature.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib
import json
import pathlib
import random
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from wcs.sip import message as sip_message  # noqa: E402
from wcs.sip.errors import SipParseError, SipUsageError  # noqa: E402

DATA = ROOT / "tests" / "data" / "sip"
FINDINGS = ROOT / ".cache" / "fuzz-findings"
REF_DIR = ROOT / ".cache" / "fuzz-ref"
REF_MODULES = ("errors", "grammar", "headers", "uri", "message", "parser")


def corpus() -> list[bytes]:
    from bench_sip_parse import INVITE, OK

    seeds = [p.read_bytes() for pattern in ("rfc4475/*.dat", "rfc3665/*.sip",
                                            "rfc3261-section24/*.sip")
             for p in sorted(DATA.glob(pattern))]
    return seeds + [INVITE, OK]


# -- mutations ---------------------------------------------------------------------------

FRAGMENTS = [
    b"\r\n", b"\r", b"\n", b"\r\n\r\n", b"\r\n ", b"\r\n\t", b" ", b"\t", b":", b";", b",", b'"',
    b"\\", b"<", b">", b"<sip:", b"sip:", b"sips:", b"tel:", b"@", b"=", b"%", b"%00", b"%zz",
    b"%41", b"[", b"]", b"[::1]", b"[2001:db8::1]:5060", b"?", b"&", b";tag=", b";branch=",
    b";rport", b";received=", b"z9hG4bK", b"SIP/2.0", b"SIP/2.0/UDP ", b"SIP/3.0", b"/",
    b"\x00", b"\xff", b"\xc3", b"\xe2\x80\xa8", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80", b"\x85",
    b"INVITE", b"ACK", b"CANCEL", b"Via: SIP/2.0/TCP h;branch=z9hG4bKx", b"l: 0",
    b"Content-Length: ", b"Call-ID: ", b"i:", b"v:", b"f:", b"t:", b"m:", b"*", b"65536",
    b"4294967296", b"2147483648", b"999", b"0", b"-1", b":5060", b":99999", b'"\\"', b"<>",
]
HEADER_LINES = [
    b"Content-Length: 0", b"Content-Length: 99999999999", b"l: 4294967296", b"Content-Length: -1",
    b"Content-Length: \xef\xbc\x91", b"Content-Length: \xc2\xb2", b"Content-Length: 1 2",
    b"Max-Forwards: 256", b"Max-Forwards: 00000000070", b"CSeq: 2147483648 INVITE",
    b"CSeq: 1", b"Call-ID:", b"Call-ID: a b", b"Via:", b"Via: SIP/2.0/UDP [::1]:0;branch",
    b"Via: SIP/2.0/UDP h, SIP/2.0/TCP g;received=::1", b'From: "a\\" <sip:x@y>', b"From: sip:a@b?c",
    b"To: <sip:a@b>;tag", b"To: tel:+1-(0)", b"Contact: *", b"Contact: <sip:a@b>,,<sip:c@d>",
    b"Route: <sip:p;lr>", b"Record-Route: <sip:[::1];lr>, <sips:x>", b"X: \x00", b": novalue",
    b"Bad Name: x", b"Content-Type: application/sdp", b"c: text/plain",
]
CONTENT_LENGTHS = [b"0", b"1", b"99999999999", b"4294967296", b"18446744073709551616", b"-1",
                   b"1e3", b" 12", b"0x10", b"\xef\xbc\x95", b"\xc2\xb2", b"00000000005",
                   b"12345678901", b"65535", b"65536", b""]
_CL_RE = re.compile(rb"(?im)^(content-length|l)[ \t]*:[ \t]*([^\r\n]*)")


def _random_unicode(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.3:
        cp = rng.randrange(0x80, 0x800)
    elif kind < 0.6:
        cp = rng.randrange(0x800, 0x10000)
    elif kind < 0.8:
        cp = rng.randrange(0x10000, 0x110000)
    else:
        cp = rng.choice([0x85, 0x2028, 0x2029, 0xFEFF, 0x1C, 0x1D, 0x1E, 0x0B, 0x0C, 0xA0, 0x3000])
    return chr(cp).encode("utf-8", "surrogatepass")


def _lines(data: bytearray) -> list[bytes]:
    return bytes(data).split(b"\r\n")


def mutate(data: bytes, rng: random.Random, pool: list[bytes], seeds: list[bytes]) -> bytes:
    """One to eight random mutations of ``data``."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
        op = rng.randrange(18)
        n = len(buf)
        pos = rng.randrange(n + 1)
        if op == 0 and n:  # bit flips
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(n)
                buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random bytes inserted
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
        elif op == 2 and n:  # deletion
            del buf[pos:pos + rng.randrange(1, 16)]
        elif op == 3:  # grammar fragment inserted
            buf[pos:pos] = rng.choice(FRAGMENTS)
        elif op == 4 and n:  # grammar fragment replaces bytes
            frag = rng.choice(FRAGMENTS)
            buf[pos:pos + len(frag)] = frag
        elif op == 5:  # header line duplicated
            lines = _lines(buf)
            if len(lines) > 2:
                i = rng.randrange(1, len(lines))
                lines.insert(rng.randrange(1, len(lines) + 1), lines[i])
                buf = bytearray(b"\r\n".join(lines))
        elif op == 6:  # header line removed
            lines = _lines(buf)
            if len(lines) > 2:
                del lines[rng.randrange(1, len(lines))]
                buf = bytearray(b"\r\n".join(lines))
        elif op == 7:  # header line truncated
            lines = _lines(buf)
            i = rng.randrange(len(lines))
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
            buf = bytearray(b"\r\n".join(lines))
        elif op == 8:  # two lines swapped
            lines = _lines(buf)
            if len(lines) > 2:
                i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
                buf = bytearray(b"\r\n".join(lines))
        elif op == 9:  # CRLF games
            game = rng.randrange(6)
            if game == 0:
                buf = bytearray(bytes(buf).replace(b"\r\n", b"\n", rng.randrange(1, 4)))
            elif game == 1:
                buf = bytearray(bytes(buf).replace(b"\r\n", b"\r", rng.randrange(1, 4)))
            elif game == 2:
                buf[0:0] = b"\r\n" * rng.randrange(1, 4)
            elif game == 3:
                buf[pos:pos] = rng.choice((b"\r\n", b"\r\n\r\n", b"\r\n ", b"\r\n\t  "))
            elif game == 4:
                buf += rng.choice((b"\r\n", b"\r\n\r\n", b"\r", b"\n"))
            else:  # fold a header value
                end = bytes(buf).find(b"\r\n\r\n")
                space = bytes(buf).find(b" ", pos, end if end > pos else None)
                if space > 0:
                    buf[space:space + 1] = rng.choice((b"\r\n ", b"\r\n\t", b" \r\n  "))
        elif op == 10:  # huge / odd Content-Length
            m = _CL_RE.search(bytes(buf))
            value = rng.choice(CONTENT_LENGTHS)
            if m is not None:
                buf[m.start(2):m.end(2)] = value
            else:
                end = bytes(buf).find(b"\r\n\r\n")
                if end >= 0:
                    buf[end:end] = b"\r\nContent-Length: " + value
        elif op == 11:  # random Unicode
            buf[pos:pos] = _random_unicode(rng)
        elif op == 12:  # odd header line inserted
            end = bytes(buf).find(b"\r\n")
            if end >= 0:
                buf[end:end] = b"\r\n" + rng.choice(HEADER_LINES)
        elif op == 13 and n:  # splice: head of this, tail of another
            other = rng.choice(pool if pool and rng.random() < 0.5 else seeds)
            buf = buf[:pos] + other[rng.randrange(len(other) + 1):]
        elif op == 14:  # byte run repeated (long tokens, many params)
            chunk = bytes(buf[pos:pos + rng.randrange(1, 12)]) or b";"
            buf[pos:pos] = chunk * rng.randrange(2, 200)
        elif op == 15 and n:  # truncation
            buf = buf[:pos]
        elif op == 16:  # case games on a random stretch
            stretch = bytes(buf[pos:pos + 12])
            buf[pos:pos + 12] = stretch.swapcase() if rng.random() < 0.5 else stretch.lower()
        elif op == 17 and n:  # random byte replaced by a "nasty" ASCII character
            buf[rng.randrange(n)] = rng.choice(b"\x00\t\n\r \"%,:;<>=?@[\\]^`{|}~\x7f")
    return bytes(buf)


# -- oracles ----------------------------------------------------------------------------

class Finding(Exception):
    """An oracle was violated."""


VALIDATED_VIEWS: list[tuple[str, Callable[[Any], Any]]] = [
    ("call_id", lambda m: m.call_id), ("cseq", lambda m: str(m.cseq)),
    ("vias", lambda m: [str(v) for v in m.vias]), ("top_via", lambda m: repr(m.top_via)),
    ("from_", lambda m: (str(m.from_), repr(m.from_))), ("to", lambda m: (str(m.to), repr(m.to))),
    ("from_tag", lambda m: m.from_tag), ("to_tag", lambda m: m.to_tag),
    ("content_length", lambda m: m.content_length), ("content_type", lambda m: m.content_type),
    ("request_uri", lambda m: (str(m.request_uri), repr(m.request_uri))
     if hasattr(m, "method") else None),
    ("max_forwards", lambda m: m.max_forwards if hasattr(m, "method") else None),
]
LAZY_VIEWS: list[tuple[str, Callable[[Any], Any]]] = [
    ("contact", lambda m: None if m.contact is None else (str(m.contact), repr(m.contact))),
    ("route", lambda m: [repr(a) for a in m.name_addrs("Route")]),
    ("record_route", lambda m: [repr(a) for a in m.name_addrs("Record-Route")]),
    ("response_max_forwards", lambda m: None if hasattr(m, "method") else m.max_forwards),
]


def views(msg: Any, parse_error: type[Exception]) -> dict[str, Any]:
    """Every view's value; validated views must not raise, lazy ones raise parse_error only."""
    out: dict[str, Any] = {}
    for name, view in VALIDATED_VIEWS:
        try:
            out[name] = view(msg)
        except Exception as exc:
            raise Finding(f"validated view {name} raised on a parsed message") from exc
    for name, view in LAZY_VIEWS:
        try:
            out[name] = view(msg)
        except parse_error as exc:
            out[name] = ("error", exc.reason)  # type: ignore[attr-defined]
    return out


def check_message(data: bytes, parse_message: Callable[..., Any],
                  stream_parser: type) -> tuple[str, Any]:
    """Oracles 1-3 on one input; the outcome for the differential check."""
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        return "error", (exc.reason, exc.status_code)
    seen = views(msg, SipParseError)
    try:
        once = bytes(msg)
    except SipUsageError as exc:
        raise Finding("bytes() of a parsed message raised SipUsageError") from exc
    try:
        again = parse_message(once, max_size=1 << 30)
    except SipParseError as exc:
        raise Finding("the serialization of a parsed message does not parse") from exc
    if bytes(again) != once:
        raise Finding("serialization is not idempotent")
    facts = ("call_id", "cseq", "vias", "from_", "to", "max_forwards", "request_uri")
    again_seen = views(again, SipParseError)
    for name in facts:
        if seen[name] != again_seen[name]:
            raise Finding(f"view {name} changed through a round trip")
    if again.body != msg.body:
        raise Finding("body changed through a round trip")
    framed = stream_parser(max_size=1 << 30).feed(once)
    if [bytes(m) for m in framed] != [once]:
        raise Finding("StreamParser does not frame a serialized parsed message")
    return "ok", (once, seen)


def stream_events(stream_parser: type, parse_error: type[Exception],
                  chunks: list[bytes]) -> tuple[list[bytes], list[tuple[str, int, bool]], int]:
    """Messages, errors (reason, status, fatal) and pings of feeding ``chunks`` in order."""
    parser = stream_parser()
    messages: list[bytes] = []
    errors: list[tuple[str, int, bool]] = []
    for chunk in chunks + [b""]:
        while True:
            try:
                messages += [bytes(m) for m in parser.feed(chunk)]
                break
            except parse_error as exc:
                error = (exc.reason, exc.status_code, exc.fatal)  # type: ignore[attr-defined]
                errors.append(error)
                if error[2]:
                    try:
                        parser.feed(b"")
                    except parse_error as again:
                        if again is not exc:
                            raise Finding("a fatal stream error was not raised again") from None
                    else:
                        raise Finding("feed() after a fatal error did not raise") from None
                    return messages, errors, parser.pings
                if exc.data is None:  # type: ignore[attr-defined]
                    raise Finding("a non-fatal stream error carries no data") from None
                chunk = b""
    return messages, errors, parser.pings


def check_stream(data: bytes, rng: random.Random, byte_by_byte: bool) -> tuple[Any, int]:
    """Oracle 4; the whole-feed events and how many feed() calls were made."""
    stream = data + data if rng.random() < 0.2 else data
    whole = stream_events(sip_message.StreamParser, SipParseError, [stream])
    cuts = sorted(rng.randrange(len(stream) + 1) for _ in range(rng.randrange(1, 6)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    split = stream_events(sip_message.StreamParser, SipParseError, pieces)
    feeds = 1 + len(pieces)
    if split[:2] != whole[:2]:
        raise Finding("stream split at random points differs from the stream fed whole")
    if byte_by_byte:
        single = stream_events(sip_message.StreamParser, SipParseError,
                               [stream[i:i + 1] for i in range(len(stream))])
        feeds += len(stream)
        if single[:2] != whole[:2]:
            raise Finding("stream fed byte by byte differs from the stream fed whole")
    return whole, feeds


# -- the reference implementation (differential) ---------------------------------------

def load_reference(rev: str) -> ModuleType:
    """wcs.sip's parser modules as of git revision ``rev``, importable side by side."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    package = f"wcs_sip_ref_{sha}"
    target = REF_DIR / sha / package
    target.mkdir(parents=True, exist_ok=True)
    (target / "__init__.py").write_text("")
    for name in REF_MODULES:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{sha}:wcs/sip/{name}.py"],
                                check=True, capture_output=True, text=True).stdout
        (target / f"{name}.py").write_text(source.replace("wcs.sip.", f"{package}."))
    sys.path.insert(0, str(target.parent))
    return importlib.import_module(f"{package}.message")


def reference_outcome(ref: ModuleType, data: bytes) -> tuple[str, Any]:
    errors = sys.modules[ref.__name__.rsplit(".", 1)[0] + ".errors"]
    try:
        msg = ref.parse_message(data)
    except errors.SipParseError as exc:
        return "error", (exc.reason, exc.status_code)
    return "ok", (bytes(msg), views(msg, errors.SipParseError))


# Header values assembled from pieces that sit on both sides of the parsers' fast paths
# (common shapes handled by one regex, everything else by the general code): compared with
# the reference function by function, they hit the edges that whole mutated messages
# rarely reach (ports around 65535, upper-case schemes and parameter names, escapes,
# IPv6 references, LWS, duplicate parameters, empty passwords ...).  The first three
# pieces of each list are well-formed.
_SCHEMES = ["sip:", "sip:", "sips:", "SIP:", "Sips:", "tel:", "http:", "", "sip", "urn:x:"]
_USERS = ["", "alice@", "+4930123456@", "a;b=c@", "a%41@", "%zz@", "a b@", "@", "a:pw@", "a:@",
          "a:p:w@", "a?b@", "a/b@", "j.user&x=$,@", "a%40b@example@"]
_HOSTS = ["example.com", "192.0.2.1", "[2001:db8::1]", "[::1", "h_1", "-bad", "a..b", "", "x-",
          "EXAMPLE.COM", "[::ffff:192.0.2.1]", "1.2.3.4.5"]
_PORTS = ["", "", ":5060", ":0", ":65535", ":65536", ":99999", ":", ":abc", ":123456", ":00080"]
_URI_PARAMS = ["", ";lr", ";transport=TCP", ";Transport=udp", ";lr;lr=1", ";x=%41", ";=a", ";a=",
               ";maddr=[::1]", "; lr", ";a=b=c", ";ob", ";LR;Lr", ";user=phone", ";x=[a]:b/c"]
_URI_HEADERS = ["", "", "", "?a=b", "?a=b&c=d", "?", "?a", "?a=%20"]
_DISPLAYS = ["", "", '"Alice" ', '"Alice Browser"', '"A\\"B" ', "Alice Bob ", '"" ', ' "x" ',
             'a"b ', "Alice  Bob", "Alice\tBob ", '"<sip:x>" ']
_HEADER_PARAMS = ["", ";tag=x", ";TAG=y", ";tag", ";q=0.5", "; tag=z", ';x="q"', ";tag=a;tag=b",
                  ";a=[::1]:5", ";tag=x ", ";tag=", ";expires=60;+sip.instance=\"<urn:x>\""]
_PROTOCOLS = ["SIP/2.0/", "SIP/2.0/", "SIP / 2.0 / ", "sip/2.0/", "SIP/2.0", "SIP/2.0/ "]
_TRANSPORTS = ["UDP", "TCP", "WSS", "", "tls"]
_SEPARATORS = [" ", " ", "  ", "\t", ""]
_VIA_PARAMS = [";branch=z9hG4bKx", ";rport", ";received=::1", ";received=[::1]", ";BRANCH=Q",
               ";rport=5060", ";branch", ';x="q"', "; branch=y", ";branch=a;branch=b", ";ttl=1 ",
               ";maddr=224.2.0.1"]
_CSEQS = ["1597 INVITE", "1 invite", "01 ACK", "2147483648 INVITE", "2147483647 BYE",
          "12345678901 BYE", " 1 INVITE", "1  INVITE", "1\tINVITE", "1 INVITE ", "\u00b2 INVITE",
          "1 X-FOO", "1 INVITE x", "", "1", "INVITE", "0 CANCEL", "-1 ACK", "1 INVITE\u00a0"]


def field_values(rng: random.Random) -> list[tuple[str, str]]:
    tame = rng.random() < 0.6  # mostly the first, well-formed pieces of each list

    def _pick(rng: random.Random, pieces: list[str], most: int = 1) -> str:
        return "".join(rng.choice(pieces[:3] if tame and rng.random() < 0.85 else pieces)
                       for _ in range(rng.randrange(1, most + 1)))

    uri = (_pick(rng, _SCHEMES) + _pick(rng, _USERS) + _pick(rng, _HOSTS) + _pick(rng, _PORTS)
           + _pick(rng, _URI_PARAMS, 3) + _pick(rng, _URI_HEADERS))
    if rng.random() < 0.8:
        name_addr = f"{_pick(rng, _DISPLAYS)}<{uri}>{_pick(rng, _HEADER_PARAMS, 3)}"
    else:
        name_addr = uri + _pick(rng, _HEADER_PARAMS, 2)
    via = (_pick(rng, _PROTOCOLS) + _pick(rng, _TRANSPORTS) + _pick(rng, _SEPARATORS)
           + _pick(rng, _HOSTS) + _pick(rng, _PORTS) + _pick(rng, _VIA_PARAMS, 4))
    if rng.random() < 0.2:
        via += ", " + via
    return [("uri", uri), ("name_addr", name_addr), ("via", via), ("cseq", _pick(rng, _CSEQS)),
            ("params", _pick(rng, _HEADER_PARAMS + _VIA_PARAMS, 4))]


def field_outcome(modules: dict[str, ModuleType], kind: str, text: str) -> Any:
    grammar, headers, uri = modules["grammar"], modules["headers"], modules["uri"]
    function = {"uri": uri.parse_uri, "name_addr": uri.parse_name_addr, "via": headers.parse_via,
                "cseq": headers.parse_cseq, "params": grammar.parse_params}[kind]
    try:
        value = function(text)
    except modules["errors"].SipParseError as exc:
        return "error", exc.reason
    out = repr(value)
    if kind in ("uri", "name_addr"):
        out += " | " + str(value)
    return "ok", out


# -- the run ----------------------------------------------------------------------------

class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.seeds = corpus()
        self.pool: list[bytes] = []
        self.ref = load_reference(args.reference) if args.reference else None
        self.ref_errors: type[Exception] | None = None
        if self.ref is not None:
            self.ref_errors = sys.modules[self.ref.__name__.rsplit(".", 1)[0] + ".errors"].SipParseError
        self.our_modules = {name: importlib.import_module(f"wcs.sip.{name}") for name in REF_MODULES}
        self.ref_modules: dict[str, ModuleType] = {}
        if self.ref is not None:
            package = self.ref.__name__.rsplit(".", 1)[0]
            self.ref_modules = {name: sys.modules[f"{package}.{name}"] for name in REF_MODULES}
        self.fields = 0
        self.inputs = 0
        self.parsed = 0
        self.rejected = 0
        self.feeds = 0
        self.byte_by_byte = 0
        self.slowest = (0.0, b"")
        self.reasons: collections.Counter[str] = collections.Counter()
        self.findings: collections.Counter[str] = collections.Counter()
        self.saved: dict[str, str] = {}
        self.start = time.monotonic()

    def next_input(self) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            return rng.choice(self.seeds)
        if roll < 0.05:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        base = rng.choice(self.pool) if self.pool and roll < 0.45 else rng.choice(self.seeds)
        return mutate(base, rng, self.pool, self.seeds)

    def finding(self, data: bytes, what: str, exc: BaseException | None) -> None:
        frames = traceback.extract_tb(exc.__traceback__) if exc is not None else []
        where = next((f"{pathlib.Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                      if "/wcs/" in f.filename or "wcs_sip_ref" in f.filename), "")
        cause = exc.__cause__ if isinstance(exc, Finding) and exc.__cause__ else exc
        signature = f"{what} | {type(cause).__name__ if cause else ''} | {where}"
        self.findings[signature] += 1
        if self.findings[signature] > 3:
            return
        FINDINGS.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:12]
        path = FINDINGS / f"{digest}.bin"
        path.write_bytes(data)
        text = "".join(traceback.format_exception(exc)) if exc is not None else ""
        path.with_suffix(".txt").write_text(f"{signature}\n\n{text}")
        self.saved.setdefault(signature, str(path.relative_to(ROOT)))
        print(f"FINDING {signature} -> {path.relative_to(ROOT)}", flush=True)

    def one(self, data: bytes) -> None:
        self.inputs += 1
        t0 = time.process_time()  # CPU time: other load on the machine does not count
        try:
            kind, outcome = check_message(data, sip_message.parse_message, sip_message.StreamParser)
        except Finding as exc:
            self.finding(data, str(exc), exc)
            return
        except Exception as exc:  # noqa: BLE001 - oracle 1: only SipParseError may escape
            self.finding(data, "parse_message raised something else than SipParseError", exc)
            return
        if kind == "ok":
            self.parsed += 1
            if len(self.pool) < 4000:
                self.pool.append(data)
            elif self.rng.random() < 0.05:
                self.pool[self.rng.randrange(len(self.pool))] = data
        else:
            self.rejected += 1
            self.reasons[outcome[0]] += 1
        rng = self.rng
        bbb = len(data) <= 2048 and rng.random() < self.args.byte_by_byte
        try:
            whole, feeds = check_stream(data, rng, bbb)
        except Finding as exc:
            self.finding(data, str(exc), exc)
            return
        except Exception as exc:  # noqa: BLE001
            self.finding(data, "StreamParser raised something else than SipParseError", exc)
            return
        self.feeds += feeds
        self.byte_by_byte += bbb
        if self.ref is not None:
            self.differential(data, kind, outcome)
            for field, text in field_values(rng):
                self.fields += 1
                ours_field = field_outcome(self.our_modules, field, text)
                ref_field = field_outcome(self.ref_modules, field, text)
                if ours_field != ref_field:
                    self.finding(text.encode("utf-8", "surrogatepass"),
                                 f"{field} differs from the reference parser",
                                 Finding(f"{text!r}\nours {ours_field}\nref  {ref_field}"))
        elapsed = time.process_time() - t0
        if elapsed > self.slowest[0]:
            self.slowest = (elapsed, data)
        if elapsed * 1000 > self.args.slow_ms and not bbb:
            self.finding(data, f"slow input ({elapsed * 1000:.0f} ms)", None)

    def differential(self, data: bytes, kind: str, outcome: Any) -> None:
        assert self.ref is not None and self.ref_errors is not None
        try:
            ref = reference_outcome(self.ref, data)
        except Exception as exc:  # noqa: BLE001 - a bug of the reference, not ours
            ref = ("reference crashed", type(exc).__name__)
        if (kind, outcome) != ref:
            self.finding(data, "differs from the reference parser", Finding(
                f"ours {kind} {str(outcome)[:300]}\nref  {ref[0]} {str(ref[1])[:300]}"))
            return
        ours = stream_events(sip_message.StreamParser, SipParseError, [data])
        theirs = stream_events(self.ref.StreamParser, self.ref_errors, [data])
        if ours != theirs:
            self.finding(data, "stream differs from the reference parser",
                         Finding(f"ours {str(ours)[:300]}\nref  {str(theirs)[:300]}"))

    def done(self) -> bool:
        return (self.inputs >= self.args.inputs
                or time.monotonic() - self.start >= self.args.max_seconds)

    def progress(self) -> None:
        elapsed = time.monotonic() - self.start
        print(f"{self.inputs:>9,} inputs {elapsed:7.0f} s {self.inputs / max(elapsed, 1e-9):7,.0f}/s "
              f"parsed {self.parsed:,} rejected {self.rejected:,} byte-by-byte "
              f"{self.byte_by_byte:,} findings {sum(self.findings.values())}", flush=True)

    def summary(self, engine: str) -> dict[str, Any]:
        elapsed = time.monotonic() - self.start
        return {
            "fuzz": "sip", "engine": engine, "seed": self.args.seed,
            "reference": self.args.reference, "inputs": self.inputs,
            "seconds": round(elapsed, 1), "inputs_per_s": round(self.inputs / max(elapsed, 1e-9)),
            "parsed": self.parsed, "rejected": self.rejected, "stream_feeds": self.feeds,
            "byte_by_byte_inputs": self.byte_by_byte, "seed_messages": len(self.seeds),
            "differential_field_values": self.fields,
            "slowest_ms": round(self.slowest[0] * 1000, 2),
            "top_reasons": dict(self.reasons.most_common(12)),
            "findings": dict(self.findings), "finding_files": self.saved,
        }


def run_loop(run: Run) -> None:
    for seed in run.seeds:
        run.one(seed)
    next_report = 50_000
    while not run.done():
        run.one(run.next_input())
        if run.inputs >= next_report:
            run.progress()
            next_report += 50_000


def run_atheris(run: Run) -> None:
    """libFuzzer drives the inputs (coverage of every loaded Python function guides it);
    this process ends itself after ``--inputs`` or ``--max-seconds`` with the summary."""
    import os

    import atheris  # type: ignore[import-not-found]

    corpus_dir = ROOT / ".cache" / "fuzz-corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for seed in run.seeds:
        (corpus_dir / hashlib.sha1(seed).hexdigest()[:16]).write_bytes(seed)
    FINDINGS.mkdir(parents=True, exist_ok=True)
    atheris.instrument_all()

    def one_input(data: bytes) -> None:
        run.one(data)  # catches and records every finding itself: libFuzzer sees none
        if run.inputs % 50_000 == 0:
            run.progress()
        if run.done():
            run.progress()
            print(json.dumps(run.summary("atheris")), flush=True)
            os._exit(0)  # libFuzzer never returns from Fuzz()

    argv = [sys.argv[0], f"-max_total_time={int(run.args.max_seconds) + 600}",
            f"-seed={run.args.seed}", "-max_len=8192", "-rss_limit_mb=8192",
            f"-artifact_prefix={FINDINGS}/atheris-", str(corpus_dir)]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="stop after this many inputs")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("loop", "atheris"), default="loop")
    parser.add_argument("--reference", metavar="REV", help="differential check against git REV")
    parser.add_argument("--byte-by-byte", type=float, default=0.03,
                        help="share of inputs (<= 2 KiB) also fed to StreamParser byte by byte")
    parser.add_argument("--slow-ms", type=float, default=250.0, help="slower inputs are findings")
    args = parser.parse_args(argv)
    run = Run(args)
    print(f"fuzzing wcs.sip: engine {args.engine}, {len(run.seeds)} seed messages, seed "
          f"{args.seed}, up to {args.inputs:,} inputs / {args.max_seconds:.0f} s"
          + (f", differential against {args.reference}" if args.reference else ""), flush=True)
    if args.engine == "atheris":
        run_atheris(run)
    else:
        run_loop(run)
    run.progress()
    print(json.dumps(run.summary(args.engine)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
