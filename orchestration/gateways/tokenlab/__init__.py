"""The TokenLab dialect: its client; no other dialect imports it (the record shapes it shares with
console exports live in `gateways.normalize_tokenlab`)."""

from orchestration.gateways.tokenlab.client import TokenLabClient

__all__ = ["TokenLabClient"]
