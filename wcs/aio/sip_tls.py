"""TLS for SIP (RFC 3261 §26.3.1, RFC 5922 §7): contexts for our client and listener sides.

The client verifies the server's certificate against the system store and its name by
default (``ssl.create_default_context()``).  A PBX with a self-signed or private-CA
certificate needs one setting, ``ca_file`` (trusted *in addition* to the system store);
``server_name`` overrides the name sent in SNI and checked in the certificate (default:
the domain the request was located for, else the IP address, which then has to be in
the certificate's subjectAltName).  ``verify=False`` turns all of that off, for labs:
it is logged as a warning every time a context is made.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

__all__ = ["TlsSettings", "client_context", "describe_tls_error", "server_context"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsSettings:
    """TLS settings of a SIP endpoint (see the module docstring).

    ``cert_file``/``key_file``: our certificate chain and key (PEM) for the TLS and WSS
    listeners; without them there are none (outgoing TLS works regardless).
    """

    ca_file: str | None = None
    server_name: str | None = None
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None


def client_context(settings: TlsSettings) -> ssl.SSLContext:
    """The context for outgoing TLS connections."""
    context = ssl.create_default_context()
    if settings.ca_file:
        context.load_verify_locations(cafile=settings.ca_file)
    if not settings.verify:
        log.warning("SIP TLS: tls_verify=False: server certificates are NOT checked; anyone on the "
                    "path can read and change the signalling (use tls_ca_file instead)")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_context(settings: TlsSettings) -> ssl.SSLContext | None:
    """The context for our TLS/WSS listeners, or None without a certificate."""
    if not settings.cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


def describe_tls_error(exc: BaseException) -> str:
    """A reason a person can act on, for a failed handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        return (f"certificate verify failed: {detail} (trust the server's CA with tls_ca_file, "
                "or set tls_server_name to the name in its certificate)")
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    return str(exc)
