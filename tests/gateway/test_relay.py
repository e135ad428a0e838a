"""The call relay: a browser-like WebRTC peer (our own pieces) ⇄ CallRelay ⇄ plain RTP.

Helpers here (``make_relay``, ``plan``, ``rtp``, ``drive``, ``SipSource``) are shared by the other
``test_relay_*`` modules.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest

from wcs.entropy import SeededEntropy
from wcs.gateway.relay import BROWSER, SIP_RTCP, CallRelay, Datagram, Passthrough, RelayConfig
from wcs.gateway.relay.processor import StreamProcessor
from wcs.rtp.packet import RtpPacket
from wcs.sdp.codecs import Format
from wcs.sdp.webrtc import PtPair, StreamPlan

from ..webrtc.browser import Browser, connect, endpoint_for

SIP_PEER = ("127.0.0.1", 10000)
SIP_FROM = ("127.0.0.1", 10000)
BROWSER_SSRC = 0x0B0B0B0B
PHONE_SSRC = 0x11223344


def plan(direction: str = "sendrecv", *, codecs: Sequence[PtPair] | None = None, index: int = 0,
         kind: str = "audio", sip_formats: Sequence[Format] = (), remote: tuple[str, int] = SIP_PEER,
         rtcp_mux: bool = False) -> StreamPlan:
    pairs = list(codecs) if codecs is not None else [PtPair(0, 0, "PCMU", 8000),
                                                     PtPair(126, 101, "telephone-event", 8000)]
    return StreamPlan(kind=kind, webrtc_mid=str(index), codecs=pairs, sip_remote=remote,
                      sip_remote_rtcp=(remote[0], remote[1] + 1), direction=direction, sip_index=index,
                      sip_rtcp_mux=rtcp_mux, sip_formats=list(sip_formats))


def rtp(pt: int, seq: int, ts: int, ssrc: int = PHONE_SSRC, payload: bytes = b"\xff" * 160,
        marker: bool = False) -> bytes:
    return bytes(RtpPacket(payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload,
                           marker=marker))


def make_relay(*plans: StreamPlan, config: RelayConfig | None = None, now: float = 0.0,
               **kwargs: object) -> tuple[CallRelay, Browser]:
    """A relay whose browser transport is connected (consent never expires within a test)."""
    endpoint = endpoint_for(consent_timeout=10_000.0)
    browser = connect(endpoint)
    assert endpoint.state == "connected"
    relay = CallRelay(endpoint, call_id="c1", entropy=SeededEntropy(9), config=config,
                      **kwargs)  # type: ignore[arg-type]
    relay.configure(list(plans) or [plan()], now)
    assert [e.state for e in relay.events()] == ["checking", "connected"]  # type: ignore[union-attr]
    return relay, browser


def drive(relay: CallRelay, until: float) -> list[tuple[float, Datagram]]:
    """Fire every timer due up to ``until``; returns what was sent, with the time."""
    out: list[tuple[float, Datagram]] = []
    while (deadline := relay.get_timer()) is not None and deadline <= until:
        out += [(deadline, d) for d in relay.handle_timer(deadline)]
    return out


class SipSource:
    """A SIP phone's outgoing RTP: 20 ms of PCMU per packet."""

    def __init__(self, ssrc: int = PHONE_SSRC, seq: int = 1000, ts: int = 5000, pt: int = 0) -> None:
        self.ssrc, self.seq, self.ts, self.pt = ssrc, seq, ts, pt

    def next(self) -> bytes:
        packet = rtp(self.pt, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.ssrc)
        self.seq += 1
        self.ts += 160
        return packet


@pytest.fixture
def linked() -> tuple[CallRelay, Browser]:
    return make_relay()


def to_sip(relay: CallRelay, browser: Browser, packet: bytes, now: float) -> list[RtpPacket]:
    out = relay.from_browser(browser.srtp.protect(packet), browser.addr, now)
    return [RtpPacket.parse(data) for leg, data, _ in out if leg == 0]


def test_browser_to_sip_is_decrypted_rewritten_and_continuous(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    out = []
    for i in range(3):
        out += relay.from_browser(browser.srtp.protect(rtp(0, 1000 + i, 160 * i)), browser.addr, 1.0 + i / 50)
    assert [leg for leg, _, _ in out] == [0, 0, 0]
    assert all(dest == SIP_PEER for _, _, dest in out)
    packets = [RtpPacket.parse(data) for _, data, _ in out]
    assert len({p.ssrc for p in packets}) == 1 and packets[0].ssrc != PHONE_SSRC
    seqs = [p.sequence_number for p in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(3)]
    assert [p.payload for p in packets] == [b"\xff" * 160] * 3


def test_payload_types_are_mapped_both_ways(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    [(_, data, _)] = relay.from_browser(browser.srtp.protect(rtp(126, 1, 0, payload=b"\x05\x0a\x00\xa0")),
                                        browser.addr, 1.0)
    assert RtpPacket.parse(data).payload_type == 101
    for seq, sip_pt in enumerate((101, 126)):  # the SIP peer may use its PT or ours (RFC 3264 §6.1)
        event = rtp(sip_pt, 7 + seq, 0, payload=b"\x05\x0a\x00\xa0")
        [(leg, data, dest)] = relay.from_sip(0, event, SIP_FROM, 1.0)
        assert leg == BROWSER and dest == browser.addr
        assert RtpPacket.parse(browser.srtp.unprotect(data)).payload_type == 126


def test_sip_to_browser_is_srtp_the_browser_can_read(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    [(leg, data, dest)] = relay.from_sip(0, rtp(0, 55, 8000), SIP_FROM, 2.0)
    assert (leg, dest) == (BROWSER, browser.addr)
    packet = RtpPacket.parse(browser.srtp.unprotect(data))
    assert packet.payload_type == 0 and packet.payload == b"\xff" * 160
    assert relay.forwarded_to_browser == 1


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x80\x00", "malformed RTP from the SIP side"),
    (b"\x40" + bytes(20), "malformed RTP from the SIP side"),
    (b"", "malformed RTP from the SIP side"),
    (rtp(96, 1, 1), "RTP from the SIP side with an unnegotiated payload type"),
    (struct.pack("!BBH", 0x80, 200, 6) + bytes(24), "RTCP on the SIP RTP port without rtcp-mux"),
])
def test_junk_from_sip_is_counted_and_dropped(linked: tuple[CallRelay, Browser], data: bytes,
                                              reason: str) -> None:
    relay, _ = linked
    assert relay.from_sip(0, data, SIP_FROM, 1.0) == []
    assert relay.dropped == {reason: 1}
    assert len(relay.from_sip(0, rtp(0, 2, 160), SIP_FROM, 1.02)) == 1  # and the call still works


def test_rtp_on_a_stream_that_is_not_negotiated(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    assert relay.from_sip(3, rtp(0, 2, 160), SIP_FROM, 1.0) == []
    assert relay.from_sip_rtcp(3, b"\x80\xc9\x00\x01" + bytes(4), SIP_FROM, 1.0) == []
    assert relay.dropped == {"RTP on a SIP stream that is not negotiated": 1,
                             "RTCP on a SIP stream that is not negotiated": 1}


def test_unauthenticated_and_junk_browser_datagrams_are_dropped(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    assert relay.from_browser(rtp(0, 1, 1), browser.addr, 1.0) == []          # plain RTP, no SRTP tag
    assert relay.from_browser(b"\xff" * 40, browser.addr, 1.0) == []
    assert relay.from_browser(browser.srtp.protect(rtp(0, 2, 2)), ("127.0.0.1", 1), 1.0) == []
    assert relay.from_browser(browser.srtp.protect(rtp(9, 3, 3)), browser.addr, 1.0) == []
    assert relay.endpoint.dropped == {"SRTP authentication failed": 1, "unsupported packet type (unknown)": 1,
                                      "media from an address that passed no ICE check": 1}
    assert relay.dropped == {"RTP from the browser with an unnegotiated payload type": 1}
    assert len(relay.from_browser(browser.srtp.protect(rtp(0, 4, 4)), browser.addr, 1.0)) == 1


def test_hold_and_directions_stop_forwarding(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    relay.set_held(True, 1.0)
    assert relay.from_sip(0, rtp(0, 1, 0), SIP_FROM, 1.0) == []
    assert relay.from_browser(browser.srtp.protect(rtp(0, 1, 0)), browser.addr, 1.0) == []
    assert relay.dropped == {"RTP from SIP while not sending to the browser": 1,
                             "RTP from the browser while not sending to SIP": 1}
    relay.set_held(False, 1.0)
    relay.configure([plan("sendonly")], 1.0)  # the browser sends, the SIP side only receives
    assert relay.from_sip(0, rtp(0, 2, 160), SIP_FROM, 1.0) == []
    assert len(relay.from_browser(browser.srtp.protect(rtp(0, 2, 160)), browser.addr, 1.0)) == 1


def test_hold_and_resume_keep_both_outgoing_streams_continuous(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    phone = SipSource()
    before = [RtpPacket.parse(browser.srtp.unprotect(relay.from_sip(0, phone.next(), SIP_FROM, 1.0)[0][1]))]
    [sent_before] = to_sip(relay, browser, rtp(0, 10, 1600, BROWSER_SSRC), 1.0)
    relay.set_held(True, 1.0)
    for _ in range(50):  # a second of held media from both sides, none forwarded
        assert relay.from_sip(0, phone.next(), SIP_FROM, 1.5) == []
    relay.set_held(False, 2.0)
    # after the resume the phone restarts its stream (new SSRC, as many do after a re-INVITE)
    relay.configure([plan()], 2.0)
    restarted = SipSource(ssrc=0x99, seq=7, ts=123)
    after = RtpPacket.parse(browser.srtp.unprotect(relay.from_sip(0, restarted.next(), SIP_FROM, 2.0)[0][1]))
    [sent_after] = to_sip(relay, browser, rtp(0, 70, 11200, BROWSER_SSRC), 2.0)
    assert after.ssrc == before[0].ssrc and after.sequence_number == (before[0].sequence_number + 1) & 0xFFFF
    assert after.timestamp == (before[0].timestamp + 8000) & 0xFFFFFFFF and after.marker  # 1 s later
    assert sent_after.ssrc == sent_before.ssrc
    assert sent_after.sequence_number == (sent_before.sequence_number + 60) & 0xFFFF  # a gap stays a gap


def test_reconfigure_keeps_the_outgoing_streams_continuous(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    [(_, first, _)] = relay.from_sip(0, rtp(0, 100, 0), SIP_FROM, 1.0)
    relay.configure([plan()], 1.0)
    [(_, second, _)] = relay.from_sip(0, rtp(0, 500, 99999, ssrc=0x55), SIP_FROM, 1.02)
    a, b = (RtpPacket.parse(browser.srtp.unprotect(d)) for d in (first, second))
    assert b.ssrc == a.ssrc and b.sequence_number == (a.sequence_number + 1) & 0xFFFF


def test_a_flood_of_made_up_ssrcs_cannot_take_over_the_sip_stream(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    phone = SipSource()
    now = 1.0
    for i in range(20):
        assert len(relay.from_sip(0, phone.next(), SIP_FROM, now)) == 1
        for junk in range(5):  # each with its own SSRC, or one SSRC with random sequence numbers
            ssrc = 0x7000 + i * 5 + junk if junk % 2 else 0x7777
            seq = (i * 7919 + junk * 104729) & 0xFFFF
            assert relay.from_sip(0, rtp(0, seq, 0, ssrc), SIP_FROM, now) == []
        now += 0.02
    assert relay.dropped == {"RTP from the SIP side with an unexpected SSRC": 100}
    assert relay.stats()["sip"]["packetsReceived"] == 20  # type: ignore[index]


def test_a_new_sip_source_takes_over_once_the_old_one_is_quiet(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    old, new = SipSource(), SipSource(ssrc=0x5151, seq=40000)
    relay.from_sip(0, old.next(), SIP_FROM, 1.0)
    # too soon: the old source spoke 0.1 s ago, even two packets in sequence are not enough
    assert relay.from_sip(0, new.next(), SIP_FROM, 1.1) == []
    assert relay.from_sip(0, new.next(), SIP_FROM, 1.12) == []
    # quiet for 0.25 s: the next in-sequence packet switches (a transfer without re-INVITE)
    out = relay.from_sip(0, new.next(), SIP_FROM, 1.3)
    assert len(out) == 1 and RtpPacket.parse(browser.srtp.unprotect(out[0][1])).marker
    assert relay.from_sip(0, old.next(), SIP_FROM, 1.32) == []  # the old one is now the stranger


def test_latching_follows_the_locked_source_on_the_sdp_host(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    moved = ("127.0.0.1", 10500)
    phone = SipSource()
    relay.from_sip(0, phone.next(), moved, 1.0)  # symmetric RTP from another port (RFC 4961)
    assert to_sip(relay, browser, rtp(0, 1, 0, BROWSER_SSRC), 1.0)
    [(_, _, dest)] = relay.from_browser(browser.srtp.protect(rtp(0, 2, 160, BROWSER_SSRC)), browser.addr, 1.0)
    assert dest == moved
    # another host may not send at all
    assert relay.from_sip(0, phone.next(), ("192.0.2.7", 10000), 1.02) == []
    assert relay.dropped == {"RTP from the SIP side from an unexpected address": 1}
    # a stranger on the same host with another SSRC does not move the latch
    assert relay.from_sip(0, rtp(0, 9, 9, ssrc=0x66), ("127.0.0.1", 10900), 1.04) == []
    [(_, _, dest)] = relay.from_browser(browser.srtp.protect(rtp(0, 3, 320, BROWSER_SSRC)), browser.addr,
                                        1.06)
    assert dest == moved


def test_the_sdp_address_displaces_a_stranger_that_locked_first(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    stranger = ("127.0.0.1", 10900)
    assert relay.from_sip(0, rtp(0, 1, 0, ssrc=0x66), stranger, 1.0)  # first: it locked and latched
    assert relay.from_sip(0, SipSource().next(), SIP_FROM, 1.02)  # the real phone, from its SDP address
    assert relay.from_sip(0, rtp(0, 2, 160, ssrc=0x66), stranger, 1.04) == []
    [(_, _, dest)] = relay.from_browser(browser.srtp.protect(rtp(0, 1, 0, BROWSER_SSRC)), browser.addr, 1.06)
    assert dest == SIP_PEER


@pytest.mark.parametrize(("latching", "source", "accepted", "dest"), [
    ("off", ("127.0.0.1", 10500), True, SIP_PEER),
    ("off", ("192.0.2.7", 10000), False, SIP_PEER),
    ("any", ("192.0.2.7", 4000), True, ("192.0.2.7", 4000)),
])
def test_latching_modes(latching: str, source: tuple[str, int], accepted: bool,
                        dest: tuple[str, int]) -> None:
    relay, browser = make_relay(config=RelayConfig(latching=latching))
    assert bool(relay.from_sip(0, SipSource().next(), source, 1.0)) is accepted
    [(_, _, sent_to)] = relay.from_browser(browser.srtp.protect(rtp(0, 1, 0, BROWSER_SSRC)), browser.addr,
                                           1.0)
    assert sent_to == dest


def test_unknown_latching_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="latching must be one of off, host, any"):
        RelayConfig(latching="sometimes")


def test_telephone_event_durations_are_rescaled_between_event_clocks() -> None:
    opus = [PtPair(111, 111, "opus", 48000), PtPair(110, 101, "telephone-event", 48000, 8000)]
    relay, browser = make_relay(plan(codecs=opus))
    # the browser reports 100 ms at 48 kHz (4800 units); the SIP side counts 8 kHz units (800)
    [packet] = to_sip(relay, browser, rtp(110, 1, 0, BROWSER_SSRC, payload=b"\x05\x8a\x12\xc0"), 1.0)
    assert (packet.payload_type, packet.payload) == (101, b"\x05\x8a\x03\x20")
    [(_, data, _)] = relay.from_sip(0, rtp(101, 1, 0, payload=b"\x05\x8a\x03\x20"), SIP_FROM, 1.0)
    back = RtpPacket.parse(browser.srtp.unprotect(data))
    assert (back.payload_type, back.payload) == (110, b"\x05\x8a\x12\xc0")


class Doubler:
    """A processor of our own: every packet goes out twice (as a transcoder might emit two)."""

    def __init__(self, inner: StreamProcessor) -> None:
        self.inner = inner
        self.updates = 0

    @property
    def ssrc(self) -> int:
        return self.inner.ssrc

    def update(self, plan: StreamPlan) -> None:
        self.updates += 1
        self.inner.update(plan)

    def process(self, packet: bytearray, now: float) -> Sequence[bytes | bytearray]:
        return [bytes(p) for p in self.inner.process(packet, now)] * 2

    def inject(self, payload_type: int, payload: bytes, marker: bool, start: float,
               offset: int) -> bytes | bytearray | None:
        return self.inner.inject(payload_type, payload, marker, start, offset)

    def source_changed(self) -> None:
        self.inner.source_changed()

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> Sequence[bytes | bytearray]:
        return ()


def test_a_direction_can_be_handled_by_another_processor() -> None:
    made: list[tuple[bool, StreamProcessor | None]] = []

    def factory(p: StreamPlan, toward_sip: bool, previous: StreamProcessor | None) -> StreamProcessor:
        made.append((toward_sip, previous))
        if previous is not None:
            previous.update(p)
            return previous
        inner = Passthrough(p, toward_sip, SeededEntropy(1))
        return Doubler(inner) if toward_sip else inner

    relay, browser = make_relay(processors=factory)
    assert len(to_sip(relay, browser, rtp(0, 1, 0, BROWSER_SSRC), 1.0)) == 2
    assert len(relay.from_sip(0, rtp(0, 1, 0), SIP_FROM, 1.0)) == 1
    relay.configure([plan()], 2.0)
    assert [previous is not None for _, previous in made] == [False, False, True, True]
    assert isinstance(made[2][1], Doubler) and made[2][1].updates == 1


def test_stats_per_leg(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    phone = SipSource()
    for i in range(10):
        if i != 4:  # one packet lost on the way from the phone
            relay.from_sip(0, phone.next(), SIP_FROM, 1.0 + i / 50)
        else:
            phone.next()
        to_sip(relay, browser, rtp(0, 100 + i, 160 * i, BROWSER_SSRC), 1.0 + i / 50)
    stats = relay.stats()
    assert stats["sip"] == {"packetsReceived": 9, "bytesReceived": 9 * 160, "lost": 1, "jitterMs": 0.0,
                            "packetsSent": 10, "bytesSent": 1600, "rttMs": None}
    assert stats["browser"] == {"packetsReceived": 10, "bytesReceived": 1600, "lost": 0, "jitterMs": 0.0,
                                "packetsSent": 9, "bytesSent": 9 * 160, "rttMs": None}
    assert stats["streams"] == [{"index": 0, "kind": "audio", "browser": stats["browser"],
                                 "sip": stats["sip"]}]
    assert (stats["state"], stats["held"], stats["forwarded"]) == ("connected", False,
                                                                   {"toSip": 10, "toBrowser": 9})


def test_close_says_bye_on_every_leg_and_sends_close_notify(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    out = relay.close(1.0)
    assert [leg for leg, _, _ in out] == [SIP_RTCP, BROWSER, BROWSER]
    assert out[0][2] == (SIP_PEER[0], SIP_PEER[1] + 1)
    assert relay.from_sip(0, rtp(0, 1, 0), SIP_FROM, 1.0) == []
    assert relay.get_timer() is None and relay.close(2.0) == []
