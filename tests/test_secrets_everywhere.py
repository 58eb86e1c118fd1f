"""No secret, prompt or personal value reaches any file the product writes or any line it prints.

The whole pipeline, for real: the sandbox gateway serves rows carrying a prompt marker in
`content`, an upstream URL in `other.admin_info`, an IP, a channel name and a user name; the
gateway token, the management token and the API key (sent as `key=` in the URL: the opt-in
`/api/log/token` endpoint) are planted values; the app database holds raw user ids; the alert
webhook URL carries a secret path. Then, each a child process under a temporary DAGSTER_HOME:

1. `recon run` (Dagster in-process run persisted to the instance's SQLite storage, dbt, report,
   operator checks, the webhook attempt),
2. `recon report`,
3. `dagster asset materialize` of the whole job (multiprocess executor: compute logs captured),
4. a `recon run` that fails: a wrong API key, so the exception path is scanned too.

Scanned: every captured stdout/stderr line; every file under the data dir, DAGSTER_HOME, the dbt
log dir and the dbt target dirs these runs created — as bytes, and decoded where bytes hide text
(Parquet and DuckDB compress strings: their rows are read back and dumped; SQLite tables are
dumped row by row; gzip is opened).
"""

import contextlib
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from support.net import closed_port

from orchestration.demo import demo_config
from orchestration.sandbox import SANDBOX_USER_ID, newapi_routes, tokenlab_routes
from orchestration.sandbox.app_db import write_app_db
from orchestration.sandbox.scenario import build_scenario
from orchestration.sandbox.server import serve

REPO = Path(__file__).resolve().parents[1]
DBT_TARGET = REPO / "dbt_project" / "target"

TOKEN = "gwtok-5ecret-91b7e2"  # new-api system access token (Authorization header)
API_KEY = "sk-5ecret-key-44d0c9"  # new-api API key, sent as key= in the URL
LAB_TOKEN = "mt-5ecret-lab-7a2f1c"  # TokenLab management token
LAB_KEY = "sk-5ecret-lab-key-3e91d0"  # TokenLab API key polling /v1/tasks/{id}
WRONG_KEY = "sk-5ecret-wrong-0f3a5b"  # the failing run's key (an auth error must not echo it)
PROMPT = "PROMPT-MARKER-c41d9e"  # user prompt text in `content` / TokenLab `prompt`
UPSTREAM = "upstream-5ecret-b3e8.invalid"  # upstream host in other.admin_info
IP = "198.18.91.237"
CHANNEL = "channel-5ecret-6d0e"
USERNAME = "username-5ecret-1c7b"
RAW_USER = "raw-user-5ecret-d2a1"  # prefix of every raw app user id
WEBHOOK_SECRET = "hooks-5ecret-e9c3"  # the secret path of the alert webhook URL
SECRETS = [
    TOKEN,
    API_KEY,
    LAB_TOKEN,
    LAB_KEY,
    WRONG_KEY,
    PROMPT,
    UPSTREAM,
    IP,
    CHANNEL,
    USERNAME,
    RAW_USER,
    WEBHOOK_SECRET,
]


def planted_scenario():
    sc = build_scenario(seed=13, end=date(2026, 11, 20), days=2, jobs_per_day=10)
    for r in sc.newapi_logs:
        r["content"] = f"{PROMPT} draw a cat on the moon"
        r["ip"] = IP
        r["channel_name"] = CHANNEL
        r["username"] = USERNAME
        other = json.loads(r["other"]) if r.get("other") else {}
        other["admin_info"] = {"upstream_url": f"https://{UPSTREAM}/v1/images", "use_channel": [CHANNEL]}
        other["upstream_model_name"] = f"https://{UPSTREAM}/m"
        r["other"] = json.dumps(other)
    for rec in sc.tokenlab_usage:
        rec["client_ip"] = IP
        rec["upstream"] = {"endpoint": f"https://{UPSTREAM}/v1", "provider_request_id": CHANNEL}
        rec["prompt"] = PROMPT
    for t in sc.tokenlab_tasks.values():
        t["result"] = {"outputs": [{"url": f"https://{UPSTREAM}/out.png"}]}
        t["prompt"] = PROMPT
    for i, j in enumerate(sc.app_jobs):
        j["account_ref"] = f"{RAW_USER}-{i % 7}@example.com"
    return sc


# --------------------------------------------------------------------------------------------------
# reading everything a run wrote


def _dump_sqlite(path: Path) -> str:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = []
        for (name,) in con.execute("select name from sqlite_master where type = 'table'"):
            for row in con.execute(f'select * from "{name}"'):
                for v in row:
                    if isinstance(v, bytes):
                        with contextlib.suppress(OSError):
                            v = gzip.decompress(v) if v[:2] == b"\x1f\x8b" else v
                        v = v.decode("utf-8", "replace")
                    out.append(str(v))
        return "\n".join(out)
    finally:
        con.close()


def _dump_duckdb(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = []
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        for schema, name in tables:
            try:
                rows = con.execute(f'select * from "{schema}"."{name}"').fetchall()
            except duckdb.Error as exc:  # a view over landing files that moved: say so, don't hide it
                out.append(f"<unreadable {schema}.{name}: {exc}>")
                continue
            out.extend(repr(r) for r in rows)
        return "\n".join(out)
    finally:
        con.close()


def texts_of(path: Path) -> list[str]:
    """The file's bytes as text, plus its decoded content where the bytes could hide a string."""
    raw = path.read_bytes()
    texts = [raw.decode("utf-8", "replace"), raw.decode("utf-16-le", "replace")]
    if raw[:2] == b"\x1f\x8b":
        texts.append(gzip.decompress(raw).decode("utf-8", "replace"))
    if raw[:4] == b"PAR1":
        t = pq.read_table(path)
        texts.append(json.dumps(t.to_pylist(), default=str) + str(t.schema))
    if raw[:16] == b"SQLite format 3\x00":
        texts.append(_dump_sqlite(path))
    if path.suffix == ".duckdb" and len(raw) > 0:
        texts.append(_dump_duckdb(path))
    return texts


def find_leaks(haystacks: dict[str, list[str]]) -> list[str]:
    return [
        f"{secret!r} in {where}"
        for where, texts in haystacks.items()
        for secret in SECRETS
        if any(secret in t for t in texts)
    ]


# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_secret_in_any_file_written_or_line_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t_start = time.time() - 1
    # the sandbox (in this process) accepts only the planted credentials
    monkeypatch.setattr(newapi_routes, "SANDBOX_TOKEN", TOKEN)
    monkeypatch.setattr(newapi_routes, "SANDBOX_API_KEY", API_KEY)
    monkeypatch.setattr(tokenlab_routes, "TOKENLAB_TOKEN", LAB_TOKEN)
    monkeypatch.setattr(tokenlab_routes, "TOKENLAB_API_KEY", LAB_KEY)
    sc = planted_scenario()
    data, home, dbt_logs, app_dir = (tmp_path / n for n in ("data", "dagster_home", "dbt_logs", "app"))
    for d in (data, home, dbt_logs, app_dir):
        d.mkdir()
    shutil.copy(REPO / "orchestration" / "dagster_home.yaml", home / "dagster.yaml")
    jobs_q, assets_q = write_app_db(sc, app_dir / "app.sqlite")  # input, outside everything scanned
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "RECON_"))}
    env.update(
        {
            "GATEWAY_TOKEN": TOKEN,
            "GATEWAY_USER_ID": SANDBOX_USER_ID,
            "GATEWAY_KEY": API_KEY,
            "TOKENLAB_TOKEN": LAB_TOKEN,
            "TOKENLAB_API_KEY": LAB_KEY,
            "APP_DATABASE_URL": f"sqlite:///{app_dir / 'app.sqlite'}",
            "RECON_PSEUDONYM_KEY": "pseudonym-key-for-this-test",
            "RECON_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{closed_port()}/{WEBHOOK_SECRET}/x",
            "DAGSTER_HOME": str(home),
            "DBT_LOG_PATH": str(dbt_logs),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
    )
    captured: dict[str, list[str]] = {}

    def run(name: str, cmd: list[str], extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        p = subprocess.run(
            cmd,
            cwd=REPO,
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        captured[f"{name} stdout"] = [p.stdout]
        captured[f"{name} stderr"] = [p.stderr]
        return p

    with serve(sc) as url:
        cfg = demo_config(str(url), data, jobs_q, assets_q)
        cfg["gateways"][0].update({"log_endpoint": "token", "key_env": "GATEWAY_KEY"})
        cfg_path = data / "recon.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        recon = [sys.executable, "-m", "orchestration.cli"]
        span = ["--start", str(sc.start), "--end", str(sc.end), "--as-of", sc.as_of.isoformat()]

        p = run("recon run", [*recon, "run", "--config", str(cfg_path), *span])
        assert p.returncode == 0, p.stderr[-3000:]
        assert "records landed" in p.stdout
        p = run(
            "recon report",
            [
                *recon,
                "report",
                "--config",
                str(cfg_path),
                "--date",
                str(sc.end),
                "--as-of",
                sc.as_of.isoformat(),
            ],
        )
        assert p.returncode == 0, p.stderr[-3000:]
        # every job's trail in every format, and one through the CLI, are scanned with the rest
        from orchestration.trace import build_trace, to_json, to_packet, to_text

        wh = cfg["warehouse"]["path"]
        con = duckdb.connect(wh, read_only=True)
        job_ids = [r[0] for r in con.execute("select job_id from stg_raw__app_jobs order by 1").fetchall()]
        con.close()
        assert len(job_ids) >= 10
        for i, job_id in enumerate(job_ids):
            t = build_trace(wh, job_id, cfg["warehouse"]["landing_dir"])  # stored versions too
            captured[f"trace {i}"] = [to_text(t), to_json(t), to_packet(t)]
        p = run("recon trace", [*recon, "trace", "--config", str(cfg_path), "--format", "packet", job_ids[0]])
        assert p.returncode == 0 and "Support packet" in p.stdout, p.stderr[-3000:]
        p = run(
            "dagster materialize",
            [
                str(Path(sys.executable).parent / "dagster"),
                "asset",
                "materialize",
                "-m",
                "orchestration.definitions",
                "--select",
                "*",
                "--partition",
                str(sc.end),
            ],
            {"RECON_CONFIG": str(cfg_path)},
        )
        assert p.returncode == 0, p.stderr[-3000:]
        p = run(
            "failing recon run", [*recon, "run", "--config", str(cfg_path), *span], {"GATEWAY_KEY": WRONG_KEY}
        )
        # the preflight's one request (issue 19) refuses the key before extraction: exit 2, one line
        # naming the gateway, the endpoint and the variable to fix (and never the key itself)
        assert p.returncode == 2, p.stderr[-3000:]
        line = p.stderr.strip().splitlines()[-1]
        assert line.startswith("recon: ") and "gateways.main: GET " in line and "/api/log/token" in line, line
        assert "GATEWAY_KEY (key_env)" in line
        assert WRONG_KEY not in p.stderr + p.stdout

    # what the runs wrote
    haystacks: dict[str, list[str]] = dict(captured)
    roots = [data, home, dbt_logs]
    roots += [d for d in DBT_TARGET.iterdir() if d.is_dir() and d.stat().st_mtime >= t_start]
    files = [f for root in roots for f in root.rglob("*") if f.is_file()]
    for f in files:
        haystacks[str(f)] = texts_of(f)

    # the scan must have seen each kind of output, or it proves nothing
    names = [f.name for f in files]
    assert sum(n.endswith(".parquet") for n in names) >= 8  # 4 records x 2 days
    assert any(n == "warehouse.duckdb" for n in names)
    assert any(n == "report.html" for n in names) and any(n.startswith("mismatches_") for n in names)
    assert any(f.parent.name == "trails" and f.suffix == ".html" for f in files), (
        "the per-finding trail pages"
    )
    assert any(f.suffix == ".db" and home in f.parents for f in files), "Dagster's SQLite event log"
    assert any(
        "compute_logs" in str(f) or f.suffix in (".out", ".err", ".complete")
        for f in files
        if home in f.parents
    ), "compute logs of the multiprocess run"
    assert any(n == "dbt.log" for n in names) and any(n == "run_results.json" for n in names)
    assert any(
        home in f.parents and "ASSET_MATERIALIZATION" in " ".join(texts_of(f))
        for f in files
        if f.suffix == ".db"
    ), "the event log holds the runs' events"
    landed = " ".join(t for f in files if f.suffix == ".parquet" for t in texts_of(f)[2:])
    assert "u_" in landed and "prod-app" in landed, "landed rows were read back"

    # positive controls: the scanner finds a planted value in each container it decodes
    control = tmp_path / "control"
    control.mkdir()
    pq.write_table(pa.table({"c": [PROMPT] * 500}), control / "p.parquet", compression="zstd")
    con = duckdb.connect(str(control / "w.duckdb"))
    con.execute(f"create table t as select '{TOKEN}' || i::varchar as c from range(5000) r(i)")
    con.close()
    assert find_leaks({"app db": texts_of(app_dir / "app.sqlite")}) == [f"{RAW_USER!r} in app db"]
    assert find_leaks({"p": texts_of(control / "p.parquet")}) == [f"{PROMPT!r} in p"]
    assert find_leaks({"w": texts_of(control / "w.duckdb")}) == [f"{TOKEN!r} in w"]

    leaks = find_leaks(haystacks)
    assert not leaks, "\n".join(leaks[:40])
    assert len(haystacks) > 30
