"""Gateway configs that reach the sandbox gateway, and the env vars holding its credentials.

Several test files used to copy the same `_env` fixture (the sandbox's tokens under file-local env
names) and the same `newapi(url)` / `lab(url)` config builders; they share these instead. The
`sandbox_env` fixture (tests/conftest.py) sets every variable of `SANDBOX_ENV` for one test."""

from __future__ import annotations

from typing import Any

from orchestration.config import GatewayConfig
from orchestration.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TOKEN,
    SANDBOX_USER_ID,
    TOKENLAB_API_KEY,
    TOKENLAB_KEY_ID,
    TOKENLAB_TOKEN,
)

# env var -> the sandbox credential it holds (names no real deployment uses)
SANDBOX_ENV = {
    "SANDBOX_NEWAPI_TOKEN": SANDBOX_TOKEN,
    "SANDBOX_NEWAPI_USER": SANDBOX_USER_ID,
    "SANDBOX_NEWAPI_KEY": SANDBOX_API_KEY,
    "SANDBOX_LAB_TOKEN": TOKENLAB_TOKEN,
    "SANDBOX_LAB_API_KEY": TOKENLAB_API_KEY,
}


def newapi_gateway(url: str, **overrides: Any) -> GatewayConfig:
    """A new-api gateway `main` at `url` reading the sandbox's system token (tight test timeouts)."""
    base: dict[str, Any] = {
        "name": "main",
        "dialect": "newapi",
        "base_url": url,
        "token_env": "SANDBOX_NEWAPI_TOKEN",
        "user_id_env": "SANDBOX_NEWAPI_USER",
        "timeout_seconds": 5,
    }
    return GatewayConfig(**{**base, **overrides})


def tokenlab_gateway(url: str, **overrides: Any) -> GatewayConfig:
    """A TokenLab gateway `lab` at `url` with the sandbox's management token and task API key."""
    base: dict[str, Any] = {
        "name": "lab",
        "dialect": "tokenlab",
        "base_url": url,
        "token_env": "SANDBOX_LAB_TOKEN",
        "key_id": TOKENLAB_KEY_ID,
        "api_key_env": "SANDBOX_LAB_API_KEY",
        "timeout_seconds": 5,
    }
    return GatewayConfig(**{**base, **overrides})
