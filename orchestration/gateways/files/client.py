"""Console exports (Laozhang / TokenOpen / Routescope style CSV or JSON) dropped into a folder.

Any file naming, one file per day or any range: every `*.csv`, `*.json`, `*.jsonl`/`*.ndjson` under
`cfg.path` is read, headers are normalized (case, spaces, units like "(USD)"), rows are filtered to
the half-open window and normalized like TokenLab records (USD money, RFC 3339 or Unix times, text
without an offset is UTC). A file is a task log when it has a task id and a task status/failure
column but no token or cost columns. Same validation as the HTTP dialects; rows are keyed by the
content hash of the normalized row (exports carry no stable row id), so a row exported twice (in
overlapping files) lands once and two rows that differ in anything stay two.
Columns that could hold secrets or personal data (API keys, IPs, user agents, request parameters,
prompts/content, messages) are dropped the moment a row is read, before any mapping or parsing.
Money may carry a currency symbol and thousands separators (`$1,234.50`, `¥0.0040`); a Duration is in
ms or s by its header's unit, else `duration_unit`; a console's own headers map through a built-in
`preset` and the gateway's `columns:`. A row that cannot be read is quarantined with its file, line
and field; the rest of the day lands. See docs/gateways.md.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from orchestration.errors import ExtractionError, RowError
from orchestration.gateways.base import GatewayClient
from orchestration.gateways.normalize import (
    UIDX,
    empty_frame,
    from_micros,
    micros,
    table_from_rows,
    to_frame,
)
from orchestration.gateways.normalize_tokenlab import find_records, task_row, usage_row
from orchestration.gateways.windows import utc
from schemas.validate import QUARANTINE_REASON

SYNONYMS = {
    "time": "created_at",
    "created_time": "created_at",
    "created": "created_at",
    "date_time": "created_at",
    "datetime": "created_at",
    "timestamp": "created_at",
    "request_time": "created_at",
    "时间": "created_at",
    "model_name": "model",
    "模型": "model",
    "key_name": "key_name",
    "token_name": "key_name",
    "api_key_name": "key_name",
    "令牌": "key_name",
    "group": "group",
    "group_name": "group",
    "分组": "group",
    "input_tokens": "prompt_tokens",
    "prompt_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "completion_tokens": "completion_tokens",
    "completion": "completion_tokens",
    "cache_tokens": "cache_tokens",
    "cached_tokens": "cache_tokens",
    "cost": "cost_usd",
    "cost_usd": "cost_usd",
    "amount": "cost_usd",
    "amount_usd": "cost_usd",
    "花费": "cost_usd",
    "quota": "quota",
    "duration": "duration",
    "duration_s": "duration",
    "use_time": "duration",
    "duration_ms": "duration_ms",
    "latency_ms": "duration_ms",
    "request_id": "request_id",
    "requestid": "request_id",
    "req_id": "request_id",
    "task_id": "task_id",
    "taskid": "task_id",
    "billing_transaction_id": "billing_transaction_id",
    "status": "status",
    "state": "status",
    "status_code": "status_code",
    "http_status": "status_code",
    "error_code": "error_code",
    "error": "error_code",
    "type": "type",
    "record_type": "type",
    "scene": "scene",
    "stream": "is_stream",
    "is_stream": "is_stream",
    "fail_reason": "fail_reason",
    "failure_reason": "fail_reason",
    "reason": "fail_reason",
    "submitted_at": "submitted_at",
    "submit_time": "submitted_at",
    "finished_at": "finished_at",
    "finish_time": "finished_at",
    "completed_at": "finished_at",
    "cancelled": "cancelled",
    "platform": "platform",
    "action": "action",
    "progress": "progress",
    # what consoles write (issue 18): English and Chinese
    "请求id": "request_id",
    "请求_id": "request_id",
    "任务id": "task_id",
    "任务_id": "task_id",
    "usage": "quota",
    "额度": "quota",
    "消耗额度": "quota",
    "tokens": "total_tokens",
    "total_tokens": "total_tokens",
    "总tokens": "total_tokens",
    "总_tokens": "total_tokens",
    "prompt_tokens_": "prompt_tokens",
    "输入": "prompt_tokens",
    "输入tokens": "prompt_tokens",
    "输出": "completion_tokens",
    "输出tokens": "completion_tokens",
    "费用": "cost_usd",
    "金额": "cost_usd",
    "价格": "cost_usd",
    "耗时": "duration",
    "用时": "duration",
    "状态": "status",
    "类型": "type",
    "错误码": "error_code",
    "失败原因": "fail_reason",
    "提交时间": "submitted_at",
    "完成时间": "finished_at",
    "平台": "platform",
    "进度": "progress",
    "渠道": "access_channel",
}
# Dropped before anything else reads the row: secrets, network identity, request content.
NEVER_LAND = frozenset(
    {
        "api_key",
        "key",
        "apikey",
        "api_key_value",
        "token",
        "secret",
        "authorization",
        "ip",
        "ip_address",
        "client_ip",
        "user_agent",
        "ua",
        "request_parameters",
        "request_params",
        "parameters",
        "params",
        "request_body",
        "body",
        "content",
        "prompt",
        "messages",
        "message",
        "error_message",
        "details",
        "error_details",
        "response",
        "user",
        "username",
        "user_name",
        "email",
        "密钥",
        "ip地址",
        "请求参数",
        "内容",
        "详情",
        "用户",
        "用户名",
    }
)
# The three consoles named in GATEWAYS.md, as their docs show the export (header -> recon field).
PRESETS: dict[str, dict[str, str]] = {
    "laozhang": {
        "request_id": "request_id",
        "timestamp": "created_at",
        "model": "model",
        "status": "status",
        "prompt_tokens": "prompt_tokens",
        "completion_tokens": "completion_tokens",
        "total_tokens": "total_tokens",
        "cost": "cost_usd",
        "error_code": "error_code",
    },
    "tokenopen": {
        "time": "created_at",
        "usage": "quota",
        "model": "model",
        "duration_ms": "duration_ms",
        "duration": "duration_ms",
        "tokens": "total_tokens",
        "cost": "cost_usd",
    },
    # Routescope's `quota` is a USD decimal in its log API, not quota units
    "routescope": {"quota": "cost_usd", "quota_usd": "cost_usd"},
}
TYPE_WORDS = {
    "top_up": "topup",
    "topup": "topup",
    "recharge": "topup",
    "充值": "topup",
    "消费": "consume",
    "退款": "refund",
    "错误": "error",
    "manage": "other",
    "system": "other",
}
_INT_FIELDS = ("prompt_tokens", "completion_tokens", "cache_tokens", "quota", "total_tokens", "status_code")
_MONEY = re.compile(
    r"^\s*(?P<neg>-)?\s*(?:US\$|\$|¥|￥|USD|CNY|RMB|€)?\s*(?P<neg2>-)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s*(?:USD|CNY|RMB)?\s*$",
    re.IGNORECASE,
)
_CANONICAL = frozenset(SYNONYMS.values())
_TASK_MARKERS = {"fail_reason", "submitted_at", "finished_at", "progress"}
_USAGE_MARKERS = {"prompt_tokens", "completion_tokens", "total_tokens"}  # a task export may carry a cost
STATUS_TYPES = {
    "success": "consume",
    "succeeded": "consume",
    "ok": "consume",
    "completed": "consume",
    "成功": "consume",
    "failed": "error",
    "failure": "error",
    "error": "error",
    "失败": "error",
    "refund": "refund",
    "refunded": "refund",
}


def header_key(h: str) -> str:
    """`Cost (USD)` → `cost_usd`, `Duration (ms)` → `duration_ms`, `Key Name` → `key_name`."""
    s = re.sub(
        r"\((usd|\$|s|sec|seconds)\)",
        lambda m: "_usd" if m.group(1) in ("usd", "$") else "",
        h.strip().lstrip("\ufeff").lower(),
    )
    s = re.sub(r"\((ms|毫秒)\)", "_ms", s)
    return re.sub(r"_+", "_", re.sub(r"[^\w\u4e00-\u9fff]+", "_", s)).strip("_")


def norm_header(h: str, mapping: dict[str, str] | None = None) -> str | None:
    """The recon field a header carries (the gateway's mapping first), or None: unknown or never-land."""
    s = header_key(h)
    if s in NEVER_LAND:
        return None
    if mapping and s in mapping:
        return mapping[s]
    return SYNONYMS.get(s) or (s if s in _CANONICAL else None)


def parse_money(v: object) -> float | None:
    """`$1,234.50`, `¥0.0040`, `-$0.30`, `1234.5 USD` → float; a number stays a number."""
    if v is None or v == "" or isinstance(v, (int, float)) and not isinstance(v, bool):
        return None if v in (None, "") else float(v)  # type: ignore[arg-type]
    m = _MONEY.match(str(v))
    if m is None:
        raise ValueError(f"unreadable amount {str(v)[:24]!r}")
    n = float(m.group("num").replace(",", ""))
    return -n if (m.group("neg") or m.group("neg2")) else n


def _int_text(v: object) -> object:
    """`1,234` → `1234` (thousands separators in token counts)."""
    return v.replace(",", "").replace(" ", "") if isinstance(v, str) and re.fullmatch(r"[\d, ]+", v) else v


def _read(path: Path) -> Iterator[tuple[int, dict | None]]:
    """(line/row number, raw row) for every row of a CSV (`,` or `;`, BOM or not) / JSON / JSON-lines
    export; a JSON line that does not parse is (line, None): quarantined, not fatal."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            first = fh.readline()
            fh.seek(0)
            if first.startswith("\ufeff"):
                fh.read(1)
            delim = ";" if first.count(";") > first.count(",") else ","
            for i, row in enumerate(csv.DictReader(fh, delimiter=delim), start=2):
                yield i, row
        return
    text = path.read_text(encoding="utf-8-sig")
    if suffix in (".jsonl", ".ndjson"):
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    yield i, None
                    continue
                yield i, obj if isinstance(obj, dict) else None
        return
    body = json.loads(text)
    recs, _, _ = find_records(body, f"file={path.name}")
    for i, r in enumerate(recs, start=1):
        yield i, r if isinstance(r, dict) else None


class FilesClient(GatewayClient):
    """Reads console exports from `cfg.path`; no network, no secrets."""

    def _mapping(self) -> dict[str, str]:
        c = self.cfg
        m = dict(PRESETS.get(c.preset or "", {}))
        m.update({header_key(k): v for k, v in c.columns.items()})
        return m

    def _files(self) -> list[Path]:
        root = Path(self.cfg.path or "")
        if not root.is_dir():
            raise ExtractionError(f"gateway={self.cfg.name}: export folder {root} does not exist")
        return sorted(
            p
            for p in root.rglob("*")
            if p.is_file()
            and not p.name.startswith(".")
            and p.suffix.lower() in (".csv", ".json", ".jsonl", ".ndjson")
        )

    def _rows(self, kind: str) -> Iterator[tuple[Path, int, dict | None]]:
        mapping = self._mapping()
        for path in self._files():
            try:
                rows = list(_read(path))
            except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
                raise ExtractionError(
                    f"gateway={self.cfg.name} file={path.name}: unreadable export ({type(exc).__name__})"
                ) from None
            good = [raw for _, raw in rows if raw is not None]
            if not good:
                continue
            heads = {norm_header(str(k), mapping) for r in good[:50] for k in r} - {None}
            is_task = "task_id" in heads and bool(heads & _TASK_MARKERS) and not heads & _USAGE_MARKERS
            if (kind == "tasks") != is_task:
                continue
            for line, raw in rows:
                if raw is None:
                    yield path, line, None
                    continue
                rec: dict = {}
                for k, v in raw.items():
                    if k is None:  # a CSV row longer than its header
                        continue
                    n = norm_header(str(k), mapping)  # never-land columns end here, unread
                    if n is not None and v not in (None, ""):
                        rec[n] = v.strip() if isinstance(v, str) else v
                yield path, line, self._units(rec)

    def _units(self, rec: dict) -> dict:
        """Money to USD floats, token counts without separators, a bare Duration in its unit, a time
        without an offset in the export's zone, record types from the words consoles use."""
        c = self.cfg
        for f in ("cost_usd",):
            if f in rec:
                rec[f] = _Bad.wrap(
                    f, lambda v: None if (m := parse_money(v)) is None else m * c.amount_to_usd, rec[f]
                )
        if "quota" in rec and isinstance(rec["quota"], str) and not re.fullmatch(r"[\d, .-]+", rec["quota"]):
            rec["quota"] = _Bad.wrap("quota", parse_money, rec["quota"])
        for f in _INT_FIELDS:
            if f in rec:
                rec[f] = _int_text(rec[f])
        if "duration" in rec and "duration_ms" not in rec and (c.duration_unit or "s") == "ms":
            rec["duration_ms"] = rec.pop("duration")
        if c.time_zone != "UTC":
            zone = ZoneInfo(c.time_zone)
            for f in ("created_at", "submitted_at", "finished_at"):
                v = rec.get(f)
                if isinstance(v, str) and not re.fullmatch(r"[\d.]+", v.strip()):
                    try:
                        t = datetime.fromisoformat(v.strip())
                    except ValueError:
                        continue  # the row parser names the field
                    if t.tzinfo is None:
                        rec[f] = t.replace(tzinfo=zone).isoformat()
        if "type" in rec:
            word = re.sub(r"[\s-]+", "_", str(rec["type"]).strip().lower())
            rec["type"] = TYPE_WORDS.get(word, word)
        return rec

    def _quarantine(self, record: str, bad: list[tuple[Path, int, str, str]], partition: str) -> None:
        """Rows that could not be read: only the gateway and the reason (file, line, field) land, never
        the raw text (it may be exactly what must not land)."""
        if not bad:
            return
        frame = empty_frame(record).astype(object).astype("string")
        frame = frame.reindex(range(len(bad)))
        frame["gateway"] = self.cfg.name
        frame[QUARANTINE_REASON] = [f"file={p.name} line={ln} field={f}: {why}" for p, ln, f, why in bad]
        self.last_quarantine = frame.astype("string")
        for p, ln, f, why in bad[:5]:
            self.log(
                f"WARNING gateway={self.cfg.name} partition={partition} file={p.name} line={ln}: "
                f"row quarantined: field={f}: {why}"
            )
        if len(bad) > 5:
            self.log(
                f"WARNING gateway={self.cfg.name} partition={partition}: {len(bad) - 5} more row(s) quarantined"
            )

    def usage(self, start: datetime, end: datetime) -> pd.DataFrame:
        c = self.cfg
        lo, hi = micros(utc(start)), micros(utc(end))
        partition = utc(start).date().isoformat()
        out: dict[str, tuple] = {}
        bad: list[tuple[Path, int, str, str]] = []
        n_files = set()
        self.last_quarantine = None
        for path, line, rec in self._rows("usage"):
            if rec is None:
                bad.append((path, line, "?", "line is not a JSON object"))
                continue
            status = str(rec.get("status", "")).strip().lower()
            if "type" not in rec and status in STATUS_TYPES:
                rec["type"] = STATUS_TYPES[status]
            if "duration" in rec and "duration_ms" not in rec:
                rec["duration_s"] = rec.pop("duration")
            try:
                _Bad.check(rec)
                row = usage_row(rec, c.name, c.quota_per_unit, by_id=False)
            except RowError as exc:
                bad.append((path, line, exc.field, exc.why))
                continue
            if not lo <= row[UIDX["created_at"]] < hi:
                continue
            n_files.add(path.name)
            out.setdefault(row[UIDX["record_key"]], row)  # the key is the content: a repeat is equal
        self.log(f"{c.name} usage {partition}: {len(out)} records from {len(n_files)} export file(s)")
        self._quarantine("usage_records", bad, partition)
        if not out:
            return empty_frame("usage_records")
        table = table_from_rows(list(out.values()), "usage_records")
        return to_frame(table.sort_by([("created_at", "ascending"), ("record_key", "ascending")]))

    def tasks(self, start: datetime, end: datetime, known_task_ids: Sequence[str] = ()) -> pd.DataFrame:
        c = self.cfg
        lo, hi = micros(utc(start)), micros(utc(end))
        partition = utc(start).date().isoformat()
        out: dict[str, tuple] = {}
        bad: list[tuple[Path, int, str, str]] = []
        self.last_quarantine = None
        for path, line, rec in self._rows("tasks"):
            if rec is None:
                bad.append((path, line, "?", "line is not a JSON object"))
                continue
            if "submitted_at" not in rec and "created_at" in rec:
                rec["submitted_at"] = rec.pop("created_at")
            try:
                _Bad.check(rec)
                row = task_row(rec, c.name, c.quota_per_unit, str(rec.get("task_id", "")))
            except RowError as exc:
                bad.append((path, line, exc.field, exc.why))
                continue
            except (ValueError, TypeError) as exc:
                bad.append((path, line, "?", str(exc)[:120]))
                continue
            if lo <= row[3] < hi:
                out[row[1]] = row  # a later export of the same task supersedes (status moves on)
        self.log(f"{c.name} tasks {partition}: {len(out)} tasks from exports")
        self._quarantine("gateway_tasks", bad, partition)
        if not out:
            return empty_frame("gateway_tasks")
        table = table_from_rows(list(out.values()), "gateway_tasks")
        return to_frame(table.sort_by([("submitted_at", "ascending"), ("task_id", "ascending")]))


class _Bad:
    """A value `_units` could not read, kept in the record until the row parser can name it."""

    def __init__(self, field: str, why: str) -> None:
        self.field, self.why = field, why

    @staticmethod
    def wrap(field: str, fn: Callable[[object], object], v: object) -> object:
        try:
            return fn(v)
        except (ValueError, TypeError) as exc:
            return _Bad(field, str(exc))

    @staticmethod
    def check(rec: dict) -> None:
        for v in rec.values():
            if isinstance(v, _Bad):
                raise RowError(v.field, "", v.why)


def _ids(r: tuple) -> str:
    parts = [f"{c}={r[UIDX[c]]}" for c in ("request_id", "task_id") if r[UIDX[c]]]
    parts.append(f"created_at={from_micros(r[UIDX['created_at']]).isoformat()}")
    return " ".join(parts)
