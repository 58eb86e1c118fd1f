"""A deliberately hostile HTTP/1.1 server on loopback, for extraction tests (not part of the sandbox:
the sandbox behaves like real gateways, this one behaves like a broken or malicious one).

Every response ends the connection. Paths (the query is ignored):
- `/bomb/...`: 200, `Content-Encoding: gzip`, about 2 MB on the wire that inflate to 2 GiB of zeros;
- `/endless/...`: 200, chunked, a body that never ends (until the client hangs up);
- `/lying/...`: a new-api page claiming `total: 10**9` with the same five rows on every page;
- `/badtotal/...`: a new-api page whose `total` is `"12x"`; `/hugenum/...`: a row whose quota is `1e400`;
- `/badstatus/...`: an illegal status line; `/badchunk/...`: a chunked body with an illegal chunk size;
- anything else: an empty new-api page (`total: 0`).
`requests` counts the requests read. Pass `tls=(certfile, keyfile)` to serve HTTPS.
"""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_MEMBER_ZEROS = 64 * 1024 * 1024
_MEMBERS = 32  # 32 x 64 MiB = 2 GiB decoded


def _bomb() -> bytes:
    one = gzip.compress(b"\0" * _MEMBER_ZEROS, compresslevel=9)
    return one * _MEMBERS


def _row(i: int) -> dict:
    return {
        "id": i,
        "created_at": 1_700_000_000 + i,
        "type": 2,
        "request_id": f"req-{i}",
        "quota": 10,
        "model_name": "m",
        "token_name": "t",
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "other": "{}",
    }


def _page(total: object, items: list) -> bytes:
    return json.dumps(
        {
            "success": True,
            "message": "",
            "data": {"page": 1, "page_size": 100, "total": total, "items": items},
        }
    ).encode()


class _Handler(socketserver.BaseRequestHandler):
    server: HostileServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                got = sock.recv(65536)
                if not got:
                    return
                head += got
        except OSError:
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        path = line.split(" ")[1] if " " in line else "/"
        with self.server.lock:
            self.server.requests += 1
            self.server.paths.append(path)
        with suppress(OSError):
            self._answer(sock, path.split("?", 1)[0])

    def _answer(self, sock: socket.socket, path: str) -> None:
        kind = path.strip("/").split("/", 1)[0]
        if kind == "bomb":
            body = self.server.bomb
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            )
            sock.sendall(body)
        elif kind == "endless":
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n"
            )
            chunk = b" " * 65536
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            sock.sendall(b"1\r\n[\r\n")
            while not self.server.stopping.is_set():
                sock.sendall(frame)
        elif kind == "badstatus":
            sock.sendall(b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        elif kind == "badchunk":
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
            )
        else:
            if kind == "lying":
                body = _page(10**9, [_row(i) for i in range(5)])
            elif kind == "badtotal":
                body = _page("12x", [])
            elif kind == "hugenum":
                body = _page(1, [dict(_row(0), quota=0)]).replace(b'"quota": 0', b'"quota": 1e400')
            else:
                body = _page(0, [])
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, tls: tuple[str, str] | None = None, bomb: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests = 0
        self.paths: list[str] = []
        self.stopping = threading.Event()
        self.bomb = _bomb() if bomb else b""
        self._tls = None
        if tls:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*tls)

    def get_request(self):  # type: ignore[override]
        sock, addr = super().get_request()
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address) -> None:
        return


@contextmanager
def hostile(tls: tuple[str, str] | None = None, bomb: bool = False) -> Iterator[tuple[str, HostileServer]]:
    srv = HostileServer(tls, bomb)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{srv.server_address[1]}", srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
