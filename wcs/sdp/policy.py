"""Which codecs may cross to the SIP side: :class:`CodecPolicy`.

Codec names follow the WCS settings vocabulary (``opus, alaw, ulaw, g729,
speex16, g722, mpeg4-generic, telephone-event, h264, vp8, flv, mpv``) and also
accept SDP encoding names (``PCMU``, ``G722``, ``iLBC`` …, case-insensitive).

* ``codecs`` — the enabled codecs; with ``keep_remote_order=False`` its order is
  the preference order of the SDP we write, otherwise the peer's order is kept
  (so that the relay maps payload types one to one).
* ``exclude_sip`` — never offered to nor accepted from SIP.
* ``allow_outside_codecs`` — accept codecs a SIP peer offers that ``codecs``
  does not name (they are passed on to the browser, which drops what it cannot
  decode).  It never applies to what we offer to SIP.
* ``h264_profiles`` — H.264 sub-profiles allowed (names such as
  ``constrained-baseline`` or profile-level-ids such as ``42e01f``); empty = any.
* ``h264_packetization_mode_1_only`` — offer only packetization-mode=1 H.264 to SIP
  (WCS ``proxy_use_h264_packetization_mode_1_only``).
* ``transcoding`` — the relay may transcode audio when the two sides share no codec
  (:mod:`wcs.sdp.transcoding`); ``transcodable`` lists the ``(encoding, clock rate)`` pairs the
  media engine can both decode and encode here (the gateway fills it from its codec registry,
  so a codec whose library is missing is never offered).  Passthrough always wins.

WebRTC helper formats (red, rtx, ulpfec, flexfec) never reach the SIP side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wcs.sdp.codecs import WEBRTC_HELPERS, Format
from wcs.sdp.errors import SdpUsageError
from wcs.sdp.h264 import PROFILE_NAMES, h264_profile, packetization_mode, split_profile_level_id

# WCS codec name → (SDP encoding name, clock rate or None for any rate)
WCS_CODEC_NAMES: dict[str, tuple[str, int | None]] = {
    "opus": ("opus", 48000), "alaw": ("pcma", 8000), "ulaw": ("pcmu", 8000), "g729": ("g729", 8000),
    "g722": ("g722", 8000), "speex": ("speex", 8000), "speex16": ("speex", 16000),
    "speex32": ("speex", 32000), "telephone-event": ("telephone-event", None),
    "h264": ("h264", 90000), "vp8": ("vp8", 90000), "vp9": ("vp9", 90000), "av1": ("av1", 90000),
    "mpv": ("mpv", 90000), "flv": ("flv", None), "mpeg4-generic": ("mpeg4-generic", None),
}

DEFAULT_CODECS = "opus,alaw,ulaw,g729,speex16,g722,mpeg4-generic,telephone-event,h264,vp8,flv,mpv"
DEFAULT_CODECS_EXCLUDE_SIP = "mpeg4-generic,flv,mpv"
ISSUE2_CODECS = ("opus", "g722", "pcmu", "pcma", "telephone-event")


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip().lower() for item in items if item.strip())


def _encoding(name: str) -> tuple[str, int | None]:
    return WCS_CODEC_NAMES.get(name, (name, None))


def _h264_profile_name(entry: str) -> str:
    if entry in PROFILE_NAMES:
        return entry
    if split_profile_level_id(entry) is not None:
        name = h264_profile(entry)
        if name is not None:
            return name
    raise SdpUsageError(f"unknown H.264 profile {entry!r}")


@dataclass(frozen=True)
class CodecPolicy:
    """Codec filter and preference for the SIP side (see module docstring)."""

    codecs: tuple[str, ...] = ISSUE2_CODECS
    exclude_sip: tuple[str, ...] = ()
    allow_outside_codecs: bool = False
    h264_profiles: tuple[str, ...] = ()
    h264_packetization_mode_1_only: bool = True
    keep_remote_order: bool = True
    transcoding: bool = False
    transcodable: tuple[tuple[str, int], ...] = ()
    _keys: tuple[tuple[str, int | None], ...] = field(default=(), init=False, repr=False, compare=False)
    _excluded_keys: tuple[tuple[str, int | None], ...] = field(default=(), init=False, repr=False,
                                                              compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "codecs", _names(self.codecs))
        object.__setattr__(self, "exclude_sip", _names(self.exclude_sip))
        object.__setattr__(self, "h264_profiles",
                           tuple(_h264_profile_name(p) for p in _names(self.h264_profiles)))
        object.__setattr__(self, "transcodable",
                           tuple((name.lower(), int(rate)) for name, rate in self.transcodable))
        object.__setattr__(self, "_keys", tuple(_encoding(name) for name in self.codecs))
        object.__setattr__(self, "_excluded_keys", tuple(_encoding(name) for name in self.exclude_sip))

    @classmethod
    def from_settings(
        cls,
        codecs: str | Sequence[str] = DEFAULT_CODECS,
        codecs_exclude_sip: str | Sequence[str] = DEFAULT_CODECS_EXCLUDE_SIP,
        allow_outside_codecs: bool = True,
        profiles: str | Sequence[str] = (),
        proxy_use_h264_packetization_mode_1_only: bool = True,
        keep_remote_order: bool = True,
        allow_transcoding: bool = False,
        transcodable: Iterable[tuple[str, int]] = (),
    ) -> CodecPolicy:
        """Build a policy from the WCS-named settings (comma lists or sequences)."""
        return cls(_names(codecs), _names(codecs_exclude_sip), allow_outside_codecs,
                   _names(profiles), proxy_use_h264_packetization_mode_1_only, keep_remote_order,
                   allow_transcoding, tuple(transcodable))

    @staticmethod
    def _matches(key: tuple[str, int | None], fmt: Format) -> bool:
        return fmt.encoding == key[0] and (key[1] is None or key[1] == fmt.clock_rate)

    def rank(self, fmt: Format) -> int | None:
        """Position of ``fmt`` in ``codecs`` (lower = preferred), None if not named."""
        for i, key in enumerate(self._keys):
            if self._matches(key, fmt):
                return i
        return None

    def excluded(self, fmt: Format) -> bool:
        if fmt.encoding in WEBRTC_HELPERS:
            return True
        if any(self._matches(key, fmt) for key in self._excluded_keys):
            return True
        if fmt.encoding == "h264" and self.h264_profiles:
            return h264_profile(fmt.params.get("profile-level-id", "42000a")) not in self.h264_profiles
        return False

    def offer_to_sip(self, fmt: Format) -> bool:
        """May a browser format be offered to the SIP side?"""
        if self.excluded(fmt) or self.rank(fmt) is None:
            return False
        return not (fmt.encoding == "h264" and self.h264_packetization_mode_1_only
                    and packetization_mode(fmt.fmtp) != "1")

    def accept_from_sip(self, fmt: Format) -> bool:
        """May a format offered by a SIP peer be passed on to the browser?"""
        if self.excluded(fmt):
            return False
        return self.allow_outside_codecs or self.rank(fmt) is not None

    def order(self, formats: list[Format]) -> list[Format]:
        """``formats`` in the peer's order, or sorted by ``codecs`` (stable)."""
        if self.keep_remote_order:
            return list(formats)
        last = len(self.codecs)
        return sorted(formats, key=lambda f: r if (r := self.rank(f)) is not None else last)
