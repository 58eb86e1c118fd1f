"""An answer is complete only when it proves it: a hostile new-api gateway over real loopback HTTP.

Each case is extracted and landed with the functions the Dagster raw asset runs (`read_each`,
`land_evidence_days`) over a landing that already holds an earlier extraction of the day. HTTP 200
with `"success": "false"` (a string) and `data: null`, `{"success": true, "data": null}`, and a server
that ignores `p` (every page the same first 100 rows of a total of 200) are loud one-line errors and
every file landed before is unchanged; a row with an absurd timestamp is a quarantined row with its
reason; a day not closed yet lands nothing and its manifest row says it is not complete.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from orchestration.assets.landing_step import land_evidence_days
from orchestration.assets.raw_gateway import read_each
from orchestration.config import GatewayConfig
from orchestration.errors import ExtractionError
from orchestration.evidence import read_held, read_manifest
from orchestration.gateways import client_for
from orchestration.landing import read_quarantine

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)
AFTER = START + timedelta(days=1, hours=6)


def item(i: int, t: int | None = None) -> dict:
    return {
        "id": i,
        "created_at": t or int(START.timestamp()) + 60 * i,
        "type": 2,
        "content": "",
        "username": "u",
        "token_name": "app",
        "model_name": "gpt-4o",
        "quota": 1000 + i,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "use_time": 1,
        "is_stream": False,
        "channel": 3,
        "channel_name": "c3",
        "token_id": 1,
        "group": "default",
        "ip": "203.0.113.9",
        "other": json.dumps({"model_ratio": 1, "group_ratio": 1, "completion_ratio": 1}),
        "request_id": f"req-{i}",
    }


class Hostile(BaseHTTPRequestHandler):
    mode: ClassVar[str] = "ok"
    rows: ClassVar[list[dict]] = []

    def log_message(self, *_a: object) -> None:
        pass

    def do_GET(self) -> None:
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        lo, hi = int(q.get("start_timestamp", 0)), int(q.get("end_timestamp", 2**40))
        p, size = max(1, int(q.get("p", 1))), min(100, int(q.get("page_size", 10)))
        rows = [r for r in self.rows if lo <= r["created_at"] <= hi or self.mode == "absurd"]
        rows.sort(key=lambda r: -r["created_at"])
        if self.mode == "string_false":
            body: dict = {"success": "false", "message": "", "data": None}
        elif self.mode == "data_null":
            body = {"success": True, "message": "", "data": None}
        elif self.mode == "ignores_p":
            body = {
                "success": True,
                "data": {
                    "page": p,
                    "page_size": size,
                    "total": 2 * size,
                    "items": [dict(r, id=k) for k, r in enumerate(rows[:size])],
                },
            }
        else:
            page = rows[(p - 1) * size : p * size]
            body = {
                "success": True,
                "data": {"page": p, "page_size": size, "total": len(rows), "items": page},
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def hostile(mode: str, rows: list[dict]) -> Iterator[str]:
    Hostile.mode, Hostile.rows = mode, rows
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H_TOKEN", "t")
    monkeypatch.setenv("H_USER", "1")


def extract(url: str, landing: Path, now: datetime = AFTER) -> list[str]:
    cfg = GatewayConfig(
        name="main",
        dialect="newapi",
        base_url=url,
        token_env="H_TOKEN",
        user_id_env="H_USER",
        window_minutes=1440,
        max_attempts=2,
        page_size=100,
    )
    logs: list[str] = []
    ctx = SimpleNamespace(
        partition_time_window=SimpleNamespace(start=START, end=START + timedelta(days=1)),
        log=SimpleNamespace(info=logs.append, warning=logs.append),
    )
    with client_for(cfg, logs.append) as c:
        c.now, c.backoff_base = now, 0.001
        land_evidence_days(
            ctx,
            "usage_records",
            landing,
            lambda day, s, e: read_each([c], day, s, e, None, lambda cl: cl.usage(s, e)),
            source="gateways:main",
        )
    return logs


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def landed(tmp_path: Path) -> Path:
    """An earlier, honest extraction of the day: 150 rows held."""
    landing = tmp_path / "landing"
    with hostile("ok", [item(i) for i in range(150)]) as url:
        extract(url, landing)
    assert len(read_held(landing, "usage_records", DAY)) == 150
    return landing


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("string_false", "field=success is str 'false', not true"),
        ("data_null", "field=data is null with success:true"),
        ("ignores_p", "served 100 distinct rows for a total of 200 over 5 passes"),
    ],
)
def test_an_answer_that_proves_nothing_fails_loudly_and_lands_nothing(
    landed: Path, mode: str, says: str
) -> None:
    before = digest(landed)
    with hostile(mode, [item(i) for i in range(200)]) as url, pytest.raises(ExtractionError) as err:
        extract(url, landed)
    msg = str(err.value)
    assert says in msg and "gateway=main" in msg and "endpoint=/api/log/self" in msg and "\n" not in msg
    assert digest(landed) == before


def test_a_server_that_ignores_p_never_lands_half_a_day_on_an_empty_store(tmp_path: Path) -> None:
    with hostile("ignores_p", [item(i) for i in range(200)]) as url, pytest.raises(ExtractionError):
        extract(url, tmp_path / "landing")
    assert not list((tmp_path / "landing").rglob("*.parquet"))


def test_a_row_with_an_absurd_timestamp_is_quarantined_with_its_reason(landed: Path) -> None:
    rows = [item(i) for i in range(150)] + [item(999, t=4_102_444_800)]  # 2100-01-01, served for this day
    with hostile("absurd", rows) as url:
        logs = extract(url, landed)
    q = read_quarantine(landed, "usage_records", DAY)
    assert q is not None and len(q) == 1 and q["request_id"].iloc[0] == "req-999"
    assert "created_at outside the window" in q["quarantine_reason"].iloc[0]
    kept = sorted(p.name for p in (landed / "usage_records" / f"date={DAY}").glob("quarantine-*.parquet"))
    assert kept == ["quarantine-000002.parquet"]  # kept per extraction: a later clean run deletes nothing
    with hostile("ok", [item(i) for i in range(150)]) as url:
        extract(url, landed)
    assert (landed / "usage_records" / f"date={DAY}" / kept[0]).exists()
    assert len(read_held(landed, "usage_records", DAY)) == 150
    assert any("served outside their window" in ln for ln in logs)


def test_a_day_not_closed_yet_is_not_landed_as_a_zero(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    with hostile("ok", [item(i) for i in range(5)]) as url:
        extract(url, landing, now=START + timedelta(hours=1))  # the day has barely begun
    assert read_held(landing, "usage_records", DAY) is None  # nothing landed, not an empty day
    m = read_manifest(landing, "usage_records", DAY)
    assert len(m) == 1 and not m["complete"].iloc[0] and "not closed yet" in m["reason"].iloc[0]
