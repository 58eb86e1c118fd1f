"""Money at risk, each dollar once: one job with several findings counts its largest amount per
direction, not their sum (a charged failure that is also a cost mismatch is one 0.35 USD, not 0.70).

The summary, the HTML/CSV report and the `money_at_risk` operator check all read it from here, so
they never disagree. Works on the mismatch mart's rows (dicts), whatever subset a caller selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DIRECTIONS = ("recoverable", "owed", "customer", "none")
ROW_COLUMNS = ["mismatch_type", "direction", "job_id", "task_id", "request_id", "subject_key", "amount_usd"]


def subject(row: Mapping) -> str:
    """Whose dollars a finding is about: the job, else the task, else the request, else the row."""
    for col in ("job_id", "task_id", "request_id", "subject_key"):
        v = row.get(col)
        if v not in (None, ""):
            return f"{col}:{v}"
    return f"finding:{row.get('mismatch_type')}"


def by_direction(rows: Iterable[Mapping]) -> dict[str, float]:
    """USD at risk per direction, each subject's largest amount once per direction."""
    largest: dict[tuple[str, str], float] = {}
    for r in rows:
        direction = str(r.get("direction") or "none")
        key = (direction, subject(r))
        usd = float(r.get("amount_usd") or 0)
        largest[key] = max(largest.get(key, 0.0), usd)
    out = {d: 0.0 for d in DIRECTIONS}
    for (direction, _), usd in largest.items():
        out[direction] = out.get(direction, 0.0) + usd
    return out


def total(rows: Iterable[Mapping]) -> float:
    """The headline: the per-direction totals added up (each a dollar counted once)."""
    return sum(by_direction(rows).values())


def format_usd(amount: float | None) -> str:
    """Dollars as a person reads them in the terminal: two decimals, thousands separated (1,234.50).
    The marts keep full precision; a non-zero amount under half a cent shows as <0.01, not 0.00."""
    x = float(amount or 0)
    if 0 < abs(x) < 0.005:
        return "<0.01" if x > 0 else "-<0.01"
    return f"{x:,.2f}"
