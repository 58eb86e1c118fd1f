"""A small HTTP/1.1 GET client on asyncio streams: keep-alive pool, TLS, chunked and gzip bodies.

Why not httpx here: at a few hundred pages a second httpx + httpcore cost ≈ 1.3 ms of Python per
request (URL parsing and merging, h11's state machine, anyio wrappers, pool bookkeeping), more than
decoding and normalizing the page; this client costs ≈ 0.2 ms. It does only what an extraction
needs — GET with fixed headers and a query, JSON back — and leaves retries, backoff and messages to
`http.HttpFetcher`. Supported: `http` and `https` (certificates verified, certifi's bundle when
installed, as httpx does), a path prefix in the base URL, keep-alive with an idle expiry and a
one-off fresh-connection retry when a reused idle connection turns out closed by the server,
`Content-Length`, chunked and read-to-close bodies, `gzip`/`deflate` content encodings, 1xx
interim responses. Not supported (never needed by an extraction): proxies (the httpx client ran
with `trust_env=False`), redirects (it ran with `follow_redirects=False`), HTTP/2, request bodies.

Timeouts: `connect` bounds opening a connection (TCP + TLS); `read` bounds the whole response, from
sending the request to the last body byte. Every failure is one of the exceptions below; their class
names are what `HttpFetcher` reports ("timeout (ReadTimeout)", "connection error (RemoteProtocolError)"),
and their messages never carry the URL (a query can hold an API key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from orchestration.gateways.errors import redact

log = logging.getLogger("orchestration.gateways.http")

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 512 * 1024 * 1024


class TransportError(Exception):
    """Base of every failure below the HTTP status: connect, send, receive, framing, timeouts."""


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class ConnectError(TransportError):
    pass


class ReadError(TransportError):
    """The connection failed or closed while the response was being read."""


class RemoteProtocolError(TransportError):
    """The server broke HTTP/1.1: closed before a complete response, or sent something unparseable."""


class DecodingError(TransportError):
    """A gzip/deflate body that does not decompress."""


class _Stale(Exception):
    """A reused keep-alive connection was closed by the server before answering a byte."""


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _query_value(v: Any) -> str:
    """The same text httpx sends for a primitive query value."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    return str(v)


def encode_query(params: Mapping[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for k, v in params.items():
        if isinstance(v, (list, tuple)):
            pairs += [(k, _query_value(x)) for x in v]
        else:
            pairs.append((k, _query_value(v)))
    return urlencode(pairs, quote_via=quote)


class _Conn:
    __slots__ = ("idle_since", "reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()
        self.used = False

    def usable(self, expiry: float) -> bool:
        return (not self.reader.at_eof() and not self.writer.is_closing()
                and time.monotonic() - self.idle_since < expiry)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken transport
            self.writer.close()


class RawResponse:
    __slots__ = ("content", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], content: bytes) -> None:
        self.status, self.reason, self.headers, self.content = status, reason, headers, content


class Http11Pool:
    """Keep-alive connections to one origin. Not a concurrency limit: the caller bounds how many
    requests are in flight (`HttpFetcher`'s semaphore), and the pool keeps at most that many idle."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, connect_timeout: float,
                 read_timeout: float, max_idle: int, keepalive_expiry: float = 30.0,
                 on_resend: Callable[[], None] | None = None) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"base_url must be an http(s) URL with a host, got scheme {u.scheme!r}")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        self.origin = f"{u.scheme}://{u.netloc.rpartition('@')[2]}"
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        if u.port:
            host_header += f":{u.port}"
        lines = [f"Host: {host_header}", "Accept-Encoding: gzip, deflate", "Connection: keep-alive"]
        for k, v in headers.items():
            if any(c in str(k) + str(v) for c in "\r\n\0"):
                raise ValueError(f"header {k!r} contains a line break")
            lines.append(f"{k}: {v}")
        self._head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max(1, max_idle)
        self._idle: deque[_Conn] = deque()
        self._ssl = _ssl_context() if u.scheme == "https" else None
        self._closed = False
        # called for each request sent again because a reused connection closed before answering
        self._on_resend = on_resend or (lambda: None)

    def url_for(self, target: str) -> str:
        """The full URL of a request target (for log lines, which are redacted)."""
        return self.origin + target

    def target(self, path: str, params: Mapping[str, Any]) -> str:
        t = self.prefix + (path if path.startswith("/") else "/" + path)
        if params:
            q = encode_query(params)
            if q:
                t += ("&" if "?" in t else "?") + q
        return t

    async def _connect(self) -> _Conn:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self._ssl, server_hostname=self.host if self._ssl else None,
                    limit=MAX_HEADER_BYTES,
                )
        except TimeoutError:
            raise ConnectTimeout("connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"cannot connect ({type(exc).__name__})") from None
        return _Conn(reader, writer)

    def _take_idle(self) -> _Conn | None:
        while self._idle:
            c = self._idle.pop()  # most recently used first: the likeliest to be alive
            if c.usable(self.keepalive_expiry):
                return c
            c.close()
        return None

    def _put_idle(self, c: _Conn) -> None:
        if self._closed or len(self._idle) >= self.max_idle:
            c.close()
            return
        c.idle_since = time.monotonic()
        self._idle.append(c)

    async def get(self, target: str) -> RawResponse:
        """GET `target` (path + query, already encoded); the response with its whole body."""
        req = b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + self._head
        conn = self._take_idle()
        if conn is not None:
            try:
                return await self._exchange(conn, req, reused=True)
            except _Stale:  # the server closed the idle connection meanwhile: once more on a fresh one
                self._on_resend()
        conn = await self._connect()
        try:
            return await self._exchange(conn, req, reused=False)
        except _Stale:
            raise RemoteProtocolError("server closed the connection without a response") from None

    async def _exchange(self, conn: _Conn, req: bytes, *, reused: bool) -> RawResponse:
        keep = False
        try:
            async with asyncio.timeout(self.read_timeout):
                conn.writer.write(req)
                resp, keep = await self._read_response(conn.reader, reused)
        except TimeoutError:
            raise ReadTimeout("no complete response in time") from None
        except OSError as exc:  # reset, broken pipe, TLS failure while reading
            raise ReadError(f"connection failed ({type(exc).__name__})") from None
        finally:
            if keep:
                self._put_idle(conn)
            else:
                conn.close()
        return resp

    async def _read_response(self, r: asyncio.StreamReader, reused: bool) -> tuple[RawResponse, bool]:
        while True:
            try:
                head = await r.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial and reused:
                    raise _Stale from None
                raise RemoteProtocolError("server closed the connection before a complete response "
                                          "head") from None
            except asyncio.LimitOverrunError:
                raise RemoteProtocolError("response head too long") from None
            except OSError as exc:  # reset, broken pipe
                if reused:
                    raise _Stale from None
                raise ReadError(f"connection failed ({type(exc).__name__})") from None
            reused = False
            lines = head[:-4].decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise RemoteProtocolError("malformed status line")
            status = int(parts[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise RemoteProtocolError("malformed header line")
                name = name.strip().lower()
                value = value.strip()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            if 100 <= status < 200:
                continue  # interim (100 Continue, 103 Early Hints): the real answer follows
            break
        version = parts[0]
        conn_tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep = "close" not in conn_tokens and (version != "HTTP/1.0" or "keep-alive" in conn_tokens)
        te = headers.get("transfer-encoding", "").lower()
        if status in (204, 304):
            body = b""
        elif "chunked" in te:
            body = await self._read_chunked(r)
        elif "content-length" in headers:
            try:
                n = int(headers["content-length"].split(",")[0])
            except ValueError:
                raise RemoteProtocolError("malformed Content-Length") from None
            if n < 0 or n > MAX_BODY_BYTES:
                raise RemoteProtocolError("unacceptable Content-Length")
            try:
                body = await r.readexactly(n)
            except asyncio.IncompleteReadError:
                raise RemoteProtocolError("server closed the connection before the whole body "
                                          f"(Content-Length {n})") from None
        else:
            body = await r.read(-1)  # delimited by the server closing the connection
            keep = False
        enc = headers.get("content-encoding", "").strip().lower()
        if enc and enc != "identity" and body:
            body = _decode(body, enc)
        return RawResponse(status, parts[2] if len(parts) > 2 else "", headers, body), keep

    async def _read_chunked(self, r: asyncio.StreamReader) -> bytes:
        out = bytearray()
        try:
            while True:
                line = await r.readuntil(b"\r\n")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise RemoteProtocolError("malformed chunk size") from None
                if size == 0:
                    while (await r.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the empty line
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY_BYTES:
                    raise RemoteProtocolError("chunked body too large")
                chunk = await r.readexactly(size + 2)
                if chunk[-2:] != b"\r\n":
                    raise RemoteProtocolError("malformed chunk")
                out += memoryview(chunk)[:-2]
        except asyncio.IncompleteReadError:
            raise RemoteProtocolError("server closed the connection inside a chunked body") from None
        except asyncio.LimitOverrunError:
            raise RemoteProtocolError("chunk line too long") from None

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            c = self._idle.pop()
            c.close()
            with contextlib.suppress(Exception):  # best effort on shutdown
                await asyncio.wait_for(c.writer.wait_closed(), 1.0)


def _decode(body: bytes, enc: str) -> bytes:
    try:
        for e in reversed([x.strip() for x in enc.split(",") if x.strip()]):
            if e in ("gzip", "x-gzip"):
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            elif e == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:  # raw deflate without the zlib header (seen in the wild)
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
            elif e != "identity":
                raise DecodingError(f"unsupported Content-Encoding {e!r}")
    except zlib.error:
        raise DecodingError(f"{enc} body does not decompress") from None
    return body


def log_request(pool: Http11Pool, target: str, resp: RawResponse) -> None:
    """httpx's `HTTP Request: GET <url> "HTTP/1.1 200 OK"` line at DEBUG, secret query values blanked."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug('HTTP Request: GET %s "HTTP/1.1 %d %s"', redact(pool.url_for(target)), resp.status, resp.reason)
