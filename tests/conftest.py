"""Session set-up shared by every test file.

`make test` runs the files on two pytest-xdist workers. Both would find a fresh clone's dbt manifest
missing and run `dbt parse` into the same `dbt_project/target/` at once, so the controller parses once
before the workers start (a no-op when the manifest is newer than every model file)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done it
        return
    from orchestration.assets.dbt import ensure_manifest

    ensure_manifest()
