"""The run-wide signal watch (orchestration.gateways.interrupts.watch_run): a signal is seen whoever
handles it. Dagster only records a SIGINT/SIGTERM that lands between two steps' code and forgets it when
the job ends, which let `recon run` exit 0 after one; the runner now asks the watch after the job."""

from __future__ import annotations

import os
import signal
import time

import pytest
from dagster._utils.interrupts import capture_interrupts

from orchestration.gateways.interrupts import RunInterrupted, watch_run


def _deliver(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # Python runs the handler at the next bytecode boundary; this is one


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_dagster_only_records_is_still_seen(sig) -> None:
    with watch_run() as watch:
        assert watch.first() is None
        with capture_interrupts():  # what execute_in_process wraps a job in
            _deliver(sig)
        assert watch.first() is sig


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_outside_the_job_a_signal_stops_the_run_naming_it(sig) -> None:
    before = signal.getsignal(sig)
    with pytest.raises(RunInterrupted, match=f"stopped by {sig.name}"), watch_run():
        _deliver(sig)
    assert signal.getsignal(sig) is before  # handlers and wakeup fd given back
    assert signal.set_wakeup_fd(-1) == -1


def test_the_extraction_loop_gives_the_wakeup_fd_back() -> None:
    """asyncio takes the wakeup fd while extraction runs and leaves none: a later signal must still be seen."""
    import asyncio

    from orchestration.gateways.interrupts import run_interruptibly

    with watch_run() as watch:
        assert run_interruptibly(lambda: asyncio.sleep(0, result=3)) == 3
        with capture_interrupts():
            _deliver(signal.SIGTERM)
        assert watch.first() is signal.SIGTERM


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_extraction_that_swallows_its_cancellation_is_stopped_all_the_same(sig) -> None:
    """A worker that catches CancelledError (as a pager retry loop can) let the run go on and exit 0."""
    import asyncio

    from orchestration.gateways.interrupts import ExtractionInterrupted, run_interruptibly

    async def stubborn() -> str:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), sig)
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()
        return "went on"

    t0 = time.monotonic()
    with pytest.raises(ExtractionInterrupted, match=f"extraction stopped by {sig.name}"):
        run_interruptibly(stubborn)
    assert time.monotonic() - t0 < 5
