"""Seeded fault simulation: the ledger standard under a random gateway, seed after seed.

For every seed a small scenario (both dialects: `main` new-api, `lab` TokenLab) is served by the
sandbox with a random fault schedule (`Faults.random(seed)`: 429 + Retry-After, 5xx bursts, dropped
connections, truncated JSON, slow pages, rows inserted while paging, a clamped page size, sometimes a
sustained outage), and one daily partition is extracted, validated and appended with the functions
the Dagster raw assets run (`raw_gateway.gateway_clients` / `known_task_ids` / `read_each`,
`landing_step.land_evidence_days`), with a small retry budget, over an old-layout landing of part of
the day when the plan says so (migrated in place). Whatever the schedule did, either

- the run succeeded: every record ever served is held exactly once (usage and tasks: the current
  versions recon holds equal the truth, row for row), and per task charges − refunds equal the
  scenario's final cost exactly (new-api in integer quota, TokenLab in Decimal USD); or
- it failed cleanly: one `ExtractionError` line naming gateway, endpoint, window, page and attempts,
  and the failed partition's files are exactly as they were before (absent, or the prior landing).

In both cases no secret is in any log line or message, and every 429 retry waited its Retry-After.

Seeds 0..N-1, N = `RECON_FAULT_SEEDS` (200 by default: ~70 s of CPU, ~2 min wall on a busy 2-core box;
e.g. 2000 on demand, ~25 min). The sweep is marked `slow` (it runs in CI). Seeds that once
found a bug are in `fault_regressions.json` with their whole plan and always run.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest

from orchestration.assets.landing_step import land_evidence_days
from orchestration.assets.raw_gateway import gateway_clients, known_task_ids, read_each
from orchestration.config import AppConfig, GatewayConfig, ReconConfig, WarehouseConfig
from orchestration.errors import ConflictingDuplicateError, ExtractionError
from orchestration.evidence import GatewayRead, land_extraction, read_held, read_manifest
from orchestration.landing import partition_dir, partition_file, write_partition
from orchestration.sandbox import (
    SANDBOX_TOKEN,
    SANDBOX_USER_ID,
    TOKENLAB_API_KEY,
    TOKENLAB_KEY_ID,
    TOKENLAB_TOKEN,
)
from orchestration.sandbox.faults import Faults, FaultState
from orchestration.sandbox.scenario import Scenario, build_scenario
from orchestration.sandbox.server import serve
from schemas.canonical import RECORDS as CANONICAL
from schemas.validate import validate_frame

SEEDS = int(os.environ.get("RECON_FAULT_SEEDS", "200"))
DAY = date(2026, 3, 14)
CUT = int(datetime(2026, 3, 14, 12, tzinfo=UTC).timestamp())  # forgetful plans: rows before this are deleted
SCENARIOS = 12  # distinct worlds (scenario seeds); the fault schedule and client settings vary per seed
REGRESSIONS = Path(__file__).with_name("fault_regressions.json")
SECRETS = (SANDBOX_TOKEN, TOKENLAB_TOKEN)
RECORDS = ("usage_records", "gateway_tasks")
ONE_LINE = re.compile(
    r"gateway=(?P<gw>main|lab) endpoint=/\S+ window=(\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, "
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)|task_id=\S+) page=(\d+|-): gave up after (?P<n>\d+) attempts; "
    r"last error: (HTTP 5\d\d|HTTP 429|HTTP 200 with truncated or invalid JSON \(\d+ bytes\)|"
    r"timeout \(\w+\)|connection error \(\w+\))"
)
WAITED = re.compile(r"after HTTP 429; waiting (\d+\.\d+)s")


# -- one seed's plan ------------------------------------------------------------------------------
@dataclass
class Plan:
    """Everything one simulated run depends on, drawn from its seed (kept whole in regressions)."""

    seed: int
    faults: dict
    scenario_seed: int
    jobs_per_day: int
    newapi: dict
    lab: dict
    backoff_base: float
    max_window_records: int | None
    prior_landing: bool
    note: str = ""  # regressions: what the plan once found
    # retention: recon already holds the whole day (a complete earlier extraction), and the gateway has
    # since deleted its log rows before midday (`Faults.deleted_before`), and deletes
    # `delete_while_paging` more of each listing's oldest rows while this run pages
    forgetful: bool = False
    delete_while_paging: int = 0

    @classmethod
    def for_seed(cls, seed: int) -> Plan:
        r = random.Random(f"recon-fault-plan/{seed}")
        f = Faults.random(seed)
        # sometimes a slow page outlives the client's timeout: a timeout, retried like any other fault
        tight = r.random() < 0.5 and f.p_slow > 0 and f.slow_ms > 100
        attempts = r.choice((4, 5, 6))

        def gw(sizes: tuple[int, ...]) -> dict:
            return {
                "page_size": r.choice(sizes),
                "window_minutes": r.choice((60, 180, 360, 1440)),
                "max_concurrency": r.randint(1, 6),
                "max_attempts": attempts,
                "timeout_seconds": 0.1 if tight else 2.0,
            }

        plan = cls(
            seed=seed,
            faults=f.as_dict(),
            scenario_seed=r.randrange(SCENARIOS),  # a small pool: each world's truth is built once
            jobs_per_day=r.choice((8, 8, 20)),
            newapi=gw((5, 10, 20, 50, 100)),
            lab=gw((5, 10, 25, 50)),
            backoff_base=r.choice((0.002, 0.005, 0.01)),
            max_window_records=r.choice((None, None, None, 12, 30)),
            prior_landing=r.random() < 0.5,
        )
        # drawn last, so every earlier field of a seed's plan is what it always was
        plan.forgetful = r.random() < 0.25
        plan.delete_while_paging = r.choice((0, 0, 1, 3)) if plan.forgetful else 0
        return plan

    @property
    def fault_schedule(self) -> Faults:
        f = Faults(**self.faults)
        if self.forgetful:
            f.deleted_before, f.delete_while_paging = CUT, self.delete_while_paging
        return f


@dataclass
class Outcome:
    ok: bool
    failed_record: str | None = None
    error: str | None = None
    fired: dict = field(default_factory=dict)
    retry_after_gaps: list = field(default_factory=list)


OUTCOMES: dict[int, Outcome] = {}


# -- truth ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Truth:
    sc: Scenario
    canon: dict[str, pd.DataFrame]
    landed: dict[str, pd.DataFrame]  # what a perfect extraction holds, per record (canonical, sorted)
    ledger: dict[tuple[str, str], Decimal | int]
    before: dict[str, bytes]  # app_jobs as its asset landed it; usage/tasks as an older, smaller run did


@lru_cache(maxsize=2 * SCENARIOS)
def truth(seed: int, jobs_per_day: int) -> Truth:
    """A one-day world and what a perfect extraction holds: its canonical frames through the same
    validation, in canonical order."""
    sc = build_scenario(seed=seed, end=DAY, days=1, jobs_per_day=jobs_per_day)
    canon = sc.canonical()
    landed, before = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for record in RECORDS:
            result = validate_frame(record, canon[record], source="truth", partition=DAY.isoformat())
            assert result.quarantine.empty, f"the truth of {record} does not validate: {result.lines()}"
            landed[record] = _canonical(result.valid, record)
            before[record] = write_partition(
                canon[record].iloc[::2], Path(tmp) / "old", record, DAY
            ).read_bytes()
        before["app_jobs"] = write_partition(canon["app_jobs"], Path(tmp), "app_jobs", DAY).read_bytes()
    return Truth(sc, canon, landed, ledger_truth(sc), before)


def _key(record: str) -> list[str]:
    return ["gateway", "record_key"] if record == "usage_records" else ["gateway", "task_id"]


def _canonical(df: pd.DataFrame, record: str) -> pd.DataFrame:
    """Canonical columns as text, sorted by key: held content compared row for row."""
    cols = list(CANONICAL[record])
    return df[cols].astype(str).sort_values(_key(record)).reset_index(drop=True)


# the sandbox's old-build system refund texts (type 4, quota 0): task id, then USD or quota points
_SYSTEM_REFUND = re.compile(r"(task_\w+)(?:，补偿 |, refund )(?:＄([\d.]+) 额度|(\d+) 点额度)")


def ledger_truth(sc: Scenario) -> dict[tuple[str, str], Decimal | int]:
    """Per (gateway, task): charges − refunds from the scenario's raw rows of the day, exactly —
    new-api in integer quota (type 2 signed as logged, type 6 refunds subtracted), TokenLab in the
    Decimal amounts it serves (refunds carry a negative amount)."""
    lo, hi = sc.range_start, sc.range_end
    net: dict[tuple[str, str], Decimal | int] = {}
    for row in sc.newapi_logs:
        other = json.loads(row["other"]) if row.get("other") else {}
        tid = other.get("task_id")
        when = datetime.fromtimestamp(row["created_at"], UTC)
        system = _SYSTEM_REFUND.search(row.get("content") or "") if row["type"] == 4 else None
        if system and lo <= when < hi:  # an old build's refund: task id and amount only in the text
            q = -(int(system[3]) if system[3] else round(float(system[2]) * sc.quota_per_unit))
            net[("main", system[1])] = net.get(("main", system[1]), 0) + q
            continue
        if not tid or not lo <= when < hi or row["type"] not in (2, 6):
            continue
        q = row["quota"] if row["type"] == 2 else -abs(row["quota"])
        net[("main", tid)] = net.get(("main", tid), 0) + q
    for rec in sc.tokenlab_usage:
        tid = rec.get("task_id")
        when = datetime.fromisoformat(rec["created_at"]).astimezone(UTC)
        if not tid or not lo <= when < hi or rec["type"] not in ("charge", "refund"):
            continue
        net[("lab", tid)] = net.get(("lab", tid), Decimal(0)) + Decimal(rec["cost"]["amount"])
    return net


def ledger_landed(usage: pd.DataFrame) -> dict[tuple[str, str], Decimal | int]:
    net: dict[tuple[str, str], Decimal | int] = {}
    for r in usage[usage["task_id"].notna() & usage["record_type"].isin(["consume", "refund"])].itertuples():
        k = (r.gateway, r.task_id)
        if r.gateway == "main":
            q = int(r.quota) if r.record_type == "consume" else -abs(int(r.quota))
            net[k] = net.get(k, 0) + q
        else:  # canonical cost_usd is float64: its shortest repr is the decimal the gateway sent
            net[k] = net.get(k, Decimal(0)) + Decimal(repr(float(r.cost_usd)))
    return net


# -- one run --------------------------------------------------------------------------------------
def _config(url: str, plan: Plan, root: Path) -> ReconConfig:
    main = GatewayConfig(
        name="main",
        dialect="newapi",
        base_url=url,
        token_env="SIM_TOKEN",
        user_id_env="SIM_USER",
        **plan.newapi,
    )
    lab = GatewayConfig(
        name="lab",
        dialect="tokenlab",
        base_url=url,
        token_env="SIM_LAB",
        key_id=TOKENLAB_KEY_ID,
        api_key_env="SIM_LAB_KEY",
        **plan.lab,
    )
    return ReconConfig(
        warehouse=WarehouseConfig(
            path=root / "w.duckdb", landing_dir=root / "landing", reports_dir=root / "r"
        ),
        gateways=[main, lab],
        app=AppConfig(database_url_env="SIM_DB", jobs_query="select 1", assets_query="select 1"),
    )


def _snapshot(landing: Path) -> dict[str, dict[str, bytes]]:
    """Every file of the day's usage and task partitions, temp files included."""
    out: dict[str, dict[str, bytes]] = {}
    for record in RECORDS:
        d = partition_dir(landing, record, DAY)
        out[record] = {p.name: p.read_bytes() for p in sorted(d.iterdir())} if d.exists() else {}
    return out


def simulate(plan: Plan, root: Path) -> Outcome:
    t = truth(plan.scenario_seed, plan.jobs_per_day)
    sc, canon = t.sc, t.canon
    landing = root / "landing"
    # what the app_jobs asset landed and, if planned, what an earlier run landed of the day (the same
    # bytes write_partition gives, made once per world)
    prior = plan.prior_landing and not plan.forgetful
    for record in ("app_jobs", *RECORDS) if prior else ("app_jobs",):
        partition_dir(landing, record, DAY).mkdir(parents=True)
        partition_file(landing, record, DAY).write_bytes(t.before[record])
    if plan.forgetful:  # an earlier complete extraction, taken while the gateway still had the day
        for record in RECORDS:
            reads = [GatewayRead(g, extracted=True, complete=True, whole_day=True) for g in ("main", "lab")]
            land_extraction(canon[record], landing, record, DAY, reads, datetime(2026, 3, 15, 6, tzinfo=UTC))
    before = _snapshot(landing)
    logs: list[str] = []
    start = datetime.combine(DAY, datetime.min.time(), UTC)
    ctx = SimpleNamespace(
        partition_time_window=SimpleNamespace(start=start, end=start + timedelta(days=1)),
        log=SimpleNamespace(info=logs.append, warning=logs.append),
    )
    outcome = Outcome(ok=True)
    with serve(sc, faults=plan.fault_schedule) as url:
        cfg = _config(url, plan, root)
        with gateway_clients(cfg, logs.append) as clients:
            for c in clients:
                c.now, c.backoff_base = sc.as_of, plan.backoff_base
                if plan.max_window_records:
                    c.max_window_records = plan.max_window_records
            extract = {
                "usage_records": lambda day, s, e: read_each(
                    clients, day, s, e, None, lambda c: c.usage(s, e)
                ),
                "gateway_tasks": lambda day, s, e: read_each(
                    clients, day, s, e, None, lambda c: c.tasks(s, e, known_task_ids(landing, day))
                ),
            }
            for record in RECORDS:  # tasks depend on usage (Dagster runs them in this order)
                try:
                    land_evidence_days(ctx, record, landing, extract[record], source="gateways:main,lab")
                except ExtractionError as exc:
                    outcome = Outcome(ok=False, failed_record=record, error=str(exc))
                    assert not isinstance(exc, ConflictingDuplicateError), str(exc)
                    break
        outcome.fired = dict(url.faults.fired)
        outcome.retry_after_gaps = list(url.faults.retry_after_gaps)
    after = _snapshot(landing)
    blob = "\n".join(logs) + "\n" + (outcome.error or "")
    for secret in SECRETS:
        assert secret not in blob, "a secret reached a log line or an error message"
    retry_after = plan.faults["retry_after_s"]
    for waited in WAITED.findall(blob):
        assert float(waited) >= retry_after - 0.005, (
            f"a 429 retry waited {waited}s < Retry-After {retry_after}s"
        )
    # measured by the server, 429 sent -> retry arrived; a 429 sent after the client's read timeout
    # (a slow page) was never seen by the client: its retry owes that Retry-After nothing (seed 85)
    timeout = min(plan.newapi["timeout_seconds"], plan.lab["timeout_seconds"])
    for gap, promised, answered_after in outcome.retry_after_gaps:
        if answered_after >= timeout:
            continue
        assert gap >= promised - 0.001, f"a retry came {gap:.4f}s after a 429 with Retry-After {promised}s"

    if outcome.fired.get("outage"):  # an outage outlasts any budget: a request that met it cannot succeed
        assert not outcome.ok, "a run that met a sustained outage reported success"
    if outcome.ok:
        for record in RECORDS:
            stray = [
                n for n in after[record] if not re.fullmatch(r"(batch|manifest|quarantine)-\d{6}\.parquet", n)
            ]
            assert not stray, f"{record}: stray files {stray}"
            for name, data in before[record].items():  # nothing landed before was changed (migration renames)
                if name in after[record]:
                    assert after[record][name] == data, f"{record}: {name} was overwritten"
            got = read_held(landing, record, DAY)
            key = _key(record)
            exp = canon[record]
            assert not got.duplicated(key).any(), f"{record}: a record is held twice"
            assert set(map(tuple, got[key].to_numpy())) == set(map(tuple, exp[key].to_numpy())), (
                f"{record}: held keys differ from the truth"
            )
            gone = got[got["_change"].eq("gone")]
            if not plan.forgetful:
                assert gone.empty, f"{record}: a served record was marked gone"
            elif record == "usage_records":  # what the gateway deleted is held, marked gone
                main = got[got["gateway"] == "main"]
                cut = pd.Timestamp(CUT, unit="s", tz="UTC")
                assert set(main.loc[main["created_at"] < cut, "record_key"]) <= set(gone["record_key"])
                assert set(gone["gateway"]) <= {"main"}, "a record the gateway still serves was marked gone"
                m = read_manifest(landing, record, DAY)
                last = m[(m["gateway"] == "main") & (m["seq"] == m["seq"].max())]
                assert (main["created_at"] < cut).sum() == 0 or not last["complete"].iloc[0], (
                    "a day served shorter than recon holds was recorded complete"
                )
            pd.testing.assert_frame_equal(
                _canonical(got, record), t.landed[record], obj=f"{record} held content"
            )
        usage = read_held(landing, "usage_records", DAY)
        assert ledger_landed(usage) == t.ledger, "charges − refunds per task differ from the truth"
        final = sc.truth["net_cost_by_task"]  # the scenario's final cost per task (rounded to 1e-6)
        with_task = usage[usage["task_id"].notna()]
        for tid, cost in with_task.groupby("task_id")["cost_usd"].sum().items():
            assert abs(float(cost) - final[tid]) < 1e-6, f"task {tid}: net {cost} != final cost {final[tid]}"
        assert set(with_task["task_id"]) == set(final)
    else:
        msg = outcome.error or ""
        assert "\n" not in msg, f"error is not one line: {msg!r}"
        m = ONE_LINE.fullmatch(msg)
        assert m, f"not a clear one-line error: {msg}"
        assert int(m["n"]) == plan.newapi["max_attempts"], msg
        failed = RECORDS.index(outcome.failed_record)
        for record in RECORDS[failed:]:  # the failed partition, and what depends on it, untouched
            assert after[record] == before[record], f"{record}: the failed run changed the landing"
    return outcome


# -- tests ----------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("SIM_USER", SANDBOX_USER_ID)
    monkeypatch.setenv("SIM_LAB", TOKENLAB_TOKEN)
    monkeypatch.setenv("SIM_LAB_KEY", TOKENLAB_API_KEY)


def _regressions() -> list:
    cases = [Plan(**p) for p in json.loads(REGRESSIONS.read_text())["cases"]] if REGRESSIONS.exists() else []
    if not cases:
        return [pytest.param(None, marks=pytest.mark.skip(reason="fault_regressions.json has no case yet"))]
    return [pytest.param(p, id=f"seed{p.seed}") for p in cases]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(SEEDS))
def test_seeded_faults_hold_every_record_exactly_once_or_fail_cleanly(seed: int, tmp_path: Path) -> None:
    plan = Plan.for_seed(seed)
    try:
        OUTCOMES[seed] = simulate(plan, tmp_path)
    except AssertionError as exc:  # hand over the whole plan: it goes into fault_regressions.json
        raise AssertionError(f"seed {seed}: {exc}\nregression case: {json.dumps(asdict(plan))}") from exc


@pytest.mark.slow
@pytest.mark.parametrize("plan", _regressions())
def test_fault_regression(plan: Plan, tmp_path: Path) -> None:
    simulate(plan, tmp_path)


def test_a_plan_replays_from_its_regression_file_form(tmp_path: Path) -> None:
    """What a failing seed prints is what fault_regressions.json holds, and it runs as it was."""
    seed = next(s for s in range(100) if Faults.random(s).outage_len)  # the failure path, quickly
    plan = Plan(**json.loads(json.dumps(asdict(Plan.for_seed(seed)))))
    assert plan == Plan.for_seed(seed)
    simulate(plan, tmp_path)


@pytest.mark.slow
def test_the_seed_range_exercised_both_outcomes_and_every_fault() -> None:
    if len(OUTCOMES) < SEEDS:
        pytest.skip("only part of the seed range ran")
    ok = sum(o.ok for o in OUTCOMES.values())
    failed = {r: sum(o.failed_record == r for o in OUTCOMES.values()) for r in RECORDS}
    fired: dict[str, int] = {}
    for o in OUTCOMES.values():
        for k, v in o.fired.items():
            fired[k] = fired.get(k, 0) + v
    print(
        f"\nfault simulation: {SEEDS} seeds, {ok} succeeded, failed cleanly: {failed}; faults fired: "
        f"{dict(sorted(fired.items()))}"
    )
    assert ok > 0 and sum(failed.values()) > 0, (ok, failed)
    for kind in (
        "429",
        "5xx",
        "drop",
        "cut",
        "truncate",
        "slow",
        "insert_while_paging",
        "outage",
        "delete_while_paging",
    ):
        assert fired.get(kind, 0) > 0, f"no seed fired {kind}"


def test_a_429_the_client_gave_up_on_is_not_held_against_its_retry() -> None:
    """The Retry-After oracle: a 429 answered while the client still waited is tracked; one sent after a
    newer request for the same URL came in (the client timed out and retried) is not (seed 85)."""
    st = FaultState(Faults(retry_after_s=0.01))
    st.arrived("/a", 1.000)
    st.rate_limited("/a", 1.002, arrived=1.000)
    st.arrived("/a", 1.020)  # the retry: 18 ms after the 429
    assert st.retry_after_gaps == [(pytest.approx(0.018), 0.01, pytest.approx(0.002))]
    st.arrived("/b", 2.000)
    st.arrived("/b", 2.105)  # the client timed out on the first /b and retried
    st.rate_limited("/b", 2.120, arrived=2.000)  # the slow first answer, a 429 nobody reads
    st.arrived("/b", 2.126)
    assert len(st.retry_after_gaps) == 1


def test_a_random_schedule_replays_for_its_seed_given_the_request_order() -> None:
    sc = truth(0, 8).sc
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}", "New-Api-User": SANDBOX_USER_ID}

    def statuses(seed: int) -> list[int | str]:
        out: list[int | str] = []
        f = Faults(
            p_rate_limit=0.1,
            retry_after_s=0.0,
            p_5xx=0.1,
            burst_max=4,
            p_drop=0.05,
            p_cut=0.05,
            p_truncate=0.05,
            seed=seed,
        )
        with serve(sc, faults=f) as url, httpx.Client(base_url=url, timeout=5) as c:
            for _ in range(150):
                try:
                    r = c.get("/api/log/self", params={"page_size": 5}, headers=headers)
                    if r.status_code == 200:
                        r.json()
                    out.append(r.status_code)
                except httpx.TransportError as exc:
                    out.append(type(exc).__name__)
                except ValueError:
                    out.append("truncated")
        return out

    a = statuses(5)
    assert a == statuses(5) and a != statuses(6)
    runs = "".join("x" if s in (500, 502, 503, 504) else "." for s in a).split(".")
    assert max(map(len, runs)) >= 2, "no 5xx burst in 150 requests"
    assert {429, "RemoteProtocolError", "truncated", 200} <= set(a), set(a)


def test_rows_inserted_while_paging_trickle_in_until_all_are_there() -> None:
    sc = truth(0, 8).sc
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}", "New-Api-User": SANDBOX_USER_ID}
    f = Faults(insert_while_paging=5, p_insert=1.0, seed=3)
    with serve(sc, faults=f) as url, httpx.Client(base_url=url, timeout=5) as c:
        totals = [
            c.get("/api/log/self", params={"p": 2}, headers=headers).json()["data"]["total"] for _ in range(7)
        ]
    full = totals[-1]
    assert totals[0] < full and totals == sorted(totals)
    seen = totals[: totals.index(full) + 1]
    assert len(set(seen)) == len(seen), f"a listing's total stood still before all rows were in: {totals}"


def test_a_plan_is_a_pure_function_of_its_seed() -> None:
    assert Plan.for_seed(17) == Plan.for_seed(17)
    assert Plan.for_seed(17) != Plan.for_seed(18)
    assert Faults(**Plan.for_seed(17).faults) == Faults.random(17)
    assert asdict(Plan.for_seed(3))["faults"] == Faults.random(3).as_dict()
