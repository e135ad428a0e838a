"""Identity checks and where SIP requests go (transport, port, DNS)."""

from __future__ import annotations

import pytest

from wcs.gateway.identity import IdentityError, account_from_connection, target_uri
from wcs.gateway.protocol import ConnectionRequest
from wcs.sip.transport import Address


def conn(**fields: object) -> ConnectionRequest:
    base: dict[str, object] = {"sipLogin": "1001", "sipPassword": "p", "sipDomain": "example.com"}
    base.update(fields)
    return ConnectionRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fields", "transport", "proxy"), [
    ({}, "udp", Address("example.com", 0, "udp")),                       # a name: DNS (RFC 3263)
    ({"sipOutboundProxy": "127.0.0.1"}, "udp", Address("127.0.0.1", 5060, "udp")),
    ({"sipOutboundProxy": "127.0.0.1"}, "tls", Address("127.0.0.1", 5061, "tls")),
    ({"sipOutboundProxy": "127.0.0.1;transport=tcp"}, "udp", Address("127.0.0.1", 5060, "tcp")),
    ({"sipOutboundProxy": "pbx.local:5080", "sipPort": ""}, "udp", Address("pbx.local", 5080, "udp")),
    ({"sipOutboundProxy": "[2001:db8::1]", "sipPort": "5062"}, "udp", Address("2001:db8::1", 5062, "udp")),
    ({"sipDomain": "10.0.0.1:5090"}, "tcp", Address("10.0.0.1", 5090, "tcp")),
    # RFC 7118 §5.5: 80 for WS, 443 for WSS
    ({"sipOutboundProxy": "127.0.0.1"}, "ws", Address("127.0.0.1", 80, "ws")),
    ({"sipOutboundProxy": "127.0.0.1;transport=wss"}, "udp", Address("127.0.0.1", 443, "wss")),
    ({"sipOutboundProxy": "127.0.0.1:8088;transport=ws"}, "udp", Address("127.0.0.1", 8088, "ws")),
])
def test_where_requests_go(fields: dict[str, object], transport: str, proxy: Address) -> None:
    assert account_from_connection(conn(**fields), transport).proxy == proxy


def test_refused_identities_name_the_field() -> None:
    with pytest.raises(IdentityError) as info:
        account_from_connection(conn(sipOutboundProxy="127.0.0.1;transport=sctp"))
    assert (info.value.field, info.value.reason) == (
        "sipOutboundProxy", "Invalid sipOutboundProxy: transport 'sctp' is not udp, tcp, tls, ws or wss")
    with pytest.raises(IdentityError) as info:
        account_from_connection(conn(sipLogin="10 01"))
    assert info.value.reason == ("Invalid sipLogin: '10 01' contains characters not allowed in a SIP user "
                                 "name (RFC 3261 §25.1)")
    with pytest.raises(IdentityError, match="sipVisibleName"):
        account_from_connection(conn(sipVisibleName="a\r\nb"))


def test_callee_uris() -> None:
    account = account_from_connection(conn())
    assert target_uri("1002", account) == "sip:1002@example.com"
    assert target_uri(1002, account) == "sip:1002@example.com"
    assert target_uri("bob@10.0.0.2:5070", account) == "sip:bob@10.0.0.2:5070"
    assert target_uri("sips:bob@example.com", account) == "sips:bob@example.com"
    assert target_uri("tel:+15551234", account).startswith("tel:+15551234")
    for bad in ("", "a b", "<x>", "sip:", "@host", 'x"y', "+1 (555)"):
        with pytest.raises(IdentityError):
            target_uri(bad, account)
