"""MediaPoller rounds: read every ready socket, then hand the datagrams over, then flush.

The round is driven by calling the poller's ready callback by hand once the datagrams are queued
(loopback delivery is synchronous), so no test waits on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from wcs.aio.media import Handler, MediaPoller, UdpSocket

LOOPBACK = "127.0.0.1"


def _bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.setblocking(False)
    return sock


def test_a_round_reads_all_then_handles_with_one_clock_then_flushes(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        log: list[tuple[str, object]] = []
        poller = MediaPoller(asyncio.get_running_loop(), flush=lambda: log.append(("flush", None)),
                             clock=lambda: 42.0)
        first, second, third = _bound(), _bound(), _bound()
        sockets: dict[str, UdpSocket] = {}

        def handler(name: str) -> Handler:
            def handle(data: bytes, addr: tuple[object, ...], now: float) -> None:
                log.append((name, (data, now)))
                if name == "first":      # closes the others: their datagrams of this round are not handled
                    sockets["second"].close()
                if name == "third":
                    raise RuntimeError("a broken handler")
            return handle

        sockets["first"] = UdpSocket(poller, first, None)
        sockets["first"].watch(handler("first"))
        sockets["second"] = UdpSocket(poller, second, None)
        sockets["second"].watch(handler("second"))
        sockets["third"] = UdpSocket(poller, third, None)
        sockets["third"].watch(handler("third"))
        client = _bound()
        for name, sock in (("first", first), ("second", second), ("third", third)):
            client.sendto(name.encode(), sock.getsockname())
        with caplog.at_level(logging.ERROR, logger="wcs.media"):
            poller._ready()
        handled = [entry for entry in log if entry[0] != "flush"]
        assert ("second", (b"second", 42.0)) not in handled
        assert ("first", (b"first", 42.0)) in handled
        assert ("third", (b"third", 42.0)) in handled     # the round went on after "first"
        assert log[-1] == ("flush", None)                # once, after every handler
        assert [e for e in log if e[0] == "flush"] == [("flush", None)]
        assert "crashed its handler" in caplog.text       # "third" raised: logged, not propagated
        log.clear()
        poller._ready()                                  # nothing ready: only the flush
        assert log == [("flush", None)]
        for name in ("first", "third"):
            sockets[name].close()
        client.close()
        poller.close()

    asyncio.run(main())


def test_on_datagram_gets_host_and_port() -> None:
    async def main() -> None:
        got: list[tuple[bytes, tuple[str, int]]] = []
        poller = MediaPoller(asyncio.get_running_loop())
        udp = UdpSocket(poller, _bound(), lambda data, addr: got.append((data, addr)))
        client = _bound()
        client.sendto(b"hello", (LOOPBACK, udp.port))
        poller._ready()
        assert got == [(b"hello", client.getsockname())]
        udp.close()
        client.close()
        poller.close()

    asyncio.run(main())
