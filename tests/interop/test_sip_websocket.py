"""Our SIP endpoint as a SIP WebSocket client (RFC 7118) against a real Kamailio with its
websocket module (tests/data/interop/kamailio-ws.cfg: ws://127.0.0.1:5266/, UDP 5260) and a
baresip registered over UDP: REGISTER with digest over ws (the binding shows in ``ul.dump``),
a call from us to baresip and a call from baresip to us, both over our WebSocket connection;
and the gateway with ``sip_transport=ws`` registering and calling for a browser.

Our Via and Contact carry a ``.invalid`` host (RFC 7118 Appendix B.1); Kamailio reaches us
through the connection (nathelper: fix_nated_register, add_contact_alias, handle_ruri_alias).
This Kamailio has its own ports so it can run beside the session's (5060/5061); the domain is
``localhost`` (a port-less alias there), so ``sip:user@localhost`` is Kamailio's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wcs.aio.sip import TlsSettings
from wcs.sip.transport import Address
from wcs.sip.ua import Account, CallAnswered, CallEnded, IncomingCall, RegistrationChanged

from .conftest import RigLog
from .rig.baresip import Baresip
from .rig.browser import Phone
from .rig.common import RigError
from .rig.kamailio import WS_CONFIG, Kamailio
from .test_call_scenarios import BARESIP_HZ, CALL_TERMINAL, check_browser_audio
from .test_sip_transports import LOOPBACK, SDP, Recorder, Trace, endpoint, run

pytestmark = pytest.mark.interop

DOMAIN = "localhost"


@pytest.fixture(scope="module")
def ws_kamailio_server(tmp_path_factory: pytest.TempPathFactory,
                       _netns_problem: str | None) -> Iterator[Kamailio]:
    if _netns_problem:
        pytest.fail(_netns_problem, pytrace=False)
    kam = Kamailio(tmp_path_factory.mktemp("kamailio-ws"), udp_port=5260, tls_port=5261, ws_port=5266,
                   tls=False, config=WS_CONFIG)
    try:
        kam.start()
    except RigError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield kam
    kam.stop()


@pytest.fixture
def ws_kamailio(ws_kamailio_server: Kamailio, rig_log: RigLog) -> Kamailio:
    if ws_kamailio_server.proc is None or not ws_kamailio_server.proc.alive():
        pytest.fail("Kamailio (WebSocket) is no longer running:\n"
                    + ws_kamailio_server.log_text(max_chars=4000), pytrace=False)
    ws_kamailio_server.clear_registrations()
    rig_log.add_file("kamailio-ws.log", ws_kamailio_server.log_path)
    rig_log.add_source("kamailio-ws registrations (ul.dump)", ws_kamailio_server.ul_dump)
    return ws_kamailio_server


@pytest.fixture
def ws_trace(rig_log: RigLog) -> Trace:
    t = Trace()
    rig_log.add_source("our SIP trace", t.dump, first=True)
    return t


@pytest.fixture
def udp_baresip(ws_kamailio: Kamailio, tmp_path: Path, rig_log: RigLog) -> Iterator[Callable[..., Baresip]]:
    """baresip registered over UDP at the WebSocket Kamailio, as user@localhost."""
    started: list[Baresip] = []

    def make(user: str, **kwargs: Any) -> Baresip:
        ua = Baresip(tmp_path, user, ws_kamailio.users[user], proxy_port=ws_kamailio.udp_port, domain=DOMAIN,
                     **kwargs)
        rig_log.add_file(f"baresip {ua.name} (SIP trace)", ua.log_path, 0)
        rig_log.add_source(f"baresip {ua.name} ctrl events", lambda: "\n".join(map(str, ua.events)))
        try:
            ua.start()
        except RigError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(ua)
        return ua

    yield make
    for ua in started:
        ua.stop()


def ws_proxy(kamailio: Kamailio) -> Address:
    return Address(LOOPBACK, kamailio.ws_port, "ws")


def ws_account(kamailio: Kamailio) -> Account:
    return Account("1001", DOMAIN, password="pass1001", proxy=ws_proxy(kamailio))


def test_register_over_websocket_with_digest(ws_kamailio: Kamailio, ws_trace: Trace) -> None:
    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, ws_trace, ws_kamailio, tcp=False, tls=TlsSettings())
        try:
            reg = ep.register(ws_account(ws_kamailio), expires=300)
            changed = await rec.wait_for(RegistrationChanged)
            assert (changed.state, changed.status) == ("registered", 200)
            registers = ws_trace.sent("REGISTER")
            assert [dest for dest, _ in registers] == [ws_proxy(ws_kamailio)] * 2   # 401, then credentials
            host = registers[-1][1].top_via.host
            assert host.endswith(".invalid") and registers[-1][1].top_via.transport == "WS"
            contacts = await asyncio.to_thread(ws_kamailio.wait_registered, "1001", 5.0)
            assert contacts == [f"sip:1001@{host};transport=ws"], contacts
            dump = await asyncio.to_thread(ws_kamailio.ul_dump)
            # the binding remembers the connection (nathelper fix_nated_register → received)
            [conn] = ep.connections.values()
            assert not conn.inbound and conn.key == ws_proxy(ws_kamailio)
            assert "transport=ws" in dump and f"Received: sip:{LOOPBACK}:" in dump, dump
            assert {a.transport for _, a, _ in ws_trace.items} == {"ws"}
            ep.unregister(reg)
            await rec.wait_for(RegistrationChanged, match=lambda e: e.state == "unregistered")
            await asyncio.to_thread(ws_kamailio.wait_unregistered, "1001", 5.0)
        finally:
            ep.close()
            await ep.wait_closed()

    run(main)


def test_call_from_us_over_websocket_to_baresip_on_udp(ws_kamailio: Kamailio, ws_trace: Trace,
                                                       udp_baresip: Callable[..., Baresip]) -> None:
    bob = udp_baresip("1002")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, ws_trace, ws_kamailio, tcp=False, tls=TlsSettings())
        try:
            session = ep.invite(ws_account(ws_kamailio), f"sip:1002@{DOMAIN}", SDP)
            answered = await rec.wait_for(CallAnswered)
            assert answered.session is session and b"PCMU/8000" in (answered.sdp or b"")
            await asyncio.to_thread(bob.wait_event, "CALL_ESTABLISHED", 10.0)
            ep.cancel_or_bye(session)
            ended = await rec.wait_for(CallEnded)
            assert (ended.cause, ended.status) == ("local-bye", 200)
            await asyncio.to_thread(bob.wait_event, "CALL_CLOSED", 10.0)
            assert {a for d, a, _ in ws_trace.items} == {ws_proxy(ws_kamailio)}
            methods = [data.split(b" ", 1)[0] for d, _, data in ws_trace.items if d == "send"
                       and not data.startswith(b"SIP/2.0")]
            assert methods == [b"INVITE", b"ACK", b"INVITE", b"ACK", b"BYE"], methods   # 407 once
        finally:
            ep.close()
            await ep.wait_closed()

    run(main)


def test_call_from_baresip_reaches_us_over_our_websocket(ws_kamailio: Kamailio, ws_trace: Trace,
                                                         udp_baresip: Callable[..., Baresip]) -> None:
    bob = udp_baresip("1002")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, ws_trace, ws_kamailio, tcp=False, tls=TlsSettings())
        try:
            ep.register(ws_account(ws_kamailio), expires=300)
            await rec.wait_for(RegistrationChanged, match=lambda e: e.state == "registered")
            await asyncio.to_thread(bob.dial, f"sip:1001@{DOMAIN}")
            incoming = await rec.wait_for(IncomingCall)
            [(direction, source, data)] = [i for i in ws_trace.items if i[2].startswith(b"INVITE ")]
            assert direction == "recv" and source == ws_proxy(ws_kamailio)   # over our connection
            ep.answer(incoming.session, SDP)
            await rec.wait_for(CallAnswered)
            await asyncio.to_thread(bob.wait_event, "CALL_ESTABLISHED", 10.0)
            # baresip hangs up: the BYE follows our Contact's alias back over the WebSocket
            await asyncio.to_thread(bob.hangup)
            ended = await rec.wait_for(CallEnded)
            assert ended.cause == "remote-bye", ended
            assert {a for _, a, _ in ws_trace.items} == {ws_proxy(ws_kamailio)}
        finally:
            ep.close()
            await ep.wait_closed()

    run(main)


def test_gateway_registers_and_calls_over_websocket(ws_kamailio: Kamailio,
                                                    udp_baresip: Callable[..., Baresip],
                                                    make_gateway: Any, phone: Phone) -> None:
    """Chromium + the WebSDK ⇄ gateway (sip_transport=ws) ⇄ Kamailio's WebSocket ⇄ baresip on UDP."""
    bob = udp_baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    gateway = make_gateway(extra_args=["--set", "sip_transport=ws", "--set", "sip_ws_path=/sip"])
    phone.connect(url=gateway.ws_url, login="1001", auth_name="1001", password="pass1001",
                  domain=DOMAIN, outbound_proxy=LOOPBACK, port=str(ws_kamailio.ws_port),
                  register_required=True)
    phone.wait_event("session", "REGISTERED", 15, fail_on=("FAILED", "DISCONNECTED"))
    [contact] = ws_kamailio.registrations()["1001"]
    assert ".invalid;" in contact and contact.endswith(";transport=ws"), contact
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bob.wait_event("CALL_ESTABLISHED", 5), bob.event_types()
    check_browser_audio(phone, BARESIP_HZ)
