"""The sandbox HTTP server: both gateway dialects over one scenario, on loopback, in a thread.

Stdlib `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive (every response has a
Content-Length), one thread per connection, no request logging (URLs can carry `key=`). Faults
(faults.py) are applied here, before and after routing, the same way for both dialects.

    with serve(build_scenario(), faults=Faults(rate_limit_every=5)) as base_url:
        httpx.get(f"{base_url}/api/log/self", headers=...)
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from orchestration.sandbox import newapi_routes, tokenlab_routes
from orchestration.sandbox.faults import Faults, FaultState
from orchestration.sandbox.http_types import Context, Request, Response, json_response
from orchestration.sandbox.stores import ScenarioStores, Stores


class BaseURL(str):
    """The served base URL; `.faults` exposes the server's fault counters to tests."""

    faults: FaultState


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], ctx: Context) -> None:
        self.ctx = ctx
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-response is normal here (timeouts, tests); anything else is not."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "recon-sandbox/1"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return  # never log request lines: they can carry an API key

    def do_GET(self) -> None:
        _dispatch(self)

    def _not_allowed(self) -> None:
        _send(self, json_response(405, {"success": False, "message": "method not allowed"}))

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed


def _send(h: _Handler, resp: Response, body_bytes: int | None = None) -> None:
    h.send_response(resp.status)
    h.send_header("Content-Type", f"{resp.content_type}; charset=utf-8")
    h.send_header("Content-Length", str(len(resp.body)))
    for k, v in resp.headers.items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(resp.body if body_bytes is None else resp.body[:body_bytes])


def _dispatch(h: _Handler) -> None:
    ctx = h.server.ctx
    arrived = time.monotonic()
    split = urlsplit(h.path)
    path = split.path
    if path == "/healthz":
        _send(h, json_response(200, {"ok": True}))
        return
    query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
    req = Request(h.command, path, query, h.headers)
    dialect = tokenlab_routes if path.startswith("/v1/") else newapi_routes
    # new-api's limiter first: 429, empty body, no Retry-After
    if not ctx.faults.limiter_allows(h.client_address[0], arrived, path):
        _send(h, Response(429, b"", {}, "text/plain"))
        return
    ctx.faults.arrived(h.path, arrived)
    d = ctx.faults.next()
    kind, latency_ms = d.kind, d.latency_ms
    f = ctx.faults.faults
    if kind == "drop":
        _wait_until(arrived, latency_ms)
        h.close_connection = True
        with suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)
        return
    if kind in ("429", "5xx"):
        resp = dialect.fault_response(kind, d.status, f.retry_after_s)
        _wait_until(arrived, latency_ms)
        if kind == "429":  # noted before sending: a retry cannot arrive before its 429 was noted
            ctx.faults.rate_limited(h.path, time.monotonic(), arrived)
        _send(h, resp)
        return
    resp = dialect.route(req, ctx)
    if resp is None:
        resp = json_response(404, {"success": False, "message": "not found"})
    if kind == "truncate" and resp.status == 200:
        resp = Response(
            resp.status, resp.body[: max(1, len(resp.body) // 2)], resp.headers, resp.content_type
        )
    _wait_until(arrived, latency_ms)
    if kind == "cut":  # the full Content-Length announced, half the body sent, then the line goes dead
        _send(h, resp, body_bytes=max(1, len(resp.body) // 2))
        h.close_connection = True
        try:
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return
    _send(h, resp)


def _wait_until(arrived: float, latency_ms: float) -> None:
    """Answer `latency_ms` after the request arrived, like a gateway whose response time is that
    latency: the work of building the answer happens during the wait, not on top of it (a real
    gateway computes concurrent requests in parallel; this Python server shares one GIL, so adding
    its own CPU after the sleep would serialise it into every client's round trip). Each request
    still waits its full latency on its own thread; concurrent requests wait in parallel."""
    if latency_ms:
        left = arrived + latency_ms / 1000.0 - time.monotonic()
        if left > 0:
            time.sleep(left)


def _stores(source: Any) -> Stores:
    if hasattr(source, "stores"):
        return source.stores()
    return ScenarioStores(source)


@contextmanager
def serve(
    scenario: Any, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None
) -> Iterator[str]:
    """Serve `scenario` (a Scenario, or a bulk scenario from bulk.py) until the block exits.

    Yields the base URL (`http://127.0.0.1:<port>`), a `str` whose `.faults` is the fault state."""
    state = FaultState(faults or Faults())
    server = _Server((host, port), Context(_stores(scenario), state))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="recon-sandbox", daemon=True
    )
    thread.start()
    url = BaseURL(f"http://{host}:{server.server_address[1]}")
    url.faults = state
    try:
        yield url
    finally:
        server.shutdown()
        with server.sockets_lock:
            conns = list(server.open_sockets)
        for c in conns:  # end idle keep-alive connections too
            with suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join(timeout=5)


def run_sandbox(
    port: int, seed: int = 7, days: int = 7, host: str = "127.0.0.1", faults: Faults | None = None
) -> None:
    """Serve the demo scenario on `port` until Ctrl-C (`recon sandbox --port P --seed S [--limit N/S]`)."""
    from orchestration.sandbox.scenario import build_scenario

    sc = build_scenario(seed=seed, days=days)
    with serve(sc, host=host, port=port, faults=faults) as url:
        print(
            f"sandbox gateway on {url} (seed {seed}, days {sc.start}..{sc.end}, as_of "
            f"{sc.as_of.isoformat()}); new-api at /api/..., TokenLab at /v1/...; Ctrl-C to stop",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("sandbox stopped", flush=True)
