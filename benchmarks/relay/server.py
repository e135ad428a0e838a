"""The relay under test, alone in its process so that its CPU can be read from /proc.

    python -m benchmarks.relay.server --mode webrtc|plain --ports 10000-19999 [--tracemalloc]

Commands arrive as JSON lines on stdin, answers leave as JSON lines on stdout:

* ``{"op": "setup", "calls": N}`` — ``webrtc``: N calls through the real
  :class:`~wcs.aio.media.MediaManager` (``allocate``: a WebRTC port and an RTP/RTCP pair
  each); answers their ICE credentials, fingerprint and ports.  ``plain``: N plain RTP ⇄
  plain RTP calls (see :class:`PlainCall`); answers two ports per call.
* ``{"op": "connect", "calls": [...]}`` — where each call's peers are (``MediaManager.connect``
  with a stream plan pointing at the simulated phone).
* ``{"op": "heap"}`` — Python heap in use (``tracemalloc``, when started with it).
* ``{"op": "stats"}`` — packets forwarded and dropped, summed over the calls.
* ``{"op": "profile", "on": true|false}`` — cProfile the relay; off answers the top functions.
* ``{"op": "gc", "reset": false}`` — garbage-collector passes per generation (since start, and since the
  last reset), the longest pause and the total (ms) since the last reset; ``reset``: start a new window.
* ``{"op": "objects"}`` — objects the collector tracks, and those frozen at start-up.
* ``{"op": "quit"}``.

``plain`` mode is not a product path: it measures our per-packet machinery without ICE, DTLS
and SRTP, for a like-for-like comparison with rtpengine's plain RTP relay.  Each direction is
what the relay does toward a SIP peer — source lock, RFC 3550 reception statistics, the
passthrough processor (SSRC/sequence/timestamp rewrite), sender statistics — on sockets read
the way :class:`~wcs.aio.media.MediaManager` reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import socket
import struct
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

from wcs.aio.app import freeze_start_up_heap
from wcs.aio.media import MediaManager, MediaPoller, UdpSocket
from wcs.entropy import SeededEntropy, SystemEntropy
from wcs.gateway.relay.processor import Passthrough
from wcs.gateway.relay.reports import Reception, Transmission
from wcs.gateway.settings import Settings
from wcs.sdp.webrtc import PtPair, StreamPlan
from wcs.webrtc.certificate import Certificate

Address = tuple[str, int]
HOST = "127.0.0.1"
CODECS = [PtPair(0, 0, "PCMU", 8000), PtPair(101, 101, "telephone-event", 8000)]
_HDR = struct.Struct("!BBHII")


class PlainCall:
    """Plain RTP ⇄ plain RTP through the relay's per-direction pieces (benchmark only).

    Its sockets are read and written the way :class:`~wcs.aio.media.MediaManager` does it: a
    handler per socket gets the datagram and the poller round's clock reading, and what it
    forwards is queued and sent by the poller's flush hook (``outbox``).
    """

    def __init__(self, poller: MediaPoller, ports: tuple[int, int], entropy: SystemEntropy,
                 outbox: list[tuple[UdpSocket, bytes | bytearray, Address]]) -> None:
        plan = StreamPlan("audio", "0", CODECS, None, None, "sendrecv", 0)
        self.sides = [_Side(Passthrough(plan, True, entropy)), _Side(Passthrough(plan, False, entropy))]
        self.socks = [UdpSocket(poller, _bind(port), None) for port in ports]
        for i, sock in enumerate(self.socks):
            sock.watch(lambda data, addr, now, i=i: self.receive(i, data, addr, now))
        self.outbox = outbox
        self.forwarded = 0
        self.dropped: Counter[str] = Counter()

    def connect(self, a: Address, b: Address) -> None:
        self.sides[0].peer, self.sides[1].peer = a, b

    def receive(self, index: int, data: bytes, addr: Address, now: float) -> None:
        side, other = self.sides[index], self.sides[1 - index]
        if len(data) < 12 or data[0] & 0xC0 != 0x80 or 191 < data[1] < 224 or addr[0] != HOST:
            self.dropped["not RTP"] += 1
            return
        _, _, seq, ts, ssrc = _HDR.unpack_from(data)
        rx = side.rx
        if ssrc != rx.ssrc and not rx.adopt(ssrc, seq, 0.0):
            self.dropped["unexpected SSRC"] += 1
            return
        rx.last = now
        rx.packets += 1
        rx.octets += len(data) - 12
        rx.stats.receive(seq, ts, now)  # type: ignore[union-attr]
        if other.peer is None:
            return
        for packet in side.processor.process(bytearray(data), now):
            self.outbox.append((self.socks[1 - index], packet, other.peer))
            side.tx.stats.sent(ts, len(packet) - 12, now)
            self.forwarded += 1

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


class _Side:
    def __init__(self, processor: Passthrough) -> None:
        self.processor = processor
        self.rx = Reception(8000, locked=True)
        self.tx = Transmission(processor.ssrc, 8000)
        self.peer: Address | None = None


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, port))
    sock.setblocking(False)
    return sock


class _GcWatch:
    """Garbage-collector passes and pauses (gc.callbacks), since start or since the last reset."""

    def __init__(self) -> None:
        self.started = 0.0
        self.reset()
        gc.callbacks.append(self)

    def reset(self) -> None:
        self.longest = 0.0
        self.total = 0.0
        self.passes = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            pause = time.perf_counter() - self.started
            self.longest = max(self.longest, pause)
            self.total += pause
            self.passes[info["generation"]] += 1


_GC = _GcWatch()


class Server:
    def __init__(self, mode: str, ports: tuple[int, int]) -> None:
        self.mode = mode
        self.loop = asyncio.get_running_loop()
        self.manager: MediaManager | None = None
        self.outbox: list[tuple[UdpSocket, bytes | bytearray, Address]] = []
        self.poller = MediaPoller(self.loop, self._flush)
        self.plain: dict[str, PlainCall] = {}
        self.call_ids: list[str] = []
        self.ports = ports
        self.next_port = ports[0]
        if mode == "webrtc":
            from datetime import UTC, datetime, timedelta
            cert = Certificate.generate(datetime.now(UTC) - timedelta(days=1), entropy=SeededEntropy(5))
            settings = Settings(address=HOST, media_port_from=ports[0], media_port_to=ports[1])
            self.manager = MediaManager(settings, cert, HOST, lambda event: None)

    def _flush(self) -> None:
        for sock, packet, dest in self.outbox:
            sock.sendto(packet, dest)
        self.outbox.clear()

    def handle(self, command: dict[str, Any]) -> Any:
        op = command["op"]
        if op == "setup":
            return [self._setup(f"c{len(self.call_ids)}") for _ in range(command["calls"])]
        if op == "connect":
            for call in command["calls"]:
                self._connect(call)
            return "ok"
        if op == "heap":
            gc.collect()
            return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
        if op == "stats":
            return self._stats()
        if op == "profile":
            return self._profile(command["on"])
        if op == "objects":
            return {"tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count()}
        if op == "gc":
            answer = {"collections": [g["collections"] for g in gc.get_stats()], "passes": _GC.passes,
                      "max_pause_ms": _GC.longest * 1e3, "total_pause_ms": _GC.total * 1e3}
            if command.get("reset"):
                _GC.reset()
            return answer
        raise ValueError(f"unknown op {op!r}")

    def _setup(self, call_id: str) -> dict[str, Any]:
        self.call_ids.append(call_id)
        if self.manager is None:
            ports = (self.next_port, self.next_port + 2)
            self.next_port += 4
            self.plain[call_id] = PlainCall(self.poller, ports, SystemEntropy(), self.outbox)
            return {"id": call_id, "ports": ports}
        allocation = self.manager.allocate(call_id, 1, self.loop.time())
        webrtc = allocation.webrtc
        return {"id": call_id, "webrtc_port": int(webrtc.candidates[0].split()[5]), "ufrag": webrtc.ice_ufrag,
                "pwd": webrtc.ice_pwd, "fingerprint": webrtc.fingerprint, "sip_port": allocation.sip.ports[0]}

    def _connect(self, call: dict[str, Any]) -> None:
        if self.manager is None:
            self.plain[call["id"]].connect(tuple(call["a"]), tuple(call["b"]))  # type: ignore[arg-type]
            return
        phone = tuple(call["phone"])
        plan = StreamPlan("audio", "0", CODECS, phone, (phone[0], phone[1] + 1), "sendrecv", 0)  # type: ignore[arg-type]
        self.manager.connect(call["id"], [plan], fingerprints=[tuple(call["fingerprint"])],  # type: ignore[list-item]
                             ice=tuple(call["ice"]), now=self.loop.time())  # type: ignore[arg-type]

    def _profile(self, on: bool) -> str | None:
        if on:
            self.profiler = cProfile.Profile()
            self.profiler.enable()
            return None
        self.profiler.disable()
        out = io.StringIO()
        pstats.Stats(self.profiler, stream=out).sort_stats("tottime").print_stats(25)
        return out.getvalue()

    def _stats(self) -> dict[str, Any]:
        dropped: Counter[str] = Counter()
        forwarded = 0
        if self.manager is None:
            for plain in self.plain.values():
                forwarded += plain.forwarded
                dropped += plain.dropped
        else:
            for call_id in self.call_ids:
                stats = self.manager.stats(call_id)
                if stats:
                    forwarded += sum(stats["forwarded"].values())  # type: ignore[attr-defined]
                    dropped += Counter(stats["dropped"])  # type: ignore[arg-type]
        return {"forwarded": forwarded, "dropped": dict(dropped)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("webrtc", "plain"), required=True)
    parser.add_argument("--ports", default="10000-19999")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    first, last = (int(p) for p in args.ports.split("-"))
    server = Server(args.mode, (first, last))
    freeze_start_up_heap()  # as the gateway does once it is up
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)  # a "connect" line lists every call
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "quit":
            break
        try:
            answer: Any = {"ok": server.handle(command)}
        except Exception as exc:  # report, keep serving
            answer = {"error": repr(exc)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
