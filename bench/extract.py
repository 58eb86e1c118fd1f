"""Extraction benchmark: the new-api client against the sandbox's bulk mode over loopback.

    .venv/bin/python -m bench.extract [--records 1000000] [--latency-ms 20] [--concurrency 8]

The sandbox runs in a child process (so this process's CPU and memory are the client's alone) and
serves N synthetic log rows in one UTC day with a fixed per-request latency. The client extracts the
whole day exactly as a daily run does (closed windows, concurrent pages, dedup, canonical frame) and
lands it with the real atomic Parquet writer. Printed: records/s, pages/s, the ceiling
`concurrency / latency` pages/s and achieved/ceiling, client CPU seconds per million records, and
peak RSS. Targets (issue 3): ≥ 90 % of the ceiling at concurrency 8, peak memory < 1 GiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

_CHILD = """
import sys
from datetime import date
from orchestration.sandbox.bulk import bulk_scenario
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.server import serve
sys.setswitchinterval(0.0005)
n, day, lat = int(sys.argv[1]), date.fromisoformat(sys.argv[2]), float(sys.argv[3])
with serve(bulk_scenario(n, day, seed=1), faults=Faults(latency_ms=lat)) as url:
    print(url, flush=True)
    sys.stdin.read()
"""


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _peak_mib() -> float:
    """High-water resident memory of this process so far (VmHWM; ru_maxrss as a fallback)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.extract", description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--window-minutes", type=int, default=60)
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 1, 15))
    ap.add_argument("--page-worker", choices=("auto", "on", "off"), default="auto",
                    help="normalize big days' pages in a child process: auto = the client's default (on with "
                         "4+ CPUs), on = for any run over 3,000 pages, off = never")
    args = ap.parse_args(argv)

    # imported late so `--help` is instant
    from orchestration.config import GatewayConfig
    from orchestration.gateways import pager
    from orchestration.gateways.newapi import NewApiClient
    from orchestration.landing import write_partition
    from orchestration.sandbox import SANDBOX_TOKEN, SANDBOX_USER_ID

    if args.page_worker == "on":
        pager.WORKER_MIN_PAGES = pager.WORKER_DEFAULT_MIN_PAGES
    elif args.page_worker == "off":
        pager.WORKER_MIN_PAGES = 10**12

    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(args.records), args.day.isoformat(),
                              str(args.latency_ms)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = child.stdout.readline().strip() if child.stdout else ""
        if not url.startswith("http"):
            print("sandbox did not start", file=sys.stderr)
            return 2
        os.environ["BENCH_GATEWAY_TOKEN"] = SANDBOX_TOKEN
        os.environ["BENCH_GATEWAY_USER_ID"] = SANDBOX_USER_ID
        cfg = GatewayConfig(name="bench", dialect="newapi", base_url=url, token_env="BENCH_GATEWAY_TOKEN",
                            user_id_env="BENCH_GATEWAY_USER_ID", max_concurrency=args.concurrency,
                            page_size=args.page_size, window_minutes=args.window_minutes, timeout_seconds=30)
        progress: list[str] = []
        start = datetime.combine(args.day, dtime(), UTC)
        client = NewApiClient(cfg, progress.append, now=start + timedelta(days=1, hours=6))
        client.usage(start, start + timedelta(minutes=1))  # warm-up: first-use imports, connections
        client.stats.requests = client.stats.retries = client.stats.resends = 0
        cpu0, kids0, t0 = _cpu(), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        df = client.usage(start, start + timedelta(days=1))
        t_extract = time.perf_counter() - t0
        # the page worker (orchestration/gateways/page_worker.py) is a child the client waited for when
        # the extraction ended; the sandbox child is still running, so this is the worker's CPU alone
        worker_cpu = _cpu(resource.RUSAGE_CHILDREN) - kids0
        worker_peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if worker_cpu else 0.0
        cpu_extract = _cpu() - cpu0 + worker_cpu
        peak_extract_mib = _peak_mib()
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            path = write_partition(df, Path(tmp), "usage_records", args.day)
            t_land = time.perf_counter() - t1
            size = path.stat().st_size
        cpu_total = _cpu() - cpu0 + worker_cpu
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)
    server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu_s = server_cpu.ru_utime + server_cpu.ru_stime - worker_cpu

    n = len(df)
    pages = client.stats.requests
    data_pages = -(-n // args.page_size)
    ceiling = args.concurrency / (args.latency_ms / 1000.0)
    pages_s = pages / t_extract
    peak_mib = _peak_mib()
    lines = [
        f"records            {n:,} (requested {args.records:,}; unique keys {df['record_key'].nunique():,})",
        (f"requests           {pages:,} ({data_pages:,} data pages + {pages - data_pages:,} probes/re-reads/retries;"
        f" retries {client.stats.retries}, resent on a fresh connection {client.stats.resends})"),
        f"extract wall       {t_extract:.2f} s   (+ land to Parquet {t_land:.2f} s, {size / 2**20:.1f} MiB)",
        f"records/s          {n / t_extract:,.0f}",
        f"pages/s            {pages_s:,.1f}   (data pages/s {data_pages / t_extract:,.1f})",
        f"ceiling            {ceiling:,.1f} pages/s  (= {args.concurrency} / {args.latency_ms:g} ms)",
        f"achieved/ceiling   {pages_s / ceiling:.1%}   (data pages only: {data_pages / t_extract / ceiling:.1%})",
        (f"client CPU         {cpu_extract / n * 1e6:.1f} s per million records (extract)"
        f", {cpu_total / n * 1e6:.1f} s incl. landing; of which page worker {worker_cpu / n * 1e6:.1f} s"),
        (f"peak RSS           {peak_mib:,.0f} MiB (client process, extract + land); {peak_extract_mib:,.0f} MiB"
        " when the extracted frame was returned"
        + (f"; page worker peak {worker_peak_mib:,.0f} MiB (a child that ends with the extraction, before the"
           " frame is built)" if worker_cpu else "; page worker not used")),
        (f"sandbox CPU        {server_cpu_s:.1f} s in its own process ({server_cpu_s / n * 1e6:.1f} s per million records;"
        f" {os.cpu_count()} cores on this machine, load average {os.getloadavg()[0]:.1f})"),
    ]
    print("\n".join(lines))
    ok = n == args.records and pages_s / ceiling >= 0.9 and peak_mib < 1024
    print("targets            " + ("met" if ok else "NOT met (see figures above)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
