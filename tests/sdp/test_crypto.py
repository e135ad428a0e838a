"""SDES a=crypto lines (RFC 4568): the RFC's examples, a Polycom phone's line, usability, negotiation."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.sdp.crypto import (
    KEY_MATERIAL,
    Crypto,
    CryptoError,
    InlineKey,
    SrtpKeys,
    answer_crypto,
    first_usable,
    keys_from_answer,
    offer_crypto,
    parse_crypto,
)
from wcs.sdp.errors import SdpUsageError

# RFC 4568 §4 / §4.5 / §6.1 / §7.1.5 (line breaks of the RFC text joined), and a Polycom IP phone
RFC_4 = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
RFC_45_VIDEO = "1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32"
RFC_45_AUDIO = "1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32"
RFC_61 = "1 AES_CM_128_HMAC_SHA1_80 inline:YUJDZGVmZ2hpSktMbW9QUXJzVHVWd3l6MTIzNDU2|1066:4"
RFC_715_F8 = ("2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;"
              "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP")
POLYCOM = "1 AES_CM_128_HMAC_SHA1_80 inline:tMuyik1Aiiq9p4DQVHhAASSWDEP7K7wo0cICOn39"


@pytest.mark.parametrize("value", [RFC_4, RFC_45_VIDEO, RFC_45_AUDIO, RFC_61, RFC_715_F8, POLYCOM])
def test_rfc_examples_round_trip(value: str) -> None:
    assert str(parse_crypto(value)) == value


def test_fields_of_the_rfc_examples() -> None:
    rfc4 = parse_crypto(RFC_4)
    assert (rfc4.tag, rfc4.suite) == (1, "AES_CM_128_HMAC_SHA1_80")
    assert rfc4.key == InlineKey(base64.b64decode("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"), 2 ** 20, 1, 32)
    assert len(rfc4.key.key_salt) == 30
    rfc61 = parse_crypto(RFC_61).key
    assert (rfc61.lifetime, rfc61.mki, rfc61.mki_length) == (None, 1066, 4)  # "|" MKI ":" length only
    f8 = parse_crypto(RFC_715_F8)
    assert [k.mki for k in f8.keys] == [1, 2] and f8.session_params == ("FEC_ORDER=FEC_SRTP",)
    polycom = parse_crypto(POLYCOM)
    assert polycom.key.lifetime is None and polycom.key.mki is None and polycom.problem() is None


@pytest.mark.parametrize(("value", "problem"), [
    (RFC_4, "MKI not supported"),
    (RFC_715_F8, "crypto suite F8_128_HMAC_SHA1_80 not supported"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(28)).decode(),
     "AES_CM_128_HMAC_SHA1_80 needs a 30-octet key||salt, got 28"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + "|2^49",
     "key lifetime 562949953421312 exceeds AES_CM_128_HMAC_SHA1_80's 2^48 packets"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + " KDR=3",
     "session parameter KDR=3 not supported"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + " UNENCRYPTED_SRTCP",
     "session parameter UNENCRYPTED_SRTCP not supported"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + " FUTURE_PARAM=1",
     "session parameter FUTURE_PARAM=1 not supported"),
])
def test_lines_we_cannot_use_say_why(value: str, problem: str) -> None:
    assert parse_crypto(value).problem() == problem


@pytest.mark.parametrize("params", ["WSH=128", "FEC_ORDER=FEC_SRTP", "KDR=0", "-FUTURE_PARAM=1"])
def test_hints_defaults_and_optional_parameters_are_ignored(params: str) -> None:
    key = base64.b64encode(bytes(range(30))).decode()
    line = f"7 AES_CM_128_HMAC_SHA1_32 inline:{key}|2^31 {params}"
    crypto = parse_crypto(line)
    assert crypto.problem() is None and crypto.key.lifetime == 2 ** 31


def test_gcm_suites_of_rfc_7714() -> None:
    for suite, length in (("AEAD_AES_128_GCM", 28), ("AEAD_AES_256_GCM", 44)):
        crypto = parse_crypto(f"1 {suite} inline:" + base64.b64encode(bytes(length)).decode())
        assert crypto.problem() is None


@pytest.mark.parametrize(("value", "reason"), [
    ("", "Malformed crypto attribute '': expected tag, suite and key"),
    ("1 AES_CM_128_HMAC_SHA1_80", "Malformed crypto attribute '1 AES_CM_128_HMAC_SHA1_80': expected tag, "
                                  "suite and key"),
    ("01 AES_CM_128_HMAC_SHA1_80 inline:AAAA", "Malformed crypto attribute: bad tag '01'"),
    ("1234567890 X inline:AAAA", "Malformed crypto attribute: bad tag '1234567890'"),
    ("1 AES-CM inline:AAAA", "Malformed crypto attribute: bad crypto suite 'AES-CM'"),
    ("1 X AAAA", "Malformed crypto key parameter 'AAAA'"),
    ("1 X uri:http://k", "crypto key method 'uri' not supported"),
    ("1 X inline:AA!A", "Malformed crypto key 'AA!A'"),
    ("1 X inline:A", "Malformed crypto key 'A': bad base64"),
    ("1 X inline:AAAA|2^20|1:4|x", "Malformed crypto key 'AAAA|2^20|1:4|x'"),
    ("1 X inline:AAAA|020", "Malformed crypto key 'AAAA|020': bad lifetime or MKI '020'"),
    ("1 X inline:AAAA|2^65", "Malformed crypto key 'AAAA|2^65': lifetime 2^65"),
    ("1 X inline:AAAA|1:129", "Malformed crypto key 'AAAA|1:129': MKI length 129 not 1-128"),
    ("1 X inline:AAAA|1:4|2^20", "Malformed crypto key 'AAAA|1:4|2^20': bad lifetime or MKI '2^20'"),
])
def test_malformed_lines_are_pinned(value: str, reason: str) -> None:
    with pytest.raises(CryptoError) as info:
        parse_crypto(value)
    assert info.value.reason == reason and info.value.status_code == 488


@given(st.text(max_size=120))
def test_parse_returns_a_line_or_a_crypto_error(value: str) -> None:
    try:
        crypto = parse_crypto(value)
    except CryptoError:
        return
    crypto.problem()  # never raises either


def keys(n: int) -> list[bytes]:
    return [bytes([i]) * KEY_MATERIAL for i in range(1, n + 1)]


def test_our_offer_has_a_key_per_suite_and_the_answer_selects_one() -> None:
    offer = offer_crypto(keys(2))
    heads = [str(c).split(" inline:")[0] for c in offer]
    assert heads == ["1 AES_CM_128_HMAC_SHA1_80", "2 AES_CM_128_HMAC_SHA1_32"]
    assert offer[0].key.key_salt == b"\x01" * 30 and offer[1].key.key_salt == b"\x02" * 30
    peer = base64.b64encode(b"\x09" * 30).decode()
    agreed = keys_from_answer([str(c) for c in offer], [f"2 AES_CM_128_HMAC_SHA1_32 inline:{peer}|2^31"],
                              "RTP/SAVP")
    assert agreed == SrtpKeys("AES_CM_128_HMAC_SHA1_32", 2, b"\x02" * 30, b"\x09" * 30, 2 ** 31, "RTP/SAVP")
    assert agreed.profile == "SRTP_AES128_CM_SHA1_32"
    assert str(agreed.local_crypto()) == str(offer[1])
    assert keys_from_answer([str(c) for c in offer], [], "RTP/AVP") is None


@pytest.mark.parametrize(("answer", "reason"), [
    ("3 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode(),
     "crypto answer 3 AES_CM_128_HMAC_SHA1_80 was not offered"),
    ("1 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(bytes(30)).decode(),
     "crypto answer 1 AES_CM_128_HMAC_SHA1_32 was not offered"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(29)).decode(),
     "crypto answer unusable: AES_CM_128_HMAC_SHA1_80 needs a 30-octet key||salt, got 29"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:", "Malformed crypto key ''"),
])
def test_a_bad_answer_fails_the_negotiation(answer: str, reason: str) -> None:
    offered = [str(c) for c in offer_crypto(keys(2))]
    with pytest.raises(CryptoError) as info:
        keys_from_answer(offered, [answer], "RTP/SAVP")
    assert info.value.reason == reason


def test_answering_takes_the_first_usable_line() -> None:
    offered = [RFC_4, RFC_715_F8, "5 AES_CM_128_HMAC_SHA1_80 inline:junk!", POLYCOM, RFC_45_AUDIO]
    agreed = answer_crypto(offered, b"\x07" * KEY_MATERIAL, "RTP/AVP")
    assert agreed is not None and (agreed.tag, agreed.suite, agreed.proto) == (1, "AES_CM_128_HMAC_SHA1_80",
                                                                              "RTP/AVP")
    assert agreed.local == b"\x07" * 30 and agreed.remote == parse_crypto(POLYCOM).key.key_salt
    assert str(agreed.local_crypto()) == "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(
        b"\x07" * 30).decode()
    assert first_usable(offered) == parse_crypto(POLYCOM)
    assert answer_crypto([RFC_4, RFC_715_F8], b"\x07" * KEY_MATERIAL, "RTP/SAVP") is None


def test_renegotiation_keeps_our_key_for_the_same_suite() -> None:
    previous = SrtpKeys("AES_CM_128_HMAC_SHA1_32", 4, b"\x05" * 30, b"\x06" * 30)
    peer = base64.b64encode(b"\x08" * 30).decode()
    offered = [f"1 AES_CM_128_HMAC_SHA1_80 inline:{peer}", f"2 AES_CM_128_HMAC_SHA1_32 inline:{peer}"]
    again = answer_crypto(offered, b"\x07" * KEY_MATERIAL, "RTP/SAVP", previous)
    assert again == SrtpKeys("AES_CM_128_HMAC_SHA1_32", 2, b"\x05" * 30, b"\x08" * 30, None, "RTP/SAVP")
    other = answer_crypto(offered[:1], b"\x07" * KEY_MATERIAL, "RTP/SAVP", previous)
    assert other is not None and other.local == b"\x07" * 30 and other.suite == "AES_CM_128_HMAC_SHA1_80"


def test_misuse_is_a_local_error() -> None:
    with pytest.raises(SdpUsageError):
        offer_crypto(keys(1))
    with pytest.raises(SdpUsageError):
        offer_crypto([b"\x01" * 10, b"\x02" * 10])
    with pytest.raises(SdpUsageError):
        keys_from_answer(["garbage"], [POLYCOM], "RTP/SAVP")


def test_crypto_builds_canonical_text() -> None:
    line = Crypto(12, "AES_CM_128_HMAC_SHA1_80", (InlineKey(bytes(30), 1000, 7, 2),), ("WSH=64",))
    assert str(line) == "12 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + \
        "|1000|7:2 WSH=64"
    assert parse_crypto(str(line)) == line
