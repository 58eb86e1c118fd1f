"""The extraction's HTTP/1.1 transport against a raw socket server that answers the ways real servers
do: chunked and gzip bodies (Go's net/http chunks any JSON page over a few KB), `Connection: close`,
bodies delimited by the close, interim 1xx answers, idle keep-alive connections the server dropped,
and connections cut mid-body (retried, then reported by class name, never by URL)."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from orchestration.gateways.base import ExtractionError
from orchestration.gateways.http import HttpFetcher, Stats
from orchestration.gateways.http11 import Http11Pool, encode_query

BODY = {"success": True, "data": {"items": [{"id": i, "name": "x" * 50} for i in range(200)], "total": 200}}
RAW = json.dumps(BODY).encode()


def _head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunked(data: bytes, size: int = 1000) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n"
    return out + b"0\r\nX-Trailer: t\r\n\r\n"


class _Handler(socketserver.BaseRequestHandler):
    """Reads request heads off one connection and answers by path; records what it saw."""

    def handle(self) -> None:
        buf = b""
        sock: socket.socket = self.request
        self.answered = 0
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            line = head.split(b"\r\n")[0].decode()
            self.server.seen.append((line, head.decode(), self.client_address))  # type: ignore[attr-defined]
            target = line.split(" ")[1]
            path = target.split("?")[0]
            if path.endswith("/ignore-second") and self.answered:
                return  # a server that closes an idle connection just as the next request arrives
            if not self._answer(sock, path):
                return
            self.answered += 1

    def _answer(self, sock: socket.socket, path: str) -> bool:
        n = sum(1 for line, *_ in self.server.seen if line.split(" ")[1].split("?")[0] == path)  # type: ignore[attr-defined]
        if path.endswith(("/plain", "/ignore-second")):
            sock.sendall(_head(Content_Length=str(len(RAW))) + RAW)
        elif path.endswith("/chunked-gzip"):
            sock.sendall(_head(Transfer_Encoding="chunked", Content_Encoding="gzip") + _chunked(gzip.compress(RAW)))
        elif path.endswith("/close"):
            sock.sendall(_head(Content_Length=str(len(RAW)), Connection="close") + RAW)
            return False
        elif path.endswith("/until-close"):
            sock.sendall(_head() + RAW)
            return False
        elif path.endswith("/interim"):
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + _head(Content_Length=str(len(RAW))) + RAW)
        elif path.endswith("/drop-idle"):
            # answers with keep-alive, then drops the idle connection: the next request on it gets nothing
            sock.sendall(_head(Content_Length=str(len(RAW))) + RAW)
            sock.shutdown(socket.SHUT_RDWR)
            return False
        elif path.endswith("/cut"):
            # the first two answers stop half-way through the body, then the server recovers
            if n <= 2:
                sock.sendall(_head(Content_Length=str(len(RAW))) + RAW[: len(RAW) // 2])
                sock.shutdown(socket.SHUT_RDWR)
                return False
            sock.sendall(_head(Content_Length=str(len(RAW))) + RAW)
        elif path.endswith("/always-cut"):
            sock.sendall(_head(Transfer_Encoding="chunked") + _chunked(RAW)[:100])
            sock.shutdown(socket.SHUT_RDWR)
            return False
        else:
            sock.sendall(_head("404 Not Found", Content_Length="2") + b"{}")
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def server() -> Iterator[tuple[str, _Server]]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/prefix", srv
    finally:
        srv.shutdown()
        srv.server_close()


def fetch_all(base: str, paths: list[str], *, attempts: int = 3, params: dict | None = None,
              concurrency: int = 1, pause: float = 0.0) -> tuple[list, Stats, list[str]]:
    lines: list[str] = []
    stats = Stats()

    async def go() -> list:
        async with HttpFetcher(gateway="g", base_url=base, headers={"Authorization": "Bearer t"},
                               max_concurrency=concurrency, timeout_seconds=5, max_attempts=attempts,
                               auth_hint="-", log=lines.append, stats=stats, backoff_base=0.001) as f:
            out = []
            for p in paths:
                if out and pause:
                    await asyncio.sleep(pause)  # idle time: the loop reads whatever the server did meanwhile
                out.append((await f.get(p, params or {}, endpoint=p, window="w", page=1)).body)
            return out

    return asyncio.run(go()), stats, lines


@pytest.mark.parametrize("path", ["/plain", "/chunked-gzip", "/close", "/until-close", "/interim"])
def test_body_framings_all_give_the_same_json(path: str) -> None:
    with server() as (base, srv):
        bodies, stats, _ = fetch_all(base, [path, path, path])
    assert bodies == [BODY] * 3
    assert stats.retries == 0
    line, head, _ = srv.seen[0]
    assert line.startswith(f"GET /prefix{path} HTTP/1.1")
    assert "Authorization: Bearer t" in head and "Host: 127.0.0.1:" in head


def test_keep_alive_reuses_one_connection_for_sequential_requests() -> None:
    with server() as (base, srv):
        fetch_all(base, ["/plain"] * 5 + ["/chunked-gzip"] * 5)
    assert len(srv.seen) == 10
    assert len({addr for *_, addr in srv.seen}) == 1  # nothing asked to close: one connection serves all


def test_close_answers_are_not_reused() -> None:
    with server() as (base, srv):
        fetch_all(base, ["/close", "/until-close", "/plain"])
    assert len({addr for *_, addr in srv.seen}) == 3


@pytest.mark.parametrize("path", ["/drop-idle", "/ignore-second"])
def test_an_idle_connection_the_server_dropped_is_replaced_without_a_retry(path: str) -> None:
    """Dropped while idle (the pool sees the EOF) or closed just as the next request went out (the
    request is sent once more on a fresh connection: a GET that got no byte of answer is safe to resend).
    The idle drop gets real idle time between requests: without it the next request can go out before
    the event loop has read the server's FIN, which is the other case (seen once in CI: resends == 2)."""
    idle = 0.3 if path == "/drop-idle" else 0.0
    with server() as (base, srv):
        bodies, stats, lines = fetch_all(base, [path] * 3, attempts=1, pause=idle)
    assert bodies == [BODY] * 3
    assert stats.retries == 0 and not lines
    assert len({addr for *_, addr in srv.seen}) == 3
    # seen closed while idle: simply not reused; closed as the request went out: sent once more
    assert stats.resends == (0 if path == "/drop-idle" else 2)


def test_a_body_cut_mid_way_is_retried_and_then_succeeds() -> None:
    with server() as (base, _srv):
        bodies, stats, lines = fetch_all(base, ["/cut"], attempts=4)
    assert bodies == [BODY]
    assert stats.retries == 2
    assert all("connection error (RemoteProtocolError)" in ln for ln in lines), lines


def test_a_body_always_cut_fails_with_one_line_and_no_url() -> None:
    with server() as (base, _srv), pytest.raises(ExtractionError) as err:
        fetch_all(base, ["/always-cut"], attempts=2, params={"key": "sk-secret-123"})
    msg = str(err.value)
    assert msg == ("gateway=g endpoint=/always-cut window=w page=1: gave up after 2 attempts; "
                   "last error: connection error (RemoteProtocolError)")
    assert "sk-secret" not in msg


def test_connection_refused_is_a_connect_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ExtractionError, match=r"last error: connection error \(ConnectError\)"):
        fetch_all(f"http://127.0.0.1:{port}", ["/plain"], attempts=2)


def test_query_encoding_and_request_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with server() as (base, srv):
        fetch_all(base, ["/plain"], params={"key": "sk-secret-123", "p": 2, "flag": True, "none": None,
                                            "q": "a b&c/é"})
    line = srv.seen[0][0]
    assert line == "GET /prefix/plain?key=sk-secret-123&p=2&flag=true&none=&q=a%20b%26c%2F%C3%A9 HTTP/1.1"
    logged = [r.getMessage() for r in caplog.records if "HTTP Request" in r.getMessage()]
    assert logged and all("sk-secret" not in m and "key=***" in m for m in logged), logged


def test_pool_rejects_bad_base_urls_and_header_injection() -> None:
    with pytest.raises(ValueError):
        Http11Pool("ftp://h/", {}, connect_timeout=1, read_timeout=1, max_idle=1)
    with pytest.raises(ValueError):
        Http11Pool("http://h/", {"X": "a\r\nEvil: 1"}, connect_timeout=1, read_timeout=1, max_idle=1)
    assert encode_query({"a": [1, 2], "b": False}) == "a=1&a=2&b=false"
