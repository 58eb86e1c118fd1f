"""The building blocks of the demo world: prices, id and time helpers, and the base builder that
owns the seeded rng, the app's rows and the truth. The gateway-specific generators live in
`world_newapi.py` and `world_tokenlab.py`; what gets generated lives in `defects.py`."""

from __future__ import annotations

import random
import string
from datetime import UTC, date, datetime, time, timedelta

from schemas.canonical import MISMATCH_CODES  # noqa: F401 - re-exported for the scenario

QUOTA_PER_UNIT = 500_000
SETTLEMENT_WINDOW_HOURS = 48  # truth is computed with the ReconciliationConfig defaults
STUCK_TASK_SLA_MINUTES = 60
MAX_AS_OF_HOURS = 12  # as_of must fall in [end+1d 00:00, end+1d 12:00] for the truth to be exact
LATE_AFTER_MINUTES = 15
WINDOWED_CODES = ("missing_usage", "charged_for_failure")  # money that never came: wait for the window
FINAL_CODES = (
    "cost_mismatch",
    "model_mismatch",
    "quota_mismatch",
    "missing_asset",
)  # once the money is final

# new-api pricing (ratio-priced chat models; fixed-price task models in USD per task)
CHAT_MODELS: dict[str, dict[str, float]] = {
    "gpt-4o-mini": {"model_ratio": 0.075, "completion_ratio": 4.0, "cache_ratio": 0.5},
    "gpt-4o": {"model_ratio": 1.25, "completion_ratio": 4.0, "cache_ratio": 0.5},
    "claude-3-5-haiku-20241022": {"model_ratio": 0.4, "completion_ratio": 5.0, "cache_ratio": 0.1},
    "deepseek-chat": {"model_ratio": 0.135, "completion_ratio": 4.0, "cache_ratio": 0.1},
}
CHAT_POOL = ("gpt-4o-mini", "claude-3-5-haiku-20241022", "deepseek-chat")
GROUPS = {"default": 1.0, "vip": 0.8}
# scene -> [(platform, action, model, price_usd)]
MAIN_TASK_MODELS: dict[str, list[tuple[str, str, str, float]]] = {
    "image": [("mj", "IMAGINE", "mj_imagine", 0.05)],
    "video": [("kling", "generate", "kling-v1-6", 0.35), ("sora", "generate", "sora-2", 0.5)],
    "music": [("suno", "MUSIC", "suno_music", 0.1)],
}
# TokenLab: chat (model -> vendor, USD per 1M input, per 1M output); tasks scene -> [(model, vendor, micros)]
LAB_CHAT: dict[str, tuple[str, float, float]] = {
    "gpt-4.1-mini": ("openai", 0.40, 1.60),
    "claude-sonnet-4": ("anthropic", 3.0, 15.0),
    "claude-3-7-sonnet": ("anthropic", 3.0, 15.0),
}
LAB_CHAT_POOL = ("gpt-4.1-mini", "claude-sonnet-4")
LAB_TASK_MODELS: dict[str, list[tuple[str, str, int]]] = {
    "image": [("flux-1.1-pro", "bfl", 40_000)],
    "video": [("veo-3-fast", "google", 1_200_000), ("kling-v2-master", "kling", 800_000)],
    "music": [("suno-v4.5", "suno", 80_000)],
}
APP_KIND = {"chat": "chat_completion", "image": "image_gen", "video": "video_gen", "music": "music_gen"}
MEDIA = {"image": "image/png", "video": "video/mp4", "music": "audio/mpeg"}
TASK_SECONDS = {"image": (15, 90), "video": (60, 600), "music": (30, 180)}


def iso_ms(t: datetime) -> str:
    """The app's timestamp text: ISO-8601 UTC with milliseconds and a trailing Z."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def trunc_ms(t: datetime) -> datetime:
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


def unix(t: datetime) -> int:
    return int(t.timestamp() // 1)


def parse_iso(s: str | None) -> datetime | None:
    if s is None:
        return None
    return datetime.fromisoformat(s)


class BaseBuilder:
    """State shared by both gateways' generators: the seeded rng, ids, time helpers, app rows, truth."""

    def __init__(self, seed: int, start: date, end: date, as_of: datetime, jobs_per_day: int) -> None:
        self.rng = random.Random(seed)
        self.seed, self.start, self.end, self.as_of, self.jobs_per_day = seed, start, end, as_of, jobs_per_day
        self.range_start = datetime.combine(start, time(), UTC)
        self.range_end = datetime.combine(end + timedelta(days=1), time(), UTC)
        self._logs: list[tuple[int, int, dict]] = []  # (created_at, seq, row)
        self._tasks: list[tuple[int, int, dict]] = []
        self.lab_usage: list[dict] = []
        self.lab_tasks: dict[str, dict] = {}
        self.jobs: list[dict] = []
        self.assets: list[dict] = []
        self.findings: list[dict] = []
        self._seq = 0
        self.users = [f"u_{1000 + i}" for i in range(40)]

    # ---- ids ---------------------------------------------------------------------------------
    def _alnum(self, n: int) -> str:
        chars = string.ascii_letters + string.digits
        return "".join(self.rng.choice(chars) for _ in range(n))

    def _hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def newapi_request_id(self, t: datetime) -> str:
        return t.strftime("%Y%m%d%H%M%S") + self._alnum(16)

    def newapi_task_id(self) -> str:
        return "task_" + self._alnum(32)

    def user(self) -> str:
        return self.rng.choice(self.users)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ---- time --------------------------------------------------------------------------------
    def days(self) -> list[date]:
        n = (self.end - self.start).days + 1
        return [self.start + timedelta(days=i) for i in range(n)]

    def at(self, day: date, lo_h: float = 0.0, hi_h: float = 23.5) -> datetime:
        secs = self.rng.uniform(lo_h * 3600, hi_h * 3600)
        return trunc_ms(datetime.combine(day, time(), UTC) + timedelta(seconds=secs))

    def settled_days(self) -> list[date]:
        """Days whose jobs are past the settlement window at as_of (with margin), for defects."""
        limit = self.as_of - timedelta(hours=SETTLEMENT_WINDOW_HOURS + 2)
        ok = [d for d in self.days() if datetime.combine(d, time(21), UTC) <= limit]
        return ok or [self.start]

    def secs(self, lo: float, hi: float) -> timedelta:
        return timedelta(seconds=self.rng.uniform(lo, hi))

    # ---- app rows ----------------------------------------------------------------------------
    def job(
        self,
        *,
        t: datetime,
        scene: str,
        model: str,
        gateway: str,
        request_id: str | None,
        task_id: str | None,
        state: str,
        finished: datetime | None,
        price_micros: int | None,
        attempts: int = 1,
        billing_txn: str | None = None,
        user: str | None = None,
        token_name: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> str:
        jid = "gen_" + self._hex(16)
        self.jobs.append(
            {
                "id": jid,
                "account_ref": user or self.user(),
                "kind": APP_KIND[scene],
                "model_requested": model,
                "gateway": gateway,
                "provider_request_id": request_id,
                "provider_task_id": task_id,
                "state": state,
                "created_ts": iso_ms(t),
                "finished_ts": iso_ms(finished) if finished else None,
                "billing_txn": billing_txn,
                "price_micros": price_micros,
                "attempts": attempts,
                # what the app saw in the gateway's response (kept only where it has no ids)
                "key_name": token_name,
                "usage_prompt": prompt_tokens,
                "usage_completion": completion_tokens,
            }
        )
        return jid

    def asset(self, job_id: str, t: datetime, scene: str, state: str = "ready") -> None:
        lo, hi = {
            "image": (200_000, 3_000_000),
            "video": (2_000_000, 90_000_000),
            "music": (1_000_000, 9_000_000),
        }[scene]
        self.assets.append(
            {
                "file_id": "file_" + self._hex(16),
                "job_ref": job_id,
                "uploaded_ts": iso_ms(trunc_ms(t)),
                "media_type": MEDIA[scene],
                "size_bytes": self.rng.randint(lo, hi),
                "file_state": state,
            }
        )

    def find(
        self,
        code: str,
        *,
        job_id: str | None,
        task_id: str | None = None,
        request_id: str | None = None,
        gateway: str,
        note: str,
        terminal: datetime | None = None,
        submitted: datetime | None = None,
    ) -> None:
        window = timedelta(hours=SETTLEMENT_WINDOW_HOURS)
        if code in WINDOWED_CODES and (terminal is None or terminal + window > self.as_of):
            return  # still pending at as_of: not a finding yet
        late = timedelta(minutes=LATE_AFTER_MINUTES)
        if code in FINAL_CODES and terminal is not None and terminal + late > self.as_of:
            return  # settlement rows may still arrive: the amount is not final yet
        sla = timedelta(minutes=STUCK_TASK_SLA_MINUTES)
        if code == "stuck_task" and submitted is not None and submitted + sla > self.as_of:
            return
        self.findings.append(
            {
                "mismatch_type": code,
                "job_id": job_id,
                "task_id": task_id,
                "request_id": request_id,
                "gateway": gateway,
                "note": note,
            }
        )
