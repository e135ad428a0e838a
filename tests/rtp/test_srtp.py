"""SRTP contexts: RFC 3711 App. B and RFC 7714 vectors, DTLS key split, errors."""

from __future__ import annotations

import hashlib
import json
import pathlib
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from wcs.errors import LocalProtocolError, RemoteProtocolError
from wcs.rtp.errors import RtpUsageError, SrtpError
from wcs.rtp.srtp import PROFILES, SrtpSession

from . import srtp_ref as ref

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "srtp"
APPB = json.loads((DATA / "rfc3711-appendix-b.json").read_text())["vectors"]
GCM = json.loads((DATA / "rfc7714-aes-gcm.json").read_text())["vectors"]

H = bytes.fromhex
RTP = H("8040f17b8041f8d35501a0b2") + b"Gallia est omnis divisa in partes tres"
RTCP = H("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61"
         "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef")


# --- RFC 3711 Appendix B: the reference helper against the RFC ------------------------------

def test_b2_aes_cm_keystream_blocks() -> None:
    v = APPB["B.2_aes_cm_keystream"]
    key = H(v["session_key"])
    for block in v["blocks"]:
        assert ref.keystream(key, H(block["counter"]), 16) == H(block["keystream"])


def test_b2_aes_cm_keystream_whole_segment() -> None:
    v = APPB["B.2_aes_cm_keystream"]
    ks = ref.keystream(H(v["session_key"]), H(v["offset"]), v["keystream_segment_length_octets"])
    assert hashlib.sha256(ks).hexdigest() == v["keystream_sha256_full_segment"]


def test_b3_key_derivation_reference() -> None:
    v = APPB["B.3_key_derivation"]
    mk, ms = H(v["master_key"]), H(v["master_salt"])
    assert ref.kdf(mk, ms, 0x00, 16) == H(v["cipher_key"]["value"])
    assert ref.kdf(mk, ms, 0x02, 14) == H(v["cipher_salt"]["value"])
    assert ref.kdf(mk, ms, 0x01, 94) == H(v["auth_key"]["value"])


# --- libsrtp through SrtpSession, compared byte for byte -----------------------------------

@pytest.mark.parametrize("profile", ["SRTP_AES128_CM_SHA1_80", "SRTP_AES128_CM_SHA1_32"])
def test_b3_libsrtp_uses_rfc_session_keys(profile: str) -> None:
    """Protect with the B.3 master key; the bytes equal AES-CM/HMAC with B.3's session keys."""
    v = APPB["B.3_key_derivation"]
    master = H(v["master_key"]) + H(v["master_salt"])
    tag_len = PROFILES[profile].tag_length
    sess = SrtpSession.from_keys(profile, master, master)
    out = sess.protect(RTP)
    want = ref.cm_protect(RTP, H(v["cipher_key"]["value"]), H(v["cipher_salt"]["value"]),
                          H(v["auth_key"]["value"])[:20], tag_len)
    assert out == want
    assert sess.unprotect(out) == RTP


def test_b3_libsrtp_srtcp_matches_reference() -> None:
    v = APPB["B.3_key_derivation"]
    mk, ms = H(v["master_key"]), H(v["master_salt"])
    sess = SrtpSession.from_keys("SRTP_AES128_CM_SHA1_80", mk + ms, mk + ms)
    out = sess.protect_rtcp(RTCP)
    index = struct.unpack_from("!I", out, len(out) - 14)[0] & 0x7FFFFFFF
    key, salt, auth = ref.session_keys(mk, ms, rtcp=True)
    assert out == ref.cm_protect_rtcp(RTCP, key, salt, auth, index)
    assert sess.unprotect_rtcp(out) == RTCP


# --- RFC 7714: the reference helper against the RFC, then libsrtp against the helper -------

@pytest.mark.parametrize("v", GCM, ids=[v["section"] for v in GCM])
def test_rfc7714_vector_reference(v: dict[str, object]) -> None:
    key, salt = H(str(v["key"])), H(str(v["salt"]))
    inp = H(str(v["input_packet"]))
    out = H(str(v["output_packet"])) if v["output_packet"] else None
    rtcp = str(v["section"]).startswith("17")
    op = v["operation"]
    if op == "encrypt":
        got = ref.gcm_protect_rtcp(inp, key, salt, 0x5D4) if rtcp else ref.gcm_protect(inp, key, salt)
        assert got == out
    elif op == "decrypt":
        iv, aad = H(str(v["iv"])), H(str(v["aad"]))
        hdr = 8 if rtcp else 12
        body = inp[hdr:-4] if rtcp else inp[hdr:]
        plain = AESGCM(key).decrypt(iv, body, aad)
        assert (inp[:hdr] + plain if rtcp else plain) == out
    else:  # tag / verify: AEAD over an empty plaintext with the whole packet as AAD
        iv, aad = H(str(v["iv"])), H(str(v["aad"]))
        if op == "tag":
            tag = AESGCM(key).encrypt(iv, b"", aad)
            assert inp + tag + (aad[-4:] if rtcp else b"") == out
        else:
            tag = inp[-20:-4] if rtcp else inp[-16:]
            AESGCM(key).decrypt(iv, tag, aad)  # raises InvalidTag if wrong


@pytest.mark.parametrize("profile", ["SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_256_GCM"])
def test_rfc7714_libsrtp_matches_reference(profile: str) -> None:
    """RFC 7714's keys are session keys, which libsrtp cannot take directly: use them as
    master keys and compare with the reference built on the derived session keys."""
    v = next(x for x in GCM if x["operation"] == "encrypt" and
             len(H(x["key"])) == PROFILES[profile].key_length)
    mk, ms = H(v["key"]), H(v["salt"])
    sess = SrtpSession.from_keys(profile, mk + ms, mk + ms)
    key, salt, _ = ref.session_keys(mk, ms, rtcp=False, salt_len=12, auth_len=0)
    out = sess.protect(RTP)
    assert out == ref.gcm_protect(RTP, key, salt)
    assert sess.unprotect(out) == RTP
    out = sess.protect_rtcp(RTCP)
    index = struct.unpack_from("!I", out, len(out) - 4)[0] & 0x7FFFFFFF
    key, salt, _ = ref.session_keys(mk, ms, rtcp=True, salt_len=12, auth_len=0)
    assert out == ref.gcm_protect_rtcp(RTCP, key, salt, index)
    assert sess.unprotect_rtcp(out) == RTCP


# --- keying ------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_from_dtls_split_rfc5764(profile: str) -> None:
    p = PROFILES[profile]
    k, s = p.key_length, p.salt_length
    km = bytes(range(1, 2 * (k + s) + 1))
    client_key, server_key = km[:k], km[k:2 * k]
    client_salt, server_salt = km[2 * k:2 * k + s], km[2 * k + s:]
    client = SrtpSession.from_dtls(profile, km, is_server=False)
    server = SrtpSession.from_dtls(profile, km, is_server=True)
    # the server sends with the server write key; the client with the client write key
    plain_server = SrtpSession.from_keys(profile, server_key + server_salt, client_key + client_salt)
    assert server.protect(RTP) == plain_server.protect(RTP)
    plain_client = SrtpSession.from_keys(profile, client_key + client_salt, server_key + server_salt)
    assert client.protect(RTP) == plain_client.protect(RTP)
    assert client.unprotect(server.protect(RTP)) == RTP
    assert server.unprotect(client.protect(RTP)) == RTP
    assert server.unprotect_rtcp(client.protect_rtcp(RTCP)) == RTCP
    assert client.unprotect_rtcp(server.protect_rtcp(RTCP)) == RTCP


def test_tag_lengths() -> None:
    for name, p in PROFILES.items():
        k = bytes(p.key_length + p.salt_length)
        assert len(SrtpSession.from_keys(name, k, k).protect(RTP)) == len(RTP) + p.tag_length


def test_accepts_bytearray_and_memoryview() -> None:
    k = bytes(30)
    a, b = SrtpSession.from_keys("SRTP_AES128_CM_SHA1_80", k, k), \
        SrtpSession.from_keys("SRTP_AES128_CM_SHA1_80", k, k)
    assert a.protect(bytearray(RTP)) == b.protect(memoryview(RTP))


def test_unknown_profile() -> None:
    with pytest.raises(RtpUsageError, match=r"^unknown SRTP profile 'SRTP_NULL_NULL'$"):
        SrtpSession.from_keys("SRTP_NULL_NULL", b"", b"")
    assert issubclass(RtpUsageError, LocalProtocolError)


def test_wrong_key_lengths() -> None:
    with pytest.raises(RtpUsageError) as e:
        SrtpSession.from_keys("SRTP_AES128_CM_SHA1_80", bytes(30), bytes(29))
    assert str(e.value) == "SRTP_AES128_CM_SHA1_80 rx key||salt must be 30 octets, got 29"
    with pytest.raises(RtpUsageError) as e:
        SrtpSession.from_dtls("SRTP_AEAD_AES_256_GCM", bytes(60), True)
    assert str(e.value) == "SRTP_AEAD_AES_256_GCM keying material must be 88 octets, got 60"


# --- errors from the network ----------------------------------------------------------------

def _pair(profile: str = "SRTP_AES128_CM_SHA1_80") -> tuple[SrtpSession, SrtpSession]:
    p = PROFILES[profile]
    km = bytes(range(2 * (p.key_length + p.salt_length)))
    return (SrtpSession.from_dtls(profile, km, is_server=False),
            SrtpSession.from_dtls(profile, km, is_server=True))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_replay_rejected(profile: str) -> None:
    client, server = _pair(profile)
    pkt = client.protect(RTP)
    assert server.unprotect(pkt) == RTP
    with pytest.raises(SrtpError) as e:
        server.unprotect(pkt)
    assert e.value.reason == "SRTP replayed packet"
    assert isinstance(e.value, RemoteProtocolError)
    rtcp = client.protect_rtcp(RTCP)
    server.unprotect_rtcp(rtcp)
    with pytest.raises(SrtpError, match="^SRTP replayed packet$"):
        server.unprotect_rtcp(rtcp)


def test_too_old_rejected() -> None:
    client, server = _pair()
    first = client.protect(RTP)
    for seq in range(1, 200):
        server.unprotect(client.protect(RTP[:2] + struct.pack("!H", 0xF17B + seq) + RTP[4:]))
    with pytest.raises(SrtpError, match="^SRTP packet too old for the replay window$"):
        server.unprotect(first)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_tampered_rejected(profile: str) -> None:
    client, server = _pair(profile)
    pkt = bytearray(client.protect(RTP))
    pkt[20] ^= 1
    with pytest.raises(SrtpError, match="^SRTP authentication failed$"):
        server.unprotect(bytes(pkt))
    rtcp = bytearray(client.protect_rtcp(RTCP))
    rtcp[10] ^= 1
    with pytest.raises(SrtpError, match="^SRTP authentication failed$"):
        server.unprotect_rtcp(bytes(rtcp))


def test_wrong_direction_rejected() -> None:
    client, _ = _pair()
    with pytest.raises(SrtpError, match="^SRTP authentication failed$"):
        client.unprotect(client.protect(RTP))


def test_malformed_and_oversize() -> None:
    client, server = _pair()
    with pytest.raises(SrtpError, match="^SRTP malformed packet$"):
        client.protect(b"\x80\x00")
    with pytest.raises(SrtpError, match="^SRTP packet too long$"):
        client.protect(RTP[:12] + bytes(1500))
    with pytest.raises(SrtpError, match="^SRTP packet too long$"):
        server.unprotect(RTP[:12] + bytes(1500))


@given(st.binary(max_size=200))
def test_unprotect_garbage_only_raises_srtp_error(data: bytes) -> None:
    _, server = _pair()
    for fn in (server.unprotect, server.unprotect_rtcp):
        try:
            fn(data)
        except SrtpError:
            pass


def test_results_do_not_alias_the_working_buffers() -> None:
    """Each direction reuses one buffer: what a call returned must not change with the next call."""
    client, server = _pair()
    first = client.protect(RTP)
    second = client.protect(RTP[:2] + struct.pack("!H", 0xF17C) + RTP[4:])
    assert first != second
    assert server.unprotect(first) == RTP
    plain = server.unprotect(second)
    assert server.unprotect(client.protect(RTP[:2] + struct.pack("!H", 0xF17D) + RTP[4:]))[2:4] == b"\xf1\x7d"
    assert plain[2:4] == b"\xf1\x7c"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_buffer_in(kind: type) -> None:
    client, server = _pair()
    srtp = client.protect(kind(RTP))
    assert type(srtp) is bytes
    assert server.unprotect(kind(srtp)) == RTP
    srtcp = client.protect_rtcp(kind(RTCP))
    assert server.unprotect_rtcp(kind(srtcp)) == RTCP
