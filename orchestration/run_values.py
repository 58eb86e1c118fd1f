"""The values of the last dbt build (window, clock, thresholds) in a file beside the warehouse.

Why a file and not `--vars`: dbt re-parses the whole project whenever `--vars` change, and the window
and the clock change every run. recon writes `<warehouse>.run.json` before each build; the dbt macros
(dbt_project/macros/run_vars.sql) read it when a node compiles, which the parse never sees. A hand
`dbt build` in dbt_project/ reads the same file, so it rebuilds the last run's days as of the last
run's clock instead of silently using `now()`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

PER_RUN = ("start_date", "end_date", "as_of", "rewrite_from")  # never passed as --vars: they change every run


def run_values_path(warehouse: str | Path) -> Path:
    """Beside the DuckDB file (macro `run_values_path` derives the same name from RECON_WAREHOUSE_PATH)."""
    return Path(f"{warehouse}.run.json")


def write_run_values(warehouse: str | Path, values: Mapping[str, object]) -> Path:
    """Replace the file atomically (temp + fsync + rename): a build never reads half of it."""
    path = run_values_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(values), fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_run_values(warehouse: str | Path) -> dict[str, object] | None:
    """The last build's values, or None before the first one."""
    try:
        return json.loads(run_values_path(warehouse).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
