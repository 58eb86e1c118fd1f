"""The naive contender: the same rules as a straightforward pandas script, the way a user writes the
reconciliation before adopting this project (read every landed file into frames, sort/drop_duplicates,
merge, groupby). Same output as the floor.

    .venv/bin/python -m bench.scale.naive_pandas LANDING OUT.parquet --vars JSON

Not implemented (the benchmark data has none): the id-less fallback match by model and time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.scale.rules import RESULT_COLUMNS, run_params

TERMINAL = ["succeeded", "failed", "cancelled"]


def read(landing: Path, record: str) -> pd.DataFrame:
    files = sorted((landing / record).glob(f"date=*/{record}.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def nullif_empty(df: pd.DataFrame, cols: list[str]) -> None:
    for c in cols:
        df[c] = df[c].where(df[c] != "", None)


def load(landing: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    usage = read(landing, "usage_records")
    nullif_empty(usage, ["request_id", "task_id", "billing_transaction_id", "model"])
    usage["record_type"] = usage["record_type"].str.lower()
    usage["no_btx"] = usage["billing_transaction_id"].isna()
    usage = usage.sort_values(
        ["gateway", "record_key", "no_btx", "billing_transaction_id", "created_at"],
        ascending=[True, True, True, True, False],
        na_position="last",
    ).drop_duplicates(["gateway", "record_key"])

    jobs = read(landing, "app_jobs")
    nullif_empty(jobs, ["request_id", "task_id", "billing_transaction_id", "model"])
    jobs["status"] = jobs["status"].str.lower()
    jobs["not_terminal"] = ~jobs["status"].isin(TERMINAL)
    jobs = jobs.sort_values(
        ["job_id", "not_terminal", "terminal_at", "created_at"],
        ascending=[True, True, False, False],
        na_position="last",
    ).drop_duplicates("job_id")

    tasks = read(landing, "gateway_tasks")
    tasks["status"] = tasks["status"].str.lower()
    tasks["is_cancelled"] = tasks["is_cancelled"].fillna(False).astype(bool)
    tasks["state_rank"] = (
        tasks["status"].map({"succeeded": 0, "failed": 0, "running": 1, "queued": 2}).fillna(3)
    )
    tasks = tasks.sort_values(
        ["gateway", "task_id", "state_rank", "finished_at"],
        ascending=[True, True, True, False],
        na_position="last",
    ).drop_duplicates(["gateway", "task_id"])
    tasks["is_terminal"] = tasks["status"].isin(["succeeded", "failed"])

    assets = read(landing, "app_assets")
    assets["status"] = assets["status"].str.lower()
    assets = assets.sort_values(["asset_id", "created_at"], ascending=[True, False]).drop_duplicates(
        "asset_id"
    )
    return usage, jobs, tasks, assets


def link(usage: pd.DataFrame, jobs: pd.DataFrame) -> pd.DataFrame:
    keys = usage[["gateway", "record_key", "task_id", "request_id", "billing_transaction_id"]]
    j = jobs[["job_id", "task_id", "request_id", "billing_transaction_id", "created_at"]].rename(
        columns={"created_at": "job_created_at"}
    )
    parts = []
    for rank, col in ((1, "task_id"), (2, "request_id"), (3, "billing_transaction_id")):
        left = keys[keys[col].notna()][
            ["gateway", "record_key", "task_id"] + ([col] if col != "task_id" else [])
        ]
        right = j[j[col].notna()][["job_id", col, "job_created_at"]]
        m = left.merge(right, on=col)
        m["rank"] = rank
        parts.append(m[["gateway", "record_key", "task_id", "job_id", "job_created_at", "rank"]])
    direct = pd.concat(parts, ignore_index=True)
    reached = direct[direct["task_id"].notna()][["job_id", "job_created_at", "task_id"]].drop_duplicates()
    via_task = keys[keys["task_id"].notna()][["gateway", "record_key", "task_id"]].merge(
        reached, on="task_id"
    )
    via_task["rank"] = 4
    links = pd.concat([direct, via_task], ignore_index=True)
    best = links.sort_values(["gateway", "record_key", "rank", "job_created_at", "job_id"]).drop_duplicates(
        ["gateway", "record_key"]
    )
    return usage.merge(best[["gateway", "record_key", "job_id"]], on=["gateway", "record_key"], how="left")


def reconcile(landing: Path, day_vars: dict) -> pd.DataFrame:
    p = run_params(day_vars)
    as_of = pd.Timestamp(p["as_of"])
    tol, tol_ratio = p["tol_usd"], p["tol_ratio"]
    usage, jobs, tasks, assets = load(landing)
    linked = link(usage, jobs)

    ledger = linked[linked["record_type"].isin(["consume", "refund"])]
    task_ledgers = (
        ledger[ledger["task_id"].notna()]
        .groupby(["gateway", "task_id"], as_index=False)
        .agg(job_id=("job_id", "max"), net=("cost_usd", "sum"), first_ledger_at=("created_at", "min"))
    )

    jl = ledger[ledger["job_id"].notna()]
    money = jl.groupby("job_id").agg(net=("cost_usd", "sum"), last_ledger_at=("created_at", "max"))
    money["charged"] = jl[jl["cost_usd"] > 0].groupby("job_id")["cost_usd"].sum()
    charged_rows = jl[(jl["record_type"] == "consume") & (jl["cost_usd"] > 0)]
    money["charged_tasks"] = (
        charged_rows[charged_rows["task_id"].notna()].groupby("job_id")["task_id"].nunique()
    )
    sync = charged_rows[charged_rows["task_id"].isna()]
    money["charged_requests"] = (
        sync["request_id"].fillna(sync["record_key"]).groupby(sync["job_id"]).nunique()
    )

    tn = (
        task_ledgers[task_ledgers["job_id"].notna()]
        .groupby("job_id")["net"]
        .agg(["min", "max"])
        .rename(columns={"min": "min_task_net", "max": "max_task_net"})
    )

    consumed = linked[
        (linked["record_type"] == "consume") & linked["model"].notna() & linked["job_id"].notna()
    ]
    cm = consumed[["job_id", "model"]].merge(jobs[["job_id", "model"]], on="job_id", suffixes=("", "_job"))
    cm = cm[cm["model_job"].notna() & (cm["model"].str.lower() != cm["model_job"].str.lower())]
    model_differs = set(cm["job_id"])

    jt = pd.concat(
        [
            jobs[jobs["task_id"].notna()][["job_id", "task_id"]].assign(rank=0),
            linked[linked["job_id"].notna() & linked["task_id"].notna()][["job_id", "task_id"]].assign(
                rank=1
            ),
        ]
    ).drop_duplicates()
    primary = (
        jt.merge(tasks, on="task_id")
        .sort_values(["job_id", "rank", "submitted_at", "task_id"])
        .drop_duplicates("job_id")
        .set_index("job_id")
    )

    available = assets[assets["job_id"].notna() & (assets["status"] == "available")].groupby("job_id").size()

    j = jobs.set_index("job_id")
    df = pd.DataFrame(index=j.index)
    df["request_id"] = j["request_id"]
    df["app_status"] = j["status"]
    df["expected"] = j["expected_cost_usd"]
    df["created_at"] = j["created_at"]
    df["gtask"] = primary["task_id"].reindex(df.index)
    df["gstatus"] = primary["status"].reindex(df.index)
    df["gterminal"] = primary["is_terminal"].reindex(df.index).fillna(False).astype(bool)
    df["gcancelled"] = primary["is_cancelled"].reindex(df.index).fillna(False).astype(bool)
    df["gsubmitted"] = primary["submitted_at"].reindex(df.index)
    df["gfinished"] = primary["finished_at"].reindex(df.index)
    for c in ("net", "charged", "charged_tasks", "charged_requests"):
        df[c] = money[c].reindex(df.index).fillna(0)
    df["last_ledger_at"] = money["last_ledger_at"].reindex(df.index)
    df["min_task_net"] = tn["min_task_net"].reindex(df.index)
    df["max_task_net"] = tn["max_task_net"].reindex(df.index)
    df["available"] = available.reindex(df.index).fillna(0)
    df["model_differs"] = df.index.isin(model_differs)
    df["is_async"] = j["task_id"].notna() | df["gtask"].notna()

    eff = df["app_status"].copy()
    gt = df["gterminal"]
    eff[gt] = "failed"
    eff[gt & df["gcancelled"]] = "cancelled"
    eff[gt & (df["gstatus"] == "succeeded")] = "succeeded"
    df["eff"] = eff
    df["is_terminal"] = eff.isin(TERMINAL)
    df["terminal_at"] = j["terminal_at"].fillna(df["gfinished"]).where(df["is_terminal"])
    window = pd.Timedelta(microseconds=p["window_us"])
    df["window_passed"] = (df["terminal_at"] + window <= as_of).fillna(False).astype(bool)
    net = df["net"]
    df["is_settled"] = np.where(
        eff == "succeeded", net > tol, np.where(eff.isin(["failed", "cancelled"]), net.abs() <= tol, False)
    )
    stuck_since = df["gsubmitted"].where(df["gtask"].notna() & ~gt)
    stuck_since = stuck_since.fillna(df["created_at"].where(df["gtask"].isna() & ~df["is_terminal"]))
    df["is_stuck"] = (
        ((as_of - stuck_since) > pd.Timedelta(microseconds=p["sla_us"])).fillna(False).astype(bool)
    )

    findings = []

    def add(code: str, mask: pd.Series, amount: pd.Series | float) -> None:
        sel = df[mask]
        amt = amount[mask] if isinstance(amount, pd.Series) else amount
        findings.append(
            pd.DataFrame(
                {
                    "mismatch_type": code,
                    "job_id": sel.index,
                    "task_id": sel["gtask"].values,
                    "request_id": sel["request_id"].values,
                    "amount_usd": np.asarray(amt, dtype=float) if not np.isscalar(amt) else float(amt),
                }
            )
        )

    wp = df["window_passed"]
    add("missing_usage", (eff == "succeeded") & wp & (net <= tol), df["expected"].fillna(0))
    add("charged_for_failure", eff.isin(["failed", "cancelled"]) & wp & (net > tol), net)
    mtn = df["min_task_net"]
    add(
        "over_refunded",
        (net < -tol) | (mtn.fillna(0) < -tol),
        (-np.minimum(net, mtn.fillna(net))).clip(lower=0),
    )
    add("missing_asset", (eff == "succeeded") & df["is_async"] & (net > tol) & (df["available"] == 0), net)
    add("asset_without_success", (df["available"] > 0) & (eff != "succeeded"), net.clip(lower=0))
    app_norm = df["app_status"].replace({"cancelled": "failed"})
    g_norm = np.where(df["gstatus"] == "succeeded", "succeeded", "failed")
    add("status_mismatch", gt & (app_norm != g_norm), 0.0)
    exp = df["expected"]
    add(
        "cost_mismatch",
        wp & exp.notna() & ((net - exp).abs() > np.maximum(tol, tol_ratio * exp.abs())),
        (net - exp).abs(),
    )
    add("model_mismatch", df["model_differs"], 0.0)
    ct, cr = df["charged_tasks"], df["charged_requests"]
    dup_cost = np.where(
        ct > 1,
        (net - df["max_task_net"].fillna(0)).clip(lower=0),
        (df["charged"] / cr.where(cr > 0) * (cr - 1)).clip(lower=0).fillna(0),
    )
    add("duplicate_create", (ct > 1) | ((ct == 0) & (cr > 1)), pd.Series(dup_cost, index=df.index))
    add("stuck_task", df["is_stuck"], 0.0)
    out = pd.concat(findings, ignore_index=True)

    extra = []
    orphan_tl = task_ledgers[task_ledgers["job_id"].isna() & (task_ledgers["net"] < -tol)]
    extra.append(
        pd.DataFrame(
            {
                "mismatch_type": "over_refunded",
                "job_id": None,
                "task_id": orphan_tl["task_id"],
                "request_id": None,
                "amount_usd": -orphan_tl["net"],
            }
        )
    )
    orphans = linked[(linked["record_type"] == "consume") & linked["job_id"].isna()]
    extra.append(
        pd.DataFrame(
            {
                "mismatch_type": "orphan_usage",
                "job_id": None,
                "task_id": orphans["task_id"],
                "request_id": orphans["request_id"],
                "amount_usd": orphans["cost_usd"].fillna(0).abs(),
            }
        )
    )
    claimed = set(jobs["task_id"].dropna()) | set(task_ledgers.loc[task_ledgers["job_id"].notna(), "task_id"])
    ghost = tasks[
        ~tasks["is_terminal"]
        & ~tasks["task_id"].isin(claimed)
        & ((as_of - tasks["submitted_at"]) > pd.Timedelta(microseconds=p["sla_us"]))
    ]
    extra.append(
        pd.DataFrame(
            {
                "mismatch_type": "stuck_task",
                "job_id": None,
                "task_id": ghost["task_id"],
                "request_id": None,
                "amount_usd": 0.0,
            }
        )
    )

    q = linked[linked["record_type"] == "consume"]
    delta = q["pre_consumed_quota"].notna() & q["actual_quota"].notna()
    fixed = ~delta & q["model_price"].notna() & (q["model_price"] >= 0)
    ratio = ~delta & ~fixed & q["model_ratio"].notna()
    qpu = q["quota_per_unit"].fillna(500000)
    gr = q["group_ratio"].fillna(1)
    expected_q = pd.Series(np.nan, index=q.index)
    expected_q[delta] = (q["actual_quota"] - q["pre_consumed_quota"]).abs()[delta]
    expected_q[fixed] = (q["model_price"] * qpu * gr).round()[fixed]
    cache = q["cache_tokens"].fillna(0)
    tokens = (
        q["prompt_tokens"].fillna(0)
        - cache
        + cache * q["cache_ratio"].fillna(1)
        + q["completion_tokens"].fillna(0) * q["completion_ratio"].fillna(1)
    )
    expected_q[ratio] = (tokens * q["model_ratio"] * gr).round()[ratio]
    checked = q["quota"].where(~delta, q["quota"].abs())
    diff = checked - expected_q
    bad = diff.abs() > p["quota_tol"]
    qm = q[bad]
    extra.append(
        pd.DataFrame(
            {
                "mismatch_type": "quota_mismatch",
                "job_id": qm["job_id"],
                "task_id": qm["task_id"],
                "request_id": qm["request_id"],
                "amount_usd": diff[bad].abs() / qpu[bad],
            }
        )
    )
    out = pd.concat([out] + extra, ignore_index=True)
    out["amount_usd"] = out["amount_usd"].astype(float).fillna(0).clip(lower=0).round(6)
    out["kind"] = "finding"
    out["settlement_status"] = None

    s = df[df["is_terminal"] & df["terminal_at"].notna()]
    late = pd.Timedelta(microseconds=p["late_us"])
    on_time = s["is_settled"] & (
        s["last_ledger_at"].isna() | (s["last_ledger_at"] <= s["terminal_at"] + late)
    )
    status = np.where(
        on_time,
        "on_time",
        np.where(s["is_settled"], "late", np.where(s["window_passed"], "unsettled", "pending")),
    )
    settlements = pd.DataFrame(
        {
            "kind": "settlement",
            "mismatch_type": None,
            "job_id": s.index,
            "task_id": None,
            "request_id": None,
            "amount_usd": np.nan,
            "settlement_status": status,
        }
    )
    return pd.concat([out[RESULT_COLUMNS], settlements[RESULT_COLUMNS]], ignore_index=True)


def run(landing: Path, out: Path, day_vars: dict) -> None:
    result = reconcile(landing, day_vars)
    for c in ("kind", "mismatch_type", "job_id", "task_id", "request_id", "settlement_status"):
        result[c] = result[c].astype(object).where(result[c].notna(), None)
    result.to_parquet(out, index=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale.naive_pandas")
    ap.add_argument("landing", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--vars", required=True)
    args = ap.parse_args(argv)
    run(args.landing, args.out, json.loads(args.vars))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
