"""RFC 3263 over real DNS packets: SipResolver (dnspython) against a DNS server on 127.0.0.1, and
an endpoint failing over between SRV targets.  Everything stays on loopback; the tests wait for
events with bounded timeouts, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from wcs.aio.dns import LocateError, SipResolver, parse_nameserver
from wcs.aio.sip import create_sip_endpoint
from wcs.entropy import SeededEntropy
from wcs.sip.locate import Target
from wcs.sip.message import Request, parse_message
from wcs.sip.transport import Address
from wcs.sip.ua import Account, CallEnded, IncomingCall, RegistrationChanged
from wcs.timers import TimerConfig

from .sipdns import DnsResponder, zone_text
from .test_sip_endpoint import FakeRegistrar, Recorder

FAST = TimerConfig(t1=0.02, t2=0.16, t4=0.2, timer_d=0.5)


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 20.0))


def test_naptr_srv_and_address_records_from_a_loopback_server() -> None:
    async def main() -> None:
        server = await DnsResponder.start(zone_text("pbx.zone", dead=5098, live=5099))
        try:
            resolver = SipResolver([server.address], entropy=SeededEntropy(1), families=("A", "AAAA"))
            addresses = await resolver.locate(Target("pbx.test"))
            assert addresses == [Address("127.0.0.1", 5098, "tcp"), Address("127.0.0.1", 5099, "tcp"),
                                 Address("::1", 5099, "tcp"), Address("127.0.0.1", 5098, "udp"),
                                 Address("127.0.0.1", 5099, "udp"), Address("::1", 5099, "udp")]
            assert server.asked[0] == ("pbx.test", "NAPTR")
            assert ("_sip._sctp.pbx.test", "SRV") not in server.asked
            # a transport given: that SRV only; a port given: addresses only
            assert await resolver.locate(Target("pbx.test", transport="udp")) == addresses[3:]
            asked = len(server.asked)
            assert await resolver.locate(Target("live.pbx.test", 5070)) == [
                Address("127.0.0.1", 5070, "udp"), Address("::1", 5070, "udp")]
            assert server.asked[asked:] == []   # both address records were cached already
            # no SRV: the name on the default port
            assert await resolver.locate(Target("plain.pbx.test", transport="tcp")) == [
                Address("127.0.0.1", 5060, "tcp")]
        finally:
            server.close()

    run(main)


def test_answers_are_cached_for_their_ttl() -> None:
    async def main() -> None:
        server = await DnsResponder.start(zone_text("pbx.zone", dead=5098, live=5099))
        now = [1000.0]
        try:
            resolver = SipResolver([server.address], entropy=SeededEntropy(1), families=("A",),
                                   clock=lambda: now[0])
            target = Target("pbx.test", transport="udp")
            assert resolver.cached(target) is None
            first = await resolver.locate(target)
            asked = len(server.asked)
            assert resolver.cached(target) == first          # synchronously, no I/O
            now[0] += 299.0
            assert await resolver.locate(target) == first and len(server.asked) == asked
            now[0] += 2.0                                    # past the zone's TTL of 300 s
            assert resolver.cached(target) is None
            assert await resolver.locate(target) == first and len(server.asked) > asked
        finally:
            server.close()

    run(main)


def test_missing_names_fail_with_a_reason_and_are_cached_negatively() -> None:
    async def main() -> None:
        server = await DnsResponder.start(zone_text("pbx.zone", dead=5098, live=5099))
        try:
            resolver = SipResolver([server.address], families=("A",))
            with pytest.raises(LocateError) as failed:
                await resolver.locate(Target("nope.pbx.test", transport="udp"))
            assert str(failed.value) == "cannot resolve nope.pbx.test: no SIP server found for " \
                                        "sip:nope.pbx.test;transport=udp"
            asked = len(server.asked)
            with pytest.raises(LocateError):
                await resolver.locate(Target("nope.pbx.test", transport="udp"))
            assert len(server.asked) == asked
        finally:
            server.close()

    run(main)


def test_an_unreachable_nameserver_is_named_in_the_reason() -> None:
    async def main() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            resolver = SipResolver([f"127.0.0.1:{silent.getsockname()[1]}"], families=("A",), timeout=0.3)
            with pytest.raises(LocateError) as failed:
                await resolver.locate(Target("x.pbx.test", 5060))
            assert str(failed.value).startswith("cannot resolve x.pbx.test: no SIP server found for "
                                                "sip:x.pbx.test:5060 (A x.pbx.test: ")
        finally:
            silent.close()

    run(main)


def test_names_dns_does_not_know_fall_back_to_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        server = await DnsResponder.start(zone_text("pbx.zone", dead=5098, live=5099))
        loop = asyncio.get_running_loop()

        async def hosts_file(host: str, port: object, **kwargs: object) -> list[tuple[object, ...]]:
            if host != "gateway-host":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.9", 0))]

        monkeypatch.setattr(loop, "getaddrinfo", hosts_file)
        try:
            resolver = SipResolver([server.address], families=("A",))
            assert await resolver.locate(Target("gateway-host", 5070)) == [Address("127.0.0.9", 5070)]
            # localhost never needs DNS nor getaddrinfo (RFC 6761 §6.3)
            assert await resolver.locate(Target("localhost", 5070, "tcp")) == [
                Address("127.0.0.1", 5070, "tcp")]
        finally:
            server.close()

    run(main)


def test_nameserver_notation() -> None:
    assert parse_nameserver("192.0.2.1") == ("192.0.2.1", 53)
    assert parse_nameserver(" 192.0.2.1:5353 ") == ("192.0.2.1", 5353)
    assert parse_nameserver("[2001:db8::1]:5353") == ("2001:db8::1", 5353)
    assert parse_nameserver("[2001:db8::1]") == ("2001:db8::1", 53)
    assert parse_nameserver("2001:db8::1") == ("2001:db8::1", 53)


# ---------------------------------------------------------------- the endpoint: failover (RFC 3263 §4.3)


class Silent(asyncio.DatagramProtocol):
    """A UDP "server" that never answers; records what it got."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        message = parse_message(data)
        assert isinstance(message, Request)
        self.seen.append(message)


def test_registration_fails_over_from_a_silent_srv_target_to_the_next() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        dead_transport, dead = await loop.create_datagram_endpoint(Silent, local_addr=("127.0.0.1", 0))
        live_transport, live = await loop.create_datagram_endpoint(FakeRegistrar, local_addr=("127.0.0.1", 0))
        dead_port = dead_transport.get_extra_info("sockname")[1]
        live_port = live_transport.get_extra_info("sockname")[1]
        server = await DnsResponder.start(zone_text("pbx.zone", dead=dead_port, live=live_port))
        rec = Recorder()
        ep = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST, dns_servers=[server.address])
        try:
            ep.register(Account("1001", "pbx.test", password="pw", proxy=Address("pbx.test", 0, "udp")))
            changed = await rec.wait_for(RegistrationChanged)
            assert isinstance(changed, RegistrationChanged) and changed.state == "registered"
            first = dead.seen[0]                 # the first REGISTER and its Timer E retransmissions
            assert len(dead.seen) > 3 and {r.top_via.branch for r in dead.seen} == {first.top_via.branch}
            assert [r.top_via.branch for r in live.seen][0] != first.top_via.branch
            assert live.seen[0].cseq == first.cseq and live.seen[0].call_id == first.call_id
            assert ("_sip._udp.pbx.test", "SRV") in server.asked
        finally:
            ep.close()
            server.close()
            dead_transport.close()
            live_transport.close()

    run(main)


def test_call_to_an_unknown_domain_ends_with_the_dns_reason() -> None:
    async def main() -> None:
        server = await DnsResponder.start(zone_text("pbx.zone", dead=5098, live=5099))
        rec = Recorder()
        ep = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST, dns_servers=[server.address])
        try:
            ep.invite(Account("a", "nope.test"), "b", b"v=0\r\n")
            end = await rec.wait_for(CallEnded)
            assert isinstance(end, CallEnded) and (end.cause, end.status) == ("failed", 503)
            assert end.reason == "cannot resolve nope.test: no SIP server found for sip:nope.test"
            assert server.asked[0] == ("nope.test", "NAPTR")
        finally:
            ep.close()
            server.close()

    run(main)


def test_tcp_srv_target_refusing_connections_fails_over_at_once() -> None:
    async def main() -> None:
        closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        closed.bind(("127.0.0.1", 0))            # bound, not listening: connections are refused
        rec_b = Recorder()
        b = await create_sip_endpoint("127.0.0.1", 0, rec_b, timers=FAST)
        server = await DnsResponder.start(zone_text("pbx.zone", dead=closed.getsockname()[1],
                                                    live=b.listeners["tcp"].port))
        rec = Recorder()
        a = await create_sip_endpoint("127.0.0.1", 0, rec, timers=TimerConfig(), dns_servers=[server.address])
        try:
            a.invite(Account("alice", "pbx.test", proxy=Address("pbx.test", 0, "tcp")), "bob", b"v=0\r\n")
            await rec_b.wait_for(IncomingCall)
            assert set(a.connections) == {Address("127.0.0.1", b.listeners["tcp"].port, "tcp")}
        finally:
            a.close()
            b.close()
            server.close()
            closed.close()

    run(main)

