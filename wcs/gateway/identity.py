"""Turning what the browser typed into SIP identities and URIs — or refusing it clearly.

The WebSDK sends the SIP credentials in its ``connection`` frame as free text. Anything
that cannot appear in a SIP message is refused here, naming the field, before a single
SIP byte is sent (the seed product's "known issue 1" was a session hanging in PENDING on
a login with a space in it).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote

from ..errors import RemoteProtocolError
from ..sip.errors import SipParseError
from ..sip.locate import default_port
from ..sip.transport import Address
from ..sip.uacore import Account
from ..sip.uri import is_valid_user, parse_uri
from .protocol import ConnectionRequest

__all__ = ["IdentityError", "account_from_connection", "target_uri", "parse_host_port"]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
#: user-part characters we escape rather than refuse in a callee (RFC 3261 §25.1 allows escapes)
_USER_SAFE = "-_.!~*'()&=+$,;?/"
_FORBIDDEN_IN_CALLEE = re.compile(r'[\s<>"\x00-\x1f\x7f]')


class IdentityError(RemoteProtocolError):
    """A SIP identity field from the browser that cannot be used; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"Invalid {field}: {reason}", 400)
        self.field = field


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_host(text: str) -> bool:
    host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return text == host and _HOSTNAME_RE.fullmatch(host) is not None


def parse_host_port(text: str, field: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 literal → (host, port)."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end > 0:
            host, port_text = text[1:end], text[end + 1:].removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host or not _is_host(host):
        raise IdentityError(field, f"{text!r} is not a host name or IP address")
    if not port_text:
        return host, None
    return host, _port(port_text, field)


def _port(value: int | str, field: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise IdentityError(field, f"{value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise IdentityError(field, f"{port} is out of range 1-65535")
    return port


def _user(value: str | None, field: str) -> str:
    if not value:
        raise IdentityError(field, "it is empty")
    if not is_valid_user(value):
        raise IdentityError(
            field, f"{value!r} contains characters not allowed in a SIP user name (RFC 3261 §25.1)")
    return value


def _split_transport(text: str, default: str, field: str) -> tuple[str, str]:
    """``host[:port][;transport=tcp]`` → (``host[:port]``, transport)."""
    host, _, params = text.strip().partition(";")
    transport = default
    for param in params.split(";") if params else ():
        key, _, value = param.partition("=")
        if key.strip().lower() == "transport":
            transport = value.strip().lower()
    if transport not in ("udp", "tcp", "tls", "ws", "wss"):
        raise IdentityError(field, f"transport {transport!r} is not udp, tcp, tls, ws or wss")
    return host, transport


def account_from_connection(conn: ConnectionRequest, transport: str = "udp") -> Account:
    """Build the SIP account of a ``connection`` frame, or raise :class:`IdentityError`.

    Where requests go: the outbound proxy when one is given, else the domain; on
    ``sipPort`` or the port in that host; over ``transport`` unless the outbound proxy
    says ``;transport=udp|tcp|tls|ws|wss``.  With no port anywhere, an IP address gets 5060
    (5061 over TLS, 80/443 over WS/WSS: RFC 7118 §5.5) and a host name port 0: it is
    located through DNS (RFC 3263: NAPTR, SRV).
    """
    user = _user(conn.sipLogin, "sipLogin")
    auth_user = _user(conn.sipAuthenticationName, "sipAuthenticationName") \
        if conn.sipAuthenticationName else user
    if not conn.sipDomain:
        raise IdentityError("sipDomain", "it is empty")
    domain_host, domain_port = parse_host_port(conn.sipDomain, "sipDomain")
    port = _port(conn.sipPort, "sipPort") if conn.sipPort not in (None, "") else None
    if conn.sipOutboundProxy:
        proxy, transport = _split_transport(conn.sipOutboundProxy, transport, "sipOutboundProxy")
        proxy_host, proxy_port = parse_host_port(proxy, "sipOutboundProxy")
    else:
        proxy_host, proxy_port = domain_host, domain_port
    port = port or proxy_port
    if port is None:
        port = default_port(transport) if _is_ip(proxy_host) else 0
    display = conn.sipVisibleName or None
    if display is not None and any(c in display for c in "\r\n\x00"):
        raise IdentityError("sipVisibleName", "it contains line breaks")
    return Account(
        user=user,
        domain=conn.sipDomain.strip(),
        auth_user=auth_user,
        password=conn.sipPassword or "",
        display_name=display,
        proxy=Address(proxy_host, port, transport),
    )


def target_uri(callee: str | int | None, account: Account) -> str:
    """The Request-URI for a ``callee`` typed in the browser.

    ``1002`` → ``sip:1002@<domain>``; ``1002@host`` → ``sip:1002@host``; a full ``sip:``/
    ``sips:``/``tel:`` URI is used as given (after validation).  Characters that a user part
    may only carry escaped (``#`` …) are escaped; whitespace, quotes and angle brackets
    cannot be part of a URI and are refused.
    """
    text = str(callee).strip() if callee is not None else ""
    if not text:
        raise IdentityError("callee", "it is empty")
    if _FORBIDDEN_IN_CALLEE.search(text):
        raise IdentityError("callee", f"{text!r} cannot be turned into a SIP URI")
    lowered = text.lower()
    if lowered.startswith(("sip:", "sips:", "tel:")):
        uri_text = text
    else:
        user, at, host = text.rpartition("@")
        if not at:
            user, host = text, account.domain
        if not user:
            raise IdentityError("callee", f"{text!r} has no user part")
        parse_host_port(host, "callee")
        uri_text = f"sip:{quote(user, safe=_USER_SAFE)}@{host}"
    try:
        uri = parse_uri(uri_text)
    except SipParseError:
        raise IdentityError("callee", f"{text!r} cannot be turned into a SIP URI") from None
    if uri.opaque is not None or (uri.is_sip and not uri.host):
        raise IdentityError("callee", f"{text!r} cannot be turned into a SIP URI")
    return str(uri)
