#!/usr/bin/env python3
"""CPU the gateway spends on one real established call, and the call set-up time.

Runs the interop rig (Kamailio, baresip 1002 auto-answering, headless Chromium with the official
WebSDK as 1001, and ``python server.py``) on loopback inside a private network namespace, places a
browser → baresip call per codec, and reads the gateway process's user+system CPU time
(/proc/<pid>/stat) over ``--seconds`` of the established call.

    .venv/bin/python benchmarks/call_cpu.py [--seconds 30] [--codecs PCMU,opus]

Needs what ./scripts/test.sh installs. Re-executes itself under ``unshare -n`` when it is not
already in a namespace that holds only ``lo``. Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.interop.rig import tones  # noqa: E402
from tests.interop.rig.baresip import Baresip  # noqa: E402
from tests.interop.rig.browser import Browser, PageServer  # noqa: E402
from tests.interop.rig.common import LOOPBACK, netns_problem  # noqa: E402
from tests.interop.rig.gateway import Gateway  # noqa: E402
from tests.interop.rig.kamailio import Kamailio  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(codec: str, seconds: float, work: Path, kam: Kamailio, pages: PageServer,
            playwright: object, tone: Path) -> dict[str, object]:
    bs = Baresip(work / f"bs-{codec}", "1002", "pass1002", tone_hz=500, answermode="auto",
                 codecs=(codec,)).start()
    gw = Gateway(work / f"gw-{codec}").start()
    browser = Browser(playwright, work / f"browser-{codec}", tone).start()
    try:
        phone = browser.open_phone(pages.url("/phone.html"))
        phone.connect(url=gw.ws_url, login="1001", auth_name="1001", password="pass1001",
                      domain=LOOPBACK, outbound_proxy=LOOPBACK, port="5060", register_required=True)
        phone.wait_event("session", "REGISTERED", 15)
        assert gw.proc is not None
        idle_start = cpu_seconds(gw.proc.pid)
        time.sleep(5)
        idle = (cpu_seconds(gw.proc.pid) - idle_start) / 5
        call_id = phone.call("1002")
        est = phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id,
                               fail_on=("FAILED", "BUSY", "FINISH"))
        start_event = next(e for e in phone.events("local") if e.get("callId") == call_id)
        setup_ms = est["t"] - start_event["t"]
        time.sleep(2)  # ICE/DTLS settle
        c0, t0 = cpu_seconds(gw.proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(gw.proc.pid), time.monotonic()
        stats = phone.stats() or {}
        phone.hangup()
        phone.wait_event("call", "FINISH", 10, call_id=call_id)
        cpu = c1 - c0
        return {"codec": codec, "setup_ms": round(setup_ms), "seconds": round(t1 - t0, 1),
                "cpu_seconds": round(cpu, 3), "cpu_percent": round(100 * cpu / (t1 - t0), 2),
                "idle_cpu_percent": round(100 * idle, 2),
                "browser_rx_packets": (stats.get("inbound") or {}).get("packetsReceived"),
                "browser_tx_packets": (stats.get("outbound") or {}).get("packetsSent")}
    finally:
        browser.stop()
        gw.stop()
        bs.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--codecs", default="PCMU,opus")
    args = parser.parse_args()
    if netns_problem() is not None:
        if os.environ.get("WCS_BENCH_IN_NETNS"):
            print(netns_problem(), file=sys.stderr)
            return 2
        unshare = shutil.which("unshare") or "unshare"
        os.execvpe(unshare, [unshare, "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                             sys.executable, *sys.argv],
                   {**os.environ, "WCS_BENCH_IN_NETNS": "1"})
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="wcs-call-cpu-"))
    tone = tones.make_tone_wav(work / "tone1000.wav", 1000, 30)
    kam = Kamailio(work / "kamailio").start()
    pages = PageServer().start()
    results = []
    try:
        with sync_playwright() as playwright:
            for codec in args.codecs.split(","):
                result = measure(codec, args.seconds, work, kam, pages, playwright, tone)
                print(f"{codec:6} set-up {result['setup_ms']:5} ms   gateway CPU "
                      f"{result['cpu_percent']:5.2f} % of one core over {result['seconds']} s "
                      f"(idle {result['idle_cpu_percent']} %)", flush=True)
                results.append(result)
    finally:
        pages.stop()
        kam.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"benchmark": "call_cpu", "calls": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
