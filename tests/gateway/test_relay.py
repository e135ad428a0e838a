"""The call relay: a browser-like WebRTC peer (our own pieces) ⇄ CallRelay ⇄ plain RTP."""

from __future__ import annotations

import struct

import pytest

from wcs.entropy import SeededEntropy
from wcs.gateway.relay import BROWSER, CallRelay
from wcs.rtp.packet import RtpPacket
from wcs.sdp.webrtc import PtPair, StreamPlan

from ..webrtc.browser import Browser, connect, endpoint_for

SIP_PEER = ("127.0.0.1", 10000)
SIP_FROM = ("127.0.0.1", 10000)


def plan(direction: str = "sendrecv") -> StreamPlan:
    return StreamPlan(kind="audio", webrtc_mid="0",
                      codecs=[PtPair(0, 0, "PCMU", 8000), PtPair(126, 101, "telephone-event", 8000)],
                      sip_remote=SIP_PEER, sip_remote_rtcp=(SIP_PEER[0], SIP_PEER[1] + 1),
                      direction=direction, sip_index=0)


def rtp(pt: int, seq: int, ts: int, ssrc: int = 0x11223344, payload: bytes = b"\xff" * 160) -> bytes:
    return bytes(RtpPacket(payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload))


@pytest.fixture
def linked() -> tuple[CallRelay, Browser]:
    endpoint = endpoint_for()
    browser = connect(endpoint)
    assert endpoint.state == "connected"
    relay = CallRelay(endpoint, entropy=SeededEntropy(9))
    relay.configure([plan()])
    return relay, browser


def test_browser_to_sip_is_decrypted_rewritten_and_continuous(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    out = []
    for i in range(3):
        out += relay.from_browser(browser.srtp.protect(rtp(0, 1000 + i, 160 * i)), browser.addr, 1.0 + i / 50)
    assert [leg for leg, _, _ in out] == [0, 0, 0]
    assert all(dest == SIP_PEER for _, _, dest in out)
    packets = [RtpPacket.parse(data) for _, data, _ in out]
    assert len({p.ssrc for p in packets}) == 1 and packets[0].ssrc != 0x11223344
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
    (rtp(96, 1, 1), None),
    (struct.pack("!BBH", 0x80, 200, 6) + bytes(24), "RTCP on the SIP RTP port (terminated)"),
])
def test_junk_from_sip_is_counted_and_dropped(linked: tuple[CallRelay, Browser], data: bytes,
                                              reason: str | None) -> None:
    relay, _ = linked
    assert relay.from_sip(0, data, SIP_FROM, 1.0) == []
    if reason is None:
        assert relay._by_sip_index[0].to_browser.dropped_payload_type == 1
    else:
        assert relay.dropped[reason] == 1
    # and the call still works afterwards
    assert len(relay.from_sip(0, rtp(0, 2, 160), SIP_FROM, 1.02)) == 1


def test_unauthenticated_and_junk_browser_datagrams_are_dropped(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    assert relay.from_browser(rtp(0, 1, 1), browser.addr, 1.0) == []          # plain RTP, no SRTP tag
    assert relay.from_browser(b"\xff" * 40, browser.addr, 1.0) == []
    assert relay.from_browser(browser.srtp.protect(rtp(0, 2, 2)), ("127.0.0.1", 1), 1.0) == []
    assert sum(relay.endpoint.dropped.values()) == 3
    assert len(relay.from_browser(browser.srtp.protect(rtp(0, 3, 3)), browser.addr, 1.0)) == 1


def test_rtcp_is_terminated(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    rr = struct.pack("!BBHI", 0x80, 201, 1, 0x11223344)
    assert relay.from_browser(browser.srtp.protect_rtcp(rr), browser.addr, 1.0) == []
    assert relay.from_sip_rtcp(0, rr, SIP_FROM, 1.0) == []
    assert relay.dropped["RTCP from the browser (terminated)"] == 1


def test_hold_and_directions_stop_forwarding(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    relay.set_held(True)
    assert relay.from_sip(0, rtp(0, 1, 0), SIP_FROM, 1.0) == []
    assert relay.from_browser(browser.srtp.protect(rtp(0, 1, 0)), browser.addr, 1.0) == []
    relay.set_held(False)
    relay.configure([plan("sendonly")])  # the browser sends, the SIP side only receives
    assert relay.from_sip(0, rtp(0, 2, 160), SIP_FROM, 1.0) == []
    assert len(relay.from_browser(browser.srtp.protect(rtp(0, 2, 160)), browser.addr, 1.0)) == 1


def test_reconfigure_keeps_the_outgoing_streams_continuous(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    [(_, first, _)] = relay.from_sip(0, rtp(0, 100, 0), SIP_FROM, 1.0)
    relay.configure([plan()])
    [(_, second, _)] = relay.from_sip(0, rtp(0, 500, 99999, ssrc=0x55), SIP_FROM, 1.02)
    a, b = (RtpPacket.parse(browser.srtp.unprotect(d)) for d in (first, second))
    assert b.ssrc == a.ssrc and b.sequence_number == (a.sequence_number + 1) & 0xFFFF


def test_close_sends_close_notify(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    out = relay.close()
    assert out and all(leg == BROWSER for leg, _, _ in out)
    assert relay.from_sip(0, rtp(0, 1, 0), SIP_FROM, 1.0) == []
