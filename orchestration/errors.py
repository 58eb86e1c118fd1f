"""Every exception recon raises on purpose, in one module that imports nothing heavy.

One home keeps the arrows flat: app sources, gateway clients, assets and the CLI all raise or catch
these without importing each other (an app source needs `ExtractionError`, not the gateways). Each
message is one line naming the source, partition, field or row at fault, and never a secret.
"""

from __future__ import annotations

from orchestration.scrub import scrub


class ConfigError(ValueError):
    """A config problem, phrased as one line that names the file and the key."""


class ExtractionError(RuntimeError):
    """Extraction could not produce a complete, trustworthy partition. Nothing may land.

    The message is scrubbed of every secret recon loaded (`orchestration.scrub`): it may quote a
    gateway's answer, and a gateway may echo the token it was sent."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(scrub(a) if isinstance(a, str) else a for a in args))


class GatewayAuthError(ExtractionError):
    """401/403 or success:false for auth: not retried; the message names the env var to check."""


class ConflictingDuplicateError(ExtractionError):
    """The same dedup key arrived with different content; names both rows' public ids."""


class InvalidRecordError(ExtractionError):
    """A record the gateway sent (or a console export holds) cannot be read: a field missing or
    unreadable, `other` not JSON. Fetching it again gives the same record, so it is not retried."""


class RowError(ValueError):
    """A row a normalizer cannot read; the caller adds gateway and window to the message."""

    def __init__(self, field: str, row_id: str, why: str) -> None:
        super().__init__(f"field={field} row={row_id}: {why}")
        self.field, self.row_id, self.why = field, row_id, why


__all__ = [
    "ConfigError",
    "ConflictingDuplicateError",
    "ExtractionError",
    "GatewayAuthError",
    "InvalidRecordError",
    "RowError",
]
