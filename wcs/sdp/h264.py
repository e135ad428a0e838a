"""H.264 fmtp rules (RFC 6184 §8.1 profile-level-id, §8.2.2 offer/answer).

``profile-level-id`` is three bytes in hex: profile_idc, profile-iop (the
constraint_set flags) and level_idc.  Several (profile_idc, profile-iop) pairs
name the same sub-profile (RFC 6184 Table 5), so configurations are compared by
sub-profile, not by string.  The configuration of a format is its sub-profile plus
``packetization-mode`` (default 0); both must be used symmetrically, while the
level may differ (§8.2.2): without ``level-asymmetry-allowed=1`` on both sides the
common level is the lower one, with it each side keeps its own receive level.
Absent ``profile-level-id`` means Baseline at level 1 (``42000a``).
"""

from __future__ import annotations

from wcs.sdp.model import parse_fmtp

DEFAULT_PROFILE_LEVEL_ID = "42000a"

# RFC 6184 Table 5 (+ Constrained High, H.264 (2012) A.2.4.2): profile_idc and a
# profile-iop bit pattern (x = either) → sub-profile name.  First match wins.
_TABLE: tuple[tuple[int, str, str], ...] = (
    (0x42, "x1xx0000", "constrained-baseline"),
    (0x4D, "1xxx0000", "constrained-baseline"),
    (0x58, "11xx0000", "constrained-baseline"),
    (0x42, "x0xx0000", "baseline"),
    (0x58, "10xx0000", "baseline"),
    (0x4D, "0x0x0000", "main"),
    (0x58, "00xx0000", "extended"),
    (0x64, "00000000", "high"),
    (0x64, "00001100", "constrained-high"),
    (0x6E, "00000000", "high-10"),
    (0x7A, "00000000", "high-422"),
    (0xF4, "00000000", "high-444"),
    (0x6E, "00010000", "high-10-intra"),
    (0x7A, "00010000", "high-422-intra"),
    (0xF4, "00010000", "high-444-intra"),
    (0x2C, "00010000", "cavlc-444-intra"),
)

PROFILE_NAMES = frozenset(name for _, _, name in _TABLE)


def _fits(iop: int, pattern: str) -> bool:
    for bit, want in enumerate(pattern):
        if want != "x" and ((iop >> (7 - bit)) & 1) != int(want):
            return False
    return True


def split_profile_level_id(value: str) -> tuple[int, int, int] | None:
    """``"42e01f"`` → (0x42, 0xe0, 0x1f); None if not six hex digits."""
    if len(value) != 6 or not all(c in "0123456789abcdefABCDEF" for c in value):
        return None
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def h264_profile(profile_level_id: str) -> str | None:
    """Sub-profile name of a profile-level-id (RFC 6184 Table 5), None if unknown."""
    parts = split_profile_level_id(profile_level_id)
    if parts is None:
        return None
    idc, iop, _ = parts
    for table_idc, pattern, name in _TABLE:
        if idc == table_idc and _fits(iop, pattern):
            return name
    return None


def profile_level_id(fmtp: str) -> str:
    """The profile-level-id of an fmtp (default ``42000a``), lower case."""
    return parse_fmtp(fmtp).get("profile-level-id", DEFAULT_PROFILE_LEVEL_ID).lower()


def packetization_mode(fmtp: str) -> str:
    """The packetization-mode of an fmtp ("0" when absent)."""
    return parse_fmtp(fmtp).get("packetization-mode", "0")


def h264_same_configuration(fmtp_a: str, fmtp_b: str) -> bool:
    """Same sub-profile and packetization-mode (levels may differ)."""
    if packetization_mode(fmtp_a) != packetization_mode(fmtp_b):
        return False
    pli_a, pli_b = profile_level_id(fmtp_a), profile_level_id(fmtp_b)
    prof_a, prof_b = h264_profile(pli_a), h264_profile(pli_b)
    if prof_a is None or prof_b is None:
        return pli_a[:4] == pli_b[:4] and split_profile_level_id(pli_a) is not None
    return prof_a == prof_b


def level_rank(pli: str) -> float:
    """An orderable level: level_idc/10, with Level 1b (§8.1) between 1.0 and 1.1."""
    parts = split_profile_level_id(pli)
    if parts is None:
        return 1.0
    idc, iop, level = parts
    if (idc in (0x42, 0x4D, 0x58) and level == 11 and iop & 0x10) or level == 9:
        return 1.05
    return level / 10


def h264_answer_fmtp(offer_fmtp: str, local_fmtp: str) -> str:
    """The fmtp an answerer puts on an H.264 format (RFC 6184 §8.2.2).

    ``offer_fmtp`` is the offered configuration, ``local_fmtp`` what the answerer
    supports for the same configuration.  The profile and packetization-mode of
    the offer are kept; the level is the answerer's own when both allow level
    asymmetry, else the lower of the two.  The answerer's other parameters stay.
    """
    offer, local = parse_fmtp(offer_fmtp), parse_fmtp(local_fmtp)
    offer_pli = offer.get("profile-level-id", DEFAULT_PROFILE_LEVEL_ID).lower()
    local_pli = local.get("profile-level-id", offer_pli).lower()
    asymmetric = offer.get("level-asymmetry-allowed") == "1" and local.get("level-asymmetry-allowed") == "1"
    level_from = local_pli if asymmetric or level_rank(local_pli) < level_rank(offer_pli) else offer_pli
    pli = offer_pli[:4] + level_from[4:6] if split_profile_level_id(level_from) else offer_pli
    if level_rank(level_from) == 1.05 and split_profile_level_id(pli):
        pli = _with_level_1b(pli, level_from)
    out = []
    if asymmetric:
        out.append("level-asymmetry-allowed=1")
    out.append(f"packetization-mode={offer.get('packetization-mode', '0')}")
    out.append(f"profile-level-id={pli}")
    skip = {"level-asymmetry-allowed", "packetization-mode", "profile-level-id"}
    for item in local_fmtp.split(";"):
        key = item.strip().partition("=")[0].strip().lower()
        if key and key not in skip:
            out.append(item.strip())
    return ";".join(out)


def _with_level_1b(pli: str, level_from: str) -> str:
    """Carry Level 1b over: constraint_set3 with level 11 for 42/4D/58, else level 9."""
    parts = split_profile_level_id(pli)
    src = split_profile_level_id(level_from)
    if parts is None or src is None:
        return pli
    idc, iop, _ = parts
    if idc in (0x42, 0x4D, 0x58):
        return f"{idc:02x}{iop | 0x10:02x}0b"
    return f"{idc:02x}{iop:02x}09"
