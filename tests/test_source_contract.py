"""The `raw` sources' columns and types are declared once, in _staging__sources.yml (`data_type:` per
column; dbt's `landed_source()` builds its typed empty relations and casts from them), and must be
exactly schemas/canonical.py's contract: the same names in the same order, each Arrow type as DuckDB
reads it from a landed Parquet file, and the same optional columns. Mutated copies prove the
comparison fails on each kind of drift."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration.evidence import BATCH_FIELDS, MANIFEST_SCHEMA
from orchestration.gateway_totals import SCHEMA as TOTALS_SCHEMA
from schemas.canonical import OPTIONAL_COLUMNS, RECORDS, arrow_schema

REPO = Path(__file__).resolve().parents[1]
SOURCES_YML = REPO / "dbt_project/models/staging/_staging__sources.yml"
EVIDENCE = (
    "usage_records",
    "gateway_tasks",
)  # append-only batches: the batch columns follow the canonical ones


def landed_schemas(records: dict[str, dict[str, pa.DataType]] = RECORDS) -> dict[str, pa.Schema]:
    """Every raw source's Arrow schema as recon lands it."""
    out = {r: pa.schema([pa.field(n, t) for n, t in cols.items()]) for r, cols in records.items()}
    for r in EVIDENCE:
        out[r] = pa.schema([*out[r], *BATCH_FIELDS])
    return {**out, "extraction_manifests": MANIFEST_SCHEMA, "gateway_totals": TOTALS_SCHEMA}


def duckdb_types(schema: pa.Schema, tmp: Path) -> dict[str, str]:
    """What DuckDB reads each column of a Parquet file with `schema` as (the types dbt sees)."""
    f = tmp / "t.parquet"
    pq.write_table(schema.empty_table(), f)
    with duckdb.connect() as con:
        return {r[0]: r[1] for r in con.execute(f"describe select * from read_parquet('{f}')").fetchall()}


def normalized(con: duckdb.DuckDBPyConnection, data_type: str) -> str:
    """A declared type as DuckDB names it (`bigint` -> BIGINT, `timestamp with time zone` -> TIMESTAMP WITH TIME ZONE)."""
    return con.execute(f"select typeof(cast(null as {data_type}))").fetchone()[0]


def declared(sources_yml: dict) -> dict[str, list[dict]]:
    (raw,) = [s for s in sources_yml["sources"] if s["name"] == "raw"]
    return {t["name"]: t.get("columns", []) for t in raw["tables"]}


def contract_problems(
    sources_yml: dict,
    tmp: Path,
    records: dict[str, dict[str, pa.DataType]] = RECORDS,
    optional: dict[str, tuple[str, ...]] = OPTIONAL_COLUMNS,
) -> list[str]:
    """Each way the yml and the landed schemas differ, one line naming source and column."""
    problems = []
    tables = declared(sources_yml)
    with duckdb.connect() as con:
        for record, schema in landed_schemas(records).items():
            cols = tables.get(record)
            if cols is None:
                problems.append(f"raw.{record}: not a source in _staging__sources.yml")
                continue
            want = duckdb_types(schema, tmp)
            names = [c["name"] for c in cols]
            if names != list(want):
                problems.append(f"raw.{record}: columns {names} are not the landed {list(want)}")
            for c in cols:
                if c["name"] not in want:
                    continue
                got = c.get("data_type")
                if got is None:
                    problems.append(f"raw.{record}.{c['name']}: no data_type")
                elif normalized(con, got) != want[c["name"]]:
                    problems.append(
                        f"raw.{record}.{c['name']}: data_type {got} but it lands as {want[c['name']]}"
                    )
            marked = tuple(c["name"] for c in cols if (c.get("config") or {}).get("meta", {}).get("optional"))
            if marked != tuple(optional.get(record, ())):
                problems.append(
                    f"raw.{record}: optional columns {list(marked)} but canonical.py says "
                    f"{list(optional.get(record, ()))}"
                )
    return problems


@pytest.fixture(scope="module")
def sources_yml() -> dict:
    return yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))


def test_the_sources_yml_declares_exactly_the_canonical_columns_and_types(sources_yml, tmp_path) -> None:
    assert contract_problems(sources_yml, tmp_path) == []


def _col(doc: dict, record: str, name: str) -> dict:
    return next(c for c in declared(doc)[record] if c["name"] == name)


@pytest.mark.parametrize(
    "drift, expect",
    [
        ("retyped", "raw.usage_records.cost_usd: data_type varchar but it lands as DOUBLE"),
        ("untyped", "raw.app_assets.byte_size: no data_type"),
        ("dropped", "raw.gateway_tasks: columns"),
        ("renamed", "raw.app_jobs: columns"),
        ("reordered", "raw.app_assets: columns"),
        (
            "optional",
            "raw.app_jobs: optional columns ['retry_count', 'token_name', 'prompt_tokens', 'completion_tokens']",
        ),
        ("required", "raw.app_jobs: optional columns ['token_name', 'prompt_tokens']"),
        ("batch", "raw.usage_records._seq: data_type varchar but it lands as BIGINT"),
    ],
)
def test_a_drifted_copy_of_the_yml_fails_naming_the_column(sources_yml, tmp_path, drift, expect) -> None:
    doc = copy.deepcopy(sources_yml)
    if drift == "retyped":
        _col(doc, "usage_records", "cost_usd")["data_type"] = "varchar"
    elif drift == "untyped":
        del _col(doc, "app_assets", "byte_size")["data_type"]
    elif drift == "dropped":
        declared(doc)["gateway_tasks"].remove(_col(doc, "gateway_tasks", "poll_url"))
    elif drift == "renamed":
        _col(doc, "app_jobs", "user_id")["name"] = "user"
    elif drift == "reordered":
        cols = declared(doc)["app_assets"]
        cols[0], cols[1] = cols[1], cols[0]
    elif drift == "optional":
        _col(doc, "app_jobs", "retry_count")["config"] = {"meta": {"optional": True}}
    elif drift == "required":
        del _col(doc, "app_jobs", "completion_tokens")["config"]
    elif drift == "batch":
        _col(doc, "usage_records", "_seq")["data_type"] = "varchar"
    problems = contract_problems(doc, tmp_path)
    assert any(p.startswith(expect) for p in problems), problems


def test_a_drifted_canonical_py_fails_too(sources_yml, tmp_path) -> None:
    """The other side: a canonical column added, or its type changed, without the yml following."""
    grown = {**RECORDS, "app_assets": {**RECORDS["app_assets"], "checksum": pa.string()}}
    assert any(
        p.startswith("raw.app_assets: columns") for p in contract_problems(sources_yml, tmp_path, grown)
    )
    retyped = {**RECORDS, "app_jobs": {**RECORDS["app_jobs"], "retry_count": pa.float64()}}
    assert "raw.app_jobs.retry_count: data_type bigint but it lands as DOUBLE" in contract_problems(
        sources_yml, tmp_path, retyped
    )
    fewer = {**OPTIONAL_COLUMNS, "app_jobs": ("token_name",)}
    assert any("optional columns" in p for p in contract_problems(sources_yml, tmp_path, optional=fewer))
    assert arrow_schema("app_assets").names == list(
        RECORDS["app_assets"]
    )  # the mutations left the contract alone


def test_dbt_reads_the_declared_types_and_optional_marks(sources_yml) -> None:
    """What dbt parsed (the `graph` landed_source() reads) holds the same declarations."""
    from orchestration.assets.dbt import ensure_manifest

    manifest = json.loads(ensure_manifest().read_text(encoding="utf-8"))
    parsed = {n["name"]: n["columns"] for n in manifest["sources"].values() if n["source_name"] == "raw"}
    for record, cols in declared(sources_yml).items():
        assert [(c["name"], c["data_type"]) for c in cols] == [
            (n, c["data_type"]) for n, c in parsed[record].items()
        ]
    optional = [
        n
        for n, c in parsed["app_jobs"].items()
        if c.get("config", {}).get("meta", {}).get("optional") or c.get("meta", {}).get("optional")
    ]
    assert optional == list(OPTIONAL_COLUMNS["app_jobs"])
