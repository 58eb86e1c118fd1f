"""pandera contract of a landed app job (canonical.APP_JOB), one row per job of the app.

Why these checks: `job_id` is the key every finding hangs on, so it must be present and unique in
its partition (two rows with one id are ambiguous: both go to quarantine, neither is guessed);
statuses and scenes come from the app's own words mapped in SQL, so a word the mapping missed is
caught here instead of being silently reconciled as something else; a job cannot end before it
began. ``strict = True``: a landed file has exactly the canonical columns, no app extras.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.canonical import JOB_STATUSES, SCENES
from schemas.checks import non_empty, sane_money, sane_timestamp

UtcTs = Annotated[pd.DatetimeTZDtype, "us", "UTC"]
Str = pd.StringDtype


class AppJob(pa.DataFrameModel):
    job_id: Series[Str] = pa.Field(nullable=False)
    user_id: Series[Str] = pa.Field(nullable=True)  # pseudonymized before it gets here
    created_at: Series[UtcTs] = pa.Field(nullable=False)
    scene: Series[Str] = pa.Field(nullable=True, isin=list(SCENES))
    model: Series[Str] = pa.Field(nullable=True)
    request_id: Series[Str] = pa.Field(nullable=True)
    task_id: Series[Str] = pa.Field(nullable=True)
    status: Series[Str] = pa.Field(nullable=False, isin=list(JOB_STATUSES))
    terminal_at: Series[UtcTs] = pa.Field(nullable=True)
    billing_transaction_id: Series[Str] = pa.Field(nullable=True)
    expected_cost_usd: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0)
    retry_count: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    token_name: Series[Str] = pa.Field(nullable=True)
    prompt_tokens: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    completion_tokens: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)

    @pa.check("job_id", "request_id", "task_id", "billing_transaction_id", name="non_empty")
    def _ids_non_empty(cls, s: Series[Str]) -> Series[bool]:
        return non_empty(s)

    @pa.dataframe_check(name="terminal_at_not_before_created_at")
    def _terminal_after_created(cls, df: pd.DataFrame) -> Series[bool]:
        # Where the app has no terminal time the gateway's finish time is used later (dbt), so a
        # missing terminal_at is fine; one before creation is a clock or mapping bug.
        both = df["terminal_at"].notna() & df["created_at"].notna()  # a null is not_nullable's to report
        return ~both | (df["terminal_at"] >= df["created_at"])

    @pa.check("expected_cost_usd", name="sane_money")
    def _sane_money(cls, s: Series[pd.Float64Dtype]) -> Series[bool]:
        return sane_money(s)  # bounds documented in schemas/checks.py

    @pa.check("created_at", "terminal_at", name="sane_timestamp")
    def _sane_timestamp(cls, s: Series[UtcTs]) -> Series[bool]:
        return sane_timestamp(s)

    class Config:
        strict = True
        coerce = False  # schemas.validate casts to canonical types first, row by row
        unique: ClassVar[list[str]] = ["job_id"]


# the column a frame-wide check is about, for the human lines of schemas.validate
CHECK_COLUMNS = {"terminal_at_not_before_created_at": "terminal_at"}
KEY = ["job_id"]
