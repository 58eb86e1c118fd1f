"""Gateway extraction: one client per dialect behind `GatewayClient` (see base.py).

`client_for(cfg, log)` builds the client a `GatewayConfig` names. Secrets are read from the
environment only when a request is made, never at import or construction time.
"""

from __future__ import annotations

from orchestration.config import GatewayConfig
from orchestration.errors import (
    ConflictingDuplicateError,
    ExtractionError,
    GatewayAuthError,
    InvalidRecordError,
)
from orchestration.gateways.base import GatewayClient, Log


def client_for(cfg: GatewayConfig, log: Log | None = None) -> GatewayClient:
    """The client for `cfg.dialect` (newapi | tokenlab | files)."""
    if cfg.dialect == "newapi":
        from orchestration.gateways.newapi.client import NewApiClient

        return NewApiClient(cfg, log)
    if cfg.dialect == "tokenlab":
        from orchestration.gateways.tokenlab.client import TokenLabClient

        return TokenLabClient(cfg, log)
    if cfg.dialect == "files":
        from orchestration.gateways.files.client import FilesClient

        return FilesClient(cfg, log)
    raise ValueError(f"gateway {cfg.name}: unknown dialect {cfg.dialect!r}")


__all__ = [
    "ConflictingDuplicateError",
    "ExtractionError",
    "GatewayAuthError",
    "GatewayClient",
    "InvalidRecordError",
    "client_for",
]
