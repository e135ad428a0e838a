"""Shared helpers of the interop rig: loopback checks, free ports, managed processes, log tails.

Everything here is bounded: waits take a timeout, processes are stopped with a signal and then
killed, and a process is only ever signalled by the id (process group) this module started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[3]
NETNS_HINT = ("run ./scripts/test.sh, or: unshare -n sh -c 'ip link set lo up && "
              "exec .venv/bin/pytest tests/interop …'")


class RigError(RuntimeError):
    """A rig component could not be started or driven (message says which and why)."""


def interfaces() -> list[str]:
    """Network interfaces of this process's network namespace (not /sys, which may be stale)."""
    return [name for _, name in socket.if_nameindex()]


def netns_problem() -> str | None:
    """None when we run in a namespace that holds only an up `lo`, else what is wrong."""
    names = interfaces()
    if names != ["lo"]:
        return (f"the interop tests must run in a private network namespace holding only 'lo', "
                f"but this one has {names}: {NETNS_HINT}")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOOPBACK, 0))
    except OSError as exc:
        return f"'lo' is not usable ({exc}); bring it up with 'ip link set lo up': {NETNS_HINT}"
    return None


def _bindable(port: int, kind: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((LOOPBACK, port))
        return True
    except OSError:
        return False


def free_port(udp: bool = True, tcp: bool = True, avoid: Sequence[int] = (),
              tcp_also_next: bool = False) -> int:
    """A port on 127.0.0.1 that is free for UDP and/or TCP right now (bounded search).
    `tcp_also_next`: port + 1 must be free for TCP too (baresip puts SIP over TLS there)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port in avoid or (tcp_also_next and (port + 1 in avoid or port >= 65535)):
            continue
        if udp and tcp and not _bindable(port, socket.SOCK_STREAM):
            continue
        if tcp_also_next and not _bindable(port + 1, socket.SOCK_STREAM):
            continue
        return port
    raise RigError("no free port found on 127.0.0.1")


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
               what: str = "condition") -> object:
    """Poll `predicate` until it returns something truthy; RigError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise RigError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def tcp_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_tail(path: Path, offset: int = 0, max_chars: int = 20000) -> str:
    """Text of `path` from byte `offset`, cut to its last `max_chars` characters."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = data.decode("utf-8", "replace")
    if len(text) > max_chars:
        text = f"<… {len(text) - max_chars} characters cut, full log: {path}>\n" + text[-max_chars:]
    return text


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL if the test process dies (prctl PR_SET_PDEATHSIG),
    so nothing outlives a crashed or killed pytest."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


class ManagedProcess:
    """A child process in its own process group, output to a log file, always stoppable."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as exc:
            self._log.close()
            raise RigError(f"{name}: cannot start {self.argv[0]}: {exc}") from exc
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll()

    def log_text(self, offset: int = 0, max_chars: int = 20000) -> str:
        self._log.flush()
        return read_tail(self.log_path, offset, max_chars)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)        # the group this object created (pgid == pid)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int | None:
        """Send `sig` to the process, wait up to `timeout` s, then SIGKILL its whole group."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        # children left behind in the group (e.g. Kamailio workers): make sure they are gone
        self._signal_group(signal.SIGKILL)
        self._log.close()
        return self.proc.poll()
