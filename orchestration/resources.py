"""Dagster resources: the recon config (read at run time, never at import) and the run's clock."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from orchestration.config import ReconConfig, check_env, load_config
from orchestration.scrub import install_log_scrubber, register_config


def parse_as_of(text: str | None) -> datetime:
    """`--as-of` / resource value -> aware UTC datetime; empty means now."""
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    value = datetime.fromisoformat(text)  # 3.11 reads a trailing Z
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class ReconResource(dg.ConfigurableResource):
    """Where the YAML config lives and which instant counts as "now" for this run.

    `as_of` empty = the wall clock at run time (scheduled runs); `recon run --as-of` fixes it so a
    report can be reproduced.
    """

    config_path: str
    as_of: str = ""

    def load(self) -> ReconConfig:
        cfg = load_config(self.config_path)
        check_env(cfg)
        # every secret value is known from here on: no message, exception or log line carries it
        register_config(cfg)
        install_log_scrubber()
        return cfg

    def now(self) -> datetime:
        return parse_as_of(self.as_of)
