"""Our gateway, started exactly as a user would: `python server.py` from the repository root.

    gw = Gateway(workdir, ws_port=8080, http_port=8081, sip_port=5070,
                 media_port_from=31000, media_port_to=31999).start()
    gw.ws_url                       # "ws://127.0.0.1:8080/"
    gw.log_text()                   # stdout+stderr (one line per call state change, with the call id)
    gw.stop()                       # SIGINT, then SIGKILL after `stop_timeout`
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from .common import LOOPBACK, REPO_ROOT, ManagedProcess, RigError, file_size, read_tail, tcp_accepts

SERVER = REPO_ROOT / "server.py"


def venv_python() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


class Gateway:
    def __init__(self, workdir: Path, *, address: str = LOOPBACK, ws_port: int = 8080,
                 http_port: int = 8081, sip_port: int = 5070, media_port_from: int = 31000,
                 media_port_to: int = 31999, extra_args: list[str] | tuple[str, ...] = (),
                 stop_timeout: float = 5.0, script: Path = SERVER) -> None:
        self.script = Path(script)
        self.workdir = Path(workdir)
        self.address = address
        self.ws_port = ws_port
        self.http_port = http_port
        self.sip_port = sip_port
        self.media_port_from = media_port_from
        self.media_port_to = media_port_to
        self.extra_args = list(extra_args)
        self.stop_timeout = stop_timeout
        self.log_path = self.workdir / "gateway.log"
        self.proc: ManagedProcess | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.address}:{self.ws_port}/"

    @property
    def http_url(self) -> str:
        return f"http://{self.address}:{self.http_port}"

    def argv(self) -> list[str]:
        script = "server.py" if self.script == SERVER else str(self.script)
        return [venv_python(), script, "--address", self.address,
                "--ws-port", str(self.ws_port), "--http-port", str(self.http_port),
                "--sip-port", str(self.sip_port), "--media-port-from", str(self.media_port_from),
                "--media-port-to", str(self.media_port_to), *self.extra_args]

    def start(self, timeout: float = 20.0) -> Gateway:
        if not self.script.exists():
            raise RigError(f"{self.script} does not exist (the gateway has not landed yet)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = ManagedProcess("gateway", self.argv(), self.log_path, cwd=REPO_ROOT, env=env)
        end = time.monotonic() + timeout
        while not tcp_accepts(self.address, self.ws_port):
            if not self.proc.alive():
                log = self.log_text(max_chars=8000)
                code = self.proc.returncode()
                self.proc.stop()
                raise RigError(f"the gateway exited with code {code} before its WebSocket port "
                               f"{self.ws_port} accepted connections; command: {' '.join(self.argv())}"
                               f"\n--- gateway.log ---\n{log}")
            if time.monotonic() > end:
                log = self.log_text(max_chars=8000)
                self.stop()
                raise RigError(f"the gateway's WebSocket port {self.ws_port} did not accept TCP "
                               f"connections within {timeout} s\n--- gateway.log ---\n{log}")
            time.sleep(0.05)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self) -> int | None:
        """SIGINT (what Ctrl-C does), SIGKILL after stop_timeout; returns the exit code."""
        if self.proc is None:
            return None
        return self.proc.stop(signal.SIGINT, timeout=self.stop_timeout)

    def log_size(self) -> int:
        return file_size(self.log_path)

    def log_text(self, offset: int = 0, max_chars: int = 20000) -> str:
        return read_tail(self.log_path, offset, max_chars)

    def log_lines_with(self, text: str) -> list[str]:
        return [line for line in read_tail(self.log_path, 0, 10**7).splitlines() if text in line]
