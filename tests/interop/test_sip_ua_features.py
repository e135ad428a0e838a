"""Our UserAgent's call features against real peers: re-INVITE hold/resume, blind and attended transfer,
INFO DTMF, MESSAGE, PRACK and session timers, through the Kamailio on 127.0.0.1:5160.

Peers: baresip (sipua_helpers.Baresip, ctrl_tcp) and pjsua2 phones (sipua_pjsua2.Pjsua2, a child
process per phone that auto-answers and reports JSON events).  Our UA is 1001 on the asyncio
endpoint; what it sent and received is in the ``trace`` fixture.  No media flows (our SDP names a
port nobody listens on); the assertions are on signalling: our events, the peers' events and the
SIP traces.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wcs.sip.info import DTMF_RELAY, dtmf_relay_body
from wcs.sip.message import Request, Response
from wcs.sip.ua import (
    CallAnswered,
    CallEnded,
    IncomingCall,
    MessageReceived,
    OfferReceived,
    RegistrationChanged,
    ReinviteDone,
    RequestDone,
    TransferProgress,
    UaConfig,
    UaEvent,
)

from .sipua_helpers import (
    DOMAIN,
    KAMAILIO_PORT,
    PASSWORDS,
    SDP,
    Baresip,
    Kamailio,
    Recorder,
    Trace,
    account,
    baresip_fixture,
    endpoint,
    kamailio_fixture,
    run,
    trace_fixture,
    until,
)
from .sipua_pjsua2 import Pjsua2

pytestmark = pytest.mark.interop

SENDONLY = SDP.replace(b"a=sendrecv", b"a=sendonly")
RECVONLY = SDP.replace(b"a=sendrecv", b"a=recvonly")


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    yield from kamailio_fixture(tmp_path_factory.mktemp("sipua-kamailio"))


@pytest.fixture
def trace(kamailio: Kamailio, rig_log: Any) -> Trace:
    return trace_fixture(kamailio, rig_log)


@pytest.fixture
def baresip(tmp_path: Path, rig_log: Any, kamailio: Kamailio) -> Iterator[Callable[..., Baresip]]:
    yield from baresip_fixture(tmp_path, rig_log)


@pytest.fixture
def pjsua2(tmp_path: Path, rig_log: Any, kamailio: Kamailio) -> Iterator[Callable[..., Pjsua2]]:
    started: list[Pjsua2] = []

    def make(user: str, **options: Any) -> Pjsua2:
        phone = Pjsua2(tmp_path / f"pjsua2-{user}", user, PASSWORDS[user], KAMAILIO_PORT, **options)
        started.append(phone)
        rig_log.add_source(f"pjsua2 {user} events", lambda: "\n".join(map(str, phone.events)))
        rig_log.add_source(f"pjsua2 {user} SIP log", lambda: phone.trace()[-12000:])
        return phone.start()

    try:
        yield make
    finally:
        for phone in started:
            phone.stop()


def now() -> float:
    return asyncio.get_running_loop().time()


def sent_requests(trace: Trace, method: str) -> list[Request]:
    return [m for m in trace.messages("send") if isinstance(m, Request) and m.method == method]


def received_requests(trace: Trace, method: str) -> list[Request]:
    return [m for m in trace.messages("recv") if isinstance(m, Request) and m.method == method]


def baresip_event(phone: Baresip, kind: str) -> dict[str, Any] | None:
    phone.poll()
    return next((e for e in phone.events if e.get("type") == kind), None)


async def wait_peer(phone: Pjsua2, match: Callable[[dict[str, Any]], bool], what: str,
                    timeout: float = 10.0) -> dict[str, Any]:
    return await asyncio.to_thread(phone.wait_event, match, timeout, what)


# ---------------------------------------------------------------- re-INVITE


def test_hold_and_resume_with_baresip_both_ways(kamailio: Kamailio, trace: Trace,
                                                 baresip: Callable[..., Baresip]) -> None:
    bob = baresip("1002", answermode="auto")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)

        def react(event: UaEvent) -> None:
            if isinstance(event, OfferReceived):   # baresip holds us: we answer recvonly
                ep.ua.answer_offer(event.session, RECVONLY if b"a=sendonly" in event.sdp else SDP, now())
                ep.flush()

        rec.react = react
        try:
            session = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            await rec.wait_for(CallAnswered)
            await until(lambda: bob.has_event("CALL_ESTABLISHED"), 10, "baresip CALL_ESTABLISHED")
            ep.ua.reinvite(session, SENDONLY, now())
            ep.flush()
            hold = await rec.wait_for(ReinviteDone)
            assert hold.ok and hold.status == 200 and hold.sdp is not None and b"a=recvonly" in hold.sdp
            ep.ua.reinvite(session, SDP, now())
            ep.flush()
            resume = await rec.wait_for(ReinviteDone, match=lambda e: e is not hold)
            assert resume.ok and resume.sdp is not None and b"a=recvonly" not in resume.sdp
            assert [str(r.cseq) for r in sent_requests(trace, "INVITE")][-2:] == ["3 INVITE", "4 INVITE"]
            await asyncio.to_thread(bob.command, "hold")
            offer = await rec.wait_for(OfferReceived)
            assert b"a=sendonly" in offer.sdp and offer.method == "INVITE"
            await until(lambda: [m for m in trace.messages("send") if isinstance(m, Response)
                                 and m.status == 200 and b"a=recvonly" in m.body], 5, "our recvonly answer")
            ep.cancel_or_bye(session)
            ended = await rec.wait_for(CallEnded)
            assert (ended.cause, ended.status) == ("local-bye", 200)
        finally:
            ep.close()

    run(main)


# ---------------------------------------------------------------- transfer


def test_blind_transfer_of_baresip_to_a_pjsua2_phone(kamailio: Kamailio, trace: Trace,
                                                      baresip: Callable[..., Baresip],
                                                      pjsua2: Callable[..., Pjsua2]) -> None:
    bob = baresip("1002", answermode="auto")
    carol = pjsua2("1003")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)

        def react(event: UaEvent) -> None:
            if isinstance(event, TransferProgress) and event.state == "completed":
                ep.cancel_or_bye(event.session)   # the transferor leaves once B talks to C

        rec.react = react
        try:
            session = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            await rec.wait_for(CallAnswered)
            await until(lambda: bob.has_event("CALL_ESTABLISHED"), 10, "baresip CALL_ESTABLISHED")
            ep.ua.refer(session, f"sip:1003@{DOMAIN}", now())
            ep.flush()
            completed = await rec.wait_for(TransferProgress, 20, lambda e: e.state in ("completed", "failed"))
            assert (completed.state, completed.status) == ("completed", 200)
            states = [e.state for e in rec.events if isinstance(e, TransferProgress)]
            assert states[0] == "accepted" and states[-1] == "completed"
            ended = await rec.wait_for(CallEnded)
            assert ended.cause == "local-bye"
            refer = sent_requests(trace, "REFER")[0]
            assert refer.headers.get("Refer-To") == f"<sip:1003@{DOMAIN}>"
            frags = [r.body for r in received_requests(trace, "NOTIFY")]
            assert frags and frags[-1].startswith(b"SIP/2.0 200")
            # B and C talk: the pjsua2 phone answered a call from 1002
            await wait_peer(carol, lambda e: e["event"] == "state" and e["state"] == "CONFIRMED"
                            and "1002" in e["remote"], "a confirmed call from 1002")
        finally:
            ep.close()

    run(main)


def test_attended_transfer_between_two_pjsua2_phones(kamailio: Kamailio, trace: Trace,
                                                      pjsua2: Callable[..., Pjsua2]) -> None:
    bob = pjsua2("1002")
    carol = pjsua2("1003")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)

        def react(event: UaEvent) -> None:
            if isinstance(event, TransferProgress) and event.state == "completed":
                ep.cancel_or_bye(event.session)

        rec.react = react
        try:
            to_bob = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            to_carol = ep.invite(account(), f"sip:1003@{DOMAIN}", SDP)
            await rec.wait_for(CallAnswered, match=lambda e: e.session is to_bob)
            await rec.wait_for(CallAnswered, match=lambda e: e.session is to_carol)
            assert to_carol.dialog is not None
            ep.ua.refer(to_bob, f"sip:1003@{DOMAIN}", now(), replaces=to_carol.dialog)
            ep.flush()
            completed = await rec.wait_for(TransferProgress, 20, lambda e: e.state in ("completed", "failed"))
            assert (completed.state, completed.status) == ("completed", 200)
            ends = {}
            for session in (to_bob, to_carol):
                ended = await rec.wait_for(CallEnded, 10, lambda e, s=session: e.session is s)
                ends[session.id] = ended.cause
            # C replaced our call with B's (BYE from C), we left B after its NOTIFY 200
            assert ends == {to_bob.id: "local-bye", to_carol.id: "remote-bye"}
            replaced = await wait_peer(carol, lambda e: e["event"] == "replaced", "Replaces on Carol")
            await wait_peer(carol, lambda e: e["event"] == "state" and e["call"] == replaced["new_call"]
                            and e["state"] == "CONFIRMED", "Carol's new call confirmed")
            await wait_peer(bob, lambda e: e["event"] == "state" and e["state"] == "CONFIRMED"
                            and "1003" in e["remote"], "Bob's call to Carol confirmed")
            assert "Replaces: " in carol.trace() and to_carol.dialog.call_id in carol.trace()
        finally:
            ep.close()

    run(main)


# ---------------------------------------------------------------- INFO, MESSAGE


def test_info_dtmf_relay_reaches_pjsua2(kamailio: Kamailio, trace: Trace,
                                         pjsua2: Callable[..., Pjsua2]) -> None:
    bob = pjsua2("1002")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)
        try:
            session = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            await rec.wait_for(CallAnswered)
            handle = ep.ua.info(session, DTMF_RELAY, dtmf_relay_body("7", 200), now())
            ep.flush()
            done = await rec.wait_for(RequestDone)
            assert done.request is handle and (done.ok, done.status) == (True, 200)
            dtmf = await wait_peer(bob, lambda e: e["event"] == "dtmf", "the DTMF digit")
            assert (dtmf["digit"], dtmf["method"]) == ("7", "info")
            ep.cancel_or_bye(session)
            await rec.wait_for(CallEnded)
        finally:
            ep.close()

    run(main)


def test_info_dtmf_relay_reaches_baresip(kamailio: Kamailio, trace: Trace,
                                         baresip: Callable[..., Baresip]) -> None:
    bob = baresip("1002")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)
        try:
            session = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            await rec.wait_for(CallAnswered)
            ep.ua.info(session, DTMF_RELAY, dtmf_relay_body("#"), now())
            ep.flush()
            done = await rec.wait_for(RequestDone)
            assert (done.ok, done.status) == (True, 200)
            event = await until(lambda: baresip_event(bob, "CALL_DTMF_START"), 5, "baresip's DTMF event")
            assert event["param"] == "#"
            ep.cancel_or_bye(session)
            await rec.wait_for(CallEnded)
        finally:
            ep.close()

    run(main)


def test_message_both_ways(kamailio: Kamailio, trace: Trace, baresip: Callable[..., Baresip],
                           pjsua2: Callable[..., Pjsua2]) -> None:
    bob = baresip("1002")
    carol = pjsua2("1003")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)
        try:
            ep.register(account())
            await rec.wait_for(RegistrationChanged, match=lambda e: e.state == "registered")
            to_bob = ep.ua.message(account(), f"sip:1002@{DOMAIN}", "text/plain", b"hello baresip", now())
            to_carol = ep.ua.message(account(), f"sip:1003@{DOMAIN}", "text/plain", b"hello pjsua", now())
            ep.flush()
            for handle in (to_bob, to_carol):
                done = await rec.wait_for(RequestDone, 10, lambda e, h=handle: e.request is h)
                assert done.ok, (done.status, done.reason)
            # the first try was challenged by Kamailio (407), the retry carried credentials
            authorized = [r for r in sent_requests(trace, "MESSAGE") if "Proxy-Authorization" in r.headers]
            assert len(authorized) == 2
            await until(lambda: "hello baresip" in bob.log(), 5, "baresip to show the message")
            im = await wait_peer(carol, lambda e: e["event"] == "im", "the MESSAGE at pjsua2")
            assert im["body"] == "hello pjsua" and "1001" in im["sender"]
            await asyncio.to_thread(carol.command, "message", uri=f"sip:1001@{DOMAIN}", body="hi wcs")
            got = await rec.wait_for(MessageReceived)
            assert got.body == b"hi wcs" and got.session is None and got.account is not None
            assert got.sender.uri.user == "1003"
        finally:
            ep.close()

    run(main)


# ---------------------------------------------------------------- PRACK, session timers


def test_100rel_both_ways_with_pjsua2(kamailio: Kamailio, trace: Trace,
                                     pjsua2: Callable[..., Pjsua2]) -> None:
    bob = pjsua2("1002", prack="mandatory")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)

        def react(event: UaEvent) -> None:
            if isinstance(event, IncomingCall):
                ep.ring(event.session)
                loop = asyncio.get_running_loop()
                loop.call_later(0.3, functools.partial(ep.answer, event.session, SDP))

        rec.react = react
        try:
            ep.register(account())
            await rec.wait_for(RegistrationChanged, match=lambda e: e.state == "registered")
            out = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            await rec.wait_for(CallAnswered, match=lambda e: e.session is out)
            rel = [m for m in trace.messages("recv") if isinstance(m, Response) and 100 < m.status < 200
                   and m.headers.get("RSeq")]
            assert rel and sent_requests(trace, "PRACK")[0].headers.get("RAck") == \
                f"{rel[0].headers.get('RSeq')} {rel[0].cseq.seq} INVITE"
            ep.cancel_or_bye(out)
            await rec.wait_for(CallEnded, match=lambda e: e.session is out)
            await asyncio.to_thread(bob.command, "call", uri=f"sip:1001@{DOMAIN}")
            incoming = await rec.wait_for(IncomingCall)
            await rec.wait_for(CallAnswered, match=lambda e: e.session is incoming.session)
            ringing = [m for m in trace.messages("send") if isinstance(m, Response) and m.status == 180]
            assert ringing[-1].headers.get("Require") == "100rel" and ringing[-1].headers.get("RSeq")
            assert received_requests(trace, "PRACK"), "pjsua2 PRACKed our reliable 180"
            ep.cancel_or_bye(incoming.session)
            await rec.wait_for(CallEnded, match=lambda e: e.session is incoming.session)
        finally:
            ep.close()

    run(main)


def test_session_timer_refresh_with_pjsua2(kamailio: Kamailio, trace: Trace,
                                           pjsua2: Callable[..., Pjsua2]) -> None:
    pjsua2("1002", timer="optional", session_expires=90)

    async def main() -> None:
        rec = Recorder()
        # a 90 s session timer (RFC 4028's minimum), the gateway refreshing
        ep = await endpoint(rec, trace, UaConfig(session_expires=90, refresher="local"))
        try:
            session = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            await rec.wait_for(CallAnswered)
            invite = sent_requests(trace, "INVITE")[-1]
            assert invite.headers.get("Session-Expires") == "90;refresher=uac"
            ok = [m for m in trace.messages("recv") if isinstance(m, Response) and m.status == 200
                  and m.cseq.method == "INVITE"][-1]
            assert (ok.headers.get("Session-Expires") or "").startswith("90;refresher=uac")
            refresh = await rec.wait_for(ReinviteDone, 60, lambda e: e.refresh)
            assert refresh.ok and refresh.method == "UPDATE"   # pjsua2 allows UPDATE: no body (§7.4)
            assert session.state == "confirmed"
            ep.cancel_or_bye(session)
            await rec.wait_for(CallEnded)
        finally:
            ep.close()

    run(main, timeout=120.0)

