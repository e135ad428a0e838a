"""RFC 7983 §7 first-byte demultiplexing and the RFC 5761 §4 RTP/RTCP split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.webrtc.demux import classify


@pytest.mark.parametrize(
    ("first", "kind"),
    [(0, "stun"), (1, "stun"), (3, "stun"), (4, "unknown"), (15, "unknown"), (16, "zrtp"), (19, "zrtp"),
     (20, "dtls"), (22, "dtls"), (63, "dtls"), (64, "turn"), (79, "turn"), (80, "unknown"),
     (127, "unknown"), (128, "rtp"), (191, "rtp"), (192, "unknown"), (255, "unknown")],
)
def test_first_byte_ranges(first: int, kind: str) -> None:
    assert classify(bytes([first, 0]) + bytes(10)) == kind


@pytest.mark.parametrize(("second", "kind"), [(0, "rtp"), (111, "rtp"), (191, "rtp"), (192, "rtcp"),
                                               (200, "rtcp"), (206, "rtcp"), (223, "rtcp"), (224, "rtp")])
def test_rtcp_by_packet_type(second: int, kind: str) -> None:
    assert classify(bytes([0x80, second]) + bytes(10)) == kind


def test_short_packets() -> None:
    assert classify(b"") == "unknown"
    assert classify(b"\x80") == "rtp"
    assert classify(b"\x16") == "dtls"


@given(st.binary(max_size=4))
def test_total(data: bytes) -> None:
    assert classify(data) in {"stun", "dtls", "rtp", "rtcp", "zrtp", "turn", "unknown"}
