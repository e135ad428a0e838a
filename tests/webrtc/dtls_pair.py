"""Test helpers: two DtlsSessions (ours) wired back to back in memory, with scripted loss."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from wcs.entropy import SeededEntropy
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import DtlsSession

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
SERVER_CERT = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(11))
CLIENT_CERT = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(12))
OTHER_CERT = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(13))


def fingerprint(cert: Certificate) -> list[tuple[str, str]]:
    return [("sha-256", cert.fingerprint("sha-256"))]


def make_pair(**server_kwargs: object) -> tuple[DtlsSession, DtlsSession]:
    kwargs: dict[str, object] = {"remote_fingerprints": fingerprint(CLIENT_CERT)}
    kwargs.update(server_kwargs)
    server = DtlsSession(SERVER_CERT, is_server=True, **kwargs)  # type: ignore[arg-type]
    client = DtlsSession(CLIENT_CERT, is_server=False, remote_fingerprints=fingerprint(SERVER_CERT))
    return server, client


Drop = Callable[[str, int, bytes], bool]   # (direction "c2s"/"s2c", index, datagram) -> lose it?


class Wire:
    """Moves datagrams between a client and a server, recording them, dropping some."""

    def __init__(self, client: DtlsSession, server: DtlsSession, drop: Drop | None = None) -> None:
        self.client, self.server = client, server
        self.drop = drop or (lambda direction, index, data: False)
        self.sent: dict[str, list[bytes]] = {"c2s": [], "s2c": []}

    def pump(self, now: float) -> None:
        """Deliver everything pending, both ways, until both sides are quiet."""
        for _ in range(50):
            moved = False
            for direction, src, dst in (("c2s", self.client, self.server), ("s2c", self.server, self.client)):
                for datagram in src.datagrams_to_send():
                    moved = True
                    index = len(self.sent[direction])
                    self.sent[direction].append(datagram)
                    if not self.drop(direction, index, datagram):
                        dst.receive(datagram, now)
            if not moved:
                return
        raise AssertionError("DTLS sessions never went quiet")

    def run_timers(self, now: float) -> None:
        for session in (self.client, self.server):
            deadline = session.get_timer()
            if deadline is not None and deadline <= now:
                session.handle_timer(now)
        self.pump(now)


def handshake(server: DtlsSession, client: DtlsSession, drop: Drop | None = None,
              until: float = 20.0) -> Wire:
    """Run the handshake with the clock driven by hand (timers fired as they fall due)."""
    wire = Wire(client, server, drop)
    now = 0.0
    server.start(now)
    client.start(now)
    wire.pump(now)
    while now < until and not (client.state == server.state == "connected"):
        deadlines = [d for d in (client.get_timer(), server.get_timer()) if d is not None]
        if not deadlines or min(deadlines) > until:
            break
        now = min(deadlines)
        wire.run_timers(now)
    return wire
