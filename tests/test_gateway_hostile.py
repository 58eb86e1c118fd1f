"""A hostile or broken gateway ends extraction with one clear line, never with gigabytes of memory.

Real HTTP over loopback against `hostile_gateway.py` (a gzip bomb, an endless body, a lying total,
malformed framing and envelopes), TLS to a self-signed server (certificate made with the openssl CLI),
and an egress proxy on loopback in front of the sandbox.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socketserver
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hostile_gateway import hostile

from orchestration.config import ConfigError, GatewayConfig, require_env
from orchestration.errors import ExtractionError
from orchestration.gateways import client_for
from orchestration.sandbox import SANDBOX_TOKEN, SANDBOX_USER_ID
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

DAY = datetime(2026, 3, 14, tzinfo=UTC)
NOW = DAY + timedelta(days=2)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("H_USER", SANDBOX_USER_ID)


def cfg(url: str, **kw) -> GatewayConfig:
    base = {
        "name": "evil",
        "dialect": "newapi",
        "base_url": url,
        "token_env": "H_TOKEN",
        "user_id_env": "H_USER",
        "max_concurrency": 4,
        "window_minutes": 1440,
        "timeout_seconds": 5,
        "max_attempts": 3,
    }
    base.update(kw)
    return GatewayConfig(**base)


def usage(c: GatewayConfig, logs: list[str] | None = None):
    cl = client_for(c, logs.append if logs is not None else None)
    cl.now, cl.backoff_base = NOW, 0.01
    return cl.usage(DAY, DAY + timedelta(days=1))


_CHILD = r"""
import json, os, sys
from datetime import UTC, datetime, timedelta
os.environ["H_TOKEN"], os.environ["H_USER"] = sys.argv[2], sys.argv[3]
from orchestration.config import GatewayConfig
from orchestration.gateways import client_for
day = datetime(2026, 3, 14, tzinfo=UTC)
out = {}
for kind in ("bomb", "endless", "lying"):
    c = GatewayConfig(name="evil", dialect="newapi", base_url=f"{sys.argv[1]}/{kind}", token_env="H_TOKEN",
                      user_id_env="H_USER", max_concurrency=8, window_minutes=60, timeout_seconds=10,
                      max_attempts=3, max_page_bytes=64 * 1024 * 1024)
    cl = client_for(c)
    cl.now, cl.backoff_base = day + timedelta(days=2), 0.01
    try:
        cl.usage(day, day + timedelta(days=1))
        out[kind] = "no error"
    except Exception as exc:
        out[kind] = f"{type(exc).__name__}: {exc}"
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
out["peak_rss_kib"] = int(peak.split()[1])
print(json.dumps(out))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to measure RSS")
def test_gzip_bomb_endless_body_and_lying_total_end_with_one_line_under_1_gib() -> None:
    """24 windows x 8 concurrent pages against each: every one ends with one line, and the process's
    peak RSS (VmHWM) stays under 1 GiB; 2 GiB of bomb each page would have been gigabytes. The page
    cap is min(max_page_bytes 64 MiB, max_inflight_bytes 256 MiB / 8 concurrent) = 32 MiB."""
    with hostile(bomb=True) as (url, srv):
        run = subprocess.run(
            [sys.executable, "-c", _CHILD, url, SANDBOX_TOKEN, SANDBOX_USER_ID],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).parents[1],
        )
        assert run.returncode == 0, run.stderr[-2000:]
        out = json.loads(run.stdout.strip().splitlines()[-1])
        lying_requests = sum(p.startswith("/lying") for p in srv.paths)
    print(
        f"\nhostile gateway: peak RSS {out['peak_rss_kib'] / 1024:.0f} MiB; {lying_requests} requests to the liar"
    )
    for kind in ("bomb", "endless", "lying"):
        msg = out[kind]
        assert msg.startswith("ExtractionError: gateway=evil endpoint=/api/log/self window=["), msg
        assert "\n" not in msg and SANDBOX_TOKEN not in msg
    assert "passed 33554432 decoded bytes" in out["bomb"] and "not retried" in out["bomb"]
    assert "passed 33554432 decoded bytes" in out["endless"]
    assert "total 1000000000" in out["lying"] and "max_pages_per_window=10000" in out["lying"]
    assert lying_requests <= 8 * 2, f"a lying total still planned {lying_requests} requests"
    assert out["peak_rss_kib"] < 1024 * 1024, f"peak RSS {out['peak_rss_kib'] / 1024:.0f} MiB"


@pytest.mark.parametrize(
    ("kind", "expect"),
    [
        ("badstatus", "malformed HTTP response"),
        ("badchunk", "malformed HTTP response"),
        ("badtotal", "field=data.total is '12x', not a count"),
        ("hugenum", "page=1: field quota holds a number out of range; not retried"),
    ],
)
def test_malformed_framing_and_envelopes_are_one_line_and_not_retried(kind: str, expect: str) -> None:
    with hostile() as (url, srv):
        with pytest.raises(ExtractionError) as err:
            usage(cfg(f"{url}/{kind}"))
        assert srv.requests == 1, f"retried {srv.requests - 1} times"
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(
        "gateway=evil endpoint=/api/log/self window=[2026-03-14T00:00:00Z"
    )
    assert expect in msg, msg


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return str(crt), str(key)


def test_tls_to_a_self_signed_server_fails_clearly_unless_its_ca_bundle_is_configured(
    cert, monkeypatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with hostile(tls=cert) as (url, srv):
        with pytest.raises(ExtractionError) as err:
            usage(cfg(url))
        assert srv.requests == 0  # the handshake failed: no request was ever sent
        msg = str(err.value)
        assert "\n" not in msg
        assert "TLS certificate verification failed (self-signed certificate); not retried" in msg, msg
        assert "ca_bundle" in msg
        got = usage(cfg(url, ca_bundle=cert[0]))  # the private CA's file: it works
        assert len(got) == 0 and srv.requests >= 1


class _ForwardProxy(socketserver.ThreadingTCPServer):
    """A minimal HTTP forward proxy: reads an absolute-form GET, fetches it, relays the answer."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: _ForwardProxy

    def handle(self) -> None:
        while True:
            line = self.rfile.readline().decode("latin-1").strip()
            if not line:
                return
            method, target, _ = line.split(" ", 2)
            headers = {}
            while h := self.rfile.readline().decode("latin-1").strip():
                k, v = h.split(":", 1)
                headers[k.strip()] = v.strip()
            self.server.seen.append(f"{method} {target.split('?')[0]}")
            u = http.client.urlsplit(target)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            keep = {k: v for k, v in headers.items() if k.lower() not in ("proxy-connection", "connection")}
            conn.request(method, u.path + (f"?{u.query}" if u.query else ""), headers=keep)
            r = conn.getresponse()
            body = r.read()
            conn.close()
            out = [f"HTTP/1.1 {r.status} {r.reason}"]
            out += [
                f"{k}: {v}" for k, v in r.getheaders() if k.lower() not in ("content-length", "connection")
            ]
            out += [f"Content-Length: {len(body)}", "", ""]
            self.wfile.write("\r\n".join(out).encode("latin-1") + body)
            self.wfile.flush()


def test_an_egress_proxy_is_used_when_configured() -> None:
    sc = build_scenario(seed=3, days=1, jobs_per_day=20)
    proxy = _ForwardProxy()
    threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with serve(sc) as url:
            base = cfg(url, window_minutes=720, page_size=10)
            cl = client_for(base, None)
            cl.now = sc.as_of
            direct = cl.usage(sc.range_start, sc.range_start + timedelta(days=1))
            assert proxy.seen == []
            via = client_for(
                base.model_copy(update={"proxy": f"http://127.0.0.1:{proxy.server_address[1]}"}), None
            )
            via.now = sc.as_of
            got = via.usage(sc.range_start, sc.range_start + timedelta(days=1))
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert len(got) == len(direct) > 0
    assert sorted(got["record_key"]) == sorted(direct["record_key"])
    assert proxy.seen and all(s.startswith(f"GET {url}/api/log/self") for s in proxy.seen), proxy.seen[:3]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/api v1", "http://127.0.0.1:1/网关", "ftp://h/", "http:///x"]
)
def test_a_base_url_with_a_space_or_non_ascii_path_is_a_config_error(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        cfg(url)


def test_a_token_with_a_line_break_is_a_config_error_before_any_request(monkeypatch) -> None:
    monkeypatch.setenv("H_TOKEN", "abc\r\nX-Evil: 1")
    with pytest.raises(
        ConfigError, match=r"gateways.evil.token_env: environment variable H_TOKEN contains a line"
    ):
        require_env("H_TOKEN", "gateways.evil.token_env")
    with hostile() as (url, srv):
        with pytest.raises(ConfigError):
            usage(cfg(url))
        assert srv.requests == 0


def test_a_number_out_of_range_in_a_row_is_an_invalid_record_not_a_bare_overflow() -> None:
    """The json fallback (no orjson) parses 1e400 as inf; int(inf) must not escape as OverflowError."""
    import functools

    from hostile_gateway import _row

    from orchestration.errors import InvalidRecordError
    from orchestration.gateways.newapi.rows import usage_row
    from orchestration.gateways.pager import Pager, Source
    from orchestration.gateways.windows import Window

    src = Source(
        path="/api/log/self",
        endpoint="/api/log/self",
        params={},
        normalize=functools.partial(usage_row, gateway="evil", qpu=500000.0),
        key_of=lambda r: r[1],
        time_of=lambda r: r[3],
        ids_of=str,
        partition="2026-03-14",
    )
    pg = Pager(
        None,
        src,
        gateway="evil",
        page_size=100,
        max_window_records=1000,
        log=lambda _m: None,  # type: ignore[arg-type]
        label="evil usage",
    )
    with pytest.raises(InvalidRecordError) as err:
        pg._normalize([dict(_row(0), quota=float("inf"))], Window(DAY, DAY + timedelta(days=1)), 1)
    msg = str(err.value)
    assert msg.startswith(
        "gateway=evil partition=2026-03-14 endpoint=/api/log/self window=[2026-03-14T00:00:00Z"
    )
    assert "page=1: invalid row: OverflowError" in msg and "\n" not in msg
