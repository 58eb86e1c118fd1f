"""Landing the gateways' own daily totals: small append-only evidence beside the usage batches.

One file per extraction and day, `<landing_dir>/gateway_totals/date=YYYY-MM-DD/totals-NNNNNN.parquet`,
one row per gateway that offers an aggregate (new-api's stat endpoint). Files are never replaced
(`evidence.write_new`): what a gateway once said it billed stays, next to what it says later. dbt
compares the latest one per gateway and day with the detail rows (`fct_gateway_totals_daily`).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from orchestration import storage
from orchestration.evidence import write_new
from orchestration.gateways.totals import GatewayTotals

RECORD = "gateway_totals"
_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("gateway", pa.string()),
        ("day", pa.date32()),
        ("quota", pa.int64()),
        ("rpm", pa.int64()),
        ("tpm", pa.int64()),
        ("quota_per_unit", pa.float64()),
        ("endpoint", pa.string()),
        ("filter", pa.string()),
        ("window_start", _TS),
        ("window_end", _TS),
        ("extracted_at", _TS),
    ]
)
_FILE = re.compile(r"^totals-(\d{6})\.parquet$")


def totals_dir(landing_dir: Path, day: date) -> Path:
    return storage.root(landing_dir) / RECORD / f"date={day.isoformat()}"


def land_totals(
    landing_dir: Path, day: date, totals: list[GatewayTotals], extracted_at: datetime
) -> Path | None:
    """Append the day's totals as a new file (None when no gateway offered one)."""
    if not totals:
        return None
    d = totals_dir(landing_dir, day)
    storage.makedirs(d)
    rows = [
        {
            "gateway": t.gateway,
            "day": day,
            "quota": t.quota,
            "rpm": None,
            "tpm": None,
            "quota_per_unit": t.quota_per_unit,
            "endpoint": t.endpoint,
            "filter": t.filter,
            "window_start": t.window_start,
            "window_end": t.window_end,
            "extracted_at": extracted_at,
        }
        for t in totals
    ]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    while True:  # a concurrent run of the same day may take a sequence number first: look again
        files = sorted((int(m.group(1)), p) for p in storage.files(d) if (m := _FILE.match(p.name)))
        # rpm/tpm are the last 60 s at read time, not the day: kept out, so a re-read of a closed day
        # with the same totals adds no file (as an unchanged usage re-read adds no batch)
        if files and _facts(storage.read_table(files[-1][1]).to_pylist()) == _facts(rows):
            return None
        seq = (files[-1][0] if files else 0) + 1
        try:
            return write_new(table, d / f"totals-{seq:06d}.parquet")
        except FileExistsError:
            continue


def _facts(rows: list[dict]) -> list[tuple]:
    return sorted(
        (r["gateway"], r["quota"], r["endpoint"], r["filter"], r["window_start"], r["window_end"])
        for r in rows
    )


def held_totals(landing_dir: Path, day: date) -> list[tuple]:
    """Every total ever landed for `day`, without the read time (tests compare data dirs by it)."""
    d = totals_dir(landing_dir, day)
    return sorted(
        {t for p in storage.glob(d, "totals-*.parquet") for t in _facts(storage.read_table(p).to_pylist())}
    )
