"""The raw steps' Dagster retry policy: a transient extraction failure gets the step again, an error
that cannot heal by waiting (bad credentials, a conflicting duplicate, an unreadable record, config)
fails at once. Real Dagster runs in process; the step raises the error classes the clients raise."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.assets.retry import HTTP_RETRY, no_retry_for_permanent_errors
from orchestration.config import ConfigError
from orchestration.errors import (
    ConflictingDuplicateError,
    ExtractionError,
    GatewayAuthError,
    InvalidRecordError,
)

# HTTP_RETRY's attempts, without its 5 s and 10 s waits
FAST_RETRY = dg.RetryPolicy(max_retries=HTTP_RETRY.max_retries, delay=0)


def attempts_until_failure(error: Exception) -> int:
    calls: list[int] = []

    @dg.asset(retry_policy=FAST_RETRY)
    def raw_step() -> None:
        calls.append(1)
        with no_retry_for_permanent_errors():
            raise error

    result = dg.materialize([raw_step], raise_on_error=False)
    assert not result.success
    return len(calls)


def test_a_transient_extraction_error_gets_the_step_again() -> None:
    error = ExtractionError("gateway=main endpoint=/api/log/self window=[…) page=3: gave up after 5 attempts")
    assert attempts_until_failure(error) == 1 + HTTP_RETRY.max_retries


@pytest.mark.parametrize(
    "error",
    [
        InvalidRecordError(
            "gateway=main partition=2026-11-20 endpoint=/api/log/self window=[…) page=1: "
            "invalid row: field=other row=request_id=r1: malformed JSON in `other`"
        ),
        GatewayAuthError(
            "gateway=main endpoint=/api/log/self: HTTP 401; check the environment variable BI_TOKEN"
        ),
        ConflictingDuplicateError("gateway=main: request_id r1 arrived twice with different content"),
        ConfigError("recon.yaml: gateways[0].token_env: environment variable X is not set"),
    ],
    ids=["invalid record", "auth", "conflicting duplicate", "config"],
)
def test_an_error_waiting_cannot_heal_fails_at_once(error: Exception) -> None:
    assert attempts_until_failure(error) == 1
