"""The one HTTP client an extraction uses (httpx), the gateway's pace, and our retry policy on top.

One `httpx.AsyncClient` per extraction: explicit `Timeout` and `Limits`, keep-alive, no redirects
followed, certificates verified against the system trust store or the gateway's `ca_bundle`,
`trust_env` (HTTP(S)_PROXY, NO_PROXY, SSL_CERT_FILE) and an explicit `proxy`. httpx only retries
connection errors; 429/5xx, timeouts, dropped connections and truncated JSON are retried here by
tenacity (chosen over stamina because its wait strategy can read the failed attempt, which is where
`Retry-After` comes from, and it stops on a time budget *before* sleeping past it): exponential
backoff with full jitter, `Retry-After` (or TokenLab's `error.retry_after`) honoured, and a 429
without one (new-api's limiter: empty body, no header) waits `rate_limit_wait_seconds` plus jitter,
long enough for the gateway's window to refill, with every concurrent request of the extraction
paused too. The budget is time (`retry_budget_seconds`); `max_attempts` only caps it. Then one
`ExtractionError` line names gateway, endpoint, window, page and attempts. 401/403, TLS verification
failures, malformed HTTP framing and bodies over the byte budget are never retried.

Pacing: `requests_per_minute` is an `aiolimiter.AsyncLimiter` (a small, kept asyncio leaky bucket)
of capacity 1 shared by every request of the extraction, so requests are evenly spaced and no
interval of T seconds ever holds more than 1 + T·rpm/60 of them, whatever the concurrency.

Bounded by construction: bodies are streamed (`client.stream`) and decoded here, chunk by chunk,
with `zlib`'s `max_length`, so a gzip bomb never inflates past the per-page budget, and an endless
body stops at it too. The per-page budget is `min(max_page_bytes, max_inflight_bytes //
max_concurrency)`: concurrency cannot multiply it past the overall budget. A response must also end
within `4 × timeout_seconds` (a body trickling a byte at a time never trips a read timeout).

httpx logs each request (`HTTP Request: GET <url> "HTTP/1.1 200 OK"`); a filter on the httpx and
httpcore loggers blanks secret query values (the `/api/log/token` endpoint sends the API key as
`key=`), so no log line ever carries one.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import ssl
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import httpx
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)

from orchestration.errors import ExtractionError, GatewayAuthError
from orchestration.gateways.base import Log
from orchestration.gateways.interrupts import run_interruptibly
from orchestration.gateways.messages import redact, where

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
MiB = 1024 * 1024


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
    rate_limited: int = 0  # 429s answered without Retry-After (the gateway's limiter)
    waited_seconds: float = 0.0  # wall time the extraction paused for a limiter window to refill
    bytes: int = 0  # decoded body bytes
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class HttpSettings:
    """How one extraction talks to one gateway (from `GatewayConfig`; see docs/extraction.md)."""

    max_concurrency: int = 8
    timeout_seconds: float = 30.0
    max_attempts: int = 100
    retry_budget_seconds: float = 900.0
    requests_per_minute: float | None = None
    rate_limit_wait_seconds: float = 60.0
    max_page_bytes: int = 32 * MiB
    max_inflight_bytes: int = 256 * MiB
    proxy: str | None = None
    ca_bundle: str | None = None
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_after_cap: float = 300.0

    @classmethod
    def from_config(cls, cfg: Any, backoff_base: float = 0.5) -> HttpSettings:
        return cls(
            max_concurrency=cfg.max_concurrency,
            timeout_seconds=cfg.timeout_seconds,
            max_attempts=cfg.max_attempts,
            retry_budget_seconds=cfg.retry_budget_seconds,
            requests_per_minute=cfg.requests_per_minute,
            rate_limit_wait_seconds=cfg.rate_limit_wait_seconds,
            max_page_bytes=cfg.max_page_bytes,
            max_inflight_bytes=cfg.max_inflight_bytes,
            proxy=cfg.proxy,
            ca_bundle=str(cfg.ca_bundle) if cfg.ca_bundle else None,
            backoff_base=backoff_base,
        )

    @property
    def page_cap(self) -> int:
        """Decoded bytes one response may hold: concurrency never multiplies it past the overall budget."""
        return max(64 * 1024, min(self.max_page_bytes, self.max_inflight_bytes // self.max_concurrency))


@dataclass
class Response:
    status: int
    body: Any
    headers: Mapping[str, str]


class _Transient(Exception):
    """A failure worth retrying: `what` is the one-line reason, `retry_after` the server's hint."""

    def __init__(self, what: str, retry_after: float | None = None, limiter: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after
        self.limiter = limiter  # a 429 without any hint: wait for the gateway's window to refill


def _retry_after(headers: Mapping[str, str] | None, body: Any) -> float | None:
    """Seconds from a `Retry-After` header (delta or HTTP date) or a TokenLab `error.retry_after`."""
    if headers is not None:
        raw = headers.get("retry-after")
        if raw:
            try:
                return max(0.0, float(raw))
            except ValueError:
                try:
                    dt = email.utils.parsedate_to_datetime(raw)
                except (TypeError, ValueError):
                    dt = None
                if dt is not None:
                    return max(0.0, dt.timestamp() - time.time())
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        ra = body["error"].get("retry_after")
        if isinstance(ra, (int, float)) and not isinstance(ra, bool) and 0 <= ra < 1e6:
            return float(ra)
    return None


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verification against `ca_bundle` when given, else the system trust store (OpenSSL's default
    paths, which honour SSL_CERT_FILE / SSL_CERT_DIR)."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()


def _tls_problem(exc: BaseException) -> str | None:
    """The certificate problem behind a connect error (`self-signed certificate`, ...), if any."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return e.verify_message or e.reason or "certificate verify failed"
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake failed: {e.reason or type(e).__name__}"
        e = e.__cause__ or e.__context__
    return None


_TRANSIENT_PROTOCOL = ("peer closed", "disconnected", "incomplete", "connection reset", "eof")


def _is_cut(exc: httpx.RemoteProtocolError) -> bool:
    """A connection dropped or cut mid-body (transient) rather than a malformed status line, header
    or chunk (the same bytes again next time: not retried)."""
    msg = str(exc).lower()
    return any(w in msg for w in _TRANSIENT_PROTOCOL)


class _Body:
    """Decodes a streamed body (identity, gzip, deflate) under a decoded-byte cap."""

    def __init__(self, encoding: str, cap: int) -> None:
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self._z = None
        elif enc in ("gzip", "x-gzip", "deflate"):
            self._z = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        else:
            raise ValueError(enc)
        self.cap = cap
        self.parts: list[bytes] = []  # joined once at the end: a growing buffer would be copied as it grows
        self.size = 0
        self.raw = 0

    def feed(self, chunk: bytes) -> bool:
        """Add a raw chunk; False once the decoded body would pass the cap."""
        self.raw += len(chunk)
        if self._z is None:
            self.parts.append(chunk)
            self.size += len(chunk)
            return self.size <= self.cap
        data = chunk
        while data:
            room = min(self.cap - self.size + 1, 1 << 20)  # a MiB at a time
            out = self._z.decompress(data, room)
            self.parts.append(out)
            self.size += len(out)
            if self.size > self.cap:
                return False
            if self._z.eof:  # a gzip stream may hold several members: the next starts in unused_data
                data = self._z.unused_data
                if data:
                    self._z = zlib.decompressobj(wbits=47)
                continue
            data = self._z.unconsumed_tail
        return True

    def finish(self) -> bytes:
        if self._z is not None:
            self.parts.append(self._z.flush())
        out = b"".join(self.parts)
        self.parts.clear()
        return out


class HttpFetcher:
    """GET JSON, paced, bounded and retried. Use inside one `asyncio.run`."""

    def __init__(
        self,
        *,
        gateway: str,
        base_url: str,
        headers: Mapping[str, str],
        auth_hint: str,
        log: Log,
        settings: HttpSettings,
        stats: Stats | None = None,
    ) -> None:
        self.gateway = gateway
        self.base_url = base_url.rstrip("/")
        self.headers = {**headers, "Accept-Encoding": "gzip, deflate"}
        self.s = settings
        self.max_attempts = settings.max_attempts
        self.auth_hint = auth_hint
        self.log = log
        self.stats = stats or Stats()
        self.page_cap = settings.page_cap
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._limiter: AsyncLimiter | None = None
        self._paused_until = 0.0  # a 429 without a hint pauses every request of this extraction

    async def __aenter__(self) -> Self:
        s = self.s
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.headers,
            timeout=httpx.Timeout(s.timeout_seconds, connect=min(10.0, s.timeout_seconds)),
            limits=httpx.Limits(
                max_connections=s.max_concurrency,
                max_keepalive_connections=s.max_concurrency,
                keepalive_expiry=30.0,
            ),
            follow_redirects=False,
            verify=ssl_context(s.ca_bundle),
            trust_env=True,
            proxy=s.proxy or None,
        )
        self._sem = asyncio.Semaphore(s.max_concurrency)
        if s.requests_per_minute:
            self._limiter = AsyncLimiter(1, 60.0 / s.requests_per_minute)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- waiting ----------------------------------------------------------------------------------
    def _wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        attempt = rs.attempt_number
        jitter = random.uniform(0, min(self.s.backoff_cap, self.s.backoff_base * (2 ** (attempt - 1))))
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(self.s.retry_after_cap, exc.retry_after) + jitter * 0.1
        if isinstance(exc, _Transient) and exc.limiter and self.s.rate_limit_wait_seconds > 0:
            wait = self.s.rate_limit_wait_seconds
            delay = wait + random.uniform(0, wait * 0.1)
            now = time.monotonic()
            until = now + delay
            # wall time the extraction is paused (concurrent 429s overlap: counted once)
            self.stats.waited_seconds += max(0.0, until - max(self._paused_until, now))
            self._paused_until = max(self._paused_until, until)
            return delay
        return jitter

    async def _gate(self) -> None:
        """Hold a request while the extraction is paused for the gateway's limiter window."""
        while (left := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(left)

    # -- one request ------------------------------------------------------------------------------
    async def get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        endpoint: str,
        window: str,
        page: int | None,
        ok_statuses: frozenset[int] = frozenset({200}),
    ) -> Response:
        """GET `path` and parse JSON. Statuses in `ok_statuses` return; auth raises; others retry/fail."""
        assert self._client is not None and self._sem is not None, "use `async with HttpFetcher(...)`"
        loc = where(self.gateway, endpoint, window, page)
        started = time.monotonic()

        def before_sleep(rs: RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome else None
            what = exc.what if isinstance(exc, _Transient) else str(exc)
            delay = rs.upcoming_sleep
            self.stats.retries += 1
            if isinstance(exc, _Transient) and exc.limiter and self.s.rate_limit_wait_seconds > 0:
                self.stats.rate_limited += 1
                self.log(
                    f"{self.gateway}: rate limited at {loc} ({what}); waiting {delay:.1f}s for the "
                    f"gateway's limiter window to refill (rate_limit_wait_seconds="
                    f"{self.s.rate_limit_wait_seconds:g}), retry {rs.attempt_number}"
                )
                return
            self.log(
                f"{self.gateway}: retry {rs.attempt_number}/{self.max_attempts - 1} {loc} after {what}; "
                f"waiting {delay:.2f}s"
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.s.retry_budget_seconds),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    return await self._once(path, params, loc, ok_statuses)
        except _Transient as exc:
            elapsed = time.monotonic() - started
            budget = (
                ""
                if attempts >= self.max_attempts
                else (f" (retry_budget_seconds={self.s.retry_budget_seconds:g} spent: {elapsed:.0f}s)")
            )
            raise ExtractionError(
                f"{loc}: gave up after {attempts} attempts{budget}; last error: {exc.what}"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, path: str, params: Mapping[str, Any], loc: str, ok: frozenset[int]) -> Response:
        assert self._client is not None and self._sem is not None
        async with self._sem:
            await self._gate()
            if self._limiter is not None:
                await self._limiter.acquire()
            self.stats.requests += 1
            status, headers, content = await self._fetch(path, params, loc)
        self.stats.bytes += len(content)
        if status in (401, 403):
            raise GatewayAuthError(f"{loc}: HTTP {status} from the gateway (not retried); {self.auth_hint}")
        try:
            body = _loads(content) if content else None
        except _DecodeError as exc:
            if status in ok and "infinity" in str(exc):  # the same bytes next time: not transient
                raise ExtractionError(
                    f"{loc}: field {_field_at(content, exc)} holds a number out of range; not retried"
                ) from None
            if status in ok:
                raise _Transient(
                    f"HTTP {status} with truncated or invalid JSON ({len(content)} bytes)"
                ) from None
            body = None
        if status in ok:
            return Response(status, body, headers)
        if status in RETRY_STATUS or 500 <= status < 600:
            ra = _retry_after(headers, body)
            if status == 429 and ra is None:
                raise _Transient("HTTP 429 without Retry-After", limiter=True)
            raise _Transient(f"HTTP {status}", ra)
        if 300 <= status < 400:
            raise ExtractionError(
                f"{loc}: HTTP {status} redirect (not followed, not retried); check base_url"
            )
        raise ExtractionError(f"{loc}: HTTP {status} (not retried): {_error_text(body)}")

    async def _fetch(
        self, path: str, params: Mapping[str, Any], loc: str
    ) -> tuple[int, httpx.Headers, bytes]:
        """(status, headers, decoded body) of one GET; transport failures become `_Transient` or a
        not-retried `ExtractionError` (TLS, malformed framing, over budget)."""
        assert self._client is not None
        cap = self.page_cap
        try:
            async with asyncio.timeout(self.s.timeout_seconds * 4):
                async with self._client.stream("GET", path, params=params) as resp:
                    try:
                        body = _Body(resp.headers.get("content-encoding", ""), cap)
                    except ValueError:
                        raise ExtractionError(
                            f"{loc}: unsupported Content-Encoding "
                            f"{resp.headers.get('content-encoding')!r} (not retried)"
                        ) from None
                    async for chunk in resp.aiter_raw():
                        if not body.feed(chunk):
                            raise ExtractionError(
                                f"{loc}: response body passed {cap} decoded bytes after {body.raw} bytes on the "
                                "wire (max_page_bytes / max_inflight_bytes; a gzip bomb or an endless body?); "
                                "not retried"
                            )
                    return resp.status_code, resp.headers, body.finish()
        except TimeoutError:
            raise _Transient("timeout (response_deadline)") from None
        except zlib.error:
            raise _Transient("connection error (BadCompressedBody)") from None
        except httpx.TimeoutException as exc:
            raise _Transient(f"timeout ({type(exc).__name__})") from None
        except httpx.ConnectError as exc:
            problem = _tls_problem(exc)
            if problem:
                raise ExtractionError(
                    f"{loc}: TLS certificate verification failed ({problem}); not retried; for a private CA "
                    "set ca_bundle to its PEM file"
                ) from None
            raise _Transient(f"connection error ({type(exc).__name__})") from None
        except httpx.RemoteProtocolError as exc:
            if _is_cut(exc):
                raise _Transient(f"connection error ({type(exc).__name__})") from None
            raise ExtractionError(f"{loc}: malformed HTTP response ({_one_line(exc)}); not retried") from None
        except httpx.TransportError as exc:  # read/write/proxy errors: never the URL
            raise _Transient(f"connection error ({type(exc).__name__})") from None


def _field_at(content: bytes, exc: Exception) -> str:
    """The JSON key just before a decode error's position (`quota`), or `?`."""
    pos = getattr(exc, "pos", None)
    if not isinstance(pos, int):
        return "?"
    m = re.search(rb'"([A-Za-z0-9_]{1,40})"\s*:\s*$', content[max(0, pos - 80) : pos])
    return m.group(1).decode() if m else "?"


def _one_line(exc: BaseException) -> str:
    return redact(str(exc))[:160].replace("\n", " ").replace("\r", " ") or type(exc).__name__


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
