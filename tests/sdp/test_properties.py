"""Property tests: the parser returns a description or raises SdpParseError, nothing else;
what it returns serializes to a fixed point; the translations only raise SdpError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wcs.sdp import (
    CodecPolicy,
    SdpError,
    SdpParseError,
    SessionDescription,
    SipTransport,
    WebRtcTransport,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)

from .helpers import corpus_files, load

CORPUS = [p.read_bytes() for p in corpus_files()]
CHROME = parse_sdp(load("chromium156-websdk-audio-video-offer.sdp"))
SIP = SipTransport("192.0.2.10", {i: 40000 + 2 * i for i in range(8)})
WEBRTC = WebRtcTransport("uuuu", "p" * 22, "sha-256 00", ["1 1 udp 1 127.0.0.1 4000 typ host"])
POLICIES = [CodecPolicy(), CodecPolicy.from_settings()]

_VALUES = st.sampled_from([
    "0", "- 1 1 IN IP4 1.2.3.4", "IN IP4 0.0.0.0", "IN IP6 ::1", "AS:64", "0 0", "audio 9 RTP/AVP 0 8 101",
    "video 0 UDP/TLS/RTP/SAVPF 96", "audio 5000/2 RTP/AVP 111",
    "application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "rtpmap:111 opus/48000/2", "rtpmap:101 telephone-event/8000", "rtpmap:96 H264/90000", "fmtp:101 0-15",
    "fmtp:96 profile-level-id=42e01f;packetization-mode=1", "rtcp:5001 IN IP4 1.2.3.4", "rtcp-mux",
    "sendonly", "recvonly", "inactive", "mid:0", "group:BUNDLE 0 1", "ice-ufrag:x", "rtcp-fb:* nack pli",
    "candidate:1 1 udp 1 1.2.3.4 5 typ host", "", "=", ":", "rtpmap:", "fmtp:", "rtcp:", "rtpmap:1 x/y",
])
_LINE = st.one_of(
    st.tuples(st.sampled_from(list("vosiuepcbtrzkamxyV ")), _VALUES).map(lambda t: f"{t[0]}={t[1]}"),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)
_DOCUMENT = st.tuples(
    st.sampled_from(["v=0", "v=1", "", "o=- 1 1 IN IP4 1.2.3.4"]),
    st.sampled_from(["o=- 1 1 IN IP4 1.2.3.4", "o=x", "s=-", ""]),
    st.lists(_LINE, max_size=25),
    st.sampled_from(["\r\n", "\n", "\r"]),
).map(lambda t: t[3].join([t[0], t[1], *t[2]]))


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 40))]
        elif op == "insert":
            junk = [b"\r\n", b"m=", b"=", b" ", b"a=rtpmap:", b"\x00", b"\xff"]
            data[pos:pos] = draw(st.sampled_from(junk))
        else:
            del data[pos:]
    return bytes(data)


def _parse_or_none(data: str | bytes) -> SessionDescription | None:
    try:
        sd = parse_sdp(data)
    except SdpParseError as exc:
        assert exc.reason and exc.status_code == 400
        return None
    text = str(sd)
    assert str(parse_sdp(text)) == text            # serializer output is a fixed point
    return sd


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_DOCUMENT, st.text(max_size=200)))
def test_parser_on_generated_text(text: str) -> None:
    _parse_or_none(text)
    _parse_or_none(text.encode("utf-8"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mutated(), st.binary(max_size=300)))
def test_parser_on_mutated_corpus_and_bytes(data: bytes) -> None:
    _parse_or_none(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(), st.sampled_from(POLICIES))
def test_translations_raise_only_sdp_errors(data: bytes, policy: CodecPolicy) -> None:
    sd = _parse_or_none(data)
    if sd is None:
        return
    calls = [
        lambda: sip_offer_from_webrtc(sd, SIP, policy),
        lambda: webrtc_answer_from_sip(sd, CHROME, WEBRTC),
        lambda: webrtc_answer_from_sip(CHROME, sd, WEBRTC, sip_offer=sd),
        lambda: webrtc_offer_from_sip(sd, WEBRTC, policy),
        lambda: sip_answer_from_webrtc(sd, sd, SIP),
    ]
    for call in calls:
        try:
            result = call()
        except SdpError:
            continue
        out = result[0] if isinstance(result, tuple) else result
        assert str(parse_sdp(str(out))) == str(out)   # what we write parses back unchanged
