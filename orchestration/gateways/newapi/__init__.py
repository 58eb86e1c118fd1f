"""The new-api / one-api dialect: its client and its row normalizer; no other dialect imports it."""

from orchestration.gateways.newapi.client import NewApiClient

__all__ = ["NewApiClient"]
