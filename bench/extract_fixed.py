"""What a daily run's extraction costs on an empty day and on a quiet day: HTTP GETs and wall time.

    .venv/bin/python -m bench.extract_fixed [--runs 3] [--lookback 3]

Serves the demo's sandbox scenario (7 days, 60 jobs a day: a quiet day of a few hundred rows) in
this process and reads what a daily run reads for a day, exactly as the assets call the clients: for
the day and its `--lookback` days before it, the new-api gateway's usage (then its stat total) and
tasks, and the TokenLab gateway's usage and its tasks by id, with the demo's gateway config. Two
cases: an *empty* day (a month after the scenario: every day of the run answers nothing) and a
*quiet* day (the scenario's last day and its lookback). Printed per case: GETs the sandbox received,
by path, the wall time (median of `--runs`), and what those GETs cost at new-api's default limiter
(60 a minute: `requests_per_minute: 55`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

PACE = 55.0  # requests_per_minute a config sets for new-api's default limiter (60 a minute)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.extract_fixed", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lookback", type=int, default=3)
    args = ap.parse_args(argv)

    from orchestration import sandbox
    from orchestration.config import GatewayConfig
    from orchestration.gateways import client_for
    from orchestration.sandbox.scenario import build_scenario
    from orchestration.sandbox.server import serve

    env = {
        "BENCH_NEWAPI_TOKEN": sandbox.SANDBOX_TOKEN,
        "BENCH_NEWAPI_USER": sandbox.SANDBOX_USER_ID,
        "BENCH_LAB_TOKEN": sandbox.TOKENLAB_TOKEN,
        "BENCH_LAB_API_KEY": sandbox.TOKENLAB_API_KEY,
    }
    os.environ.update(env)
    end = date(2026, 11, 20)
    sc = build_scenario(seed=7, end=end, days=7)
    cases = {
        "empty day": (end + timedelta(days=30), datetime.combine(end + timedelta(days=31), dtime(6), UTC)),
        "quiet day": (end, sc.as_of),
    }
    print(
        f"demo scenario {sc.start}..{sc.end}; a run reads its day and {args.lookback} lookback days; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    with serve(sc) as url:
        gws = [
            GatewayConfig(
                name="main",
                dialect="newapi",
                base_url=url,
                token_env="BENCH_NEWAPI_TOKEN",
                user_id_env="BENCH_NEWAPI_USER",
                max_concurrency=8,
            ),
            GatewayConfig(
                name="lab",
                dialect="tokenlab",
                base_url=url,
                token_env="BENCH_LAB_TOKEN",
                key_id=sandbox.TOKENLAB_KEY_ID,
                api_key_env="BENCH_LAB_API_KEY",
                max_concurrency=8,
            ),
        ]
        for name, (day, now) in cases.items():
            walls, gets, rows = [], {}, 0
            for _ in range(args.runs):
                url.faults.gets.clear()
                rows = 0
                t0 = time.perf_counter()
                for d in range(args.lookback, -1, -1):
                    start = datetime.combine(day - timedelta(days=d), datetime.min.time(), UTC)
                    stop = start + timedelta(days=1)
                    for cfg in gws:
                        with client_for(cfg, None) as c:
                            c.now = now
                            usage = c.usage(start, stop)
                            if c.last_read is not None and c.last_read.complete:
                                c.totals(start, stop)
                            known = [t for t in usage["task_id"].dropna().unique()]
                            tasks = c.tasks(start, stop, known)
                            rows += len(usage) + len(tasks)
                walls.append(time.perf_counter() - t0)
                gets = {}
                for path, k in url.faults.gets.items():  # one path per TokenLab task id: counted together
                    key = "/v1/tasks/{id}" if path.startswith("/v1/tasks/") else path
                    gets[key] = gets.get(key, 0) + k
            n = sum(gets.values())
            print(
                f"\n{name} ({day - timedelta(days=args.lookback)}..{day}, {rows} rows read): {n} GETs, "
                f"wall median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
                f"at requests_per_minute {PACE:g}: {n / PACE * 60:.0f} s of pacing"
            )
            for path, k in sorted(gets.items(), key=lambda kv: -kv[1]):
                print(f"  {k:6}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
