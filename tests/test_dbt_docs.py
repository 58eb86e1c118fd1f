"""dbt docs a newcomer can read: every model, every mart and source column, every data test described
and named; an exposure for the report; no `<placeholder>` that Markdown (the Dagster UI) would eat.

Reads the manifest `dbt parse` writes (orchestration.assets.dbt.ensure_manifest parses when stale).
A helper adding a mart column adds its description, or this fails naming the column.
"""

from __future__ import annotations

import json
import re

import pytest

from orchestration.assets.dbt import ensure_manifest
from orchestration.reports import marts

# An HTML-looking tag outside `code`: Markdown renderers drop it, so `<landing_dir>/x` shows as `/x`.
TAG = re.compile(r"<[A-Za-z_/][^<>]*>")


def bare_tags(text: str) -> list[str]:
    """The <tags> of `text` outside backtick spans."""
    return TAG.findall(re.sub(r"`[^`]*`", "", text or ""))


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text(encoding="utf-8"))


def _models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_model_has_a_description(manifest):
    missing = [n["name"] for n in _models(manifest) if not n["description"].strip()]
    assert not missing, f"models without a description: {missing}"


def test_every_mart_column_is_described(manifest):
    mart_models = [n for n in _models(manifest) if n["fqn"][1] == "marts"]
    assert len(mart_models) >= 8
    missing = [
        f"{n['name']}.{c}"
        for n in mart_models
        for c, col in n["columns"].items()
        if not (col.get("description") or "").strip()
    ]
    assert not missing, f"mart columns without a description (add `description:` in the yml): {missing}"
    assert all(n["columns"] for n in mart_models), "a mart lists no columns"


def test_every_source_column_is_listed_and_described(manifest):
    sources = {n["name"]: n for n in manifest["sources"].values()}
    assert set(sources) >= {
        "usage_records",
        "gateway_tasks",
        "extraction_manifests",
        "app_jobs",
        "app_assets",
    }
    for name, src in sources.items():
        assert src["columns"], f"source raw.{name} lists no columns"
        missing = [c for c, col in src["columns"].items() if not (col.get("description") or "").strip()]
        assert not missing, f"source raw.{name}: columns without a description: {missing}"
    assert {"record_key", "cost_usd", "_seq", "_change"} <= set(sources["usage_records"]["columns"])


def test_every_canonical_column_is_a_documented_source_column(manifest):
    """schemas/canonical.py is the contract; the sources yml must list each of its columns, so a new
    canonical column cannot reach the warehouse undocumented."""
    from schemas.canonical import RECORDS

    sources = {n["name"]: n for n in manifest["sources"].values()}
    for record, columns in RECORDS.items():
        missing = [c for c in columns if c not in sources[record]["columns"]]
        assert not missing, f"source raw.{record}: canonical columns not in _staging__sources.yml: {missing}"


def test_every_data_test_is_named_and_described(manifest):
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    assert tests
    undescribed = [t["name"] for t in tests if not t["description"].strip()]
    assert not undescribed, f"data tests without a description: {undescribed}"
    # dbt's generated names carry a hash or the whole argument list; ours say model__column_what
    generated = [t["name"] for t in tests if "__" not in t["name"] or re.search(r"_[0-9a-f]{10}$", t["name"])]
    assert not generated, f"data tests with a generated name (add `name:`): {generated}"
    generic = {k: m for k, m in manifest["macros"].items() if k.startswith("macro.recon.test_")}
    assert generic and all(m["description"].strip() for m in generic.values())


def test_the_report_is_an_exposure_of_every_mart_it_reads(manifest):
    exposure = manifest["exposures"]["exposure.recon.daily_report"]
    assert exposure["description"].strip() and exposure["owner"]["name"]
    read = {
        marts.MISMATCHES,
        marts.SETTLEMENTS,
        marts.LAG_DAILY,
        marts.SPEND_DAILY,
        marts.HISTORY,
        marts.COVERAGE,
        marts.ERROR_ALERTS,
    }
    depends = {n.split(".")[-1] for n in exposure["depends_on"]["nodes"]}
    assert read <= depends, f"the report reads marts its exposure does not name: {read - depends}"


def test_no_description_has_a_placeholder_markdown_would_drop(manifest):
    texts = {n["name"]: n["description"] for n in _models(manifest)}
    texts |= {
        f"{n['name']}.{c}": col["description"] for n in _models(manifest) for c, col in n["columns"].items()
    }
    texts |= {f"raw.{n['name']}": n["description"] for n in manifest["sources"].values()}
    texts |= {f"source {n['source_name']}": n["source_description"] for n in manifest["sources"].values()}
    texts |= {
        f"raw.{n['name']}.{c}": col["description"]
        for n in manifest["sources"].values()
        for c, col in n["columns"].items()
    }
    texts |= {n["name"]: n["description"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    bad = {k: bare_tags(v) for k, v in texts.items() if bare_tags(v)}
    assert not bad, f"put these <placeholders> in backticks: {bad}"


def test_python_asset_descriptions_keep_their_placeholders():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    bad = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if bare_tags(node.description or ""):
            bad[key.to_user_string()] = bare_tags(node.description)
    assert not bad, f"put these <placeholders> in backticks: {bad}"


def test_bare_tags_sees_what_markdown_drops():
    assert bare_tags("files under <landing_dir>/x") == ["<landing_dir>"]
    assert bare_tags("files under `<landing_dir>/x`") == []
    assert bare_tags("mismatch_type:<that id>") == ["<that id>"]
    assert bare_tags("a < b and c > d") == []


def test_the_dagster_checks_carry_the_dbt_tests_names_and_descriptions(manifest):
    from orchestration.assets.dbt import recon_dbt_models

    specs = list(recon_dbt_models.check_specs)
    tests = {n["name"]: n["description"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    assert specs and all(s.name in tests for s in specs)
    assert all(s.description == tests[s.name] for s in specs)
