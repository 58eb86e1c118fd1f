"""SIGTERM / SIGINT stop an extraction at once.

Extraction runs an asyncio loop in the main thread. Dagster's handler raises its interrupt from
inside whatever Python code runs when the signal lands; inside an asyncio task that exception is
stored on the task instead of stopping the loop, so the run went on for a minute and exited 0.
Here the loop owns the two signals while it runs (``loop.add_signal_handler``): a signal cancels
the extraction, the client's own cancellation paths close sockets and workers, and
:class:`ExtractionInterrupted` propagates and ends the run (exit 1). Nothing of
the interrupted partition lands: landing writes only after a whole partition was read.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            if task is not None:
                task.cancel()

        for s in SIGNALS:
            loop.add_signal_handler(s, on_signal, s)
        try:
            return await factory()
        finally:
            for s in SIGNALS:
                loop.remove_signal_handler(s)
                signal.signal(s, previous[s])  # whoever handled it before (Dagster) handles it again

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if received:
            raise ExtractionInterrupted(f"extraction stopped by {received[0].name}") from None
        raise


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
