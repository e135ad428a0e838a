"""A pjsua2 phone for the user agent interop tests, run as a child process.

As a program (``python sipua_pjsua2.py --user 1002 …``) it registers at the Kamailio of
sipua_helpers.py and obeys JSON commands on stdin, one per line, writing JSON events to
stdout: registration, calls and their states, media, DTMF (RFC 4733 or SIP INFO),
MESSAGE, transfer requests/status and Replaces.  pjsua2 runs single-threaded
(``threadCnt = 0``, ``mainThreadOnly``) and polls ``libHandleEvents``; every Call object
is dropped before ``libDestroy`` (the rig README's lifetime gotcha).  Its SIP trace goes to
``--log``.

As a module, :class:`Pjsua2` starts that program and talks to it (``command``, ``events``,
``wait_event``).  A separate process keeps pjsua2's threads and crashes away from pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------- the controller (pytest side)


class Pjsua2:
    """One pjsua2 phone process (see the module docstring)."""

    def __init__(self, workdir: Path, user: str, password: str, kam_port: int, *, prack: str = "optional",
                 timer: str = "optional", session_expires: int = 1800, min_se: int = 90) -> None:
        self.workdir = workdir
        self.user = user
        self.log = workdir / f"pjsua2-{user}.log"
        self.argv = [sys.executable, str(HERE), "--user", user, "--password", password,
                     "--kam-port", str(kam_port), "--log", str(self.log), "--prack", prack,
                     "--timer", timer, "--session-expires", str(session_expires), "--min-se", str(min_se)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.events: list[dict[str, Any]] = []
        self._buf = b""
        self._stderr = workdir / f"pjsua2-{user}.stderr"

    def start(self, timeout: float = 10.0) -> Pjsua2:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self._stderr, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, start_new_session=True)
        self.wait_event(lambda e: e["event"] == "reg" and e["code"] == 200, timeout, "registration")
        return self

    def command(self, cmd: str, **args: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
        self.proc.stdin.flush()

    def poll(self) -> list[dict[str, Any]]:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        # pjlib prints a line or two to stdout before its log settings apply: keep the events only
        new = [json.loads(line) for line in lines if line.startswith(b'{"event"')]
        self.events += new
        return new

    def find(self, match: Any) -> dict[str, Any] | None:
        self.poll()
        return next((e for e in self.events if match(e)), None)

    def wait_event(self, match: Any, timeout: float, what: str) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = self.find(match)
            if found is not None:
                return found
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"pjsua2 {self.user} exited: {self.stderr()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"pjsua2 {self.user}: no {what} within {timeout} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def stderr(self) -> str:
        return self._stderr.read_text(errors="replace") if self._stderr.exists() else ""

    def trace(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# ---------------------------------------------------------------- the phone (child process)


def main() -> None:  # pragma: no cover - runs in the child
    import pjsua2 as pj

    parser = argparse.ArgumentParser()
    for name in ("user", "password", "kam-port", "log", "prack", "timer", "session-expires", "min-se"):
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
    cfg.uaConfig.userAgent = f"pjsua2-{args.user}"
    cfg.logConfig.level = 5
    cfg.logConfig.consoleLevel = 0
    cfg.logConfig.msgLogging = True
    cfg.logConfig.filename = args.log
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    tcfg.publicAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith("PCMU/") else 0)

    calls: dict[int, Any] = {}
    keep: list[Any] = []
    account: Any = None   # set once the classes below exist

    class Call(pj.Call):  # type: ignore[misc]
        def onCallState(self, prm: Any) -> None:
            info = self.getInfo()
            emit("state", call=info.id, state=info.stateText, code=info.lastStatusCode,
                 reason=info.lastReason, remote=info.remoteUri)
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                calls.pop(info.id, None)
            else:
                calls.setdefault(info.id, self)   # e.g. the call a REFER made

        def onCallMediaState(self, prm: Any) -> None:
            info = self.getInfo()
            for index, media in enumerate(info.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO:
                    emit("media", call=info.id, status=int(media.status), dir=int(media.dir))
                    if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                        try:
                            self.getAudioMedia(index)
                        except pj.Error:
                            pass

        def onDtmfEvent(self, prm: Any) -> None:
            method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc2833"
            emit("dtmf", call=self.getId(), digit=prm.digit, method=method, duration=prm.duration)

        def onCallTransferRequest(self, prm: Any) -> None:
            emit("transfer_request", call=self.getId(), dst=prm.dstUri)
            new = Call(account)
            keep.append(new)
            prm.newCall = new
            prm.statusCode = 202

        def onCallTransferStatus(self, prm: Any) -> None:
            emit("transfer_status", call=self.getId(), code=prm.statusCode, final=bool(prm.finalNotify))

        def onCallReplaceRequest(self, prm: Any) -> None:
            emit("replace_request", call=self.getId())

        def onCallReplaced(self, prm: Any) -> None:
            new = Call(account, prm.newCallId)
            calls[prm.newCallId] = new
            prm.newCall = new
            emit("replaced", call=self.getId(), new_call=prm.newCallId)

        def onInstantMessage(self, prm: Any) -> None:
            emit("im", call=self.getId(), sender=prm.fromUri, type=prm.contentType, body=prm.msgBody)

    class Account(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:
            emit("reg", code=prm.code)

        def onIncomingCall(self, prm: Any) -> None:
            call = Call(self, prm.callId)
            calls[prm.callId] = call
            info = call.getInfo()
            emit("incoming", call=prm.callId, remote=info.remoteUri)
            answer = pj.CallOpParam()
            answer.statusCode = 180
            call.answer(answer)
            answer = pj.CallOpParam()
            answer.statusCode = 200
            call.answer(answer)

        def onInstantMessage(self, prm: Any) -> None:
            emit("im", call=None, sender=prm.fromUri, type=prm.contentType, body=prm.msgBody)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@{domain}"
    acfg.regConfig.registrarUri = f"sip:{domain}"
    acfg.sipConfig.proxies.append(f"sip:{domain};lr")
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    acfg.callConfig.prackUse = {"mandatory": pj.PJSUA_100REL_MANDATORY, "optional": pj.PJSUA_100REL_OPTIONAL,
                                "off": pj.PJSUA_100REL_NOT_USED}[args.prack]
    acfg.callConfig.timerUse = {"always": pj.PJSUA_SIP_TIMER_ALWAYS, "optional": pj.PJSUA_SIP_TIMER_OPTIONAL,
                                "required": pj.PJSUA_SIP_TIMER_REQUIRED,
                                "inactive": pj.PJSUA_SIP_TIMER_INACTIVE}[args.timer]
    acfg.callConfig.timerSessExpiresSec = int(args.session_expires)
    acfg.callConfig.timerMinSESec = int(args.min_se)
    account = Account()
    account.create(acfg)

    def command(cmd: dict[str, Any]) -> bool:
        name = cmd["cmd"]
        call = calls.get(cmd.get("call", -1))
        if name == "quit":
            return False
        if name == "call":
            new = Call(account)
            prm = pj.CallOpParam(True)
            for hname, hvalue in cmd.get("headers", []):
                header = pj.SipHeader()
                header.hName, header.hValue = hname, hvalue
                prm.txOption.headers.append(header)
            new.makeCall(cmd["uri"], prm)
            calls[new.getId()] = new
            emit("calling", call=new.getId(), uri=cmd["uri"])
        elif name == "hangup" and call is not None:
            call.hangup(pj.CallOpParam())
        elif name == "hold" and call is not None:
            call.setHold(pj.CallOpParam(True))
        elif name == "unhold" and call is not None:
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(prm)
        elif name == "xfer" and call is not None:
            call.xfer(cmd["uri"], pj.CallOpParam(True))
        elif name == "xfer_replaces" and call is not None:
            call.xferReplaces(calls[cmd["other"]], pj.CallOpParam(True))
        elif name == "info" and call is not None:
            prm = pj.CallSendRequestParam()
            prm.method = "INFO"
            prm.txOption.contentType = cmd["type"]
            prm.txOption.msgBody = cmd["body"]
            call.sendRequest(prm)
        elif name == "message":
            buddy_cfg = pj.BuddyConfig()
            buddy_cfg.uri = cmd["uri"]
            buddy = pj.Buddy()
            buddy.create(account, buddy_cfg)
            prm = pj.SendInstantMessageParam()
            prm.content = cmd["body"]
            buddy.sendInstantMessage(prm)
            keep.append(buddy)
        elif name == "calls":
            emit("calls", calls=sorted(calls))
        else:
            emit("error", cmd=name, reason="unknown command or call")
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
    keep.clear()
    account = None   # drop every pjsua2 object before libDestroy (rig README)
    ep.libDestroy()


if __name__ == "__main__":  # pragma: no cover
    main()
