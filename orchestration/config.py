"""The recon YAML config: loaded, validated and resolved before any extraction starts.

Secrets never live in the file: it names environment variables (``*_env`` keys) and the values are
read only when a run needs them (:func:`require_env`). Every error names the config key at fault.
Relative paths resolve against the config file's folder, so a config works from any working dir.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestration.errors import (
    ConfigError,  # its old home: `from orchestration.config import ConfigError` works
)

DIALECTS = ("newapi", "tokenlab", "files")


# what DuckDB's memory_limit setting reads: a number and a byte unit (decimal or binary)
_MEMORY_SIZE = re.compile(r"[0-9]+(\.[0-9]+)?\s*([KMGT]i?B)", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseConfig(_Strict):
    path: Path = Path("data/warehouse.duckdb")
    # a folder, or an s3://bucket/prefix URL (docs/landing.md); credentials only from the AWS chain
    landing_dir: Path | str = Path("data/landing")
    reports_dir: Path = Path("data/reports")
    landing_endpoint_url: str | None = None  # an S3-compatible server (MinIO, Ceph) instead of AWS S3
    # DuckDB's memory_limit for the dbt build (e.g. "4GB"); past it DuckDB spills to <path>.tmp. Unset:
    # the RECON_DUCKDB_MEMORY_LIMIT environment variable, else 1GB (dbt_project/profiles.yml)
    memory_limit: str | None = None

    @field_validator("memory_limit")
    @classmethod
    def _memory_limit(cls, v: str | None) -> str | None:
        if v is not None and not _MEMORY_SIZE.fullmatch(v.strip()):
            raise ValueError(f"{v!r} is no memory size: a number and a unit, e.g. 4GB, 512MB or 2.5GiB")
        return v.strip() if v is not None else v

    @field_validator("landing_dir", mode="before")
    @classmethod
    def _landing_url(cls, v: object) -> object:
        from orchestration import storage

        if isinstance(v, str) and "://" in v:
            return storage.check_url(v)
        return Path(v) if isinstance(v, str) else v

    @field_validator("landing_endpoint_url")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is no http(s) URL")
        if parts.username or parts.password or parts.query:
            raise ValueError("credentials do not belong in the URL: use the environment or the AWS chain")
        return v

    @model_validator(mode="after")
    def _endpoint_needs_url(self) -> WarehouseConfig:
        if self.landing_endpoint_url and not isinstance(self.landing_dir, str):
            raise ValueError("landing_endpoint_url needs an s3:// landing_dir")
        return self


_ANY_HTTP_URL = TypeAdapter(AnyHttpUrl)


def _http_url(v: str, info: ValidationInfo) -> str:
    """An http(s) URL with a host, as pydantic's AnyHttpUrl reads it (a bad port or host fails here),
    kept as written (AnyHttpUrl would add a trailing slash to a bare host). A space, a control
    character or a non-ASCII path is a config error before any request: it would be re-encoded into
    a different request, or split one."""
    bad = next((c for c in v if c.isspace() or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"{info.field_name} contains whitespace or a control character ({bad!r})")
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{info.field_name} must be an http:// or https:// URL with a host")
    if not (parts.path + parts.query).isascii():
        raise ValueError(f"{info.field_name} has a non-ASCII path; percent-encode it")
    try:
        _ANY_HTTP_URL.validate_python(v)
    except ValidationError as exc:
        raise ValueError(f"{info.field_name} is not a valid URL: {exc.errors()[0]['msg']}") from None
    return v


HttpUrlText = Annotated[str, AfterValidator(_http_url)]


class GatewayConfig(_Strict):
    """What every dialect shares. A config file's gateways are parsed as `AnyGatewayConfig`, the
    discriminated union of the dialect models below (the `dialect` key picks the model)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    dialect: Literal["newapi", "tokenlab", "files"]
    base_url: HttpUrlText | None = None
    token_env: str | None = None
    user_id_env: str | None = None
    key_id: str | None = None
    quota_per_unit: float = Field(default=500000, gt=0)
    max_concurrency: int = Field(default=8, ge=1, le=64)
    # Extensions (DESIGN.md lets us extend): where the logs come from and how hard to try.
    log_endpoint: Literal["self", "admin", "token"] = "self"
    key_env: str | None = None  # newapi `log_endpoint: token` only: the API key, sent as key=
    api_key_env: str | None = None  # tokenlab: the sk- key that created the tasks, for GET /v1/tasks/{id}
    path: Path | None = None  # files dialect: the folder of console exports
    page_size: int = Field(default=100, ge=1, le=100)
    window_minutes: int = Field(default=60, ge=1, le=1440)  # the grid a day splits onto when it holds much
    # the largest closed window probed first (docs/extraction.md): a quiet day is one probe, not 24
    probe_window_minutes: int = Field(default=1440, ge=1, le=1440)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=100, ge=1, le=10_000)  # a cap; the budget is retry_budget_seconds
    close_lag_seconds: int = Field(default=300, ge=0)  # a window is closed once it ended this long ago
    # HTTP extraction (issue 16, docs/extraction.md): pace, retry budget, byte budgets, egress, trust.
    requests_per_minute: float | None = Field(default=None, gt=0)  # paced below the gateway's limiter
    rate_limit_wait_seconds: float = Field(
        default=60.0, ge=0
    )  # a 429 with no Retry-After waits this (+jitter)
    retry_budget_seconds: float = Field(default=900.0, gt=0)  # time one request may spend retrying
    max_page_bytes: int = Field(default=32 * 1024 * 1024, ge=65536)  # decoded bytes of one response
    max_inflight_bytes: int = Field(default=256 * 1024 * 1024, ge=65536)  # all concurrent responses
    max_pages_per_window: int = Field(default=10_000, ge=1)  # a total needing more fails loudly
    proxy: HttpUrlText | None = None  # egress proxy URL (HTTP(S)_PROXY from the environment also works)
    ca_bundle: Path | None = None  # PEM file of a private CA; default: the system trust store

    retention_days: int | None = Field(default=None, ge=1)  # logs older than this are gone: never re-read
    # files dialect (issue 18, docs/gateways.md): how a console writes its export.
    preset: Literal["laozhang", "tokenopen", "routescope"] | None = None  # built-in header mapping
    columns: dict[str, str] = Field(default_factory=dict)  # export header -> recon field, beats the preset
    duration_unit: Literal["ms", "s"] | None = None  # a Duration header without a unit; default s
    time_zone: str = "UTC"  # zone of export times written without an offset
    amount_to_usd: float = Field(default=1.0, gt=0)  # export money (any symbol) x this = USD
    # Shared accounts (issue 18, docs/gateways.md): this app's token names / groups on the account;
    # another app's rows outside them are not this app's spend and never orphan_usage.
    token_names: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)

    @field_validator("token_names", "groups")
    @classmethod
    def _scope_values(cls, v: list[str], info: Any) -> list[str]:
        """Names sent as query values and compared in SQL: printable, no quote, no repeats."""
        for name in v:
            if not name or name != name.strip() or any(ord(c) < 32 or c in "'\\" for c in name):
                raise ValueError(
                    f"{info.field_name}: {name[:40]!r} is empty, padded, or has a quote, "
                    "backslash or control character"
                )
        if len(set(v)) != len(v):
            raise ValueError(f"{info.field_name} lists a name twice")
        return v

    def scope(self) -> str:
        """The filter as the manifest records it ('' when the gateway is not narrowed)."""
        parts = [
            f"{k}={','.join(v)}" for k, v in (("token_names", self.token_names), ("groups", self.groups)) if v
        ]
        return " ".join(parts)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        """An unknown zone is a config error, not a day of shifted rows."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {v[:40]!r} is not an IANA zone (e.g. UTC, Asia/Shanghai)") from None
        return v

    @model_validator(mode="after")
    def _dialect_fields(self) -> GatewayConfig:
        need: list[str] = []
        if self.dialect in ("newapi", "tokenlab"):
            need += ["base_url", "token_env"]
        if self.dialect == "newapi" and self.log_endpoint == "token":
            need.remove("token_env")  # the key alone reads /api/log/token (issue 18); tasks need the token
        if self.dialect == "newapi" and self.log_endpoint != "token":
            need.append("user_id_env")
        if self.dialect == "newapi" and self.log_endpoint == "token":
            need.append("key_env")
        if self.dialect == "tokenlab":
            need.append("key_id")
        if self.dialect == "files":
            need.append("path")
        missing = [k for k in need if getattr(self, k) in (None, "")]
        if missing:
            raise ValueError(f"dialect {self.dialect} needs {', '.join(missing)}")
        return self

    def env_keys(self) -> dict[str, str]:
        """Config key -> env var name, for every secret this gateway needs."""
        keys = {"token_env": self.token_env, "user_id_env": self.user_id_env, "key_env": self.key_env}
        if self.dialect == "files":
            return {}
        if self.dialect == "tokenlab":
            keys = {"token_env": self.token_env, "api_key_env": self.api_key_env}
        return {k: v for k, v in keys.items() if v}


class NewApiGatewayConfig(GatewayConfig):
    """A new-api / one-api console: base_url, token_env and user_id_env (or key_env for `log_endpoint: token`)."""

    dialect: Literal["newapi"]


class TokenLabGatewayConfig(GatewayConfig):
    """A TokenLab-style platform: base_url, the management token_env and key_id."""

    dialect: Literal["tokenlab"]


class FilesGatewayConfig(GatewayConfig):
    """Console exports in a folder (`path`), no HTTP."""

    dialect: Literal["files"]


AnyGatewayConfig = Annotated[
    NewApiGatewayConfig | TokenLabGatewayConfig | FilesGatewayConfig, Field(discriminator="dialect")
]


class AppConfig(_Strict):
    database_url_env: str = Field(min_length=1)
    jobs_query: str = Field(min_length=1)
    assets_query: str = Field(min_length=1)
    # Key for the keyed hash that pseudonymizes user ids before landing.
    pseudonym_key_env: str = "RECON_PSEUDONYM_KEY"


class ReconciliationConfig(_Strict):
    lookback_days: int = Field(default=3, ge=0, le=60)
    settlement_window_hours: float = Field(default=48, gt=0)
    late_after_minutes: float = Field(default=15, ge=0)
    stuck_task_sla_minutes: float = Field(default=60, gt=0)
    cost_tolerance_usd: float = Field(default=0.000002, ge=0)
    cost_tolerance_ratio: float = Field(default=0.01, ge=0)
    # scenes whose succeeded, charged jobs must deliver an asset; None = learned from the app's assets
    asset_scenes: (
        list[Literal["chat", "image", "audio", "video", "embedding", "rerank", "music", "3d", "other"]] | None
    ) = None
    # the first UTC day Dagster offers a partition for; None = the first day recon has landed data
    # for, or 90 days back when nothing has landed (orchestration/partitions.py configured_start)
    start_date: date | None = None


class AlertsConfig(_Strict):
    """Every operator threshold, named once: the checks read them here and dbt gets them as vars
    (:meth:`ReconConfig.dbt_vars`). Defaults follow the consoles' advice (spend mean + 2 sd, 10 %
    errors); see docs/operating.md for what each one fires on."""

    money_at_risk_usd: float = Field(default=10.0, ge=0)  # ERROR above this much money at risk in the run
    stuck_tasks_warn: int = Field(default=1, ge=1)  # stuck tasks past the SLA: WARN from this many
    stuck_tasks_error: int = Field(default=10, ge=1)  # ... and ERROR from this many
    settlement_p95_seconds: float = Field(
        default=12 * 3600.0, gt=0
    )  # WARN when a day's settlement p95 is above
    error_rate: float = Field(default=0.10, gt=0, le=1)  # a gateway day's share of errors of one class
    error_rate_overall: float = Field(default=0.10, gt=0, le=1)  # ... and of all classes together
    error_min_volume: int = Field(default=20, ge=1)  # the error-rate flag needs at least this many requests
    errors_400_min: int = Field(default=20, ge=1)  # per class: this many errors a day per gateway alert
    errors_401_min: int = Field(default=3, ge=1)
    errors_402_min: int = Field(default=1, ge=1)
    errors_403_min: int = Field(default=3, ge=1)
    errors_429_min: int = Field(default=10, ge=1)
    errors_5xx_min: int = Field(default=5, ge=1)
    spend_sigma: float = Field(default=2.0, gt=0)  # a day's spend above mean + sigma x sd of recent days
    spend_history_days: int = Field(default=14, ge=2, le=366)  # the full history: this many previous days
    spend_min_history_days: int = Field(default=3, ge=2, le=366)  # short-history fallback from this many days
    spend_anomaly_days_warn: int = Field(default=1, ge=1)  # WARN from this many anomalous days in the run
    # high-token requests: a request's tokens above its model's mean + sigma x sd of recent requests
    request_tokens_sigma: float = Field(default=3.0, gt=0)
    request_tokens_history_days: int = Field(default=14, ge=1, le=366)  # the days before the request's day
    request_tokens_min_history: int = Field(
        default=20, ge=2
    )  # no sigma flag before this many earlier requests
    request_tokens_max: dict[str, int] = Field(default_factory=dict)  # model -> absolute cap on one request
    high_token_requests_warn: int = Field(
        default=1, ge=1
    )  # WARN from this many high-token requests in the run
    gateway_totals_tolerance_quota: int = Field(
        default=1, ge=0
    )  # gateway's stat vs detail rows: quota units apart

    @model_validator(mode="after")
    def _ordered(self) -> AlertsConfig:
        if self.stuck_tasks_error < self.stuck_tasks_warn:
            raise ValueError("stuck_tasks_error must be >= stuck_tasks_warn")
        if self.spend_min_history_days > self.spend_history_days:
            raise ValueError("spend_min_history_days must be <= spend_history_days")
        bad = sorted(m for m, n in self.request_tokens_max.items() if not m or n < 1)
        if bad:
            raise ValueError(
                f"request_tokens_max: a model name and a cap >= 1 are needed, bad: {', '.join(bad) or '(empty)'}"
            )
        return self

    def error_min(self, error_class: str) -> int:
        """The per-day count that alerts for one error class (400, 401, 402, 403, 429, 5xx)."""
        return int(getattr(self, f"errors_{error_class.lower()}_min"))

    def dbt_vars(self) -> dict[str, float | int | dict[str, int]]:
        """The thresholds the marts apply, under the var names dbt_project.yml declares."""
        return {
            "spend_anomaly_sigma": self.spend_sigma,
            "spend_anomaly_history_days": self.spend_history_days,
            "spend_anomaly_min_history_days": self.spend_min_history_days,
            "error_rate_threshold": self.error_rate,
            "error_rate_overall_threshold": self.error_rate_overall,
            "error_min_volume": self.error_min_volume,
            "request_tokens_sigma": self.request_tokens_sigma,
            "request_tokens_history_days": self.request_tokens_history_days,
            "request_tokens_min_history": self.request_tokens_min_history,
            "request_tokens_max": dict(self.request_tokens_max),
            "gateway_totals_tolerance_quota": self.gateway_totals_tolerance_quota,
        }


# The ids a report link template may name: {request_id}, {task_id}, ... (values are URL-quoted).
URL_FIELDS = ("job_id", "request_id", "task_id", "billing_transaction_id", "gateway")


class ReportConfig(_Strict):
    """Optional links from each finding of the report to where a person acts on it: the gateway
    console's page of a request and the app's admin page of a job (docs/trace.md)."""

    gateway_console_url: str | None = None  # e.g. https://gw.example.com/console/log?request_id={request_id}
    app_job_url: str | None = None  # e.g. https://admin.example.com/jobs/{job_id}

    @field_validator("gateway_console_url", "app_job_url")
    @classmethod
    def _template(cls, v: str | None, info: Any) -> str | None:
        """An http(s) URL whose placeholders are only URL_FIELDS, with no format spec: a typo fails
        the config, not a link in a report."""
        if v is None:
            return v
        import string

        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(v) if f is not None]
        except ValueError as exc:
            raise ValueError(
                f"{info.field_name} is not a valid template ({exc}); write ids as {{job_id}}"
            ) from None
        for f, spec, conv in fields:
            if f not in URL_FIELDS or spec or conv:
                raise ValueError(
                    f"{info.field_name}: unknown placeholder {{{f}}}; use one of "
                    + ", ".join(f"{{{x}}}" for x in URL_FIELDS)
                )
        if not fields:
            raise ValueError(
                f"{info.field_name} names no id; use one of " + ", ".join(f"{{{x}}}" for x in URL_FIELDS)
            )
        bad = next((c for c in v if c.isspace() or ord(c) < 32 or ord(c) == 127), None)
        if bad is not None:
            raise ValueError(f"{info.field_name} contains whitespace or a control character ({bad!r})")
        parts = urlsplit(v.replace("{", "").replace("}", ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{info.field_name} must be an http:// or https:// URL with a host")
        return v


class ReconConfig(_Strict):
    warehouse: WarehouseConfig = WarehouseConfig()
    gateways: list[AnyGatewayConfig] = Field(min_length=1)
    app: AppConfig
    reconciliation: ReconciliationConfig = ReconciliationConfig()
    alerts: AlertsConfig = AlertsConfig()
    report: ReportConfig = ReportConfig()
    source_file: Path | None = None

    @field_validator("gateways", mode="before")
    @classmethod
    def _as_dialect_models(cls, v: Any) -> Any:
        """A plain `GatewayConfig` (built in code, not from a file) becomes the model of its dialect."""
        if not isinstance(v, list):
            return v
        return [g.model_dump() if type(g) is GatewayConfig else g for g in v]

    @field_validator("gateways")
    @classmethod
    def _unique_names(cls, v: list[GatewayConfig]) -> list[GatewayConfig]:
        names = [g.name for g in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"gateway names must be unique, repeated: {', '.join(dup)}")
        return v

    def env_keys(self) -> dict[str, str]:
        """Dotted config key -> env var name for every secret a run reads."""
        out = {"app.database_url_env": self.app.database_url_env}
        for i, g in enumerate(self.gateways):
            for k, v in g.env_keys().items():
                out[f"gateways[{i}].{k}"] = v
        return out

    def dbt_vars(self) -> dict[str, float | int | list[str] | dict | None]:
        """The reconciliation and alert thresholds as dbt vars (dbt_project.yml mirrors the defaults)."""
        scopes = {
            g.name: {"token_names": list(g.token_names), "groups": list(g.groups)}
            for g in self.gateways
            if g.token_names or g.groups
        }
        return {
            **self.reconciliation.model_dump(exclude={"start_date"}),
            **self.alerts.dbt_vars(),
            "gateway_scopes": scopes,
        }


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = Path(os.path.expanduser(str(p)))
    return p if p.is_absolute() else (base / p).resolve()


def parse_config(data: object, source: str = "<config>", base_dir: Path | None = None) -> ReconConfig:
    """Validate a parsed YAML mapping; raise ConfigError naming the first bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        cfg = ReconConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        # the union's tag (gateways[0].newapi.base_url) and validator names are not config keys
        loc = tuple(
            p
            for i, p in enumerate(loc)
            if not (
                isinstance(p, str)
                and (p.startswith("function-") or (p in DIALECTS and i and isinstance(loc[i - 1], int)))
            )
        )
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "dialect")
        key = _key_path(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            msg = f"unknown dialect {err.get('ctx', {}).get('tag')!r}; expected one of {', '.join(DIALECTS)}"
        if err["type"] == "union_tag_not_found":
            msg = f"missing; expected one of {', '.join(DIALECTS)}"
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        extra = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{source}: {key or '<top>'}: {msg}{extra}") from None
    base = base_dir or Path.cwd()
    wh = cfg.warehouse
    # a copy with the paths resolved: every other key (memory_limit, the endpoint) carries over as read
    warehouse = wh.model_copy(
        update={
            "path": _resolve(base, wh.path),
            "landing_dir": wh.landing_dir
            if isinstance(wh.landing_dir, str)
            else _resolve(base, wh.landing_dir),
            "reports_dir": _resolve(base, wh.reports_dir),
        }
    )
    if isinstance(
        warehouse.landing_dir, str
    ):  # s3://: a UPath that carries the endpoint (orchestration.storage)
        from orchestration import storage

        try:
            landing = storage.root(warehouse.landing_dir, warehouse.landing_endpoint_url)
        except ValueError as exc:
            raise ConfigError(f"{source}: warehouse.landing_dir: {exc}") from None
        warehouse = warehouse.model_copy(update={"landing_dir": landing})
    gateways = [
        g.model_copy(update={"path": _resolve(base, g.path), "ca_bundle": _resolve(base, g.ca_bundle)})
        for g in cfg.gateways
    ]
    return cfg.model_copy(
        update={
            "warehouse": warehouse,
            "gateways": gateways,
            "source_file": Path(source) if source != "<config>" else None,
        }
    )


def load_config(path: str | os.PathLike) -> ReconConfig:
    """Read and validate a config file. Does not read secrets: see :func:`check_env`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(f"config file unreadable: {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}") from None
    return parse_config(data, source=str(p), base_dir=p.resolve().parent)


def check_env(cfg: ReconConfig, environ: os._Environ | dict | None = None) -> None:
    """Fail before extraction when a secret env var named by the config is unset or empty."""
    env = os.environ if environ is None else environ
    src = cfg.source_file or "<config>"
    for key, name in cfg.env_keys().items():
        if not env.get(name):
            raise ConfigError(f"{src}: {key}: environment variable {name} is not set")


def require_env(name: str, key: str) -> str:
    """Read one secret at run time; the error names the env var and the config key, never a value."""
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{key}: environment variable {name} is not set")
    if any(c in value for c in "\r\n\x00"):  # it would end up in a header: never send it
        raise ConfigError(
            f"{key}: environment variable {name} contains a line break or NUL (check how it was set)"
        )
    return value
