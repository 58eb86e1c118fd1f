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
