"""One DuckDB user at a time: the warehouse lock makes the second holder wait, or give up clearly."""

import threading
import time

import pytest

from orchestration.warehouse_lock import WarehouseBusy, warehouse_lock


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
    with (
        warehouse_lock(wh),
        pytest.raises(WarehouseBusy, match="stayed locked"),
        warehouse_lock(wh, timeout_s=0.2, poll_s=0.05),
    ):
        pass


# Two whole `recon run`s at once (both exit 0, one waited, outputs identical to a single run):
# tests/test_load_backfill.py::test_same_partition_run_concurrently_gives_identical_outputs
