"""Peers for the transcoding interop tests (tests/interop/test_transcoding.py).

* :class:`MediaPhone` — a pjsua2 phone with media: one codec forced (``--codec speex/16000``),
  a WAV played into every call (loops) and what it hears recorded to a WAV, RFC 4733 digits
  sent and reported.  It runs as a child process (this file is the program) and speaks the
  JSON-lines protocol of :mod:`tests.interop.sipua_pjsua2` (whose controller it reuses):
  commands ``call {uri[, no_sdp]}``, ``hangup``, ``dtmf {digits}``, ``quit``; events ``reg``, ``state``,
  ``media {codec}``, ``dtmf``, ``incoming``, ``error``.  Adapted from the loopback rig's
  pjsua2_ua.py (see tests/data/transcoding/SOURCES.md).
* :class:`Rtpengine` — rtpengine in userspace (``--table=-1``) on 127.0.0.1 with an NG control
  port, waited for with an NG ``ping``.
* :class:`RtpengineKamailio` — Kamailio with tests/data/transcoding/kamailio-rtpengine.cfg: the
  registrar/proxy of the interop rig whose INVITEs ask rtpengine to transcode G.729 ⇄ PCMU.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import select
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from .rig.common import LOOPBACK, REPO_ROOT, ManagedProcess, RigError, wait_until
from .rig.kamailio import Kamailio, module_dir
from .sipua_pjsua2 import Pjsua2

__all__ = ["MediaPhone", "Rtpengine", "RtpengineKamailio", "ng_ping"]

KAMAILIO_RTPENGINE_CFG = REPO_ROOT / "tests" / "data" / "transcoding" / "kamailio-rtpengine.cfg"


# ---------------------------------------------------------------- pjsua2 with media (controller)

class MediaPhone(Pjsua2):
    """A pjsua2 phone process with a forced codec, a played tone and a recording."""

    def __init__(self, workdir: Path, user: str, password: str, kam_port: int, *, codec: str,
                 play: Path, record: Path) -> None:
        super().__init__(workdir, user, password, kam_port)
        self.record = record
        self.argv = [sys.executable, "-m", "tests.interop.transcoding_rig", "--user", user,
                     "--password", password, "--kam-port", str(kam_port), "--log", str(self.log),
                     "--codec", codec, "--play", str(play), "--record", str(record)]

    def start(self, timeout: float = 10.0) -> MediaPhone:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self._stderr, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, start_new_session=True, cwd=REPO_ROOT)
        self.wait_event(lambda e: e["event"] == "reg" and e["code"] == 200, timeout, "registration")
        return self

    def codecs(self) -> list[str]:
        """The codec of each active media update (``speex/16000`` …)."""
        return [e["codec"] for e in self.events if e["event"] == "media" and e.get("codec")]


# ---------------------------------------------------------------- rtpengine and its Kamailio

def _bencode(value: Any) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, dict):
        return b"d" + b"".join(_bencode(k) + _bencode(v) for k, v in sorted(value.items())) + b"e"
    raise TypeError(value)


def ng_ping(port: int, timeout: float = 0.3) -> bool:
    """Does rtpengine answer an NG ``ping`` with ``pong``?"""
    cookie = str(random.randint(1, 1 << 30)).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(cookie + b" " + _bencode({"command": "ping"}), (LOOPBACK, port))
            data = s.recv(65535)
        except OSError:
            return False
    return data.startswith(cookie + b" ") and b"pong" in data


class Rtpengine:
    """rtpengine in userspace on 127.0.0.1 (the rig README's command line)."""

    def __init__(self, workdir: Path, ng_port: int, port_min: int = 40000, port_max: int = 40999) -> None:
        self.workdir = Path(workdir)
        self.ng_port = ng_port
        self.log_path = self.workdir / "rtpengine.log"
        self.argv = ["rtpengine", "--config-file=none", "--table=-1", f"--interface=lo/{LOOPBACK}",
                     f"--listen-ng={LOOPBACK}:{ng_port}", f"--port-min={port_min}",
                     f"--port-max={port_max}", "--foreground", "--log-stderr", "--log-level=6",
                     "--log-level-control=7",   # the SDP of every offer and answer
                     f"--pidfile={self.workdir / 'rtpengine.pid'}"]
        self.proc: ManagedProcess | None = None

    def start(self, timeout: float = 10.0) -> Rtpengine:
        if shutil.which("rtpengine") is None:
            raise RigError("rtpengine not found: the Debian package rtpengine-daemon is needed "
                           "(./scripts/test.sh installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = ManagedProcess("rtpengine", self.argv, self.log_path, cwd=self.workdir)

        def ready() -> bool:
            if self.proc is None or not self.proc.alive():
                raise RigError(f"rtpengine exited early:\n{self.log_text(max_chars=3000)}")
            return ng_ping(self.ng_port)
        wait_until(ready, timeout, 0.1, f"rtpengine to answer NG ping on {self.ng_port}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=5)
            self.proc = None

    def log_text(self, max_chars: int = 20000) -> str:
        return self.proc.log_text(max_chars=max_chars) if self.proc is not None else ""

    def formats(self, event: str) -> list[str]:
        """The audio formats of the SDP after the last log line containing ``event`` (e.g.
        "Received command 'offer'", "Replying to 'answer'")."""
        text = self.log_path.read_text(errors="replace")
        assert event in text, f"no {event!r} in rtpengine's log"
        match = re.search(r"m=audio \d+ RTP/AVP ([\d ]+)", text.rsplit(event, 1)[1])
        assert match, f"no m=audio after {event!r} in rtpengine's log"
        return match.group(1).split()


class RtpengineKamailio(Kamailio):
    """Kamailio on ``udp_port`` (UDP+TCP, no TLS) handing every call's SDP to rtpengine."""

    def __init__(self, workdir: Path, *, udp_port: int, ng_port: int) -> None:
        super().__init__(workdir, udp_port=udp_port, tls=False)
        self.ng_port = ng_port

    def _render_config(self) -> Path:
        text = KAMAILIO_RTPENGINE_CFG.read_text()
        for proto in ("udp", "tcp"):   # only where it listens: the domain stays 127.0.0.1(:5060)
            text = text.replace(f"listen={proto}:127.0.0.1:5060", f"listen={proto}:127.0.0.1:{self.udp_port}")
        path = self.workdir / "kamailio-rtpengine.cfg"
        path.write_text(text)
        return path

    def _argv(self, cfg: Path) -> list[str]:
        return ["kamailio", "-f", str(cfg), "-L", module_dir(), "-A", f'CTL_SOCK="{self.ctl}"',
                "-A", f'RTPENGINE_SOCK="udp:{LOOPBACK}:{self.ng_port}"']


# ---------------------------------------------------------------- the phone (child process)

def main() -> None:  # pragma: no cover - runs in the child
    import pjsua2 as pj

    parser = argparse.ArgumentParser()
    for name in ("user", "password", "kam-port", "log", "codec", "play", "record"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    domain = f"127.0.0.1:{args.kam_port}"

    def emit(event: str, **fields: Any) -> None:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = f"pjsua2-media-{args.user}"
    cfg.logConfig.level = 5
    cfg.logConfig.consoleLevel = 0
    cfg.logConfig.msgLogging = True
    cfg.logConfig.filename = args.log
    cfg.medConfig.noVad = True
    cfg.medConfig.clockRate = 16000
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    tcfg.publicAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    wanted = args.codec.lower() + "/"
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 255 if codec.codecId.lower().startswith(wanted) else 0)
    emit("codecs", enabled=[c.codecId for c in ep.codecEnum2() if c.priority > 0])

    calls: dict[int, Any] = {}
    media: dict[str, Any] = {"player": None, "recorder": None}

    def connect(audio: Any) -> None:
        if media["recorder"] is None:
            media["recorder"] = pj.AudioMediaRecorder()
            media["recorder"].createRecorder(args.record)
        if media["player"] is None:
            media["player"] = pj.AudioMediaPlayer()
            media["player"].createPlayer(args.play)   # loops
        audio.startTransmit(media["recorder"])
        media["player"].startTransmit(audio)

    class Call(pj.Call):  # type: ignore[misc]
        def onCallState(self, prm: Any) -> None:
            info = self.getInfo()
            emit("state", call=info.id, state=info.stateText, code=info.lastStatusCode,
                 reason=info.lastReason, remote=info.remoteUri)
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                calls.pop(info.id, None)

        def onCallMediaState(self, prm: Any) -> None:
            info = self.getInfo()
            for index, item in enumerate(info.media):
                if item.type != pj.PJMEDIA_TYPE_AUDIO:
                    continue
                codec = None
                try:
                    stream = self.getStreamInfo(index)
                    codec = f"{stream.codecName}/{stream.codecClockRate}"
                except pj.Error:
                    pass
                emit("media", call=info.id, status=int(item.status), codec=codec)
                if item.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    connect(self.getAudioMedia(index))

        def onDtmfDigit(self, prm: Any) -> None:
            emit("dtmf", call=self.getId(), digit=prm.digit)

    class Account(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:
            emit("reg", code=prm.code)

        def onIncomingCall(self, prm: Any) -> None:
            call = Call(self, prm.callId)
            calls[prm.callId] = call
            emit("incoming", call=prm.callId, remote=call.getInfo().remoteUri)
            answer = pj.CallOpParam()
            answer.statusCode = 200
            call.answer(answer)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@{domain}"
    acfg.regConfig.registrarUri = f"sip:{domain}"
    acfg.sipConfig.proxies.append(f"sip:{domain};lr")
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.natConfig.iceEnabled = False
    account = Account()
    account.create(acfg)

    def command(cmd: dict[str, Any]) -> bool:
        name = cmd["cmd"]
        call = calls.get(cmd.get("call", -1)) or next(iter(calls.values()), None)
        if name == "quit":
            return False
        if name == "call":
            new = Call(account)
            prm = pj.CallOpParam(True)
            if cmd.get("no_sdp"):  # an INVITE without SDP (delayed offer): the answer goes in the ACK
                prm.opt.flag |= pj.PJSUA_CALL_NO_SDP_OFFER
            new.makeCall(cmd["uri"], prm)
            calls[new.getId()] = new
            emit("calling", call=new.getId(), uri=cmd["uri"])
        elif name == "hangup" and call is not None:
            call.hangup(pj.CallOpParam())
        elif name == "dtmf" and call is not None:
            call.dialDtmf(cmd["digits"])   # RFC 4733 by default
        else:
            emit("error", cmd=name, reason="unknown command or no call")
        return True

    running = True
    while running:
        ep.libHandleEvents(20)
        while running and select.select([sys.stdin], [], [], 0)[0]:
            line = sys.stdin.readline()
            if not line:
                running = False
                break
            try:
                running = command(json.loads(line))
            except pj.Error as exc:
                emit("error", cmd=line.strip(), reason=exc.info())
    ep.hangupAllCalls()
    for _ in range(20):
        ep.libHandleEvents(20)
    calls.clear()
    media.clear()          # the recorder's destructor finalises the WAV header
    account = None         # every pjsua2 object goes before libDestroy (rig README)
    ep.libDestroy()


if __name__ == "__main__":  # pragma: no cover
    main()
