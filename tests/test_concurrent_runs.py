"""One DuckDB user at a time: the warehouse lock makes the second holder wait, or give up clearly."""

import threading
import time

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
    errors: list[BaseException] = []

    def second():  # another thread: the same thread re-enters (see the next test)
        try:
            with warehouse_lock(wh, timeout_s=0.2, poll_s=0.05):
                pass
        except WarehouseBusy as exc:
            errors.append(exc)

    with warehouse_lock(wh):
        t = threading.Thread(target=second)
        t.start()
        t.join(10)
    assert len(errors) == 1 and "stayed locked" in str(errors[0])


def test_the_same_thread_re_enters_so_a_run_holds_it_across_its_steps(tmp_path):
    """`recon run` holds the lock for its whole span; its steps run in its thread and take it again."""
    wh = tmp_path / "w.duckdb"
    got: list[str] = []
    with warehouse_lock(wh):
        with warehouse_lock(wh, timeout_s=0.2, poll_s=0.05):
            got.append("inner")
        # still held by the outer block: another thread must wait
        t = threading.Thread(target=lambda: got.append("blocked" if _busy(wh) else "free"))
        t.start()
        t.join(10)
    assert got == ["inner", "blocked"]
    assert not _busy(wh)


def _busy(wh) -> bool:
    try:
        with warehouse_lock(wh, timeout_s=0.1, poll_s=0.05):
            return False
    except WarehouseBusy:
        return True


# Two whole `recon run`s at once (both exit 0, one waited, outputs identical to a single run):
# tests/test_load_backfill.py::test_same_partition_run_concurrently_gives_identical_outputs


def test_a_build_stamped_by_another_run_is_detected(tmp_path):
    """Under `dagster dev` each step holds the lock alone: the report compares the dbt step's stamp."""
    from orchestration.warehouse_lock import rebuilt_by_another, write_build_stamp

    wh = tmp_path / "w.duckdb"
    assert rebuilt_by_another(wh, "run-a") is None  # no build stamped yet: nothing to compare
    write_build_stamp(wh, "run-a", "2026-11-18", "2026-11-20", "2026-11-21T06:00:00+00:00")
    assert rebuilt_by_another(wh, "run-a") is None
    write_build_stamp(wh, "run-b-0123456789", "2026-11-18", "2026-11-18", "2026-11-19T01:00:00+00:00")
    line = rebuilt_by_another(wh, "run-a")
    assert line == (
        "the warehouse was rebuilt by another run (run-b-01, days 2026-11-18..2026-11-18 as of "
        "2026-11-19T01:00:00+00:00) after this run's dbt build; its report would describe that "
        "build, so re-run this one"
    )
