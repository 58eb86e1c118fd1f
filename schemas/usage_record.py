"""pandera contract of a landed gateway usage record (canonical.USAGE_RECORD): one billed row.

Keyed by (gateway, record_key), unique per partition (the client dedups; a repeat here is a bug).
Money signs, because the ledger is Σ consume − Σ refund with a signed `cost_usd`:
- refund rows: `cost_usd <= 0` (the refund is negative money). Their `quota` keeps whatever sign
  the gateway logged (new-api logs a refund's quota positive), so quota sign is not checked there.
- consume rows: `cost_usd >= 0` and `quota >= 0`, EXCEPT the settlement-delta rows of older
  new-api builds: they write a task's settlement as a consume row with a NEGATIVE quota when the
  task cost less than its pre-charge, carrying `pre_consumed_quota` and `actual_quota`. A negative
  consume row is accepted exactly when both of those are present; whether |quota| equals
  |actual − pre_consumed| is a reconciliation finding (dbt's quota_mismatch), not a schema error,
  so it is not checked here (quarantining it would hide the finding). A negative consume row
  without them is a sign bug in extraction and is quarantined.
- topup/error/other rows: no sign rule (topups are credits; dbt never counts them as spend).
- consume and refund rows must carry `cost_usd`: a charge of unknown amount is quarantined
  (``money_row_has_cost``), never landed as a silent zero.
Tokens, durations and ratios are never negative; `model_price` is -1 (ratio-priced) or >= 0.
``strict = True``: secrets (keys, IPs, channel data, content) can only land through an extra
column, and there are none.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.canonical import ACCESS_CHANNELS, SCENES, USAGE_RECORD_TYPES
from schemas.checks import non_empty, sane_money, sane_timestamp

UtcTs = Annotated[pd.DatetimeTZDtype, "us", "UTC"]
Str = pd.StringDtype
Int = pd.Int64Dtype
Float = pd.Float64Dtype


def _is_settlement_delta(df: pd.DataFrame) -> pd.Series:
    return df["pre_consumed_quota"].notna() & df["actual_quota"].notna()


class UsageRecord(pa.DataFrameModel):
    gateway: Series[Str] = pa.Field(nullable=False)
    record_key: Series[Str] = pa.Field(nullable=False)
    record_type: Series[Str] = pa.Field(nullable=False, isin=list(USAGE_RECORD_TYPES))
    created_at: Series[UtcTs] = pa.Field(nullable=False)
    request_id: Series[Str] = pa.Field(nullable=True)
    task_id: Series[Str] = pa.Field(nullable=True)
    billing_transaction_id: Series[Str] = pa.Field(nullable=True)
    model: Series[Str] = pa.Field(nullable=True)
    scene: Series[Str] = pa.Field(nullable=True, isin=list(SCENES))
    token_name: Series[Str] = pa.Field(nullable=True)
    group_name: Series[Str] = pa.Field(nullable=True)
    prompt_tokens: Series[Int] = pa.Field(nullable=True, ge=0)
    completion_tokens: Series[Int] = pa.Field(nullable=True, ge=0)
    cache_tokens: Series[Int] = pa.Field(nullable=True, ge=0)
    quota: Series[Int] = pa.Field(nullable=True)
    cost_usd: Series[Float] = pa.Field(nullable=True)
    duration_ms: Series[Int] = pa.Field(nullable=True, ge=0)
    is_stream: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    status_code: Series[Int] = pa.Field(nullable=True, ge=0)
    error_code: Series[Str] = pa.Field(nullable=True)
    model_ratio: Series[Float] = pa.Field(nullable=True, ge=0)
    completion_ratio: Series[Float] = pa.Field(nullable=True, ge=0)
    group_ratio: Series[Float] = pa.Field(nullable=True, ge=0)
    cache_ratio: Series[Float] = pa.Field(nullable=True, ge=0)
    model_price: Series[Float] = pa.Field(nullable=True)
    pre_consumed_quota: Series[Int] = pa.Field(nullable=True, ge=0)
    actual_quota: Series[Int] = pa.Field(nullable=True, ge=0)
    is_task: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    stream_status: Series[Str] = pa.Field(nullable=True)
    quota_per_unit: Series[Float] = pa.Field(nullable=True, gt=0)
    total_tokens: Series[Int] = pa.Field(nullable=True, ge=0)
    settled_at: Series[UtcTs] = pa.Field(nullable=True)
    is_reserved: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    access_channel: Series[Str] = pa.Field(nullable=True, isin=list(ACCESS_CHANNELS))

    @pa.check("gateway", "record_key", "request_id", "task_id", "billing_transaction_id", name="non_empty")
    def _ids_non_empty(cls, s: Series[Str]) -> Series[bool]:
        return non_empty(s)

    @pa.check("model_price", name="model_price_is_minus_one_or_non_negative")
    def _model_price(cls, s: Series[Float]) -> Series[bool]:
        return (s.isna() | (s >= 0) | (s == -1)).fillna(True)

    @pa.dataframe_check(name="consume_cost_non_negative_unless_settlement_delta")
    def _consume_cost(cls, df: pd.DataFrame) -> Series[bool]:
        bad = (df["record_type"] == "consume") & (df["cost_usd"] < 0) & ~_is_settlement_delta(df)
        return ~bad.fillna(False).astype(bool)

    @pa.dataframe_check(name="consume_quota_non_negative_unless_settlement_delta")
    def _consume_quota(cls, df: pd.DataFrame) -> Series[bool]:
        bad = (df["record_type"] == "consume") & (df["quota"] < 0) & ~_is_settlement_delta(df)
        return ~bad.fillna(False).astype(bool)

    @pa.dataframe_check(name="money_row_has_cost", ignore_na=False)
    def _money_row_has_cost(cls, df: pd.DataFrame) -> Series[bool]:
        # a charge or refund of unknown amount cannot enter the ledger (Σ consume − Σ refund):
        # it is quarantined, never landed as a silent zero
        bad = df["record_type"].isin(["consume", "refund"]) & df["cost_usd"].isna()
        return ~bad.fillna(False).astype(bool)

    @pa.dataframe_check(name="refund_cost_not_positive")
    def _refund_cost(cls, df: pd.DataFrame) -> Series[bool]:
        bad = (df["record_type"] == "refund") & (df["cost_usd"] > 0)
        return ~bad.fillna(False).astype(bool)

    @pa.dataframe_check(name="sane_money")
    def _sane_money(cls, df: pd.DataFrame) -> Series[bool]:
        # bounds documented in schemas/checks.py; top-ups are credits and may be larger
        return (df["record_type"] == "topup").fillna(False).astype(bool) | sane_money(df["cost_usd"])

    @pa.check("created_at", "settled_at", name="sane_timestamp")
    def _sane_timestamp(cls, s: Series[UtcTs]) -> Series[bool]:
        return sane_timestamp(s)

    class Config:
        strict = True
        coerce = False
        unique: ClassVar[list[str]] = ["gateway", "record_key"]


CHECK_COLUMNS = {
    "consume_cost_non_negative_unless_settlement_delta": "cost_usd",
    "consume_quota_non_negative_unless_settlement_delta": "quota",
    "refund_cost_not_positive": "cost_usd",
    "money_row_has_cost": "cost_usd",
    "sane_money": "cost_usd",
}
KEY = ["gateway", "record_key"]
