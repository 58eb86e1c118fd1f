"""new-api (gateway `main`) generators: log rows and task rows exactly as new-api's tables hold them,
with the billing sequence of GATEWAYS.md (pre-charge, settlement difference or refund)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from orchestration.sandbox.world import (
    CHAT_MODELS,
    CHAT_POOL,
    GROUPS,
    MAIN_TASK_MODELS,
    QUOTA_PER_UNIT,
    TASK_SECONDS,
    BaseBuilder,
    trunc_ms,
    unix,
)


def system_refund_text(fmt: str, task_id: str, quota: int) -> str:
    """The text an old build's type-4 refund row carries (LogQuota: USD or quota points)."""
    if fmt == "system_points":
        return f"异步任务执行失败 {task_id}，补偿 {quota} 点额度"
    usd = f"{quota / QUOTA_PER_UNIT:.6f}"
    if fmt == "system_en":
        return f"Video async task failed {task_id}, refund ＄{usd} 额度"
    return f"异步任务执行失败 {task_id}，补偿 ＄{usd} 额度"


class NewApiBuilder(BaseBuilder):
    """Rows of gateway `main`; each method also writes the app's job row unless told not to."""

    # ---- new-api rows ------------------------------------------------------------------------
    def nlog(
        self,
        t: datetime,
        typ: int,
        *,
        model: str = "",
        quota: int = 0,
        prompt: int = 0,
        completion: int = 0,
        use_time: int = 0,
        stream: bool = False,
        token: str = "prod-app",
        group: str = "default",
        other: dict | str = "",
        request_id: str | None = None,
        content: str = "",
        channel: int | None = None,
    ) -> dict:
        ch = self.rng.choice([3, 7, 12]) if channel is None else channel
        row: dict[str, Any] = {
            "created_at": unix(t),
            "type": typ,
            "content": content,
            "username": "sandbox-user",
            "token_name": token,
            "model_name": model,
            "quota": quota,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "use_time": use_time,
            "is_stream": stream,
            "channel": ch,
            "channel_name": f"upstream-pool-{ch}",
            "token_id": 40 + len(token),
            "group": group,
            "ip": f"203.0.113.{self.rng.randint(2, 250)}",
            "user_id": 1,
            "other": other if isinstance(other, str) else json.dumps(other, separators=(",", ":")),
        }
        if request_id:
            row["request_id"] = request_id
        if unix(t) <= self.as_of.timestamp():
            self._logs.append((row["created_at"], self.next_seq(), row))
        return row

    def noise_other(self, ch_model: str, path: str) -> dict:
        return {
            "admin_info": {
                "use_channel": [str(self.rng.choice([3, 7, 12]))],
                "upstream_base_url": "https://upstream.sandbox.invalid/v1",
            },
            "upstream_model_name": ch_model + "-upstream",
            "request_path": path,
            "is_model_mapped": False,
        }

    def ntask(
        self,
        *,
        task_id: str,
        platform: str,
        action: str,
        status: str,
        submit: datetime,
        start: datetime | None,
        finish: datetime | None,
        quota: int,
        fail_reason: str = "",
        progress: str = "100%",
        group: str = "default",
    ) -> dict:
        ms = platform == "mj"

        def tv(t: datetime | None) -> int:
            if t is None:
                return 0
            return int(t.timestamp() * 1000) if ms else unix(t)

        row = {
            "created_at": unix(submit),
            "updated_at": unix(finish or start or submit),
            "task_id": task_id,
            "platform": platform,
            "user_id": 1,
            "group": group,
            "channel_id": self.rng.choice([3, 7, 12]),
            "quota": quota,
            "action": action,
            "status": status,
            "fail_reason": fail_reason,
            "submit_time": tv(submit),
            "start_time": tv(start),
            "finish_time": tv(finish),
            "progress": progress,
            "properties": {"input": "[prompt withheld]"},
            "data": {"upstream_task_url": "https://upstream.sandbox.invalid/tasks/" + self._hex(12)},
        }
        self._tasks.append((unix(submit), self.next_seq(), row))
        return row

    # ---- new-api chat ------------------------------------------------------------------------
    def main_chat_error(self, t: datetime, *, with_job: bool = True) -> str | None:
        """A chat request that failed upstream: one uncharged error row (type 5) and, when the app
        made it, a job the app marked `error` with no price. Neither is a finding."""
        model = self.rng.choice(CHAT_POOL)
        t_req = t + self.secs(0.05, 0.3)
        rid = self.newapi_request_id(t_req)
        other = {
            "status_code": self.rng.choice([500, 503]),
            "error_code": "upstream_error",
            "error_type": "upstream_error",
            **self.noise_other(model, "/v1/chat/completions"),
        }
        t_row = t_req + self.secs(0.5, 8)
        self.nlog(
            t_row,
            5,
            model=model,
            use_time=1,
            other=other,
            request_id=rid,
            content="upstream returned an error",
        )
        if not with_job:
            return None
        return self.job(
            t=t,
            scene="chat",
            model=model,
            gateway="main",
            request_id=rid,
            task_id=None,
            state="error",
            finished=trunc_ms(t_row + self.secs(0.02, 0.3)),
            price_micros=None,
        )

    def main_chat(
        self,
        t: datetime,
        *,
        defect: str | None = None,
        retry: bool = False,
        orphan: bool = False,
        req_model: str | None = None,
        fixed_req: datetime | None = None,
        big: bool = False,
        failover: int = 0,
    ) -> str | None:
        """One synchronous chat completion on `main`; returns the app job id (None for orphans).

        `failover`: channel attempts that failed inside the request before one succeeded. With
        ERROR_LOG_ENABLED new-api writes an error row (type 5) for each, all under the request's id,
        differing in channel, `other.channel_name` and time, and then the consume row (GATEWAYS.md,
        "A request_id is not a row's identity"). The job is charged once: no finding."""
        model = req_model or self.rng.choice(CHAT_POOL)
        billed = "gpt-4o" if defect == "model_mismatch" else model
        r = CHAT_MODELS[billed]
        group = self.rng.choice(["default", "default", "vip"])
        prompt = self.rng.randint(2000, 6000) if big else self.rng.randint(200, 4000)
        completion = self.rng.randint(40, 1500)
        cache = self.rng.randint(0, prompt // 2) if self.rng.random() < 0.3 else 0
        formula = prompt - cache + cache * r["cache_ratio"] + completion * r["completion_ratio"]
        quota = round(formula * r["model_ratio"] * GROUPS[group])
        if defect == "quota_mismatch":
            quota += self.rng.randint(25, 400)
        attempts = 1
        t_req = t + self.secs(0.05, 0.3)
        if retry:
            err_rid = self.newapi_request_id(t_req)
            other = {
                "status_code": 429,
                "error_code": "rate_limit_exceeded",
                "error_type": "upstream_error",
                **self.noise_other(model, "/v1/chat/completions"),
            }
            self.nlog(
                t_req + self.secs(0.2, 2),
                5,
                model=model,
                use_time=1,
                group=group,
                other=other,
                request_id=err_rid,
                content="upstream said: too many requests",
            )
            t_req = t_req + self.secs(2, 5)
            attempts = 2
        use_time = self.rng.randint(1, 25)
        t_row = fixed_req if fixed_req is not None else t_req + timedelta(seconds=use_time)
        rid = self.newapi_request_id(t_req)
        if failover:
            channels = self.rng.sample([3, 7, 12, 15], failover + 1)
            for n, ch in enumerate(channels[:-1]):
                self.nlog(
                    t_req + timedelta(seconds=n),
                    5,
                    model=model,
                    group=group,
                    other={
                        "status_code": 503,
                        "error_code": "upstream_error",
                        "error_type": "upstream_error",
                        "channel_name": f"upstream-pool-{ch}",
                    },
                    request_id=rid,
                    content="upstream returned an error; retrying another channel",
                    channel=ch,
                )
            t_row = max(t_row, t_req + timedelta(seconds=failover))
        stream = self.rng.random() < 0.5
        other: dict[str, Any] = {
            "model_ratio": r["model_ratio"],
            "group_ratio": GROUPS[group],
            "completion_ratio": r["completion_ratio"],
            "model_price": -1,
            "frt": self.rng.randint(200, 2500),
            **self.noise_other(billed, "/v1/chat/completions"),
        }
        if cache:
            other["cache_tokens"] = cache
            other["cache_ratio"] = r["cache_ratio"]
        if stream:
            other["stream_status"] = {"status": "ok", "end_reason": "stop"}
        if defect != "missing_usage":
            self.nlog(
                t_row,
                2,
                model=billed,
                quota=quota,
                prompt=prompt,
                completion=completion,
                use_time=use_time,
                stream=stream,
                group=group,
                other=other,
                request_id=rid,
                content=f"model ratio {r['model_ratio']}, completion ratio {r['completion_ratio']}",
            )
        if orphan:
            return None
        finished = trunc_ms(max(t_row, t_req) + self.secs(0.02, 0.4))
        price = quota * 2  # quota / 500000 USD in micro-USD
        if defect == "cost_mismatch":
            price = quota  # the app priced it at half
        return self.job(
            t=t,
            scene="chat",
            model=model,
            gateway="main",
            request_id=rid,
            task_id=None,
            state="done",
            finished=finished,
            price_micros=price,
            attempts=attempts,
        )

    def main_chat_idless(self, t: datetime, *, twins: int = 1) -> list[str]:
        """`twins` identical chat requests (same token, model, tokens, within a second) through a
        node that logs no request id; the app stored no ids, only the token name and the usage the
        response reported. One request links by the fallback match; two are each other's ambiguous
        candidates. Returns the job ids."""
        model = "gpt-4o-mini"
        r = CHAT_MODELS[model]
        prompt, completion = self.rng.randint(200, 3000), self.rng.randint(40, 900)
        quota = round((prompt + completion * r["completion_ratio"]) * r["model_ratio"])
        jids = []
        for k in range(twins):
            # 1.2 s apart: rows stamped in whole seconds that are identical in every field would be
            # one row (new-api rows have no identity but their content)
            t_req = t + timedelta(milliseconds=1200 * k)
            use_time = 3
            t_row = t_req + timedelta(seconds=use_time)
            other = {
                "model_ratio": r["model_ratio"],
                "group_ratio": 1.0,
                "completion_ratio": r["completion_ratio"],
                "model_price": -1,
            }
            self.nlog(
                t_row,
                2,
                model=model,
                quota=quota,
                prompt=prompt,
                completion=completion,
                use_time=use_time,
                token="legacy-app",
                other=other,
                request_id=None,
                content=f"model ratio {r['model_ratio']}",
            )
            jids.append(
                self.job(
                    t=t_req,
                    scene="chat",
                    model=model,
                    gateway="main",
                    request_id=None,
                    task_id=None,
                    state="done",
                    finished=trunc_ms(t_row + timedelta(milliseconds=80)),
                    price_micros=quota * 2,
                    token_name="legacy-app",
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                )
            )
        return jids

    # ---- new-api async task ------------------------------------------------------------------
    def main_task(
        self,
        t: datetime,
        scene: str,
        *,
        outcome: str = "success",
        precharge: bool = True,
        refund: str = "normal",
        delta: str = "normal",
        app_state: str | None = None,
        asset: str | None = "auto",
        app_price: str = "auto",
        billed_model: str | None = None,
        precharge_bump: int = 0,
        duplicate: bool = False,
        orphan: bool = False,
        model_pick: int | None = None,
        refund_lag: tuple[float, float] | None = None,
        delta_lag: tuple[float, float] | None = None,
        precharge_task_id: bool = True,
        refund_format: str = "type6",
    ) -> dict:
        """One async task on `main` with the new-api billing sequence; knobs shape the defects.

        outcome: success | failure | timeout | stuck_running | stuck_queued | stuck_not_start.
        refund: normal | none | double | excess. delta: normal | none | legacy | legacy_less | bump.
        precharge_task_id False: the current-main pre-charge, with the request id and no task id.
        refund_format: type6 | system_usd | system_points | system_en (old builds' type-4 rows).
        Returns a dict of the ids and times for the truth notes."""
        opts = MAIN_TASK_MODELS[scene]
        platform, action, model, price = opts[
            model_pick if model_pick is not None else self.rng.randrange(len(opts))
        ]
        billed = billed_model or model
        group = self.rng.choice(["default", "default", "vip"])
        pre = int(
            price * QUOTA_PER_UNIT * GROUPS[group]
        )  # new-api truncates a pre-charge (int()), never rounds
        logged_pre = pre + precharge_bump
        attempts = 1
        first_charge = 0
        t_job = t
        rid1 = ""
        if duplicate:  # a first submit the app lost track of: charged and succeeded too
            t1 = t + self.secs(0.1, 0.4)
            rid1 = self.newapi_request_id(t1)
            tid1 = self.newapi_task_id()
            self._precharge(t1, billed, logged_pre, group, rid1, tid1, price, platform)
            s1 = t1 + self.secs(2, 20)
            f1 = s1 + self.secs(*TASK_SECONDS[scene])
            self.ntask(
                task_id=tid1,
                platform=platform,
                action=action,
                status="SUCCESS",
                submit=t1,
                start=s1,
                finish=f1,
                quota=logged_pre,
                group=group,
            )
            t = t1 + self.secs(240, 420)  # the app's retry after its client timeout
            attempts = 2
            first_charge = logged_pre
        t_sub = t + self.secs(0.1, 0.5)
        rid = self.newapi_request_id(t_sub)
        tid = self.newapi_task_id()
        if precharge:
            self._precharge(
                t_sub, billed, logged_pre, group, rid, tid if precharge_task_id else None, price, platform
            )
        start = t_sub + self.secs(2, 20)
        finish: datetime | None = start + self.secs(*TASK_SECONDS[scene])
        actual = logged_pre
        settles_at: datetime | None = None  # when the settlement difference row is stamped
        status, fail_reason, progress = "SUCCESS", "", "100%"
        net = logged_pre if precharge else 0
        if outcome == "timeout":
            finish = t_sub + timedelta(minutes=1440)
        if outcome in ("failure", "timeout"):
            status = "FAILURE"
            fail_reason = (
                "task timeout"
                if outcome == "timeout"
                else self.rng.choice(
                    ["upstream content policy violation", "upstream returned 500", "generation failed"]
                )
            )
            lag = refund_lag or ((15, 300) if self.rng.random() < 0.8 else (3600, 8 * 3600))
            if outcome == "timeout":
                lag = refund_lag or (15, 90)
            if refund in ("normal", "double", "excess") and precharge:
                amount = logged_pre * (2 if refund == "excess" else 1)
                t_ref = finish + self.secs(*lag)
                other = {"task_id": tid, "reason": fail_reason}
                if refund_format == "type6":
                    self.nlog(
                        t_ref,
                        6,
                        model=billed,
                        quota=amount,
                        group=group,
                        other=other,
                        content="task failed, quota refunded",
                    )
                else:  # a pre-2026-02 build: a system row, quota 0, the amount only in the text
                    self.nlog(
                        t_ref,
                        4,
                        token="",
                        group="",
                        other="",
                        content=system_refund_text(refund_format, tid, amount),
                    )
                net -= amount
                if refund == "double":
                    self.nlog(
                        t_ref + self.secs(120, 300),
                        6,
                        model=billed,
                        quota=amount,
                        group=group,
                        other=other,
                        content="task failed, quota refunded",
                    )
                    net -= amount
        elif outcome.startswith("stuck"):
            finish = None
            status = {
                "stuck_running": "IN_PROGRESS",
                "stuck_queued": "QUEUED",
                "stuck_not_start": "NOT_START",
            }[outcome]
            progress = "40%" if outcome == "stuck_running" else "0%"
            if outcome != "stuck_running":
                start = None
        else:  # success: maybe a settlement difference row
            if delta == "bump":
                actual = round(logged_pre * 1.6)
            elif delta == "legacy_less":  # a fork's negative-quota settlement, for sure
                actual = round(logged_pre * 0.6)
            elif delta in ("normal", "legacy") and self.rng.random() < 0.5:
                actual = round(logged_pre * self.rng.choice([0.5, 0.6, 0.8, 1.2, 1.4, 1.5]))
            if actual != logged_pre and precharge:
                lag = delta_lag or self.rng.choice([(15, 60), (15, 60), (60, 1200), (3600, 6 * 3600)])
                t_set = finish + self.secs(*lag)
                diff = actual - logged_pre
                if delta in ("legacy", "legacy_less"):
                    other = {
                        "task_id": tid,
                        "pre_consumed": logged_pre,
                        "actual_quota": actual,
                        "quota_delta": diff,
                        "total_tokens": 0,
                    }
                    self.nlog(
                        t_set,
                        2,
                        model=billed,
                        quota=diff,
                        group=group,
                        other=other,
                        content="task settlement",
                    )
                else:
                    other = {"task_id": tid, "pre_consumed_quota": logged_pre, "actual_quota": actual}
                    self.nlog(
                        t_set,
                        2 if diff > 0 else 6,
                        model=billed,
                        quota=abs(diff),
                        group=group,
                        other=other,
                        content="task settlement difference",
                    )
                settles_at = t_set
                if t_set <= self.as_of:
                    net += diff
        task_quota = actual if status == "SUCCESS" else logged_pre
        self.ntask(
            task_id=tid,
            platform=platform,
            action=action,
            status=status,
            submit=t_sub,
            start=start,
            finish=finish,
            quota=task_quota,
            fail_reason=fail_reason,
            progress=progress,
            group=group,
        )
        info = {
            "settles_at": settles_at,
            "task_id": tid,
            "request_id": rid,
            "submit": t_sub,
            "finish": finish,
            "job_id": None,
            "pre": logged_pre,
            "actual": actual,
            "net_quota": net + first_charge,
        }
        if orphan:
            return info
        gw_state = {"SUCCESS": "done", "FAILURE": "error"}.get(status, "working")
        state = app_state or gw_state
        seen = (
            trunc_ms(finish + self.secs(1, 15)) if finish is not None and state in ("done", "error") else None
        )
        if seen is None and state in ("done", "error"):
            seen = trunc_ms(t_sub + self.secs(600, 900))
        if app_price == "auto":
            micros = actual * 2 if state == "done" else None
        elif app_price == "pre":
            micros = logged_pre * 2
        elif app_price == "charged":
            micros = (net + first_charge) * 2
        else:
            micros = None
        if state == "working":
            micros = logged_pre * 2
        jid = self.job(
            t=t_job,
            scene=scene,
            model=model,
            gateway="main",
            request_id=rid1 if duplicate else rid,
            task_id=tid,
            state=state,
            finished=seen,
            price_micros=micros,
            attempts=attempts,
        )
        info["job_id"] = jid
        if (
            status == "SUCCESS"
            and precharge
            and actual != logged_pre
            and info.get("settles_at")
            and (info["settles_at"] > self.as_of or info["settles_at"] >= self.range_end)  # not landed
            and state == "done"
            and micros == actual * 2
            and seen is not None
        ):
            # the difference row is not landed (after as_of, or after the run's last day), but the task is terminal: once
            # late_after_minutes have passed its money is judged as held (DESIGN "Judge as soon as
            # the money is final"), so the app's settled price is a cost_mismatch until it lands
            self.find(
                "cost_mismatch",
                job_id=jid,
                task_id=tid,
                request_id=rid1 if duplicate else rid,
                gateway="main",
                note="settlement difference row not arrived by as_of",
                terminal=seen,
            )
        if asset == "auto":
            asset = "ready" if state == "done" else None
        if asset and seen is not None:
            self.asset(jid, seen + self.secs(0.5, 3), scene, asset)
            if scene == "music" and asset == "ready" and self.rng.random() < 0.5:
                self.asset(jid, seen + self.secs(0.5, 3), scene, "removed")  # user deleted one of two
        info["terminal"] = seen
        return info

    def _precharge(
        self,
        t: datetime,
        model: str,
        quota: int,
        group: str,
        rid: str,
        tid: str | None,
        price: float,
        platform: str,
    ) -> None:
        other: dict[str, Any] = {
            "is_task": True,
            **({"task_id": tid} if tid else {}),  # current main: the request id only
            "model_price": price,
            "group_ratio": GROUPS[group],
            **self.noise_other(model, f"/{platform}/submit"),
        }
        self.nlog(
            t,
            2,
            model=model,
            quota=quota,
            group=group,
            other=other,
            request_id=rid,
            use_time=self.rng.randint(0, 2),
            content=f"task submitted, price {price}",
        )

    # ---- plain noise -------------------------------------------------------------------------
    def admin_noise(self, t: datetime, typ: int) -> None:
        content = {
            1: "redeemed a top-up code worth $10.00",
            3: "admin adjusted the user's group",
            4: "system notice",
            7: "user logged in",
        }[typ]
        quota = 5_000_000 if typ == 1 else 0
        self.nlog(t, typ, quota=quota, token="", other="", content=content)
