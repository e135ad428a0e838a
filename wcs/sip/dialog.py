"""Dialog state and in-dialog request construction (RFC 3261 §12).

Theory of operation
-------------------
A dialog is the peer-to-peer relationship an INVITE sets up.  It is identified by
(Call-ID, local tag, remote tag) and remembers what every later request in it needs:

* the *route set*, from Record-Route: in order for the UAS (§12.1.1), reversed for the
  UAC (§12.1.2); fixed once the dialog is confirmed (a 2xx recomputes it, §13.2.2.4);
* the *remote target*, from the peer's Contact; target refresh requests and their 2xx
  responses update it (§12.2);
* the local and remote CSeq numbers: ours increase by one per request (§12.2.1.1), the
  peer's must not go down (§12.2.2: lower → 500).

:meth:`Dialog.build_request` forms a request as §12.2.1.1 says, loose routing and the
strict-router case included, and returns the URI of the next hop (§8.1.2: the first
Route, else the Request-URI).  :func:`uri_address` turns such a URI into an
:class:`Address` (maddr, port, transport parameter; no DNS here).

A dialog is ``early`` after a provisional response with a To tag, ``confirmed`` after a
2xx, ``terminated`` at the end.  The UA core owns those transitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from wcs.errors import LocalProtocolError
from wcs.sip.headers import Headers
from wcs.sip.locate import default_port
from wcs.sip.message import Message, Request, Response
from wcs.sip.transport import Address
from wcs.sip.uri import NameAddr, SipUri

EARLY = "early"
CONFIRMED = "confirmed"
TERMINATED = "terminated"

#: URI parameters a Request-URI may not carry (§19.1.1, Table 1): ``method``; headers too.
_NOT_IN_REQUEST_URI = ("method",)


@dataclass
class Dialog:
    """One dialog (see the module docstring)."""

    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: NameAddr                     # From (UAC) / To (UAS), without tag
    remote_uri: NameAddr                    # To (UAC) / From (UAS), without tag
    remote_target: SipUri
    route_set: list[NameAddr] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    state: str = EARLY

    @property
    def id(self) -> tuple[str, str, str | None]:
        """(Call-ID, local tag, remote tag)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    # ------------------------------------------------------------ creation

    @classmethod
    def from_uac(cls, request: Request, response: Response, *, secure: bool = False) -> Dialog:
        """The UAC's dialog from a response with a To tag to ``request`` (§12.1.2)."""
        local_tag = request.from_tag
        if local_tag is None:
            raise LocalProtocolError("a dialog-creating request needs a From tag")
        dialog = cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=response.to_tag,
            local_uri=_without_tag(request.from_),
            remote_uri=_without_tag(response.to),
            remote_target=_target(response, request.request_uri),
            local_seq=request.cseq.seq,
            secure=secure,
            state=CONFIRMED if 200 <= response.status < 300 else EARLY,
        )
        dialog.route_set = list(reversed(response.name_addrs("Record-Route")))
        return dialog

    @classmethod
    def from_uas(cls, request: Request, local_tag: str, *, secure: bool = False) -> Dialog:
        """The UAS's dialog for ``request``, answered with To tag ``local_tag`` (§12.1.1)."""
        contact = request.contact
        if contact is None:
            raise LocalProtocolError("a dialog-creating request needs a Contact")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag,
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            remote_target=contact.uri,
            route_set=list(request.name_addrs("Record-Route")),
            remote_seq=request.cseq.seq,
            secure=secure,
        )

    # ------------------------------------------------------------ updates

    def confirm_from_2xx(self, response: Response) -> None:
        """A 2xx confirms an early UAC dialog and recomputes its route set (§13.2.2.4)."""
        self.route_set = list(reversed(response.name_addrs("Record-Route")))
        self.refresh_target(response)
        self.state = CONFIRMED

    def refresh_target(self, message: Message) -> None:
        """Take the remote target from a target refresh's Contact, if it has one (§12.2)."""
        contact = message.contact
        if contact is not None:
            self.remote_target = contact.uri

    def accept_remote_cseq(self, seq: int) -> bool:
        """Check and record the CSeq of a request from the peer (§12.2.2).

        False when it is lower than the last one: the request is out of order (→ 500).
        """
        if self.remote_seq is not None and seq < self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def next_seq(self) -> int:
        """The CSeq number of our next request (§12.2.1.1)."""
        self.local_seq = 1 if self.local_seq is None else self.local_seq + 1
        return self.local_seq

    # ------------------------------------------------------------ requests

    def build_request(self, method: str, via: str, *, cseq: int | None = None,
                      extra_headers: Sequence[tuple[str, str]] = (),
                      body: bytes = b"") -> tuple[Request, SipUri]:
        """A request in this dialog and the URI of its next hop (§12.2.1.1, §8.1.2).

        ``cseq`` defaults to the next local number; ACK and CANCEL pass the number of
        the request they belong to.  ``via`` is the complete top Via value.
        """
        if cseq is None:
            cseq = self.next_seq()
        headers = Headers()
        headers.add("Via", via)
        headers.add("Max-Forwards", "70")
        route_values, request_uri = self.route_and_request_uri()
        for value in route_values:
            headers.add("Route", value)
        local = replace(self.local_uri, params=dict(self.local_uri.params))
        local.tag = self.local_tag
        remote = replace(self.remote_uri, params=dict(self.remote_uri.params))
        remote.tag = self.remote_tag
        headers.add("From", str(local))
        headers.add("To", str(remote))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        for name, value in extra_headers:
            headers.add(name, value)
        request = Request(method, request_uri, headers, body)
        next_hop = self.route_set[0].uri if self.route_set else request_uri
        return request, next_hop

    def route_and_request_uri(self) -> tuple[list[str], SipUri]:
        """Route header values and Request-URI: loose routing, or the strict-router form."""
        if not self.route_set:
            return [], self.remote_target
        first = self.route_set[0]
        if "lr" in first.uri.params:
            return [str(route) for route in self.route_set], self.remote_target
        # strict router (RFC 2543): it goes into the Request-URI, the target to the end
        request_uri = replace(first.uri, headers={}, params={
            k: v for k, v in first.uri.params.items() if k not in _NOT_IN_REQUEST_URI})
        routes = [str(route) for route in self.route_set[1:]]
        routes.append(f"<{self.remote_target}>")
        return routes, request_uri


def uri_address(uri: SipUri, default_transport: str = "udp") -> Address:
    """Where a request for ``uri`` goes without DNS (§8.1.2, RFC 3263 simplified).

    ``maddr`` wins over the host; the port defaults to 5061 for sips/TLS, 80/443 for
    WS/WSS (RFC 7118 §5.5), else 5060; the ``transport`` parameter (or ``tls`` for sips)
    picks the transport, and ``sips`` with ``transport=ws`` is WSS (RFC 7118 §5.2 has one
    URI value for both).  A host name stays a host name: the I/O adapter resolves it.
    """
    transport = uri.transport or ("tls" if uri.scheme == "sips" else default_transport)
    if uri.scheme == "sips" and transport == "ws":
        transport = "wss"
    host = uri.params.get("maddr") or uri.host
    port = uri.port or default_port(transport)
    return Address(host, port, transport)


def _without_tag(value: NameAddr) -> NameAddr:
    params = {k: v for k, v in value.params.items() if k != "tag"}
    return NameAddr(value.uri, value.display_name, params)


def _target(response: Response, fallback: SipUri) -> SipUri:
    contact = response.contact
    return contact.uri if contact is not None else fallback
