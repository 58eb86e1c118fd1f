"""pandera contract of a landed gateway task (canonical.GATEWAY_TASK): the gateway's view of an
async task (image, video, music ...).

A task is keyed by (gateway, task_id), both present, unique per partition; its status is one of
the five canonical ones (the dialect maps NOT_START/SUBMITTED/... before this); it lands in the
day it was submitted, so `submitted_at` is required; it cannot finish before it was submitted;
quota and cost on the task list are charges, never negative. ``strict = True``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.canonical import TASK_STATUSES
from schemas.checks import non_empty, sane_money, sane_timestamp

UtcTs = Annotated[pd.DatetimeTZDtype, "us", "UTC"]
Str = pd.StringDtype


class GatewayTask(pa.DataFrameModel):
    gateway: Series[Str] = pa.Field(nullable=False)
    task_id: Series[Str] = pa.Field(nullable=False)
    status: Series[Str] = pa.Field(nullable=False, isin=list(TASK_STATUSES))
    submitted_at: Series[UtcTs] = pa.Field(nullable=False)
    finished_at: Series[UtcTs] = pa.Field(nullable=True)
    fail_reason: Series[Str] = pa.Field(nullable=True)
    quota: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    cost_usd: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0)
    is_cancelled: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    platform: Series[Str] = pa.Field(nullable=True)
    action: Series[Str] = pa.Field(nullable=True)
    poll_url: Series[Str] = pa.Field(nullable=True)
    x_task_id: Series[Str] = pa.Field(nullable=True)
    x_billing_transaction_id: Series[Str] = pa.Field(nullable=True)

    @pa.check("gateway", "task_id", name="non_empty")
    def _ids_non_empty(cls, s: Series[Str]) -> Series[bool]:
        return non_empty(s)

    @pa.dataframe_check(name="finished_at_not_before_submitted_at")
    def _finished_after_submitted(cls, df: pd.DataFrame) -> Series[bool]:
        both = df["finished_at"].notna() & df["submitted_at"].notna()
        return ~both | (df["finished_at"] >= df["submitted_at"])

    @pa.check("cost_usd", name="sane_money")
    def _sane_money(cls, s: Series[pd.Float64Dtype]) -> Series[bool]:
        return sane_money(s)  # bounds documented in schemas/checks.py

    @pa.check("submitted_at", "finished_at", name="sane_timestamp")
    def _sane_timestamp(cls, s: Series[UtcTs]) -> Series[bool]:
        return sane_timestamp(s)

    class Config:
        strict = True
        coerce = False
        unique: ClassVar[list[str]] = ["gateway", "task_id"]


CHECK_COLUMNS = {"finished_at_not_before_submitted_at": "finished_at"}
KEY = ["gateway", "task_id"]
