"""Step-level retry for assets that talk to the outside, and the errors that must not be retried."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from orchestration.errors import ConfigError, ConflictingDuplicateError, GatewayAuthError, InvalidRecordError

# Transient failures (a gateway down for a minute) get the whole step again, after the client's own
# per-request retries ran out. Auth and config errors, conflicting duplicates and unreadable records
# cannot heal by waiting (the gateway sends the same rows again): they fail at once.
HTTP_RETRY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
PERMANENT = (ConfigError, GatewayAuthError, ConflictingDuplicateError, InvalidRecordError)


@contextmanager
def no_retry_for_permanent_errors() -> Iterator[None]:
    try:
        yield
    except PERMANENT as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
