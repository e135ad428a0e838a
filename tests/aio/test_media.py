"""MediaManager on 127.0.0.1 with real sockets: a simulated browser (our ICE/DTLS/SRTP pieces) and a
simulated SIP phone (plain RTP) talk through one call's relay.

The peers come from ``benchmarks/relay/peers.py`` (the load benchmark drives the same ones).  Every
wait is bounded; the only real-time waits are the RTP activity timeout, shrunk to 0.3 s.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from benchmarks.relay.peers import SimBrowser, SimPhone, establish, read_stamp, udp_socket
from wcs.aio.media import MediaManager
from wcs.entropy import SeededEntropy
from wcs.gateway.media import DtmfDetected, MediaError, MediaEvent, MediaTimeout
from wcs.gateway.settings import Settings
from wcs.rtp.dtmf import DtmfReceiver
from wcs.rtp.packet import RtpPacket
from wcs.rtp.rtcp import Bye, parse_compound
from wcs.sdp.webrtc import PtPair, StreamPlan

from ..webrtc.dtls_pair import SERVER_CERT

LOOPBACK = "127.0.0.1"
PCMU_AND_EVENTS = [PtPair(0, 0, "PCMU", 8000), PtPair(126, 101, "telephone-event", 8000)]


def run(coro: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    asyncio.run(asyncio.wait_for(coro(), timeout))


def settings(first_port: int, **changes: object) -> Settings:
    return Settings(address=LOOPBACK, media_port_from=first_port, media_port_to=first_port + 199,
                    **changes)  # type: ignore[arg-type]


@dataclass
class Call:
    """One established call: manager-side id, the two peers and their sockets, what they received."""

    call_id: str
    browser: SimBrowser
    browser_sock: socket.socket
    phone: SimPhone
    phone_sock: socket.socket
    phone_rtcp: socket.socket
    sip_port: int
    to_phone: list[bytes] = field(default_factory=list)
    to_browser: list[bytes] = field(default_factory=list)

    def listen(self) -> None:
        """Collect what each peer receives (the browser's SRTP decrypted)."""
        loop = asyncio.get_running_loop()

        def browser_readable() -> None:
            while True:
                try:
                    data = self.browser_sock.recv(65535)
                except BlockingIOError:
                    return
                packet = self.browser.receive(data, loop.time())
                if packet is not None and not 191 < packet[1] < 224:
                    self.to_browser.append(packet)

        def phone_readable() -> None:
            while True:
                try:
                    self.to_phone.append(self.phone_sock.recv(65535))
                except BlockingIOError:
                    return
        loop.add_reader(self.browser_sock.fileno(), browser_readable)
        loop.add_reader(self.phone_sock.fileno(), phone_readable)

    def send_audio(self, sender: int = 1) -> None:
        self.browser_sock.sendto(self.browser.packet(sender), self.browser.server)
        self.phone_sock.sendto(self.phone.packet(sender), (LOOPBACK, self.sip_port))

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in (self.browser_sock, self.phone_sock, self.phone_rtcp):
            loop.remove_reader(sock.fileno())
            sock.close()


async def open_call(manager: MediaManager, call_id: str, codecs: list[PtPair] | None = None) -> Call:
    """Allocate, connect with a plan pointing at a fresh phone socket, run ICE + DTLS."""
    loop = asyncio.get_running_loop()
    allocation = manager.allocate(call_id, 1, loop.time())
    phone_sock, phone_rtcp = udp_socket(), udp_socket()
    phone_addr, rtcp_addr = phone_sock.getsockname(), phone_rtcp.getsockname()
    webrtc_port = int(allocation.webrtc.candidates[0].split()[5])
    browser = SimBrowser((LOOPBACK, webrtc_port), allocation.webrtc.ice_ufrag, allocation.webrtc.ice_pwd,
                         allocation.webrtc.fingerprint, ssrc=0xB0B0_0000 + len(call_id))
    plan = StreamPlan("audio", "0", codecs or PCMU_AND_EVENTS, phone_addr, rtcp_addr, "sendrecv", 0)
    manager.connect(call_id, [plan], fingerprints=[browser.fingerprint], ice=(browser.ufrag, browser.pwd),
                    now=loop.time())
    browser_sock = udp_socket()
    await establish(browser, browser_sock)
    call = Call(call_id, browser, browser_sock, SimPhone(0x5EED_0000 + len(call_id)), phone_sock, phone_rtcp,
                allocation.sip.ports[0])
    call.listen()
    return call


async def until(condition: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> None:
    """Poll ``condition`` (bounded)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def talk(call: Call, packets: int, interval: float = 0.02) -> None:
    for _ in range(packets):
        call.send_audio()
        await asyncio.sleep(interval)


def test_two_way_audio_stats_and_release() -> None:
    async def main() -> None:
        events: list[MediaEvent] = []
        manager = MediaManager(settings(40000), SERVER_CERT, LOOPBACK, events.append,
                               entropy=SeededEntropy(3))
        call = await open_call(manager, "c1")
        await talk(call, 25)
        await until(lambda: len(call.to_phone) == 25 and len(call.to_browser) == 25)
        assert [read_stamp(p)[1] for p in call.to_phone] == list(range(25))
        assert [read_stamp(p)[1] for p in call.to_browser] == list(range(25))
        stats = manager.stats("c1")
        assert stats is not None and stats["state"] == "connected"
        assert stats["sip"]["packetsReceived"] == stats["sip"]["packetsSent"] == 25  # type: ignore[index]
        assert stats["browser"]["packetsReceived"] == stats["browser"]["packetsSent"] == 25  # type: ignore[index]
        port = call.sip_port
        manager.release("c1")
        manager.release("c1")  # unknown ids are ignored
        assert manager.stats("c1") is None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, port))  # the port is free again
        byes: list[Bye] = []
        await until(lambda: bool(byes.extend(_byes(call.phone_rtcp)) or byes), 2.0)  # RFC 3550 §6.6
        call.close()
        manager.close()
        assert [e.state for e in events] == ["checking", "connected"]  # type: ignore[union-attr]

    run(main)


def _byes(sock: socket.socket) -> list[Bye]:
    """RTCP BYE packets that reached ``sock``."""
    out = []
    while True:
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return out
        out += [p for p in parse_compound(data) if isinstance(p, Bye)]


def test_send_dtmf_reaches_the_phone_and_phone_dtmf_is_reported() -> None:
    async def main() -> None:
        events: list[MediaEvent] = []
        manager = MediaManager(settings(40200), SERVER_CERT, LOOPBACK, events.append,
                               entropy=SeededEntropy(4))
        call = await open_call(manager, "c2")
        loop = asyncio.get_running_loop()
        assert manager.send_dtmf("c2", "1#", loop.time(), duration=0.06) is True
        receiver = DtmfReceiver(8000)

        def digits() -> list[str | None]:
            for data in call.to_phone:
                packet = RtpPacket.parse(data)
                if packet.payload_type == 101:
                    receiver.receive(packet.timestamp, packet.payload, 0.0, packet.marker)
            call.to_phone.clear()
            got.extend(d.digit for d in receiver.pop_digits())
            return got
        got: list[str | None] = []
        await until(lambda: digits() == ["1", "#"], 3.0)
        with pytest.raises(MediaError, match="not a DTMF digit"):
            manager.send_dtmf("c2", "7?", loop.time())
        assert manager.send_dtmf("unknown", "1", loop.time()) is False
        # the phone presses 5 (RFC 4733, PT 101, 3 end packets)
        for i, (flags, duration) in enumerate([(0x0A, 160), (0x8A, 400), (0x8A, 400), (0x8A, 400)]):
            packet = RtpPacket(payload_type=101, sequence_number=900 + i, timestamp=4000,
                               ssrc=call.phone.ssrc, marker=i == 0,
                               payload=bytes([5, flags]) + duration.to_bytes(2, "big"))
            call.phone_sock.sendto(bytes(packet), (LOOPBACK, call.sip_port))
        await until(lambda: DtmfDetected("c2", "5", "sip", 0.05) in events, 2.0)
        call.close()
        manager.close()

    run(main)


def test_a_call_whose_phone_stops_sending_times_out() -> None:
    async def main() -> None:
        events: list[MediaEvent] = []
        config = settings(40400, rtp_activity_timeout=0.3, rtp_activity_start_grace=0.0)
        manager = MediaManager(config, SERVER_CERT, LOOPBACK, events.append, entropy=SeededEntropy(5))
        call = await open_call(manager, "c3")
        for _ in range(20):  # 0.4 s of audio both ways, then the phone goes quiet
            call.send_audio()
            await asyncio.sleep(0.02)
            assert not [e for e in events if isinstance(e, MediaTimeout)]
        for _ in range(25):
            call.browser_sock.sendto(call.browser.packet(1), call.browser.server)
            await asyncio.sleep(0.02)
        [timeout] = [e for e in events if isinstance(e, MediaTimeout)]
        assert (timeout.call_id, timeout.leg) == ("c3", "sip") and timeout.seconds >= 0.3
        call.close()
        manager.close()

    run(main)


def test_no_free_ports() -> None:
    async def main() -> None:
        manager = MediaManager(Settings(address=LOOPBACK, media_port_from=40600, media_port_to=40603),
                               SERVER_CERT, LOOPBACK, lambda event: None)
        loop = asyncio.get_running_loop()
        manager.allocate("a", 1, loop.time())
        with pytest.raises(MediaError, match="No free media ports"):
            manager.allocate("b", 1, loop.time())
        with pytest.raises(MediaError, match="already allocated"):
            manager.allocate("a", 1, loop.time())
        manager.close()

    run(main)
