"""Optional webhook: after a run, post a short JSON summary of the failing operator checks.

The URL comes from the `RECON_ALERT_WEBHOOK_URL` env var, through the :class:`AlertWebhook` resource
(`dg.EnvVar`, so the UI and the run config show the variable's name, never its value; Slack-style
incoming webhooks carry a secret in the path, so only scheme and host are ever logged). Posting is
best effort: a timeout, one retry (:func:`post_payload`, the one retry helper) on a connection
error, 429 or 5xx, and a failure is a logged warning, never a failed run. The operator checks step
(`orchestration.assets.mart_checks`) is the one place that posts, once per run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import date
from urllib.parse import urlsplit

import dagster as dg
import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_fixed,
)

from orchestration.check_outcome import CheckOutcome

WEBHOOK_ENV = "RECON_ALERT_WEBHOOK_URL"
TIMEOUT_SECONDS = 5.0
RETRY_DELAY_SECONDS = 1.0

_log = logging.getLogger(__name__)


class _HideUrl(logging.Filter):
    """Drop httpx's own "HTTP Request: POST <url>" lines for the webhook: the URL is a secret."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.secret = urlsplit(url).path or url

    def filter(self, record: logging.LogRecord) -> bool:
        return self.secret not in record.getMessage()


def redact_url(url: str) -> str:
    """scheme://host[:port]/… — enough to know where it went, not the token in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


def build_payload(
    outcomes: Sequence[CheckOutcome],
    first_day: date,
    last_day: date,
    *,
    run_id: str = "",
    money_at_risk_usd: float | None = None,
    findings: int | None = None,
    report_path: str | None = None,
    max_lines: int = 5,
) -> dict:
    """The JSON body: which checks fail, how bad, who owns each, a few example lines."""
    failing = [o for o in outcomes if not o.passed]
    return {
        "source": "recon",
        "text": (
            f"recon {first_day.isoformat()}..{last_day.isoformat()}: {len(failing)} check(s) failing"
            + (f": {', '.join(o.name for o in failing)}" if failing else "")
        ),
        "run_id": run_id,
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "findings": findings,
        "money_at_risk_usd": None if money_at_risk_usd is None else round(float(money_at_risk_usd), 6),
        "report_path": report_path,
        "failing_checks": [
            {
                "check": o.name,
                "severity": o.severity.lower(),
                "summary": o.summary,
                "owner": o.owner,
                "examples": o.failures[:max_lines],
                "more": max(0, len(o.failures) - max_lines),
            }
            for o in failing
        ],
    }


def post_payload(
    payload: dict,
    url: str | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
    retry_delay: float = RETRY_DELAY_SECONDS,
    logger: logging.Logger | None = None,
    transport: httpx.BaseTransport | None = None,
) -> bool:
    """POST once, retry once on a connection error, timeout, 429 or 5xx. True when delivered."""
    log = logger or _log
    url = url if url is not None else os.environ.get(WEBHOOK_ENV, "")
    if not url:
        return False
    where = redact_url(url)
    hide = _HideUrl(url)
    httpx_log = logging.getLogger("httpx")
    httpx_log.addFilter(hide)
    try:
        return _post(payload, url, where, timeout, retry_delay, log, transport)
    finally:
        httpx_log.removeFilter(hide)


def _retryable(resp: httpx.Response) -> bool:
    """429 and 5xx may heal; any other refusal will not (the receiver rejected the body)."""
    return resp.status_code == 429 or resp.status_code >= 500


def _why(state: RetryCallState) -> str:
    if state.outcome is None:
        return "no attempt"
    exc = state.outcome.exception()
    return type(exc).__name__ if exc is not None else f"HTTP {state.outcome.result().status_code}"


def _post(
    payload: dict,
    url: str,
    where: str,
    timeout: float,
    retry_delay: float,
    log: logging.Logger,
    transport: httpx.BaseTransport | None,
) -> bool:
    retrying = Retrying(
        stop=stop_after_attempt(2),
        wait=wait_fixed(retry_delay),
        retry=retry_if_exception_type(httpx.HTTPError) | retry_if_result(_retryable),
        retry_error_callback=_why,  # out of attempts: the reason, not an exception
        reraise=False,
    )
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        result = retrying(client.post, url, json=payload)
    if isinstance(result, httpx.Response) and result.status_code < 300:
        log.info(f"alert webhook delivered to {where} ({result.status_code})")
        return True
    last = result if isinstance(result, str) else f"HTTP {result.status_code}"
    log.warning(f"alert webhook to {where} failed: {last}; the run is not affected")
    return False


def notify(
    outcomes: Sequence[CheckOutcome],
    first_day: date,
    last_day: date,
    *,
    only_failures: bool = True,
    logger: logging.Logger | None = None,
    url: str | None = None,
    **payload_fields: object,
) -> bool:
    """Post the summary when a URL is set (default: the env var) and, by default, something fails.
    Never raises."""
    url = url if url is not None else os.environ.get(WEBHOOK_ENV, "")
    if not url or (only_failures and all(o.passed for o in outcomes)):
        return False
    try:
        return post_payload(
            build_payload(outcomes, first_day, last_day, **payload_fields), url, logger=logger
        )
    except Exception as exc:  # noqa: BLE001 - an alert must never break the run
        (logger or _log).warning(f"alert webhook to {redact_url(url)} failed: {type(exc).__name__}")
        return False


class AlertWebhook(dg.ConfigurableResource):
    """Where the failing checks go. `url` empty: no webhook. Built by :func:`alert_webhook` from
    `dg.EnvVar(RECON_ALERT_WEBHOOK_URL)`, so Dagster resolves it at run time and shows only its name."""

    url: str = ""

    def notify(
        self,
        outcomes: Sequence[CheckOutcome],
        first_day: date,
        last_day: date,
        *,
        logger: logging.Logger | None = None,
        **payload_fields: object,
    ) -> bool:
        return notify(outcomes, first_day, last_day, logger=logger, url=self.url, **payload_fields)


def alert_webhook() -> AlertWebhook:
    """The resource of a code location: the env var when it is set (an unset `dg.EnvVar` is an error
    at run time, and the webhook is optional), else no webhook."""
    return AlertWebhook(url=dg.EnvVar(WEBHOOK_ENV)) if os.environ.get(WEBHOOK_ENV) else AlertWebhook()
