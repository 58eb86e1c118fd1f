"""Hostile data in the reports (issue 17): formula cells in the CSVs, and a day of many findings."""

import csv
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from support.sample_marts import create_marts, sample_rows

from orchestration.reports.render import HTML_TOP_PER_CODE, render_report, report_dir, spreadsheet_safe
from orchestration.reports.summary import summarize

LAST = date(2026, 3, 10)
DAYS = [LAST - timedelta(days=6 - i) for i in range(7)]
AS_OF = datetime(2026, 3, 11, 6, tzinfo=UTC)
FORMULAS = ['=HYPERLINK("http://x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_formula_cells_from_a_gateway_are_neutralised_and_numbers_stay_numbers(tmp_path: Path) -> None:
    rows = sample_rows(LAST)
    base = rows["fct_reconciliation_mismatches"][0]
    hostile = [
        dict(
            base,
            finding_id=f"h{i}",
            job_id=f,
            model=f,
            request_id=f,
            detail=f,
            mismatch_type="orphan_usage",
            amount_usd=Decimal("-1.5"),
        )
        for i, f in enumerate(FORMULAS)
    ]
    rows["fct_reconciliation_mismatches"] += hostile
    wh = create_marts(tmp_path / "wh.duckdb", rows)
    path = render_report(summarize(wh, DAYS), wh, tmp_path / "reports", AS_OF)
    with (path.parent / "mismatches_orphan_usage.csv").open(newline="", encoding="utf-8") as fh:
        got = [r for r in csv.DictReader(fh) if r["finding_id"].startswith("h")]
    assert len(got) == len(FORMULAS)
    for r in got:
        for col in ("job_id", "model", "request_id", "detail"):
            assert r[col].startswith("'"), (col, r[col])
            assert r[col][1:] in FORMULAS
        assert r["amount_usd"] == "-1.50000000"  # a negative amount is a number, not a formula
    assert spreadsheet_safe("job_1") == "job_1" and spreadsheet_safe("-x") == "'-x"


def _many_findings(path: Path, n: int) -> Path:
    create_marts(path)
    con = duckdb.connect(str(path))
    try:
        con.execute("set timezone = 'UTC'")
        con.execute(f"""
            insert into fct_reconciliation_mismatches
            select 'f' || i, 'k' || i, case when i % 2 = 0 then 'orphan_usage' else 'missing_usage' end,
                   'error', 'job_' || i, 'task_' || i, 'req_' || i, 'main', 'image', 'mj', 's' || i,
                   'a finding detail long enough to be realistic, number ' || i,
                   (i % 1000) / 100.0, DATE '{LAST.isoformat()}', TIMESTAMPTZ '2026-03-11 06:00:00+00',
                   case when i % 2 = 0 then 'recoverable' else 'owed' end
            from range({n}) t(i)""")
    finally:
        con.close()
    return path


def test_a_day_of_many_findings_renders_a_bounded_page_and_full_csvs_in_bounded_memory(
    tmp_path: Path,
) -> None:
    n = 300_000
    wh = _many_findings(tmp_path / "big.duckdb", n)
    out = tmp_path / "reports"
    script = textwrap.dedent(f"""
        import resource, sys
        from datetime import date, datetime, UTC
        from pathlib import Path
        from orchestration.reports.render import render_report
        from orchestration.reports.summary import summarize
        days = [date.fromisoformat(d) for d in {[d.isoformat() for d in DAYS]!r}]
        as_of = datetime(2026, 3, 11, 6, tzinfo=UTC)
        render_report(summarize(Path({str(wh)!r}), days), Path({str(wh)!r}), Path({str(out)!r}), as_of)
        # and the operator checks the report step evaluates beside it
        from orchestration.assets.operator_checks import Window, evaluate
        checks = {{o.name: o for o in evaluate(Path({str(wh)!r}), Window(days[0], days[-1], as_of))}}
        assert checks["money_at_risk"].metadata["money_at_risk_usd"] > 0
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    peak_mib = int(done.stdout.strip().splitlines()[-1])
    folder = report_dir(out, DAYS[0], DAYS[-1])
    html = (folder / "report.html").read_text(encoding="utf-8")
    # Every finding in the CSVs, in mart order (largest money first) ...
    with (folder / "mismatches_orphan_usage.csv").open(newline="") as fh:
        orphan = list(csv.DictReader(fh))
    assert len(orphan) == n // 2
    assert Decimal(orphan[0]["amount_usd"]) == Decimal("9.98") and orphan[0]["job_id"].startswith("job_")
    # ... and the page shows the top N per code with the real totals.
    table = html.split('<table id="findings"', 1)[1].split("</table>", 1)[0]
    assert table.count(">orphan_usage</a></td>") == HTML_TOP_PER_CODE
    assert table.count(">missing_usage</a></td>") == HTML_TOP_PER_CODE
    assert (
        len(list((folder / "trails").glob("*.html"))) == 2 * HTML_TOP_PER_CODE
    )  # one page per finding shown
    assert f"Findings ({n})" in html and 'id="findings-bounded"' in html
    assert len(html) < 2_000_000
    # Before: every finding as a dict and a table row (the renderer grew past 9 GB at 2M jobs).
    print(f"render of {n} findings: peak RSS {peak_mib} MiB")
    # (1,046 MiB before, 369 alone after, 523 seen under a loaded CI-like machine)
    assert peak_mib < 768, f"render peak RSS {peak_mib} MiB"
