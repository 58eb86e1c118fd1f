"""The canonical columns of the four landed record types, in order, with their Arrow types.

This is the contract between extraction (which lands Parquet with exactly these columns), pandera
(which validates them) and dbt (whose `raw` sources read them). DESIGN.md names the columns;
columns after the `# extensions` marker are ours and may grow, the others may not change.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

USAGE_RECORD: dict[str, pa.DataType] = {
    "gateway": pa.string(),
    "record_key": pa.string(),
    "record_type": pa.string(),  # consume|refund|error|topup|other
    "created_at": TS,
    "request_id": pa.string(),
    "task_id": pa.string(),
    "billing_transaction_id": pa.string(),
    "model": pa.string(),
    "scene": pa.string(),
    "token_name": pa.string(),
    "group_name": pa.string(),
    "prompt_tokens": pa.int64(),
    "completion_tokens": pa.int64(),
    "cache_tokens": pa.int64(),
    "quota": pa.int64(),
    "cost_usd": pa.float64(),  # signed: refunds negative
    "duration_ms": pa.int64(),
    "is_stream": pa.bool_(),
    "status_code": pa.int64(),
    "error_code": pa.string(),
    "model_ratio": pa.float64(),
    "completion_ratio": pa.float64(),
    "group_ratio": pa.float64(),
    "cache_ratio": pa.float64(),
    "model_price": pa.float64(),
    "pre_consumed_quota": pa.int64(),
    "actual_quota": pa.int64(),
    # extensions
    "is_task": pa.bool_(),
    "stream_status": pa.string(),  # other.stream_status.status (soft failure when "error")
    "quota_per_unit": pa.float64(),  # the gateway's quota per 1 USD, so dbt can recompute quota
    # issue 18: every gateway as its users have it
    "total_tokens": pa.int64(),  # the served total ("Tokens" / "Total Tokens"), else prompt + completion
    "settled_at": TS,  # when the record's money became final, where the gateway serves it (TokenLab)
    "is_reserved": pa.bool_(),  # TokenLab: no billing_transaction_id yet, the money is reserved, not settled
    "access_channel": pa.string(),  # TokenLab accessChannel: platform | byok
}

GATEWAY_TASK: dict[str, pa.DataType] = {
    "gateway": pa.string(),
    "task_id": pa.string(),
    "status": pa.string(),  # queued|running|succeeded|failed|unknown
    "submitted_at": TS,
    "finished_at": TS,
    "fail_reason": pa.string(),
    "quota": pa.int64(),
    "cost_usd": pa.float64(),
    "is_cancelled": pa.bool_(),
    # extensions
    "platform": pa.string(),
    "action": pa.string(),
    # issue 18: what the task endpoint answered (TokenLab)
    "poll_url": pa.string(),  # where the task is polled (the create response's poll_url)
    "x_task_id": pa.string(),  # the X-Task-ID response header
    "x_billing_transaction_id": pa.string(),  # the X-Billing-Transaction-ID header (once settled)
}

APP_JOB: dict[str, pa.DataType] = {
    "job_id": pa.string(),
    "user_id": pa.string(),  # pseudonymized before landing
    "created_at": TS,
    "scene": pa.string(),
    "model": pa.string(),
    "request_id": pa.string(),
    "task_id": pa.string(),
    "status": pa.string(),  # pending|running|succeeded|failed|cancelled
    "terminal_at": TS,
    "billing_transaction_id": pa.string(),
    "expected_cost_usd": pa.float64(),
    "retry_count": pa.int64(),
    # extensions (optional in the app's query: the fallback match for gateways without ids)
    "token_name": pa.string(),  # the gateway token (key name) the job used
    "prompt_tokens": pa.int64(),  # tokens the gateway's response reported
    "completion_tokens": pa.int64(),
}

APP_ASSET: dict[str, pa.DataType] = {
    "asset_id": pa.string(),
    "job_id": pa.string(),
    "created_at": TS,
    "kind": pa.string(),
    "byte_size": pa.int64(),
    "status": pa.string(),  # available|deleted|failed
}

RECORDS: dict[str, dict[str, pa.DataType]] = {
    "usage_records": USAGE_RECORD,
    "gateway_tasks": GATEWAY_TASK,
    "app_jobs": APP_JOB,
    "app_assets": APP_ASSET,
}

USAGE_RECORD_TYPES = ("consume", "refund", "error", "topup", "other")
TASK_STATUSES = ("queued", "running", "succeeded", "failed", "unknown")
JOB_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
ASSET_STATUSES = ("available", "deleted", "failed")
# The report contract (DESIGN.md): mismatch codes of fct_reconciliation_mismatches, in DESIGN order,
# and the settlement statuses of fct_settlements.
MISMATCH_CODES = (
    "missing_usage",
    "charged_for_failure",
    "over_refunded",
    "missing_asset",
    "asset_without_success",
    "status_mismatch",
    "cost_mismatch",
    "model_mismatch",
    "duplicate_create",
    "orphan_usage",
    "stuck_task",
    "quota_mismatch",
    "coverage_gap",
    "ambiguous_match",
)
# app query columns that may be absent: a query without them lands them null
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "app_jobs": ("token_name", "prompt_tokens", "completion_tokens")
}
SETTLEMENT_STATUSES = ("on_time", "late", "pending", "unsettled")
ACCESS_CHANNELS = ("platform", "byok")
SCENES = ("chat", "image", "audio", "video", "embedding", "rerank", "music", "3d", "other")


def arrow_schema(record: str) -> pa.Schema:
    """The Arrow schema a landed Parquet file of `record` has, column for column."""
    return pa.schema([pa.field(name, typ) for name, typ in RECORDS[record].items()])
