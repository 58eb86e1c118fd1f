"""The demo app's own SQLite database and the mapping queries that turn it into canonical columns.

The app has its own vocabulary on purpose, so the config's queries do real work: table
`generation_jobs` (kind chat_completion/image_gen/..., state queued/working/done/error/canceled,
price in integer micro-USD, ISO-8601 text timestamps with a Z) and table `delivered_files`
(media_type, file_state ready/removed/broken). `:start`/`:end` may arrive as datetimes or ISO text in
any of the usual spellings; `julianday()` normalizes both sides before comparing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.sandbox.scenario import Scenario

JOB_COLUMNS = (
    "id",
    "account_ref",
    "kind",
    "model_requested",
    "gateway",
    "provider_request_id",
    "provider_task_id",
    "state",
    "created_ts",
    "finished_ts",
    "billing_txn",
    "price_micros",
    "attempts",
    "key_name",
    "usage_prompt",
    "usage_completion",
)
ASSET_COLUMNS = ("file_id", "job_ref", "uploaded_ts", "media_type", "size_bytes", "file_state")

DDL = """
create table generation_jobs (
    id text primary key,
    account_ref text not null,
    kind text not null,
    model_requested text not null,
    gateway text not null,
    provider_request_id text,
    provider_task_id text,
    state text not null,
    created_ts text not null,
    finished_ts text,
    billing_txn text,
    price_micros integer,
    attempts integer not null default 1,
    key_name text,
    usage_prompt integer,
    usage_completion integer
);
create index generation_jobs_created on generation_jobs (created_ts);
create table delivered_files (
    file_id text primary key,
    job_ref text not null references generation_jobs (id),
    uploaded_ts text not null,
    media_type text not null,
    size_bytes integer not null,
    file_state text not null
);
create index delivered_files_uploaded on delivered_files (uploaded_ts);
"""

JOBS_QUERY = """
select
    id as job_id,
    account_ref as user_id,
    created_ts as created_at,
    case kind when 'chat_completion' then 'chat' when 'image_gen' then 'image'
              when 'video_gen' then 'video' when 'music_gen' then 'music' else 'other' end as scene,
    model_requested as model,
    provider_request_id as request_id,
    provider_task_id as task_id,
    case state when 'queued' then 'pending' when 'working' then 'running' when 'done' then 'succeeded'
               when 'error' then 'failed' when 'canceled' then 'cancelled' end as status,
    finished_ts as terminal_at,
    billing_txn as billing_transaction_id,
    price_micros / 1000000.0 as expected_cost_usd,
    attempts - 1 as retry_count,
    key_name as token_name,
    usage_prompt as prompt_tokens,
    usage_completion as completion_tokens
from generation_jobs
where julianday(created_ts) >= julianday(:start) and julianday(created_ts) < julianday(:end)
order by created_ts, id
""".strip()

ASSETS_QUERY = """
select
    file_id as asset_id,
    job_ref as job_id,
    uploaded_ts as created_at,
    case media_type when 'image/png' then 'image' when 'video/mp4' then 'video'
                    when 'audio/mpeg' then 'audio' else 'other' end as kind,
    size_bytes as byte_size,
    case file_state when 'ready' then 'available' when 'removed' then 'deleted'
                    when 'broken' then 'failed' end as status
from delivered_files
where julianday(uploaded_ts) >= julianday(:start) and julianday(uploaded_ts) < julianday(:end)
order by uploaded_ts, file_id
""".strip()


def write_app_db(scenario: Scenario, path: str | Path) -> tuple[str, str]:
    """(Re)create the demo SQLite app DB at `path`; return (jobs_query, assets_query).

    The URL for SQLAlchemy is `sqlite:///<absolute path>`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.executescript(DDL)
        con.executemany(
            f"insert into generation_jobs ({', '.join(JOB_COLUMNS)}) values ({', '.join('?' * len(JOB_COLUMNS))})",
            [tuple(j.get(c) for c in JOB_COLUMNS) for j in scenario.app_jobs],
        )
        con.executemany(
            f"insert into delivered_files ({', '.join(ASSET_COLUMNS)}) "
            f"values ({', '.join('?' * len(ASSET_COLUMNS))})",
            [tuple(a[c] for c in ASSET_COLUMNS) for a in scenario.app_assets],
        )
        con.commit()
    finally:
        con.close()
    tmp.replace(p)
    return JOBS_QUERY, ASSETS_QUERY
