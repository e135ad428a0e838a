"""DtlsSession against a DTLS stack that is not ours: the ``openssl`` binary over loopback UDP.

Both directions are tested: our server ⇄ ``openssl s_client`` and our client ⇄
``openssl s_server``, each with ``-use_srtp`` and ``-keymatexport EXTRACTOR-dtls_srtp``
so the SRTP keying material both sides derive (RFC 5764 §4.2) can be compared.  These
tests do real I/O (a UDP socket, a subprocess, the monotonic clock as ``now``).
"""

from __future__ import annotations

import pathlib
import re
import shutil
import socket
import subprocess
import time

import pytest

from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import DtlsSession

from .dtls_pair import CLIENT_CERT, NOT_BEFORE, SERVER_CERT, fingerprint

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary"),
]

PEER_CERT = Certificate.generate(NOT_BEFORE)
KEYING = re.compile(r"Keying material: ([0-9A-F]+)")


def _write_peer_files(tmp_path: pathlib.Path) -> tuple[str, str]:
    cert, key = tmp_path / "peer-cert.pem", tmp_path / "peer-key.pem"
    cert.write_bytes(PEER_CERT.certificate_pem())
    key.write_bytes(PEER_CERT.private_key_pem())
    return str(cert), str(key)


def _drive(session: DtlsSession, sock: socket.socket, peer: tuple[str, int] | None,
           deadline: float) -> tuple[str, int] | None:
    """Run the session over the socket until it leaves "connecting" (or ``deadline``)."""
    while session.state in ("new", "connecting") and time.monotonic() < deadline:
        now = time.monotonic()
        for datagram in session.datagrams_to_send():
            assert peer is not None
            sock.sendto(datagram, peer)
        timer = session.get_timer()
        wait = 0.2 if timer is None else max(0.001, min(0.2, timer - now))
        sock.settimeout(wait)
        try:
            data, source = sock.recvfrom(65536)
        except TimeoutError:
            session.handle_timer(time.monotonic())
            continue
        peer = source[:2]
        session.receive(data, time.monotonic())
    for datagram in session.datagrams_to_send():
        if peer is not None:
            sock.sendto(datagram, peer)
    return peer


def _finish(proc: subprocess.Popen[str]) -> str:
    try:
        out, _ = proc.communicate("", timeout=10)  # EOF on stdin ends s_client / s_server
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_our_server_with_openssl_client(tmp_path: pathlib.Path) -> None:
    cert, key = _write_peer_files(tmp_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = DtlsSession(SERVER_CERT, is_server=True, remote_fingerprints=fingerprint(PEER_CERT))
    proc = subprocess.Popen(
        ["openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{port}", "-cert", cert, "-key", key,
         "-use_srtp", "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM",
         "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "56"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        server.start(time.monotonic())
        _drive(server, sock, None, time.monotonic() + 10)
        assert (server.state, server.error) == ("connected", None)
    finally:
        out = _finish(proc)
        sock.close()
    assert "SRTP Extension negotiated, profile=SRTP_AEAD_AES_128_GCM" in out
    match = KEYING.search(out)
    assert match, out
    assert server.keying_material() == ("SRTP_AEAD_AES_128_GCM", bytes.fromhex(match.group(1)))
    assert server.peer_certificate_der == PEER_CERT.der


def test_our_client_with_openssl_server(tmp_path: pathlib.Path) -> None:
    cert, key = _write_peer_files(tmp_path)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{port}", "-naccept", "1",
         "-cert", cert, "-key", key, "-verify", "1", "-use_srtp", "SRTP_AES128_CM_SHA1_80",
         "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "60"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    client = DtlsSession(CLIENT_CERT, is_server=False, remote_fingerprints=fingerprint(PEER_CERT))
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(1)]
        while banner[-1] and banner[-1].strip() != "ACCEPT" and len(banner) < 20:
            banner.append(proc.stdout.readline())
        assert banner[-1].strip() == "ACCEPT", banner
        client.start(time.monotonic())
        _drive(client, sock, ("127.0.0.1", port), time.monotonic() + 10)
        assert (client.state, client.error) == ("connected", None)
        # let s_server print its summary (it does so once the handshake is complete)
        time.sleep(0.2)
    finally:
        out = _finish(proc)
        sock.close()
    assert "SRTP Extension negotiated, profile=SRTP_AES128_CM_SHA1_80" in out
    match = KEYING.search(out)
    assert match, out
    assert client.keying_material() == ("SRTP_AES128_CM_SHA1_80", bytes.fromhex(match.group(1)))
    common_name = CLIENT_CERT.x509.subject.rfc4514_string().removeprefix("CN=")
    assert f"depth=0 CN = {common_name}" in out  # s_server asked for and got our certificate
