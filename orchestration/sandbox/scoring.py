"""Score a mismatch table against the sandbox's truth file: the key rule both sides follow.

Key of a finding = (mismatch_type, job_id) when job_id is set, else (mismatch_type, task_id), else
(mismatch_type, request_id). Both sides are compared as sets of keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def _is_missing(val: object) -> bool:
    return val is None or (isinstance(val, float) and math.isnan(val)) or str(val) in ("", "<NA>", "nan")


def finding_key(row: Mapping) -> tuple[str, str, str]:
    for col in ("job_id", "task_id", "request_id"):
        val = row.get(col)
        if not _is_missing(val):
            return (str(row["mismatch_type"]), col, str(val))
    return (str(row["mismatch_type"]), "none", "")


@dataclass
class Score:
    true_positive: set
    false_positive: set
    false_negative: set

    @property
    def precision(self) -> float:
        found = len(self.true_positive) + len(self.false_positive)
        return len(self.true_positive) / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = len(self.true_positive) + len(self.false_negative)
        return len(self.true_positive) / expected if expected else 1.0

    def by_code(self) -> dict[str, tuple[int, int, int]]:
        """code -> (true positives, false positives, false negatives)."""
        codes = {k[0] for k in self.true_positive | self.false_positive | self.false_negative}
        return {
            c: (
                sum(k[0] == c for k in self.true_positive),
                sum(k[0] == c for k in self.false_positive),
                sum(k[0] == c for k in self.false_negative),
            )
            for c in sorted(codes)
        }

    def explain(self) -> str:
        lines = [f"precision {self.precision:.3f} recall {self.recall:.3f}"]
        lines += [f"  {c:<24} tp={tp} fp={fp} fn={fn}" for c, (tp, fp, fn) in self.by_code().items()]
        lines += [f"  unexpected: {k}" for k in sorted(self.false_positive)]
        lines += [f"  missed:     {k}" for k in sorted(self.false_negative)]
        return "\n".join(lines)


def score(found_rows: Iterable[Mapping], truth_findings: Iterable[Mapping]) -> Score:
    found = {finding_key(r) for r in found_rows}
    truth = {finding_key(r) for r in truth_findings}
    return Score(found & truth, found - truth, truth - found)
