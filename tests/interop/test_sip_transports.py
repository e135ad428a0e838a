"""Our SIP endpoint against the rig's Kamailio (UDP/TCP 5060, TLS 5061 with a self-signed
certificate) and a baresip callee: REGISTER with digest and a call over each transport, TLS
verification with and without the CA file, a >1300-byte INVITE moved to TCP (RFC 3261 §18.1.1),
and RFC 3263 SRV failover from a silent target to Kamailio through a DNS server on loopback.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from wcs.aio.sip import SipEndpoint, TlsSettings, create_sip_endpoint
from wcs.sip.message import Request, make_response, parse_message
from wcs.sip.transport import Address
from wcs.sip.ua import Account, CallAnswered, CallEnded, RegistrationChanged, UaEvent
from wcs.timers import TimerConfig

from ..aio.sipdns import DnsResponder, zone_text
from .rig.baresip import Baresip
from .rig.kamailio import Kamailio

pytestmark = pytest.mark.interop

LOOPBACK = "127.0.0.1"
SDP = (b"v=0\r\no=wcs 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40998 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
       b"a=sendrecv\r\n")
#: audio plus a browser-like video offer: well over 1300 bytes with the headers
VIDEO = (b"m=video 40996 RTP/AVP 96 97 98 99 100 101 102 103 104 105 106 107\r\n"
         + b"".join(b"a=rtpmap:%d %s/90000\r\na=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\n"
                    b"a=rtcp-fb:%d ccm fir\r\na=rtcp-fb:%d goog-remb\r\n" % (pt, name, pt, pt, pt, pt)
                    for pt, name in zip(range(96, 108), [b"VP8", b"VP9", b"H264", b"AV1"] * 3, strict=True))
         + b"a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
         + b"a=sendrecv\r\n")


class Recorder:
    def __init__(self) -> None:
        self.events: list[UaEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: UaEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, kind: type[Any], timeout: float = 10.0,
                       match: Callable[[Any], bool] = lambda event: True) -> Any:
        async def scan() -> Any:
            while True:
                for event in self.events:
                    if isinstance(event, kind) and match(event):
                        return event
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(scan(), timeout)


class Trace:
    def __init__(self) -> None:
        self.items: list[tuple[str, Address, bytes]] = []

    def __call__(self, direction: str, data: bytes, address: Address) -> None:
        if data.strip():
            self.items.append((direction, address, data))

    def sent(self, method: str) -> list[tuple[Address, Request]]:
        out = []
        for direction, address, data in self.items:
            if direction == "send" and data.startswith(method.encode() + b" "):
                message = parse_message(data)
                assert isinstance(message, Request)
                out.append((address, message))
        return out

    def dump(self) -> str:
        return "\n".join(f"--- {d} {a.host}:{a.port}/{a.transport}\n{data.decode('utf-8', 'replace')}"
                         for d, a, data in self.items)


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 60.0))


@pytest.fixture
def trace(rig_log: Any) -> Trace:
    t = Trace()
    rig_log.add_source("our SIP trace", t.dump, first=True)
    return t


def tls_settings(kamailio: Kamailio, **changes: Any) -> TlsSettings:
    """Kamailio's self-signed certificate as our CA, and as our own listener's certificate."""
    base: dict[str, Any] = dict(ca_file=str(kamailio.cert), cert_file=str(kamailio.cert),
                                key_file=str(kamailio.key))
    base.update(changes)
    return TlsSettings(**base)


async def endpoint(rec: Recorder, trace: Trace, kamailio: Kamailio, **kwargs: Any) -> SipEndpoint:
    kwargs.setdefault("tls", tls_settings(kamailio))
    return await create_sip_endpoint(LOOPBACK, 0, rec, trace=trace, user_agent="wcs-interop", **kwargs)


def account(proxy: Address) -> Account:
    return Account("1001", LOOPBACK, password="pass1001", proxy=proxy)


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_register_and_call_over_each_transport(transport: str, kamailio: Kamailio, trace: Trace,
                                               baresip: Callable[..., Baresip]) -> None:
    bob = baresip("1002")
    proxy = Address(LOOPBACK, kamailio.tls_port if transport == "tls" else kamailio.udp_port, transport)

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace, kamailio)
        try:
            reg = ep.register(account(proxy), expires=300)
            changed = await rec.wait_for(RegistrationChanged)
            assert (changed.state, changed.status) == ("registered", 200)
            contacts = await asyncio.to_thread(kamailio.wait_registered, "1001", 5.0)
            ours = ep.ua.router.listener(transport)
            assert ours is not None
            suffix = "" if transport == "udp" else f";transport={transport}"
            assert f"sip:1001@{LOOPBACK}:{ours.port}{suffix}" in contacts
            session = ep.invite(account(proxy), f"sip:1002@{LOOPBACK}", SDP)
            answered = await rec.wait_for(CallAnswered)
            assert answered.session is session and b"PCMU/8000" in (answered.sdp or b"")
            await asyncio.to_thread(bob.wait_event, "CALL_ESTABLISHED", 10.0)
            ep.cancel_or_bye(session)
            ended = await rec.wait_for(CallEnded)
            assert (ended.cause, ended.status) == ("local-bye", 200)
            invites = trace.sent("INVITE")
            assert [dest for dest, _ in invites] == [proxy, proxy]          # 407, then with credentials
            assert all(r.top_via.transport == transport.upper() and r.top_via.port == ours.port
                       for _, r in invites)
            assert {a.transport for d, a, _ in trace.items} == {transport}
            if transport != "udp":   # one connection to Kamailio carried everything
                assert list(ep.connections) == [proxy]
            ep.unregister(reg)
            await rec.wait_for(RegistrationChanged, match=lambda e: e.state == "unregistered")
        finally:
            ep.close()

    run(main)


def test_tls_without_the_ca_file_fails_with_a_clear_reason(kamailio: Kamailio, trace: Trace) -> None:
    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace, kamailio, tls=TlsSettings())
        try:
            ep.register(account(Address(LOOPBACK, kamailio.tls_port, "tls")))
            changed = await rec.wait_for(RegistrationChanged)
            assert (changed.state, changed.status) == ("failed", 503)
            assert changed.reason == (
                f"TLS connection to {LOOPBACK}:{kamailio.tls_port} failed: certificate verify failed: "
                "self-signed certificate (trust the server's CA with tls_ca_file, or set tls_server_name to "
                "the name in its certificate)")
        finally:
            ep.close()

    run(main)


def test_large_invite_goes_over_tcp(kamailio: Kamailio, trace: Trace,
                                    baresip: Callable[..., Baresip]) -> None:
    bob = baresip("1002")
    proxy = Address(LOOPBACK, kamailio.udp_port, "udp")

    async def main() -> None:
        rec = Recorder()
        ep = await endpoint(rec, trace, kamailio)
        try:
            session = ep.invite(account(proxy), f"sip:1002@{LOOPBACK}", SDP + VIDEO)
            answered = await rec.wait_for(CallAnswered)
            assert answered.session is session
            await asyncio.to_thread(bob.wait_event, "CALL_ESTABLISHED", 10.0)
            invites = trace.sent("INVITE")
            tcp = Address(LOOPBACK, kamailio.udp_port, "tcp")
            assert [dest for dest, _ in invites] == [tcp, tcp]
            port = ep.listeners["tcp"].port
            assert all(str(r.top_via).startswith(f"SIP/2.0/TCP {LOOPBACK}:{port};") and len(bytes(r)) > 1300
                       for _, r in invites)
            # the INVITE that reached the callee: our Via says TCP, Kamailio stamped the connection's port
            assert re.search(rf"\nVia: SIP/2.0/TCP {LOOPBACK}:{port};received={LOOPBACK};rport=\d+;branch="
                             rf"{invites[-1][1].top_via.branch}\r?\n", bob.sip_trace())
            # a small request of the same account is back on UDP
            ep.register(account(proxy), expires=60)
            await rec.wait_for(RegistrationChanged)
            assert trace.sent("REGISTER")[0][0] == proxy
            ep.cancel_or_bye(session)
            await rec.wait_for(CallEnded)
        finally:
            ep.close()

    run(main)


class Silent(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.count = 0

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.count += 1


class Unavailable(Silent):
    """A server in maintenance: every request gets 503 (a failure Kamailio is not set up to give)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        super().datagram_received(data, addr)
        request = parse_message(data)
        if isinstance(request, Request) and request.method != "ACK":
            reply = make_response(request, 503, "Service Unavailable", to_tag="maint")
            self.transport.sendto(bytes(reply), addr)  # type: ignore[attr-defined]


@pytest.mark.parametrize("first_target", [Silent, Unavailable], ids=["silent", "503"])
def test_srv_failover_from_a_failing_target_to_kamailio(
        first_target: type[Silent], kamailio: Kamailio, trace: Trace,
        caplog: pytest.LogCaptureFixture) -> None:
    """RFC 3263 §4.3: no answer (Timer F) or a 503 from the first SRV target → the next one."""
    caplog.set_level(logging.INFO, logger="wcs")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        dead_transport, dead = await loop.create_datagram_endpoint(first_target, local_addr=(LOOPBACK, 0))
        dead_port = dead_transport.get_extra_info("sockname")[1]
        dns = await DnsResponder.start(zone_text("pbx.zone", dead=dead_port, live=kamailio.udp_port))
        rec = Recorder()
        ep = await endpoint(rec, trace, kamailio, dns_servers=[dns.address],
                            timers=TimerConfig(t1=0.025, t2=0.2, t4=0.25))
        try:
            ep.register(account(Address("pbx.test", 0, "udp")), expires=300)
            changed = await rec.wait_for(RegistrationChanged)
            assert (changed.state, changed.status) == ("registered", 200)
            registers = trace.sent("REGISTER")
            assert registers[0][0] == Address(LOOPBACK, dead_port, "udp") and dead.count >= 1
            live = [(dest, r) for dest, r in registers if dest.port == kamailio.udp_port]
            assert len(live) == 2                          # 401 challenge, then with credentials
            assert live[0][1].top_via.branch != registers[0][1].top_via.branch
            assert ("_sip._udp.pbx.test", "SRV") in dns.asked
            await asyncio.to_thread(kamailio.wait_registered, "1001", 5.0)
            why = "503 Service Unavailable" if first_target is Unavailable else "no response"
            assert f"REGISTER to {LOOPBACK}:{dead_port}/udp failed ({why})" in caplog.text
        finally:
            ep.close()
            dns.close()
            dead_transport.close()

    run(main)
