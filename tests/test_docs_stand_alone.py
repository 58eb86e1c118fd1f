"""The README and docs/ stand alone in a clone: every relative link points at a file in the repo, and
nothing sends a reader outside it (the design notes that shaped recon are not shipped with it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "RELIABILITY.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # markdown [text](target)
DOC_PATH = re.compile(
    r"(?<![\w/.])((?:docs|bench|orchestration|schemas|dbt_project)/[\w./-]+\.(?:md|py|yaml|yml))"
)


def _targets(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    links = [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:|^#", t)]
    return [t.split("#", 1)[0] for t in links] + DOC_PATH.findall(text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_name_files_in_the_repo(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text, f"{page.name} points outside the repo"
    missing = []
    for target in _targets(page):
        base = REPO if DOC_PATH.fullmatch(target) and not (page.parent / target).exists() else page.parent
        if not (base / target).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(REPO)} links to files not in the repo: {missing}"


def test_the_package_sends_nobody_outside_the_repo() -> None:
    hits = [
        str(p.relative_to(REPO))
        for p in (REPO / "orchestration").rglob("*.py")
        if "../shared" in p.read_text(encoding="utf-8")
    ]
    assert not hits
