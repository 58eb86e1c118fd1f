"""Console exports (Laozhang / TokenOpen / Routescope style CSV or JSON) dropped into a folder.

Any file naming, one file per day or any range: every `*.csv`, `*.json`, `*.jsonl`/`*.ndjson` under
`cfg.path` is read, headers are normalized (case, spaces, units like "(USD)"), rows are filtered to
the half-open window and normalized like TokenLab records (USD money, RFC 3339 or Unix times, text
without an offset is UTC). A file is a task log when it has a task id and a task status/failure
column but no token or cost columns. Same validation as the HTTP dialects; rows are keyed by the
content hash of the normalized row (exports carry no stable row id), so a row exported twice (in
overlapping files) lands once and two rows that differ in anything stay two.
Columns that could hold secrets or personal data (API keys, IPs, prompts/content, user names) are
never read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from orchestration.gateways.base import (
    ExtractionError,
    GatewayClient,
    InvalidRecordError,
)
from orchestration.gateways.normalize import (
    UIDX,
    empty_frame,
    from_micros,
    micros,
    table_from_rows,
    to_frame,
)
from orchestration.gateways.normalize_newapi import RowError
from orchestration.gateways.normalize_tokenlab import find_records, task_row, usage_row
from orchestration.gateways.windows import utc

SYNONYMS = {
    "time": "created_at", "created_time": "created_at", "created": "created_at", "date_time": "created_at",
    "datetime": "created_at", "timestamp": "created_at", "request_time": "created_at", "时间": "created_at",
    "model_name": "model", "模型": "model",
    "key_name": "key_name", "token_name": "key_name", "api_key_name": "key_name", "令牌": "key_name",
    "group": "group", "group_name": "group", "分组": "group",
    "input_tokens": "prompt_tokens", "prompt_tokens": "prompt_tokens", "prompt": "prompt_tokens",
    "output_tokens": "completion_tokens", "completion_tokens": "completion_tokens", "completion": "completion_tokens",
    "cache_tokens": "cache_tokens", "cached_tokens": "cache_tokens",
    "cost": "cost_usd", "cost_usd": "cost_usd", "amount": "cost_usd", "amount_usd": "cost_usd", "花费": "cost_usd",
    "quota": "quota",
    "duration": "duration", "duration_s": "duration", "use_time": "duration", "duration_ms": "duration_ms",
    "latency_ms": "duration_ms",
    "request_id": "request_id", "requestid": "request_id", "req_id": "request_id",
    "task_id": "task_id", "taskid": "task_id",
    "billing_transaction_id": "billing_transaction_id",
    "status": "status", "state": "status", "status_code": "status_code", "http_status": "status_code",
    "error_code": "error_code", "error": "error_code",
    "type": "type", "record_type": "type", "scene": "scene", "stream": "is_stream", "is_stream": "is_stream",
    "fail_reason": "fail_reason", "failure_reason": "fail_reason", "reason": "fail_reason",
    "submitted_at": "submitted_at", "submit_time": "submitted_at", "finished_at": "finished_at",
    "finish_time": "finished_at", "completed_at": "finished_at", "cancelled": "cancelled",
    "platform": "platform", "action": "action", "progress": "progress",
}
_CANONICAL = frozenset(SYNONYMS.values())
_TASK_MARKERS = {"fail_reason", "submitted_at", "finished_at", "progress"}
_USAGE_MARKERS = {"prompt_tokens", "completion_tokens", "cost_usd", "quota"}
STATUS_TYPES = {"success": "consume", "succeeded": "consume", "ok": "consume", "completed": "consume",
                "成功": "consume", "failed": "error", "failure": "error", "error": "error", "失败": "error",
                "refund": "refund", "refunded": "refund"}


def norm_header(h: str) -> str | None:
    """`Cost (USD)` → `cost_usd`, `Key Name` → `key_name`; unknown headers are dropped (None)."""
    s = re.sub(r"\((usd|\$|s|sec|seconds)\)", lambda m: "_usd" if m.group(1) in ("usd", "$") else "", h.strip().lower())
    s = re.sub(r"\(ms\)", "_ms", s)
    s = re.sub(r"_+", "_", re.sub(r"[^\w\u4e00-\u9fff]+", "_", s)).strip("_")
    return SYNONYMS.get(s) or (s if s in _CANONICAL else None)


def _read(path: Path) -> Iterator[tuple[int, dict]]:
    """(line/row number, raw row) for every row of a CSV / JSON / JSON-lines export."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for i, row in enumerate(csv.DictReader(fh), start=2):
                yield i, row
        return
    text = path.read_text(encoding="utf-8-sig")
    if suffix in (".jsonl", ".ndjson"):
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield i, json.loads(line)
        return
    body = json.loads(text)
    recs, _, _ = find_records(body, f"file={path.name}")
    for i, r in enumerate(recs, start=1):
        yield i, r


class FilesClient(GatewayClient):
    """Reads console exports from `cfg.path`; no network, no secrets."""

    def _files(self) -> list[Path]:
        root = Path(self.cfg.path or "")
        if not root.is_dir():
            raise ExtractionError(f"gateway={self.cfg.name}: export folder {root} does not exist")
        return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
                      and p.suffix.lower() in (".csv", ".json", ".jsonl", ".ndjson"))

    def _rows(self, kind: str) -> Iterator[tuple[Path, int, dict]]:
        for path in self._files():
            try:
                rows = list(_read(path))
            except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
                raise ExtractionError(f"gateway={self.cfg.name} file={path.name}: unreadable export "
                                      f"({type(exc).__name__})") from None
            if not rows:
                continue
            heads = {norm_header(str(k)) for k in rows[0][1]} - {None}
            is_task = "task_id" in heads and bool(heads & _TASK_MARKERS) and not heads & _USAGE_MARKERS
            if (kind == "tasks") != is_task:
                continue
            for line, raw in rows:
                rec: dict = {}
                for k, v in raw.items():
                    n = norm_header(str(k))
                    if n is not None and v not in (None, ""):
                        rec[n] = v.strip() if isinstance(v, str) else v
                yield path, line, rec

    def usage(self, start: datetime, end: datetime) -> pd.DataFrame:
        c = self.cfg
        lo, hi = micros(utc(start)), micros(utc(end))
        partition = utc(start).date().isoformat()
        out: dict[str, tuple] = {}
        n_files = set()
        for path, line, rec in self._rows("usage"):
            status = str(rec.get("status", "")).strip().lower()
            if "type" not in rec and status in STATUS_TYPES:
                rec["type"] = STATUS_TYPES[status]
            if "duration" in rec and "duration_ms" not in rec:
                rec["duration_s"] = rec.pop("duration")
            try:
                row = usage_row(rec, c.name, c.quota_per_unit, by_id=False)
            except RowError as exc:
                raise InvalidRecordError(f"gateway={c.name} partition={partition} file={path.name} line={line}: "
                                         f"invalid row: field={exc.field}: {exc.why}") from None
            if not lo <= row[UIDX["created_at"]] < hi:
                continue
            n_files.add(path.name)
            out.setdefault(row[UIDX["record_key"]], row)  # the key is the content: a repeat is equal
        self.log(f"{c.name} usage {partition}: {len(out)} records from {len(n_files)} export file(s)")
        if not out:
            return empty_frame("usage_records")
        table = table_from_rows(list(out.values()), "usage_records")
        return to_frame(table.sort_by([("created_at", "ascending"), ("record_key", "ascending")]))

    def tasks(self, start: datetime, end: datetime, known_task_ids: Sequence[str] = ()) -> pd.DataFrame:
        c = self.cfg
        lo, hi = micros(utc(start)), micros(utc(end))
        partition = utc(start).date().isoformat()
        out: dict[str, tuple] = {}
        for path, line, rec in self._rows("tasks"):
            if "submitted_at" not in rec and "created_at" in rec:
                rec["submitted_at"] = rec.pop("created_at")
            try:
                row = task_row(rec, c.name, c.quota_per_unit, str(rec.get("task_id", "")))
            except RowError as exc:
                raise InvalidRecordError(f"gateway={c.name} partition={partition} file={path.name} line={line}: "
                                         f"invalid task row: field={exc.field}: {exc.why}") from None
            if lo <= row[3] < hi:
                out[row[1]] = row  # a later export of the same task supersedes (status moves on)
        self.log(f"{c.name} tasks {partition}: {len(out)} tasks from exports")
        if not out:
            return empty_frame("gateway_tasks")
        table = table_from_rows(list(out.values()), "gateway_tasks")
        return to_frame(table.sort_by([("submitted_at", "ascending"), ("task_id", "ascending")]))


def _ids(r: tuple) -> str:
    parts = [f"{c}={r[UIDX[c]]}" for c in ("request_id", "task_id") if r[UIDX[c]]]
    parts.append(f"created_at={from_micros(r[UIDX['created_at']]).isoformat()}")
    return " ".join(parts)
