"""STUN messages (RFC 5389) with the ICE attributes of RFC 8445 §16.1.

A :class:`StunMessage` is a method, a class, a 96-bit transaction id and an ordered
list of ``(type, value)`` attributes.  :func:`parse_message` validates a datagram
completely (header §6, attribute TLVs §15, the value of every attribute this module
knows, FINGERPRINT §15.5) and raises :class:`~wcs.webrtc.errors.StunError` naming the
defect, never anything else.  MESSAGE-INTEGRITY and FINGERPRINT are not kept in
``attributes``: they are produced by :meth:`StunMessage.encode` and checked by
:meth:`StunMessage.check_integrity` (the parser verifies FINGERPRINT itself).

Rules worth remembering:

* MESSAGE-INTEGRITY is HMAC-SHA1 over the message up to the attribute before it, with
  the header length field adjusted to end just after MESSAGE-INTEGRITY (§15.4).
  Attributes after it, other than FINGERPRINT, are ignored (and dropped here).
* FINGERPRINT is CRC-32 (ITU V.42, zlib's) of the message up to it, with the length
  field covering it, XOR 0x5354554e; it must be the last attribute (§15.5).
* Short-term credentials (ICE) use the password as the HMAC key (§15.4, SASLprep is the
  identity on ICE's ``ice-char`` alphabet).  :func:`long_term_key` builds the long-term
  key from an already SASLprep-ed password (SASLprep itself is not implemented).
* Attribute types 0x0000–0x7fff are comprehension-required: a server answers 420 with
  UNKNOWN-ATTRIBUTES for those it does not know (§7.3.1); see
  :meth:`StunMessage.unknown_required`.  Unknown comprehension-optional attributes
  are kept and re-serialized.
* Padding bytes are ignored on input; :meth:`StunMessage.encode` writes ``padding``
  (0 by default; RFC 5769 vectors pad with spaces).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
import zlib
from dataclasses import dataclass, field
from typing import Final

from wcs.entropy import Entropy
from wcs.webrtc.errors import StunError, WebRtcUsageError

__all__ = [
    "BINDING", "REQUEST", "INDICATION", "SUCCESS_RESPONSE", "ERROR_RESPONSE", "MAGIC_COOKIE",
    "MAPPED_ADDRESS", "USERNAME", "MESSAGE_INTEGRITY", "ERROR_CODE", "UNKNOWN_ATTRIBUTES",
    "REALM", "NONCE", "XOR_MAPPED_ADDRESS", "PRIORITY", "USE_CANDIDATE", "SOFTWARE",
    "ALTERNATE_SERVER", "FINGERPRINT", "ICE_CONTROLLED", "ICE_CONTROLLING",
    "StunMessage", "parse_message", "is_stun", "long_term_key", "new_transaction_id",
]

MAGIC_COOKIE: Final = 0x2112A442
_COOKIE_BYTES: Final = MAGIC_COOKIE.to_bytes(4, "big")
_FINGERPRINT_XOR: Final = 0x5354554E
HEADER_LENGTH: Final = 20

# Methods and classes (§6, §18.1)
BINDING: Final = 0x001
REQUEST: Final = 0b00
INDICATION: Final = 0b01
SUCCESS_RESPONSE: Final = 0b10
ERROR_RESPONSE: Final = 0b11

# Attributes (RFC 5389 §18.2, RFC 8445 §16.1)
MAPPED_ADDRESS: Final = 0x0001
USERNAME: Final = 0x0006
MESSAGE_INTEGRITY: Final = 0x0008
ERROR_CODE: Final = 0x0009
UNKNOWN_ATTRIBUTES: Final = 0x000A
REALM: Final = 0x0014
NONCE: Final = 0x0015
XOR_MAPPED_ADDRESS: Final = 0x0020
PRIORITY: Final = 0x0024
USE_CANDIDATE: Final = 0x0025
SOFTWARE: Final = 0x8022
ALTERNATE_SERVER: Final = 0x8023
FINGERPRINT: Final = 0x8028
ICE_CONTROLLED: Final = 0x8029
ICE_CONTROLLING: Final = 0x802A

#: Comprehension-required attribute types this module understands.
KNOWN_REQUIRED: Final = frozenset(
    {MAPPED_ADDRESS, USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, UNKNOWN_ATTRIBUTES, REALM, NONCE,
     XOR_MAPPED_ADDRESS, PRIORITY, USE_CANDIDATE}
)

_NAMES: Final = {
    MAPPED_ADDRESS: "MAPPED-ADDRESS", USERNAME: "USERNAME", MESSAGE_INTEGRITY: "MESSAGE-INTEGRITY",
    ERROR_CODE: "ERROR-CODE", UNKNOWN_ATTRIBUTES: "UNKNOWN-ATTRIBUTES", REALM: "REALM",
    NONCE: "NONCE", XOR_MAPPED_ADDRESS: "XOR-MAPPED-ADDRESS", PRIORITY: "PRIORITY",
    USE_CANDIDATE: "USE-CANDIDATE", SOFTWARE: "SOFTWARE", ALTERNATE_SERVER: "ALTERNATE-SERVER",
    FINGERPRINT: "FINGERPRINT", ICE_CONTROLLED: "ICE-CONTROLLED", ICE_CONTROLLING: "ICE-CONTROLLING",
}
_FIXED_LENGTH: Final = {MESSAGE_INTEGRITY: 20, FINGERPRINT: 4, PRIORITY: 4, USE_CANDIDATE: 0,
                        ICE_CONTROLLED: 8, ICE_CONTROLLING: 8}
# UTF-8 text attributes and their maximum length in bytes (§15.3, §15.7, §15.8, §15.10)
_TEXT_LIMIT: Final = {USERNAME: 512, REALM: 763, NONCE: 763, SOFTWARE: 763}
_ADDRESS_TYPES: Final = frozenset({MAPPED_ADDRESS, XOR_MAPPED_ADDRESS, ALTERNATE_SERVER})

_HEADER: Final = struct.Struct("!HHI12s")
_ATTR: Final = struct.Struct("!HH")


def _encode_type(method: int, message_class: int) -> int:
    # §6 Figure 3: M11..M7 C1 M6..M4 C0 M3..M0
    return ((method & 0x0F80) << 2) | ((method & 0x0070) << 1) | (method & 0x000F) \
        | ((message_class & 0b10) << 7) | ((message_class & 0b01) << 4)


def _decode_type(message_type: int) -> tuple[int, int]:
    method = ((message_type >> 2) & 0x0F80) | ((message_type >> 1) & 0x0070) | (message_type & 0x000F)
    message_class = ((message_type >> 7) & 0b10) | ((message_type >> 4) & 0b01)
    return method, message_class


def _attr_name(attr_type: int) -> str:
    return _NAMES.get(attr_type, f"attribute 0x{attr_type:04x}")


def new_transaction_id(entropy: Entropy) -> bytes:
    """A fresh 96-bit transaction id (§6: uniformly random)."""
    return entropy.token_bytes(12)


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """Long-term credential key MD5(username ":" realm ":" password) (§15.4).

    ``password`` must already be SASLprep-ed; this module does not implement SASLprep.
    """
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


def is_stun(data: bytes) -> bool:
    """Cheap test: top two bits zero, magic cookie, length consistent (§6, §8)."""
    return (
        len(data) >= HEADER_LENGTH
        and data[0] < 4
        and data[4:8] == _COOKIE_BYTES
        and len(data) == HEADER_LENGTH + int.from_bytes(data[2:4], "big")
    )


@dataclass(eq=False)
class StunMessage:
    """One STUN message; build it, add attributes, then :meth:`encode` it.

    After :func:`parse_message`, ``integrity`` holds the received MESSAGE-INTEGRITY
    value (or ``None``) and ``has_fingerprint`` tells whether a (valid) FINGERPRINT
    was present.
    """

    method: int
    message_class: int
    transaction_id: bytes
    attributes: list[tuple[int, bytes]] = field(default_factory=list)
    integrity: bytes | None = None
    has_fingerprint: bool = False
    _signed: bytes = field(default=b"", repr=False)  # bytes covered by MESSAGE-INTEGRITY

    # -- generic access ---------------------------------------------------------------

    def get(self, attr_type: int) -> bytes | None:
        """The value of the first attribute of ``attr_type`` (§15: duplicates MAY be ignored)."""
        for t, v in self.attributes:
            if t == attr_type:
                return v
        return None

    def __contains__(self, attr_type: object) -> bool:
        return any(t == attr_type for t, _ in self.attributes)

    def add(self, attr_type: int, value: bytes) -> StunMessage:
        """Append a raw attribute; returns ``self`` so calls can be chained."""
        if attr_type in (MESSAGE_INTEGRITY, FINGERPRINT):
            raise WebRtcUsageError(f"{_attr_name(attr_type)} is added by encode()")
        if not 0 <= attr_type <= 0xFFFF or len(value) > 0xFFFF:
            raise WebRtcUsageError("attribute type or value out of range")
        self.attributes.append((attr_type, bytes(value)))
        return self

    def unknown_required(self) -> list[int]:
        """Comprehension-required attribute types not understood here (answer 420, §7.3.1)."""
        return [t for t, _ in self.attributes if t < 0x8000 and t not in KNOWN_REQUIRED]

    # -- typed accessors (values were validated by the parser) --------------------------

    def _text(self, attr_type: int) -> str | None:
        value = self.get(attr_type)
        return None if value is None else value.decode("utf-8", "replace")

    @property
    def username(self) -> str | None:
        return self._text(USERNAME)

    @property
    def software(self) -> str | None:
        return self._text(SOFTWARE)

    @property
    def realm(self) -> str | None:
        return self._text(REALM)

    @property
    def nonce(self) -> str | None:
        return self._text(NONCE)

    @property
    def priority(self) -> int | None:
        value = self.get(PRIORITY)
        return None if value is None or len(value) != 4 else int.from_bytes(value, "big")

    @property
    def use_candidate(self) -> bool:
        return USE_CANDIDATE in self

    @property
    def ice_controlling(self) -> int | None:
        """The ICE-CONTROLLING tiebreaker, if present."""
        value = self.get(ICE_CONTROLLING)
        return None if value is None or len(value) != 8 else int.from_bytes(value, "big")

    @property
    def ice_controlled(self) -> int | None:
        """The ICE-CONTROLLED tiebreaker, if present."""
        value = self.get(ICE_CONTROLLED)
        return None if value is None or len(value) != 8 else int.from_bytes(value, "big")

    @property
    def xor_mapped_address(self) -> tuple[str, int] | None:
        value = self.get(XOR_MAPPED_ADDRESS)
        return None if value is None else _decode_address(value, self.transaction_id, xor=True)

    @property
    def mapped_address(self) -> tuple[str, int] | None:
        value = self.get(MAPPED_ADDRESS)
        return None if value is None else _decode_address(value, self.transaction_id, xor=False)

    @property
    def error_code(self) -> tuple[int, str] | None:
        """``(code, reason phrase)`` from ERROR-CODE (§15.6)."""
        value = self.get(ERROR_CODE)
        if value is None or len(value) < 4:
            return None
        code = (value[2] & 0x07) * 100 + value[3]
        return code, value[4:].decode("utf-8", "replace")

    @property
    def unknown_attributes(self) -> list[int]:
        value = self.get(UNKNOWN_ATTRIBUTES) or b""
        return [int.from_bytes(value[i:i + 2], "big") for i in range(0, len(value) - 1, 2)]

    # -- typed builders -------------------------------------------------------------------

    def add_text(self, attr_type: int, text: str) -> StunMessage:
        return self.add(attr_type, text.encode())

    def add_uint32(self, attr_type: int, value: int) -> StunMessage:
        return self.add(attr_type, value.to_bytes(4, "big"))

    def add_uint64(self, attr_type: int, value: int) -> StunMessage:
        return self.add(attr_type, value.to_bytes(8, "big"))

    def add_xor_mapped_address(self, address: tuple[str, int]) -> StunMessage:
        return self.add(XOR_MAPPED_ADDRESS, _encode_address(address, self.transaction_id, xor=True))

    def add_error_code(self, code: int, reason: str) -> StunMessage:
        if not 300 <= code <= 699:
            raise WebRtcUsageError(f"STUN error code {code} out of range 300-699")
        return self.add(ERROR_CODE, bytes((0, 0, code // 100, code % 100)) + reason.encode())

    def add_unknown_attributes(self, types: list[int]) -> StunMessage:
        return self.add(UNKNOWN_ATTRIBUTES, b"".join(t.to_bytes(2, "big") for t in types))

    # -- integrity and encoding -----------------------------------------------------------

    def check_integrity(self, key: bytes) -> bool:
        """True when the received MESSAGE-INTEGRITY matches HMAC-SHA1 with ``key`` (§15.4)."""
        if self.integrity is None:
            return False
        return hmac.compare_digest(hmac.digest(key, self._signed, "sha1"), self.integrity)

    def encode(self, integrity_key: bytes | None = None, fingerprint: bool = False,
               padding: int = 0) -> bytes:
        """Serialize; append MESSAGE-INTEGRITY (keyed) and FINGERPRINT when asked."""
        if len(self.transaction_id) != 12:
            raise WebRtcUsageError("STUN transaction id must be 12 bytes")
        pad_byte = bytes((padding,))
        body = bytearray()
        for attr_type, value in self.attributes:
            body += _ATTR.pack(attr_type, len(value))
            body += value
            body += pad_byte * (-len(value) % 4)
        message_type = _encode_type(self.method, self.message_class)
        if integrity_key is not None:
            header = _HEADER.pack(message_type, len(body) + 24, MAGIC_COOKIE, self.transaction_id)
            body += _ATTR.pack(MESSAGE_INTEGRITY, 20)
            body += hmac.digest(integrity_key, header + body[:-4], "sha1")
        if fingerprint:
            header = _HEADER.pack(message_type, len(body) + 8, MAGIC_COOKIE, self.transaction_id)
            crc = zlib.crc32(body, zlib.crc32(header)) ^ _FINGERPRINT_XOR
            body += _ATTR.pack(FINGERPRINT, 4)
            body += crc.to_bytes(4, "big")
        return _HEADER.pack(message_type, len(body), MAGIC_COOKIE, self.transaction_id) + body

    def __bytes__(self) -> bytes:
        return self.encode()

    def response(self, message_class: int = SUCCESS_RESPONSE) -> StunMessage:
        """An empty response to this request: same method and transaction id (§7.3.1.1)."""
        return StunMessage(self.method, message_class, self.transaction_id)


def parse_message(data: bytes) -> StunMessage:
    """Parse and validate one STUN datagram; raises :class:`StunError` naming the defect."""
    n = len(data)
    if n < HEADER_LENGTH:
        raise StunError("STUN message shorter than its 20-byte header")
    message_type, length, cookie, transaction_id = _HEADER.unpack_from(data)
    if message_type & 0xC000:
        raise StunError("STUN message type has its top two bits set")
    if cookie != MAGIC_COOKIE:
        raise StunError("STUN magic cookie missing")
    if length & 3:
        raise StunError("STUN message length is not a multiple of 4")
    if HEADER_LENGTH + length != n:
        raise StunError(
            f"STUN message length {length} does not match the {n - HEADER_LENGTH} bytes after the header"
        )
    method, message_class = _decode_type(message_type)
    message = StunMessage(method, message_class, transaction_id)
    attributes = message.attributes
    offset = HEADER_LENGTH
    after_integrity = False
    # offset and n are multiples of 4 here, so an attribute header always fits
    while offset < n:
        attr_type, attr_length = _ATTR.unpack_from(data, offset)
        start = offset + 4
        end = start + attr_length
        if end > n:
            raise StunError(f"truncated STUN {_attr_name(attr_type)}")
        value = bytes(data[start:end])
        next_offset = end + (-attr_length % 4)
        if attr_type == FINGERPRINT:
            _check_length(attr_type, attr_length)
            if next_offset != n:
                raise StunError("FINGERPRINT is not the last STUN attribute")
            header = _HEADER.pack(message_type, offset + 8 - HEADER_LENGTH, MAGIC_COOKIE, transaction_id)
            crc = zlib.crc32(memoryview(data)[HEADER_LENGTH:offset], zlib.crc32(header)) ^ _FINGERPRINT_XOR
            if crc != int.from_bytes(value, "big"):
                raise StunError("STUN FINGERPRINT mismatch")
            message.has_fingerprint = True
        elif after_integrity:
            pass  # §15.4: attributes after MESSAGE-INTEGRITY (but FINGERPRINT) are ignored
        elif attr_type == MESSAGE_INTEGRITY:
            _check_length(attr_type, attr_length)
            message.integrity = value
            header = _HEADER.pack(message_type, end - HEADER_LENGTH, MAGIC_COOKIE, transaction_id)
            message._signed = header + bytes(data[HEADER_LENGTH:offset])
            after_integrity = True
        else:
            _validate(attr_type, value, transaction_id)
            attributes.append((attr_type, value))
        offset = next_offset
    return message


def _check_length(attr_type: int, length: int) -> None:
    expected = _FIXED_LENGTH[attr_type]
    if length != expected:
        raise StunError(f"STUN {_attr_name(attr_type)} has length {length}, expected {expected}")


def _validate(attr_type: int, value: bytes, transaction_id: bytes) -> None:
    if attr_type in _FIXED_LENGTH:
        _check_length(attr_type, len(value))
    elif attr_type in _TEXT_LIMIT:
        if len(value) > _TEXT_LIMIT[attr_type]:
            raise StunError(f"STUN {_attr_name(attr_type)} longer than {_TEXT_LIMIT[attr_type]} bytes")
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise StunError(f"STUN {_attr_name(attr_type)} is not UTF-8") from None
    elif attr_type in _ADDRESS_TYPES:
        _decode_address(value, transaction_id, xor=attr_type == XOR_MAPPED_ADDRESS, name=attr_type)
    elif attr_type == ERROR_CODE:
        if len(value) < 4:
            raise StunError("STUN ERROR-CODE shorter than 4 bytes")
        if not 3 <= (value[2] & 0x07) <= 6 or value[3] > 99:
            raise StunError("STUN ERROR-CODE outside 300-699")
        if len(value) > 4 + 763:
            raise StunError("STUN ERROR-CODE reason longer than 763 bytes")
        try:
            value[4:].decode("utf-8")
        except UnicodeDecodeError:
            raise StunError("STUN ERROR-CODE reason is not UTF-8") from None
    elif attr_type == UNKNOWN_ATTRIBUTES and len(value) % 2:
        raise StunError("STUN UNKNOWN-ATTRIBUTES has an odd length")


def _decode_address(value: bytes, transaction_id: bytes, *, xor: bool,
                    name: int = XOR_MAPPED_ADDRESS) -> tuple[str, int]:
    if len(value) < 4:
        raise StunError(f"STUN {_attr_name(name)} shorter than 4 bytes")
    family = value[1]
    port = int.from_bytes(value[2:4], "big")
    raw = value[4:]
    if family == 0x01:
        if len(raw) != 4:
            raise StunError(f"STUN {_attr_name(name)} IPv4 address is not 4 bytes")
        number = int.from_bytes(raw, "big")
        if xor:
            port ^= MAGIC_COOKIE >> 16
            number ^= MAGIC_COOKIE
        return str(ipaddress.IPv4Address(number)), port
    if family == 0x02:
        if len(raw) != 16:
            raise StunError(f"STUN {_attr_name(name)} IPv6 address is not 16 bytes")
        number = int.from_bytes(raw, "big")
        if xor:
            port ^= MAGIC_COOKIE >> 16
            number ^= int.from_bytes(_COOKIE_BYTES + transaction_id, "big")
        return str(ipaddress.IPv6Address(number)), port
    raise StunError(f"STUN {_attr_name(name)} has unknown address family {family}")


def _encode_address(address: tuple[str, int], transaction_id: bytes, *, xor: bool) -> bytes:
    host, port = address[0], address[1]
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        raise WebRtcUsageError(f"not an IP address: {host!r}") from None
    if not 0 <= port <= 0xFFFF:
        raise WebRtcUsageError(f"port out of range: {port}")
    number = int(ip)
    if xor:
        port ^= MAGIC_COOKIE >> 16
        mask = MAGIC_COOKIE if ip.version == 4 else int.from_bytes(_COOKIE_BYTES + transaction_id, "big")
        number ^= mask
    size = 4 if ip.version == 4 else 16
    return bytes((0, 1 if ip.version == 4 else 2)) + port.to_bytes(2, "big") + number.to_bytes(size, "big")
