"""`recon trace` on the demo scenario, asserted field by field against the warehouse it reads."""

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.demo import demo_environment
from orchestration.runner import run_range
from orchestration.trace import (
    Trace,
    TraceAmbiguous,
    TraceNotFound,
    build_trace,
    public_url,
    stored_versions,
    to_json,
    to_packet,
    to_text,
)

REPO = Path(__file__).resolve().parents[1]
RECON = [sys.executable, "-m", "orchestration.cli"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo")
    with demo_environment(data, days=7, seed=7) as setup:
        outcome = run_range(
            setup.config_path, setup.first, setup.last, setup.as_of, full_refresh=True, quiet=True
        )
    return setup, Path(outcome.cfg.warehouse.path)


def q(wh: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _job_with_finding_and_task(wh: Path) -> tuple:
    return q(
        wh,
        "select j.job_id, j.request_id, j.task_id from stg_raw__app_jobs j "
        "join fct_reconciliation_mismatches m using (job_id) "
        "where j.task_id is not null and j.request_id is not null order by j.job_id limit 1",
    )[0]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["job_id", "request_id", "task_id"])
def test_any_id_of_a_job_traces_that_job_field_by_field(demo, which: str) -> None:
    _, wh = demo
    job_id, request_id, task_id = _job_with_finding_and_task(wh)
    t = build_trace(wh, {"job_id": job_id, "request_id": request_id, "task_id": task_id}[which])
    assert t.job["job_id"] == job_id and t.job["request_id"] == request_id and t.job["task_id"] == task_id
    assert f"app_jobs.{which}" in t.matched_on
    usage = q(
        wh,
        "select record_key, link_method, version_seq, is_gone, cost_usd from int_usage_records_linked "
        "where job_id = ? order by record_key",
        [job_id],
    )
    assert (
        sorted(
            (u["record_key"], u["link_method"], u["version_seq"], u["is_gone"], u["cost_usd"])
            for u in t.usage_rows
        )
        == usage
    )
    assert all(u["link_method"] for u in t.usage_rows)
    findings = q(
        wh,
        "select finding_id, mismatch_type, direction, amount_usd from fct_reconciliation_mismatches "
        "where job_id = ? order by finding_id",
        [job_id],
    )
    assert (
        sorted((f["finding_id"], f["mismatch_type"], f["direction"], f["amount_usd"]) for f in t.findings)
        == findings
        and findings
    )
    net = q(
        wh, "select coalesce(sum(net_cost_usd), 0) from int_task_ledgers_settled where job_id = ?", [job_id]
    )[0][0]
    assert t.ledger_total["net_cost_usd"] == Decimal(str(net))
    settlement = q(
        wh, "select settlement_status, net_cost_usd from fct_settlements where job_id = ?", [job_id]
    )
    assert (t.settlement and (t.settlement["settlement_status"], t.settlement["net_cost_usd"])) == (
        settlement[0] if settlement else None
    )
    assert [x["task_id"] for x in t.tasks] == [
        r[0] for r in q(wh, "select task_id from stg_raw__gateway_tasks where task_id = ?", [task_id])
    ]


@pytest.mark.slow
def test_a_billing_transaction_id_traces_its_job(demo) -> None:
    _, wh = demo
    btx, job_id = q(
        wh,
        "select billing_transaction_id, job_id from int_usage_records_linked "
        "where billing_transaction_id is not null and job_id is not null order by 1 limit 1",
    )[0]
    t = build_trace(wh, btx)
    assert t.job["job_id"] == job_id
    assert btx in {u["billing_transaction_id"] for u in t.usage_rows}
    assert "billing_transaction_id" in to_packet(t) and btx in to_packet(t)


@pytest.mark.slow
def test_json_has_the_documented_shape(demo) -> None:
    _, wh = demo
    job_id = _job_with_finding_and_task(wh)[0]
    doc = json.loads(to_json(build_trace(wh, job_id)))
    assert list(doc) == [
        "id",
        "matched_on",
        "job",
        "usage_rows",
        "tasks",
        "assets",
        "ledger",
        "settlement",
        "findings",
    ]
    assert doc["job"]["job_id"] == job_id
    assert {"tasks", "charged_usd", "credited_usd", "net_cost_usd"} <= set(doc["ledger"])
    assert all({"record_key", "link_method", "version_seq", "is_gone"} <= set(u) for u in doc["usage_rows"])
    assert all({"mismatch_type", "severity", "direction", "amount_usd"} <= set(f) for f in doc["findings"])


@pytest.mark.slow
def test_packet_holds_only_allow_listed_fields(demo) -> None:
    _, wh = demo
    for (job_id,) in q(
        wh, "select distinct job_id from fct_reconciliation_mismatches where job_id is not null"
    ):
        t = build_trace(wh, job_id)
        packet = to_packet(t)
        fields = [line.split("|")[1].strip() for line in packet.splitlines() if line.startswith("| ")][1:]
        assert set(fields) <= {
            "request_id",
            "task_id",
            "billing_transaction_id",
            "gateway",
            "endpoint",
            "model",
            "created_at",
            "task status",
            "task submitted_at / finished_at",
            "status codes",
            "public error",
            "expected cost (USD)",
            "actual net charge (USD)",
            "poll_url",
        }, fields
        for secret_field in ("user_id", "token_name", "group_name"):
            assert secret_field not in packet and secret_field not in to_text(t)


@pytest.mark.slow
def test_unknown_and_ambiguous_ids_exit_non_zero(demo, tmp_path) -> None:
    setup, wh = demo
    with pytest.raises(TraceNotFound):
        build_trace(wh, "no-such-id")
    p = subprocess.run(
        [*RECON, "trace", "--config", str(setup.config_path), "no-such-id"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 1 and "no-such-id" in p.stderr and p.stdout == ""
    # two jobs sharing one id: copy the warehouse and give a second job the first one's request id
    copy = tmp_path / "wh.duckdb"
    copy.write_bytes(wh.read_bytes())
    (a, ra), (b, _) = q(
        copy,
        "select job_id, request_id from stg_raw__app_jobs where request_id is not null "
        "order by job_id limit 2",
    )
    con = duckdb.connect(str(copy))
    try:
        sql = con.execute("select sql from duckdb_views() where view_name = 'stg_raw__app_jobs'").fetchone()
        con.execute("create table shared_jobs as select * from stg_raw__app_jobs")
        con.execute("update shared_jobs set request_id = ? where job_id = ?", [ra, b])
        con.execute("drop view stg_raw__app_jobs" if sql else "drop table stg_raw__app_jobs")
        con.execute("alter table shared_jobs rename to stg_raw__app_jobs")
    finally:
        con.close()
    with pytest.raises(TraceAmbiguous) as exc:
        build_trace(copy, ra)
    assert exc.value.matches == sorted([a, b])


@pytest.mark.slow
def test_cli_formats(demo) -> None:
    setup, wh = demo
    job_id = _job_with_finding_and_task(wh)[0]
    out = {}
    for fmt in ("text", "json", "packet"):
        p = subprocess.run(
            [*RECON, "trace", "--config", str(setup.config_path), job_id, "--format", fmt],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert p.returncode == 0, p.stderr
        out[fmt] = p.stdout
    assert json.loads(out["json"])["job"]["job_id"] == job_id
    assert out["packet"].startswith("## Support packet") and job_id in out["text"]


@pytest.mark.slow
def test_a_warehouse_held_by_a_writer_is_one_line(demo, tmp_path) -> None:
    import yaml

    setup, wh = demo
    copy = tmp_path / "wh.duckdb"
    copy.write_bytes(wh.read_bytes())
    cfg = yaml.safe_load(setup.config_path.read_text())
    cfg["warehouse"]["path"] = str(copy)
    cfg_path = tmp_path / "recon.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    writer = duckdb.connect(str(copy))  # a run's dbt holds the file like this
    try:
        p = subprocess.run(
            [*RECON, "trace", "--config", str(cfg_path), "x"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        writer.close()
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.startswith(f"recon: trace: cannot read the warehouse {copy}")


@pytest.mark.slow
def test_every_usage_row_carries_its_stored_versions_from_the_landing(demo) -> None:
    setup, wh = demo
    landing = setup.config_path.parent / "landing"
    job_id = _job_with_finding_and_task(wh)[0]
    t = build_trace(wh, job_id, landing)
    assert t.usage_rows and set(t.versions) == {u["record_key"] for u in t.usage_rows}
    for u in t.usage_rows:
        versions = t.versions[u["record_key"]]
        assert versions, u["record_key"]
        # the newest stored version is the one staging kept, and says whether the gateway still serves it
        assert versions[-1]["seq"] == u["version_seq"]
        assert (versions[-1]["change"] == "gone") == bool(u["is_gone"])
        if u["cost_usd"] is not None:
            assert float(versions[-1]["cost_usd"]) == pytest.approx(float(u["cost_usd"]))
    doc = json.loads(to_json(t))
    assert all(isinstance(u["versions"], list) and u["versions"] for u in doc["usage_rows"])
    assert "stored version 1 (new)" in to_text(t)


def test_stored_versions_list_new_gone_back_and_changed_in_order(tmp_path) -> None:
    """A real landing written by the evidence writer: a row served, missed (gone), served again
    (back), and a TokenLab record that settled (changed); trace lists each version of each."""
    from datetime import UTC, date, datetime

    from orchestration.evidence import GatewayRead, land_extraction, read_versions
    from orchestration.sandbox.scenario import build_scenario

    day = date(2026, 11, 20)
    usage = build_scenario(seed=5, end=day, days=1, jobs_per_day=30).canonical()["usage_records"]
    reads = [GatewayRead(g, extracted=True, complete=True, whole_day=True) for g in ("main", "lab")]
    at = [datetime(2026, 11, 21, h, tzinfo=UTC) for h in (6, 7, 8, 9)]
    land_extraction(usage, tmp_path, "usage_records", day, reads, at[0])
    lab_only = usage[usage["gateway"] == "lab"]
    land_extraction(lab_only, tmp_path, "usage_records", day, reads, at[1])
    land_extraction(usage, tmp_path, "usage_records", day, reads, at[2])
    settled = usage.copy()
    lab_key = settled.loc[settled["gateway"] == "lab", "record_key"].iloc[0]
    settled.loc[settled["record_key"] == lab_key, "cost_usd"] = 0.5
    land_extraction(settled, tmp_path, "usage_records", day, reads, at[3])
    main = usage[usage["gateway"] == "main"].iloc[0]
    rows = [
        {"record_key": main["record_key"], "gateway": "main", "created_at": main["created_at"]},
        {
            "record_key": lab_key,
            "gateway": "lab",
            "created_at": usage.loc[usage["record_key"] == lab_key, "created_at"].iloc[0],
        },
    ]
    got = stored_versions(tmp_path, rows)
    assert [(v["seq"], v["change"]) for v in got[main["record_key"]]] == [
        (1, "new"),
        (2, "gone"),
        (3, "back"),
    ]
    assert got[main["record_key"]][1]["gone_at"] == at[1]
    assert [(v["seq"], v["change"]) for v in got[lab_key]] == [(1, "new"), (4, "changed")]
    assert float(got[lab_key][-1]["cost_usd"]) == 0.5
    # field by field against the landing's own reader
    versions = read_versions(tmp_path, "usage_records", day)
    mine = versions[versions["record_key"] == main["record_key"]].sort_values("_seq")
    assert [
        (int(s), c, e.to_pydatetime())
        for s, c, e in zip(mine["_seq"], mine["_change"], mine["_extracted_at"], strict=False)
    ] == [(v["seq"], v["change"], v["extracted_at"]) for v in got[main["record_key"]]]
    assert stored_versions(tmp_path / "nowhere", rows) == {r["record_key"]: [] for r in rows}


def test_the_packet_carries_a_poll_url_without_its_query() -> None:
    task = {
        "gateway": "lab",
        "task_id": "tsk_1",
        "status": "running",
        "submitted_at": None,
        "finished_at": None,
        "poll_url": "https://user:pw@gw.example.com:8443/v1/tasks/tsk_1?key=sk-SECRET#x",
    }
    packet = to_packet(Trace("tsk_1", ["gateway_tasks.task_id"], None, [], [task]))
    assert "| poll_url | https://gw.example.com:8443/v1/tasks/tsk_1 |" in packet
    assert "sk-SECRET" not in packet and "pw@" not in packet
    assert "poll_url" not in to_packet(Trace("tsk_1", [], None, [], [{**task, "poll_url": None}]))
    assert public_url("/v1/tasks/tsk_1?x=1") == "/v1/tasks/tsk_1"
