"""Gateway settings: defaults, a ``flashphoner.properties``-style file, and overrides.

Settings have one canonical attribute name; the properties file accepts the names WCS
users know (``ws.port``, ``media_port_from``, ``keep_alive.server_interval`` in ms …)
as well as the attribute names themselves.  Every value is validated on load so a typo
is reported at start-up, naming the key, rather than failing a call later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import LocalProtocolError
from ..rtp.codecs import CodecRegistry, default_registry
from ..sdp.errors import SdpUsageError
from ..sdp.policy import DEFAULT_CODECS, DEFAULT_CODECS_EXCLUDE_SIP, CodecPolicy
from ..sip.uaconfig import UaConfig

__all__ = ["Settings", "SettingsError", "load_properties"]


class SettingsError(LocalProtocolError):
    """A setting is unknown or has a value of the wrong form."""


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"port out of range: {value}")
    return value


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _ms(text: str) -> float:
    return float(text) / 1000.0


def _latching(text: str) -> str:
    value = text.strip().lower()
    if value not in ("off", "host", "any"):
        raise ValueError(f"expected off, host or any, got {text.strip()!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be told.  Times are in seconds."""

    #: address the listeners bind to
    address: str = "0.0.0.0"
    #: address written into SDP, Via and Contact (default: the bound address, or the
    #: host's primary address when bound to 0.0.0.0)
    public_address: str | None = None
    ws_port: int = 8080
    http_port: int = 8081
    #: SIP UDP port; 5060 is left to a PBX that may run on the same host
    sip_port: int = 5070
    media_port_from: int = 31000
    media_port_to: int = 32000
    #: transport toward the SIP side unless the browser's outbound proxy says ";transport=…":
    #: udp, tcp, tls, or ws/wss (SIP over WebSocket to the PBX, RFC 7118)
    sip_transport: str = "udp"
    #: HTTP path of the SIP WebSocket connections we open (ws/wss)
    sip_ws_path: str = "/"
    #: TCP listener (default: the SIP port) and TLS listener (default: SIP port + 1, when
    #: a certificate is set); our TLS certificate and key (PEM)
    sip_tcp_port: int | None = None
    sip_tls_port: int | None = None
    sip_tls_cert_file: str | None = None
    sip_tls_key_file: str | None = None
    #: TLS client: verify servers against the system store plus this CA file, with SNI
    tls_ca_file: str | None = None
    tls_server_name: str | None = None
    tls_verify: bool = True
    #: RFC 3261 §18.1.1: requests over UDP larger than this go over TCP
    sip_mtu_threshold: int = 1300
    #: DNS servers for RFC 3263 lookups ("host" or "host:port"); empty = the system's
    dns_servers: tuple[str, ...] = ()
    #: RFC 3262 as callee: send 18x reliably when the caller supports 100rel ("supported"),
    #: never ("off"), or require it ("required")
    sip_prack: str = "supported"
    #: RFC 4028 session timers: the interval we ask for (0: none unless the peer asks), the
    #: shortest we accept, who refreshes ("local": the gateway) and how ("UPDATE" or "INVITE")
    session_expires: int = 1800
    min_se: int = 90
    session_refresher: str = "local"
    session_refresh_method: str = "UPDATE"
    #: seconds between OPTIONS pings to the outbound proxy of registered accounts (0: none)
    sip_keepalive_interval: float = 0.0
    #: server ping period and how many unanswered pings close the socket
    keep_alive_interval: float = 5.0
    keep_alive_probes: int = 10
    #: how long a ``keepAlive`` session survives without a socket
    client_timeout: float = 60.0
    #: REGISTER expiry we ask for
    register_expires: int = 600
    #: give up on an incoming call the browser neither answers nor rejects
    ring_timeout: float = 120.0
    user_agent: str = "wcs/0.1"
    #: enabled codecs, order = preference (WCS names: opus, alaw, ulaw, g729, speex16, g722 …,
    #: or SDP encoding names)
    codecs: tuple[str, ...] = _list(DEFAULT_CODECS)
    #: never offered to nor accepted from the SIP side
    codecs_exclude_sip: tuple[str, ...] = _list(DEFAULT_CODECS_EXCLUDE_SIP)
    #: pass on codecs a SIP peer offers that ``codecs`` does not name
    allow_outside_codecs: bool = True
    #: H.264 sub-profiles allowed toward SIP (e.g. constrained-baseline, 42e01f); empty = any
    profiles: tuple[str, ...] = ()
    #: offer only packetization-mode=1 H.264 to SIP
    proxy_use_h264_packetization_mode_1_only: bool = True
    #: transcode audio when the browser and the SIP side share no codec (never when they do);
    #: off: such calls fail with "Transcoding required, but disabled"
    allow_transcoding: bool = True
    log_level: str = "INFO"
    #: end a call whose media stopped ("Failed by RTP activity"); off allows calls without
    #: microphone and camera
    rtp_activity_detecting: bool = True
    #: seconds without RTP from a leg that end the call: the RFC 7675 consent lifetime, and
    #: RFC 3550 §6.3.5's participant timeout (5 reporting intervals of 5 s, plus margin)
    rtp_activity_timeout: float = 30.0
    #: extra seconds a leg gets for its first packet after media starts or resumes
    rtp_activity_start_grace: float = 10.0
    #: symmetric RTP toward SIP peers (RFC 4961): send where the peer's RTP comes from, if it
    #: comes from the SDP host ("host"), from anywhere ("any", NATed peers), or never ("off")
    rtp_latching: str = "host"
    #: SDES-SRTP toward SIP (RFC 4568, wcs.sdp.sdes): "off" (plain RTP/AVP), "optional" (RTP/AVP
    #: offered with a=crypto, SRTP when the peer answers with it; RTP/SAVP offers accepted) or
    #: "mandatory" (RTP/SAVP only)
    sip_srtp: str = "off"
    #: generate black video / silence toward the browser for SIP peers whose User-Agent (or
    #: Server) header contains one of these (case-insensitive); "all": every peer; empty: none
    generate_av_for_ua: tuple[str, ...] = ()
    #: seconds without media from the SIP side after which a stream's generator starts
    rtp_generator_start_timeout: float = 2.0
    #: transcode VP8 ⇄ H.264 when the browser and the SIP side share no video codec (CPU heavy:
    #: a decoder and an encoder per direction and call)
    video_transcoding: bool = False
    #: REST hooks (wcs.gateway.hooks): POST JSON to ``<rest_hook_url>/<hook>`` for client
    #: actions and events; empty: off.  A backend gets ``rest_hook_timeout`` seconds per POST
    rest_hook_url: str = ""
    rest_hook_timeout: float = 5.0
    #: settings not known to this version, kept so callers can warn about them
    extra: Mapping[str, str] = field(default_factory=dict)

    def generates_for(self, user_agent: str | None) -> bool:
        """Whether ``generate_av_for_ua`` applies to a SIP peer with this User-Agent/Server value."""
        patterns = [p.lower() for p in self.generate_av_for_ua]
        if "all" in patterns:
            return True
        agent = (user_agent or "").lower()
        return bool(agent) and any(p and p != "none" and p in agent for p in patterns)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some attributes changed."""
        return dataclasses.replace(self, **changes)

    def ua_config(self) -> UaConfig:
        """The SIP user agent's call-feature settings."""
        try:
            return UaConfig(prack=self.sip_prack, session_expires=self.session_expires or None,
                            min_se=self.min_se, refresher=self.session_refresher,
                            refresh_method=self.session_refresh_method,
                            keepalive_interval=self.sip_keepalive_interval or None)
        except LocalProtocolError as exc:
            raise SettingsError(f"SIP settings: {exc}") from None

    def codec_policy(self, registry: CodecRegistry | None = None) -> CodecPolicy:
        """The SIP-side codec filter these settings describe (order of ``codecs`` = preference).

        What may be transcoded is what ``registry`` (default: the process-wide one the media
        plane uses) can decode and encode here: a codec whose library is missing is not offered.
        With ``allow_transcoding`` off it still tells a refusal "Transcoding required, but
        disabled" from "No common codecs".
        """
        codecs = (registry or default_registry).available_codecs()
        transcodable = [(info.name.lower(), info.clock_rate) for info in codecs]
        try:
            return CodecPolicy.from_settings(
                self.codecs, self.codecs_exclude_sip, self.allow_outside_codecs, self.profiles,
                self.proxy_use_h264_packetization_mode_1_only, keep_remote_order=False,
                allow_transcoding=self.allow_transcoding, transcodable=transcodable)
        except SdpUsageError as exc:
            raise SettingsError(f"setting profiles: {exc.args[0]}") from None

    @property
    def media_ports(self) -> range:
        """Usable media ports (RTP on even ports, RTCP on the next odd one)."""
        return range(self.media_port_from, self.media_port_to + 1)

    def validate(self) -> Settings:
        """Check cross-field rules; returns self so it can be chained."""
        if self.media_port_from > self.media_port_to:
            raise SettingsError("media_port_from must not exceed media_port_to")
        if self.media_port_to - self.media_port_from < 3:
            raise SettingsError("the media port range needs at least 4 ports")
        if self.keep_alive_interval <= 0 or self.keep_alive_probes < 1:
            raise SettingsError("keep_alive interval and probes must be positive")
        if self.sip_transport not in ("udp", "tcp", "tls", "ws", "wss"):
            raise SettingsError(f"setting sip_transport: expected udp, tcp, tls, ws or wss, "
                                f"got {self.sip_transport!r}")
        if not self.sip_ws_path.startswith("/") or any(c in self.sip_ws_path for c in " \r\n?#"):
            raise SettingsError(f"setting sip_ws_path: expected an absolute HTTP path such as /ws, "
                                f"got {self.sip_ws_path!r}")
        if not 200 <= self.sip_mtu_threshold <= 65535:
            raise SettingsError("setting sip_mtu_threshold: expected 200-65535")
        if self.sip_srtp not in ("off", "optional", "mandatory"):
            raise SettingsError(f"setting sip_srtp: expected off, optional or mandatory, "
                                f"got {self.sip_srtp!r}")
        if self.rtp_generator_start_timeout < 0:
            raise SettingsError("setting rtp_generator_start_timeout: must not be negative")
        if self.rest_hook_url and not self.rest_hook_url.startswith(("http://", "https://")):
            raise SettingsError(f"setting rest_hook_url: expected an http:// or https:// URL, "
                                f"got {self.rest_hook_url!r}")
        if self.rest_hook_timeout <= 0:
            raise SettingsError("setting rest_hook_timeout: must be positive")
        if self.rtp_activity_timeout <= 0 or self.rtp_activity_start_grace < 0:
            raise SettingsError("rtp_activity_timeout must be positive and its start grace not negative")
        self.codec_policy()
        self.ua_config()
        return self


#: properties-file key → (attribute, converter)
_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "address": ("address", str.strip),
    "ip_local": ("address", str.strip),
    "public_address": ("public_address", str.strip),
    "ip": ("public_address", str.strip),
    "ws_port": ("ws_port", _port),
    "ws.port": ("ws_port", _port),
    "http_port": ("http_port", _port),
    "http.port": ("http_port", _port),
    "sip_port": ("sip_port", _port),
    "media_port_from": ("media_port_from", _port),
    "media_port_to": ("media_port_to", _port),
    "keep_alive_interval": ("keep_alive_interval", float),
    "keep_alive.server_interval": ("keep_alive_interval", _ms),
    "keep_alive_probes": ("keep_alive_probes", int),
    "keep_alive.probes": ("keep_alive_probes", int),
    "client_timeout": ("client_timeout", float),
    "register_expires": ("register_expires", int),
    "ring_timeout": ("ring_timeout", float),
    "user_agent": ("user_agent", str.strip),
    "sip_transport": ("sip_transport", lambda s: s.strip().lower()),
    "sip_use_tls": ("sip_transport", lambda s: "tls" if _bool(s) else "udp"),  # the WCS name
    "sip_ws_path": ("sip_ws_path", str.strip),
    "sip_tcp_port": ("sip_tcp_port", _port),
    "sip_tls_port": ("sip_tls_port", _port),
    "sip_tls_cert_file": ("sip_tls_cert_file", str.strip),
    "sip_tls_key_file": ("sip_tls_key_file", str.strip),
    "tls_ca_file": ("tls_ca_file", str.strip),
    "tls_server_name": ("tls_server_name", str.strip),
    "tls_verify": ("tls_verify", _bool),
    "sip_mtu_threshold": ("sip_mtu_threshold", int),
    "dns_servers": ("dns_servers", _list),
    "sip_prack": ("sip_prack", lambda s: s.strip().lower()),
    "session_expires": ("session_expires", int),
    "min_se": ("min_se", int),
    "session_refresher": ("session_refresher", lambda s: s.strip().lower()),
    "session_refresh_method": ("session_refresh_method", lambda s: s.strip().upper()),
    "sip_keepalive_interval": ("sip_keepalive_interval", float),
    "codecs": ("codecs", _list),
    "codecs_exclude_sip": ("codecs_exclude_sip", _list),
    "allow_outside_codecs": ("allow_outside_codecs", _bool),
    "profiles": ("profiles", _list),
    "proxy_use_h264_packetization_mode_1_only": ("proxy_use_h264_packetization_mode_1_only", _bool),
    "allow_transcoding": ("allow_transcoding", _bool),
    "log_level": ("log_level", lambda s: s.strip().upper()),
    "rtp_activity_detecting": ("rtp_activity_detecting", _bool),
    "rtp_activity_timeout": ("rtp_activity_timeout", float),
    "rtp_activity_start_grace": ("rtp_activity_start_grace", float),
    "rtp_latching": ("rtp_latching", _latching),
    "sip_srtp": ("sip_srtp", lambda s: s.strip().lower()),
    "generate_av_for_ua": ("generate_av_for_ua", _list),
    "rtp_generator_start_timeout": ("rtp_generator_start_timeout", float),
    "video_transcoding": ("video_transcoding", _bool),
    "rest_hook_url": ("rest_hook_url", lambda s: s.strip().rstrip("/")),
    "rest_hook_timeout": ("rest_hook_timeout", float),
}


def apply(settings: Settings, items: Iterable[tuple[str, str]]) -> Settings:
    """Return ``settings`` with ``key=value`` pairs applied; unknown keys go to ``extra``."""
    changes: dict[str, Any] = {}
    extra = dict(settings.extra)
    for key, text in items:
        entry = _KEYS.get(key.strip())
        if entry is None:
            extra[key.strip()] = text
            continue
        attribute, convert = entry
        try:
            changes[attribute] = convert(text)
        except ValueError as exc:
            raise SettingsError(f"setting {key.strip()}: {exc}") from None
    return settings.replace(extra=extra, **changes).validate()


def load_properties(text: str) -> list[tuple[str, str]]:
    """Parse ``key=value`` lines (``#``/``!`` comments, blank lines ignored)."""
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise SettingsError(f"line {number}: expected key=value, got {line!r}")
        items.append((key.strip(), value.strip()))
    return items
