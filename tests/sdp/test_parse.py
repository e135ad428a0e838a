"""Parser and serializer: corpus round trips, field access, pinned rejections."""

from __future__ import annotations

import pathlib

import pytest

from wcs.errors import RemoteProtocolError
from wcs.sdp import MediaDescription, Origin, RtpMap, SdpParseError, SessionDescription, parse_sdp

from .helpers import corpus_files, load


def _canonical(data: bytes) -> str:
    """The input with CRLF line ends and blank lines dropped: what str() must give."""
    lines = data.decode("utf-8").split("\n")
    return "".join(line.rstrip("\r") + "\r\n" for line in lines if line.strip())


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_sdp_round_trips(path: pathlib.Path) -> None:
    data = path.read_bytes()
    sd = parse_sdp(data)
    assert str(sd) == _canonical(data)
    assert bytes(sd) == _canonical(data).encode()
    assert str(parse_sdp(str(sd))) == str(sd)


def test_chromium_offer_fields() -> None:
    sd = parse_sdp(load("chromium156-offer-audio-video.rig.sdp"))
    assert sd.origin == Origin("-", "4721274667905841413", 2, "IN", "IP4", "127.0.0.1")
    assert sd.session_name == "-"
    assert sd.groups("BUNDLE") == [["0", "1"]]
    assert sd.attribute("msid-semantic") == "WMS aff56073-3aaa-4267-afae-858167953c46"
    audio, video = sd.media
    assert (audio.kind, audio.port, audio.port_count) == ("audio", 56736, None)
    assert audio.proto == "UDP/TLS/RTP/SAVPF"
    assert audio.formats == ["111", "63", "9", "0", "8", "13", "110", "126"]
    assert audio.mid == "0" and video.mid == "1"
    assert audio.direction == "sendrecv"
    assert audio.connection_address == "127.0.0.1"
    assert audio.rtpmaps()["111"] == RtpMap("opus", 48000, 2)
    assert audio.rtpmaps()["9"] == RtpMap("G722", 8000)
    assert audio.fmtp("111") == "minptime=10;useinbandfec=1"
    assert audio.fmtp("0") is None
    assert audio.rtcp_fb("111") == ["transport-cc"]
    assert audio.has_attribute("rtcp-mux") and audio.attribute("rtcp-mux") == ""
    assert len(audio.attributes("extmap")) == 4
    assert video.fmtp("102") == "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"
    assert video.rtcp_fb("96") == ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]


def test_session_and_media_level_connection_and_bandwidth() -> None:
    sd = parse_sdp(load("bria4-audio-video-text.sipsorcery.sdp"))
    assert sd.connection_address == "10.1.1.2"
    assert sd.bandwidths == [("AS", 2064)]
    assert [md.kind for md in sd.media] == ["audio", "video", "text"]
    assert sd.media[1].bandwidths == [("TIAS", 2000000)]
    assert sd.media[0].connection_address is None
    assert sd.media_connection_address(sd.media[0]) == "10.1.1.2"
    assert sd.media[1].rtcp_fb("96") == ["nack pli"]          # a=rtcp-fb:* wildcard
    assert ("", "mid:1") in sd.media[2].lines                 # malformed line kept verbatim


def test_port_zero_and_media_level_connection() -> None:
    sd = parse_sdp(load("cisco-sipua-audio-video-text.sipsorcery.sdp"))
    assert [md.port for md in sd.media] == [19586, 0, 11000]  # port 0: rejected video (RFC 3264 §6)
    assert sd.media[1].rejected and not sd.media[0].rejected
    edge = parse_sdp(load("edge-legacy-answer.sipsorcery.sdp"))
    assert edge.media[1].formats == [] and edge.media[1].m_line() == "video 0 UDP/TLS/RTP/SAVPF"


def test_multiple_media_of_one_kind_and_port_count() -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
            "m=audio 5000/2 RTP/AVP 0\r\nm=audio 5004 RTP/AVP 8\r\na=recvonly\r\n")
    sd = parse_sdp(text)
    assert [(md.port, md.port_count) for md in sd.media] == [(5000, 2), (5004, None)]
    assert sd.media[1].direction == "recvonly"
    assert str(sd) == text


def test_lf_only_and_mixed_line_ends_and_missing_final_newline() -> None:
    crlf = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
    assert str(parse_sdp(crlf.replace("\r\n", "\n"))) == crlf
    assert str(parse_sdp(crlf.replace("\r\n", "\n", 2))) == crlf
    assert str(parse_sdp(crlf.rstrip("\r\n"))) == crlf
    assert str(parse_sdp(crlf.replace("s=-\r\n", "s=-\r\n\r\n"))) == crlf   # blank line skipped


def test_build_and_serialize_from_scratch() -> None:
    md = MediaDescription("audio", 4000, None, "RTP/AVP", ["0"])
    md.add_attribute("rtpmap", "0 PCMU/8000")
    md.add_attribute("sendrecv")
    md.set_direction("sendonly")
    sd = SessionDescription(Origin("-", "7", 1, address="192.0.2.5"), "-", [("t", "0 0")], [md])
    assert str(sd) == ("v=0\r\no=- 7 1 IN IP4 192.0.2.5\r\ns=-\r\nt=0 0\r\n"
                       "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n")
    md.set_attribute("ptime", "20")
    md.set_attribute("ptime", "30")
    assert md.attributes("ptime") == ["30"]
    assert md.remove_attribute("ptime") == 1 and not md.has_attribute("ptime")
    copy = sd.copy()
    copy.media[0].port = 1
    assert sd.media[0].port == 4000


def test_duplicate_payload_type_first_rtpmap_wins() -> None:
    sd = parse_sdp(load("ta612v-ata-invite.sipsorcery.sdp"))
    assert sd.media[0].formats.count("101") == 2
    assert sd.media[0].rtpmaps()["101"] == RtpMap("telephone-event", 8000)


H = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"


@pytest.mark.parametrize(("text", "reason"), [
    (b"", "empty SDP body"),
    (b"\r\n\r\n", "empty SDP body"),
    (b"o=- 1 1 IN IP4 1.2.3.4\r\n", "line 1: SDP must start with v=0"),
    (b"v=1\r\n", "line 1: unsupported SDP version '1'"),
    (b"v=0\r\n", "line 2: expected o= line"),
    (b"v=0\r\ns=-\r\n", "line 2: expected o= line"),
    (b"v=0\r\no=- 1 IN IP4 1.2.3.4\r\n", "line 2: malformed o= line (expected 6 fields)"),
    (b"v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n", "line 2: o= session version is not a number"),
    (H + b"c=IN IP4\r\n", "line 4: malformed c= line (expected 3 fields)"),
    (H + b"b=AS\r\n", "line 4: malformed b= line (expected <type>:<number>)"),
    (H + b"b=AS:x\r\n",
     "line 4: malformed b= line (expected <type>:<number>)"),
    (H + b"m=audio\r\n",
     "line 4: malformed m= line (expected media, port and proto)"),
    (H + b"m=audio 70000 RTP/AVP 0\r\n", "line 4: bad port in m= line"),
    (H + b"m=audio x RTP/AVP 0\r\n", "line 4: bad port in m= line"),
    (H + b"m=audio 5/0 RTP/AVP 0\r\n", "line 4: bad port count in m= line"),
    (H + b"m=audio 5 RTP/AVP 128\r\n",
     "line 4: bad payload type '128' in m= line"),
    (H + b"m=audio 5 RTP/AVP PCMU\r\n",
     "line 4: bad payload type 'PCMU' in m= line"),
    (H + b"m=audio 5 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
     "line 5: malformed a=rtpmap (expected <pt> <name>/<rate>[/<channels>])"),
    (H + b"m=audio 5 RTP/AVP 0\r\na=rtcp:abc\r\n",
     "line 5: bad port in a=rtcp"),
    (H + b"m=audio 5 RTP/AVP 0\r\na=fmtp:\r\n",
     "line 5: malformed a=fmtp (no format)"),
    (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=\xff\r\n", "line 3: invalid UTF-8"),
    (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=a\x00b\r\n", "line 3: NUL character"),
    (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=a\rb\r\n", "line 3: stray CR inside a line"),
])
def test_rejections_name_line_and_defect(text: bytes, reason: str) -> None:
    with pytest.raises(SdpParseError) as info:
        parse_sdp(text)
    assert info.value.reason == reason
    assert info.value.status_code == 400
    assert isinstance(info.value, RemoteProtocolError)


@pytest.mark.parametrize(("text", "reason"), [
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0 0\r\n", "line 3: expected s= line"),
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nmid:1\r\n", "line 4: not a <type>=<value> line"),
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nx=1\r\n", "line 4: unknown line type 'x'"),
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\no=- 1 1 IN IP4 1.2.3.4\r\n", "line 4: unexpected o= line"),
])
def test_strict_mode_rejects_what_lenient_mode_keeps(text: str, reason: str) -> None:
    parse_sdp(text)
    with pytest.raises(SdpParseError) as info:
        parse_sdp(text, strict=True)
    assert info.value.reason == reason


def test_lenient_mode_keeps_unknown_lines_in_order() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0 0\r\nx=custom\r\nm=audio 1 RTP/AVP 0\r\ny=2\r\n"
    sd = parse_sdp(text)
    assert sd.session_name == "-" and sd.lines == [("t", "0 0"), ("x", "custom")]
    assert sd.media[0].lines == [("y", "2")]
