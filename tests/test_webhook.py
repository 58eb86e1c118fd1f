"""The alert webhook against a real HTTP receiver on loopback: what it posts, retry, never fails a run."""

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import dagster as dg
import pytest
import yaml
from support.sample_marts import create_marts

from orchestration import alerts
from orchestration.check_outcome import ERROR, WARN, CheckOutcome

SECRET_PATH = "/hooks/T000/B000/s3cr3t-token-value"
FIRST, LAST = date(2026, 3, 8), date(2026, 3, 10)


class Receiver:
    """A loopback HTTP server that records POSTs and answers with scripted status codes."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(body),
                    }
                )
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver([200]) as r:
        yield r


def outcomes() -> list[CheckOutcome]:
    return [
        CheckOutcome(
            "money_at_risk",
            False,
            ERROR,
            "money at risk 25.000000 USD (limit 10.00)",
            "finance",
            [f"charged_for_failure: {i}.000000 USD" for i in range(8)],
        ),
        CheckOutcome(
            "gateway_errors_429", False, WARN, "12 429 error(s)", "capacity", ["2026-03-10 gateway main"]
        ),
        CheckOutcome("spend_anomaly", True, WARN, "0 anomalous spend day(s)", "finance"),
    ]


def test_posts_a_short_summary_of_the_failing_checks(receiver: Receiver, monkeypatch) -> None:
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    assert alerts.notify(outcomes(), FIRST, LAST, run_id="run-1", money_at_risk_usd=25.0, findings=3)
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert req["path"] == SECRET_PATH and req["content_type"] == "application/json"
    body = req["body"]
    assert (
        body["text"] == "recon 2026-03-08..2026-03-10: 2 check(s) failing: money_at_risk, gateway_errors_429"
    )
    assert [c["check"] for c in body["failing_checks"]] == ["money_at_risk", "gateway_errors_429"]
    money = body["failing_checks"][0]
    assert money["severity"] == "error" and money["owner"] == "finance"
    assert len(money["examples"]) == 5 and money["more"] == 3  # short: a few lines, and how many more
    assert body["run_id"] == "run-1" and body["money_at_risk_usd"] == 25.0 and body["findings"] == 3


def test_nothing_is_posted_when_all_checks_pass_or_no_url_is_set(receiver: Receiver, monkeypatch) -> None:
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    assert not alerts.notify([o for o in outcomes() if o.passed], FIRST, LAST)
    monkeypatch.delenv(alerts.WEBHOOK_ENV)
    assert not alerts.notify(outcomes(), FIRST, LAST)
    assert receiver.requests == []


def test_retries_once_after_a_server_error() -> None:
    with Receiver([503, 200]) as r:
        assert alerts.post_payload({"text": "x"}, r.url, retry_delay=0.01)
        assert len(r.requests) == 2


def test_a_failed_post_is_a_warning_that_does_not_leak_the_url(caplog) -> None:
    with Receiver([500]) as r:
        with caplog.at_level(logging.WARNING, logger="orchestration.alerts"):
            assert alerts.post_payload({"text": "x"}, r.url, retry_delay=0.01) is False
        assert len(r.requests) == 2  # one try, one retry, then give up
    assert "HTTP 500" in caplog.text and "not affected" in caplog.text
    assert "s3cr3t" not in caplog.text and "hooks" not in caplog.text


def test_no_log_line_carries_the_webhook_url(receiver: Receiver, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        assert alerts.post_payload({"text": "x"}, receiver.url)
    assert "delivered to http://127.0.0.1" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_a_rejected_post_is_not_retried() -> None:
    with Receiver([400]) as r:
        assert alerts.post_payload({"text": "x"}, r.url, retry_delay=0.01) is False
        assert len(r.requests) == 1


def test_an_unreachable_receiver_does_not_raise(caplog, monkeypatch) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(alerts.WEBHOOK_ENV, f"http://127.0.0.1:{port}{SECRET_PATH}")
    with caplog.at_level(logging.WARNING, logger="orchestration.alerts"):
        assert alerts.notify(outcomes(), FIRST, LAST) is False
    assert "ConnectError" in caplog.text and "s3cr3t" not in caplog.text


def test_redact_url_keeps_only_scheme_host_and_port() -> None:
    assert (
        alerts.redact_url("https://hooks.example.test/services/T0/B0/xyz?token=abc")
        == "https://hooks.example.test/…"
    )
    assert alerts.redact_url("http://127.0.0.1:9999/x") == "http://127.0.0.1:9999/…"


def test_the_checks_step_posts_once_per_failing_run_and_a_dead_hook_does_not_fail_it(
    tmp_path: Path, monkeypatch
) -> None:
    """Through Dagster: the operator checks step posts once when a check fails (never when all pass),
    retries a 5xx once, and the URL reaches neither the run's config nor its log (a `dg.EnvVar`)."""
    from test_operator_checks import range_tags, run_checks

    from orchestration.resources import ReconResource

    as_of = datetime(2026, 3, 11, 6, tzinfo=UTC)
    row = {
        "finding_id": "f1",
        "finding_key": "charged_for_failure:job_1",
        "mismatch_type": "charged_for_failure",
        "severity": "error",
        "job_id": "job_1",
        "task_id": "task_1",
        "gateway": "main",
        "detail": "refund missing",
        "amount_usd": Decimal("12.5"),
        "partition_date": LAST,
        "detected_at": as_of,
    }
    history = [
        {
            "finding_key": "x",
            "mismatch_type": "charged_for_failure",
            "first_seen_at": as_of - timedelta(days=1),
            "last_seen_at": as_of,
        }
    ]
    wh = create_marts(
        tmp_path / "wh.duckdb", {"fct_reconciliation_mismatches": [row], "fct_mismatch_history": history}
    )
    cfg = {
        "warehouse": {
            "path": str(wh),
            "landing_dir": str(tmp_path / "landing"),
            "reports_dir": str(tmp_path / "reports"),
        },
        "gateways": [{"name": "main", "dialect": "files", "path": str(tmp_path)}],
        "app": {"database_url_env": "RECON_TEST_APP_DB", "jobs_query": "q", "assets_query": "q"},
    }
    (tmp_path / "recon.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setenv("RECON_TEST_APP_DB", "sqlite://")
    recon = ReconResource(config_path=str(tmp_path / "recon.yaml"), as_of=as_of.isoformat())
    instance = dg.DagsterInstance.ephemeral()

    def logged(run_id: str) -> str:  # every line the run logged, Dagster's and recon's
        return "\n".join(e.user_message for e in instance.all_logs(run_id))

    with Receiver([200]) as r:
        monkeypatch.setenv(alerts.WEBHOOK_ENV, r.url)
        result = run_checks(recon, alerts.alert_webhook(), instance=instance, **range_tags(LAST, LAST))
        assert result.success
        assert len(r.requests) == 1  # one post for the run, not one per failing check
        body = r.requests[0]["body"]
    assert body["run_id"] == result.run_id and body["money_at_risk_usd"] == 12.5 and body["findings"] == 1
    assert "money_at_risk" in [c["check"] for c in body["failing_checks"]]
    assert body["report_path"].endswith(f"{LAST.isoformat()}/report.html")
    assert "delivered to http://127.0.0.1" in logged(result.run_id) and "s3cr3t" not in logged(result.run_id)
    with Receiver([503]) as dead:
        monkeypatch.setenv(alerts.WEBHOOK_ENV, dead.url)
        result = run_checks(recon, alerts.alert_webhook(), instance=instance, **range_tags(LAST, LAST))
        assert result.success
        assert len(dead.requests) == 2  # one try, one retry on the 5xx, then a warning
    assert "HTTP 503; the run is not affected" in logged(result.run_id) and "s3cr3t" not in logged(
        result.run_id
    )
    with Receiver([200]) as quiet:
        monkeypatch.setenv(alerts.WEBHOOK_ENV, quiet.url)
        passing = ReconResource(config_path=str(tmp_path / "recon.yaml"), as_of=as_of.isoformat())
        cfg["warehouse"]["path"] = str(
            create_marts(tmp_path / "ok.duckdb", {"fct_mismatch_history": history})
        )
        (tmp_path / "recon.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        ok = run_checks(passing, alerts.alert_webhook(), **range_tags(LAST, LAST))
        assert ok.success and all(e.passed for e in ok.get_asset_check_evaluations())
        assert quiet.requests == []  # a run whose checks all pass posts nothing


def test_the_webhook_resource_is_optional_and_reads_the_env_var_at_run_time(monkeypatch) -> None:
    monkeypatch.delenv(alerts.WEBHOOK_ENV, raising=False)
    assert alerts.alert_webhook().url == ""
    monkeypatch.setenv(alerts.WEBHOOK_ENV, "https://hooks.example.test/T/B/secret")
    hook = alerts.alert_webhook()
    assert isinstance(hook, dg.ConfigurableResource)
    assert "secret" not in repr(hook)  # an EnvVar: the value is resolved when a run starts


def test_quarantined_rows_reach_the_webhook_summary(tmp_path):
    """pandera quarantines are part of what a run's webhook reports, with record, day and count."""
    from datetime import date

    import pandas as pd

    from orchestration.alerts import build_payload
    from orchestration.assets.operator_checks import quarantine_outcome
    from orchestration.landing import write_quarantine

    day = date(2026, 11, 20)
    assert quarantine_outcome(tmp_path, [day]).passed
    write_quarantine(
        pd.DataFrame({"job_id": ["j1", "j2"], "quarantine_reason": ["status isin", "status isin"]}),
        tmp_path,
        "app_jobs",
        day,
    )
    outcome = quarantine_outcome(tmp_path, [day])
    assert not outcome.passed
    payload = build_payload([outcome], day, day)
    (check,) = payload["failing_checks"]
    assert check["check"] == "schema_quarantine"
    assert "app_jobs 2026-11-20: 2 row(s) quarantined" in str(check)
