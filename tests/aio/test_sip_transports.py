"""SIP over TCP, TLS and WebSocket between in-process endpoints on 127.0.0.1: connection reuse,
the RFC 3261 §18.1.1 switch to TCP, stream garbage, CRLF keep-alives, idle cleanup, TLS
verification (CA file, server name, opt-out), RFC 7118 WebSocket clients of ours and our
endpoint as the WebSocket client (WS, WSS, a server without the ``sip`` subprotocol).

Timers are shrunk (T1 = 20 ms) through TimerConfig; the tests wait for events or poll with a
bounded timeout, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wcs.aio.sip import SipEndpoint, TlsSettings, create_sip_endpoint
from wcs.entropy import SeededEntropy
from wcs.sip.message import Request, Response, parse_message
from wcs.sip.transport import Address
from wcs.sip.ua import Account, CallAnswered, CallEnded, IncomingCall, RegistrationChanged, UaEvent
from wcs.timers import TimerConfig

from .test_sip_endpoint import SDP, Recorder

FAST = TimerConfig(t1=0.02, t2=0.16, t4=0.2, timer_d=0.5)
BIG_SDP = SDP + b"a=x-padding:" + b"p" * 1500 + b"\r\n"
OPTIONS = (b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKraw1\r\n"
           b"Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>\r\n"
           b"Call-ID: raw-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 20.0))


class Trace:
    """(direction, transport, first line) of everything an endpoint sent and received."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Address, bytes]] = []

    def __call__(self, direction: str, data: bytes, address: Address) -> None:
        if data.strip():
            self.items.append((direction, address, data))

    def lines(self, direction: str) -> list[tuple[str, str]]:
        return [(a.transport, d.split(b"\r\n", 1)[0].decode()) for dr, a, d in self.items if dr == direction]

    def messages(self, direction: str, start: bytes) -> list[Request | Response]:
        return [parse_message(d) for dr, _, d in self.items if dr == direction and d.startswith(start)]


async def until(check: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def answering(ep_holder: list[SipEndpoint]) -> Callable[[UaEvent], None]:
    def react(event: UaEvent) -> None:
        if isinstance(event, IncomingCall):
            ep_holder[0].answer(event.session, SDP)
    return react


async def pair(**b_kwargs: object) -> tuple[SipEndpoint, Recorder, Trace, SipEndpoint, Recorder, Trace]:
    rec_a, rec_b, trace_a, trace_b = Recorder(), Recorder(), Trace(), Trace()
    a = await create_sip_endpoint("127.0.0.1", 0, rec_a, timers=FAST, entropy=SeededEntropy(1), trace=trace_a)
    b = await create_sip_endpoint("127.0.0.1", 0, rec_b, timers=FAST, entropy=SeededEntropy(2), trace=trace_b,
                                  **b_kwargs)  # type: ignore[arg-type]
    rec_b.react = answering([b])
    return a, rec_a, trace_a, b, rec_b, trace_b


def test_tcp_call_uses_one_connection_both_ways() -> None:
    async def main() -> None:
        a, rec_a, trace_a, b, rec_b, trace_b = await pair()
        try:
            port = b.listeners["tcp"].port
            target = f"sip:bob@127.0.0.1:{port};transport=tcp"
            session = a.invite(Account("alice", f"127.0.0.1:{port}"), target, SDP)
            await rec_a.wait_for(CallAnswered)
            await rec_b.wait_for(CallAnswered)
            a.cancel_or_bye(session)
            await rec_b.wait_for(CallEnded)
            await rec_a.wait_for(CallEnded)
            assert {t for t, _ in trace_a.lines("send")} == {"tcp"}
            assert [line for _, line in trace_a.lines("send")] == [
                f"{method} {target} SIP/2.0" for method in ("INVITE", "ACK", "BYE")]
            [invite] = trace_b.messages("recv", b"INVITE")
            a_port = a.listeners["tcp"].port
            assert str(invite.top_via).startswith(f"SIP/2.0/TCP 127.0.0.1:{a_port};rport;")
            assert invite.headers.get("Contact") == f"<sip:alice@127.0.0.1:{a_port};transport=tcp>"
            [ok] = trace_b.messages("send", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP")[:1]
            assert ok.headers.get("Contact") == f"<sip:bob@127.0.0.1:{port};transport=tcp>"
            # one connection: opened by A, accepted by B, used for requests and responses both ways
            assert list(a.connections) == [Address("127.0.0.1", port, "tcp")]
            assert len(b.connections) == 1 and next(iter(b.connections)).transport == "tcp"
        finally:
            a.close()
            b.close()

    run(main)


def test_large_invite_goes_over_tcp_and_small_requests_stay_on_udp(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        a, rec_a, trace_a, b, rec_b, trace_b = await pair()
        try:
            port = b.local_address.port
            account = Account("alice", f"127.0.0.1:{port}")
            with caplog.at_level(logging.INFO, logger="wcs.aio.sip"):
                session = a.invite(account, "bob", BIG_SDP)
                await rec_a.wait_for(CallAnswered)
            a.cancel_or_bye(session)
            await rec_a.wait_for(CallEnded)
            second = a.invite(account, "carol", SDP)
            await until(lambda: second.state == "confirmed", "the second call")
            # the dialog follows B's Contact, which names the transport the INVITE came on (TCP);
            # the next small out-of-dialog request is back on UDP
            assert trace_a.lines("send") == [
                ("tcp", f"INVITE sip:bob@127.0.0.1:{port} SIP/2.0"),
                ("tcp", f"ACK sip:bob@127.0.0.1:{port};transport=tcp SIP/2.0"),
                ("tcp", f"BYE sip:bob@127.0.0.1:{port};transport=tcp SIP/2.0"),
                ("udp", f"INVITE sip:carol@127.0.0.1:{port} SIP/2.0"),
                ("udp", f"ACK sip:carol@127.0.0.1:{port} SIP/2.0")]
            [invite, _] = trace_b.messages("recv", b"INVITE")
            assert invite.top_via.transport == "TCP" and len(bytes(invite)) > 1300
            assert ("tcp", "SIP/2.0 200 OK") in trace_b.lines("send")
            [note] = [r.getMessage() for r in caplog.records if "§18.1.1" in r.getMessage()]
            assert note.startswith("SIP: INVITE of ") and note.endswith(
                f"bytes is larger than 1300 bytes: sent over TCP to 127.0.0.1:{port} instead of UDP "
                "(RFC 3261 §18.1.1)")
        finally:
            a.close()
            b.close()

    run(main)


def test_refused_tcp_for_a_large_invite_ends_the_call_with_the_reason() -> None:
    async def main() -> None:
        udp_only = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_only.bind(("127.0.0.1", 0))
        rec = Recorder()
        a = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST)
        try:
            port = udp_only.getsockname()[1]
            a.invite(Account("alice", f"127.0.0.1:{port}"), "bob", BIG_SDP)
            end = await rec.wait_for(CallEnded)
            assert isinstance(end, CallEnded) and (end.cause, end.status) == ("failed", 503)
            size = len(BIG_SDP) + 600   # the body plus a few hundred bytes of header
            assert end.reason.startswith(f"TCP connection to 127.0.0.1:{port} failed: Connection refused "
                                         "(request of ")
            assert end.reason.endswith(" bytes is too large for UDP)")
            assert int(end.reason.split("request of ")[1].split()[0]) in range(len(BIG_SDP), size)
            udp_only.setblocking(False)
            with pytest.raises(BlockingIOError):
                udp_only.recv(65535)        # never silently sent over UDP
        finally:
            a.close()
            udp_only.close()

    run(main)


async def raw_tcp(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def test_stream_garbage_closes_only_that_connection_and_bad_messages_get_400() -> None:
    async def main() -> None:
        b = await create_sip_endpoint("127.0.0.1", 0, Recorder(), timers=FAST)
        try:
            port = b.listeners["tcp"].port
            good_r, good_w = await raw_tcp(port)
            bad_r, bad_w = await raw_tcp(port)
            bad_w.write(b"HELLO THERE\r\n\r\n")
            assert await asyncio.wait_for(bad_r.read(), 5) == b""          # closed by the endpoint
            # a message with sound framing but no Call-ID: answered 400, the connection stays
            good_w.write(OPTIONS.replace(b"Call-ID: raw-1\r\n", b""))
            head = await asyncio.wait_for(good_r.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"SIP/2.0 400 Missing Call-ID header\r\n")
            good_w.write(OPTIONS)
            head = await asyncio.wait_for(good_r.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"SIP/2.0 200 OK\r\n")
            assert len(b.connections) == 1 and b._pool.garbage == 1
            good_w.close()
            bad_w.close()
        finally:
            b.close()

    run(main)


def test_crlf_keepalive_gets_a_crlf_pong() -> None:
    async def main() -> None:
        b = await create_sip_endpoint("127.0.0.1", 0, Recorder(), timers=FAST)
        try:
            reader, writer = await raw_tcp(b.listeners["tcp"].port)
            writer.write(b"\r\n\r\n")
            assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
            writer.write(b"\r\n\r\n\r\n\r\n" + OPTIONS)        # two pings, then a request
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"\r\n\r\n"
            assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"SIP/2.0 200 OK")
            writer.close()
        finally:
            b.close()

    run(main)


def test_idle_connections_are_closed_and_reopened_on_demand() -> None:
    async def main() -> None:
        rec_a, rec_b = Recorder(), Recorder()
        a = await create_sip_endpoint("127.0.0.1", 0, rec_a, timers=FAST, idle_timeout=0.2)
        b = await create_sip_endpoint("127.0.0.1", 0, rec_b, timers=FAST)
        rec_b.react = answering([b])
        try:
            port = b.listeners["tcp"].port
            account = Account("alice", f"127.0.0.1:{port}")
            session = a.invite(account, f"sip:bob@127.0.0.1:{port};transport=tcp", SDP)
            await rec_a.wait_for(CallAnswered)
            a.cancel_or_bye(session)
            await rec_a.wait_for(CallEnded)
            assert a.connections
            await until(lambda: not a.connections, "the idle connection to close")
            a.invite(account, f"sip:carol@127.0.0.1:{port};transport=tcp", SDP)
            await until(lambda: sum(isinstance(e, CallAnswered) for e in rec_a.events) == 2, "2nd call")
            assert list(a.connections) == [Address("127.0.0.1", port, "tcp")]
        finally:
            a.close()
            b.close()

    run(main)


# ---------------------------------------------------------------- TLS


def make_cert(directory: Path, *, ip: str | None = "127.0.0.1", dns: str | None = None) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    if ip:
        names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    if dns:
        names.append(x509.DNSName(dns))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns or ip or "test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


async def tls_call(tmp_path: Path, client: TlsSettings, *, ip: str | None = "127.0.0.1",
                   dns: str | None = None) -> tuple[UaEvent, Trace, SipEndpoint]:
    cert, key = make_cert(tmp_path, ip=ip, dns=dns)
    rec_a, rec_b, trace_a = Recorder(), Recorder(), Trace()
    a = await create_sip_endpoint("127.0.0.1", 0, rec_a, timers=FAST, trace=trace_a, tls=client)
    b = await create_sip_endpoint("127.0.0.1", 0, rec_b, timers=FAST,
                                  tls=TlsSettings(cert_file=cert, key_file=key))
    rec_b.react = answering([b])
    try:
        port = b.listeners["tls"].port
        a.invite(Account("alice", f"127.0.0.1:{port}"), f"sips:bob@127.0.0.1:{port}", SDP)
        done = await rec_a.wait_for(CallAnswered | CallEnded)  # type: ignore[arg-type]
        return done, trace_a, a
    finally:
        a.close()
        b.close()


def test_tls_verified_with_a_ca_file(tmp_path: Path) -> None:
    async def main() -> None:
        done, trace, _ = await tls_call(tmp_path, TlsSettings(ca_file=str(tmp_path / "cert.pem")))
        assert isinstance(done, CallAnswered), done
        assert {t for t, _ in trace.lines("send")} == {"tls"}
        [invite] = trace.messages("send", b"INVITE")
        assert str(invite.top_via).startswith("SIP/2.0/TLS 127.0.0.1:")
        assert (invite.headers.get("Contact") or "").endswith(";transport=tls>")

    run(main)


def test_tls_without_the_ca_fails_with_a_clear_reason(tmp_path: Path) -> None:
    async def main() -> None:
        done, _, _ = await tls_call(tmp_path, TlsSettings())
        assert isinstance(done, CallEnded) and (done.cause, done.status) == ("failed", 503)
        assert done.reason.startswith("TLS connection to 127.0.0.1:")
        assert "failed: certificate verify failed: self-signed certificate (trust the server's CA with " \
               "tls_ca_file, or set tls_server_name to the name in its certificate)" in done.reason

    run(main)


def test_tls_server_name_is_what_gets_verified(tmp_path: Path) -> None:
    async def main() -> None:
        ca = str(tmp_path / "cert.pem")
        done, _, _ = await tls_call(tmp_path, TlsSettings(ca_file=ca), ip=None, dns="pbx.test")
        assert isinstance(done, CallEnded) and "IP address mismatch" in done.reason
        done, _, _ = await tls_call(tmp_path, TlsSettings(ca_file=ca, server_name="pbx.test"), ip=None,
                                    dns="pbx.test")
        assert isinstance(done, CallAnswered), done

    run(main)


def test_tls_verify_off_works_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        with caplog.at_level(logging.WARNING, logger="wcs.aio.sip_tls"):
            done, _, _ = await tls_call(tmp_path, TlsSettings(verify=False))
        assert isinstance(done, CallAnswered), done
        assert any("server certificates are NOT checked" in r.getMessage() for r in caplog.records)

    run(main)


# ---------------------------------------------------------------- WebSocket (RFC 7118)


def test_websocket_client_gets_responses_and_requests_on_its_connection() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST, ws_port=0)
        try:
            url = f"ws://127.0.0.1:{b.listeners['ws'].port}/"
            async with aiohttp.ClientSession() as http:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(url)
                assert refused.value.status == 400
                async with http.ws_connect(url, protocols=("sip",)) as ws:
                    assert ws.protocol == "sip"
                    # RFC 7118 §5: one message per frame, Content-Length not needed
                    await ws.send_str(OPTIONS.replace(b"Content-Length: 0\r\n", b"")
                                      .replace(b"SIP/2.0/TCP", b"SIP/2.0/WS").decode())
                    reply = await asyncio.wait_for(ws.receive(), 5)
                    assert reply.type == aiohttp.WSMsgType.TEXT
                    assert reply.data.startswith("SIP/2.0 200 OK\r\n")
                    [peer] = b.connections
                    assert peer.transport == "ws"
                    # a request to the client's address goes over its connection
                    target = f"sip:alice@127.0.0.1:{peer.port};transport=ws"
                    b.invite(Account("bob", "127.0.0.1"), target, SDP)
                    invite = await asyncio.wait_for(ws.receive(), 5)
                    message = parse_message(invite.data.encode())
                    assert isinstance(message, Request) and message.method == "INVITE"
                    assert str(message.top_via).startswith(f"SIP/2.0/WS 127.0.0.1:{b.listeners['ws'].port};")
                    assert (message.headers.get("Contact") or "").endswith(";transport=ws>")
        finally:
            b.close()

    run(main)


def test_websocket_connection_refused_fails_with_the_reason() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST)
        try:
            b.invite(Account("bob", "127.0.0.1"), "sip:alice@127.0.0.1:9;transport=ws", SDP)
            end = await rec.wait_for(CallEnded)
            assert isinstance(end, CallEnded) and (end.cause, end.status) == ("failed", 503)
            assert end.reason == "WebSocket connection to 127.0.0.1:9 failed: Connection refused"
        finally:
            b.close()
            await b.wait_closed()

    run(main)


# -- our endpoint as the WebSocket client (RFC 7118)


def test_websocket_we_open_carries_the_call_both_ways() -> None:
    async def main() -> None:
        a, rec_a, trace_a, b, rec_b, trace_b = await pair(ws_port=0)
        try:
            ws = b.listeners["ws"]
            target = f"sip:bob@127.0.0.1:{ws.port};transport=ws"
            session = a.invite(Account("alice", f"127.0.0.1:{ws.port}"), target, SDP)
            await rec_a.wait_for(CallAnswered)
            a.cancel_or_bye(session)
            await rec_a.wait_for(CallEnded)
            await rec_b.wait_for(CallEnded)
            assert {t for t, _ in trace_a.lines("send")} == {"ws"}
            [invite] = trace_b.messages("recv", b"INVITE")
            # RFC 7118 Appendix B.1: A has no WS address: a .invalid host, no port; §5.2 transport=ws
            host = invite.top_via.host
            assert host.endswith(".invalid") and invite.top_via.port is None
            assert invite.top_via.transport == "WS"
            assert invite.headers.get("Contact") == f"<sip:alice@{host};transport=ws>"
            # one connection, opened by A (not inbound), known by B's listener address
            [conn] = a.connections.values()
            assert conn.key == Address("127.0.0.1", ws.port, "ws") and not conn.inbound
            # B reaches A over that connection (what a registrar does with the binding's source)
            [peer] = b.connections
            b.invite(Account("bob", "127.0.0.1"), f"sip:alice@127.0.0.1:{peer.port};transport=ws", SDP)
            incoming = await rec_a.wait_for(IncomingCall)
            assert isinstance(incoming, IncomingCall)
            assert list(a.connections) == [Address("127.0.0.1", ws.port, "ws")]
            session = a._pool._session
            assert session is not None
        finally:
            a.close()
            b.close()
            await a.wait_closed()
        assert session.closed   # closing the pool closed aiohttp's client session

    run(main)


def test_websocket_over_tls_verifies_the_server_like_tls(tmp_path: Path) -> None:
    async def main() -> None:
        cert, key = make_cert(tmp_path)
        rec_b = Recorder()
        b = await create_sip_endpoint("127.0.0.1", 0, rec_b, timers=FAST, wss_port=0,
                                      tls=TlsSettings(cert_file=cert, key_file=key))
        rec_b.react = answering([b])
        port = b.listeners["wss"].port
        target = f"sip:bob@127.0.0.1:{port};transport=wss"
        try:
            for settings, expect in ((TlsSettings(), CallEnded), (TlsSettings(ca_file=cert), CallAnswered)):
                rec_a, trace_a = Recorder(), Trace()
                a = await create_sip_endpoint("127.0.0.1", 0, rec_a, timers=FAST, trace=trace_a, tls=settings)
                try:
                    a.invite(Account("alice", f"127.0.0.1:{port}"), target, SDP)
                    done = await rec_a.wait_for(CallAnswered | CallEnded)  # type: ignore[arg-type]
                    assert isinstance(done, expect), done
                    if isinstance(done, CallEnded):
                        assert done.reason.startswith(
                            f"WebSocket (TLS) connection to 127.0.0.1:{port} failed: "
                            "certificate verify failed: self-signed certificate")
                    else:
                        [invite] = trace_a.messages("send", b"INVITE")
                        assert invite.top_via.transport == "WSS"
                        # §5.2: "ws" is the URI transport value for WSS too
                        assert (invite.headers.get("Contact") or "").endswith(".invalid;transport=ws>")
                finally:
                    a.close()
                    await a.wait_closed()
        finally:
            b.close()

    run(main)


async def plain_websocket_server() -> tuple[web.AppRunner, int]:
    """An aiohttp server on 127.0.0.1 that upgrades ``/nosip`` without selecting a subprotocol."""
    async def upgrade(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()          # offers nothing: the client's "sip" is not selected
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/nosip", upgrade)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


@pytest.mark.parametrize(("path", "reason"), [
    ("/nosip", "the server did not accept the WebSocket subprotocol 'sip' (it answered none; RFC 7118 §4.1)"),
    ("/", "WebSocket handshake refused: HTTP 404 instead of 101 Switching Protocols "
          "(is the WebSocket path right?)"),
])
def test_websocket_server_without_the_sip_subprotocol_is_refused(path: str, reason: str) -> None:
    async def main() -> None:
        runner, port = await plain_websocket_server()
        rec = Recorder()
        a = await create_sip_endpoint("127.0.0.1", 0, rec, timers=FAST, ws_path=path)
        try:
            a.register(Account("alice", "127.0.0.1", password="pw",
                               proxy=Address("127.0.0.1", port, "ws")))
            changed = await rec.wait_for(RegistrationChanged)
            assert (changed.state, changed.status) == ("failed", 503)
            assert changed.reason == f"WebSocket connection to 127.0.0.1:{port} failed: {reason}"
            assert a.connections == {}
        finally:
            a.close()
            await a.wait_closed()
            await runner.cleanup()

    run(main)
