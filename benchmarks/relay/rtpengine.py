"""rtpengine (userspace, ``--table=-1``) as the reference relay, driven over its ng control protocol.

The ng protocol (rtpengine's documentation, "ng Control Protocol"): a UDP datagram
``<cookie> <bencoded dictionary>``, answered with the same cookie.  A call is an ``offer``
(the caller's SDP, rewritten with rtpengine's address for the callee) and an ``answer``
(the callee's SDP, rewritten for the caller).  Here both sides are plain RTP/AVP PCMU phones
on 127.0.0.1, the traffic our ``plain`` mode relays.
"""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import subprocess
from pathlib import Path

Address = tuple[str, int]
_cookies = itertools.count(1)


def bencode(value: object) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(value.items())) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes, pos: int = 0) -> tuple[object, int]:
    kind = data[pos:pos + 1]
    if kind == b"i":
        end = data.index(b"e", pos)
        return int(data[pos + 1:end]), end + 1
    if kind in (b"l", b"d"):
        pos += 1
        items: list[object] = []
        while data[pos:pos + 1] != b"e":
            item, pos = bdecode(data, pos)
            items.append(item)
        if kind == b"l":
            return items, pos + 1
        return {bytes(k).decode(): v for k, v in zip(items[::2], items[1::2], strict=True)}, pos + 1  # type: ignore[arg-type]
    colon = data.index(b":", pos)
    length = int(data[pos:colon])
    return data[colon + 1:colon + 1 + length], colon + 1 + length


def phone_sdp(port: int, session: int) -> str:
    return (f"v=0\r\no=- {session} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            "a=ptime:20\r\na=sendrecv\r\n")


class Rtpengine:
    """One rtpengine process (pinned to ``cpu``) and its ng socket."""

    def __init__(self, workdir: Path, *, ng_port: int = 2223, ports: tuple[int, int] = (20000, 29999),
                 cpu: int = 0, threads: int = 1) -> None:
        self.ng = ("127.0.0.1", ng_port)
        binary = shutil.which("rtpengine")
        if binary is None:
            raise FileNotFoundError("rtpengine is not installed (apt-get install rtpengine-daemon)")
        self.log = (workdir / "rtpengine.log").open("wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), binary, "--config-file=none", "--table=-1",
             "--interface=lo/127.0.0.1", f"--listen-ng=127.0.0.1:{ng_port}", f"--port-min={ports[0]}",
             f"--port-max={ports[1]}",
             f"--num-threads={threads}", "--foreground", "--log-stderr", "--log-level=4"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.5)
        for _ in range(40):
            try:
                if self.command({"command": "ping"}).get("result") == b"pong":
                    return
            except (TimeoutError, ConnectionRefusedError):
                continue
        self.stop()
        raise RuntimeError("rtpengine did not answer ng ping")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def command(self, body: dict[str, object]) -> dict[str, object]:
        cookie = str(next(_cookies)).encode()
        self.sock.sendto(cookie + b" " + bencode(body), self.ng)
        while True:
            data, _ = self.sock.recvfrom(65535)
            got, _, payload = data.partition(b" ")
            if got == cookie:
                answer, _ = bdecode(payload)
                assert isinstance(answer, dict)
                return answer

    def call(self, call_id: str, a: Address, b: Address) -> tuple[Address, Address]:
        """Set up a call between phones at ``a`` and ``b``; returns where each must send."""
        common = {"call-id": call_id, "from-tag": "a" + call_id, "flags": ["trust-address"],
                  "replace": ["origin", "session-connection"], "ICE": "remove"}
        offer = self.command({"command": "offer", "sdp": phone_sdp(a[1], 1), **common})
        answer = self.command({"command": "answer", "sdp": phone_sdp(b[1], 2), "to-tag": "b" + call_id,
                               **common})
        return _media_address(answer), _media_address(offer)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.log.close()


def _media_address(answer: dict[str, object]) -> Address:
    if answer.get("result") != b"ok":
        raise RuntimeError(f"rtpengine refused: {answer}")
    sdp = bytes(answer["sdp"]).decode()  # type: ignore[call-overload]
    host = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    port = re.search(r"^m=audio (\d+)", sdp, re.M)
    assert host and port, sdp
    return host.group(1), int(port.group(1))
