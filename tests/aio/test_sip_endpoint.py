"""The asyncio UDP adapter around the UserAgent, on 127.0.0.1 with real sockets.

Timers are shrunk (T1 = 20 ms) through TimerConfig so the few waits that happen are the
protocol's own; the tests wait for events, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import cast

import pytest

from wcs.aio.sip import SipUdpEndpoint, create_sip_endpoint
from wcs.entropy import SeededEntropy
from wcs.sip.auth import parse_credentials
from wcs.sip.message import Request, make_response, parse_message
from wcs.sip.transport import Address
from wcs.sip.ua import (
    Account,
    CallAnswered,
    CallEnded,
    IncomingCall,
    RegistrationChanged,
    UaEvent,
)
from wcs.timers import TimerConfig

FAST = TimerConfig(t1=0.02, t2=0.16, t4=0.2, timer_d=0.5)
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n"


class Recorder:
    """Collects events; ``wait_for`` returns the first event of a type (with a deadline)."""

    def __init__(self) -> None:
        self.events: list[UaEvent] = []
        self._changed = asyncio.Event()
        self.react: Callable[[UaEvent], None] = lambda event: None

    def __call__(self, event: UaEvent) -> None:
        self.events.append(event)
        self._changed.set()
        self.react(event)

    async def wait_for(self, kind: type[UaEvent], timeout: float = 5.0,
                       match: Callable[[UaEvent], bool] = lambda event: True) -> UaEvent:
        """The first recorded event of type ``kind`` that ``match`` accepts."""
        async def scan() -> UaEvent:
            while True:
                for event in self.events:
                    if isinstance(event, kind) and match(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 20.0))


def test_two_endpoints_call_each_other_on_loopback() -> None:
    async def main() -> None:
        rec_a, rec_b = Recorder(), Recorder()
        a = await create_sip_endpoint("127.0.0.1", 0, rec_a, timers=FAST, entropy=SeededEntropy(1))
        b = await create_sip_endpoint("127.0.0.1", 0, rec_b, timers=FAST, entropy=SeededEntropy(2))
        try:
            def on_b(event: UaEvent) -> None:
                if isinstance(event, IncomingCall):  # the owner reacts inside the callback
                    b.ring(event.session)
                    b.answer(event.session, SDP)

            rec_b.react = on_b
            bport = b.local_address.port
            session = a.invite(Account("alice", f"127.0.0.1:{bport}"), "bob", SDP)
            answered = await rec_a.wait_for(CallAnswered)
            assert isinstance(answered, CallAnswered) and answered.sdp == SDP
            await rec_b.wait_for(CallAnswered)
            a.cancel_or_bye(session)
            end_a = await rec_a.wait_for(CallEnded)
            end_b = await rec_b.wait_for(CallEnded)
            assert isinstance(end_a, CallEnded) and (end_a.cause, end_a.status) == ("local-bye", 200)
            assert isinstance(end_b, CallEnded) and end_b.cause == "remote-bye"
        finally:
            a.close()
            b.close()

    run(main)


class FakeRegistrar(asyncio.DatagramProtocol):
    """Challenges every REGISTER without credentials with 401, accepts the rest."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.seen: list[Request] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # (not a subclass in 3.11)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        request = parse_message(data)
        assert isinstance(request, Request) and self.transport is not None
        self.seen.append(request)
        if "Authorization" in request.headers:
            assert parse_credentials(request.headers.get("Authorization") or "").username == "1001"
            response = make_response(request, 200, to_tag="reg")
            response.headers.add("Expires", request.headers.get("Expires") or "0")
        else:
            response = make_response(request, 401, to_tag="reg")
            response.headers.add("WWW-Authenticate", 'Digest realm="test", nonce="n1", qop="auth"')
        self.transport.sendto(bytes(response), addr)


def test_register_through_a_proxy_given_by_host_name() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, registrar = await loop.create_datagram_endpoint(FakeRegistrar,
                                                                   local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        rec = Recorder()
        ep = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST)
        try:
            acct = Account("1001", "test", password="pw", proxy=Address("localhost", port))
            reg = ep.register(acct, expires=60)
            changed = await rec.wait_for(RegistrationChanged)
            assert isinstance(changed, RegistrationChanged) and changed.state == "registered"
            assert [r.headers.get("Expires") for r in registrar.seen] == ["60", "60"]
            ep.unregister(reg)
            last = await rec.wait_for(RegistrationChanged,
                                      match=lambda e: getattr(e, "state", "") == "unregistered")
            assert isinstance(last, RegistrationChanged) and last.status == 200
            assert registrar.seen[-1].headers.get("Expires") == "0"
        finally:
            ep.close()
            transport.close()

    run(main)


def test_unresolvable_host_is_a_transport_error() -> None:
    async def main() -> None:
        rec = Recorder()
        ep = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST)
        try:
            ep.invite(Account("a", "nowhere.invalid"), "b", SDP)
            end = await rec.wait_for(CallEnded)
            assert isinstance(end, CallEnded) and (end.cause, end.status) == ("failed", 503)
            assert end.reason == "cannot resolve nowhere.invalid: no SIP server found for sip:nowhere.invalid"
        finally:
            ep.close()

    run(main)


def test_unanswered_invite_times_out_through_the_timer_handle() -> None:
    async def main() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        rec = Recorder()
        ep = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST)
        try:
            port = silent.getsockname()[1]
            ep.invite(Account("a", f"127.0.0.1:{port}"), "b", SDP)
            end = await rec.wait_for(CallEnded)  # Timer B = 64*T1 = 1.28 s
            assert isinstance(end, CallEnded) and (end.cause, end.status) == ("timeout", 408)
            silent.setblocking(False)
            received = 0
            while True:
                try:
                    silent.recv(4096)
                except BlockingIOError:
                    break
                received += 1
            # 0, T1, 3T1 … 63*T1: the retransmissions the handle drove; Timer A re-arms from when it
            # fired, so a busy loop may push the last one past Timer B
            assert 5 <= received <= 7
        finally:
            ep.close()
            silent.close()

    run(main)


def test_wildcard_bind_needs_an_advertised_host() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="bound to a wildcard address: give advertised_host"):
            await create_sip_endpoint("0.0.0.0", 0, Recorder())
        ep = await create_sip_endpoint("0.0.0.0", 0, Recorder(), advertised_host="192.0.2.7",
                                       advertised_port=5060)
        try:
            assert ep.local_address == Address("192.0.2.7", 5060)
        finally:
            ep.close()

    run(main)


def test_close_cancels_the_timer_and_ignores_late_datagrams() -> None:
    async def main() -> None:
        rec = Recorder()
        ep = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST)
        ep.invite(Account("a", "127.0.0.1:9"), "b", SDP)
        assert ep.ua.get_timer() is not None and ep._timer is not None
        ep.close()
        assert ep._timer is None
        ep.datagram_received(b"garbage", ("127.0.0.1", 9))
        assert isinstance(ep, SipUdpEndpoint)

    run(main)


def test_flush_sends_what_the_owner_queued_by_driving_the_ua_directly() -> None:
    async def main() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(5.0)
        ep = await create_sip_endpoint("127.0.0.1", 0, Recorder(), timers=FAST)
        try:
            loop = asyncio.get_running_loop()
            port = silent.getsockname()[1]
            ep.ua.invite(Account("a", f"127.0.0.1:{port}"), "b", SDP, loop.time())
            assert ep._timer is None  # nothing armed until the adapter hears about it
            ep.flush()
            data = await asyncio.to_thread(silent.recv, 4096)
            assert data.startswith(b"INVITE sip:b@127.0.0.1:") and ep._timer is not None
        finally:
            ep.close()
            silent.close()

    run(main)
