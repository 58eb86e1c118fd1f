"""Checks a run makes before it extracts anything, so a mistake is exit 2 and one line, not a failed step.

What it checks: the days are inside the partitions (not before their start, not a day that has not
ended yet), the warehouse path is a DuckDB file (or not there yet), and the app's mapping queries
bind ``:start``/``:end`` and return every canonical column when run on an empty window (which also
proves the driver is installed and the database reachable). Every failure is a ConfigError whose
message names the option or key at fault.

Each gateway is asked once, never retried, with one cheap authenticated request (an empty window of
the endpoint the run reads): a wrong base_url, a closed port or a refused token is one line before
any extraction, not a retry budget spent on it. `recon check` (:func:`check_all`) runs every part
and reports each; `recon run` runs them first (:func:`preflight`) and stops on the first failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

from orchestration.config import ConfigError, GatewayConfig, ReconConfig, load_config, require_env

SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8, after the header checksum


def check_days(first: date, last: date, now: datetime | None = None, start: date | None = None) -> None:
    """Refuse days before the partitions' start (the config's `reconciliation.start_date` when given)
    or after the last closed UTC day."""
    from orchestration.partitions import last_closed_day, partitions_start

    start, newest = max(start or partitions_start(), partitions_start()), last_closed_day(now)
    if first < start:
        raise ConfigError(
            f"--start {first.isoformat()} is before the partitions' start {start.isoformat()} "
            f"(reconciliation.start_date: the first day recon reconciles)"
        )
    if last > newest:
        raise ConfigError(
            f"--end {last.isoformat()} has not ended yet: the newest day recon can reconcile "
            f"is {newest.isoformat()} (UTC)"
        )


def check_warehouse_file(path: Path) -> None:
    """A warehouse that exists must be a DuckDB file: DuckDB opening something else (a SQLite file)
    tries to load an extension for it from the network instead of failing."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"warehouse.path: {p} is a directory, not a DuckDB file")
    if not p.exists() or p.stat().st_size == 0:
        return
    with p.open("rb") as fh:
        head = fh.read(16)
    if head[8:12] == DUCKDB_MAGIC:
        return
    kind = "a SQLite database" if head.startswith(SQLITE_MAGIC) else "not a DuckDB file"
    raise ConfigError(f"warehouse.path: {p} is {kind}; point warehouse.path at a DuckDB file or a new path")


def check_app(cfg: ReconConfig) -> None:
    """Both mapping queries on an empty window: columns, window parameters, driver, connection."""
    from orchestration.app_sources import check_app_queries
    from orchestration.gateways.base import ExtractionError

    try:
        check_app_queries(cfg.app)
    except ExtractionError as exc:
        raise ConfigError(str(exc)) from None


PROBE_TIMEOUT_SECONDS = 10.0


class GatewayBusy(ConfigError):
    """The gateway answered, but with a transient error (429, 5xx, a timeout): not a config problem.
    `recon check` reports it; `recon run` goes on and lets extraction retry within its budget."""


def _probe_request(g: GatewayConfig) -> tuple[str, dict[str, str], dict[str, str | int]]:
    """(path, headers, params) of the cheapest authenticated request the run's own endpoint takes:
    one row of an empty window (1970), so a real gateway reads nothing."""
    key = f"gateways.{g.name}"
    if g.dialect == "tokenlab":
        token = require_env(g.token_env or "", f"{key}.token_env")
        return (
            f"/v1/management/api-keys/{quote(g.key_id or '', safe='')}/usage",
            {"Authorization": f"Bearer {token}", "Accept": "application/json"},
            {"page": 1, "limit": 1, "startDate": "1970-01-01T00:00:00Z", "endDate": "1970-01-01T00:00:01Z"},
        )
    headers = {"Accept": "application/json"}
    if g.token_env:
        headers["Authorization"] = f"Bearer {require_env(g.token_env, f'{key}.token_env')}"
    if g.user_id_env:
        headers["New-Api-User"] = require_env(g.user_id_env, f"{key}.user_id_env")
    if g.log_endpoint == "token":
        return "/api/log/token", headers, {"key": require_env(g.key_env or "", f"{key}.key_env")}
    path = "/api/log/self" if g.log_endpoint == "self" else "/api/log/"
    return path, headers, {"p": 1, "page_size": 1, "start_timestamp": 1, "end_timestamp": 1}


def _answer_text(resp) -> str:
    """The gateway's own message (new-api `message`, TokenLab `error.message`), short and scrubbed."""
    from orchestration.scrub import scrub

    try:
        body = resp.json()
    except ValueError:
        return ""
    msg = ""
    if isinstance(body, dict):
        err = body.get("error")
        msg = body.get("message") or (err.get("message") if isinstance(err, dict) else err) or ""
    return scrub(" ".join(str(msg).split())[:160])


def check_gateway(g: GatewayConfig, timeout: float = PROBE_TIMEOUT_SECONDS) -> str:
    """One request, no retry: the gateway is reachable at base_url and takes the token. Returns what
    was proved; raises ConfigError naming the gateway and the key to fix (GatewayBusy when transient)."""
    import httpx

    from orchestration.gateways.http import ssl_context
    from orchestration.scrub import scrub

    key = f"gateways.{g.name}"
    if g.dialect == "files":
        if g.path is None or not Path(g.path).is_dir():
            raise ConfigError(f"{key}.path: {g.path} is not a folder of console exports")
        return f"export folder {g.path}"
    path, headers, params = _probe_request(g)
    base = (g.base_url or "").rstrip("/")
    where = f"{key}: GET {base}{path}"
    try:
        with httpx.Client(
            base_url=base,
            headers=headers,
            timeout=min(timeout, g.timeout_seconds),
            follow_redirects=False,
            verify=ssl_context(str(g.ca_bundle) if g.ca_bundle else None),
            trust_env=True,
            proxy=g.proxy or None,
        ) as client:
            resp = client.get(path, params=params)
    except httpx.TimeoutException:
        raise GatewayBusy(f"{where}: no answer within {min(timeout, g.timeout_seconds):g}s") from None
    except httpx.ConnectError as exc:
        reason = scrub(" ".join(str(exc).split())[:160]) or type(exc).__name__
        raise ConfigError(f"{where}: cannot connect ({reason}); check base_url") from None
    except httpx.HTTPError as exc:
        reason = scrub(" ".join(str(exc).split())[:160]) or type(exc).__name__
        raise ConfigError(
            f"{where}: {type(exc).__name__}: {reason}; check base_url, proxy and ca_bundle"
        ) from None
    said = _answer_text(resp)
    said = f": {said}" if said else ""
    env = "api key" if g.log_endpoint == "token" and g.dialect == "newapi" else "token"
    hint = {
        "newapi": f"check {g.token_env} (token_env)"
        + (f" and {g.user_id_env} (user_id_env)" if g.user_id_env else "")
        + (f" and {g.key_env} (key_env)" if g.key_env else ""),
        "tokenlab": f"check {g.token_env} (token_env) and key_id {g.key_id}",
    }[g.dialect]
    if resp.status_code == 429 or resp.status_code >= 500:
        raise GatewayBusy(f"{where}: HTTP {resp.status_code}{said} (transient; try again)")
    if resp.status_code in (401, 403):
        raise ConfigError(f"{where}: {env} refused, HTTP {resp.status_code}{said}; {hint}")
    if resp.status_code == 404:
        raise ConfigError(
            f"{where}: HTTP 404{said}; check base_url" + (" and key_id" if g.dialect == "tokenlab" else "")
        )
    if resp.status_code != 200:
        raise ConfigError(f"{where}: HTTP {resp.status_code}{said}")
    try:
        body = resp.json()
    except ValueError:
        raise ConfigError(
            f"{where}: the answer is not JSON; check base_url (is it the gateway's API?)"
        ) from None
    if g.dialect == "newapi" and not (isinstance(body, dict) and body.get("success") is True):
        raise ConfigError(f"{where}: {env} refused (success:false){said}; {hint}")
    return f"reachable, {env} accepted ({base})"


def check_warehouse(cfg: ReconConfig) -> str:
    """The DuckDB file (or where it will be made) and the landing folder can be written."""
    import os

    from orchestration import storage

    check_warehouse_file(cfg.warehouse.path)
    folders = [("warehouse.path", Path(cfg.warehouse.path).parent)]
    if storage.is_remote(cfg.warehouse.landing_dir):
        check_landing(cfg)  # an s3:// landing: its bucket answers (one listing)
    else:
        folders.append(("warehouse.landing_dir", Path(cfg.warehouse.landing_dir)))
    for key, p in folders:
        existing = next((q for q in (p, *p.parents) if q.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"{key}: {existing or p} is not a writable folder")
    return f"{cfg.warehouse.path}"


def check_gateways(cfg: ReconConfig, warn: Callable[[str], None] | None = None) -> None:
    """Every gateway once; a transient answer is a warning here (extraction retries it)."""
    for g in cfg.gateways:
        try:
            check_gateway(g)
        except GatewayBusy as exc:
            if warn is not None:
                warn(f"preflight: {exc}")


def check_landing(cfg: ReconConfig) -> None:
    """An s3:// landing's bucket exists and answers with the credentials at hand (one listing), so a
    wrong bucket or missing credentials is one line before extraction, not a failed landing step."""
    from orchestration import storage

    root = cfg.warehouse.landing_dir
    if not storage.is_remote(root):
        return
    bucket = root.path.split("/", 1)[0]
    try:
        root.fs.ls(bucket)
    except FileNotFoundError:
        raise ConfigError(f"warehouse.landing_dir: {root}: bucket {bucket!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors: one line, whatever they are
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"warehouse.landing_dir: {root}: cannot list bucket {bucket!r}: {first}") from None


def preflight(cfg: ReconConfig, first: date, last: date, now: datetime | None = None) -> None:
    """Every check above, cheapest first; raises the first ConfigError."""
    check_days(first, last, now)
    check_warehouse_file(cfg.warehouse.path)
    check_landing(cfg)
    check_app(cfg)
    check_gateways(cfg)


@dataclass(frozen=True)
class Part:
    """One line of `recon check`: the part, whether it passed, and what was proved or is wrong."""

    name: str
    ok: bool
    detail: str


def _part(name: str, fn: Callable[[], str]) -> Part:
    try:
        return Part(name, True, fn())
    except ConfigError as exc:
        return Part(name, False, str(exc))


def check_all(config_path: str | Path) -> list[Part]:
    """`recon check`: config, env, each gateway, app db, warehouse; a part that cannot run because an
    earlier one failed (no config, a missing secret) is reported as skipped, never as passed."""
    from orchestration.scrub import install_log_scrubber, register_config

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        return [Part("config", False, str(exc))]
    parts = [Part("config", True, f"{cfg.source_file} ({len(cfg.gateways)} gateway(s))")]
    register_config(cfg)  # nothing printed below may carry a secret
    install_log_scrubber()
    import os

    src = cfg.source_file or "<config>"
    missing = [f"{key}: {name}" for key, name in cfg.env_keys().items() if not os.environ.get(name)]
    parts.append(
        Part(
            "env",
            not missing,
            f"{src}: environment variable(s) not set: " + "; ".join(missing)
            if missing
            else f"{len(cfg.env_keys())} variable(s) set",
        )
    )
    unset = {name for name in cfg.env_keys().values() if not os.environ.get(name)}
    for g in cfg.gateways:
        needs = set(g.env_keys().values()) & unset
        if needs:
            parts.append(Part(f"gateway {g.name}", False, f"skipped: {', '.join(sorted(needs))} not set"))
        else:
            parts.append(_part(f"gateway {g.name}", lambda g=g: check_gateway(g)))
    if cfg.app.database_url_env in unset:
        parts.append(Part("app db", False, f"skipped: {cfg.app.database_url_env} not set"))
    else:
        parts.append(
            _part(
                "app db",
                lambda: check_app(cfg) or "reachable; jobs_query and assets_query return every column",
            )
        )
    parts.append(_part("warehouse", lambda: check_warehouse(cfg)))
    return parts
