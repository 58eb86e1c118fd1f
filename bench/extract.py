"""Extraction benchmark: recon's new-api client vs a bare httpx paging loop, over the same sandbox.

    .venv/bin/python -m bench.extract [--records 100000] [--latency-ms 100] [--concurrency 8]
                                      [--rpm 600] [--paced-hours 3]

The sandbox runs in a child process (so this process's CPU is the client's alone) and serves N
synthetic new-api log rows in one UTC day, each request answered `latency_ms` after it arrived (a
realistic gateway page time). Two rounds, each running recon and then the bare loop:

- **unpaced**: the whole day at `concurrency` requests in flight; ceiling = concurrency / latency;
- **paced**: the first `paced_hours` of the day with `requests_per_minute = rpm`; ceiling =
  min(rpm / 60, concurrency / latency) requests/s, the gateway limiter's pace.

recon extracts exactly as a daily run does (closed windows, concurrent pages, total checks, dedup,
normalization to the canonical frame). The bare loop is the least a client can do: one
`httpx.AsyncClient`, probe each window, fetch its other pages concurrently, `orjson.loads` each body,
count the items; paced by the same `aiolimiter.AsyncLimiter`. Printed per run: requests, wall time,
requests/s, achieved/ceiling, client CPU seconds per 1,000 requests; and recon / bare; and the
client's peak RSS once recon's whole day is extracted.
Targets (issue 16): recon ≥ 97 % of the ceiling and ≥ 0.97 × the bare loop in both rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

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


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
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


@dataclass
class Run:
    who: str
    requests: int
    records: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.wall


async def _bare(
    url: str,
    headers: dict[str, str],
    windows: list[tuple[int, int]],
    page_size: int,
    concurrency: int,
    rpm: float | None,
) -> tuple[int, int]:
    """(requests, records) of the simplest correct paging loop over `windows` (inclusive seconds)."""
    import httpx
    import orjson
    from aiolimiter import AsyncLimiter

    limiter = AsyncLimiter(1, 60.0 / rpm) if rpm else None
    sem = asyncio.Semaphore(concurrency)
    count = {"requests": 0, "records": 0}
    async with httpx.AsyncClient(
        base_url=url,
        headers=headers,
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    ) as client:

        async def page(lo: int, hi: int, p: int) -> tuple[int, int]:
            async with sem:
                if limiter is not None:
                    await limiter.acquire()
                r = await client.get(
                    "/api/log/self",
                    params={"p": p, "page_size": page_size, "start_timestamp": lo, "end_timestamp": hi},
                )
            count["requests"] += 1
            data = orjson.loads(r.content)["data"]
            count["records"] += len(data["items"])
            return int(data["total"]), len(data["items"])

        async def window(lo: int, hi: int) -> None:
            total, n = await page(lo, hi, 1)
            if total > n > 0:
                await asyncio.gather(*(page(lo, hi, p) for p in range(2, math.ceil(total / n) + 1)))

        await asyncio.gather(*(window(lo, hi) for lo, hi in windows))
    return count["requests"], count["records"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.extract", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--records", type=int, default=100_000, help="rows in the day (unpaced round: all of them)"
    )
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--window-minutes", type=int, default=60)
    ap.add_argument(
        "--rpm", type=float, default=600.0, help="requests_per_minute of the paced round (0: skip)"
    )
    ap.add_argument("--paced-hours", type=int, default=3, help="hours of the day the paced round reads")
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 1, 15))
    args = ap.parse_args(argv)

    # imported late so `--help` is instant
    from orchestration.config import GatewayConfig
    from orchestration.gateways.newapi.client import NewApiClient
    from orchestration.gateways.windows import cut
    from orchestration.sandbox import SANDBOX_TOKEN, SANDBOX_USER_ID

    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(args.records), args.day.isoformat(), str(args.latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    results: list[tuple[str, float, Run, Run]] = []
    try:
        url = child.stdout.readline().strip() if child.stdout else ""
        if not url.startswith("http"):
            print("sandbox did not start", file=sys.stderr)
            return 2
        os.environ["BENCH_GATEWAY_TOKEN"] = SANDBOX_TOKEN
        os.environ["BENCH_GATEWAY_USER_ID"] = SANDBOX_USER_ID
        headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}", "New-Api-User": SANDBOX_USER_ID}
        start = datetime.combine(args.day, dtime(), UTC)
        now = start + timedelta(days=1, hours=6)
        latency_ceiling = args.concurrency / (args.latency_ms / 1000.0)
        rounds = [("unpaced", None, timedelta(days=1))]
        if args.rpm:
            rounds.append(("paced", args.rpm, timedelta(hours=args.paced_hours)))
        for name, rpm, span in rounds:
            cfg = GatewayConfig(
                name="bench",
                dialect="newapi",
                base_url=url,
                token_env="BENCH_GATEWAY_TOKEN",
                user_id_env="BENCH_GATEWAY_USER_ID",
                max_concurrency=args.concurrency,
                page_size=args.page_size,
                window_minutes=args.window_minutes,
                timeout_seconds=30,
                requests_per_minute=rpm,
            )
            client = NewApiClient(cfg, None, now=now)
            client.usage(start, start + timedelta(minutes=1))  # warm-up: first-use imports, connections
            client.stats.requests = client.stats.retries = 0
            cpu0, t0 = _cpu(), time.perf_counter()
            df = client.usage(start, start + span)
            recon = Run("recon", client.stats.requests, len(df), time.perf_counter() - t0, _cpu() - cpu0)
            del df
            if name == "unpaced":
                peak = _peak_mib()  # recon's whole day extracted to its frame, before the bare loop ran
            windows = [w.inclusive_seconds() for w in cut(start, start + span, args.window_minutes)]
            asyncio.run(_bare(url, headers, windows[:1], args.page_size, args.concurrency, None))  # warm-up
            cpu0, t0 = _cpu(), time.perf_counter()
            reqs, recs = asyncio.run(_bare(url, headers, windows, args.page_size, args.concurrency, rpm))
            bare = Run("bare httpx loop", reqs, recs, time.perf_counter() - t0, _cpu() - cpu0)
            ceiling = min(latency_ceiling, rpm / 60) if rpm else latency_ceiling
            results.append((name, ceiling, recon, bare))
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)

    ok = True
    print(f"peak RSS of the client process after recon's unpaced day: {peak:,.0f} MiB")
    print(
        f"sandbox: {args.records:,} records in the day, {args.latency_ms:g} ms a page, concurrency "
        f"{args.concurrency}, page size {args.page_size}; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    for name, ceiling, recon, bare in results:
        what = (
            f"whole day, ceiling {ceiling:.1f} req/s = {args.concurrency} / {args.latency_ms:g} ms"
            if name == "unpaced"
            else f"first {args.paced_hours} h, requests_per_minute {args.rpm:g}, ceiling {ceiling:.2f} req/s"
        )
        print(f"\n{name} ({what})")
        for r in (recon, bare):
            print(
                f"  {r.who:16} {r.requests:6,} requests {r.records:8,} records {r.wall:7.2f} s "
                f"{r.rate:7.2f} req/s  achieved/ceiling {r.rate / ceiling:6.1%}  "
                f"client CPU {r.cpu / r.requests * 1000:5.2f} s per 1,000 requests"
            )
        ratio = recon.rate / bare.rate
        print(f"  recon / bare     {ratio:.3f}")
        ok = ok and recon.rate / ceiling >= 0.97 and ratio >= 0.97
    print(
        "\ntargets (recon ≥ 97 % of ceiling and ≥ 0.97 × bare, every round): " + ("met" if ok else "NOT met")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
