"""Money at risk, each dollar once: one job with several findings counts its largest amount per
direction, not their sum (a charged failure that is also a cost mismatch is one 0.35 USD, not 0.70).

The summary, the HTML/CSV report and the `money_at_risk` operator check all read it from here, so
they never disagree. Works on the mismatch mart's rows (dicts), whatever subset a caller selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

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


def currency(usd: object, symbol: str = "$") -> str:
    """USD as a finance reader reads it: `$1,234.57` (two decimals, half-up), `-$3.10` for a credit,
    `<$0.01` for a non-zero amount under a cent (it is not zero), an empty string for None.

    The one money formatter of the cards, tables, trail pages and the CLI summary; the CSVs keep
    full precision."""
    if usd is None or usd == "":
        return ""
    d = Decimal(str(usd))
    cents = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if cents == 0 and d != 0:
        return f"{'-' if d < 0 else ''}<{symbol}0.01"
    return f"{'-' if cents < 0 else ''}{symbol}{abs(cents):,.2f}"


def by_gateway(rows: Iterable[Mapping]) -> dict[str, dict[str, float]]:
    """USD at risk per gateway and direction, each subject's dollars once per gateway and direction
    (findings with no gateway, such as an app-only missing_usage, sit under "(no gateway)")."""
    grouped: dict[str, list[Mapping]] = {}
    for r in rows:
        grouped.setdefault(str(r.get("gateway") or "(no gateway)"), []).append(r)
    return {g: by_direction(rs) for g, rs in sorted(grouped.items())}
