"""The one interface every gateway dialect implements (its errors live in `orchestration.errors`).

A client is built from one `GatewayConfig`, reads its secrets from the environment at run time, and
returns pandas frames with exactly the canonical columns of `schemas.canonical` (USAGE_RECORD,
GATEWAY_TASK) for a half-open UTC window [start, end). Errors are one line that names the gateway,
the endpoint, the window, the page and the attempts, and never a secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Self

import pandas as pd

from orchestration.config import GatewayConfig
from orchestration.errors import (  # re-exported: their old home
    ConflictingDuplicateError,
    ExtractionError,
    GatewayAuthError,
    InvalidRecordError,
)

if TYPE_CHECKING:
    from orchestration.gateways.totals import GatewayTotals

Log = Callable[[str], None]


@dataclass(frozen=True)
class ReadCoverage:
    """What the last `usage()` / `tasks()` call proved about its window (the manifest's facts).

    `whole_day`: every window of the request was closed and read (a held row it did not serve is
    gone); `complete`: the same, and every page consistent. A day not closed yet is neither."""

    complete: bool
    whole_day: bool
    reason: str = ""
    window_start: datetime | None = None
    window_end: datetime | None = None
    filter: str = ""


class GatewayClient(ABC):
    def __init__(self, cfg: GatewayConfig, log: Log | None = None) -> None:
        self.cfg = cfg
        self.log: Log = log or (lambda _msg: None)
        self.last_read: ReadCoverage | None = None  # set by usage() / tasks(); None: complete
        # rows the last call was served but could not land (outside the window they were served for),
        # canonical columns as text plus quarantine_reason: quarantined beside the partition
        self.last_quarantine: pd.DataFrame | None = None

    @abstractmethod
    def usage(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Every usage record created in [start, end), deduplicated, canonical columns."""

    @abstractmethod
    def tasks(self, start: datetime, end: datetime, known_task_ids: Sequence[str] = ()) -> pd.DataFrame:
        """Gateway tasks submitted in [start, end) (plus `known_task_ids` where the dialect can only
        look tasks up one by one), canonical columns."""

    def totals(self, start: datetime, end: datetime) -> GatewayTotals | None:
        """The gateway's own billing total for [start, end) (`gateways.totals.GatewayTotals`), or None
        where the dialect offers no aggregate or the day is not closed yet."""
        return None

    def close(self) -> None:  # noqa: B027 - a default no-op on purpose: only clients holding a connection override it
        """Release what the client holds (an HTTP connection pool); nothing by default."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "ConflictingDuplicateError",
    "ExtractionError",
    "GatewayAuthError",
    "GatewayClient",
    "InvalidRecordError",
    "Log",
    "ReadCoverage",
]
