"""Check helpers the four pandera models share, and the sane bounds of app and gateway values.

Bounds (issue 17): a value outside them is a unit bug (micros read as dollars, a year typed as
9999) or hostile, and would flow into money at risk, settlement lag and stuck-task ages; such a row
is quarantined with the check's name, never landed:
- money: no single job, request or task costs more than ``MAX_RECORD_USD`` (100,000 USD), either
  sign (a refund is negative); top-ups are credits and may be larger, so they are not bounded;
- time: every timestamp lies in [``MIN_TIMESTAMP``, ``MAX_TIMESTAMP``) = [2000-01-01, 2100-01-01) UTC.
"""

from __future__ import annotations

import pandas as pd


def non_empty(s: pd.Series) -> pd.Series:
    """Null is allowed (nullability is the field's own rule); a present id must not be blank."""
    return s.isna() | (s.astype("string").str.strip().str.len() > 0)


MAX_RECORD_USD = 100_000.0
MIN_TIMESTAMP = pd.Timestamp("2000-01-01", tz="UTC")
MAX_TIMESTAMP = pd.Timestamp("2100-01-01", tz="UTC")


def sane_money(s: pd.Series) -> pd.Series:
    """|value| <= MAX_RECORD_USD (nulls are nullability's to judge)."""
    return (s.isna() | (s.abs() <= MAX_RECORD_USD)).fillna(True).astype(bool)


def sane_timestamp(s: pd.Series) -> pd.Series:
    """MIN_TIMESTAMP <= value < MAX_TIMESTAMP (nulls are nullability's to judge)."""
    return (s.isna() | ((s >= MIN_TIMESTAMP) & (s < MAX_TIMESTAMP))).fillna(True).astype(bool)
