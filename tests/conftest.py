"""Fixtures several test files share; the code behind them lives in tests/support/.

pytest puts tests/ on sys.path (test files are not a package), so `support` imports as a package
from any test file and from here."""

from __future__ import annotations

import pytest
from support.sandbox_gateways import SANDBOX_ENV


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox gateway's credentials in the env vars `support.sandbox_gateways` configs name."""
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(SANDBOX_ENV)
