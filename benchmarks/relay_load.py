#!/usr/bin/env python3
"""Relay load: N calls of 20 ms audio both ways through our relay and through rtpengine, side by side.

    .venv/bin/python benchmarks/relay_load.py [--steps 50,100,200,400,800] [--seconds 5]
                                             [--modes webrtc,plain,rtpengine] [--quick]

Modes (each in its own server process pinned to CPU 0; this load generator runs on CPU 1):

* ``webrtc`` — the product path: simulated browsers (our STUN check, DTLS client and SRTP) ⇄
  the real :class:`~wcs.aio.media.MediaManager` ⇄ simulated SIP phones (plain RTP);
* ``plain``  — plain RTP ⇄ plain RTP through the relay's per-direction pieces (no ICE/DTLS/SRTP;
  see ``benchmarks/relay/server.py``), the like-for-like comparison with:
* ``rtpengine`` — rtpengine 10.5 userspace (``--table=-1``, one worker thread), the same plain
  traffic, calls set up over its ng protocol.

First the relay's per-packet cost without sockets (``benchmarks/relay/hotpath.py``).  Then, per
step: loss, one-way latency through the relay (p50/p99; ``added`` subtracts the same measurement
made peer to peer without a relay), the relay's CPU (utime+stime from /proc over the measured
window) as a share of one core and per call, the load generator's own CPU, and (our relay) the
garbage collector's passes per generation and longest pause while the calls ran (JSON ``gc_passes``,
``gc_max_pause_ms``).  Steps stop growing at the first loss or when the load generator falls behind.
Capacity per core is the largest N with zero loss below 90 % of the relay's core, and N / CPU share
extrapolated from that step (the load generator — Python too — saturates before rtpengine does); the
CPU ratio at equal N compares the two relays on the same load.  The Python heap per established call
is read with tracemalloc in a separate ``webrtc`` server, the resident memory in another one.

Everything runs on 127.0.0.1 inside a private network namespace (re-executes itself under
``unshare -n``).  Prints a table, then ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.relay.hotpath import per_packet_us  # noqa: E402
from benchmarks.relay.loadgen import Leg, Traffic, bind_leg_socket, handshake, run  # noqa: E402
from benchmarks.relay.peers import SimBrowser, SimPhone  # noqa: E402
from benchmarks.relay.rtpengine import Rtpengine  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CPU, CLIENT_CPU = 0, 1
HEAP_CALLS = 200


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Server:
    """``benchmarks/relay/server.py`` in a child process, pinned to SERVER_CPU."""

    def __init__(self, mode: str, *, tracemalloc: bool = False) -> None:
        argv = [sys.executable, "-m", "benchmarks.relay.server", "--mode", mode, "--ports", "10000-19999"]
        if tracemalloc:
            argv.append("--tracemalloc")
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=lambda: os.sched_setaffinity(0, {SERVER_CPU}))
        assert json.loads(self._line()) == {"ready": True}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"relay server exited ({self.proc.poll()})")
        return line

    def ask(self, op: str, **fields: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        if "error" in answer:
            raise RuntimeError(f"relay server: {answer['error']}")
        return answer["ok"]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write('{"op": "quit"}\n')
            self.proc.stdin.flush()
            self.proc.wait(10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def webrtc_calls(server: Server, n: int, first: int = 0) -> list[Leg]:
    """N browser ⇄ MediaManager ⇄ phone calls, connected and handshaken."""
    legs: list[Leg] = []
    browsers = []
    connect = []
    for i, call in enumerate(server.ask("setup", calls=n), first):
        browser_sock, phone_sock = bind_leg_socket(), bind_leg_socket()
        browser = SimBrowser(("127.0.0.1", call["webrtc_port"]), call["ufrag"], call["pwd"],
                             call["fingerprint"], ssrc=0x10000000 + i)
        phone = SimPhone(0x20000000 + i)
        browsers.append((browser, browser_sock))
        connect.append({"id": call["id"], "phone": phone_sock.getsockname(),
                        "fingerprint": browser.fingerprint, "ice": [browser.ufrag, browser.pwd]})
        legs.append(Leg(browser_sock, browser.server, 2 * i, browser.packet,
                        lambda data, b=browser: b.receive(data, time.monotonic()), 0))
        legs.append(Leg(phone_sock, ("127.0.0.1", call["sip_port"]), 2 * i + 1, phone.packet, direction=1))
    server.ask("connect", calls=connect)
    handshake(browsers)
    return legs


def plain_calls(server: Server, n: int) -> list[Leg]:
    legs: list[Leg] = []
    connect = []
    for i, call in enumerate(server.ask("setup", calls=n)):
        a, b = bind_leg_socket(), bind_leg_socket()
        connect.append({"id": call["id"], "a": a.getsockname(), "b": b.getsockname()})
        legs.append(Leg(a, ("127.0.0.1", call["ports"][0]), 2 * i, SimPhone(0x30000000 + i).packet,
                        direction=0))
        legs.append(Leg(b, ("127.0.0.1", call["ports"][1]), 2 * i + 1, SimPhone(0x40000000 + i).packet,
                        direction=1))
    server.ask("connect", calls=connect)
    return legs


def rtpengine_calls(engine: Rtpengine, n: int) -> list[Leg]:
    legs: list[Leg] = []
    for i in range(n):
        a, b = bind_leg_socket(), bind_leg_socket()
        to_a_side, to_b_side = engine.call(f"bench{i}", a.getsockname(), b.getsockname())
        legs.append(Leg(a, to_a_side, 2 * i, SimPhone(0x50000000 + i).packet, direction=0))
        legs.append(Leg(b, to_b_side, 2 * i + 1, SimPhone(0x60000000 + i).packet, direction=1))
    return legs


def direct_legs(n: int) -> list[Leg]:
    """Peer to peer without a relay: the latency baseline."""
    legs: list[Leg] = []
    for i in range(n):
        a, b = bind_leg_socket(), bind_leg_socket()
        legs.append(Leg(a, b.getsockname(), 2 * i, SimPhone(0x70000000 + i).packet, direction=0))
        legs.append(Leg(b, a.getsockname(), 2 * i + 1, SimPhone(0x71000000 + i).packet, direction=1))
    return legs


def measure(legs: list[Leg], pid: int | None, seconds: float) -> tuple[Traffic, float]:
    """Run the traffic; returns it and the relay's CPU share of one core over the window."""
    marks: list[tuple[float, float]] = []

    def window(_: bool) -> None:
        marks.append((time.monotonic(), cpu_seconds(pid) if pid is not None else 0.0))

    traffic = run(legs, seconds, on_window=window)
    (t0, c0), (t1, c1) = marks
    return traffic, (c1 - c0) / (t1 - t0)


def close(legs: list[Leg]) -> None:
    for leg in legs:
        leg.sock.close()


def step_row(mode: str, n: int, traffic: Traffic, cpu: float, base: tuple[float, float]) -> dict[str, Any]:
    p50, p99 = traffic.percentile(0.50), traffic.percentile(0.99)
    return {"mode": mode, "calls": n, "loss": round(traffic.loss, 6), "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3), "added_p50_ms": round(p50 - base[0], 3),
            "added_p99_ms": round(p99 - base[1], 3),
            "relay_cpu": round(cpu, 4), "cpu_per_call_pct": round(100 * cpu / n, 5),
            "client_cpu": round(traffic.client_cpu, 3), "late_slots": traffic.late_slots,
            "packets": sum(traffic.sent)}


def rss(pid: int) -> int:
    """Resident set size of a process, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def memory_per_call() -> tuple[float, float]:
    """Python heap (tracemalloc) and resident memory (another server, without tracemalloc) per
    established webrtc call, bytes; RSS also counts OpenSSL's and libsrtp's C allocations."""
    figures = []
    for traced in (True, False):
        server = Server("webrtc", tracemalloc=traced)
        try:
            warm = webrtc_calls(server, 1)
            run(warm, 0.5, warmup=0.2)
            before = server.ask("heap") if traced else rss(server.pid)
            legs = webrtc_calls(server, HEAP_CALLS, first=1)
            run(warm + legs, 1.0, warmup=0.5)
            after = server.ask("heap") if traced else rss(server.pid)
            close(warm + legs)
            figures.append((after - before) / HEAP_CALLS)
        finally:
            server.stop()
    return figures[0], figures[1]


def profile(n: int, seconds: float) -> str:
    """The webrtc relay's hottest functions under N calls."""
    server = Server("webrtc")
    try:
        legs = webrtc_calls(server, n)
        traffic = run(legs, seconds, on_window=lambda started: server.ask("profile", on=started) and None)
        close(legs)
        return f"loss {traffic.loss:.4%}\n" + server.ask("profile", on=False)
    finally:
        server.stop()


def run_mode(mode: str, steps: list[int], seconds: float, base: tuple[float, float],
             work: Path) -> list[dict[str, Any]]:
    rows = []
    for n in steps:
        engine = server = None
        collector = None
        try:
            if mode == "rtpengine":
                engine = Rtpengine(work, cpu=SERVER_CPU)
                legs, pid = rtpengine_calls(engine, n), engine.pid
            else:
                server = Server(mode)
                legs = webrtc_calls(server, n) if mode == "webrtc" else plain_calls(server, n)
                pid = server.pid
                server.ask("gc", reset=True)  # the collector's work while the calls run (warm-up + window)
            traffic, cpu = measure(legs, pid, seconds)
            if server is not None:
                collector = server.ask("gc")
            close(legs)
        finally:
            if engine is not None:
                engine.stop()
            if server is not None:
                server.stop()
        row = step_row(mode, n, traffic, cpu, base)
        if collector is not None:
            row["gc_passes"] = collector["passes"]
            row["gc_max_pause_ms"] = round(collector["max_pause_ms"], 3)
        rows.append(row)
        print(f"{mode:9} {n:6} {row['loss']:8.4%} {row['p50_ms']:8.3f} {row['p99_ms']:8.3f} "
              f"{row['added_p50_ms']:8.3f} {row['added_p99_ms']:8.3f} {row['relay_cpu']:7.1%} "
              f"{row['cpu_per_call_pct']:9.4f} {row['client_cpu']:7.1%} {row['late_slots']:6}", flush=True)
        if row["loss"] > 0 or traffic.late_slots > 0.05 * seconds * 1000 or cpu > 0.97:
            break
    return rows


def capacity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Largest step with zero loss and an unsaturated relay (≤ 90 % of its core), and N / CPU share there."""
    clean = [r for r in rows if r["loss"] <= 0 and r["relay_cpu"] <= 0.9]
    if not clean:
        return {"max_zero_loss_tested": 0, "per_core_extrapolated": None}
    last = clean[-1]
    per_core = int(last["calls"] / last["relay_cpu"]) if last["relay_cpu"] > 0 else None
    return {"max_zero_loss_tested": last["calls"], "per_core_extrapolated": per_core}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="50,100,200,400,600,800,1000,1500,2000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--modes", default="webrtc,plain,rtpengine")
    parser.add_argument("--quick", action="store_true", help="steps 50,100 and 2 s each")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="only cProfile the webrtc relay with N calls")
    args = parser.parse_args()
    if not os.environ.get("WCS_BENCH_IN_NETNS") and [n for _, n in socket.if_nameindex()] != ["lo"]:
        unshare = shutil.which("unshare") or "unshare"
        os.execvpe(unshare, [unshare, "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                             sys.executable, *sys.argv], {**os.environ, "WCS_BENCH_IN_NETNS": "1"})
    if args.quick:
        args.steps, args.seconds = "50,100", 2.0
    steps = [int(s) for s in args.steps.split(",")]
    modes = args.modes.split(",")
    os.sched_setaffinity(0, {CLIENT_CPU})
    work = Path(tempfile.mkdtemp(prefix="wcs-relay-load-"))

    if args.profile:
        print(profile(args.profile, args.seconds))
        return
    base_legs = direct_legs(100)
    base_traffic = run(base_legs, min(args.seconds, 3.0))
    close(base_legs)
    base = (base_traffic.percentile(0.5), base_traffic.percentile(0.99))
    print(f"baseline peer to peer (no relay): p50 {base[0]:.3f} ms, p99 {base[1]:.3f} ms")
    hotpath = per_packet_us()
    print(f"relay per packet without sockets (Python + libsrtp): SIP → browser {hotpath['from_sip_us']} µs, "
          f"browser → SIP {hotpath['from_browser_us']} µs")
    heap, resident = memory_per_call() if "webrtc" in modes else (None, None)
    if heap is not None and resident is not None:
        print(f"per established webrtc call: python heap {heap / 1024:.1f} KiB, "
              f"resident {resident / 1024:.1f} KiB")
    print(f"{'mode':9} {'calls':>6} {'loss':>8} {'p50ms':>8} {'p99ms':>8} {'+p50ms':>8} {'+p99ms':>8} "
          f"{'relay':>7} {'%core/cl':>9} {'client':>7} {'late':>6}")
    results = {mode: run_mode(mode, steps, args.seconds, base, work) for mode in modes}
    caps = {mode: capacity(rows) for mode, rows in results.items()}
    ours, ref = caps.get("plain", {}).get("per_core_extrapolated"), caps.get("rtpengine", {}).get(
        "per_core_extrapolated")
    web = caps.get("webrtc", {}).get("per_core_extrapolated")
    engine = {r["calls"]: r["relay_cpu"] for r in results.get("rtpengine", [])}
    cpu_ratio = {mode: {n: round(engine[r["calls"]] / r["relay_cpu"], 3) for r in rows
                        if (n := r["calls"]) in engine and r["relay_cpu"] > 0}
                 for mode, rows in results.items() if mode != "rtpengine"}
    summary = {"bench": "relay_load", "python": sys.version.split()[0], "seconds": args.seconds,
               "loadavg_1min": os.getloadavg()[0], "cpus": os.cpu_count(),
               "baseline_p50_ms": round(base[0], 3), "baseline_p99_ms": round(base[1], 3),
               "heap_per_call_bytes": int(heap) if heap is not None else None,
               "rss_per_call_bytes": int(resident) if resident is not None else None, "hotpath": hotpath,
               "capacity": caps,
               "ratio_webrtc_vs_rtpengine": round(web / ref, 3) if web and ref else None,
               "ratio_plain_vs_rtpengine": round(ours / ref, 3) if ours and ref else None,
               "cpu_ratio_rtpengine_over_ours_at_n": cpu_ratio,
               "steps": [row for rows in results.values() for row in rows]}
    for mode, cap in caps.items():
        print(f"{mode}: zero loss up to {cap['max_zero_loss_tested']} calls tested; "
              f"~{cap['per_core_extrapolated']} calls per core (extrapolated from CPU)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
