"""Two `recon run`s on one warehouse with different --as-of (issue 17 item 1): the first must print
the totals of its own build, never the second's.

Made deterministic with the alert webhook: run A's report step posts to a test server that answers
one byte a second (so httpx's read timeout never fires) and so holds A between its report and its
printed summary for as long as the test likes. Run B starts then. Before the fix A held the
warehouse lock only inside each step, so B rebuilt the marts in that gap and A printed B's totals;
now A holds it from its first step to its summary, B says it is waiting, and A's summary matches
A's own report.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from recon_pipeline import REPO, pipeline

from orchestration.reports.money import currency
from orchestration.reports.render import report_dir

pytestmark = pytest.mark.slow


class TrickleWebhook:
    """Accepts the first POST and answers it one byte a second until released; later posts at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.posted = threading.Event()
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _serve(self) -> None:
        first = True
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn, first), daemon=True).start()
            first = False

    def _answer(self, conn: socket.socket, hold: bool) -> None:
        with conn:
            conn.settimeout(30)
            conn.recv(65536)
            reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            if hold:
                self.posted.set()
                for i, byte in enumerate(reply[:-4]):
                    if self.release.is_set():
                        conn.sendall(reply[i:])
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(1.0)
                self.release.wait(300)
                conn.sendall(reply[len(reply) - 4 :])
            else:
                conn.sendall(reply)


def _totals(text: str) -> tuple[int, str]:
    """The terminal's total findings and money at risk, as the report spells money (currency)."""
    m = re.search(r"^\s+total\s+(\d+)\s+\$?([\d.,]+)$", text, re.MULTILINE)
    assert m, text[-2000:]
    return int(m.group(1)), currency(m.group(2).replace(",", ""))


def _report_totals(html: str) -> tuple[int, str]:
    n = int(re.search(r'id="total-findings">(\d+)<', html).group(1))
    usd = re.search(r'id="money-at-risk">([^<]+)<', html).group(1)
    return n, usd


def test_a_second_run_cannot_rebuild_the_marts_under_the_first_runs_summary(tmp_path: Path) -> None:
    hook = TrickleWebhook()
    with pipeline(tmp_path / "data", end=date(2026, 11, 20), days=3, jobs_per_day=15) as e:
        env_a = {**e.env, "RECON_ALERT_WEBHOOK_URL": hook.url}
        a = subprocess.Popen(
            e.cmd(), cwd=REPO, env=env_a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert hook.posted.wait(600), "run A never posted its alert (no failing check?)"
            early = e.first + timedelta(days=1, hours=1)  # B: another day, another clock, other findings
            cmd_b = [*e.cmd(first=e.first, last=e.first)[:-1], early.isoformat()]
            b = subprocess.Popen(
                cmd_b, cwd=REPO, env=e.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            b_err: list[str] = []

            def read_b() -> None:
                for line in b.stderr:
                    b_err.append(line)
                    if "in use by another run; waiting" in line:
                        hook.release.set()

            reader = threading.Thread(target=read_b, daemon=True)
            reader.start()
            deadline = time.monotonic() + 600
            while not hook.release.is_set() and b.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            hook.release.set()
            a_out, a_err = a.communicate(timeout=600)
            b_out = b.stdout.read()
            b.wait(timeout=600)
            reader.join(10)
        finally:
            hook.release.set()
            for p in (a, locals().get("b")):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
        assert a.returncode == 0, a_err[-3000:]
        assert b.returncode == 0, "".join(b_err)[-3000:]
        a_report = (report_dir(e.data_dir / "reports", e.first, e.last) / "report.html").read_text()
        assert _totals(a_out) == _report_totals(a_report)  # A printed its own build's totals
        assert any("in use by another run; waiting" in ln for ln in b_err)  # B waited for all of A
        b_report = (report_dir(e.data_dir / "reports", e.first, e.first) / "report.html").read_text()
        assert _totals(b_out) == _report_totals(b_report)
