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
    with pytest.raises(ConfigError, match=r"gateways\[1\]\.token_env: environment variable TOKENLAB_TOKEN is not set"):
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
