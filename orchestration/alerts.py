"""Optional webhook: after a run, post a short JSON summary of the failing operator checks.

The URL comes from the `RECON_ALERT_WEBHOOK_URL` env var (Slack-style incoming webhooks carry a
secret in the path, so only scheme and host are ever logged). Posting is best effort: a timeout,
one retry, and a failure is a logged warning, never a failed run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import date
from urllib.parse import urlsplit

import httpx

from orchestration.assets.operator_checks import CheckOutcome

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


def _post(
    payload: dict,
    url: str,
    where: str,
    timeout: float,
    retry_delay: float,
    log: logging.Logger,
    transport: httpx.BaseTransport | None,
) -> bool:
    last = ""
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        for attempt in (1, 2):
            try:
                resp = client.post(url, json=payload)
                if resp.status_code < 300:
                    log.info(f"alert webhook delivered to {where} ({resp.status_code})")
                    return True
                last = f"HTTP {resp.status_code}"
                if resp.status_code != 429 and resp.status_code < 500:
                    break  # the receiver rejected it: retrying will not help
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if attempt == 1:
                time.sleep(retry_delay)
    log.warning(f"alert webhook to {where} failed: {last}; the run is not affected")
    return False


def notify(
    outcomes: Sequence[CheckOutcome],
    first_day: date,
    last_day: date,
    *,
    only_failures: bool = True,
    logger: logging.Logger | None = None,
    **payload_fields: object,
) -> bool:
    """Post the summary when the env var is set and (by default) something fails. Never raises."""
    url = os.environ.get(WEBHOOK_ENV, "")
    if not url or (only_failures and all(o.passed for o in outcomes)):
        return False
    try:
        return post_payload(
            build_payload(outcomes, first_day, last_day, **payload_fields), url, logger=logger
        )
    except Exception as exc:  # noqa: BLE001 - an alert must never break the run
        (logger or _log).warning(f"alert webhook to {redact_url(url)} failed: {type(exc).__name__}")
        return False
