"""What a perfect extraction of the sandbox lands: the scenario's raw rows mapped to canonical frames.

This is an independent statement of the mapping rules (README.md, "Canonical mapping"), written
row by row for clarity rather than speed; extraction tests compare their output against it and the
dbt tests land it directly. Only public ids, money, tokens and allowlisted `other` keys survive.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from schemas.canonical import USAGE_RECORD, arrow_schema
from schemas.record_key import record_key, served_row_key

if TYPE_CHECKING:
    from orchestration.sandbox.scenario import Scenario

NEWAPI_TYPES = {1: "topup", 2: "consume", 5: "error", 6: "refund"}
NEWAPI_TASK_STATUS = {
    "NOT_START": "queued",
    "SUBMITTED": "queued",
    "QUEUED": "queued",
    "IN_PROGRESS": "running",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "UNKNOWN": "unknown",
}
LAB_TASK_STATUS = {"pending": "queued", "processing": "running", "completed": "succeeded", "failed": "failed"}
LAB_TYPES = {"charge": "consume", "refund": "refund"}
APP_SCENE = {"chat_completion": "chat", "image_gen": "image", "video_gen": "video", "music_gen": "music"}
APP_STATUS = {
    "queued": "pending",
    "working": "running",
    "done": "succeeded",
    "error": "failed",
    "canceled": "cancelled",
}
ASSET_KIND = {"image/png": "image", "video/mp4": "video", "audio/mpeg": "audio"}
ASSET_STATUS = {"ready": "available", "removed": "deleted", "broken": "failed"}
MS_THRESHOLD = 100_000_000_000
# the sandbox's old-build system refund texts (world_newapi.system_refund_text)
_SYSTEM_REFUND = re.compile(
    r"(?:异步任务执行失败 |Video async task failed )(?P<task>task_\w+)(?:，补偿 |, refund )"
    r"(?:＄(?P<usd>\d+\.\d+) 额度|(?P<points>\d+) 点额度)"
)

_PANDAS_TYPES = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.int64(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def frame(rows: list[dict], record: str) -> pd.DataFrame:
    """Canonical columns, Arrow types, pandas nullable dtypes (string/Int64/Float64/boolean/UTC us)."""
    schema = arrow_schema(record)
    table = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get).reset_index(drop=True)


def unix_ts(v: float) -> datetime | None:
    """Unix seconds, or milliseconds when the value is that large (Midjourney tasks)."""
    if not v:
        return None
    if v >= MS_THRESHOLD:
        return datetime.fromtimestamp(v // 1000, UTC).replace(microsecond=int(v % 1000) * 1000)
    return datetime.fromtimestamp(int(v), UTC)


def iso_ts(s: str | None) -> datetime | None:
    if not s:
        return None
    return datetime.fromisoformat(s).astimezone(UTC)


def _with_key(row: dict, public_id: str | None = None) -> dict:
    """TokenLab: the record's public id (else request_id, else the content hash)."""
    row["record_key"] = (
        public_id
        or row["request_id"]
        or record_key({c: row.get(c) for c in USAGE_RECORD if c != "record_key"})
    )
    return row


def newapi_usage(item: dict, gateway: str, qpu: float) -> dict:
    """One new-api log row → canonical usage record."""
    raw = item.get("other")
    other: dict[str, Any] = json.loads(raw) if raw else {}
    rtype = NEWAPI_TYPES.get(item["type"], "other")
    quota = item["quota"]
    cost = quota / qpu
    text_task = None
    m = _SYSTEM_REFUND.fullmatch(item.get("content") or "") if item["type"] == 4 else None
    if m:  # an old build's task refund: system row, quota 0, task id and amount only in the text
        rtype, text_task = "refund", m["task"]
        quota = int(m["points"]) if m["points"] else round(float(m["usd"]) * qpu)
        cost = quota / qpu
    if rtype == "refund":
        cost = -abs(cost)
    ss = other.get("stream_status")
    pre = other.get("pre_consumed_quota", other.get("pre_consumed"))
    err = other.get("error_code")
    row = {
        "gateway": gateway,
        "record_type": rtype,
        "created_at": unix_ts(item["created_at"]),
        "request_id": item.get("request_id") or None,
        "task_id": other.get("task_id") or text_task,
        "billing_transaction_id": None,
        "model": item.get("model_name") or None,
        "scene": None,  # new-api rows carry no scene
        "token_name": item.get("token_name") or None,
        "group_name": item.get("group") or None,
        "prompt_tokens": item.get("prompt_tokens"),
        "completion_tokens": item.get("completion_tokens"),
        "cache_tokens": other.get("cache_tokens"),
        "quota": quota,
        "cost_usd": cost,
        "duration_ms": None if item.get("use_time") is None else round(item["use_time"] * 1000),
        "is_stream": item.get("is_stream"),
        "status_code": other.get("status_code"),
        "error_code": None if err is None else str(err),
        "model_ratio": other.get("model_ratio"),
        "completion_ratio": other.get("completion_ratio"),
        "group_ratio": other.get("group_ratio"),
        "cache_ratio": other.get("cache_ratio"),
        "model_price": other.get("model_price"),
        "pre_consumed_quota": pre,
        "actual_quota": other.get("actual_quota"),
        "is_task": other.get("is_task"),
        "stream_status": ss.get("status") if isinstance(ss, dict) else None,
        "quota_per_unit": float(qpu),
        "total_tokens": other.get(
            "total_tokens",
            None
            if item.get("prompt_tokens") is None or item.get("completion_tokens") is None
            else item["prompt_tokens"] + item["completion_tokens"],
        ),
    }
    row["record_key"] = served_row_key(item)  # the row as served, minus the display id
    return row


def newapi_task(item: dict, gateway: str, qpu: float) -> dict:
    q = item.get("quota")
    return {
        "gateway": gateway,
        "task_id": item["task_id"],
        "status": NEWAPI_TASK_STATUS.get(item["status"], "unknown"),
        "submitted_at": unix_ts(item["submit_time"]),
        "finished_at": unix_ts(item["finish_time"]),
        "fail_reason": item.get("fail_reason") or None,
        "quota": q,
        "cost_usd": None if q is None else q / qpu,
        "is_cancelled": None,
        "platform": item.get("platform") or None,
        "action": item.get("action") or None,
    }


def tokenlab_usage(rec: dict, gateway: str) -> dict:
    """One TokenLab usage record → canonical usage record (cost signed as given; no quota)."""
    usage = rec.get("usage") or {}
    row = {
        "gateway": gateway,
        "record_type": LAB_TYPES.get(rec["type"], "other"),
        "created_at": iso_ts(rec["created_at"]),
        "request_id": rec.get("request_id") or None,
        "task_id": rec.get("task_id") or None,
        "billing_transaction_id": rec.get("billing_transaction_id") or None,
        "model": rec.get("logical_model") or None,
        "scene": rec.get("scene") or None,
        "token_name": rec.get("api_key_name") or None,
        "group_name": None,
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
        "cache_tokens": usage.get("cached_tokens"),
        "quota": None,
        "cost_usd": float(rec["cost"]["amount"]),
        "duration_ms": rec.get("latency_ms"),
        "is_stream": rec.get("stream"),
        "status_code": None,
        "error_code": None,
        "model_ratio": None,
        "completion_ratio": None,
        "group_ratio": None,
        "cache_ratio": None,
        "model_price": None,
        "pre_consumed_quota": None,
        "actual_quota": None,
        "is_task": rec.get("task_id") is not None,
        "stream_status": None,
        "quota_per_unit": None,
        "total_tokens": usage.get(
            "total_tokens",
            None
            if usage.get("input_tokens") is None or usage.get("output_tokens") is None
            else usage["input_tokens"] + usage["output_tokens"],
        ),
        "settled_at": iso_ts(rec.get("settled_at")),
        "is_reserved": not rec.get("billing_transaction_id") if rec["type"] in LAB_TYPES else None,
        "access_channel": rec.get("access_channel"),
    }
    if rec.get("status") == "failed":  # a failed request: an error row, never a charge
        row["record_type"] = "error"
        row["is_reserved"] = None
        row["error_code"] = (rec.get("error") or {}).get("code")
    return _with_key(row, rec.get("id"))


def tokenlab_task(task: dict, gateway: str) -> dict:
    """`created` / `updated` integer epochs (`updated` ends a terminal task), `error` a string; the
    X-Task-ID / X-Billing-Transaction-ID headers the route sends with it."""
    cost = task.get("cost") or {}
    terminal = task["status"] in ("completed", "failed")
    return {
        "gateway": gateway,
        "task_id": task["id"],
        "status": LAB_TASK_STATUS.get(task["status"], "unknown"),
        "submitted_at": datetime.fromtimestamp(task["created"], UTC),
        "finished_at": datetime.fromtimestamp(task["updated"], UTC) if terminal else None,
        "fail_reason": task.get("error") or None,
        "quota": None,
        "cost_usd": float(cost["amount"]) if cost.get("amount") is not None else None,
        "is_cancelled": bool(task.get("cancelled", False)),
        "platform": None,
        "action": None,
        "poll_url": task.get("poll_url"),
        "x_task_id": task["id"],
        "x_billing_transaction_id": task.get("billing_transaction_id"),
    }


def app_job(j: dict) -> dict:
    price = j["price_micros"]
    return {
        "job_id": j["id"],
        "user_id": j["account_ref"],
        "created_at": iso_ts(j["created_ts"]),
        "scene": APP_SCENE.get(j["kind"], "other"),
        "model": j["model_requested"],
        "request_id": j["provider_request_id"],
        "task_id": j["provider_task_id"],
        "status": APP_STATUS[j["state"]],
        "terminal_at": iso_ts(j["finished_ts"]),
        "billing_transaction_id": j["billing_txn"],
        "expected_cost_usd": None if price is None else price / 1_000_000.0,
        "retry_count": j["attempts"] - 1,
        "token_name": j.get("key_name"),
        "prompt_tokens": j.get("usage_prompt"),
        "completion_tokens": j.get("usage_completion"),
    }


def app_asset(a: dict) -> dict:
    return {
        "asset_id": a["file_id"],
        "job_id": a["job_ref"],
        "created_at": iso_ts(a["uploaded_ts"]),
        "kind": ASSET_KIND[a["media_type"]],
        "byte_size": a["size_bytes"],
        "status": ASSET_STATUS[a["file_state"]],
    }


def canonical_frames(sc: Scenario) -> dict[str, pd.DataFrame]:
    """Expected landed frames for every day of the scenario (rows in [start, end+1day))."""
    lo, hi = sc.range_start, sc.range_end

    def inside(t: datetime | None) -> bool:
        return t is not None and lo <= t < hi

    usage = [newapi_usage(r, "main", sc.quota_per_unit) for r in sc.newapi_logs]
    usage += [tokenlab_usage(r, "lab") for r in sc.tokenlab_usage]
    usage = sorted(
        (u for u in usage if inside(u["created_at"])),
        key=lambda u: (u["gateway"], u["created_at"], u["record_key"]),
    )
    tasks = [newapi_task(t, "main", sc.quota_per_unit) for t in sc.newapi_tasks]
    tasks += [tokenlab_task(t, "lab") for t in sc.tokenlab_tasks.values()]
    tasks = sorted(
        (t for t in tasks if inside(t["submitted_at"])),
        key=lambda t: (t["gateway"], t["submitted_at"], t["task_id"]),
    )
    jobs = sorted(
        (app_job(j) for j in sc.app_jobs if inside(iso_ts(j["created_ts"]))),
        key=lambda j: (j["created_at"], j["job_id"]),
    )
    assets = sorted(
        (app_asset(a) for a in sc.app_assets if inside(iso_ts(a["uploaded_ts"]))),
        key=lambda a: (a["created_at"], a["asset_id"]),
    )
    return {
        "usage_records": frame(usage, "usage_records"),
        "gateway_tasks": frame(tasks, "gateway_tasks"),
        "app_jobs": frame(jobs, "app_jobs"),
        "app_assets": frame(assets, "app_assets"),
    }
