"""Check helpers the four pandera models share."""

from __future__ import annotations

import pandas as pd


def non_empty(s: pd.Series) -> pd.Series:
    """Null is allowed (nullability is the field's own rule); a present id must not be blank."""
    return s.isna() | (s.astype("string").str.strip().str.len() > 0)
