"""Dagster resources: the recon config (parsed once per run, never at import), the run's clock and
window, and the gateway clients (a resource, so a test swaps in fakes with `resources=`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from orchestration.config import ReconConfig, check_env, load_config
from orchestration.run_window import RunWindow
from orchestration.scrub import install_log_scrubber, register_config

if TYPE_CHECKING:
    from orchestration.gateways.base import GatewayClient


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

    `as_of` empty = the wall clock when the run's resources are set up (scheduled runs); `recon run
    --as-of` fixes it so a report can be reproduced. The YAML is read, validated and its secrets
    registered with the scrubber once, in `setup_for_execution`; every asset reads `config`.
    """

    config_path: str
    as_of: str = ""
    _cfg: ReconConfig | None = PrivateAttr(default=None)
    _now: datetime | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._cfg = self._parse()
        self._now = parse_as_of(self.as_of)

    def _parse(self) -> ReconConfig:
        cfg = load_config(self.config_path)
        check_env(cfg)
        # every secret value is known from here on: no message, exception or log line carries it
        register_config(cfg)
        install_log_scrubber()
        return cfg

    @property
    def config(self) -> ReconConfig:
        """The parsed config (parsed here when the resource is used outside a run)."""
        if self._cfg is None:
            self._cfg = self._parse()
        return self._cfg

    def now(self) -> datetime:
        if self._now is None:
            self._now = parse_as_of(self.as_of)
        return self._now

    def window(self, context: dg.AssetExecutionContext) -> RunWindow:
        """The run's window: its partition range, this run's clock and the config's lookback."""
        return RunWindow.from_partitions(
            context.partition_time_window, self.now(), self.config.reconciliation.lookback_days
        )


class GatewaysResource(dg.ConfigurableResource):
    """Builds one client per configured gateway. A test subclasses it (overriding `clients`) and
    passes it as `resources={"gateways": ...}` to read from fakes instead of HTTP."""

    @contextmanager
    def clients(self, cfg: ReconConfig, log: Callable[[str], None]) -> Iterator[list[GatewayClient]]:
        """One client per configured gateway, all closed when the step ends, however it ends."""
        from orchestration.gateways import client_for

        with ExitStack() as stack:
            yield [stack.enter_context(client_for(g, log=log)) for g in cfg.gateways]
