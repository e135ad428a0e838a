"""Small private rig for the user agent interop tests: one Kamailio and baresip UAs on 127.0.0.1.

Separate from the project-wide rig (tests/interop/rig/) so these tests use their own ports:
Kamailio on 127.0.0.1:5160 (UDP), baresip ctrl_tcp on 4544/4545.  Every process is started
in its own process group, logs into the test's directory and is stopped (SIGTERM, then
SIGKILL) by the id this module got when it started it.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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
