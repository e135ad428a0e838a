"""Keyframe requests across the relay: PLI/FIR (RFC 4585, RFC 5104) or SIP INFO (RFC 5168), rate-limited."""

from __future__ import annotations

import pytest

from wcs.entropy import SeededEntropy
from wcs.rtp.rtcp import Fir, Nack, Pli, parse_compound, serialize_compound
from wcs.rtp.video.keyframe import (
    MEDIA_CONTROL_CONTENT_TYPE,
    PICTURE_FAST_UPDATE,
    FeedbackSupport,
    KeyframeRequest,
    KeyframeRequester,
    is_picture_fast_update,
)

PLI_AND_FIR = FeedbackSupport(pli=True, fir=True)


def test_feedback_support_from_rtcp_fb() -> None:
    chrome = ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
    assert FeedbackSupport.from_rtcp_fb(chrome) == FeedbackSupport(pli=True, fir=True, info=True)
    assert FeedbackSupport.from_rtcp_fb(["nack"], info=False) == FeedbackSupport(False, False, False)
    assert FeedbackSupport.from_rtcp_fb(["CCM FIR", "ccm tmmbr"]) == FeedbackSupport(fir=True)
    assert FeedbackSupport.from_rtcp_fb(["", "nack  PLI"]) == FeedbackSupport(pli=True)


def test_picture_loss_prefers_pli_and_full_prefers_fir() -> None:
    r = KeyframeRequester(PLI_AND_FIR, sender_ssrc=1, media_ssrc=2, fir_sequence=7, min_interval=0)
    r.request(0.0)
    r.request(1.0, full=True)
    reqs = r.pop_requests()
    assert reqs == [KeyframeRequest("pli", Pli(1, 2)), KeyframeRequest("fir", Fir(1, [(2, 7)]))]
    assert r.pop_requests() == []
    # the request is an RTCP packet the relay puts in a compound packet
    assert reqs[0].rtcp is not None and parse_compound(serialize_compound([reqs[0].rtcp])) == [Pli(1, 2)]


def test_fallbacks() -> None:
    only_fir = KeyframeRequester(FeedbackSupport(fir=True), sender_ssrc=1, media_ssrc=2, fir_sequence=0)
    only_fir.request(0.0)
    assert [q.kind for q in only_fir.pop_requests()] == ["fir"]
    only_pli = KeyframeRequester(FeedbackSupport(pli=True), sender_ssrc=1, media_ssrc=2)
    only_pli.request(0.0, full=True)
    assert [q.kind for q in only_pli.pop_requests()] == ["pli"]
    info = KeyframeRequester(FeedbackSupport(), sender_ssrc=1, media_ssrc=2)
    info.request(0.0)
    expected = KeyframeRequest("info", None, MEDIA_CONTROL_CONTENT_TYPE, PICTURE_FAST_UPDATE)
    assert info.pop_requests() == [expected]
    # RTCP needs the sender's SSRC: until it is known, INFO is the only way
    unknown = KeyframeRequester(PLI_AND_FIR, sender_ssrc=1)
    unknown.request(0.0)
    assert [q.kind for q in unknown.pop_requests()] == ["info"]
    unknown.media_ssrc = 9
    unknown.request(5.0)
    assert unknown.pop_requests() == [KeyframeRequest("pli", Pli(1, 9))]
    none = KeyframeRequester(FeedbackSupport(info=False), sender_ssrc=1, media_ssrc=2)
    none.request(0.0)
    assert none.pop_requests() == [] and none.requests_unsupported == 1 and none.get_timer() is None


def test_fir_sequence_numbers_per_rfc_5104() -> None:
    """§4.3.1.1: +1 mod 256 per new command; repetitions keep the number (§3.5.1.1)."""
    fir = FeedbackSupport(fir=True)
    r = KeyframeRequester(fir, sender_ssrc=1, media_ssrc=2, fir_sequence=255, min_interval=0)

    def fir_seq(now: float) -> int:
        r.request(now, full=True)
        (req,) = r.pop_requests()
        assert isinstance(req.rtcp, Fir) and req.rtcp.media_ssrc == 0 and req.rtcp.sender_ssrc == 1
        return req.rtcp.entries[0][1]

    assert fir_seq(0.0) == 255
    assert fir_seq(1.0) == 255  # no keyframe yet: a repetition
    r.keyframe_received(1.5)
    assert fir_seq(2.0) == 0  # a new command, wrapped
    r.keyframe_received(2.5)
    r.keyframe_received(2.6)  # a keyframe without an outstanding command changes nothing
    assert fir_seq(3.0) == 1
    seeded = KeyframeRequester(fir, sender_ssrc=1, media_ssrc=2, entropy=SeededEntropy(4))
    again = KeyframeRequester(fir, sender_ssrc=1, media_ssrc=2, entropy=SeededEntropy(4))
    seeded.request(0.0, full=True)
    again.request(0.0, full=True)
    assert seeded.pop_requests() == again.pop_requests()


def test_rate_limit_holds_and_coalesces() -> None:
    r = KeyframeRequester(PLI_AND_FIR, sender_ssrc=1, media_ssrc=2, min_interval=0.5, fir_sequence=3)
    assert r.get_timer() is None
    r.request(10.0)
    assert [q.kind for q in r.pop_requests()] == ["pli"]
    r.request(10.1)
    r.request(10.2, full=True)
    r.request(10.3)
    assert r.pop_requests() == [] and r.get_timer() == pytest.approx(10.5)
    r.handle_timer(10.49)
    assert r.pop_requests() == []
    r.handle_timer(10.5)
    assert [q.kind for q in r.pop_requests()] == ["fir"]  # one request; a full one was among them
    assert r.get_timer() is None and (r.requests_sent, r.requests_coalesced) == (2, 3)
    r.request(10.7)
    r.keyframe_received(10.8)  # the keyframe came anyway: the held request is dropped
    assert r.get_timer() is None
    r.handle_timer(11.0)
    assert r.pop_requests() == []
    r.request(11.0)
    assert [q.kind for q in r.pop_requests()] == ["pli"]


def test_relaying_feedback_and_info() -> None:
    r = KeyframeRequester(FeedbackSupport(), sender_ssrc=1, media_ssrc=2, min_interval=0)
    r.handle_feedback(Pli(5, 6), 0.0)
    r.handle_feedback(Fir(5, [(6, 1)]), 1.0)
    r.handle_feedback(Nack(5, 6, [1]), 2.0)  # not a keyframe request
    assert [q.kind for q in r.pop_requests()] == ["info", "info"]
    to_browser = KeyframeRequester(PLI_AND_FIR, sender_ssrc=1, media_ssrc=2, min_interval=0)
    assert to_browser.handle_info(PICTURE_FAST_UPDATE, 0.0)
    assert not to_browser.handle_info(b"<media_control/>", 1.0)
    assert [q.kind for q in to_browser.pop_requests()] == ["pli"]


@pytest.mark.parametrize(
    "body",
    [
        PICTURE_FAST_UPDATE,
        PICTURE_FAST_UPDATE.decode(),
        b"<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive>"
        b"</media_control>",
        # as Polycom/Cisco/Linphone send it: with stream_id, other whitespace, namespaces
        b'<?xml version="1.0" encoding="utf-8"?>\n<media_control>\n <vc_primitive>\n  <to_encoder>\n'
        b"   <picture_fast_update></picture_fast_update>\n  </to_encoder>\n  <stream_id>1</stream_id>\n"
        b" </vc_primitive>\n</media_control>",
        b'<m:media_control xmlns:m="urn:x"><m:vc_primitive><m:to_encoder><m:picture_fast_update/>'
        b"</m:to_encoder></m:vc_primitive></m:media_control>",
    ],
)
def test_picture_fast_update_accepted(body: bytes | str) -> None:
    assert is_picture_fast_update(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"picture_fast_update",
        b"<media_control><vc_primitive><to_encoder/></vc_primitive></media_control>",
        b"<media_control><general_error>bad</general_error></media_control>",
        b"<other><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive></other>",
        b"<media_control><vc_primitive><picture_fast_update/></vc_primitive></media_control>",
        b"<media_control><vc_primitive><to_encoder><picture_fast_update/>",  # truncated
        b'<!DOCTYPE m [<!ENTITY a "aaaa">]><media_control><vc_primitive><to_encoder><picture_fast_update/>'
        b"</to_encoder></vc_primitive></media_control>",
        b"<media_control>" + b" " * 9000 + b"</media_control>",
        b"\xff\xfe<\x00",
    ],
)
def test_picture_fast_update_rejected(body: bytes) -> None:
    assert not is_picture_fast_update(body)
