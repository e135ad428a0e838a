"""Small private rig for the user agent interop tests: one Kamailio and baresip UAs on 127.0.0.1,
and what the tests share about our own UA (account, SDP, event recorder, SIP trace, the endpoint).

Separate from the project-wide rig (tests/interop/rig/) so these tests use their own ports:
Kamailio on 127.0.0.1:5160 (UDP), baresip ctrl_tcp on 4544/4545.  Every process is started
in its own process group, logs into the test's directory and is stopped (SIGTERM, then
SIGKILL) by the id this module got when it started it.  The ``*_fixture`` generators are the
bodies of the test modules' fixtures.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from wcs.aio.sip import SipUdpEndpoint, create_sip_endpoint
from wcs.sip.message import Request, Response, parse_message
from wcs.sip.transport import Address
from wcs.sip.ua import Account, UaEvent
from wcs.sip.uaconfig import UaConfig

LOOPBACK = "127.0.0.1"
KAMAILIO_PORT = 5160
CONFIG = Path(__file__).resolve().parents[1] / "data" / "sipua" / "kamailio.cfg"
PASSWORDS = {"1001": "pass1001", "1002": "pass1002", "1003": "pass1003"}

T = TypeVar("T")


class RigError(RuntimeError):
    """A process of the rig did not start or behave."""


def wait_until(check: Callable[[], T | None], timeout: float, what: str, step: float = 0.05) -> T:
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise RigError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class Process:
    """A child process in its own process group, stopped by that id only."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        self._log_file.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# ---------------------------------------------------------------- Kamailio


def _module_dir() -> str:
    for path in sorted(glob.glob("/usr/lib/*/kamailio/modules")) + ["/usr/lib/kamailio/modules"]:
        if Path(path, "tm.so").exists():
            return path
    raise RigError("Kamailio modules not found (install kamailio)")


def options_status(port: int, timeout: float = 0.3) -> str | None:
    """Status line of the answer to one OPTIONS, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        s.settimeout(timeout)
        local = s.getsockname()[1]
        tag = f"{time.monotonic_ns()}"
        msg = (f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {LOOPBACK}:{local};branch=z9hG4bK{tag};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:probe@{LOOPBACK}>;tag={tag}\r\n"
               f"To: <sip:{LOOPBACK}:{port}>\r\nCall-ID: {tag}@probe\r\nCSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n")
        try:
            s.sendto(msg.encode(), (LOOPBACK, port))
            return s.recv(65535).split(b"\r\n", 1)[0].decode("latin-1")
        except OSError:
            return None


class Kamailio:
    """Registrar + proxy from tests/data/sipua/kamailio.cfg on 127.0.0.1:``port`` (UDP)."""

    def __init__(self, workdir: Path, port: int = KAMAILIO_PORT) -> None:
        self.workdir = workdir
        self.port = port
        self.ctl = f"unix:{workdir}/kamailio_ctl"
        self.proc: Process | None = None

    def start(self) -> Kamailio:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if options_status(self.port, 0.1) is not None:
            raise RigError(f"something already answers SIP on {LOOPBACK}:{self.port}")
        text = CONFIG.read_text()
        for host in (LOOPBACK, "localhost"):
            text = text.replace(f"{host}:5061", f"{host}:{self.port + 1}")
            text = text.replace(f"{host}:5060", f"{host}:{self.port}")
        cfg = self.workdir / "kamailio.cfg"
        cfg.write_text(text)
        argv = ["kamailio", "-f", str(cfg), "-L", _module_dir(), "-A", f'CTL_SOCK="{self.ctl}"']
        check = subprocess.run(argv + ["-c"], capture_output=True, text=True, timeout=30)
        if check.returncode:
            raise RigError(f"kamailio -c failed:\n{check.stdout}{check.stderr}")
        self.proc = Process("kamailio", argv + ["-DD", "-E", "-m", "64", "-M", "8",
                                                "-P", str(self.workdir / "kamailio.pid")],
                            self.workdir / "kamailio.log", self.workdir)
        try:
            wait_until(lambda: (options_status(self.port) or "").startswith("SIP/2.0 200"), 10,
                       f"Kamailio on {self.port}")
        except RigError:
            log = self.proc.text()[-4000:]
            self.stop()
            raise RigError(f"Kamailio did not come up:\n{log}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def contacts(self, user: str) -> list[str]:
        """Contacts registered for ``user`` (``kamcmd ul.dump``)."""
        out = subprocess.run(["kamcmd", "-s", self.ctl, "ul.dump"], capture_output=True, text=True,
                             timeout=5).stdout
        contacts: list[str] = []
        aor = None
        for line in out.splitlines():
            m = re.match(r"\s*AoR:\s*(\S+)", line)
            if m:
                aor = m.group(1).split("@")[0]
            m = re.match(r"\s*Address:\s*(\S+)", line)
            if m and aor == user:
                contacts.append(m.group(1))
        return contacts

    def log(self) -> str:
        return self.proc.text() if self.proc else ""


# ---------------------------------------------------------------- baresip

BARESIP_CONFIG = """\
poll_method		epoll
net_interface		127.0.0.1
dns_server		127.0.0.1:53
sip_listen		127.0.0.1:{sip_port}
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,null{name}
audio_alert		aubridge,alert{name}
audio_source		ausine,440
ausrc_srate		48000
ausrc_channels		2
auplay_srate		48000
auplay_channels		1
audio_level		no
rtp_ports		{rtp_low}-{rtp_high}
rtcp_mux		no
module_path		/usr/lib/baresip/modules
module			g711.so
module			aubridge.so
module			ausine.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{ctrl_port}
"""

BARESIP_ACCOUNT = ('<sip:{user}@127.0.0.1:{kam_port};transport=udp>;auth_pass={password};'
                   'outbound="sip:127.0.0.1:{kam_port};transport=udp";regint=600;'
                   'answermode={answermode};audio_codecs=PCMU/8000/1;ptime=20\n')


def _free_udp_port(start: int) -> int:
    """First port from ``start`` free for UDP and TCP, with port+1 free too (baresip's TLS)."""
    for port in range(start, start + 200, 2):
        try:
            for p in (port, port + 1):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((LOOPBACK, p))
            return port
        except OSError:
            continue
    raise RigError(f"no free port from {start}")


class Baresip:
    """One headless baresip registered at the Kamailio, driven over ctrl_tcp (netstring JSON)."""

    def __init__(self, workdir: Path, user: str, ctrl_port: int, *, answermode: str = "auto",
                 kam_port: int = KAMAILIO_PORT, rtp_low: int = 20500) -> None:
        self.workdir = workdir
        self.user = user
        self.ctrl_port = ctrl_port
        self.answermode = answermode
        self.kam_port = kam_port
        self.rtp_low = rtp_low
        self.proc: Process | None = None
        self._sock: socket.socket | None = None
        self._buf = b""
        self.events: list[dict[str, Any]] = []

    def start(self) -> Baresip:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sip_port = _free_udp_port(5182)
        (self.workdir / "config").write_text(BARESIP_CONFIG.format(
            sip_port=sip_port, name=self.user, rtp_low=self.rtp_low, rtp_high=self.rtp_low + 99,
            ctrl_port=self.ctrl_port))
        (self.workdir / "accounts").write_text(BARESIP_ACCOUNT.format(
            user=self.user, kam_port=self.kam_port, password=PASSWORDS[self.user],
            answermode=self.answermode))
        (self.workdir / "contacts").write_text("")
        self.proc = Process("baresip", ["baresip", "-4", "-s", "-f", str(self.workdir)],
                            self.workdir / "baresip.log", self.workdir)
        try:
            self._sock = wait_until(self._connect, 10, f"baresip ctrl_tcp on {self.ctrl_port}", 0.1)
            wait_until(self._registered, 10, f"baresip {self.user} to register", 0.1)
        except RigError:
            log = self.proc.text()[-4000:]
            self.stop()
            raise RigError(f"baresip {self.user} did not come up:\n{log}") from None
        return self

    def _connect(self) -> socket.socket | None:
        if self.proc is not None and not self.proc.alive():
            raise RigError(f"baresip exited: {self.proc.text()[-2000:]}")
        try:
            sock = socket.create_connection((LOOPBACK, self.ctrl_port), timeout=0.2)
        except OSError:
            return None
        sock.settimeout(0.05)
        return sock

    def _registered(self) -> bool:
        reply = re.sub(r"\x1b\[[0-9;]*m", "", str(self.command("reginfo").get("data", "")))
        return re.search(r"\bOK\b", reply) is not None

    def _read(self) -> list[dict[str, Any]]:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(65536)
            self._buf += chunk
        except (TimeoutError, BlockingIOError):
            pass
        messages = []
        while (m := re.match(rb"(\d+):", self._buf)) is not None:
            size, start = int(m.group(1)), m.end()
            if len(self._buf) < start + size + 1:
                break
            messages.append(json.loads(self._buf[start:start + size]))
            self._buf = self._buf[start + size + 1:]
        self.events += [msg for msg in messages if msg.get("event")]
        return messages

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        assert self._sock is not None
        token = f"t{time.monotonic_ns()}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(str(len(body)).encode() + b":" + body + b",")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for msg in self._read():
                if msg.get("response") and msg.get("token") == token:
                    return msg
        raise RigError(f"baresip gave no answer to {command}")

    def poll(self) -> None:
        """Read pending ctrl messages (events) without blocking long."""
        self._read()

    def has_event(self, kind: str) -> bool:
        self._read()
        return any(e.get("type") == kind for e in self.events)

    def stop(self) -> None:
        if self._sock is not None:
            try:
                self.command("quit", timeout=1.0)
            except (RigError, OSError):
                pass
            self._sock.close()
            self._sock = None
        if self.proc is not None:
            self.proc.stop()

    def log(self) -> str:
        return self.proc.text() if self.proc else ""


# ---------------------------------------------------------------- our UA (1001)

DOMAIN = f"{LOOPBACK}:{KAMAILIO_PORT}"
PROXY = Address(LOOPBACK, KAMAILIO_PORT)
SDP = (b"v=0\r\no=wcs 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40998 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
       b"a=sendrecv\r\n")


def account(password: str | None = None) -> Account:
    return Account("1001", DOMAIN, password=PASSWORDS["1001"] if password is None else password,
                   display_name="wcs test", proxy=PROXY)


class Trace:
    """Every datagram our endpoint sent or received, first lines kept for assertions."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.raw: list[str] = []

    def __call__(self, direction: str, data: bytes, address: Address) -> None:
        self.raw.append(f"--- {direction} {address.host}:{address.port}\n"
                        + data.decode("utf-8", "replace"))
        if data.strip():
            self.lines.append((direction, data.split(b"\r\n", 1)[0].decode("utf-8", "replace")))

    def first_lines(self, direction: str, pattern: str) -> list[str]:
        return [line for d, line in self.lines if d == direction and re.match(pattern, line)]

    def messages(self, direction: str) -> list[Request | Response]:
        out = []
        for text in self.raw:
            head, _, body = text.partition("\n")
            if head.startswith(f"--- {direction}") and body.strip():
                out.append(parse_message(body.encode()))
        return out


class Recorder:
    def __init__(self) -> None:
        self.events: list[UaEvent] = []
        self._changed = asyncio.Event()
        self.react: Callable[[UaEvent], None] = lambda event: None

    def __call__(self, event: UaEvent) -> None:
        self.events.append(event)
        self._changed.set()
        self.react(event)

    async def wait_for(self, kind: type[UaEvent], timeout: float = 10.0,
                       match: Callable[[Any], bool] = lambda event: True) -> Any:
        async def scan() -> UaEvent:
            while True:
                for event in self.events:
                    if isinstance(event, kind) and match(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)


# ---------------------------------------------------------------- fixture bodies and running


def kamailio_fixture(workdir: Path) -> Iterator[Kamailio]:
    kam = Kamailio(workdir).start()
    try:
        yield kam
    finally:
        kam.stop()


def trace_fixture(kamailio: Kamailio, rig_log: Any) -> Trace:
    t = Trace()
    rig_log.add_file("kamailio (sipua)", kamailio.workdir / "kamailio.log")
    rig_log.add_source("our SIP trace", lambda: "\n".join(t.raw), first=True)
    return t


def baresip_fixture(tmp_path: Path, rig_log: Any) -> Iterator[Callable[..., Baresip]]:
    started: list[Baresip] = []

    def make(user: str = "1002", answermode: str = "auto", ctrl_port: int = 4545) -> Baresip:
        bs = Baresip(tmp_path / f"baresip-{user}", user, ctrl_port, answermode=answermode)
        started.append(bs)
        rig_log.add_file(f"baresip {user}", bs.workdir / "baresip.log", offset=0)
        return bs.start()

    try:
        yield make
    finally:
        for bs in started:
            bs.stop()


def run(main: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(main(), timeout)

    asyncio.run(guarded())


async def endpoint(rec: Recorder, trace: Trace, config: UaConfig | None = None) -> SipUdpEndpoint:
    return await create_sip_endpoint(LOOPBACK, 0, rec, trace=trace, user_agent="wcs-interop", config=config)


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll a blocking check (baresip ctrl, kamcmd) in a thread so our endpoint keeps running."""
    return await asyncio.to_thread(wait_until, check, timeout, what, 0.1)
