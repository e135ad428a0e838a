"""Shared test harness for the user agent tests: a scripted peer that reads what the UA sends
and answers with hand-built messages; ``now`` is driven by hand.  (Imported by
test_registration.py, test_invite.py and test_ua*.py; its own tests check the harness.)
"""

from __future__ import annotations

from collections.abc import Iterable

from wcs.entropy import SeededEntropy
from wcs.sip.auth import parse_challenge
from wcs.sip.headers import Headers
from wcs.sip.message import Message, Request, Response, make_response, parse_message
from wcs.sip.transport import Address
from wcs.sip.ua import Account, IncomingCall, InviteSession, UaEvent, UserAgent
from wcs.timers import TimerConfig

LOCAL = Address("192.0.2.10", 5070)
PROXY = Address("192.0.2.1", 5060)
CALLEE = Address("192.0.2.20", 5080)
CALLER = Address("192.0.2.30", 5090)
SDP_OFFER = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
             b"m=audio 4000 RTP/AVP 0\r\n")
SDP_ANSWER = (b"v=0\r\no=- 2 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
              b"m=audio 5000 RTP/AVP 0\r\n")
#: the Allow header the UA sends (pinned here once for every test)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY, INFO, MESSAGE"
CHALLENGE = 'Digest realm="example.com", nonce="abc123", qop="auth", algorithm=MD5'


def account(**changes: object) -> Account:
    base: dict[str, object] = dict(user="1001", domain="example.com", password="secret",
                                   display_name="Alice", proxy=PROXY, contact_params={"line": "x1"})
    base.update(changes)
    return Account(**base)  # type: ignore[arg-type]


class Peer:
    """The network around one UserAgent."""

    def __init__(self, timers: TimerConfig | None = None, local: Address = LOCAL, seed: int = 1) -> None:
        self.ua = UserAgent(local, timers=timers or TimerConfig(), entropy=SeededEntropy(seed),
                            user_agent="wcs-test")
        self.now = 0.0
        self._tag = 0

    # -- what the UA sent
    def sent(self) -> list[tuple[Message, Address]]:
        return [(parse_message(out.data), out.dest) for out in self.ua.outgoing()]

    def take(self, start: str | None = None) -> tuple[Message, Address]:
        """Exactly one message was sent (whose first line starts with ``start``)."""
        items = self.sent()
        assert len(items) == 1, [_first_line(m) for m, _ in items]
        message, dest = items[0]
        if start is not None:
            assert _first_line(message).startswith(start), _first_line(message)
        return message, dest

    def take_request(self, method: str) -> tuple[Request, Address]:
        message, dest = self.take(method + " ")
        assert isinstance(message, Request)
        return message, dest

    def take_response(self, status: int) -> tuple[Response, Address]:
        message, dest = self.take(f"SIP/2.0 {status} ")
        assert isinstance(message, Response)
        return message, dest

    def nothing_sent(self) -> None:
        items = self.sent()
        assert items == [], [_first_line(m) for m, _ in items]

    def events(self) -> list[UaEvent]:
        return self.ua.events()

    # -- feeding the UA
    def deliver(self, message: Message | bytes, source: Address = PROXY, at: float | None = None) -> None:
        if at is not None:
            self.now = at
        data = message if isinstance(message, bytes) else bytes(message)
        self.ua.receive_datagram(data, source, self.now)

    def advance(self, to: float) -> list[float]:
        """Fire every UA timer up to ``to``; returns the firing times."""
        fired = []
        while (deadline := self.ua.get_timer()) is not None and deadline <= to:
            fired.append(deadline)
            self.now = deadline
            self.ua.handle_timer(deadline)
        self.now = to
        return fired

    def next_send(self, to: float) -> tuple[float, list[tuple[Message, Address]]]:
        """Fire UA timers one by one until one sends something (before ``to``): when, and what."""
        while (deadline := self.ua.get_timer()) is not None and deadline <= to:
            self.now = deadline
            self.ua.handle_timer(deadline)
            items = self.sent()
            if items:
                return deadline, items
        raise AssertionError(f"nothing sent until {to}")

    def tag(self) -> str:
        self._tag += 1
        return f"peer{self._tag}"

    @staticmethod
    def answer(request: Request, status: int, *, to_tag: str | None = None, reason: str | None = None,
               headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> Response:
        response = make_response(request, status, reason, to_tag=to_tag)
        for name, value in headers:
            response.headers.add(name, value)
        if body:
            response.headers.add("Content-Type", "application/sdp")
            response.body = body
        return response


def request_from(peer_addr: Address, method: str, uri: str, *, call_id: str = "call-1@peer",
                 from_tag: str = "ftag", to_tag: str | None = None, cseq: int = 1,
                 branch: str = "z9hG4bKpeer1", contact: str | None = "<sip:1002@192.0.2.30:5090>",
                 headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> Request:
    """A request as a remote UA would send it to us."""
    to = "<sip:1001@example.com>" + (f";tag={to_tag}" if to_tag else "")
    h = Headers([
        ("Via", f"SIP/2.0/UDP {peer_addr.host}:{peer_addr.port};branch={branch};rport"),
        ("Max-Forwards", "70"),
        ("From", f'"Bob" <sip:1002@example.com>;tag={from_tag}'),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ])
    if contact:
        h.add("Contact", contact)
    for name, value in headers:
        h.add(name, value)
    if body:
        h.add("Content-Type", "application/sdp")
    return Request(method, uri, h, body)


def challenge_of(response: Response) -> str:
    value = response.headers.get("WWW-Authenticate") or response.headers.get("Proxy-Authenticate")
    assert value is not None
    return parse_challenge(value).nonce


def _first_line(message: Message) -> str:
    return message.start_line()


def test_harness_peer_sees_nothing_before_any_action() -> None:
    peer = Peer()
    peer.nothing_sent()
    assert peer.events() == [] and peer.ua.get_timer() is None


def test_harness_request_from_builds_a_valid_request() -> None:
    req = request_from(CALLER, "OPTIONS", "sip:1001@192.0.2.10:5070")
    parsed = parse_message(bytes(req))
    assert isinstance(parsed, Request) and parsed.cseq.method == "OPTIONS"


# ---------------------------------------------------------------- confirmed calls for the feature tests

CALLEE_CONTACT = "<sip:1002@192.0.2.20:5080>"
OUR_URI = "sip:1001@192.0.2.10:5070"


def outgoing_call(peer: Peer, *, headers: Iterable[tuple[str, str]] = (), body: bytes = SDP_ANSWER,
                  **acct: object) -> tuple[InviteSession, Request, Response]:
    """We call 1002 through PROXY; the callee answers 200 (To tag "callee"); the ACK is taken."""
    session = peer.ua.invite(account(**acct), "sip:1002@example.com", SDP_OFFER, peer.now)
    invite, _ = peer.take_request("INVITE")
    ok = peer.answer(invite, 200, to_tag="callee", headers=[("Contact", CALLEE_CONTACT), *headers], body=body)
    peer.deliver(ok)
    peer.take_request("ACK")
    peer.events()
    return session, invite, ok


def incoming_call(peer: Peer, *, headers: Iterable[tuple[str, str]] = (),
                  body: bytes = SDP_ANSWER) -> tuple[InviteSession, Request, Response]:
    """1002 calls us from CALLER; we answer ``body``; its ACK is delivered."""
    invite = request_from(CALLER, "INVITE", OUR_URI, body=SDP_OFFER, headers=headers)
    peer.deliver(invite, source=CALLER)
    peer.take_response(100)
    (event,) = peer.events()
    assert isinstance(event, IncomingCall)
    peer.ua.answer(event.session, body, peer.now)
    ok, _ = peer.take_response(200)
    peer.deliver(ack_to(invite, ok), source=CALLER)
    peer.events()
    return event.session, invite, ok


def ack_to(invite: Request, ok: Response, branch: str = "z9hG4bKack1", body: bytes = b"") -> Request:
    """The caller's ACK for our 2xx to ``invite``."""
    return request_from(CALLER, "ACK", OUR_URI, to_tag=ok.to_tag, cseq=invite.cseq.seq, branch=branch,
                        call_id=invite.call_id, from_tag=invite.from_tag or "ftag", body=body)


def from_callee(ok: Response, method: str, cseq: int, *, branch: str, body: bytes = b"",
                headers: Iterable[tuple[str, str]] = ()) -> Request:
    """A request the callee of ``outgoing_call`` sends us in its dialog."""
    return request_from(CALLEE, method, OUR_URI, call_id=ok.call_id, from_tag=ok.to_tag or "",
                        to_tag=ok.from_tag, cseq=cseq, branch=branch, contact=CALLEE_CONTACT,
                        headers=headers, body=body)


def from_caller(ok: Response, method: str, cseq: int, *, branch: str, body: bytes = b"",
                headers: Iterable[tuple[str, str]] = ()) -> Request:
    """A request the caller of ``incoming_call`` sends us in its dialog."""
    return request_from(CALLER, method, OUR_URI, call_id=ok.call_id, from_tag=ok.from_tag or "",
                        to_tag=ok.to_tag, cseq=cseq, branch=branch, headers=headers, body=body)
