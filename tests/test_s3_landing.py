"""Landing on object storage (issue 24 item 4): `landing_dir: s3://...` against moto's S3 server on a
loopback port (real HTTP, real s3fs, real conditional PUTs; no AWS). A real `recon run` against the
sandbox gateway lands batches and manifests in the bucket, dbt builds the marts from them (DuckDB
reads the bucket through s3fs, not httpfs), the findings equal a local-landing run's, a second
extraction appends and overwrites nothing, and `recon trace` reads the stored versions there."""

from __future__ import annotations

import json
import logging
import subprocess
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from recon_pipeline import REPO, marts, pipeline

from orchestration import storage
from orchestration.config import ConfigError, parse_config
from orchestration.evidence import write_new
from orchestration.partitions import first_landed_day

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

BUCKET = "recon-landing"
PREFIX = "team-a/landing"
END = date(2026, 11, 20)
DAYS = 2
JOBS_PER_DAY = 15
# fake credentials for moto; no profile file or instance metadata is ever consulted
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}
EVIDENCE_NAMES = ("batch-", "manifest-", "totals-", "quarantine-0")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on a free loopback port, with a versioned bucket (every overwrite would
    leave a second version behind, so the tests can prove there was none)."""
    mp = pytest.MonkeyPatch()
    for k, v in AWS_ENV.items():
        mp.setenv(k, v)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield endpoint, client
    server.stop()
    mp.undo()


def objects(client, prefix: str = PREFIX) -> dict[str, str]:
    """Key -> ETag of every current object under `prefix`."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return out


def versions(client, prefix: str = PREFIX) -> dict[str, int]:
    """Key -> how many versions the bucket holds of it."""
    out: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=prefix):
        for v in page.get("Versions", []):
            out[v["Key"]] = out.get(v["Key"], 0) + 1
    return out


def _cfg(landing: object, **more) -> dict:
    data = yaml.safe_load((REPO / "recon.example.yaml").read_text())
    data["warehouse"] = {**data["warehouse"], "landing_dir": landing, **more}
    return data


def test_config_takes_an_s3_url_with_an_endpoint_and_refuses_credentials_or_other_schemes(tmp_path) -> None:
    cfg = parse_config(
        _cfg("s3://my-bucket/recon/landing/", landing_endpoint_url="http://127.0.0.1:9000"), base_dir=tmp_path
    )
    root = cfg.warehouse.landing_dir
    assert storage.is_remote(root) and str(root) == "s3://my-bucket/recon/landing"
    assert root.storage_options["client_kwargs"] == {"endpoint_url": "http://127.0.0.1:9000"}
    assert parse_config(_cfg("landing"), base_dir=tmp_path).warehouse.landing_dir == tmp_path / "landing"
    for landing, more, words in [
        ("s3://AKIA:secret@bucket/x", {}, "credentials do not belong in the URL"),
        ("gs://bucket/x", {}, "only s3:// object storage"),
        ("s3://Bad_Bucket/x", {}, "no s3://bucket"),
        ("landing", {"landing_endpoint_url": "http://127.0.0.1:9000"}, "needs an s3:// landing_dir"),
        ("s3://bucket/x", {"landing_endpoint_url": "http://u:p@127.0.0.1:9000"}, "credentials do not belong"),
        ("s3://bucket/x", {"landing_endpoint_url": "ftp://host"}, "no http(s) URL"),
    ]:
        with pytest.raises(ConfigError, match="warehouse") as err:
            parse_config(_cfg(landing, **more), base_dir=tmp_path)
        assert words in str(err.value)


def test_a_taken_name_is_never_overwritten_on_s3(s3) -> None:
    """The conditional PUT (If-None-Match: *): the second writer of a name gets FileExistsError and
    the object keeps its first content; the bucket holds one version of it."""
    endpoint, client = s3
    root = storage.root(f"s3://{BUCKET}/unit", endpoint)
    target = root / "usage_records" / "date=2026-11-19" / "batch-000001.parquet"
    write_new(pa.table({"a": [1]}), target)
    before = objects(client, "unit/")
    with pytest.raises(FileExistsError):
        write_new(pa.table({"a": [2]}), target)
    assert objects(client, "unit/") == before
    assert versions(client, "unit/") == {"unit/usage_records/date=2026-11-19/batch-000001.parquet": 1}
    assert storage.read_table(target).column("a").to_pylist() == [1]
    assert [p.name for p in storage.files(target.parent)] == ["batch-000001.parquet"]
    assert storage.files(root / "nothing" / "here") == []
    assert first_landed_day(root) == date(2026, 11, 19)  # the partitions' start without a start_date


def _run(env, cmd: list[str]) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


@pytest.mark.slow
def test_recon_run_lands_on_s3_builds_the_same_findings_appends_only_and_traces(s3, tmp_path) -> None:
    endpoint, client = s3
    with pipeline(tmp_path / "local", end=END, days=DAYS, jobs_per_day=JOBS_PER_DAY) as local:
        _run(local.env, local.cmd())
        local_marts = marts(local.data_dir)
    with pipeline(tmp_path / "remote", end=END, days=DAYS, jobs_per_day=JOBS_PER_DAY) as e:
        data = yaml.safe_load(e.config_path.read_text())
        data["warehouse"]["landing_dir"] = f"s3://{BUCKET}/{PREFIX}"
        data["warehouse"]["landing_endpoint_url"] = endpoint
        e.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        env = {**e.env, **AWS_ENV}
        _run(env, e.cmd())
        first = objects(client)
        names = [k.removeprefix(PREFIX + "/") for k in first]
        for record in ("usage_records", "gateway_tasks"):
            assert any(n.startswith(f"{record}/date=") and "/batch-" in n for n in names), names
            assert any(n.startswith(f"{record}/date=") and "/manifest-" in n for n in names), names
        assert any(n.startswith("app_jobs/date=") for n in names) and any(
            n.startswith("gateway_totals/") for n in names
        )
        assert not (e.data_dir / "landing").exists()  # nothing went to a local folder instead
        assert marts(e.data_dir) == local_marts  # dbt read the bucket: the same findings as a local landing
        assert any(local_marts["fct_reconciliation_mismatches"])

        _run(env, e.cmd())  # a second extraction of the same days
        second = objects(client)
        assert {k: second.get(k) for k in first} == first  # every object is still there, unchanged
        added = [k for k in second if k not in first]
        assert added and all("/manifest-" in k for k in added), added  # the same answers: only manifests
        assert {
            k: n
            for k, n in versions(client).items()
            if k.rsplit("/", 1)[-1].startswith(EVIDENCE_NAMES) and n != 1
        } == {}
        assert marts(e.data_dir) == local_marts

        wh = e.data_dir / "warehouse.duckdb"
        import duckdb

        with duckdb.connect(str(wh), read_only=True) as con:
            job_id, request_id = con.execute(
                "select job_id, request_id from int_usage_records_linked where job_id is not null "
                "and request_id is not null order by job_id limit 1"
            ).fetchone()
        out = _run(
            env, [*e.cmd()[:3], "trace", "--config", str(e.config_path), "--format", "json", request_id]
        )
        doc = json.loads(out.stdout)
        assert doc["job"]["job_id"] == job_id and doc["usage_rows"]
        for u in doc["usage_rows"]:
            assert u["versions"] and u["versions"][0]["seq"] >= 1 and u["versions"][0]["change"] == "new", u


def test_storage_paths_stay_plain_paths_locally(tmp_path: Path) -> None:
    """A local landing is a `pathlib.Path` and keeps the temp + fsync + hard-link writes."""
    root = storage.root(tmp_path)
    assert isinstance(root, Path) and not storage.is_remote(root)
    target = root / "x" / "batch-000001.parquet"
    write_new(pa.table({"a": [1]}), target)
    with pytest.raises(FileExistsError):
        write_new(pa.table({"a": [2]}), target)
    assert storage.read_table(target).column("a").to_pylist() == [1]
    assert [p.name for p in target.parent.iterdir()] == ["batch-000001.parquet"]  # no temp file left


def test_an_s3_landing_without_the_s3_extra_is_one_config_line(tmp_path, monkeypatch) -> None:
    real = storage.importlib.util.find_spec
    monkeypatch.setattr(
        storage.importlib.util, "find_spec", lambda name, *a: None if name == "s3fs" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"warehouse.landing_dir: an s3:// landing needs the s3 extra"):
        parse_config(_cfg("s3://bucket/x"), base_dir=tmp_path)


def test_preflight_names_a_missing_bucket_in_one_line(s3, tmp_path) -> None:
    from orchestration.preflight import check_landing

    endpoint, _ = s3
    check_landing(
        parse_config(_cfg(f"s3://{BUCKET}/{PREFIX}", landing_endpoint_url=endpoint), base_dir=tmp_path)
    )
    check_landing(parse_config(_cfg("landing"), base_dir=tmp_path))  # a local landing: nothing to check
    with pytest.raises(ConfigError) as err:
        check_landing(
            parse_config(_cfg("s3://no-such-bucket/x", landing_endpoint_url=endpoint), base_dir=tmp_path)
        )
    assert (
        str(err.value)
        == "warehouse.landing_dir: s3://no-such-bucket/x: bucket 'no-such-bucket' does not exist"
    )
