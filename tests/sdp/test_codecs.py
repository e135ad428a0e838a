"""Codec registry, formats, H.264 rules (RFC 6184) and CodecPolicy."""

from __future__ import annotations

import pytest

from wcs.sdp import CodecPolicy, Format, SdpUsageError, find_codec, formats_match, media_formats, parse_sdp
from wcs.sdp.codecs import STATIC_PAYLOAD_TYPES, find_match
from wcs.sdp.h264 import h264_answer_fmtp, h264_profile, h264_same_configuration, level_rank
from wcs.sdp.model import parse_fmtp

from .helpers import load


def test_static_payload_types_rfc3551() -> None:
    table = {pt: (c.name, c.clock_rate) for pt, c in STATIC_PAYLOAD_TYPES.items()}
    assert [table[pt] for pt in (0, 8, 9, 13, 18)] == [
        ("PCMU", 8000), ("PCMA", 8000), ("G722", 8000), ("CN", 8000), ("G729", 8000)]
    assert STATIC_PAYLOAD_TYPES[34].kind == "video"


def test_g722_clock_rate_is_8000_in_sdp() -> None:
    spec = find_codec("g722", 8000)
    assert spec is not None and spec.static_pt == 9          # RFC 3551 §4.5.2
    assert find_codec("G722", 16000) is None


@pytest.mark.parametrize(("name", "rate", "channels"), [
    ("opus", 48000, 2), ("speex", 8000, 1), ("speex", 16000, 1), ("telephone-event", 8000, 1),
    ("telephone-event", 48000, 1), ("VP8", 90000, 1), ("H264", 90000, 1), ("red", 48000, 2),
    ("rtx", 90000, 1), ("ulpfec", 90000, 1), ("CN", 8000, 1)])
def test_dynamic_codecs_registered(name: str, rate: int, channels: int) -> None:
    spec = find_codec(name, rate)
    assert spec is not None and spec.channels == channels


def test_media_formats_of_chromium_audio() -> None:
    md = parse_sdp(load("chromium156-websdk-audio-offer.sdp")).media[0]
    fmts = media_formats(md)
    assert [(f.pt, f.name, f.clock_rate, f.channels) for f in fmts] == [
        (111, "opus", 48000, 2), (63, "red", 48000, 2), (9, "G722", 8000, 1), (0, "PCMU", 8000, 1),
        (8, "PCMA", 8000, 1), (13, "CN", 8000, 1), (110, "telephone-event", 48000, 1),
        (126, "telephone-event", 8000, 1)]
    assert fmts[0].fmtp == "minptime=10;useinbandfec=1" and fmts[0].rtcp_fb == ("transport-cc",)
    assert fmts[0].params == {"minptime": "10", "useinbandfec": "1"}
    assert fmts[2].is_static and not fmts[0].is_static
    assert fmts[0].rtpmap() == "111 opus/48000/2"


def test_media_formats_static_without_rtpmap_and_unknown_dynamic_skipped() -> None:
    sd = parse_sdp("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0 8 96 18 0\r\n")
    assert [(f.pt, f.name) for f in media_formats(sd.media[0])] == [(0, "PCMU"), (8, "PCMA"), (18, "G729")]
    app = parse_sdp(load("pion-datachannel-offer.sipsorcery.sdp")).media[0]
    assert media_formats(app) == []


def test_parse_fmtp() -> None:
    assert parse_fmtp("a=1; B=2;flag;;a=3") == {"a": "1", "b": "2", "flag": ""}
    assert parse_fmtp("0-15") == {"0-15": ""}
    assert parse_fmtp("") == {}


def H(fmtp: str, pt: int = 96) -> Format:
    return Format(pt, "H264", 90000, 1, fmtp)


@pytest.mark.parametrize(("pli", "profile"), [
    ("42e01f", "constrained-baseline"), ("42c01e", "constrained-baseline"),
    ("4de01f", "constrained-baseline"), ("58c01f", "constrained-baseline"),
    ("42001f", "baseline"), ("42801f", "baseline"), ("58801f", "baseline"),
    ("4d001f", "main"), ("4d401f", "main"), ("58001f", "extended"), ("640c1f", "constrained-high"),
    ("64001f", "high"), ("6e0028", "high-10"), ("f41028", "high-444-intra"), ("ff0000", None), ("42e0", None),
    ("zz001f", None)])
def test_h264_profile_table5(pli: str, profile: str | None) -> None:
    assert h264_profile(pli) == profile


def test_h264_configuration_match_by_subprofile_and_mode() -> None:
    assert formats_match(H("profile-level-id=42e01f;packetization-mode=1"),
                         H("packetization-mode=1;profile-level-id=4de016"))  # same sub-profile, other level
    assert not formats_match(H("profile-level-id=42e01f;packetization-mode=1"),
                             H("profile-level-id=42e01f;packetization-mode=0"))  # §8.2.2: mode must match
    assert not formats_match(H("profile-level-id=42e01f;packetization-mode=1"),
                             H("profile-level-id=42001f;packetization-mode=1"))  # CB ≠ B
    assert formats_match(H(""), H("profile-level-id=42000a"))                  # default 42000a, mode 0
    assert h264_same_configuration("profile-level-id=ff001f", "profile-level-id=ff0028")
    assert not h264_same_configuration("profile-level-id=xx", "profile-level-id=xx")


def test_h264_answer_levels() -> None:
    offer = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
    # no asymmetry on the answerer: the lower level in common (3.1 vs 2.2 → 2.2)
    assert h264_answer_fmtp(offer, "profile-level-id=42e016;packetization-mode=1") == \
        "packetization-mode=1;profile-level-id=42e016"
    # the answerer may not upgrade the level without asymmetry
    assert h264_answer_fmtp("packetization-mode=1;profile-level-id=42e016", "profile-level-id=42e028") == \
        "packetization-mode=1;profile-level-id=42e016"
    # both allow asymmetry: the answerer keeps its own receive level, even higher
    assert h264_answer_fmtp(offer, "level-asymmetry-allowed=1;profile-level-id=42e028;max-fs=8160") == \
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e028;max-fs=8160"
    # the profile of the offer is kept (equivalent iop spelled as offered)
    assert h264_answer_fmtp("profile-level-id=42e01f", "profile-level-id=4de01f") == \
        "packetization-mode=0;profile-level-id=42e01f"
    # Level 1b (§8.1): constraint_set3 with level_idc 11 for Baseline
    assert level_rank("42f00b") == 1.05 and level_rank("42e00b") == 1.1 and level_rank("640009") == 1.05
    assert h264_answer_fmtp("profile-level-id=42e01f", "profile-level-id=42f00b") == \
        "packetization-mode=0;profile-level-id=42f00b"


def test_other_fmtp_rules() -> None:
    vp9 = Format(98, "VP9", 90000, 1, "profile-id=0")
    assert formats_match(vp9, Format(100, "VP9", 90000, 1, ""))
    assert not formats_match(vp9, Format(100, "VP9", 90000, 1, "profile-id=2"))
    av1 = Format(45, "AV1", 90000, 1, "profile=0")
    assert not formats_match(av1, Format(46, "AV1", 90000, 1, "profile=1"))
    # telephone-event: the clock rate tells 8000 from 48000 (RFC 4733 §7.1.1)
    assert not formats_match(Format(126, "telephone-event", 8000), Format(110, "telephone-event", 48000))
    # Opus is opus/48000/2 (RFC 7587 §7); tolerate peers that write opus/48000
    assert formats_match(Format(111, "opus", 48000, 2, "useinbandfec=1"), Format(96, "OPUS", 48000, 1))
    assert not formats_match(Format(0, "PCMU", 8000), Format(8, "PCMA", 8000))
    assert not formats_match(Format(10, "L16", 44100, 2), Format(11, "L16", 44100, 1))


def test_find_match_prefers_same_pt() -> None:
    te = [Format(101, "telephone-event", 8000), Format(126, "telephone-event", 8000)]
    assert find_match(Format(126, "telephone-event", 8000), te) == te[1]
    assert find_match(Format(100, "telephone-event", 8000), te) == te[0]
    assert find_match(Format(100, "telephone-event", 48000), te) is None


# ------------------------------------------------------------ CodecPolicy


def test_issue2_default_policy() -> None:
    policy = CodecPolicy()
    md = parse_sdp(load("chromium156-websdk-audio-video-offer.sdp")).media
    audio = [f.pt for f in media_formats(md[0]) if policy.offer_to_sip(f)]
    assert audio == [111, 9, 0, 8, 110, 126]
    assert not [f for f in media_formats(md[1]) if policy.offer_to_sip(f)]


def test_settings_policy_defaults() -> None:
    policy = CodecPolicy.from_settings()
    assert policy.codecs == ("opus", "alaw", "ulaw", "g729", "speex16", "g722", "mpeg4-generic",
                             "telephone-event", "h264", "vp8", "flv", "mpv")
    assert policy.exclude_sip == ("mpeg4-generic", "flv", "mpv") and policy.allow_outside_codecs
    video = media_formats(parse_sdp(load("chromium156-websdk-audio-video-offer.sdp")).media[1])
    # VP8 + H.264 packetization-mode 1 only; rtx, red, ulpfec, VP9, AV1 never go to SIP
    assert [f.pt for f in video if policy.offer_to_sip(f)] == [96, 102, 108, 116]
    mode0 = CodecPolicy.from_settings(proxy_use_h264_packetization_mode_1_only=False)
    assert [f.pt for f in video if mode0.offer_to_sip(f)] == [96, 102, 104, 108, 114, 116, 39]


def test_h264_profiles_setting() -> None:
    video = media_formats(parse_sdp(load("chromium156-websdk-audio-video-offer.sdp")).media[1])
    cb = CodecPolicy.from_settings(profiles="42e01f")
    assert [f.pt for f in video if cb.offer_to_sip(f)] == [96, 108]
    both = CodecPolicy.from_settings(profiles=["constrained-baseline", "main"])
    assert both.h264_profiles == ("constrained-baseline", "main")
    assert [f.pt for f in video if both.offer_to_sip(f)] == [96, 108, 116]
    with pytest.raises(SdpUsageError):
        CodecPolicy.from_settings(profiles="ultra")


def test_policy_order_and_outside_codecs() -> None:
    fmts = media_formats(parse_sdp(load("ta612v-ata-invite.sipsorcery.sdp")).media[0])
    local = CodecPolicy.from_settings(keep_remote_order=False)
    accepted = local.order([f for f in fmts if local.accept_from_sip(f)])
    # WCS order: alaw, ulaw, g729, telephone-event; the outside codecs (G726) last, in their order
    assert [(f.pt, f.name) for f in accepted] == [
        (8, "PCMA"), (0, "PCMU"), (18, "G729"), (101, "telephone-event"), (100, "G726-16"), (2, "G726-32"),
        (103, "G726-40")]
    strict = CodecPolicy.from_settings(allow_outside_codecs=False)
    assert [f.pt for f in fmts if strict.accept_from_sip(f)] == [0, 101, 18, 8]
    sdp_names = CodecPolicy(codecs=("PCMU", "G726-16"))
    assert [f.pt for f in fmts if sdp_names.accept_from_sip(f)] == [0, 100]
