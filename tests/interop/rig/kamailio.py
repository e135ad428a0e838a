"""Kamailio registrar/proxy on 127.0.0.1 for the interop tests.

The config is tests/data/interop/kamailio.cfg (from the loopback rig, see SOURCES.md there):
UDP+TCP on `udp_port` (5060), TLS on `tls_port` (5061) with a self-signed certificate made here with
openssl, digest auth against static users 1001..1004 (password "pass" + user) and gw/passgw,
in-memory location table. tests/data/interop/kamailio-ws.cfg (``config=WS_CONFIG``) adds SIP over
WebSocket (RFC 7118) on `ws_port` (5066) with nathelper for WebSocket clients. Usage::

    kam = Kamailio(workdir)            # or Kamailio(workdir, udp_port=5160, tls_port=5161)
    kam.start()                        # config check, start, wait until it answers OPTIONS
    kam.registrations()                # {"1001": ["sip:1001@127.0.0.1:5070;…"], …} from `kamcmd ul.dump`
    kam.wait_registered("1001", 5)     # contacts of a user, or RigError after 5 s
    kam.stop()
    Kamailio(workdir, udp_port=5260, ws_port=5266, tls=False, config=WS_CONFIG)   # + ws://…:5266/
"""

from __future__ import annotations

import glob
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .common import LOOPBACK, REPO_ROOT, ManagedProcess, RigError, file_size, read_tail, wait_until

CONFIG = REPO_ROOT / "tests" / "data" / "interop" / "kamailio.cfg"
WS_CONFIG = REPO_ROOT / "tests" / "data" / "interop" / "kamailio-ws.cfg"
USERS = {"1001": "pass1001", "1002": "pass1002", "1003": "pass1003", "1004": "pass1004",
         "gw": "passgw"}


def module_dir() -> str:
    for pattern in ("/usr/lib/*/kamailio/modules", "/usr/lib/kamailio/modules",
                    "/usr/local/lib*/kamailio/modules"):
        for d in sorted(glob.glob(pattern)):
            if Path(d, "tm.so").exists():
                return d
    raise RigError("Kamailio modules (tm.so) not found: install the Debian packages kamailio, "
                   "kamailio-tls-modules and kamailio-websocket-modules (./scripts/test.sh does)")


def options_ping(port: int, timeout: float = 0.3, host: str = LOOPBACK) -> str | None:
    """Send one OPTIONS over UDP; the status line of the answer, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        branch = f"z9hG4bK-rig-{time.monotonic_ns()}"
        msg = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {LOOPBACK}:{lport};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:rig@{LOOPBACK}>;tag=rig\r\n"
               f"To: <sip:{host}:{port}>\r\nCall-ID: {branch}@rig\r\nCSeq: 1 OPTIONS\r\n"
               f"Content-Length: 0\r\n\r\n")
        try:
            s.sendto(msg.encode(), (host, port))
            data = s.recv(65535)
        except OSError:
            return None
    return data.split(b"\r\n", 1)[0].decode("latin-1")


class Kamailio:
    def __init__(self, workdir: Path, *, udp_port: int = 5060, tls_port: int = 5061,
                 tls: bool = True, ws_port: int = 5066, config: Path = CONFIG) -> None:
        self.workdir = Path(workdir)
        self.udp_port = udp_port
        self.tls_port = tls_port
        self.tls = tls
        self.ws_port = ws_port
        self.config = config
        self.ctl = f"unix:{self.workdir}/kamailio_ctl"
        self.log_path = self.workdir / "kamailio.log"
        self.cert = self.workdir / "cert.pem"
        self.key = self.workdir / "key.pem"
        self.proc: ManagedProcess | None = None
        self.users = dict(USERS)

    # --- life cycle -----------------------------------------------------------------------------
    def _render_config(self) -> Path:
        text = self.config.read_text()
        for host in ("127.0.0.1", "localhost"):
            text = text.replace(f"{host}:5061", f"{host}:{self.tls_port}")
            text = text.replace(f"{host}:5060", f"{host}:{self.udp_port}")
        text = text.replace("127.0.0.1:5066", f"127.0.0.1:{self.ws_port}")
        text = text.replace("$Rp != 5066", f"$Rp != {self.ws_port}")
        path = self.workdir / "kamailio.cfg"
        path.write_text(text)
        return path

    def _make_cert(self) -> None:
        if self.cert.exists() and self.key.exists():
            return
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "30", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(self.key), "-out", str(self.cert)],
            capture_output=True, text=True, timeout=30)
        if r.returncode or r.stdout.startswith("error:"):   # kamcmd exits 0 on an RPC error
            raise RigError(f"openssl could not make Kamailio's certificate:\n{r.stderr}")
        (self.workdir / "tls.cfg").write_text(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
            f"require_certificate = no\nprivate_key = {self.key}\ncertificate = {self.cert}\n\n"
            "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n")

    def _argv(self, cfg: Path) -> list[str]:
        argv = ["kamailio", "-f", str(cfg), "-L", module_dir(),
                "-A", f'CTL_SOCK="{self.ctl}"']
        if self.tls:
            argv += ["-A", "WITH_TLS", "-A", f'TLS_CFG="{self.workdir}/tls.cfg"']
        return argv

    def start(self, timeout: float = 10.0) -> Kamailio:
        if shutil.which("kamailio") is None:
            raise RigError("kamailio not found: run ./scripts/test.sh (it installs the Debian packages)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self._render_config()
        if self.tls:
            self._make_cert()
        check = subprocess.run(self._argv(cfg) + ["-c"], capture_output=True, text=True, timeout=30)
        if check.returncode:
            raise RigError(f"kamailio -c rejected {cfg}:\n{check.stdout}{check.stderr}")
        argv = self._argv(cfg) + ["-DD", "-E", "-m", "64", "-M", "8",
                                  "-P", str(self.workdir / "kamailio.pid")]
        self.proc = ManagedProcess("kamailio", argv, self.log_path, cwd=self.workdir)
        try:
            wait_until(self._ready, timeout, 0.05, f"Kamailio to answer OPTIONS on {self.udp_port}")
        except RigError as exc:
            log = self.proc.log_text(max_chars=5000)
            self.stop()
            raise RigError(f"{exc}\n--- kamailio.log ---\n{log}") from None
        return self

    def _ready(self) -> bool:
        if self.proc is None or not self.proc.alive():
            raise RigError(f"kamailio exited early (code {self.proc and self.proc.returncode()})")
        if not (options_ping(self.udp_port) or "").startswith("SIP/2.0 200"):
            return False
        if self.tls:
            try:
                with socket.create_connection((LOOPBACK, self.tls_port), timeout=0.2):
                    pass
            except OSError:
                return False
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=5)
            self.proc = None

    # --- inspection -----------------------------------------------------------------------------
    def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        r = subprocess.run(["kamcmd", "-s", self.ctl, *args], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode or r.stdout.startswith("error:"):   # kamcmd exits 0 on an RPC error
            raise RigError(f"kamcmd {' '.join(args)} failed: {r.stdout}{r.stderr}")
        return r.stdout

    def ul_dump(self) -> str:
        """Raw `kamcmd ul.dump` text (the in-memory location table)."""
        return self.kamcmd("ul.dump")

    def clear_registrations(self) -> dict[str, list[str]]:
        """Remove every binding (`ul.rm`) and return what was removed: a UA that a test stopped
        without un-REGISTERing would otherwise stay a fork branch of the next test's INVITE
        (Kamailio then waits out its fr_timer before relaying a final response)."""
        dump = self.ul_dump()
        for line in dump.splitlines():
            m = re.match(r"\s*AoR:\s*(\S+)", line)
            if m:
                # "s:" keeps kamcmd from sending an all-digit AoR as an integer
                self.kamcmd("ul.rm", "location", f"s:{m.group(1)}")
        return self._parse_bindings(dump)

    def registrations(self) -> dict[str, list[str]]:
        """AoR user → contact URIs currently registered."""
        return self._parse_bindings(self.ul_dump())

    @staticmethod
    def _parse_bindings(dump: str) -> dict[str, list[str]]:
        regs: dict[str, list[str]] = {}
        aor = None
        for line in dump.splitlines():
            m = re.match(r"\s*AoR:\s*(\S+)", line)
            if m:
                aor = m.group(1).split("@")[0]
                regs.setdefault(aor, [])
                continue
            m = re.match(r"\s*Address:\s*(\S+)", line)
            if m and aor is not None:
                regs[aor].append(m.group(1))
        return regs

    def wait_registered(self, user: str, timeout: float = 5.0, contains: str | None = None) -> list[str]:
        """Contacts of `user` once registered (optionally one containing `contains`)."""
        def check() -> list[str] | None:
            contacts = self.registrations().get(user, [])
            if contains is not None:
                contacts = [c for c in contacts if contains in c]
            return contacts or None
        return wait_until(check, timeout, 0.1, f"{user} to be registered at Kamailio")  # type: ignore[return-value]

    def wait_unregistered(self, user: str, timeout: float = 5.0) -> None:
        wait_until(lambda: not self.registrations().get(user), timeout, 0.1,
                   f"{user} to be unregistered at Kamailio")

    def add_user(self, user: str, password: str) -> None:
        """Add or change a user at run time (htable; `s:` keeps numeric names strings)."""
        self.kamcmd("htable.sets", "users", f"s:{user}", password)
        self.users[user] = password

    def log_size(self) -> int:
        return file_size(self.log_path)

    def log_text(self, offset: int = 0, max_chars: int = 20000) -> str:
        return read_tail(self.log_path, offset, max_chars)
