"""The report page in a real browser: headless Chromium renders it from file://, offline.

Checks the text of the key figures in the DOM Chromium built, follows a finding's link to its trail
page (the href Chromium resolved, opened in Chromium) and finds the support packet there, and saves
screenshots of both pages under test-artifacts/ for a person to look at. Skips (with the reason)
only when no Chromium can be found or started here.
"""

import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from support.sample_marts import create_marts, sample_rows

from orchestration.reports.money import currency
from orchestration.reports.render import render_report
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


def add_job_trail(wh: Path) -> None:
    """The app job, usage row, task and ledger behind the sample's job_0000, as the staging and
    intermediate models name them, so its trail page has a whole trail and a full packet."""
    con = duckdb.connect(str(wh))
    try:
        con.execute(
            "create table stg_raw__app_jobs as select 'job_0000' as job_id, 'req_0000' as request_id, "
            "'task_0000' as task_id, 'btx_0000' as billing_transaction_id, 'video' as scene, "
            "'kling-v2' as model, 'failed' as status, 0.40::decimal(20, 8) as expected_cost_usd, "
            "0 as retry_count, timestamptz '2026-03-04 10:00:00+00' as created_at, "
            "timestamptz '2026-03-04 10:02:00+00' as terminal_at"
        )
        con.execute(
            "create table int_usage_records_linked as select 'lab' as gateway, 'ur_0000' as record_key, "
            "'consume' as record_type, 'req_0000' as request_id, 'task_0000' as task_id, "
            "'btx_0000' as billing_transaction_id, 'kling-v2' as model, null::varchar as error_code, "
            "200 as status_code, 0 as prompt_tokens, 0 as completion_tokens, 200000 as quota, "
            "0.40::decimal(20, 10) as cost_usd, timestamptz '2026-03-04 10:00:01+00' as created_at, "
            "1 as version_seq, false as is_gone, null::timestamptz as gone_at, 'job_0000' as job_id, "
            "'task_id' as link_method"
        )
        con.execute(
            "create table stg_raw__gateway_tasks as select 'lab' as gateway, 'task_0000' as task_id, "
            "'failed' as status, 'upstream 500' as fail_reason, 'video' as platform, 'generate' as action, "
            "200000 as quota, 0.40::decimal(20, 10) as cost_usd, "
            "timestamptz '2026-03-04 10:00:01+00' as submitted_at, "
            "timestamptz '2026-03-04 10:01:50+00' as finished_at, 1 as version_seq, false as is_gone, "
            "null::timestamptz as gone_at, 'https://lab.example.com/v1/tasks/task_0000' as poll_url"
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("browser")
    wh = create_marts(tmp / "wh.duckdb", sample_rows(LAST))
    add_job_trail(wh)
    summary = summarize(wh, DAYS)
    page = render_report(
        summary,
        wh,
        tmp / "reports",
        datetime(2026, 3, 11, 6, tzinfo=UTC),
        links={"app_job_url": "https://admin.example.com/jobs/{job_id}"},
    )
    return page, summary


def test_report_renders_in_chromium_with_the_key_figures(rendered, tmp_path: Path) -> None:
    page, summary = rendered
    binary = chromium()
    proc = run_chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri())
    dom = TextById()
    dom.feed(proc.stdout)
    assert dom.text.get("total-findings", "").strip() == str(summary.total_findings)
    assert dom.text.get("money-at-risk", "").strip() == currency(summary.money_at_risk)
    assert dom.text.get("net-spend", "").strip() == currency(summary.net_spend_usd)
    assert dom.text.get("unsettled", "").strip() == str(summary.settlements["unsettled"])
    money_table = dom.text["money-by-code"]
    for code, (n, usd) in summary.mismatches.items():
        if n:
            assert code in money_table and currency(usd) in money_table
    # The ids a support ticket needs are there as cell text, as are the settlement counts.
    assert "job_0000" in dom.cells and "task_0000" in dom.cells and "req_0000" in dom.cells
    assert "lag-chart" in dom.text and "spend-chart" in dom.text
    assert "ANOMALY" in dom.text["spend-table"] and "ALERT" in dom.text["error-table"]
    assert "money-by-gateway" in dom.text and "since-last" in dom.text and "trend-chart" in dom.text


def test_a_findings_link_opens_its_trail_with_the_packet(rendered, tmp_path: Path) -> None:
    page, _ = rendered
    binary = chromium()
    dom = run_chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    table = dom.split('<table id="findings"', 1)[1].split("</table>", 1)[0]
    # the row of job_0000's finding, and the trail link Chromium holds in it
    row = next(r for r in table.split("<tr>") if ">job_0000<" in r)
    href = re.search(r'<a class="trail" href="([^"]+)"', row).group(1)
    assert re.search(r'href="https://admin.example.com/jobs/job_0000"', row)
    trail_uri = page.parent.joinpath(href).resolve().as_uri()
    trail = TextById()
    proc = run_chromium(binary, tmp_path / "profile", "--dump-dom", trail_uri)
    trail.feed(proc.stdout)
    packet = trail.text.get("packet", "")
    assert packet.startswith("## Support packet")
    for line in (
        "| request_id | req_0000 |",
        "| task_id | task_0000 |",
        "| billing_transaction_id | btx_0000 |",
        "| poll_url | https://lab.example.com/v1/tasks/task_0000 |",
        "| task status | failed |",
    ):
        assert line in packet, line
    assert "job_0000" in trail.text["job"] and "ur_0000" in trail.text["usage"]
    assert 'href="../report.html"' in proc.stdout and 'id="csv-row"' in proc.stdout
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "trail.png"
    shot.unlink(missing_ok=True)
    run_chromium(binary, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1800", trail_uri)
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_screenshot_is_saved_as_an_artifact(rendered, tmp_path: Path) -> None:
    page, _ = rendered
    binary = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    run_chromium(
        binary, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    full = ARTIFACTS / "report-full.png"  # the whole page, for a person to read top to bottom
    run_chromium(
        binary, tmp_path / "profile", f"--screenshot={full}", "--window-size=1280,7000", page.as_uri()
    )
    assert shot.exists(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000  # a blank page compresses to a few KB; the report does not
