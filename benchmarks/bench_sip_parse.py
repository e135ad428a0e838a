"""Parse/serialize throughput of SIP messages as a WebRTC gateway sees them, against the peers.

Messages: a browser-originated INVITE over WebSocket (RFC 7118) carrying Chromium's WebRTC
offer (tests/data/sip/chromium-offer.sdp, ~5.9 KB) and the 200 OK a PBX answers with.
Workloads, each timed in CPU time of this process on one core (best of several runs):

* ``invite_parse``         parse only
* ``invite_parse_access``  parse + Call-ID, CSeq, top Via branch, From tag (the per-packet
                           work of a transaction layer; the target is >= 20,000/s)
* ``invite_serialize``     serialize a parsed INVITE
* ``ok_parse``             the 200 OK, parse only
* ``ok_parse_access``      the 200 OK, parse + the same accesses
* ``invite_round_trip``    parse + accesses + serialize

The pure-Python peers a user might pick instead run the same messages in the same run:
sippy, pyVoIP and aiosipua (adapters in benchmarks/sip_peers/).  They are installed only
into ./.cache/bench-venv: unless ``--no-peers`` is given, the script runs
benchmarks/sip_peers/setup.sh (a clean venv with wcs and the pinned peers) and re-runs
itself there.  A peer that does not install, import, or parse a message is reported with
the reason, never with a figure.  More parsers plug in with ``--adapter module:Class``.

Run:  python benchmarks/bench_sip_parse.py [--no-peers] [--min-time 0.5] [--repeats 5]

Prints a table (ops/s, us/op, ratio wcs/adapter), then ONE JSON line: {"bench": "sip_parse",
"results": {adapter: {workload: ops_per_second}}, "unsupported": {adapter: {workload:
reason}}, "ratio_vs_fastest_peer": {workload: {"peer", "ratio"}}, "goals": …}.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".cache" / "bench-venv"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SDP = (ROOT / "tests" / "data" / "sip" / "chromium-offer.sdp").read_bytes()

INVITE = (
    "INVITE sip:+4930123456@pbx.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK5396853;rport\r\n"
    "Max-Forwards: 69\r\n"
    "To: <sip:+4930123456@pbx.example.com>\r\n"
    'From: "Alice Browser" <sip:alice@pbx.example.com>;tag=ofpcp3c2tk\r\n'
    "Call-ID: 2shu4ah4l4cq8jdj2q2f\r\n"
    "CSeq: 1597 INVITE\r\n"
    "Contact: <sip:k1lq8f7m@df7jal23ls0d.invalid;transport=ws;ob>\r\n"
    "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n"
    "Supported: timer,ice,replaces,outbound\r\n"
    "Session-Expires: 1800;refresher=uac\r\n"
    "Min-SE: 90\r\n"
    "User-Agent: wcs-webphone/0.1 (Chromium)\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP)}\r\n"
    "\r\n"
).encode() + SDP

OK_SDP = (
    b"v=0\r\no=- 1780318811 1780318812 IN IP4 192.0.2.1\r\ns=Asterisk\r\nc=IN IP4 192.0.2.1\r\n"
    b"t=0 0\r\nm=audio 13924 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:120\r\n"
    b"a=sendrecv\r\n"
)

OK = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10;branch=z9hG4bK-524287-1---9f2b\r\n"
    "Record-Route: <sip:192.0.2.1;lr;ftag=ofpcp3c2tk>\r\n"
    'From: "Alice Browser" <sip:alice@pbx.example.com>;tag=ofpcp3c2tk\r\n'
    "To: <sip:+4930123456@pbx.example.com>;tag=as5d6f7g8h\r\n"
    "Call-ID: 2shu4ah4l4cq8jdj2q2f\r\n"
    "CSeq: 1597 INVITE\r\n"
    "Server: Asterisk PBX 20.5.0\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n"
    "Supported: replaces, timer\r\n"
    "Contact: <sip:+4930123456@192.0.2.1:5060>\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(OK_SDP)}\r\n"
    "\r\n"
).encode() + OK_SDP


EXPECTED = ("2shu4ah4l4cq8jdj2q2f", 1597, "INVITE")
"""Call-ID, CSeq number and method of both messages (access() must return them first)."""
BRANCHES = {"invite": "z9hG4bK5396853", "ok": "z9hG4bK-524287-1---9f2b"}
MESSAGES = {"invite": INVITE, "ok": OK}
WORKLOADS = ["invite_parse", "invite_parse_access", "invite_serialize", "ok_parse",
             "ok_parse_access", "invite_round_trip"]


class Adapter:
    """One SIP parser under test.  Peers need not subclass it (duck typing)."""

    name = "?"

    def parse(self, data: bytes) -> Any:
        raise NotImplementedError

    def access(self, message: Any) -> tuple[Any, ...]:
        """Call-ID, CSeq number and method, top Via branch, From tag."""
        raise NotImplementedError

    # ``serialize = None`` in an adapter whose library has no serializer
    def serialize(self, message: Any) -> bytes:
        raise NotImplementedError


class WcsAdapter(Adapter):
    name = "wcs"

    def __init__(self) -> None:
        from wcs.sip.message import parse_message

        self._parse = parse_message

    def parse(self, data: bytes) -> Any:
        return self._parse(data)

    def access(self, message: Any) -> tuple[Any, ...]:
        cseq = message.cseq
        return message.call_id, cseq.seq, cseq.method, message.top_via.branch, message.from_tag

    def serialize(self, message: Any) -> bytes:
        return bytes(message)


def _calibrate(fn: Callable[[], object], min_time: float) -> int:
    """How many calls of ``fn`` take about ``min_time`` CPU seconds."""
    n = 1
    while True:
        start = time.process_time()
        for _ in range(n):
            fn()
        elapsed = time.process_time() - start
        if elapsed >= min_time / 4:
            return max(1, int(n * min_time / elapsed))
        n *= 2


def _run(fn: Callable[[], object], count: int) -> float:
    """Operations per CPU second of ``count`` calls of ``fn``.

    CPU time of this process (time.process_time, not wall time) so that other load on the
    machine, which deschedules us, does not count against any parser.
    """
    start = time.process_time()
    for _ in range(count):
        fn()
    return count / max(time.process_time() - start, 1e-9)


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


def workloads(adapter: Any) -> tuple[dict[str, Callable[[], object]], dict[str, str], list[str]]:
    """The timed functions an adapter supports, the reason for each it does not, and notes.

    Every message is first parsed and checked (the facts must come out right); a library
    that raises on a message, or gets its facts wrong, gets no figure for that message.
    A serializer must produce bytes that the same library parses back to the same facts.
    """
    parse, access = adapter.parse, adapter.access
    serialize = getattr(adapter, "serialize", None)
    fns: dict[str, Callable[[], object]] = {}
    unsupported: dict[str, str] = {}
    notes: list[str] = []
    parsed: dict[str, Any] = {}
    for kind, data in MESSAGES.items():
        names = [w for w in WORKLOADS if w.startswith(kind + "_")]
        try:
            message = parse(data)
            facts = tuple(access(message))
        except Exception as exc:  # noqa: BLE001 - any failure of a peer is reported, not fatal
            for name in names:
                unsupported[name] = f"cannot parse the {kind.upper()}: {_error(exc)}"
            continue
        want = (*EXPECTED, BRANCHES[kind], "ofpcp3c2tk")
        if facts != want:
            for name in names:
                unsupported[name] = f"wrong facts from the {kind.upper()}: {facts!r}"
            continue
        parsed[kind] = message
    def _accessed(message: Any) -> Any:
        access(message)
        return message

    if "invite" in parsed:
        invite = parsed["invite"]
        fns["invite_parse"] = lambda: parse(INVITE)
        fns["invite_parse_access"] = lambda: access(parse(INVITE))
        reason = None
        if serialize is None:
            reason = "the library has no serializer"
        else:
            try:
                out = serialize(invite)
                if tuple(access(parse(out)))[:3] != EXPECTED:
                    reason = "its serialized INVITE does not parse back to the same facts"
                elif out != INVITE:
                    notes.append(f"serialized INVITE differs from the input ({len(out)} vs "
                                 f"{len(INVITE)} bytes; header names or list splitting rewritten)")
            except Exception as exc:  # noqa: BLE001
                reason = f"serializing fails: {_error(exc)}"
        if reason is None:
            assert serialize is not None
            fns["invite_serialize"] = lambda: serialize(invite)
            fns["invite_round_trip"] = lambda: serialize(_accessed(parse(INVITE)))
        else:
            unsupported["invite_serialize"] = unsupported["invite_round_trip"] = reason
    if "ok" in parsed:
        fns["ok_parse"] = lambda: parse(OK)
        fns["ok_parse_access"] = lambda: access(parse(OK))
    return {w: fns[w] for w in WORKLOADS if w in fns}, unsupported, notes


def _load(spec: str) -> Any:
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)()


def _in_bench_venv() -> bool:
    return pathlib.Path(sys.prefix).resolve() == BENCH_VENV.resolve()


def _reexec_in_bench_venv(argv: list[str]) -> int:
    """Create ./.cache/bench-venv if needed (setup.sh) and run this script there."""
    setup = ROOT / "benchmarks" / "sip_peers" / "setup.sh"
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(["bash", str(setup)], env=env, check=False)
    if done.returncode != 0:
        print(f"{setup} failed ({done.returncode}): no peer can run; wcs alone follows",
              file=sys.stderr)
        return main([*argv, "--no-peers", "--peers-failed",
                     f"{setup.name} could not make {BENCH_VENV} (exit {done.returncode})"])
    python = BENCH_VENV / "bin" / "python"
    return subprocess.run([str(python), str(pathlib.Path(__file__).resolve()), *argv],
                          check=False).returncode


def _install_failure(dist: str) -> str:
    """Why ``dist`` is missing, as setup.sh recorded it."""
    failures = BENCH_VENV / "install-failures.txt"
    if failures.exists():
        for line in failures.read_text().splitlines():
            if line.lower().startswith(dist.lower()):
                return f"pip could not install it: {line}"
    return f"{dist} is not installed in {sys.prefix}"


def _peer_adapters() -> tuple[list[Any], dict[str, dict[str, str]]]:
    from sip_peers import PEERS

    adapters: list[Any] = []
    info: dict[str, dict[str, str]] = {}
    for name, (dist, spec) in PEERS.items():
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            info[name] = {"status": "not installed", "reason": _install_failure(dist)}
            continue
        try:
            adapters.append(_load(spec))
        except Exception as exc:  # noqa: BLE001
            info[name] = {"version": version, "status": "unusable",
                          "reason": f"import failed: {_error(exc)}"}
            continue
        info[name] = {"version": version, "status": "ok"}
    return adapters, info


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", action="append", default=[], help="extra parser, module:Class")
    parser.add_argument("--no-peers", action="store_true",
                        help="only wcs (and --adapter), in this interpreter")
    parser.add_argument("--min-time", type=float, default=0.5, help="CPU seconds per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per figure (best kept)")
    parser.add_argument("--peers-failed", help=argparse.SUPPRESS)  # why the bench venv is missing
    args = parser.parse_args(argv)
    if not args.no_peers and not _in_bench_venv():
        return _reexec_in_bench_venv(argv)

    adapters: list[Any] = [WcsAdapter()]
    peers: dict[str, dict[str, str]] = {}
    if not args.no_peers:
        found, peers = _peer_adapters()
        adapters += found
    elif args.peers_failed:
        from sip_peers import PEERS

        peers = {name: {"status": "not installed", "reason": args.peers_failed} for name in PEERS}
    adapters += [_load(spec) for spec in args.adapter]

    print(f"INVITE {len(INVITE)} bytes (SDP {len(SDP)}), 200 OK {len(OK)} bytes; "
          f"Python {platform.python_version()}; CPU time, best of {args.repeats}")
    for name, entry in peers.items():
        if entry["status"] != "ok":
            print(f"  {name}: {entry['status']}: {entry['reason']}")
    plans: dict[str, dict[str, Callable[[], object]]] = {}
    unsupported: dict[str, dict[str, str]] = {}
    for adapter in adapters:
        fns, missing, notes = workloads(adapter)
        plans[adapter.name] = fns
        if missing:
            unsupported[adapter.name] = missing
        if adapter.name in peers and notes:
            peers[adapter.name]["notes"] = "; ".join(notes)
    counts = {(a, w): _calibrate(fn, args.min_time / 2) for a, fns in plans.items()
              for w, fn in fns.items()}
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeats):  # round robin, so that drift hits every parser alike
        for a, fns in plans.items():
            for w, fn in fns.items():
                best[a, w] = max(best.get((a, w), 0.0), _run(fn, counts[a, w]))

    results = {a: {w: round(best[a, w]) for w in fns} for a, fns in plans.items()}
    ours = results["wcs"]
    print(f"{'adapter':<10} {'workload':<22} {'ops/s':>12} {'us/op':>9} {'wcs/this':>9}")
    for a, fns in plans.items():
        for w in WORKLOADS:
            if w in fns:
                rate = best[a, w]
                ratio = f"{ours[w] / rate:8.2f}x" if w in ours else ""
                print(f"{a:<10} {w:<22} {rate:>12,.0f} {1e6 / rate:>9.1f} {ratio:>9}")
            elif w in unsupported.get(a, {}):
                print(f"{a:<10} {w:<22} {'n/a':>12}  {unsupported[a][w]}")

    ratios: dict[str, dict[str, Any]] = {}
    for w in WORKLOADS:
        rivals = [(results[a][w], a) for a in results if a != "wcs" and w in results[a]]
        if w in ours and rivals:
            rate, peer = max(rivals)
            ratios[w] = {"peer": peer, "peer_ops": rate, "ratio": round(ours[w] / rate, 2)}
    parse_ratios = [ratios[w]["ratio"] for w in ("invite_parse_access", "ok_parse_access")
                    if w in ratios]
    goals = {
        "invite_parse_access_per_s": ours.get("invite_parse_access"),
        "invite_20k_met": ours.get("invite_parse_access", 0) >= 20_000,
        "min_parse_access_ratio": min(parse_ratios) if parse_ratios else None,
        "ratio_3x_met": bool(parse_ratios) and min(parse_ratios) >= 3.0,
    }
    if ratios:
        print("wcs against the fastest peer per workload: " + ", ".join(
            f"{w} {r['ratio']}x ({r['peer']})" for w, r in ratios.items()))
    print(f"goals: >= 20,000 INVITE parse+access/s: {goals['invite_20k_met']}; "
          f">= 3x the fastest peer on parse+access: {goals['ratio_3x_met']}")
    print(json.dumps({"bench": "sip_parse", "python": platform.python_version(),
                      "invite_bytes": len(INVITE), "ok_bytes": len(OK), "repeats": args.repeats,
                      "min_time": args.min_time, "results": results, "unsupported": unsupported,
                      "peers": peers, "ratio_vs_fastest_peer": ratios, "goals": goals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
