"""The report page in a real browser: headless Chromium renders it from file://, offline.

Checks the text of the key figures in the DOM Chromium built, and saves a screenshot under
test-artifacts/ for a person to look at. Skips (with the reason) only when no Chromium can be
found or started here.
"""

import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from orchestration.reports.render import render_report
from orchestration.reports.sample_marts import create_marts, sample_rows
from orchestration.reports.summary import summarize

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
LAST = date(2026, 3, 10)
DAYS = [LAST - timedelta(days=6 - i) for i in range(7)]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium could not be started: {type(exc).__name__}: {exc}")
    if proc.returncode != 0 and not proc.stdout:
        pytest.skip(f"chromium could not be started (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return proc


class TextById(HTMLParser):
    """Rendered text under each element that has an id, and the text of every table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.text: dict[str, str] = {}
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("meta", "br", "img", "input", "link", "circle", "rect", "line", "polyline"):
            return
        ident = dict(attrs).get("id")
        self.stack.append(ident)
        if ident:
            self.text.setdefault(ident, "")
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None
        if self.stack and tag not in (
            "meta",
            "br",
            "img",
            "input",
            "link",
            "circle",
            "rect",
            "line",
            "polyline",
        ):
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for ident in self.stack:
            if ident:
                self.text[ident] += data
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("browser")
    wh = create_marts(tmp / "wh.duckdb", sample_rows(LAST))
    summary = summarize(wh, DAYS)
    page = render_report(summary, wh, tmp / "reports", datetime(2026, 3, 11, 6, tzinfo=UTC))
    return page, summary


def test_report_renders_in_chromium_with_the_key_figures(rendered, tmp_path: Path) -> None:
    page, summary = rendered
    binary = chromium()
    proc = run_chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri())
    dom = TextById()
    dom.feed(proc.stdout)
    assert dom.text.get("total-findings", "").strip() == str(summary.total_findings)
    assert dom.text.get("money-at-risk", "").strip() == f"{summary.money_at_risk:,.6f}"
    assert dom.text.get("net-spend", "").strip() == f"{summary.net_spend_usd:,.6f}"
    assert dom.text.get("unsettled", "").strip() == str(summary.settlements["unsettled"])
    money_table = dom.text["money-by-code"]
    for code, (n, usd) in summary.mismatches.items():
        if n:
            assert code in money_table and f"{usd:,.6f}" in money_table
    # The ids a support ticket needs are there as cell text, as are the settlement counts.
    assert "job_0000" in dom.cells and "task_0000" in dom.cells and "req_0000" in dom.cells
    assert "lag-chart" in dom.text and "spend-chart" in dom.text
    assert "ANOMALY" in dom.text["spend-table"] and "ALERT" in dom.text["error-table"]


def test_report_screenshot_is_saved_as_an_artifact(rendered, tmp_path: Path) -> None:
    page, _ = rendered
    binary = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    run_chromium(
        binary, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    assert shot.exists(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000  # a blank page compresses to a few KB; the report does not
