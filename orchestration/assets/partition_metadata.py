"""Per-partition metadata: each day of a multi-day run records its own figures.

A run over a partition range materializes every day, and Dagster copies a MaterializeResult's
metadata onto each of them: the Plots and Partitions views would show the range's totals as a
flat line. `context.add_asset_metadata(..., partition_key=day)` (Dagster >= 1.8) attaches
figures to that day's materialization only; the run totals stay on the result under their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.reports import marts, money


def record_day(context: dg.AssetExecutionContext, day: date, figures: Mapping[str, object]) -> None:
    """Attach `figures` to the materialization of `day` alone (no-op for an unpartitioned run, or a
    stand-in context that only carries the partition window)."""
    if not hasattr(context, "add_asset_metadata"):
        return
    if context.has_partition_key or context.has_partition_key_range:
        context.add_asset_metadata(dict(figures), partition_key=day.isoformat())


def usage_spend_usd(frame: pd.DataFrame) -> float:
    """Net spend (consume + refund cost) of the rows a gateway served for a day."""
    if not len(frame) or "cost_usd" not in frame.columns:
        return 0.0
    mask = frame["record_type"].isin(["consume", "refund"])
    return float(round(pd.to_numeric(frame.loc[mask, "cost_usd"], errors="coerce").fillna(0).sum(), 6))


def report_day_figures(warehouse: Path | str, days: list[date]) -> dict[date, dict[str, object]]:
    """Findings, money at risk and net spend of each day, read-only from the marts (missing marts
    read as zero: the report's checks already say they are missing)."""
    out: dict[date, dict[str, object]] = {
        d: {"dagster/row_count": 0, "day_findings": 0, "day_money_at_risk_usd": 0.0, "day_net_spend_usd": 0.0}
        for d in days
    }
    with marts.read_only(warehouse) as con:
        if con is None:
            return out
        if "partition_date" in marts.columns(con, marts.MISMATCHES):
            for d in days:
                n = 0

                def counted(rows):
                    nonlocal n
                    for r in rows:
                        n += 1
                        yield r

                # streamed like the money_at_risk check: a big day holds one batch at a time
                at_risk = sum(
                    money.by_direction(
                        counted(
                            marts.stream(
                                con, marts.MISMATCHES, money.ROW_COLUMNS, '"partition_date" = ?', [d]
                            )
                        )
                    ).values()
                )
                out[d].update(
                    {
                        "dagster/row_count": n,
                        "day_findings": n,
                        "day_money_at_risk_usd": float(round(at_risk, 6)),
                    }
                )
        if "spend_date" in marts.columns(con, marts.SPEND_DAILY):
            got = con.execute(
                f"select spend_date, sum(net_spend_usd) from {marts.SPEND_DAILY} "
                "where spend_date between ? and ? group by 1",
                [days[0], days[-1]],
            ).fetchall()
            for d, usd in got:
                if d in out:
                    out[d]["day_net_spend_usd"] = float(round(float(usd or 0), 6))
    return out
