"""No token, key, prompt/content, IP, channel or upstream URL reaches a landed file or a log line.

Plants a marker of each kind into the sandbox's responses, runs every HTTP dialect (new-api through
the opt-in `/api/log/token` endpoint, whose key travels in the query string, and TokenLab), lands the
frames with the real landing writer, forces an error path, and scans everything that came out.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestration.config import GatewayConfig
from orchestration.errors import ExtractionError
from orchestration.gateways import client_for
from orchestration.landing import write_partition
from orchestration.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TOKEN,
    SANDBOX_USER_ID,
    TOKENLAB_API_KEY,
    TOKENLAB_KEY_ID,
    TOKENLAB_TOKEN,
)
from orchestration.sandbox.faults import Faults
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

PROMPT = "PROMPT-MARKER-a8f3e1 draw a cat on the moon"
IP = "198.18.77.201"
UPSTREAM = "https://upstream-secret-9c2d.invalid/v1/chat"
CHANNEL = "channel-secret-name-5b1"
USERNAME = "username-secret-3e7"


def planted_scenario():
    sc = build_scenario(seed=13, days=2, jobs_per_day=30)
    for r in sc.newapi_logs:
        r["content"] = PROMPT
        r["ip"] = IP
        r["channel_name"] = CHANNEL
        r["username"] = USERNAME
        other = json.loads(r["other"]) if r.get("other") else {}
        other["admin_info"] = {"upstream_url": UPSTREAM, "use_channel": [CHANNEL]}
        other["upstream_model_name"] = UPSTREAM
        r["other"] = json.dumps(other)
    for rec in sc.tokenlab_usage:
        rec["client_ip"] = IP
        rec["upstream"] = {"endpoint": UPSTREAM, "provider_request_id": CHANNEL}
        rec["prompt"] = PROMPT
    for t in sc.tokenlab_tasks.values():
        t["result"] = {"outputs": [{"url": UPSTREAM}]}
        t["prompt"] = PROMPT
    return sc


SECRETS = [
    SANDBOX_TOKEN,
    SANDBOX_API_KEY,
    TOKENLAB_TOKEN,
    TOKENLAB_API_KEY,
    "PROMPT-MARKER-a8f3e1",
    IP,
    "upstream-secret-9c2d",
    CHANNEL,
    USERNAME,
]


def test_planted_secrets_never_land_or_get_logged(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("S_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("S_USER", SANDBOX_USER_ID)
    monkeypatch.setenv("S_KEY", SANDBOX_API_KEY)
    monkeypatch.setenv("S_LAB", TOKENLAB_TOKEN)
    monkeypatch.setenv("S_LAB_KEY", TOKENLAB_API_KEY)
    caplog.set_level(logging.DEBUG)  # httpx/httpcore log request URLs (with key=) at INFO/DEBUG
    sc = planted_scenario()
    lines: list[str] = []
    errors: list[str] = []
    landed: list[Path] = []
    with serve(sc, faults=Faults(rate_limit_every=5, retry_after_s=0.01)) as url:
        main = GatewayConfig(
            name="main",
            dialect="newapi",
            base_url=url,
            token_env="S_TOKEN",
            user_id_env="S_USER",
            log_endpoint="token",
            key_env="S_KEY",
            max_attempts=10,
        )
        labc = GatewayConfig(
            name="lab",
            dialect="tokenlab",
            base_url=url,
            token_env="S_LAB",
            api_key_env="S_LAB_KEY",
            key_id=TOKENLAB_KEY_ID,
            max_attempts=10,
        )
        known = sorted(sc.tokenlab_tasks)
        for cfg in (main, labc):
            cl = client_for(cfg, lines.append)
            cl.now, cl.backoff_base = sc.as_of, 0.01
            # /api/log/token serves only its newest 100 rows: only the last day reaches back far enough
            day = sc.range_end - timedelta(days=1) if cfg.log_endpoint == "token" else sc.range_start
            while day < sc.range_end:
                usage = cl.usage(day, day + timedelta(days=1))
                tasks = cl.tasks(day, day + timedelta(days=1), known)
                assert len(usage) > 0
                landed.append(write_partition(usage, tmp_path, "usage_records", day.date()))
                landed.append(write_partition(tasks, tmp_path, "gateway_tasks", day.date()))
                day += timedelta(days=1)
        # an error path: every request fails, the message must still be clean
        bad = main.model_copy(update={"max_attempts": 2})
        with serve(sc, faults=Faults(error_5xx_every=1)) as url2:
            cl = client_for(bad.model_copy(update={"base_url": url2}), lines.append)
            cl.now, cl.backoff_base = sc.as_of, 0.01
            with pytest.raises(ExtractionError) as err:
                cl.usage(sc.range_start, sc.range_start + timedelta(days=1))
            errors.append(str(err.value))

    files = [p for p in landed if p is not None]
    assert files, "nothing landed"
    haystacks: dict[str, str] = {}
    for p in tmp_path.rglob("*.parquet"):
        table = pq.read_table(p)
        haystacks[str(p)] = json.dumps(table.to_pylist(), default=str) + str(table.schema)
    haystacks["log callable"] = "\n".join(lines)
    haystacks["python logging"] = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    haystacks["errors"] = "\n".join(errors)
    assert any("/api/log/token" in r.getMessage() for r in caplog.records), "httpx request logs were captured"
    for where, text in haystacks.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {where}"
    assert len(haystacks) >= 6
