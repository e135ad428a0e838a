"""baresip 1.0 user agents for the interop tests, driven over ctrl_tcp (netstring JSON).

Adapted from the loopback rig's baresip_call_test.py (see tests/data/interop/SOURCES.md).
Each UA gets its own config dir: everything on 127.0.0.1 (`net_interface 127.0.0.1`), an ausine
tone source at `tone_hz`, the aubridge "null" player (never ALSA: its null PCM busy-loops), sndfile
recording of the decoded far end (`dump-*-dec.wav`), ctrl_tcp on a free port, one account with
digest auth registered through Kamailio (outbound proxy), `answermode` auto|manual.

    ua = Baresip(workdir, "1002", "pass1002", tone_hz=500, answermode="auto").start()
    ua.wait_registered()          # polls `reginfo` (REGISTER_OK may fire before we connect)
    ua.dial("sip:1001@127.0.0.1"); ua.wait_event("CALL_ESTABLISHED", 10)
    ua.accept(); ua.hangup()      # ctrl commands `accept` / `hangup`
    ua.last_recording()           # newest dump-*-dec.wav (what baresip heard)
    ua.sip_trace()                # the log: `-s` prints every SIP message
    ua.stop()                     # `quit` (un-REGISTER), then SIGTERM/SIGKILL

Failure modes for tests: `reject_incoming=True` (or `reject_incoming_calls()`) makes the UA answer
every incoming INVITE with "486 Busy Here": it rings (answermode manual, 180) and the ctrl thread
sends `hangup` as soon as CALL_INCOMING arrives; baresip rejects a ringing call with 486.
A user that is never registered gets 404 from Kamailio.

Video and SRTP: `video=True` loads the vp8 and fakevideo modules (a synthetic VP8 camera, frames
counted, not shown) and offers `video_codecs` (VP8); `mediaenc="srtp"` (RTP/AVP with a=crypto, best
effort) or `"srtp-mand"` (RTP/SAVP) loads the srtp module for RFC 4568 SDES on the account.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .common import LOOPBACK, ManagedProcess, RigError, free_port, read_tail

CODECS = {"PCMU": "PCMU/8000/1", "PCMA": "PCMA/8000/1", "G722": "G722/16000/1",
          "opus": "opus/48000/2"}

CONFIG = """\
# baresip config written by tests/interop/rig/baresip.py ({name})
poll_method		epoll
net_interface		127.0.0.1
dns_server		127.0.0.1:53
sip_listen		127.0.0.1:{sip_port}
call_local_timeout	120
call_max_calls		4
audio_path		/usr/share/baresip
# aubridge player with no matching aubridge source never starts its thread:
# a zero-CPU "null" player (ALSA's null PCM busy-loops at ~95% CPU per UA)
audio_player		aubridge,null{name}
audio_alert		aubridge,alert{name}
audio_source		ausine,{tone_hz}
ausrc_srate		48000
ausrc_channels		2
auplay_srate		48000
auplay_channels		1
audio_level		no
ausrc_format		s16
auplay_format		s16
auenc_format		s16
audec_format		s16
audio_buffer		20-160
rtp_tos			0
rtp_ports		{rtp_lo}-{rtp_hi}
rtcp_mux		no
jitter_buffer_delay	1-10
rtp_stats		no
module_path		/usr/lib/baresip/modules
module			g711.so
module			g722.so
module			opus.so
module			aubridge.so
module			sndfile.so
module			ausine.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{ctrl_port}
snd_path		{snd_path}
opus_bitrate		28000
"""

VIDEO_CONFIG = """\
module			vp8.so
module			fakevideo.so
video_source		fakevideo,nil
video_display		fakevideo,nil
video_size		320x240
video_bitrate		300000
video_fps		15
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_rtp_block = iter(range(10**9))


def _next_rtp_range() -> int:
    """First port of a 100-port RTP range in 20000-29999, a different one for each UA."""
    return 20000 + (next(_rtp_block) % 100) * 100


class BaresipCtrl:
    """ctrl_tcp client. A reader thread collects events and matches responses by token."""

    def __init__(self, port: int, name: str, timeout: float = 5.0) -> None:
        self.name = name
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((LOOPBACK, port), timeout=0.2)
                break
            except OSError:
                if time.monotonic() > end:
                    raise RigError(f"baresip {name}: ctrl_tcp not reachable on port {port}") from None
                time.sleep(0.05)
        self.sock.settimeout(0.2)
        self.events: list[dict[str, Any]] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._on_event: list[Any] = []
        self._buf = b""
        self._thread = threading.Thread(target=self._run, name=f"baresip-ctrl-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            self._buf += data
            while True:
                m = re.match(rb"(\d+):", self._buf)
                if not m:
                    break
                n, start = int(m.group(1)), m.end()
                if len(self._buf) < start + n + 1:
                    break
                try:
                    msg = json.loads(self._buf[start:start + n])
                except ValueError:
                    msg = {"event": True, "type": "UNPARSABLE", "raw": self._buf[start:start + n].decode()}
                self._buf = self._buf[start + n + 1:]
                self._dispatch(msg)
        with self._cond:
            self._cond.notify_all()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        with self._cond:
            if msg.get("event"):
                msg["t"] = time.monotonic()
                self.events.append(msg)
            elif msg.get("response") and msg.get("token"):
                self._responses[msg["token"]] = msg
            self._cond.notify_all()
        if msg.get("event"):
            for callback in list(self._on_event):
                try:
                    callback(msg)
                except Exception:   # a reaction must never kill the reader
                    pass

    def on_event(self, callback: Any) -> None:
        self._on_event.append(callback)

    def send(self, command: str, params: str = "") -> str:
        token = f"t{time.monotonic_ns()}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        return token

    def cmd(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        token = self.send(command, params)
        end = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = end - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    raise RigError(f"baresip {self.name}: no response to {command!r}")
                self._cond.wait(left)
            return self._responses.pop(token)

    def wait_event(self, etype: str, timeout: float = 10.0, since: int = 0,
                   **match: str) -> dict[str, Any] | None:
        """First event of type `etype` (index ≥ since, fields equal to `match`), or None."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if e.get("type") == etype and all(e.get(k) == v for k, v in match.items()):
                        return e
                left = end - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return None
                self._cond.wait(min(left, 0.5))

    def close(self) -> None:
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self._thread.join(2)


class Baresip:
    def __init__(self, workdir: Path, user: str, password: str, *, tone_hz: float = 500,
                 answermode: str = "auto", codecs: list[str] | tuple[str, ...] | None = ("PCMU",),
                 proxy_port: int = 5060, domain: str = LOOPBACK, transport: str = "udp",
                 reject_incoming: bool = False, name: str | None = None, video: bool = False,
                 video_codecs: tuple[str, ...] = ("VP8",), mediaenc: str | None = None) -> None:
        self.user = user
        self.password = password
        self.name = name or f"bs{user}"
        self.dir = Path(workdir) / self.name
        self.tone_hz = tone_hz
        self.answermode = answermode
        self.codecs = codecs
        self.proxy_port = proxy_port
        self.domain = domain
        self.transport = transport
        self.reject_incoming = reject_incoming
        self.video = video
        self.video_codecs = video_codecs
        self.mediaenc = mediaenc
        self.rec_dir = self.dir / "rec"
        self.log_path = self.dir.parent / f"{self.name}.log"
        self.proc: ManagedProcess | None = None
        self.ctrl: BaresipCtrl | None = None
        self.sip_port = 0
        self.ctrl_port = 0
        self.rejected: list[dict[str, Any]] = []

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    # --- life cycle -----------------------------------------------------------------------------
    def _write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rec_dir.mkdir(exist_ok=True)
        for f in self.rec_dir.iterdir():
            f.unlink()
        # baresip listens on sip_port (UDP, TCP) and sip_port + 1 (TLS, even without a certificate)
        self.sip_port = free_port(tcp_also_next=True)
        self.ctrl_port = free_port(udp=False, avoid=(self.sip_port, self.sip_port + 1))
        rtp_lo = _next_rtp_range()
        (self.dir / "config").write_text(CONFIG.format(
            name=self.name, sip_port=self.sip_port, tone_hz=int(self.tone_hz), rtp_lo=rtp_lo,
            rtp_hi=rtp_lo + 99, ctrl_port=self.ctrl_port, snd_path=self.rec_dir)
            + (VIDEO_CONFIG if self.video else "") + ("module\t\t\tsrtp.so\n" if self.mediaenc else ""))
        answermode = "manual" if self.reject_incoming else self.answermode
        params = [f"auth_pass={self.password}",
                  f'outbound="sip:{LOOPBACK}:{self.proxy_port};transport={self.transport}"',
                  "regint=600", f"answermode={answermode}", "ptime=20"]
        if self.codecs:
            params.append("audio_codecs=" + ",".join(CODECS.get(c, c) for c in self.codecs))
        if self.video:
            params.append("video_codecs=" + ",".join(self.video_codecs))
        if self.mediaenc:
            params.append(f"mediaenc={self.mediaenc}")
        (self.dir / "accounts").write_text(
            f"<sip:{self.user}@{self.domain};transport={self.transport}>;" + ";".join(params) + "\n")
        (self.dir / "contacts").write_text("")

    def start(self, register_timeout: float = 5.0, wait_register: bool = True) -> Baresip:
        if shutil.which("baresip") is None:
            raise RigError("baresip not found: run ./scripts/test.sh (it installs the Debian packages)")
        self._write_config()
        self.proc = ManagedProcess(f"baresip {self.name}", ["baresip", "-4", "-s", "-f", str(self.dir)],
                                   self.log_path, cwd=self.dir)
        try:
            self.ctrl = BaresipCtrl(self.ctrl_port, self.name)
            self.ctrl.on_event(self._react)
            if wait_register:
                self.wait_registered(register_timeout)
        except Exception as exc:
            log = self.log_text(max_chars=4000)
            self.stop()
            raise RigError(f"baresip {self.name} did not start: {exc}\n--- {self.log_path.name} ---\n"
                           f"{log}") from None
        return self

    def _react(self, event: dict[str, Any]) -> None:
        if self.reject_incoming and event.get("type") == "CALL_INCOMING":
            self.rejected.append(event)
            assert self.ctrl is not None
            self.ctrl.send("hangup")          # ringing call → "486 Busy Here"

    def reject_incoming_calls(self, on: bool = True) -> None:
        """Answer incoming INVITEs with 486 Busy Here from now on (needs answermode manual)."""
        self.reject_incoming = on
        if on:
            self.cmd("answermode", "manual")

    def stop(self) -> None:
        if self.ctrl is not None:
            try:
                self.ctrl.send("quit")          # un-REGISTERs, then exits
            except OSError:
                pass
        if self.proc is not None:
            if self.proc.alive():
                try:
                    self.proc.proc.wait(3)
                except Exception:
                    pass
            self.proc.stop(timeout=3)
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None

    # --- control --------------------------------------------------------------------------------
    def cmd(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        if self.ctrl is None:
            raise RigError(f"baresip {self.name} is not running")
        return self.ctrl.cmd(command, params, timeout)

    def reginfo(self) -> str:
        return _ANSI.sub("", self.cmd("reginfo").get("data", ""))

    def registered(self) -> bool:
        return bool(re.search(r"\bOK\b", self.reginfo()))

    def wait_registered(self, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while not self.registered():
            if time.monotonic() > end:
                raise RigError(f"baresip {self.name} not registered after {timeout} s: {self.reginfo()!r}")
            if self.proc is not None and not self.proc.alive():
                raise RigError(f"baresip {self.name} exited (code {self.proc.returncode()})")
            time.sleep(0.05)

    def dial(self, uri: str) -> dict[str, Any]:
        return self.cmd("dial", uri)

    def accept(self) -> dict[str, Any]:
        return self.cmd("accept")

    def hangup(self) -> dict[str, Any]:
        return self.cmd("hangup")

    def send_dtmf(self, digits: str) -> dict[str, Any]:
        return self.cmd("sndcode", digits)

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.ctrl.events) if self.ctrl else []

    def event_count(self) -> int:
        return len(self.ctrl.events) if self.ctrl else 0

    def wait_event(self, etype: str, timeout: float = 10.0, since: int = 0,
                   **match: str) -> dict[str, Any] | None:
        if self.ctrl is None:
            return None
        return self.ctrl.wait_event(etype, timeout, since, **match)

    def event_types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    # --- evidence -------------------------------------------------------------------------------
    def recordings(self) -> list[Path]:
        """Decoded far-end recordings (sndfile `*-dec.wav`), oldest first."""
        if not self.rec_dir.exists():
            return []
        return sorted(self.rec_dir.glob("*-dec.wav"), key=lambda p: (p.stat().st_mtime, p.name))

    def last_recording(self) -> Path | None:
        """The newest far-end recording (a re-INVITE restarts the stream and opens a new file)."""
        recs = self.recordings()
        return recs[-1] if recs else None

    def sip_trace(self) -> str:
        """baresip's log: with -s it holds every SIP message sent and received (colours removed)."""
        return _ANSI.sub("", read_tail(self.log_path, 0, 10**7))

    def log_text(self, offset: int = 0, max_chars: int = 20000) -> str:
        return read_tail(self.log_path, offset, max_chars)
