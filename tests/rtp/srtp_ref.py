"""Test-only reference SRTP computations written from the RFC text with `cryptography`.

Used to check libsrtp (through wcs.rtp.srtp) byte for byte: key derivation (RFC 3711
§4.3, RFC 6188 §7 for AES-256), AES-CM + HMAC-SHA1 SRTP/SRTCP (RFC 3711 §4.1.1,
§4.2, §3.4) and AES-GCM SRTP/SRTCP (RFC 7714 §8.1, §9.1).  Never used by wcs itself.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def keystream(key: bytes, iv: bytes, length: int) -> bytes:
    return aes_ctr(key, iv, bytes(length))


def kdf(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    """RFC 3711 §4.3.1 with kdr = 0: x = (label || 0^48) XOR master_salt, PRF = AES-CM(x·2^16).

    A 96-bit (GCM) master salt is left-aligned in the 112-bit field, as libsrtp does.
    """
    salt = master_salt.ljust(14, b"\0")
    x = bytearray(salt)
    x[7] ^= label
    return keystream(master_key, bytes(x) + b"\0\0", length)


def session_keys(master_key: bytes, master_salt: bytes, rtcp: bool, salt_len: int = 14,
                 auth_len: int = 20) -> tuple[bytes, bytes, bytes]:
    """(cipher key, cipher salt, auth key) for SRTP (labels 0,1,2) or SRTCP (3,4,5)."""
    base = 3 if rtcp else 0
    key = kdf(master_key, master_salt, base + 0, len(master_key))
    auth = kdf(master_key, master_salt, base + 1, auth_len) if auth_len else b""
    salt = kdf(master_key, master_salt, base + 2, salt_len)
    return key, salt, auth


def cm_protect(packet: bytes, key: bytes, salt: bytes, auth: bytes, tag_len: int, roc: int = 0,
               header_len: int = 12) -> bytes:
    """RFC 3711 AES-CM + HMAC-SHA1 SRTP (header length given; no extension handling)."""
    seq, = struct.unpack_from("!H", packet, 2)
    ssrc, = struct.unpack_from("!I", packet, 8)
    index = (roc << 16) | seq
    iv = (int.from_bytes(salt, "big") << 16) ^ (ssrc << 64) ^ (index << 16)
    body = aes_ctr(key, iv.to_bytes(16, "big"), packet[header_len:])
    out = packet[:header_len] + body
    tag = hmac.new(auth, out + struct.pack("!I", roc), hashlib.sha1).digest()[:tag_len]
    return out + tag


def cm_protect_rtcp(packet: bytes, key: bytes, salt: bytes, auth: bytes, index: int,
                    tag_len: int = 10) -> bytes:
    """RFC 3711 §3.4 SRTCP with E=1: header(8) || enc || E|index || tag."""
    ssrc, = struct.unpack_from("!I", packet, 4)
    iv = (int.from_bytes(salt, "big") << 16) ^ (ssrc << 64) ^ (index << 16)
    out = packet[:8] + aes_ctr(key, iv.to_bytes(16, "big"), packet[8:])
    out += struct.pack("!I", 0x80000000 | index)
    return out + hmac.new(auth, out, hashlib.sha1).digest()[:tag_len]


def gcm_protect(packet: bytes, key: bytes, salt: bytes, roc: int = 0, header_len: int = 12) -> bytes:
    """RFC 7714 §8.1 IV: (0^16 || SSRC || ROC || SEQ) XOR salt; AAD = header."""
    seq, = struct.unpack_from("!H", packet, 2)
    ssrc, = struct.unpack_from("!I", packet, 8)
    iv = bytes(a ^ b for a, b in zip(struct.pack("!HIIH", 0, ssrc, roc, seq), salt, strict=True))
    return packet[:header_len] + AESGCM(key).encrypt(iv, packet[header_len:], packet[:header_len])


def gcm_protect_rtcp(packet: bytes, key: bytes, salt: bytes, index: int) -> bytes:
    """RFC 7714 §9.1 IV: (0^16 || SSRC || 0^16 || 0 || index31) XOR salt; AAD = header || E|index."""
    ssrc, = struct.unpack_from("!I", packet, 4)
    iv = bytes(a ^ b for a, b in zip(struct.pack("!HIHI", 0, ssrc, 0, index), salt, strict=True))
    trailer = struct.pack("!I", 0x80000000 | index)
    body = AESGCM(key).encrypt(iv, packet[8:], packet[:8] + trailer)
    return packet[:8] + body + trailer
