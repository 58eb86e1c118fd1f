"""pandera contract of a landed app asset (canonical.APP_ASSET): what the user actually received.

`asset_id` is unique and present, every asset names the job it belongs to (an asset with no job
cannot be reconciled and would hide an `asset_without_success`), sizes are not negative and the
status is one of the three the reports understand. ``strict = True``: exactly the canonical columns.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.canonical import ASSET_STATUSES
from schemas.checks import non_empty, sane_timestamp

UtcTs = Annotated[pd.DatetimeTZDtype, "us", "UTC"]
Str = pd.StringDtype


class AppAsset(pa.DataFrameModel):
    asset_id: Series[Str] = pa.Field(nullable=False)
    job_id: Series[Str] = pa.Field(nullable=False)
    created_at: Series[UtcTs] = pa.Field(nullable=False)
    kind: Series[Str] = pa.Field(nullable=True)
    byte_size: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    status: Series[Str] = pa.Field(nullable=False, isin=list(ASSET_STATUSES))

    @pa.check("asset_id", "job_id", name="non_empty")
    def _ids_non_empty(cls, s: Series[Str]) -> Series[bool]:
        return non_empty(s)

    @pa.check("created_at", name="sane_timestamp")
    def _sane_timestamp(cls, s: Series[UtcTs]) -> Series[bool]:
        return sane_timestamp(s)  # bounds documented in schemas/checks.py

    class Config:
        strict = True
        coerce = False
        unique: ClassVar[list[str]] = ["asset_id"]


CHECK_COLUMNS: dict[str, str] = {}
KEY = ["asset_id"]
