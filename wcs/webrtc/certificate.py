"""Self-signed DTLS certificate and SDP fingerprints (RFC 8122 §5, RFC 8827 §6.5).

WebRTC authenticates DTLS peers by the hash of their certificate signalled in SDP
(``a=fingerprint:sha-256 AB:CD:…``), not by a CA, so each endpoint uses a self-signed
certificate.  Ours is ECDSA P-256 (what browsers use; small enough to keep handshake
flights under the MTU), signed with SHA-256.

Nothing here reads a clock or a global random source: the validity period starts at
the ``not_before`` the caller passes, and the private key, serial number and common
name come from the injected :class:`~wcs.entropy.Entropy`.  ECDSA signatures use
RFC 6979 deterministic nonces, so a :class:`~wcs.entropy.SeededEntropy` yields the same
certificate (and fingerprint) every time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wcs.entropy import Entropy, SystemEntropy, random_token, random_uint
from wcs.webrtc.errors import FingerprintError, WebRtcUsageError

__all__ = ["Certificate", "HASH_ALGORITHMS", "digest", "format_fingerprint", "parse_fingerprint"]

#: RFC 8122 §5 hash function names → ``cryptography`` hashes, weakest first (MD5/MD2 are
#: excluded: implementations MUST NOT use them).
HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha-1": hashes.SHA1,
    "sha-224": hashes.SHA224,
    "sha-256": hashes.SHA256,
    "sha-384": hashes.SHA384,
    "sha-512": hashes.SHA512,
}

# Order of the P-256 group (SEC 2 §2.4.2); private scalars are drawn from [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_FINGERPRINT_RE = re.compile(r"([0-9A-Fa-f]{2})(?::[0-9A-Fa-f]{2})*")


def digest(der: bytes, algorithm: str) -> bytes:
    """The ``algorithm`` hash (RFC 8122 name) of a DER certificate."""
    hash_type = HASH_ALGORITHMS.get(algorithm.lower())
    if hash_type is None:
        raise WebRtcUsageError(f"unsupported fingerprint hash {algorithm!r}")
    h = hashes.Hash(hash_type())
    h.update(der)
    return h.finalize()


def format_fingerprint(value: bytes) -> str:
    """Upper-case hex bytes separated by colons (RFC 8122 §5 ``fingerprint``)."""
    return ":".join(f"{b:02X}" for b in value)


def parse_fingerprint(value: str) -> tuple[str, bytes]:
    """Parse an ``a=fingerprint`` value ``"<hash-func> <AB:CD:…>"`` (RFC 8122 §5).

    Returns the lower-cased hash name and the digest bytes.  Lower-case hex is
    tolerated (some stacks send it).  Raises :class:`FingerprintError` for unknown or
    forbidden hash functions and malformed or wrong-length digests.
    """
    parts = value.strip().split()
    if len(parts) != 2:
        raise FingerprintError("fingerprint is not '<hash-func> <hex>'")
    algorithm, hex_value = parts[0].lower(), parts[1]
    hash_type = HASH_ALGORITHMS.get(algorithm)
    if hash_type is None:
        raise FingerprintError(f"unsupported fingerprint hash function {parts[0]!r}")
    if not _FINGERPRINT_RE.fullmatch(hex_value):
        raise FingerprintError("fingerprint is not colon-separated hex bytes")
    raw = bytes.fromhex(hex_value.replace(":", ""))
    size = hash_type().digest_size
    if len(raw) != size:
        raise FingerprintError(f"{algorithm} fingerprint has {len(raw)} bytes, expected {size}")
    return algorithm, raw


class Certificate:
    """A certificate and its private key, ready for :class:`~wcs.webrtc.dtls.DtlsSession`."""

    __slots__ = ("x509", "private_key", "_der")

    def __init__(self, certificate: x509.Certificate, private_key: ec.EllipticCurvePrivateKey) -> None:
        self.x509 = certificate
        self.private_key = private_key
        self._der = certificate.public_bytes(serialization.Encoding.DER)

    @classmethod
    def generate(cls, not_before: datetime, *, entropy: Entropy | None = None,
                 lifetime: timedelta = timedelta(days=30)) -> Certificate:
        """A fresh self-signed ECDSA P-256 certificate valid from ``not_before`` for ``lifetime``.

        ``not_before`` must be timezone-aware; pass a little in the past to tolerate
        clock skew at the peer.
        """
        if not_before.tzinfo is None:
            raise WebRtcUsageError("not_before must be timezone-aware")
        entropy = entropy or SystemEntropy()
        # 64 extra bits make the modulo bias negligible (FIPS 186-5 A.2.1 style)
        scalar = int.from_bytes(entropy.token_bytes(40), "big") % (_P256_ORDER - 1) + 1
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, random_token(entropy, 16))])
        serial = random_uint(entropy, 63) | 1  # positive, non-zero (RFC 5280 §4.1.2.2)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_before + lifetime)
        )
        certificate = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
        return cls(certificate, key)

    @classmethod
    def from_pem(cls, certificate_pem: bytes, private_key_pem: bytes) -> Certificate:
        """Load a certificate and its (unencrypted) EC private key."""
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise WebRtcUsageError("only EC private keys are supported")
        return cls(x509.load_pem_x509_certificate(certificate_pem), key)

    @property
    def der(self) -> bytes:
        return self._der

    def certificate_pem(self) -> bytes:
        return self.x509.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def fingerprint(self, algorithm: str = "sha-256") -> str:
        """``"AB:CD:…"``: the certificate's hash, upper-case hex with colons."""
        return format_fingerprint(digest(self._der, algorithm))

    def fingerprint_attribute(self, algorithm: str = "sha-256") -> str:
        """The ``a=fingerprint`` value: ``"sha-256 AB:CD:…"``."""
        return f"{algorithm} {self.fingerprint(algorithm)}"
