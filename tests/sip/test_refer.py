"""Transfer: REFER and its NOTIFYs (RFC 3515), Replaces (RFC 3891); the scripted peer for the wire
details, and three user agents in memory for a whole attended transfer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wcs.entropy import SeededEntropy
from wcs.errors import LocalProtocolError
from wcs.sip.errors import SipParseError
from wcs.sip.message import Request
from wcs.sip.refer import ReplacesId, parse_replaces, parse_sipfrag, replaces_value
from wcs.sip.transport import Address
from wcs.sip.ua import (
    Account,
    CallAnswered,
    CallEnded,
    IncomingCall,
    ReferReceived,
    TransferProgress,
    UaEvent,
    UserAgent,
)
from wcs.sip.uri import parse_name_addr

from .test_ua_harness import (
    CALLER,
    PROXY,
    SDP_ANSWER,
    SDP_OFFER,
    Peer,
    from_callee,
    from_caller,
    incoming_call,
    outgoing_call,
    request_from,
)


def progress(events: list[UaEvent]) -> list[tuple[str, int | None, str]]:
    return [(e.state, e.status, e.reason) for e in events if isinstance(e, TransferProgress)]


def notify(ok: object, cseq: int, body: bytes, state: str, event: str = "refer", branch: str = "z9hG4bKn1"
           ) -> Request:
    assert hasattr(ok, "call_id")
    request = from_callee(ok, "NOTIFY", cseq, branch=branch,  # type: ignore[arg-type]
                          headers=[("Event", event), ("Subscription-State", state)])
    request.headers.set("Content-Type", "message/sipfrag;version=2.0")
    request.body = body
    return request


def test_replaces_values() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    assert session.dialog is not None
    value = replaces_value(session.dialog)
    assert value == f"{session.dialog.call_id};to-tag=callee;from-tag={session.dialog.local_tag}"
    assert parse_replaces(value + ";early-only") == ReplacesId(session.dialog.call_id, "callee",
                                                                 session.dialog.local_tag, True)
    for bad in ("", "abc;to-tag=1", "abc;from-tag=2", ";to-tag=1;from-tag=2"):
        with pytest.raises(SipParseError, match="Malformed Replaces header"):
            parse_replaces(bad)
    assert parse_sipfrag(b"SIP/2.0 180 Ringing\r\n") == (180, "Ringing")
    with pytest.raises(SipParseError, match="Malformed sipfrag body"):
        parse_sipfrag(b"HTTP/1.1 200 OK")


# ---------------------------------------------------------------- transferor


def test_blind_transfer_refer_202_and_notifies() -> None:
    peer = Peer()
    session, invite, ok = outgoing_call(peer)
    peer.ua.refer(session, "sip:1003@example.com", 1.0)
    refer, dest = peer.take_request("REFER")
    assert dest == PROXY and str(refer.cseq) == "2 REFER"
    assert refer.headers.get("Refer-To") == "<sip:1003@example.com>"
    assert refer.headers.get("Referred-By") == "<sip:1001@example.com>"
    assert refer.headers.get("Contact") == "<sip:1001@192.0.2.10:5070;line=x1>"
    # the first NOTIFY may come before the 202 (RFC 3515 §2.4.4)
    peer.deliver(notify(ok, 2, b"SIP/2.0 100 Trying\r\n", "active;expires=60", "refer;id=2"), at=1.1)
    first, _ = peer.take_response(200)
    assert str(first.cseq) == "2 NOTIFY"
    peer.deliver(Peer.answer(refer, 202), at=1.2)
    peer.deliver(notify(ok, 3, b"SIP/2.0 180 Ringing\r\n", "active;expires=60", "refer;id=2",
                        branch="z9hG4bKn2"), at=2.0)
    peer.take_response(200)
    peer.deliver(notify(ok, 4, b"SIP/2.0 200 OK\r\n", "terminated;reason=noresource", "refer",
                        branch="z9hG4bKn3"), at=3.0)
    peer.take_response(200)
    assert progress(peer.events()) == [("trying", 100, "Trying"), ("accepted", 202, "Accepted"),
                                       ("trying", 180, "Ringing"), ("completed", 200, "OK")]
    assert session.state == "confirmed"   # the owner hangs up when it likes
    # the subscription is over: another NOTIFY matches nothing
    peer.deliver(notify(ok, 5, b"SIP/2.0 200 OK\r\n", "terminated", branch="z9hG4bKn4"), at=4.0)
    resp, _ = peer.take_response(481)
    assert resp.reason == "Subscription does not exist"


def test_attended_transfer_refer_to_carries_the_escaped_replaces() -> None:
    peer = Peer()
    to_b, _, _ = outgoing_call(peer)
    other = Peer()
    to_c, _, _ = outgoing_call(other)
    assert to_c.dialog is not None
    peer.ua.refer(to_b, "sip:1003@192.0.2.40:5090", 1.0, replaces=to_c.dialog)
    refer, _ = peer.take_request("REFER")
    refer_to = parse_name_addr(refer.headers.get("Refer-To") or "")
    assert refer_to.uri.headers == {"Replaces": replaces_value(to_c.dialog)}
    assert "Replaces=" in str(refer_to) and "%3Bto-tag%3Dcallee%3Bfrom-tag%3D" in str(refer_to)


@pytest.mark.parametrize(("frag", "state", "expected"), [
    (b"SIP/2.0 486 Busy Here\r\n", "terminated", [("failed", 486, "Busy Here")]),
    (b"SIP/2.0 100 Trying\r\n", "terminated;reason=timeout", [("trying", 100, "Trying"),
                                                              ("failed", None, "timeout")]),
    (b"SIP/2.0 100 Trying\r\n", "pending", [("pending", 100, "Trying")]),
])
def test_notify_outcomes(frag: bytes, state: str, expected: list[tuple[str, int | None, str]]) -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer)
    peer.ua.refer(session, "sip:1003@example.com", 1.0)
    peer.take_request("REFER")
    peer.deliver(notify(ok, 2, frag, state), at=1.1)
    peer.take_response(200)
    assert progress(peer.events()) == expected


def test_bad_notifies() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer)
    peer.ua.refer(session, "sip:1003@example.com", 1.0)
    peer.take_request("REFER")
    peer.deliver(notify(ok, 2, b"SIP/2.0 200 OK\r\n", "active", event="presence"))
    peer.take_response(489)
    peer.deliver(notify(ok, 3, b"SIP/2.0 200 OK\r\n", "active", event="refer;id=99", branch="z9hG4bKn2"))
    peer.take_response(481)
    peer.deliver(notify(ok, 4, b"garbage", "active", branch="z9hG4bKn3"))
    bad, _ = peer.take_response(400)
    assert bad.reason == "Malformed sipfrag body"
    assert peer.events() == []


def test_refused_refer_and_a_silent_subscription_fail() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer)
    peer.ua.refer(session, "sip:1003@example.com", 1.0)
    refer, _ = peer.take_request("REFER")
    peer.deliver(Peer.answer(refer, 603), at=1.1)
    assert progress(peer.events()) == [("failed", 603, "Decline")]
    peer.ua.refer(session, "sip:1003@example.com", 2.0)
    refer2, _ = peer.take_request("REFER")
    peer.deliver(Peer.answer(refer2, 202), at=2.0)
    peer.events()
    peer.advance(2.0 + 120 + 31.9)   # no NOTIFY at all: the subscription is given up after expiry + 32 s
    assert peer.events() == []
    peer.advance(2.0 + 120 + 32.0)
    assert progress(peer.events()) == [("failed", None, "Subscription expired")]
    with pytest.raises(LocalProtocolError, match="cannot transfer to 'not a uri': not a URI"):
        peer.ua.refer(session, "not a uri", 3.0)


# ---------------------------------------------------------------- transferee


def test_incoming_refer_accept_and_notify() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    target = "<sip:1003@example.com?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>"
    refer = from_caller(ok, "REFER", 2, branch="z9hG4bKr1",
                        headers=[("Refer-To", target), ("Referred-By", "<sip:1002@example.com>")])
    peer.deliver(refer, source=CALLER, at=1.0)
    (event,) = peer.events()
    assert isinstance(event, ReferReceived) and event.target == "sip:1003@example.com"
    assert event.replaces == "abc@h;to-tag=1;from-tag=2"
    assert event.referred_by is not None and str(event.referred_by.uri) == "sip:1002@example.com"
    peer.ua.accept_refer(session, 1.0)
    sent = peer.sent()
    assert [m.start_line().split()[0:2] for m, _ in sent] == [["SIP/2.0", "202"],
                                                              ["NOTIFY", "sip:1002@192.0.2.30:5090"]]
    first = sent[1][0]
    assert isinstance(first, Request)
    assert first.headers.get("Event") == "refer;id=2"
    assert first.headers.get("Subscription-State") == "active;expires=120"
    assert first.headers.get("Content-Type") == "message/sipfrag;version=2.0"
    assert first.body == b"SIP/2.0 100 Trying\r\n"
    peer.ua.notify_refer(session, 180, "Ringing", 2.0)
    ringing, _ = peer.take_request("NOTIFY")
    assert ringing.body == b"SIP/2.0 180 Ringing\r\n"
    assert ringing.headers.get("Subscription-State") == "active"
    peer.ua.notify_refer(session, 200, "OK", 3.0)
    final, _ = peer.take_request("NOTIFY")
    assert final.headers.get("Subscription-State") == "terminated;reason=noresource"
    assert [str(r.cseq) for r in (first, ringing, final)] == ["1 NOTIFY", "2 NOTIFY", "3 NOTIFY"]
    peer.ua.notify_refer(session, 200, "OK", 4.0)   # the subscription is over: ignored
    peer.nothing_sent()


def test_incoming_refer_problems() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    peer.deliver(from_caller(ok, "REFER", 2, branch="z9hG4bKr1"), source=CALLER)
    missing, _ = peer.take_response(400)
    assert missing.reason == "Missing Refer-To header"
    peer.deliver(from_caller(ok, "REFER", 3, branch="z9hG4bKr2", headers=[("Refer-To", "<bad")]),
                 source=CALLER)
    bad, _ = peer.take_response(400)
    assert bad.reason == "Malformed Refer-To header"
    peer.deliver(from_caller(ok, "REFER", 4, branch="z9hG4bKr3", headers=[("Refer-To", "<sip:x@y>")]),
                 source=CALLER)
    peer.events()
    peer.deliver(from_caller(ok, "REFER", 5, branch="z9hG4bKr4", headers=[("Refer-To", "<sip:z@y>")]),
                 source=CALLER)
    busy, _ = peer.take_response(500)
    assert busy.reason == "Transfer in progress" and busy.headers.get("Retry-After") is not None
    peer.ua.reject_refer(session, 603, 1.0)
    peer.take_response(603)
    with pytest.raises(LocalProtocolError, match="has no REFER to handle"):
        peer.ua.accept_refer(session, 1.0)


# ---------------------------------------------------------------- Replaces in an incoming INVITE


def replacing_invite(replaces: str, cseq: int = 1) -> Request:
    return request_from(Address("192.0.2.50", 5060), "INVITE", "sip:1001@192.0.2.10:5070",
                        call_id="new-call@b", from_tag="bnew", body=SDP_OFFER, cseq=cseq,
                        headers=[("Replaces", replaces), ("Require", "replaces")])


def test_invite_with_replaces_takes_the_place_of_our_call() -> None:
    peer = Peer()
    old, _, ok = outgoing_call(peer)
    assert old.dialog is not None
    # RFC 3891 §3: the to-tag is compared with our local tag, the from-tag with the remote one
    peer.deliver(replacing_invite(f"{ok.call_id};to-tag={old.dialog.local_tag};from-tag=callee"),
                 source=Address("192.0.2.50", 5060), at=5.0)
    peer.take_response(100)
    (event,) = peer.events()
    assert isinstance(event, IncomingCall) and event.replaces is old and event.session.replaces is old
    peer.ua.answer(event.session, SDP_ANSWER, 5.1)
    sent = peer.sent()
    assert [m.start_line().split()[0] for m, _ in sent] == ["SIP/2.0", "BYE"]   # RFC 3891 §3
    assert isinstance(sent[1][0], Request) and sent[1][0].call_id == ok.call_id
    peer.deliver(Peer.answer(sent[1][0], 200), at=5.2)   # type: ignore[arg-type]
    (end,) = [e for e in peer.events() if isinstance(e, CallEnded)]
    assert end.session is old and end.cause == "replaced"


@pytest.mark.parametrize(("replaces", "status"), [
    ("nothing@x;to-tag=a;from-tag=b", 481),
    ("{call};to-tag={tag};from-tag=callee;early-only", 486),
    ("{call};to-tag=callee", 400),
])
def test_replaces_that_cannot_be_honoured(replaces: str, status: int) -> None:
    peer = Peer()
    old, _, ok = outgoing_call(peer)
    assert old.dialog is not None
    peer.deliver(replacing_invite(replaces.format(call=ok.call_id, tag=old.dialog.local_tag)),
                 source=Address("192.0.2.50", 5060))
    resp, _ = peer.take_response(status)
    if status == 400:
        assert resp.reason == "Malformed Replaces header"
    assert old.state == "confirmed"


# ---------------------------------------------------------------- three user agents in memory

A, B, C = Address("192.0.2.10", 5070), Address("192.0.2.20", 5080), Address("192.0.2.40", 5090)


class Trio:
    """Alice (A) has calls to Bob (B) and Carol (C); datagrams go to their destination address."""

    def __init__(self) -> None:
        self.uas = {A: UserAgent(A, entropy=SeededEntropy(11)), B: UserAgent(B, entropy=SeededEntropy(12)),
                    C: UserAgent(C, entropy=SeededEntropy(13))}
        self.events: dict[Address, list[UaEvent]] = {a: [] for a in self.uas}
        self.react: Callable[[Address, UaEvent], None] = lambda where, event: None
        self.now = 0.0
        self.lines: list[str] = []

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for src, ua in self.uas.items():
                for out in ua.outgoing():
                    moved = True
                    self.lines.append(f"{src.port}>{out.dest.port} {out.data.split(b' ', 2)[:2]}")
                    self.uas[Address(out.dest.host, out.dest.port)].receive_datagram(out.data, src, self.now)
                for event in ua.events():
                    self.events[src].append(event)
                    self.react(src, event)
                    moved = True


def test_attended_transfer_between_three_user_agents() -> None:
    net = Trio()
    alice = Account("alice", "192.0.2.10:5070")

    def react(where: Address, event: UaEvent) -> None:
        ua = net.uas[where]
        if isinstance(event, IncomingCall):
            ua.answer(event.session, SDP_ANSWER, net.now)
        elif isinstance(event, ReferReceived):   # Bob follows the REFER with Replaces
            ua.accept_refer(event.session, net.now)
            assert event.replaces is not None
            new = ua.invite(Account("bob", "192.0.2.20:5080"), event.target, SDP_OFFER, net.now,
                            extra_headers=[("Replaces", event.replaces)])
            new.user_data = event.session
        elif isinstance(event, CallAnswered) and where == B and event.session.user_data is not None:
            ua.notify_refer(event.session.user_data, 200, "OK", net.now)   # type: ignore[arg-type]
        elif isinstance(event, TransferProgress) and event.state == "completed":
            ua.cancel_or_bye(event.session, net.now)   # Alice leaves

    net.react = react
    to_bob = net.uas[A].invite(alice, "sip:bob@192.0.2.20:5080", SDP_OFFER, 0.0)
    to_carol = net.uas[A].invite(alice, "sip:carol@192.0.2.40:5090", SDP_OFFER, 0.0)
    net.pump()
    assert to_bob.state == "confirmed" and to_carol.state == "confirmed" and to_carol.dialog is not None
    net.now = 1.0
    net.uas[A].refer(to_bob, str(to_carol.dialog.remote_target), 1.0, replaces=to_carol.dialog)
    net.pump()
    alice_events = net.events[A]
    assert progress(alice_events)[-1] == ("completed", 200, "OK")
    ends = {e.session.id: e.cause for e in alice_events if isinstance(e, CallEnded)}
    assert ends == {to_bob.id: "local-bye", to_carol.id: "remote-bye"}
    carol_ends = [e for e in net.events[C] if isinstance(e, CallEnded)]
    assert [e.cause for e in carol_ends] == ["replaced"]
    bob_new = [e.session for e in net.events[B] if isinstance(e, CallAnswered) and e.session.user_data]
    carol_new = [e.session for e in net.events[C] if isinstance(e, IncomingCall) and e.replaces is not None]
    assert len(bob_new) == 1 and len(carol_new) == 1
    assert bob_new[0].state == "confirmed" and carol_new[0].state == "confirmed"   # Bob and Carol talk
