"""The report's usage analytics section: what the consoles show, over the run's days.

Read-only from the analytics marts (docs/operating.md): spend, requests, tokens and errors by
gateway x token x model x group; usage by pseudonymized app user; peak RPM/TPM; latency p50/p95;
soft failures; high-token requests; the gateways' own totals beside the detail rows. Each table is
bounded (the largest rows first) so a big day renders in bounded memory; a mart not built yet
shows as an empty table, never a failed report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from orchestration.reports import marts

TOP_ROWS = 25  # rows a table shows at most (the marts hold every one)

_env = Environment(
    loader=PackageLoader("orchestration.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["usd"] = lambda v: f"{float(v or 0):,.6f}"


@dataclass
class Analytics:
    usage: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    throughput: list[dict] = field(default_factory=list)
    latency: list[dict] = field(default_factory=list)
    soft_failures: list[dict] = field(default_factory=list)
    high_tokens: list[dict] = field(default_factory=list)
    totals: list[dict] = field(default_factory=list)


# (key, mart, day column, select list, group by, order by): aggregated over the run's days
_QUERIES = {
    "usage": (
        "fct_usage_daily",
        "usage_date",
        (
            "gateway, token_name, model, group_name, sum(request_count) as requests, sum(error_count) as errors, "
            "sum(soft_failure_count) as soft_failures, sum(prompt_tokens) + sum(completion_tokens) as tokens, "
            "sum(spend_usd) as spend_usd"
        ),
        "gateway, token_name, model, group_name",
        "spend_usd desc, requests desc, gateway, token_name, model, group_name",
    ),
    "users": (
        "fct_usage_by_user_daily",
        "usage_date",
        (
            "user_id, sum(job_count) as jobs, sum(failed_count) as failed, sum(total_tokens) as tokens, "
            "sum(expected_cost_usd) as expected_usd, sum(net_cost_usd) as net_usd"
        ),
        "user_id",
        "net_usd desc, jobs desc, user_id",
    ),
    "throughput": (
        "fct_throughput_daily",
        "usage_date",
        "usage_date, gateway, request_count, peak_rpm, peak_rpm_minute, peak_tpm, peak_tpm_minute",
        "",
        "usage_date, gateway",
    ),
    "latency": (
        "fct_latency_daily",
        "usage_date",
        "usage_date, gateway, model, request_count, p50_duration_ms, p95_duration_ms, max_duration_ms",
        "",
        "p95_duration_ms desc, usage_date, gateway, model",
    ),
    "soft_failures": (
        "fct_soft_failures_daily",
        "usage_date",
        "usage_date, gateway, consume_count, zero_quota_count, stream_error_count, soft_failure_count",
        "",
        "usage_date, gateway",
    ),
    "high_tokens": (
        "fct_high_token_requests",
        "request_date",
        (
            "request_date, gateway, model, request_id, record_key, token_name, total_tokens, threshold_tokens, "
            "cap_tokens"
        ),
        "",
        "total_tokens desc, request_date, gateway, record_key",
    ),
    "totals": (
        "fct_gateway_totals_daily",
        "total_date",
        (
            "total_date, gateway, gateway_quota, detail_quota, quota_difference, gateway_usd, detail_usd, "
            "is_disagreement"
        ),
        "",
        "total_date, gateway",
    ),
}


def collect(warehouse: Path | str, days: list[date]) -> Analytics:
    """The section's rows for `days` (first..last), at most TOP_ROWS per table."""
    out = Analytics()
    with marts.read_only(warehouse) as con:
        if con is None:
            return out
        for key, (table, day_col, select, group, order) in _QUERIES.items():
            if day_col not in marts.columns(con, table):
                continue
            sql = (
                f"select {select} from {table} where {day_col} between ? and ?"
                + (f" group by {group}" if group else "")
                + f" order by {order} limit {TOP_ROWS}"
            )
            cur = con.execute(sql, [days[0], days[-1]])
            names = [d[0] for d in cur.description]
            setattr(out, key, [dict(zip(names, r, strict=True)) for r in cur.fetchall()])
    return out


def render(warehouse: Path | str, days: list[date]) -> Markup:
    """The section as HTML, for report.html."""
    return Markup(_env.get_template("analytics.html.j2").render(a=collect(warehouse, days), top=TOP_ROWS))
