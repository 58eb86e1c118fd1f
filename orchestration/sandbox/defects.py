"""What the demo world contains: clean jobs with their noise, rows on day edges, jobs still inside the
settlement window, and the injected defects — each recorded in the truth with every code it implies
(README.md, "Injected defects")."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from orchestration.sandbox.world import UTC, parse_iso, trunc_ms

if TYPE_CHECKING:
    from orchestration.sandbox.scenario import Builder


def add_clean_jobs(b: Builder) -> None:
    days = b.days()
    late_limit = b.range_end - timedelta(hours=25)
    for day in days:
        for _ in range(b.jobs_per_day):
            t = b.at(day)
            scene = b.rng.choices(["chat", "image", "video", "music"], [50, 20, 15, 15])[0]
            gw = "main" if b.rng.random() < 0.6 else "lab"
            if scene == "chat":
                roll = b.rng.random()
                if gw == "main" and roll < 0.03:
                    b.main_chat_error(t, with_job=roll < 0.02)  # failed job / a probe with no job
                elif gw == "main":
                    b.main_chat(t, retry=roll < 0.09)
                else:
                    b.lab_chat(t)
                continue
            roll = b.rng.random()
            if gw == "main":
                outcome = "success"
                if roll < 0.12:
                    outcome = "failure"
                elif roll < 0.15 and t <= late_limit:
                    outcome = "timeout"  # refunded a day late (TASK_TIMEOUT_MINUTES)
                delta = "legacy" if b.rng.random() < 0.05 else "normal"
                # ~half the pre-charges are current main's: request id, no task id
                # ~a quarter of the refunds are old builds' type-4 system rows (amount in the text)
                fmt = b.rng.choice(
                    ["type6", "type6", "type6", "type6", "type6", "system_usd", "system_points", "system_en"]
                )
                b.main_task(
                    t,
                    scene,
                    outcome=outcome,
                    delta=delta,
                    precharge_task_id=b.rng.random() < 0.5,
                    refund_format=fmt,
                )
            else:
                outcome = "success"
                if roll < 0.12:
                    outcome = "failure"
                elif roll < 0.15:
                    outcome = "cancelled"
                b.lab_task(t, scene, outcome=outcome)
        # console noise: top-ups, logins, admin and system rows
        for typ in (1, 7, 7, 3, 4):
            if b.rng.random() < 0.8:
                b.admin_noise(b.at(day), typ)
    add_old_build_rows(b)


def add_old_build_rows(b: Builder) -> None:
    """Clean jobs billed in the older formats, for sure in every demo: a fork's negative-quota
    settlement row, and type-4 system refund rows (quota 0, amount only in the text) against a
    current-main pre-charge. None is a finding."""
    days = b.settled_days() or b.days()
    for fmt in ("system_usd", "system_en", "system_points"):
        b.main_task(
            b.at(b.rng.choice(days), 1, 20),
            "video",
            outcome="failure",
            refund_format=fmt,
            precharge_task_id=False,
        )
    for _ in range(2):
        b.main_task(b.at(b.rng.choice(days), 1, 20), "image", delta="legacy_less")


def add_failover_jobs(b: Builder) -> None:
    """Per day one or two chat requests that failed over between channels (ERROR_LOG_ENABLED): error
    rows and then the consume row under one request id. Clean: every row lands once, the job is
    charged exactly its consume row, no finding. Drawn last so the rest of the world stays as it was."""
    for day in b.days():
        for failed in (2, 3)[: b.rng.choice([1, 2])]:
            b.main_chat(b.at(day, 1.0, 20.0), failover=failed)


def add_day_edges(b: Builder) -> None:
    """Rows exactly on day edges (00:00:00 UTC) and just outside the range."""
    days = b.days()
    b.admin_noise(b.range_start, 7)  # login exactly at the first instant: inside
    b.admin_noise(b.range_start - timedelta(seconds=1), 1)  # top-up one second before: outside
    b.admin_noise(b.range_end, 1)  # top-up exactly at the exclusive end: outside
    # a whole chat job the day before the range (app row and usage row both outside)
    b.main_chat(b.range_start - timedelta(seconds=12), fixed_req=b.range_start - timedelta(seconds=1))
    for day in days[1:]:
        edge = datetime.combine(day, time(), UTC)
        # the app created the job the previous day; the usage row is stamped exactly at 00:00:00
        b.main_chat(trunc_ms(edge - timedelta(seconds=1.5)), fixed_req=edge)
        b.lab_chat(trunc_ms(edge - timedelta(seconds=2.5)), fixed_rec=edge)
    # last day: the row lands at the exclusive end (next day's partition): pending, not a finding
    b.main_chat(trunc_ms(b.range_end - timedelta(seconds=1.5)), fixed_req=b.range_end)


def add_pending_jobs(b: Builder) -> None:
    """Jobs inside the settlement window at as_of whose money has not settled yet: no findings."""
    last = b.end
    prev = b.end - timedelta(days=1) if b.end > b.start else b.end
    # succeeded video, its (larger) settlement difference lands after as_of: inside the window, but
    # the task is terminal and late_after_minutes have passed, so its money is judged as held (the
    # app expected the settled price): a cost_mismatch now, gone once the difference row lands
    # (main_task records that finding itself, as for every task whose difference row is still out)
    b.main_task(
        b.at(last, 20, 21),
        "video",
        outcome="success",
        delta="bump",
        delta_lag=(11 * 3600, 12 * 3600),
        model_pick=0,
    )
    # failed music, refund after as_of (timeout-style late refund)
    b.main_task(b.at(last, 10, 12), "music", outcome="failure", refund_lag=(20 * 3600, 22 * 3600))
    # failed lab image the day before, refund not there yet
    b.lab_task(b.at(prev, 13, 14), "image", outcome="failure", refund_lag=(45 * 3600, 46 * 3600))
    # a late refund that did arrive, inside the window: clean
    b.main_task(b.at(prev, 2, 4), "video", outcome="failure", refund_lag=(6 * 3600, 9 * 3600))


def inject_defects(b: Builder) -> None:
    """At least two (mostly three or more) of every mismatch code, spread over both gateways."""
    days = b.settled_days()

    def d() -> datetime:
        return b.at(b.rng.choice(days), 1, 20)

    def tf(info: dict, codes: list[str], gw: str, note: str) -> None:
        for code in codes:
            b.find(
                code,
                job_id=info["job_id"],
                task_id=info["task_id"],
                request_id=info["request_id"],
                gateway=gw,
                note=note,
                terminal=info.get("terminal"),
                submitted=info["submit"],
            )

    # missing_usage (+ cost_mismatch: net 0 vs the app's expected price)
    i = b.main_task(d(), "video", precharge=False)
    tf(i, ["missing_usage", "cost_mismatch"], "main", "task SUCCESS, no pre-charge or settlement row at all")
    i = b.lab_task(d(), "image", charge=False)
    tf(i, ["missing_usage", "cost_mismatch"], "lab", "task completed, no usage record")
    t = d()
    jid = b.main_chat(t, defect="missing_usage")
    job = b.jobs[-1]
    b.find(
        "missing_usage",
        job_id=jid,
        request_id=job["provider_request_id"],
        gateway="main",
        note="chat job done, its log row never written",
        terminal=parse_iso(job["finished_ts"]),
    )
    b.find(
        "cost_mismatch",
        job_id=jid,
        request_id=job["provider_request_id"],
        gateway="main",
        note="net 0 vs expected",
        terminal=parse_iso(job["finished_ts"]),
    )

    # charged_for_failure (app agrees it failed; expected cost NULL)
    i = b.main_task(d(), "video", outcome="failure", refund="none")
    tf(i, ["charged_for_failure"], "main", "FAILURE, pre-charge never refunded")
    i = b.main_task(d(), "music", outcome="failure", refund="none")
    tf(i, ["charged_for_failure"], "main", "FAILURE, pre-charge never refunded")
    i = b.lab_task(d(), "video", outcome="failure", refund="none")
    tf(i, ["charged_for_failure"], "lab", "failed, reservation never released")
    i = b.lab_task(d(), "image", outcome="cancelled", refund="none")
    tf(i, ["charged_for_failure"], "lab", "cancelled (failed + cancelled:true), never refunded")

    # over_refunded (failed tasks, app agrees; net < 0)
    i = b.main_task(d(), "video", outcome="failure", refund="double", precharge_task_id=False)
    tf(
        i,
        ["over_refunded"],
        "main",
        "two identical refund rows (differ only in created_at); current-main "
        "pre-charge (request id only), so only the job's ledger weighs the refunds against it",
    )
    i = b.main_task(d(), "image", outcome="failure", refund="excess")
    tf(i, ["over_refunded"], "main", "refund of twice the pre-charge")
    i = b.lab_task(d(), "music", outcome="failure", refund="double")
    tf(i, ["over_refunded"], "lab", "two refund records for one task")

    # missing_asset (succeeded and charged, nothing available to the user)
    i = b.main_task(d(), "video", asset="broken")
    tf(i, ["missing_asset"], "main", "the only asset failed to upload")
    i = b.lab_task(d(), "image", asset=None)
    tf(i, ["missing_asset"], "lab", "no asset row at all")

    # asset_without_success (both sides agree it failed, refunded, yet an asset is available)
    i = b.main_task(d(), "music", outcome="failure", asset="ready")
    tf(i, ["asset_without_success"], "main", "failed + refunded, app kept a preview asset")
    i = b.lab_task(d(), "video", outcome="failure", asset="ready")
    tf(i, ["asset_without_success"], "lab", "failed + refunded, app kept a preview asset")

    # status_mismatch shapes
    i = b.main_task(
        d(), "video", outcome="failure", refund="none", app_state="done", asset="ready", app_price="pre"
    )
    tf(
        i,
        ["status_mismatch", "charged_for_failure", "asset_without_success"],
        "main",
        "app done with asset, gateway FAILURE and charged (expected = charge)",
    )
    i = b.main_task(d(), "image", app_state="error", asset=None)
    tf(i, ["status_mismatch", "missing_asset"], "main", "app error, gateway SUCCESS and charged")
    i = b.lab_task(
        d(), "image", outcome="failure", refund="none", app_state="done", asset="ready", app_price="charged"
    )
    tf(
        i,
        ["status_mismatch", "charged_for_failure", "asset_without_success"],
        "lab",
        "app done with asset, gateway failed and charged (expected = charge)",
    )
    i = b.lab_task(d(), "music", app_state="error", asset=None)
    tf(i, ["status_mismatch", "missing_asset"], "lab", "app error, gateway completed and charged")

    # cost_mismatch
    i = b.main_task(d(), "video", delta="bump", app_price="pre", model_pick=0)
    tf(i, ["cost_mismatch"], "main", "settled 60% above the pre-charge; app expected the pre-charge")
    jid = b.main_chat(d(), defect="cost_mismatch", big=True)
    job = b.jobs[-1]
    b.find(
        "cost_mismatch",
        job_id=jid,
        request_id=job["provider_request_id"],
        gateway="main",
        note="app priced the chat at half the billed quota",
        terminal=parse_iso(job["finished_ts"]),
    )
    i = b.lab_task(d(), "image", charged_micros=80_000, app_price="auto")
    tf(i, ["cost_mismatch"], "lab", "billed 0.08 for an image the app expected at 0.04")

    # model_mismatch (money consistent)
    jid = b.main_chat(d(), defect="model_mismatch", req_model="gpt-4o-mini")
    job = b.jobs[-1]
    b.find(
        "model_mismatch",
        job_id=jid,
        request_id=job["provider_request_id"],
        gateway="main",
        note="requested gpt-4o-mini, billed gpt-4o",
    )
    jid = b.lab_chat(d(), defect="model_mismatch")
    job = b.jobs[-1]
    b.find(
        "model_mismatch",
        job_id=jid,
        request_id=job["provider_request_id"],
        gateway="lab",
        note="billed claude-3-7-sonnet",
    )
    i = b.main_task(d(), "video", billed_model="kling-v2-master", model_pick=0, delta="none")
    tf(i, ["model_mismatch"], "main", "requested kling-v1-6, every row billed kling-v2-master")

    # duplicate_create (+ cost_mismatch: two charges vs one expected price)
    for scene, gw in (("video", "main"), ("music", "main"), ("image", "lab")):
        if gw == "main":
            i = b.main_task(d(), scene, duplicate=True, delta="none")
        else:
            i = b.lab_task(d(), scene, duplicate=True)
        job = b.jobs[-1]
        tf(
            {**i, "request_id": job["provider_request_id"]},
            ["duplicate_create", "cost_mismatch"],
            gw,
            "app kept the first submit's request_id and the retry's task_id; both charged",
        )

    # orphan_usage (no job by any key): keyed by request_id, or task_id for a task pre-charge
    for _ in range(2):
        t = d()
        b.main_chat(t, orphan=True)
        row = b._logs[-1][2]
        b.find(
            "orphan_usage",
            job_id=None,
            request_id=row["request_id"],
            gateway="main",
            note="chat consume row, no app job",
        )
    t = d()
    b.lab_chat(t, orphan=True)
    rec = b.lab_usage[-1]
    b.find(
        "orphan_usage",
        job_id=None,
        request_id=rec["request_id"],
        gateway="lab",
        note="chat usage record, no app job",
    )
    i = b.main_task(d(), "image", orphan=True, delta="none")
    b.find(
        "orphan_usage",
        job_id=None,
        task_id=i["task_id"],
        request_id=i["request_id"],
        gateway="main",
        note="task pre-charge (SUCCESS), no app job",
    )

    # stuck_task (pre-charged, app still waiting; expected = pre-charge so money agrees)
    i = b.main_task(d(), "video", outcome="stuck_running")
    tf(i, ["stuck_task"], "main", "IN_PROGRESS for days")
    i = b.main_task(d(), "music", outcome="stuck_queued")
    tf(i, ["stuck_task"], "main", "QUEUED for days")
    i = b.main_task(d(), "image", outcome="stuck_not_start")
    tf(i, ["stuck_task"], "main", "NOT_START for days (Midjourney: times in ms)")
    i = b.lab_task(d(), "video", outcome="stuck")
    tf(i, ["stuck_task"], "lab", "processing for days, reservation unsettled")

    # quota_mismatch (new-api only; the app expects what was logged, so money agrees)
    for _ in range(2):
        jid = b.main_chat(d(), defect="quota_mismatch")
        job = b.jobs[-1]
        b.find(
            "quota_mismatch",
            job_id=jid,
            request_id=job["provider_request_id"],
            gateway="main",
            note="logged quota above the ratio formula",
        )
    i = b.main_task(d(), "image", precharge_bump=3000, delta="none")
    tf(i, ["quota_mismatch"], "main", "fixed-price pre-charge above model_price x 500000 x group_ratio")

    # id-less rows (a node that logs no request id; the app kept token + usage): one links by the
    # fallback match (clean); two identical requests a moment apart fit each other's job:
    # ambiguous_match on both, never a guess (the last day, so their money is not judged yet)
    b.main_chat_idless(d())
    for jid in b.main_chat_idless(b.at(b.end, 8, 9), twins=2):
        b.find(
            "ambiguous_match",
            job_id=jid,
            gateway="main",
            note="identical id-less requests: each row fits both jobs",
        )
