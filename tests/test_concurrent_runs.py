"""Two runs at once on one warehouse: the second waits for the first, both succeed, the file is sound."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.demo import demo_environment
from orchestration.warehouse_lock import WarehouseBusy, warehouse_lock

REPO = Path(__file__).resolve().parents[1]


def test_second_holder_waits_for_the_first(tmp_path):
    wh = tmp_path / "w.duckdb"
    events: list[str] = []
    held = threading.Event()

    def first():
        with warehouse_lock(wh):
            events.append("first in")
            held.set()
            time.sleep(0.6)
            events.append("first out")

    t = threading.Thread(target=first)
    t.start()
    held.wait(5)
    with warehouse_lock(wh, log=events.append, poll_s=0.05):
        events.append("second in")
    t.join()
    assert events.index("first out") < events.index("second in")
    assert any("in use by another run; waiting" in e for e in events)


def test_gives_up_with_a_clear_error_after_the_timeout(tmp_path):
    wh = tmp_path / "w.duckdb"
    with warehouse_lock(wh):
        with pytest.raises(WarehouseBusy, match="stayed locked"):
            with warehouse_lock(wh, timeout_s=0.2, poll_s=0.05):
                pass


@pytest.mark.slow
def test_two_recon_runs_at_once_both_succeed(tmp_path):
    with demo_environment(tmp_path / "data", days=7, seed=7) as setup:
        cmd = [sys.executable, "-m", "orchestration.cli", "run", "--config", str(setup.config_path),
               "--start", str(setup.last), "--as-of", setup.as_of.isoformat()]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "recon summary" in out
    # They overlap (same work, started together): one of them must have waited for the other.
    assert any("in use by another run; waiting" in err for _, err in outs)
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from fct_settlements").fetchall()[0][0] > 0
    finally:
        con.close()
