"""A small warehouse with the mart tables, for tests and for previewing the report without a dbt run.

The columns and types mirror `dbt_project/models/marts/_marts__models.yml` (a test pins that), so
purpose-built rows here read exactly like the marts dbt builds. This writes its own DuckDB file;
it never touches the real warehouse.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

# the direction each sample code's findings get (the mart derives cost/quota from the sign)
SAMPLE_DIRECTIONS = {
    "charged_for_failure": "recoverable",
    "duplicate_create": "recoverable",
    "orphan_usage": "recoverable",
    "cost_mismatch": "recoverable",
    "quota_mismatch": "recoverable",
    "missing_usage": "owed",
    "over_refunded": "owed",
    "missing_asset": "customer",
}
MART_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "fct_reconciliation_mismatches": [
        ("finding_id", "varchar"),
        ("finding_key", "varchar"),
        ("mismatch_type", "varchar"),
        ("severity", "varchar"),
        ("job_id", "varchar"),
        ("task_id", "varchar"),
        ("request_id", "varchar"),
        ("gateway", "varchar"),
        ("scene", "varchar"),
        ("model", "varchar"),
        ("subject_key", "varchar"),
        ("detail", "varchar"),
        ("amount_usd", "decimal(20, 8)"),
        ("partition_date", "date"),
        ("detected_at", "timestamp with time zone"),
        ("direction", "varchar"),
    ],
    "fct_settlements": [
        ("job_id", "varchar"),
        ("task_id", "varchar"),
        ("request_id", "varchar"),
        ("gateway", "varchar"),
        ("scene", "varchar"),
        ("model", "varchar"),
        ("job_status", "varchar"),
        ("settlement_status", "varchar"),
        ("settlement_lag_seconds", "double"),
        ("net_cost_usd", "decimal(20, 8)"),
        ("expected_cost_usd", "decimal(20, 8)"),
        ("charge_count", "bigint"),
        ("refund_count", "bigint"),
        ("created_date", "date"),
        ("terminal_date", "date"),
        ("terminal_at", "timestamp with time zone"),
        ("first_charged_at", "timestamp with time zone"),
        ("settled_at", "timestamp with time zone"),
        ("settlement_window_ends_at", "timestamp with time zone"),
    ],
    "fct_settlement_lag_daily": [
        ("terminal_date", "date"),
        ("scene", "varchar"),
        ("model", "varchar"),
        ("job_count", "bigint"),
        ("settled_count", "bigint"),
        ("pending_count", "bigint"),
        ("unsettled_count", "bigint"),
        ("p50_lag_seconds", "double"),
        ("p95_lag_seconds", "double"),
        ("p99_lag_seconds", "double"),
        ("max_lag_seconds", "double"),
    ],
    "fct_spend_daily": [
        ("spend_date", "date"),
        ("gateway", "varchar"),
        ("net_spend_usd", "decimal(20, 8)"),
        ("charged_usd", "decimal(20, 8)"),
        ("credited_usd", "decimal(20, 8)"),
        ("topup_usd", "decimal(20, 8)"),
        ("charge_count", "bigint"),
        ("error_count", "bigint"),
        ("history_days", "bigint"),
        ("history_mean_usd", "double"),
        ("history_stddev_usd", "double"),
        ("anomaly_threshold_usd", "double"),
        ("is_anomaly", "boolean"),
        ("history_basis", "varchar"),
    ],
    "fct_error_alerts_daily": [
        ("error_date", "date"),
        ("gateway", "varchar"),
        ("error_class", "varchar"),
        ("owner", "varchar"),
        ("error_count", "bigint"),
        ("request_count", "bigint"),
        ("error_rate", "double"),
        ("is_alert", "boolean"),
    ],
    "fct_error_rate_daily": [
        ("error_date", "date"),
        ("gateway", "varchar"),
        ("request_count", "bigint"),
        ("error_count", "bigint"),
        ("error_rate", "double"),
        ("is_alert", "boolean"),
    ],
    "fct_high_token_requests": [
        ("request_date", "date"),
        ("gateway", "varchar"),
        ("model", "varchar"),
        ("record_key", "varchar"),
        ("request_id", "varchar"),
        ("token_name", "varchar"),
        ("created_at", "timestamp with time zone"),
        ("total_tokens", "bigint"),
        ("history_requests", "bigint"),
        ("history_mean_tokens", "double"),
        ("history_stddev_tokens", "double"),
        ("threshold_tokens", "double"),
        ("cap_tokens", "bigint"),
        ("is_above_usual", "boolean"),
        ("is_above_cap", "boolean"),
    ],
    "fct_usage_daily": [
        ("usage_date", "date"),
        ("gateway", "varchar"),
        ("token_name", "varchar"),
        ("model", "varchar"),
        ("group_name", "varchar"),
        ("request_count", "bigint"),
        ("error_count", "bigint"),
        ("soft_failure_count", "bigint"),
        ("prompt_tokens", "bigint"),
        ("completion_tokens", "bigint"),
        ("spend_usd", "decimal(20, 8)"),
    ],
    "fct_usage_by_user_daily": [
        ("usage_date", "date"),
        ("user_id", "varchar"),
        ("job_count", "bigint"),
        ("succeeded_count", "bigint"),
        ("failed_count", "bigint"),
        ("total_tokens", "bigint"),
        ("expected_cost_usd", "decimal(20, 8)"),
        ("net_cost_usd", "decimal(20, 8)"),
    ],
    "fct_throughput_daily": [
        ("usage_date", "date"),
        ("gateway", "varchar"),
        ("request_count", "bigint"),
        ("peak_rpm", "bigint"),
        ("peak_rpm_minute", "timestamp with time zone"),
        ("peak_tpm", "bigint"),
        ("peak_tpm_minute", "timestamp with time zone"),
    ],
    "fct_latency_daily": [
        ("usage_date", "date"),
        ("gateway", "varchar"),
        ("model", "varchar"),
        ("request_count", "bigint"),
        ("p50_duration_ms", "double"),
        ("p95_duration_ms", "double"),
        ("max_duration_ms", "bigint"),
    ],
    "fct_soft_failures_daily": [
        ("usage_date", "date"),
        ("gateway", "varchar"),
        ("consume_count", "bigint"),
        ("zero_quota_count", "bigint"),
        ("stream_error_count", "bigint"),
        ("soft_failure_count", "bigint"),
    ],
    "fct_gateway_totals_daily": [
        ("total_date", "date"),
        ("gateway", "varchar"),
        ("gateway_quota", "bigint"),
        ("detail_quota", "bigint"),
        ("quota_difference", "bigint"),
        ("gateway_usd", "decimal(20, 8)"),
        ("detail_usd", "decimal(20, 8)"),
        ("detail_rows", "bigint"),
        ("endpoint", "varchar"),
        ("extracted_at", "timestamp with time zone"),
        ("extractions", "bigint"),
        ("is_disagreement", "boolean"),
    ],
    "fct_mismatch_history": [
        ("finding_key", "varchar"),
        ("mismatch_type", "varchar"),
        ("severity", "varchar"),
        ("job_id", "varchar"),
        ("task_id", "varchar"),
        ("request_id", "varchar"),
        ("gateway", "varchar"),
        ("detail", "varchar"),
        ("amount_usd", "decimal(20, 8)"),
        ("partition_date", "date"),
        ("first_seen_at", "timestamp with time zone"),
        ("last_seen_at", "timestamp with time zone"),
        ("resolved_at", "timestamp with time zone"),
        ("is_open", "boolean"),
    ],
}


def create_marts(path: Path | str, tables: dict[str, list[dict]] | None = None) -> Path:
    """Create every mart table (empty) in a fresh DuckDB file and insert the given rows."""
    path = Path(path)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("set timezone = 'UTC'")
        for table, cols in MART_COLUMNS.items():
            con.execute(f"create table {table} ({', '.join(f'{c} {t}' for c, t in cols)})")
        for table, rows in (tables or {}).items():
            insert(con, table, rows)
    finally:
        con.close()
    return path


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Insert rows given as dicts; unknown keys are an error, missing keys are null."""
    names = [c for c, _ in MART_COLUMNS[table]]
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
        con.execute(
            f"insert into {table} values ({', '.join('?' for _ in names)})", [row.get(c) for c in names]
        )


def sample_rows(last_day: date, days: int = 7) -> dict[str, list[dict]]:
    """A small, realistic set of mart rows ending on `last_day`: one finding per code (two for some),
    lag that drifts up, one anomalous spend day, a 429 alert. Deterministic."""
    first = last_day - timedelta(days=days - 1)
    as_of = datetime.combine(last_day + timedelta(days=1), time(6), tzinfo=UTC)
    day = [first + timedelta(days=i) for i in range(days)]
    findings = []
    amounts = {
        "missing_usage": "0.12000000",
        "charged_for_failure": "0.80000000",
        "over_refunded": "0.05000000",
        "missing_asset": "0.40000000",
        "asset_without_success": "0.30000000",
        "status_mismatch": "0",
        "cost_mismatch": "0.02500000",
        "model_mismatch": "0",
        "duplicate_create": "0.40000000",
        "orphan_usage": "0.00750000",
        "stuck_task": "0",
        "quota_mismatch": "0.00001000",
    }
    severities = {
        "charged_for_failure": "error",
        "over_refunded": "error",
        "missing_asset": "error",
        "duplicate_create": "error",
        "orphan_usage": "error",
        "model_mismatch": "info",
    }
    for i, (code, usd) in enumerate(amounts.items()):
        for k in range(1 + (i % 3 == 0)):
            n = i * 10 + k
            job = None if code == "orphan_usage" else f"job_{n:04d}"
            task = f"task_{n:04d}" if code not in ("orphan_usage", "quota_mismatch") else None
            findings.append(
                {
                    "finding_id": f"f{n:04d}",
                    "finding_key": f"{code}:{job or task or f'req_{n:04d}'}",
                    "mismatch_type": code,
                    "severity": severities.get(code, "warn"),
                    "job_id": job,
                    "task_id": task,
                    "request_id": f"req_{n:04d}",
                    "gateway": "main" if n % 2 else "lab",
                    "scene": "image",
                    "model": "mj_imagine",
                    "subject_key": job or task or f"req_{n:04d}",
                    "detail": f"sample {code.replace('_', ' ')} finding #{k + 1}",
                    "amount_usd": Decimal(usd) * (k + 1),
                    "partition_date": day[n % days],
                    "detected_at": as_of,
                    "direction": SAMPLE_DIRECTIONS.get(code, "none"),
                }
            )
    lag = [
        {
            "terminal_date": d,
            "scene": scene,
            "model": model,
            "job_count": 20,
            "settled_count": 18,
            "pending_count": 1,
            "unsettled_count": 1,
            "p50_lag_seconds": base * (1 + i / 10),
            "p95_lag_seconds": base * 6 * (1 + i / 5),
            "p99_lag_seconds": base * 8 * (1 + i / 5),
            "max_lag_seconds": base * 9 * (1 + i / 5),
        }
        for i, d in enumerate(day)
        for scene, model, base in (("image", "mj_imagine", 120.0), ("video", "kling-v2", 600.0))
    ]
    spend = [
        {
            "spend_date": d,
            "gateway": g,
            "net_spend_usd": Decimal(f"{(25.0 if i == days - 2 else 5.0 + i):.8f}"),
            "charged_usd": Decimal(f"{6.0 + i:.8f}"),
            "credited_usd": Decimal("1.00000000"),
            "topup_usd": Decimal(0),
            "charge_count": 40 + i,
            "error_count": i % 3,
            "history_days": i,
            "history_mean_usd": 5.0 + i / 2 if i else None,
            "history_stddev_usd": 1.0 if i > 1 else None,
            "anomaly_threshold_usd": 8.0 + i / 2 if i >= 3 else None,
            "is_anomaly": g == "main" and i == days - 2,
        }
        for i, d in enumerate(day)
        for g in ("main", "lab")
    ]
    errors = [
        {
            "error_date": day[-1],
            "gateway": "main",
            "error_class": "429",
            "owner": "platform: raise limits or lower concurrency",
            "error_count": 12,
            "request_count": 100,
            "error_rate": 0.12,
            "is_alert": True,
        },
        {
            "error_date": day[-2],
            "gateway": "lab",
            "error_class": "5xx",
            "owner": "gateway vendor: upstream outage, open a ticket",
            "error_count": 1,
            "request_count": 80,
            "error_rate": 1 / 80,
            "is_alert": False,
        },
    ]
    history = [
        {
            "finding_key": f["finding_key"],
            "mismatch_type": f["mismatch_type"],
            "severity": f["severity"],
            "job_id": f["job_id"],
            "task_id": f["task_id"],
            "request_id": f["request_id"],
            "gateway": f["gateway"],
            "detail": f["detail"],
            "amount_usd": f["amount_usd"],
            "partition_date": f["partition_date"],
            "first_seen_at": as_of - timedelta(days=1),
            "last_seen_at": as_of,
            "resolved_at": None,
            "is_open": True,
        }
        for f in findings
    ]
    return {
        "fct_reconciliation_mismatches": findings,
        "fct_settlement_lag_daily": lag,
        "fct_spend_daily": spend,
        "fct_error_alerts_daily": errors,
        "fct_mismatch_history": history,
        "fct_settlements": [
            {
                "job_id": f"job_s{i:03d}",
                "settlement_status": s,
                "created_date": day[i % days],
                "terminal_date": day[i % days],
                "terminal_at": as_of - timedelta(days=2),
            }
            for i, s in enumerate(["on_time"] * 30 + ["late"] * 5 + ["pending"] * 2 + ["unsettled"] * 3)
        ],
    }


if __name__ == "__main__":  # preview: cd tests && python -m support.sample_marts OUT_DIR
    import sys

    from orchestration.reports.render import render_report
    from orchestration.reports.summary import summarize

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data/sample-report")
    out.mkdir(parents=True, exist_ok=True)
    last = date(2026, 3, 10)
    wh = create_marts(out / "sample.duckdb", sample_rows(last))
    days = [last - timedelta(days=6 - i) for i in range(7)]
    print(render_report(summarize(wh, days), wh, out, datetime.now(UTC)))
