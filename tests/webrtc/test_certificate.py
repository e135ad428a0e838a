"""Self-signed certificate generation and RFC 8122 fingerprints."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from wcs.entropy import SeededEntropy
from wcs.webrtc.certificate import Certificate, format_fingerprint, parse_fingerprint
from wcs.webrtc.errors import FingerprintError, WebRtcUsageError

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)


def test_generate_is_self_signed_p256() -> None:
    cert = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(7))
    x = cert.x509
    assert isinstance(cert.private_key.curve, ec.SECP256R1)
    assert x.issuer == x.subject
    assert x.not_valid_before_utc == NOT_BEFORE
    assert x.not_valid_after_utc == NOT_BEFORE + timedelta(days=30)
    assert x.serial_number > 0
    assert isinstance(x.signature_hash_algorithm, hashes.SHA256)
    public = x.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(x.signature, x.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))


def test_seeded_entropy_is_reproducible() -> None:
    a = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(1))
    b = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(1))
    c = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(2))
    assert a.der == b.der
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.x509.subject != c.x509.subject and a.x509.serial_number != c.x509.serial_number


def test_fingerprint_format() -> None:
    cert = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(3))
    fp = cert.fingerprint("sha-256")
    assert fp == ":".join(f"{b:02X}" for b in hashlib.sha256(cert.der).digest())
    assert len(fp) == 32 * 3 - 1 and fp.upper() == fp
    assert cert.fingerprint_attribute() == "sha-256 " + fp
    assert parse_fingerprint(cert.fingerprint_attribute()) == ("sha-256", hashlib.sha256(cert.der).digest())
    assert parse_fingerprint("sha-1 " + cert.fingerprint("sha-1"))[1] == hashlib.sha1(cert.der).digest()
    assert parse_fingerprint("SHA-512 " + cert.fingerprint("sha-512").lower())[0] == "sha-512"
    with pytest.raises(WebRtcUsageError, match="unsupported fingerprint hash 'md5'"):
        cert.fingerprint("md5")


def test_pem_roundtrip() -> None:
    cert = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(4))
    again = Certificate.from_pem(cert.certificate_pem(), cert.private_key_pem())
    assert again.der == cert.der and again.fingerprint() == cert.fingerprint()
    assert cert.certificate_pem().startswith(b"-----BEGIN CERTIFICATE-----")
    assert cert.private_key_pem().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_naive_not_before_rejected() -> None:
    with pytest.raises(WebRtcUsageError, match="timezone-aware"):
        Certificate.generate(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("sha-256", "fingerprint is not '<hash-func> <hex>'"),
        ("sha-256 AB CD", "fingerprint is not '<hash-func> <hex>'"),
        ("md5 AB:CD", "unsupported fingerprint hash function 'md5'"),
        ("foo AB:CD", "unsupported fingerprint hash function 'foo'"),
        ("sha-256 AB:CD:", "fingerprint is not colon-separated hex bytes"),
        ("sha-256 ABCD", "fingerprint is not colon-separated hex bytes"),
        ("sha-256 AB:CG", "fingerprint is not colon-separated hex bytes"),
        ("sha-256 AB:CD", "sha-256 fingerprint has 2 bytes, expected 32"),
    ],
)
def test_parse_fingerprint_rejections(value: str, reason: str) -> None:
    with pytest.raises(FingerprintError) as info:
        parse_fingerprint(value)
    assert info.value.reason == reason


def test_format_fingerprint() -> None:
    assert format_fingerprint(b"\x00\xab\xff") == "00:AB:FF"


@given(st.text(max_size=120))
def test_parse_fingerprint_total(value: str) -> None:
    try:
        parse_fingerprint(value)
    except FingerprintError:
        pass
