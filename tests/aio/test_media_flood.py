"""A flood of bad packets on an established call's media ports does not disturb the call.

A separate process sends, for two seconds at ~30,000 datagrams/s, junk of every kind at the
call's three ports (WebRTC, SIP RTP, SIP RTCP): random bytes, truncated RTP, RTP with made-up SSRCs
(some in sequence, as a replaying attacker would send), SRTP from an address that passed no ICE check,
fake STUN and DTLS, RTCP on the RTP port, malformed RTCP.  The browser's own socket adds SRTP with
bad authentication tags.  Meanwhile the browser and the phone keep talking (50 packets/s each way):
both must keep hearing each other, every kind of junk must be counted, nothing may raise.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from benchmarks.relay.peers import read_stamp
from wcs.aio.media import MediaManager
from wcs.entropy import SeededEntropy
from wcs.gateway.media import MediaEvent

from ..webrtc.dtls_pair import SERVER_CERT
from .test_media import LOOPBACK, open_call, run, settings, until

FLOOD_SECONDS = 2.0
FLOOD_RATE = 30_000  # datagrams per second, all ports together

FLOODER = r"""
import os, socket, struct, sys, time
webrtc, rtp, rtcp = (int(a) for a in sys.argv[1:4])
seconds, rate = float(sys.argv[4]), int(sys.argv[5])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
def rtp_packet(seq, ssrc, pt=0, size=160):
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, seq * 160 & 0xFFFFFFFF, ssrc) + os.urandom(size)
kinds = [
    lambda i: (rtp, os.urandom(1 + i % 200)),                       # junk
    lambda i: (rtp, b"\x80\x00" + os.urandom(i % 10)),              # truncated RTP
    lambda i: (rtp, rtp_packet(i, 0xBAD00000 + i % 1000)),          # made-up SSRCs
    lambda i: (rtp, rtp_packet(i, 0xBADBAD)),                       # one SSRC, in sequence
    lambda i: (rtp, b"\x81\xc9\x00\x07" + os.urandom(8)),           # RTCP on the RTP port
    lambda i: (rtcp, b"\x81\xc8\x00\x06" + os.urandom(i % 30)),     # malformed RTCP
    lambda i: (rtcp, os.urandom(1 + i % 60)),
    lambda i: (webrtc, rtp_packet(i, 0xBAD1, 111) + os.urandom(16)),  # SRTP, no ICE check passed
    lambda i: (webrtc, b"\x00\x01\x00\x08\x21\x12\xa4\x42" + os.urandom(20)),  # fake STUN
    lambda i: (webrtc, b"\x16\xfe\xfd" + os.urandom(40)),           # fake DTLS
    lambda i: (webrtc, os.urandom(1 + i % 100)),
]
end = time.monotonic() + seconds
i = 0
burst = max(1, rate // 1000)
while time.monotonic() < end:
    tick = time.monotonic()
    for _ in range(burst):
        port, data = kinds[i % len(kinds)](i)
        try:
            socks[i % 3].sendto(data, ("127.0.0.1", port))
        except OSError:
            pass
        i += 1
    pause = tick + burst / rate - time.monotonic()
    if pause > 0:
        time.sleep(pause)
print(i)
"""


def test_a_flood_of_junk_does_not_disturb_an_established_call(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        events: list[MediaEvent] = []
        manager = MediaManager(settings(41000), SERVER_CERT, LOOPBACK, events.append,
                               entropy=SeededEntropy(8))
        call = await open_call(manager, "flood")
        for _ in range(10):  # established: media flows both ways
            call.send_audio(sender=0)
            await asyncio.sleep(0.02)
        webrtc_port = call.browser.server[1]
        flooder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FLOODER, str(webrtc_port), str(call.sip_port), str(call.sip_port + 1),
            str(FLOOD_SECONDS), str(FLOOD_RATE), stdout=asyncio.subprocess.PIPE)
        try:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(0.1)  # the flood is on
            sent = 0
            end = loop.time() + FLOOD_SECONDS - 0.2
            while loop.time() < end:
                call.send_audio()
                sent += 1
                for _ in range(5):  # plus SRTP with bad tags from the browser's own address
                    bad = bytearray(call.browser.packet(2))
                    bad[-1] ^= 0xFF
                    call.browser_sock.sendto(bytes(bad), call.browser.server)
                await asyncio.sleep(0.02)
            out, _ = await asyncio.wait_for(flooder.communicate(), 10.0)
            flooded = int(out)
        finally:
            if flooder.returncode is None:
                flooder.kill()
                await flooder.wait()
        heard = ([read_stamp(p)[1] for p in call.to_phone if read_stamp(p)[0] == 1],
                 [read_stamp(p)[1] for p in call.to_browser if read_stamp(p)[0] == 1])
        for got in heard:
            assert len(got) >= 0.9 * sent, f"{len(got)} of {sent} delivered during the flood"
        # after the flood: everything arrives
        before = len(call.to_phone), len(call.to_browser)
        for _ in range(25):
            call.send_audio()
            await asyncio.sleep(0.02)
        await until(lambda: (len(call.to_phone) - before[0], len(call.to_browser) - before[1]) == (25, 25))
        stats = manager.stats("flood")
        assert stats is not None and stats["state"] == "connected"
        dropped = stats["dropped"]
        assert isinstance(dropped, dict)
        print(f"\nflood: {flooded} datagrams ({flooded / FLOOD_SECONDS:.0f}/s); "
              f"call: {sent} packets each way, delivered {len(heard[0])} to the phone, "
              f"{len(heard[1])} to the browser; "
              f"{sum(dropped.values())} dropped for {len(dropped)} reasons")
        assert flooded >= FLOOD_RATE * FLOOD_SECONDS * 0.5
        for reason in ("malformed RTP from the SIP side", "RTP from the SIP side with an unexpected SSRC",
                       "RTCP on the SIP RTP port without rtcp-mux", "SRTP authentication failed",
                       "media from an address that passed no ICE check", "unsupported packet type (unknown)"):
            assert dropped.get(reason, 0) > 0, reason
        assert any(k.startswith("RTCP from the SIP side: ") for k in dropped)
        assert any("STUN" in k for k in dropped)
        assert not events or all(getattr(e, "state", None) != "failed" for e in events)
        call.close()
        manager.close()

    with caplog.at_level(logging.ERROR, logger="wcs.media"):
        run(main, 30.0)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
