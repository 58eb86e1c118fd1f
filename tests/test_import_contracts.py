"""The architecture's "never" arrows (pyproject's [tool.importlinter] contracts) hold on the real tree,
and each kind of contract really fails on a deliberately wrong import in a copy of the tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
_CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = {c["id"]: c["name"] for c in _CONFIG["tool"]["importlinter"]["contracts"]}


def _words(text: str) -> str:
    """lint-imports wraps long lines: compare with runs of whitespace as one space."""
    return " ".join(text.split())


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports run in `root` (it puts its working dir first on sys.path), no cache."""
    env = {"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(root), "HOME": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages and pyproject.toml copied to a temporary folder (no caches, no tests)."""
    root = tmp_path_factory.mktemp("tree")
    for pkg in ("orchestration", "schemas"):
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_real_tree_keeps_every_contract() -> None:
    out = _lint(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in out.stdout
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in _words(out.stdout)


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("orchestration/gateways/newapi/client.py", "import dagster", "clients-no-dagster"),
        ("orchestration/gateways/pager.py", "import orchestration.sandbox.server", "clients-no-dagster"),
        ("orchestration/app_sources.py", "import orchestration.gateways.base", "sources-independent"),
        ("schemas/canonical.py", "import orchestration.config", "schemas-leaf"),
        ("orchestration/reports/marts.py", "import orchestration.landing", "reports-read-warehouse"),
        (
            "orchestration/gateways/tokenlab/client.py",
            "import orchestration.gateways.newapi.rows",
            "dialects-independent",
        ),
        ("orchestration/demo.py", "import pytest", "product-no-test-code"),
        ("orchestration/alerts.py", "import orchestration.assets.operator_checks", "alerts-no-assets"),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tree_copy: Path, module: str, wrong_import: str, contract: str
) -> None:
    path = tree_copy / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{wrong_import}  # deliberately wrong\n", encoding="utf-8")
    try:
        out = _lint(tree_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert out.returncode != 0, out.stdout
    assert f"{CONTRACTS[contract]} BROKEN" in _words(out.stdout), out.stdout
    assert "1 broken" in out.stdout, out.stdout


def test_no_module_of_the_product_imports_itself_back() -> None:
    """No import cycle between two modules (imports under TYPE_CHECKING aside): the sandbox's cycle
    that a module `__getattr__` held apart is gone and none may come back."""
    import grimp

    graph = grimp.build_graph("orchestration", "schemas", exclude_type_checking_imports=True, cache_dir=None)
    cycles = sorted(
        {
            tuple(sorted((a, b)))
            for a in graph.modules
            for b in graph.find_modules_directly_imported_by(a)
            if graph.chain_exists(importer=b, imported=a)
        }
    )
    assert not cycles


def test_no_module_hides_a_name_behind_a_module_getattr() -> None:
    """A module-level `__getattr__` re-export is how the sandbox once held an import cycle apart:
    a name lives in one module and is imported from there."""
    hits = [
        str(p.relative_to(REPO))
        for p in (REPO / "orchestration").rglob("*.py")
        if "\ndef __getattr__(" in p.read_text(encoding="utf-8")
    ]
    assert not hits
