"""Settings: defaults, the properties file with WCS names, validation, the codec policy."""

from __future__ import annotations

import pytest

from wcs.gateway.settings import Settings, SettingsError, apply, load_properties
from wcs.sdp.codecs import Format


def test_defaults_do_not_collide_with_a_pbx_on_5060() -> None:
    s = Settings()
    assert (s.ws_port, s.http_port, s.sip_port) == (8080, 8081, 5070)
    assert s.media_ports == range(31000, 32001)


def test_properties_with_wcs_names() -> None:
    text = """
    # a comment
    ! another
    ws.port = 9080
    keep_alive.server_interval=2500
    keep_alive.probes = 3
    media_port_from=40000
    media_port_to=40100
    codecs = ulaw, alaw ,telephone-event
    allow_outside_codecs=false
    proxy_use_h264_packetization_mode_1_only = no
    some_future_setting = 1
    """
    s = apply(Settings(), load_properties(text))
    assert s.ws_port == 9080 and s.keep_alive_interval == 2.5 and s.keep_alive_probes == 3
    assert (s.media_port_from, s.media_port_to) == (40000, 40100)
    assert s.codecs == ("ulaw", "alaw", "telephone-event")
    assert s.allow_outside_codecs is False and s.proxy_use_h264_packetization_mode_1_only is False
    assert s.extra == {"some_future_setting": "1"}


@pytest.mark.parametrize(("line", "message"), [
    ("sip_port=70000", "setting sip_port: port out of range: 70000"),
    ("ws.port=http", "setting ws.port: invalid literal for int() with base 10: 'http'"),
    ("allow_outside_codecs=maybe", "setting allow_outside_codecs: expected true or false, got 'maybe'"),
    ("profiles=fancy", "setting profiles: unknown H.264 profile 'fancy'"),
    ("media_port_from=5000\nmedia_port_to=4000", "media_port_from must not exceed media_port_to"),
    ("no equals sign", "line 1: expected key=value, got 'no equals sign'"),
    ("sip_prack=maybe", "SIP settings: prack must be off, supported or required, not 'maybe'"),
    ("min_se=30", "SIP settings: min_se must be at least 90 seconds (RFC 4028 §5)"),
    ("sip_transport=sctp", "setting sip_transport: expected udp, tcp, tls, ws or wss, got 'sctp'"),
    ("sip_ws_path=ws", "setting sip_ws_path: expected an absolute HTTP path such as /ws, got 'ws'"),
])
def test_bad_settings_name_the_key(line: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        apply(Settings(), load_properties(line))
    assert str(info.value) == message


def test_codec_policy_follows_the_settings() -> None:
    opus = Format(111, "opus", 48000, 2, "minptime=10;useinbandfec=1")
    pcmu = Format(0, "PCMU", 8000)
    pcma = Format(8, "PCMA", 8000)
    h264_mode0 = Format(104, "H264", 90000, 1, "packetization-mode=0;profile-level-id=42e01f")
    policy = apply(Settings(), [("codecs", "ulaw,alaw,h264"), ("codecs_exclude_sip", "alaw")]).codec_policy()
    assert policy.offer_to_sip(pcmu) and not policy.offer_to_sip(opus) and not policy.offer_to_sip(pcma)
    assert not policy.offer_to_sip(h264_mode0)           # packetization-mode=1 only by default
    assert policy.order([pcma, opus, pcmu]) == [pcmu, pcma, opus]  # order of `codecs` = preference


def test_sip_feature_settings() -> None:
    s = apply(Settings(), load_properties("session_expires=0\nsip_keepalive_interval=30\nsip_use_tls=true"))
    config = s.ua_config()
    assert config.session_expires is None and config.keepalive_interval == 30.0
    assert s.sip_transport == "tls"


def test_sip_over_websocket_settings() -> None:
    s = apply(Settings(), load_properties("sip_transport=WSS\nsip_ws_path=/sip"))
    assert (s.sip_transport, s.sip_ws_path) == ("wss", "/sip")
    assert Settings().sip_ws_path == "/"
