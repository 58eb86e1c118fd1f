"""The one HTTP client an extraction uses, and our retry policy on top of it.

The transport (`http11.Http11Pool`: keep-alive HTTP/1.1 on asyncio streams, ≈ 0.2 ms of Python a
request where httpx took ≈ 1.3 ms) only retries a request once on a fresh connection when a reused
idle one was closed by the server before answering; 429/5xx, timeouts, dropped connections and
truncated JSON are retried here: exponential backoff with full jitter, `Retry-After` honoured, a
bounded number of attempts, then one `ExtractionError` line naming gateway, endpoint, window, page and
attempts. 401/403 are never retried. One connection pool per extraction, explicit timeouts, and a
semaphore so at most `max_concurrency` requests are in flight.

Each request is logged at DEBUG (httpx's `HTTP Request: GET <url> "HTTP/1.1 200 OK"` line) with
secret query values redacted (the `/api/log/token` endpoint sends the API key as `key=`); a filter on
the httpx/httpcore loggers does the same for any other httpx use, so no log line ever carries one.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from orchestration.gateways.base import ExtractionError, GatewayAuthError, Log
from orchestration.gateways.errors import redact, where
from orchestration.gateways.http11 import Http11Pool, TimeoutException, TransportError, log_request
from orchestration.gateways.interrupts import run_interruptibly
from orchestration.gateways.pages import BadJson

try:  # orjson is much faster on big pages; json is the fallback
    import orjson

    _loads = orjson.loads
    _DecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover
    import json

    _loads = json.loads
    _DecodeError = (ValueError,)

T = TypeVar("T")
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class _RedactFilter(logging.Filter):
    """Rewrites httpx/httpcore log records with secret query values blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - never break logging
            return True
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, ()
        return True


def install_log_redaction() -> None:
    """Idempotently attach the redacting filter to the loggers that print request URLs."""
    for name in ("httpx", "httpcore", "orchestration.gateways.http"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in lg.filters):
            lg.addFilter(_RedactFilter())


install_log_redaction()


@dataclass
class Stats:
    """Counters for progress lines and the benchmark."""

    requests: int = 0
    retries: int = 0
    # sent again at once on a fresh connection, not counted against the retry budget: a reused
    # keep-alive connection closed before answering a byte (an idle timeout, or a dropped connection)
    resends: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass
class Response:
    status: int
    body: Any
    headers: Mapping[str, str]


def _retry_after(headers: Mapping[str, str] | None, body: Any) -> float | None:
    """Seconds from a `Retry-After` header (delta or HTTP date) or a TokenLab `error.retry_after`."""
    if headers is not None:
        raw = headers.get("retry-after")
        if raw:
            try:
                return max(0.0, float(raw))
            except ValueError:
                dt = email.utils.parsedate_to_datetime(raw) if raw else None
                if dt is not None:
                    return max(0.0, dt.timestamp() - time.time())
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        ra = body["error"].get("retry_after")
        if isinstance(ra, (int, float)):
            return max(0.0, float(ra))
    return None


class HttpFetcher:
    """GET JSON with bounded concurrency and retries. Use inside one `asyncio.run`."""

    def __init__(
        self,
        *,
        gateway: str,
        base_url: str,
        headers: Mapping[str, str],
        max_concurrency: int,
        timeout_seconds: float,
        max_attempts: int,
        auth_hint: str,
        log: Log,
        stats: Stats | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 120.0,
    ) -> None:
        self.gateway = gateway
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.max_concurrency = max_concurrency
        self.timeout_seconds = timeout_seconds
        self.connect_timeout = min(10.0, timeout_seconds)
        self.max_attempts = max_attempts
        self.auth_hint = auth_hint
        self.log = log
        self.stats = stats or Stats()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._client: Http11Pool | None = None
        self._sem: asyncio.Semaphore | None = None

    async def __aenter__(self) -> Self:
        self._client = Http11Pool(
            self.base_url, self.headers, connect_timeout=self.connect_timeout, read_timeout=self.timeout_seconds,
            max_idle=self.max_concurrency, keepalive_expiry=30, on_resend=self._resent,
        )
        self._sem = asyncio.Semaphore(self.max_concurrency)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _resent(self) -> None:
        self.stats.resends += 1

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        jitter = random.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1))))
        if retry_after is not None:
            return min(self.retry_after_cap, retry_after) + jitter * 0.1
        return jitter

    async def get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        endpoint: str,
        window: str,
        page: int | None,
        ok_statuses: frozenset[int] = frozenset({200}),
        decode: Callable[[bytes], Awaitable[Any]] | None = None,
    ) -> Response:
        """GET `path` and parse JSON. Statuses in `ok_statuses` return; auth raises; others retry/fail.

        `decode`, when given, turns the raw body of an ok answer into `Response.body` instead of the
        JSON decode here (the pager's page worker); its `BadJson` is retried like invalid JSON."""
        assert self._client is not None and self._sem is not None, "use `async with HttpFetcher(...)`"
        loc = where(self.gateway, endpoint, window, page)
        last = "no attempt"
        target = self._client.target(path, params)
        for attempt in range(1, self.max_attempts + 1):
            body: Any = None
            try:
                async with self._sem:
                    self.stats.requests += 1
                    resp = await self._client.get(target)
                    content = resp.content
                log_request(self._client, target, resp)
                # let the request that just got this slot go out before this one's JSON decode and the
                # caller's normalization run on the loop: they then overlap its round trip instead of
                # delaying it
                await asyncio.sleep(0)
                self.stats.bytes += len(content)
                status = resp.status
                if status in (401, 403):
                    raise GatewayAuthError(
                        f"{loc}: HTTP {status} from the gateway (not retried); {self.auth_hint}"
                    )
                if decode is not None and status in ok_statuses:
                    try:
                        return Response(status, await decode(content), resp.headers)
                    except BadJson:
                        last = f"HTTP {status} with truncated or invalid JSON ({len(content)} bytes)"
                        raise _Retryable(None) from None
                try:
                    body = _loads(content) if content else None
                except _DecodeError:
                    if status in ok_statuses:
                        last = f"HTTP {status} with truncated or invalid JSON ({len(content)} bytes)"
                        raise _Retryable(None) from None
                    body = None
                if status in ok_statuses:
                    return Response(status, body, resp.headers)
                if status in RETRY_STATUS or 500 <= status < 600:
                    last = f"HTTP {status}"
                    raise _Retryable(_retry_after(resp.headers, body))
                raise ExtractionError(f"{loc}: HTTP {status} (not retried): {_error_text(body)}")
            except _Retryable as r:
                delay_hint = r.retry_after
            except TimeoutException as exc:
                last, delay_hint = f"timeout ({type(exc).__name__})", None
            except TransportError as exc:  # connect, protocol, decoding: never the URL
                last, delay_hint = f"connection error ({type(exc).__name__})", None
            if attempt == self.max_attempts:
                break
            self.stats.retries += 1
            delay = self._backoff(attempt, delay_hint)
            self.log(f"{self.gateway}: retry {attempt}/{self.max_attempts - 1} {loc} after {last}; "
                     f"waiting {delay:.2f}s")
            await asyncio.sleep(delay)
        raise ExtractionError(f"{loc}: gave up after {self.max_attempts} attempts; last error: {last}")


class _Retryable(Exception):
    def __init__(self, retry_after: float | None) -> None:
        self.retry_after = retry_after


def _error_text(body: Any) -> str:
    """A short, redacted message from a gateway error body (new-api `message`, TokenLab `error`)."""
    msg: Any = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            msg = err.get("message") or err.get("code") or err.get("type")
        msg = msg or body.get("message") or err
    text = str(msg) if msg else "no error message"
    return redact(text)[:200].replace("\n", " ")


async def gather_all(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Like `asyncio.gather`, but the first failure cancels the siblings (no orphan requests, no
    misleading retry lines after a fatal error) and is re-raised as itself."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        return [t.result() for t in tasks]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from sync code, also when the caller already sits inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_interruptibly(factory)  # SIGTERM/SIGINT stop it at once
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["v"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["e"] = exc

    t = threading.Thread(target=target, name="recon-extract")
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]
