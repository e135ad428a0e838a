"""Our UserAgent (through the asyncio UDP endpoint) against a real Kamailio and real baresip UAs.

Kamailio (registrar + proxy, digest auth) listens on 127.0.0.1:5160; baresip 1002 registers
there; our UA is 1001.  Everything is on loopback; every process is started and stopped by
the fixtures here (tests/interop/sipua_helpers.py).  No media flows: our SDP offers PCMU
to a port nobody listens on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wcs.sip.message import Request, Response
from wcs.sip.ua import CallAnswered, CallEnded, CallProgress, IncomingCall, RegistrationChanged, UaEvent

from .sipua_helpers import (
    DOMAIN,
    LOOPBACK,
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

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    yield from kamailio_fixture(tmp_path_factory.mktemp("sipua-kamailio"))


@pytest.fixture
def trace(kamailio: Kamailio, rig_log: Any) -> Trace:
    return trace_fixture(kamailio, rig_log)


@pytest.fixture
def baresip(tmp_path: Path, rig_log: Any, kamailio: Kamailio) -> Iterator[Callable[..., Baresip]]:
    yield from baresip_fixture(tmp_path, rig_log)


# ---------------------------------------------------------------- scenarios


def test_register_with_digest_then_unregister(kamailio: Kamailio, trace: Trace) -> None:
    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)
        try:
            reg = ep.register(account(), expires=300)
            changed = await rec.wait_for(RegistrationChanged)
            assert (changed.state, changed.status) == ("registered", 200)
            assert trace.first_lines("send", "REGISTER") == [f"REGISTER sip:{DOMAIN} SIP/2.0"] * 2
            assert trace.first_lines("recv", "SIP/2.0") == ["SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK"]
            assert reg.granted == 300 and reg.refresh_at is not None
            contact = f"sip:1001@{LOOPBACK}:{ep.local_address.port}"
            await until(lambda: contact in kamailio.contacts("1001"), 5, "our binding in ul.dump")
            ep.unregister(reg)
            changed = await rec.wait_for(RegistrationChanged, match=lambda e: e.state == "unregistered")
            assert changed.status == 200
            await until(lambda: not kamailio.contacts("1001"), 5, "the binding to go")
        finally:
            ep.close()

    run(main)


def test_wrong_password_fails_401_without_a_loop(kamailio: Kamailio, trace: Trace) -> None:
    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)
        try:
            reg = ep.register(account(password="not-the-password"))
            changed = await rec.wait_for(RegistrationChanged)
            assert (changed.state, changed.status, changed.reason) == ("failed", 401, "Unauthorized")
            assert reg.refresh_at is None  # nothing planned: no retry loop
            await asyncio.sleep(0.5)  # observe the wire a little longer: still two REGISTERs only
            assert len(trace.first_lines("send", "REGISTER")) == 2
            assert [e for e in rec.events if isinstance(e, RegistrationChanged)] == [changed]
        finally:
            ep.close()

    run(main)


def test_call_to_baresip_through_kamailio(kamailio: Kamailio, trace: Trace,
                                          baresip: Callable[..., Baresip]) -> None:
    bob = baresip("1002", answermode="auto")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)
        try:
            session = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            answered = await rec.wait_for(CallAnswered)
            assert answered.session is session and answered.sdp is not None
            assert b"PCMU/8000" in answered.sdp
            # 407 challenge, ACK for it, INVITE again with credentials, then the 2xx and its ACK
            sent = [line.split()[0] for _, line in trace.lines if _ == "send"]
            assert sent[:4] == ["INVITE", "ACK", "INVITE", "ACK"]
            assert "SIP/2.0 407 Proxy Authentication Required" in trace.first_lines("recv", "SIP/2.0 407")
            invites = [m for m in trace.messages("send") if isinstance(m, Request) and m.method == "INVITE"]
            assert "Proxy-Authorization" in invites[1].headers and str(invites[1].cseq) == "2 INVITE"
            acks = [m for m in trace.messages("send") if isinstance(m, Request) and m.method == "ACK"]
            assert acks[-1].headers.get("Route") is not None  # through Kamailio's Record-Route
            await until(lambda: bob.has_event("CALL_ESTABLISHED"), 10, "baresip CALL_ESTABLISHED")
            ep.cancel_or_bye(session)
            ended = await rec.wait_for(CallEnded)
            assert (ended.cause, ended.status) == ("local-bye", 200)
            await until(lambda: bob.has_event("CALL_CLOSED"), 10, "baresip CALL_CLOSED")
        finally:
            ep.close()

    run(main)


def test_baresip_calls_our_registered_ua(kamailio: Kamailio, trace: Trace,
                                         baresip: Callable[..., Baresip]) -> None:
    bob = baresip("1002")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)

        def on_event(event: UaEvent) -> None:
            if isinstance(event, IncomingCall):
                ep.ring(event.session)
                ep.answer(event.session, SDP)

        rec.react = on_event
        try:
            ep.register(account())
            await rec.wait_for(RegistrationChanged, match=lambda e: e.state == "registered")
            await asyncio.to_thread(bob.command, "dial", f"sip:1001@{DOMAIN}")
            incoming = await rec.wait_for(IncomingCall)
            assert incoming.session.account is not None and incoming.session.account.user == "1001"
            assert incoming.session.remote_uri.startswith("sip:1002@")
            answered = await rec.wait_for(CallAnswered)  # the ACK for our 200 arrived
            assert answered.session is incoming.session
            assert trace.first_lines("send", "SIP/2.0 1") == ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]
            await until(lambda: bob.has_event("CALL_ESTABLISHED"), 10, "baresip CALL_ESTABLISHED")
            await asyncio.to_thread(bob.command, "hangup")
            ended = await rec.wait_for(CallEnded)
            assert ended.cause == "remote-bye"
            byes = [m for m in trace.messages("recv") if isinstance(m, Request) and m.method == "BYE"]
            assert byes and [m for m in trace.messages("send")
                             if isinstance(m, Response) and m.cseq.method == "BYE"][0].status == 200
        finally:
            ep.close()

    run(main)


def test_cancel_before_answer_gets_487(kamailio: Kamailio, trace: Trace,
                                       baresip: Callable[..., Baresip]) -> None:
    baresip("1002", answermode="manual")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace)
        try:
            session = ep.invite(account(), f"sip:1002@{DOMAIN}", SDP)
            progress = await rec.wait_for(CallProgress)
            assert progress.status == 180
            ep.cancel_or_bye(session)
            ended = await rec.wait_for(CallEnded)
            assert (ended.cause, ended.status, ended.reason) == ("cancelled", 487, "Request Terminated")
            assert trace.first_lines("send", "CANCEL")
        finally:
            ep.close()

    run(main)
