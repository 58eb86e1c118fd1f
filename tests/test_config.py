"""Config errors name the key; secrets are checked before extraction; paths resolve to the file."""

from pathlib import Path

import pytest
import yaml

from orchestration.config import ConfigError, check_env, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "recon.example.yaml"


def _base() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "recon.yaml"
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def test_example_config_loads_with_every_key():
    cfg = load_config(EXAMPLE)
    assert [g.dialect for g in cfg.gateways] == ["newapi", "tokenlab"]
    assert cfg.reconciliation.lookback_days == 3
    assert cfg.warehouse.path == EXAMPLE.parent / "data" / "warehouse.duckdb"


def test_unknown_dialect_names_the_key(tmp_path):
    data = _base()
    data["gateways"][0]["dialect"] = "litellm"
    with pytest.raises(ConfigError, match=r"gateways\[0\]\.dialect: unknown dialect 'litellm'"):
        load_config(_write(tmp_path, data))


def test_missing_required_key_for_dialect(tmp_path):
    data = _base()
    del data["gateways"][1]["key_id"]
    with pytest.raises(ConfigError, match=r"gateways\[1\].*tokenlab needs key_id"):
        load_config(_write(tmp_path, data))


def test_unknown_key_is_rejected(tmp_path):
    data = _base()
    data["reconciliation"]["lookback"] = 3
    with pytest.raises(ConfigError, match=r"reconciliation\.lookback: unknown key"):
        load_config(_write(tmp_path, data))


def test_bad_number_names_the_key(tmp_path):
    data = _base()
    data["reconciliation"]["settlement_window_hours"] = "two days"
    with pytest.raises(ConfigError, match=r"reconciliation\.settlement_window_hours"):
        load_config(_write(tmp_path, data))


def test_missing_env_var_names_key_and_variable(tmp_path, monkeypatch):
    cfg = load_config(EXAMPLE)
    env = {"GATEWAY_TOKEN": "x", "GATEWAY_USER_ID": "1", "APP_DATABASE_URL": "sqlite://"}
    with pytest.raises(
        ConfigError, match=r"gateways\[1\]\.token_env: environment variable TOKENLAB_TOKEN is not set"
    ):
        check_env(cfg, env)
    check_env(cfg, {**env, "TOKENLAB_TOKEN": "y"})


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(_write(tmp_path, "gateways: [\n  - name: a\n  bad"))


def test_duplicate_gateway_names(tmp_path):
    data = _base()
    data["gateways"][1]["name"] = "main"
    with pytest.raises(ConfigError, match="repeated: main"):
        parse_config(data)


def test_secrets_are_never_values_in_the_file(tmp_path):
    """A token pasted where an env var name belongs is not read as a token: it's just a (missing) name."""
    cfg = load_config(EXAMPLE)
    assert all(v.isupper() for v in cfg.env_keys().values())


def test_alerts_block_defaults_follow_the_consoles_and_reach_dbt(tmp_path):
    data = _base()
    data.pop("alerts", None)
    cfg = load_config(_write(tmp_path, data))
    a = cfg.alerts
    assert (a.spend_sigma, a.error_rate, a.money_at_risk_usd) == (2.0, 0.10, 10.0)
    v = cfg.dbt_vars()
    assert v["spend_anomaly_sigma"] == 2.0 and v["error_rate_threshold"] == 0.10
    assert v["lookback_days"] == 3  # the reconciliation vars are still there


def test_alerts_block_values_are_read_and_passed_on(tmp_path):
    data = _base()
    data["alerts"] = {
        "spend_sigma": 3,
        "error_rate": 0.2,
        "money_at_risk_usd": 25,
        "errors_401_min": 7,
        "spend_min_history_days": 5,
    }
    cfg = load_config(_write(tmp_path, data))
    assert cfg.alerts.money_at_risk_usd == 25 and cfg.alerts.error_min("401") == 7
    v = cfg.dbt_vars()
    assert (v["spend_anomaly_sigma"], v["error_rate_threshold"], v["spend_anomaly_min_history_days"]) == (
        3,
        0.2,
        5,
    )


def test_alerts_unknown_key_is_named(tmp_path):
    data = _base()
    data["alerts"] = {"spend_sigmaa": 2}
    with pytest.raises(ConfigError, match=r"alerts\.spend_sigmaa: unknown key"):
        load_config(_write(tmp_path, data))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("error_rate", "ten percent"),
        ("error_rate", 1.5),
        ("errors_402_min", 0),
        ("money_at_risk_usd", [1]),
        ("error_rate_overall", 0),
        ("request_tokens_sigma", "high"),
        ("request_tokens_max", ["gpt-4o"]),
        ("request_tokens_min_history", 1),
        ("gateway_totals_tolerance_quota", -1),
    ],
)
def test_alerts_wrong_type_or_range_names_the_key(tmp_path, key, value):
    data = _base()
    data["alerts"] = {key: value}
    with pytest.raises(ConfigError, match=rf"alerts\.{key}:"):
        load_config(_write(tmp_path, data))


def test_alerts_inconsistent_pair_is_an_error(tmp_path):
    data = _base()
    data["alerts"] = {"stuck_tasks_warn": 5, "stuck_tasks_error": 2}
    with pytest.raises(ConfigError, match=r"alerts: stuck_tasks_error must be >= stuck_tasks_warn"):
        load_config(_write(tmp_path, data))


def test_dbt_project_var_defaults_match_the_alerts_defaults():
    """A dbt run by hand (no --vars) applies the same thresholds as an orchestrated one."""
    from orchestration.config import AlertsConfig

    project = yaml.safe_load((EXAMPLE.parent / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    for name, value in AlertsConfig().dbt_vars().items():
        assert project[name] == value, name


def test_alerts_signal_keys_reach_dbt(tmp_path):
    data = _base()
    data["alerts"] = {
        "request_tokens_sigma": 4,
        "request_tokens_max": {"gpt-4o": 50000},
        "error_rate_overall": 0.2,
        "request_tokens_history_days": 7,
        "request_tokens_min_history": 5,
    }
    v = load_config(_write(tmp_path, data)).dbt_vars()
    assert (v["request_tokens_sigma"], v["request_tokens_max"], v["error_rate_overall_threshold"]) == (
        4,
        {"gpt-4o": 50000},
        0.2,
    )
    assert (v["request_tokens_history_days"], v["request_tokens_min_history"]) == (7, 5)
    d = load_config(_write(tmp_path, {**data, "alerts": {}})).alerts
    assert (d.spend_history_days, d.spend_min_history_days, d.request_tokens_sigma, d.request_tokens_max) == (
        14,
        3,
        3.0,
        {},
    )


def test_alerts_request_tokens_cap_must_be_positive(tmp_path):
    data = _base()
    data["alerts"] = {"request_tokens_max": {"gpt-4o": 0}}
    with pytest.raises(
        ConfigError, match=r"alerts: request_tokens_max: a model name and a cap >= 1 are needed, bad: gpt-4o"
    ):
        load_config(_write(tmp_path, data))


def test_the_example_config_and_the_readme_document_every_alert_key_and_check():
    """recon.example.yaml sets every `alerts:` key at its default; the README's operator-check table
    has a row per check and names every key."""
    from orchestration.assets.operator_checks import CHECKS
    from orchestration.config import AlertsConfig

    example = yaml.safe_load(EXAMPLE.read_text())["alerts"]
    defaults = AlertsConfig().model_dump()
    assert example == defaults
    readme = (EXAMPLE.parent / "README.md").read_text()
    table = readme.split("### Operator checks", 1)[1].split("\n\n", 1)[0]
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")}
    assert rows == set(CHECKS)
    assert [k for k in defaults if f"`{k}" not in table] == []


def test_report_url_templates_are_read_and_default_to_none():
    bare = {k: v for k, v in _base().items() if k != "report"}
    assert parse_config(bare).report.model_dump() == {"gateway_console_url": None, "app_job_url": None}
    assert load_config(EXAMPLE).report.app_job_url == "https://admin.example.com/jobs/{job_id}"
    data = {
        **_base(),
        "report": {
            "gateway_console_url": "https://gw.example.com/console/log?request_id={request_id}",
            "app_job_url": "https://admin.example.com/jobs/{job_id}",
        },
    }
    cfg = parse_config(data)
    assert cfg.report.app_job_url == "https://admin.example.com/jobs/{job_id}"


@pytest.mark.parametrize(
    "template, why",
    [
        ("https://a.example/{jobid}", "unknown placeholder {jobid}"),
        ("https://a.example/{job_id!r}", "unknown placeholder {job_id}"),
        ("https://a.example/{job_id:>9}", "unknown placeholder {job_id}"),
        ("https://a.example/jobs", "names no id"),
        ("https://a.example/{job_id", "not a valid template"),
        ("javascript:alert(1)//{job_id}", "must be an http:// or https:// URL"),
        ("https://a.example/ {job_id}", "whitespace"),
    ],
)
def test_a_bad_report_url_template_names_the_key(template, why):
    with pytest.raises(ConfigError) as exc:
        parse_config({**_base(), "report": {"app_job_url": template}})
    assert "report.app_job_url" in str(exc.value) and why in str(exc.value)


def test_gateways_parse_as_the_model_of_their_dialect():
    from orchestration.config import (
        FilesGatewayConfig,
        GatewayConfig,
        NewApiGatewayConfig,
        TokenLabGatewayConfig,
    )

    data = _base()
    data["gateways"].append({"name": "console", "dialect": "files", "path": "exports"})
    cfg = parse_config(data)
    assert [type(g) for g in cfg.gateways] == [NewApiGatewayConfig, TokenLabGatewayConfig, FilesGatewayConfig]
    assert all(isinstance(g, GatewayConfig) for g in cfg.gateways)
    assert cfg.gateways[0].base_url == _base()["gateways"][0]["base_url"]  # kept as written, no slash added


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://gw.example.com:99999", "base_url is not a valid URL"),
        ("ftp://gw.example.com", "base_url must be an http:// or https:// URL"),
        ("http://gw example.com", "base_url contains whitespace"),
    ],
)
def test_a_bad_base_url_names_the_key(url, why):
    data = _base()
    data["gateways"][0]["base_url"] = url
    with pytest.raises(ConfigError, match=rf"gateways\[0\]\.base_url: {why}"):
        parse_config(data)


def test_a_gateway_without_a_dialect_names_the_key():
    data = _base()
    del data["gateways"][1]["dialect"]
    with pytest.raises(
        ConfigError, match=r"gateways\[1\]\.dialect: missing; expected one of newapi, tokenlab, files"
    ):
        parse_config(data)


def test_a_gateway_built_in_code_becomes_the_model_of_its_dialect():
    from orchestration.config import AppConfig, GatewayConfig, ReconConfig, TokenLabGatewayConfig

    g = GatewayConfig(name="lab", dialect="tokenlab", base_url="http://x", token_env="T", key_id="k")
    cfg = ReconConfig(gateways=[g], app=AppConfig(database_url_env="D", jobs_query="q", assets_query="q"))
    assert type(cfg.gateways[0]) is TokenLabGatewayConfig and cfg.gateways[0].key_id == "k"


def test_warehouse_memory_limit_is_read_checked_and_handed_to_dbt(tmp_path):
    from orchestration.assets.dbt import dbt_env

    data = _base()
    assert "RECON_DUCKDB_MEMORY_LIMIT" not in dbt_env(load_config(_write(tmp_path, data)))  # env, else 1GB
    data["warehouse"]["memory_limit"] = "6GB"
    cfg = load_config(_write(tmp_path, data))
    assert cfg.warehouse.memory_limit == "6GB"
    assert dbt_env(cfg)["RECON_DUCKDB_MEMORY_LIMIT"] == "6GB"
    data["warehouse"]["memory_limit"] = "plenty"
    with pytest.raises(ConfigError, match=r"warehouse\.memory_limit: .*'plenty' is no memory size"):
        load_config(_write(tmp_path, data))


def test_duckdb_runs_dbt_under_the_memory_limit_it_is_given(tmp_path):
    """profiles.yml hands RECON_DUCKDB_MEMORY_LIMIT to DuckDB: a real dbt query of the setting."""
    import os
    import subprocess
    import sys

    project = Path(__file__).resolve().parents[1] / "dbt_project"
    env = {
        **os.environ,
        "RECON_WAREHOUSE_PATH": str(tmp_path / "wh.duckdb"),
        "RECON_LANDING_DIR": str(tmp_path / "landing"),
        "RECON_DUCKDB_MEMORY_LIMIT": "1536MB",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    p = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "show", "--inline",
         "select current_setting('memory_limit') as memory_limit", "--output", "json",
         "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, check=False, cwd=project,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:]
    assert '"memory_limit": "1.4 GiB"' in p.stdout  # 1536 MB = 1.43 GiB as DuckDB prints it
