"""TokenLab (gateway `lab`) generators: usage records and tasks in the sandbox's TokenLab JSON shape
(README.md), as they stand at `as_of` (billing_transaction_id only once settled)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from orchestration.sandbox.world import (
    LAB_CHAT,
    LAB_CHAT_POOL,
    LAB_TASK_MODELS,
    TASK_SECONDS,
    BaseBuilder,
    iso_ms,
    trunc_ms,
)


class TokenLabBuilder(BaseBuilder):
    """Records and tasks of gateway `lab`; each job method also writes the app's job row."""

    # ---- TokenLab ----------------------------------------------------------------------------
    def lab_record(
        self,
        t: datetime,
        *,
        kind: str,
        scene: str,
        model: str,
        vendor: str,
        micros: int,
        request_id: str | None,
        task_id: str | None,
        settle_at: datetime | None,
        usage: dict,
        latency_ms: int,
        stream: bool = False,
    ) -> dict | None:
        if t > self.as_of:
            return None
        settled = settle_at is not None and settle_at <= self.as_of
        key = request_id or task_id or ""
        rec: dict[str, Any] = {
            "id": "ur_" + self._hex(20),
            "object": "usage_record",
            "type": kind,
            "request_id": request_id,
            "task_id": task_id,
            "status": "settled" if settled else "pending",
            "created_at": iso_ms(t),
            "settled_at": iso_ms(settle_at) if settled else None,
            "scene": scene,
            # a quarter of the traffic runs on the customer's own provider key (bring your own key)
            "access_channel": "byok"
            if key and int(hashlib.sha256(key.encode()).hexdigest()[:2], 16) < 64
            else "platform",
            "logical_model": model,
            "model_vendor": vendor,
            "api_key_id": "key_demo",
            "api_key_name": "lab-prod",
            "usage": usage,
            "cost": {"amount": f"{micros / 1e6:.6f}", "currency": "USD"},
            "latency_ms": latency_ms,
            "stream": stream,
            "client_ip": f"198.51.100.{self.rng.randint(2, 250)}",
            "upstream": {
                "provider_request_id": self._hex(24),
                "endpoint": "https://upstream.sandbox.invalid",
            },
        }
        if settled:
            rec["billing_transaction_id"] = "btx_" + self._hex(20)
        self.lab_usage.append(rec)
        return rec

    def lab_chat(
        self,
        t: datetime,
        *,
        defect: str | None = None,
        orphan: bool = False,
        fixed_rec: datetime | None = None,
    ) -> str | None:
        model = self.rng.choice(LAB_CHAT_POOL)
        billed = "claude-3-7-sonnet" if defect == "model_mismatch" else model
        vendor, p_in, p_out = LAB_CHAT[billed]
        prompt, completion = self.rng.randint(200, 5000), self.rng.randint(40, 1500)
        cached = self.rng.randint(0, prompt // 3) if self.rng.random() < 0.3 else 0
        micros = round(prompt * p_in + completion * p_out)
        rid = "req_" + self._hex(24)
        t_req = t + self.secs(0.05, 0.3)
        latency = self.rng.randint(400, 20_000)
        t_rec = fixed_rec if fixed_rec is not None else trunc_ms(t_req + timedelta(milliseconds=latency))
        usage = {"input_tokens": prompt, "output_tokens": completion}
        if cached:
            usage["cached_tokens"] = cached
        if defect is None and not orphan and int(hashlib.sha256(rid.encode()).hexdigest()[:2], 16) < 32:
            self.lab_failed_attempt(trunc_ms(t_req), billed, vendor, latency)
        if defect != "missing_usage":
            self.lab_record(
                t_rec,
                kind="charge",
                scene="chat",
                model=billed,
                vendor=vendor,
                micros=micros,
                request_id=rid,
                task_id=None,
                settle_at=t_rec,
                usage=usage,
                latency_ms=latency,
                stream=self.rng.random() < 0.5,
            )
        if orphan:
            return None
        price = micros // 2 if defect == "cost_mismatch" else micros
        return self.job(
            t=t,
            scene="chat",
            model=model,
            gateway="lab",
            request_id=rid,
            task_id=None,
            state="done",
            finished=trunc_ms(t_rec + self.secs(0.02, 0.3)),
            price_micros=price,
        )

    def lab_failed_attempt(self, t: datetime, model: str, vendor: str, latency_ms: int) -> None:
        """A request the platform failed (upstream 502) before the app's retry succeeded: served as a
        usage record with status failed, its own request id and the amount it did not charge. It is an
        error row, never a charge: read as one it would be an orphan_usage no app job explains."""
        if t > self.as_of:
            return
        rid = "req_" + hashlib.sha256(f"failed:{t.isoformat()}:{model}".encode()).hexdigest()[:24]
        self.lab_usage.append(
            {
                "id": "ur_" + hashlib.sha256(rid.encode()).hexdigest()[:20],
                "object": "usage_record",
                "type": "charge",
                "request_id": rid,
                "task_id": None,
                "status": "failed",
                "created_at": iso_ms(t),
                "settled_at": None,
                "scene": "chat",
                "access_channel": "platform",
                "logical_model": model,
                "model_vendor": vendor,
                "api_key_id": "key_demo",
                "api_key_name": "lab-prod",
                "usage": {"input_tokens": 0, "output_tokens": 0},
                "cost": {"amount": "0.000000", "currency": "USD"},
                "latency_ms": min(latency_ms, 30_000),
                "stream": False,
                "error": {"code": "upstream_error", "message": "Upstream failure, try again."},
            }
        )

    def lab_task(
        self,
        t: datetime,
        scene: str,
        *,
        outcome: str = "success",
        charge: bool = True,
        refund: str = "normal",
        app_state: str | None = None,
        asset: str | None = "auto",
        app_price: str = "auto",
        charged_micros: int | None = None,
        duplicate: bool = False,
        refund_lag: tuple[float, float] | None = None,
    ) -> dict:
        """One async task on `lab`: a charge record at submit (reserved; it gains its
        billing_transaction_id when it settles after the task ends), a refund record on failure.

        outcome: success | failure | cancelled | stuck. refund: normal | none | double."""
        model, vendor, micros = self.rng.choice(LAB_TASK_MODELS[scene])
        billed = charged_micros if charged_micros is not None else micros
        attempts = 1
        first = 0
        t0 = t
        rid1 = ""
        if duplicate:
            t1 = t + self.secs(0.1, 0.4)
            rid1, tid1 = "req_" + self._hex(24), "tsk_" + self._hex(24)
            s1 = t1 + self.secs(2, 20)
            f1 = s1 + self.secs(*TASK_SECONDS[scene])
            settle1 = f1 + self.secs(5, 60)
            self.lab_record(
                t1,
                kind="charge",
                scene=scene,
                model=model,
                vendor=vendor,
                micros=billed,
                request_id=rid1,
                task_id=tid1,
                settle_at=settle1,
                usage={"units": 1, "unit": scene},
                latency_ms=self.rng.randint(200, 900),
            )
            self._lab_task_json(tid1, scene, model, "completed", t1, s1, f1, billed, settle1)
            t = t1 + self.secs(240, 420)
            attempts, first = 2, billed
        t_sub = t + self.secs(0.1, 0.5)
        rid, tid = "req_" + self._hex(24), "tsk_" + self._hex(24)
        start = t_sub + self.secs(2, 20)
        finish: datetime | None = start + self.secs(*TASK_SECONDS[scene])
        status = {"success": "completed", "failure": "failed", "cancelled": "failed"}.get(
            outcome, "processing"
        )
        if outcome == "stuck":
            finish = None
        settle = (
            finish + self.rng.choice([self.secs(5, 60), self.secs(5, 60), self.secs(600, 7200)])
            if finish is not None
            else None
        )
        net = 0
        if charge:
            self.lab_record(
                t_sub,
                kind="charge",
                scene=scene,
                model=model,
                vendor=vendor,
                micros=billed,
                request_id=rid,
                task_id=tid,
                settle_at=settle,
                usage={"units": 1, "unit": scene},
                latency_ms=self.rng.randint(200, 900),
            )
            net += billed
        if outcome in ("failure", "cancelled") and charge and refund in ("normal", "double"):
            lag = refund_lag or ((5, 300) if self.rng.random() < 0.8 else (3600, 6 * 3600))
            t_ref = trunc_ms(finish + self.secs(*lag))
            for i in range(2 if refund == "double" else 1):
                tr = trunc_ms(t_ref + timedelta(seconds=90 * i))
                rec = self.lab_record(
                    tr,
                    kind="refund",
                    scene=scene,
                    model=model,
                    vendor=vendor,
                    micros=-billed,
                    request_id=None,
                    task_id=tid,
                    settle_at=tr,
                    usage={"units": 1, "unit": scene},
                    latency_ms=0,
                )
                if rec is not None:
                    net -= billed
        task = self._lab_task_json(
            tid,
            scene,
            model,
            status,
            t_sub,
            start,
            finish,
            billed,
            settle if charge else None,
            cancelled=outcome == "cancelled",
        )
        info = {
            "task_id": tid,
            "request_id": rid,
            "submit": t_sub,
            "finish": finish,
            "job_id": None,
            "net_micros": net + first,
        }
        gw_state = {"completed": "done", "failed": "canceled" if outcome == "cancelled" else "error"}.get(
            status, "working"
        )
        state = app_state or gw_state
        seen = trunc_ms(finish + self.secs(1, 15)) if finish is not None and state != "working" else None
        if app_price == "auto":
            price = micros if state == "done" else None
        elif app_price == "charged":
            price = net + first
        else:
            price = None
        if state == "working":
            price = billed
        btx = (
            task.get("billing_transaction_id")
            if state == "done" and settle and seen and settle <= seen
            else None
        )
        jid = self.job(
            t=t0,
            scene=scene,
            model=model,
            gateway="lab",
            request_id=rid1 if duplicate else rid,
            task_id=tid,
            state=state,
            finished=seen,
            price_micros=price,
            attempts=attempts,
            billing_txn=btx,
        )
        info["job_id"] = jid
        info["terminal"] = seen
        if asset == "auto":
            asset = "ready" if state == "done" else None
        if asset and seen is not None:
            self.asset(jid, seen + self.secs(0.5, 3), scene, asset)
        return info

    def _lab_task_json(
        self,
        tid: str,
        scene: str,
        model: str,
        status: str,
        sub: datetime,
        start: datetime | None,
        finish: datetime | None,
        micros: int,
        settle: datetime | None,
        cancelled: bool = False,
    ) -> dict:
        # the documented shape: `created` / `updated` integer epochs, `error` a string, a cancelled
        # task failed with cancelled + cancellation_status
        last = finish or start or sub
        task: dict[str, Any] = {
            "id": tid,
            "object": "task",
            "status": status,
            "scene": scene,
            "model": model,
            "created": int(sub.timestamp()),
            "updated": int(last.timestamp()),
            "progress": 100 if finish else 35,
            "poll_url": f"/v1/tasks/{tid}",
            "cost": {"amount": f"{micros / 1e6:.6f}", "currency": "USD"},
            "error": None,
            "result": None,
        }
        if status == "completed":
            task["result"] = {"outputs": [{"url": f"https://cdn.sandbox.invalid/{self._hex(16)}"}]}
        if status == "failed":
            task["error"] = (
                "cancelled by user"
                if cancelled
                else self.rng.choice(["content policy violation", "upstream timeout", "generation failed"])
            )
        if cancelled:
            task["cancelled"] = True
            task["cancellation_status"] = "cancelled"
        if settle is not None and settle <= self.as_of:
            task["billing_transaction_id"] = "btx_" + self._hex(20)
        self.lab_tasks[tid] = task
        return task
