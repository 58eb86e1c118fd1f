"""SIGTERM / SIGINT stop an extraction at once, and fail the run whenever they land.

Extraction runs an asyncio loop in the main thread. Dagster's handler raises its interrupt from
inside whatever Python code runs when the signal lands; inside an asyncio task that exception is
stored on the task instead of stopping the loop, so the run went on for a minute and exited 0.
Here the loop owns the two signals while it runs (``loop.add_signal_handler``): a signal cancels
the extraction, the client's own cancellation paths close sockets and workers, and
:class:`ExtractionInterrupted` propagates and ends the run (exit 1). Nothing of
the interrupted partition lands: landing writes only after a whole partition was read.

Outside extraction, :func:`watch_run` sees every signal of a `recon run`, whoever handles it: while
Dagster runs the job it owns SIGINT/SIGTERM, raises its own interrupt inside a step's code and only
*records* a signal that lands between two steps' code (then forgets it when the job ends, so the
run went on to exit 0 with a report). The watcher learns of every signal through Python's wakeup fd
(the signal number written to a pipe by the interpreter itself), so the runner can fail the run
and name the signal.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

T = TypeVar("T")
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ExtractionInterrupted(BaseException):
    """A signal stopped the extraction; the message names the signal. A BaseException, as
    KeyboardInterrupt is, so no `except Exception` swallows it; not a KeyboardInterrupt, which
    Dagster's step retry policy would retry."""


def run_interruptibly(factory: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(factory())`, stopped by SIGTERM/SIGINT (main thread only: signals go there)."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(factory())  # type: ignore[arg-type]
    received: list[signal.Signals] = []

    async def main() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        previous = {s: signal.getsignal(s) for s in SIGNALS}

        def on_signal(signum: int, _frame: object) -> None:
            # a plain handler (not loop.add_signal_handler): the signal is recorded the moment it lands,
            # even as the loop winds down, and the interpreter's wakeup fd (the run's watch) stays set
            received.append(signal.Signals(signum))
            if task is not None:
                loop.call_soon_threadsafe(task.cancel)

        for s in SIGNALS:
            signal.signal(s, on_signal)
        try:
            return await factory()
        finally:
            for s in SIGNALS:
                signal.signal(s, previous[s])  # whoever handled it before (Dagster) handles it again

    wakeup = _wakeup_fd()  # asyncio takes the wakeup fd for its loop and leaves none set: give it back
    try:
        result = asyncio.run(main())
        if received:  # the cancellation was swallowed on the way (a worker that catches it): stop anyway
            raise ExtractionInterrupted(f"extraction stopped by {received[0].name}")
        return result
    except asyncio.CancelledError:
        if received:
            raise ExtractionInterrupted(f"extraction stopped by {received[0].name}") from None
        raise
    finally:
        if wakeup != -1:
            signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM / SIGINT raise :class:`ExtractionInterrupted` anywhere in the block, not only while the
    event loop of :func:`run_interruptibly` runs: a signal that lands between two reads (building a
    day's frame, validating, landing it) must stop the run too, not be swallowed. Landing writes are
    temp + fsync + rename/link and clean their temp file on any exception, so nothing lands half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: object) -> None:
        raise ExtractionInterrupted(f"extraction stopped by {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class RunInterrupted(BaseException):
    """A signal stopped the run outside any step (before the job, or while the summary is read)."""


def _wakeup_fd() -> int:
    """The wakeup fd set now (-1: none); reading it means setting it, so it is set back at once."""
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    return fd


class SignalWatch:
    """The signals a run received, read from the wakeup pipe; `first()` names the first one."""

    def __init__(self, read_fd: int) -> None:
        self._fd = read_fd
        self._seen: list[signal.Signals] = []

    def first(self) -> signal.Signals | None:
        with suppress(BlockingIOError, OSError):
            while data := os.read(self._fd, 64):
                self._seen += [signal.Signals(b) for b in data if b in {s.value for s in SIGNALS}]
        return self._seen[0] if self._seen else None


@contextmanager
def watch_run() -> Iterator[SignalWatch]:
    """For the whole of a `recon run`: SIGTERM / SIGINT raise :class:`RunInterrupted` where nobody else
    handles them (Dagster takes them over while the job runs and gives them back after), and every
    signal that arrives, whoever handles it, is recorded for :meth:`SignalWatch.first`. Main thread only
    (elsewhere the block runs unwatched)."""
    if threading.current_thread() is not threading.main_thread():
        yield SignalWatch(-1)
        return
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)

    def on_signal(signum: int, _frame: object) -> None:
        raise RunInterrupted(f"stopped by {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    try:
        yield SignalWatch(r)
    finally:
        signal.set_wakeup_fd(old_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.close(r)
        os.close(w)
