"""SDES-SRTP on the relay's SIP leg (RFC 3711 keyed per RFC 4568): a phone with its own libsrtp contexts ⇄
CallRelay ⇄ our browser peer, real packets both ways, RTCP, DTMF, re-keying, refusals, lifetimes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wcs.gateway.relay import BROWSER, SIP_RTCP, CallRelay
from wcs.gateway.settings import Settings, SettingsError, apply
from wcs.rtp.errors import SrtpError
from wcs.rtp.packet import RtpPacket
from wcs.rtp.rtcp import ReceiverReport, ReportBlock, SenderReport, parse_compound, serialize_compound
from wcs.rtp.srtp import SrtpSession
from wcs.sdp.crypto import SrtpKeys

from ..webrtc.browser import Browser
from .test_relay import BROWSER_SSRC, SIP_FROM, SIP_PEER, SipSource, drive, make_relay, plan, rtp

OURS = bytes(range(30))
THEIRS = bytes(range(100, 130))
KEYS = SrtpKeys("AES_CM_128_HMAC_SHA1_80", 1, OURS, THEIRS)
SIP_RTCP_ADDR = (SIP_PEER[0], SIP_PEER[1] + 1)


class Phone:
    """The SIP peer's side: it sends with its key and reads what we send with ours."""

    def __init__(self, keys: SrtpKeys = KEYS) -> None:
        self.srtp = SrtpSession.from_keys(keys.profile, keys.remote, keys.local)
        self.source = SipSource()

    def next(self) -> bytes:
        return self.srtp.protect(self.source.next())


def secure_relay(keys: SrtpKeys = KEYS) -> tuple[CallRelay, Browser, Phone]:
    relay, browser = make_relay(replace(plan(), sip_srtp=keys))
    return relay, browser, Phone(keys)


def test_media_is_srtp_on_the_sip_leg_and_dtls_srtp_toward_the_browser() -> None:
    relay, browser, phone = secure_relay()
    [(leg, data, dest)] = relay.from_sip(0, phone.next(), SIP_FROM, 1.0)
    assert (leg, dest) == (BROWSER, browser.addr)
    assert RtpPacket.parse(browser.srtp.unprotect(data)).payload == b"\xff" * 160
    [(leg, data, dest)] = relay.from_browser(browser.srtp.protect(rtp(0, 1, 0, BROWSER_SSRC, b"\x7f" * 160)),
                                             browser.addr, 1.0)
    assert (leg, dest) == (0, SIP_PEER) and len(data) == 12 + 160 + 10   # the 80-bit tag
    assert RtpPacket.parse(phone.srtp.unprotect(data)).payload == b"\x7f" * 160
    assert relay.stats()["sip"]["bytesSent"] == 160   # type: ignore[index]  # payload octets, not SRTP


def test_plain_or_forged_packets_from_the_sip_side_are_refused() -> None:
    relay, _, phone = secure_relay()
    plain = phone.source.next()
    assert relay.from_sip(0, plain, SIP_FROM, 1.0) == []
    forged = bytearray(phone.next())
    forged[20] ^= 1
    assert relay.from_sip(0, bytes(forged), SIP_FROM, 1.0) == []
    replayed = phone.next()
    assert len(relay.from_sip(0, replayed, SIP_FROM, 1.0)) == 1
    assert relay.from_sip(0, replayed, SIP_FROM, 1.0) == []
    assert relay.dropped == {"SRTP from the SIP side: SRTP authentication failed": 2,
                             "SRTP from the SIP side: SRTP replayed packet": 1}


def test_reports_and_their_answers_are_srtcp() -> None:
    relay, browser, phone = secure_relay()
    relay.from_sip(0, phone.next(), SIP_FROM, 1.0)
    relay.from_browser(browser.srtp.protect(rtp(0, 1, 0, BROWSER_SSRC)), browser.addr, 1.0)
    sent = [(t, d) for t, d in drive(relay, 5.0) if d[0] == SIP_RTCP]
    assert sent, "no report on the SIP leg"
    at, (_, srtcp, dest) = sent[0]
    assert dest == SIP_RTCP_ADDR
    plain = phone.srtp.unprotect_rtcp(srtcp)
    # RFC 3711 §3.4: encrypted after the first 8 octets, then E bit + SRTCP index (4) and the tag (10)
    assert len(srtcp) == len(plain) + 14 and srtcp[8:len(plain)] != plain[8:]
    sr = parse_compound(plain)[0]
    assert isinstance(sr, SenderReport)
    # the phone answers with an SRTCP receiver report echoing our SR: round-trip time
    lsr = (sr.ntp_timestamp >> 16) & 0xFFFFFFFF
    block = ReportBlock(sr.ssrc, 0, 0, 0, 0, lsr, 65536 // 100)   # DLSR 10 ms
    answer = phone.srtp.protect_rtcp(serialize_compound([ReceiverReport(phone.source.ssrc, [block])]))
    assert relay.from_sip_rtcp(0, answer, SIP_RTCP_ADDR, at + 0.03) == []
    rtt = relay.stats()["sip"]["rttMs"]   # type: ignore[index]
    assert rtt is not None and abs(rtt - 20.0) < 1.0
    assert relay.from_sip_rtcp(0, serialize_compound([ReceiverReport(5)]), SIP_RTCP_ADDR, at + 0.1) == []
    assert relay.dropped == {"SRTCP from the SIP side: SRTP malformed packet": 1}


def test_rtcp_mux_srtcp_on_the_rtp_port_and_a_bye_at_the_end() -> None:
    relay, browser = make_relay(replace(plan(rtcp_mux=True), sip_srtp=KEYS))
    phone = Phone()
    relay.from_sip(0, phone.next(), SIP_FROM, 1.0)
    rr = phone.srtp.protect_rtcp(serialize_compound([ReceiverReport(phone.source.ssrc)]))
    assert relay.from_sip(0, rr, SIP_FROM, 1.1) == []
    assert relay.dropped == {}
    out = relay.close(2.0)
    [(leg, bye, dest)] = [d for d in out if d[0] == 0]
    assert dest == SIP_PEER and type(parse_compound(phone.srtp.unprotect_rtcp(bye))[-1]).__name__ == "Bye"


def test_dtmf_events_are_protected_too() -> None:
    relay, browser, phone = secure_relay()
    assert relay.send_dtmf("5", 1.0)
    events = [d for _, d in drive(relay, 1.5) if d[0] == 0]
    assert events
    packets = [RtpPacket.parse(phone.srtp.unprotect(data)) for _, data, _ in events]
    assert {p.payload_type for p in packets} == {101} and packets[0].payload[0] == 5


def test_a_peer_that_rekeys_keeps_our_sending_context() -> None:
    relay, browser, phone = secure_relay()
    outgoing = [relay.from_browser(browser.srtp.protect(rtp(0, i, 160 * i, BROWSER_SSRC)), browser.addr,
                                   1.0 + i / 50)[0][1] for i in range(3)]
    assert [phone.srtp.unprotect(d) for d in outgoing]
    new = replace(KEYS, tag=2, remote=bytes(range(200, 230)))
    relay.configure([replace(plan(), sip_srtp=new)], 2.0)
    # our key is unchanged: the phone's receiving context (and its replay window) still fits
    after = relay.from_browser(browser.srtp.protect(rtp(0, 3, 480, BROWSER_SSRC)), browser.addr, 2.0)
    assert RtpPacket.parse(phone.srtp.unprotect(after[0][1])).payload == b"\xff" * 160
    # the phone's old key is no longer accepted, its new one is
    assert relay.from_sip(0, phone.next(), SIP_FROM, 2.0) == []
    rekeyed = SrtpSession.from_keys(new.profile, new.remote, new.local)
    assert len(relay.from_sip(0, rekeyed.protect(phone.source.next()), SIP_FROM, 2.02)) == 1
    # a renegotiation to plain RTP drops SRTP on the leg
    relay.configure([plan()], 3.0)
    assert len(relay.from_sip(0, phone.source.next(), SIP_FROM, 3.0)) == 1


def test_the_peers_key_lifetime_is_enforced() -> None:
    relay, _, phone = secure_relay(replace(KEYS, remote_lifetime=3))
    assert [len(relay.from_sip(0, phone.next(), SIP_FROM, 1.0 + i / 50)) for i in range(5)] == [1, 1, 1, 0, 0]
    assert relay.dropped == {"SRTP from the SIP side: SRTP master key lifetime used up": 2}


@pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM", "AEAD_AES_256_GCM"])
def test_other_suites(suite: str) -> None:
    length = {"AES_CM_128_HMAC_SHA1_32": 30, "AEAD_AES_128_GCM": 28, "AEAD_AES_256_GCM": 44}[suite]
    keys = SrtpKeys(suite, 1, bytes(length), bytes([1]) * length)
    relay, browser, phone = secure_relay(keys)
    assert len(relay.from_sip(0, phone.next(), SIP_FROM, 1.0)) == 1
    [(_, data, _)] = relay.from_browser(browser.srtp.protect(rtp(0, 1, 0, BROWSER_SSRC)), browser.addr, 1.0)
    assert phone.srtp.unprotect(data)
    with pytest.raises(SrtpError):
        SrtpSession.from_keys(keys.profile, keys.remote, bytes([2]) * length).unprotect(data)   # wrong key


def test_the_sip_srtp_setting() -> None:
    assert Settings().sip_srtp == "off"
    assert apply(Settings(), [("sip_srtp", " Mandatory ")]).sip_srtp == "mandatory"
    with pytest.raises(SettingsError, match="sip_srtp: expected off, optional or mandatory, got 'on'"):
        apply(Settings(), [("sip_srtp", "on")])
