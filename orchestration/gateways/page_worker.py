"""A child process that decodes and normalizes list pages, so the extraction's event loop only does HTTP.

Decoding a page of 100 new-api rows and normalizing them is ≈ 0.7 ms of Python; on the event loop
that time delays the responses that arrive meanwhile. For big days (`pager.WORKER_MIN_PAGES`) the
pager hands the raw page bytes to this worker instead and gets the normalized row tuples back (a
pickle of 100 tuples loads in ≈ 0.04 ms). The worker runs exactly the in-process code —
`parse_list_body` and `normalize_items` below, with the dialect's own row function — so rows,
messages and errors are the same whichever side ran them; an exception raised there is re-raised
here as itself. Truncated or invalid JSON comes back as `BadJson`, which `HttpFetcher` retries as it
retries any bad body.

Life cycle: started (a fresh interpreter, so no state of the parent is inherited and its `__main__`
is not re-run) once a run looks big and used
once it has answered its hello; pages that arrive before that, or after it died, are handled in
process. One worker per extraction, stopped (and waited for) when the extraction ends, so its memory
is gone before the day's frame is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from orchestration.gateways.base import ExtractionError
from orchestration.gateways.pages import BadJson, normalize_items, parse_list_body

try:
    import orjson

    _loads = orjson.loads
    _DecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover
    import json

    _loads = json.loads
    _DecodeError = (ValueError,)

_HEADER = struct.Struct("!i")  # multiprocessing.Connection's framing: a signed 32-bit length, then bytes


class WorkerGone(Exception):
    """The worker process is not available (any more): the caller does the page in process."""


@dataclass(frozen=True)
class PageSpec:
    """What the worker needs to turn a page of one endpoint into rows (all picklable)."""

    normalize: Callable[[dict], tuple]  # a module-level function or a functools.partial of one
    gateway: str
    partition: str
    endpoint: str
    auth_hint: str


def page_rows(spec: PageSpec, content: bytes, window: str, page: int) -> tuple[list[tuple], int, int | None]:
    """(rows, item count, total) of one raw page; BadJson when it does not decode."""
    try:
        body = _loads(content) if content else None
    except _DecodeError:
        raise BadJson from None
    loc = f"gateway={spec.gateway} endpoint={spec.endpoint} window={window} page={page}"
    items, total = parse_list_body(body, loc, spec.auth_hint)
    rows = normalize_items(items, spec.normalize, spec.gateway, spec.partition, spec.endpoint, window, page)
    return rows, len(items), total


# -- the child ------------------------------------------------------------------------------------
def child_main(fd: int) -> None:
    """The worker process (started as `python -c ...child_main(fd)`, not by multiprocessing, so the
    parent's `__main__` is never re-run): a pickled (spec, content, window, page) in, a pickled
    ("ok", result) or ("err", exception) out, until the parent closes the socket."""
    import signal
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it then closes us
    conn = Connection(fd)
    conn.send_bytes(pickle.dumps(("hello", os.getpid())))
    spec_cache: dict[bytes, PageSpec] = {}
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):  # the parent closed the socket or is gone
            return
        if not msg:
            return
        spec_blob, content, window, page = pickle.loads(msg)
        spec = spec_cache.get(spec_blob)
        if spec is None:
            spec = spec_cache[spec_blob] = pickle.loads(spec_blob)
        try:
            out: tuple = ("ok", page_rows(spec, content, window, page))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as itself
            try:
                pickle.dumps(exc)
                out = ("err", exc)
            except Exception:  # noqa: BLE001 - an exception that does not pickle: keep its text
                out = ("err", ExtractionError(f"{type(exc).__name__}: {exc}"))
        try:
            payload = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - rows that do not pickle: report, do not hang the parent
            payload = pickle.dumps(("err", ExtractionError(f"page worker could not return page {page}: {exc}")))
        conn.send_bytes(payload)


# -- the parent side ------------------------------------------------------------------------------
class PageWorker:
    """The parent's handle: `start()` spawns the child without waiting; `ready` once it said hello;
    `rows()` sends a page and awaits its rows (pages are answered in order, one at a time)."""

    def __init__(self) -> None:
        self.ready = False
        self.pages = 0
        self._proc: subprocess.Popen | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future] = deque()
        self._boot_task: asyncio.Task | None = None
        self._read_task: asyncio.Task | None = None
        self._specs: dict[int, bytes] = {}
        self._dead = False

    @property
    def started(self) -> bool:
        return self._proc is not None or self._dead

    def start(self) -> None:
        if self.started:
            return
        parent, child = socket.socketpair()
        try:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            code = f"from orchestration.gateways.page_worker import child_main; child_main({child.fileno()})"
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, env=env, close_fds=True,
            )
        except Exception:  # noqa: BLE001 - no worker: everything stays in process
            self._dead = True
            parent.close()
            return
        finally:
            child.close()
        self._boot_task = asyncio.ensure_future(self._boot(parent))

    async def _boot(self, sock: socket.socket) -> None:
        try:
            self._reader, self._writer = await asyncio.open_connection(sock=sock)
            hello = pickle.loads(await self._read_frame())
            if not (isinstance(hello, tuple) and hello[0] == "hello"):
                raise WorkerGone
        except Exception:  # noqa: BLE001 - the child did not come up: stay in process
            self._dead = True
            return
        self.ready = True
        self._read_task = asyncio.ensure_future(self._read_loop())

    async def wait_ready(self) -> None:
        if self._boot_task is not None:
            await asyncio.shield(self._boot_task)

    async def _read_frame(self) -> bytes:
        assert self._reader is not None
        (n,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
        return await self._reader.readexactly(n)

    async def _read_loop(self) -> None:
        try:
            # closed, died, or sent what does not load: the pending pages go back in process
            with contextlib.suppress(Exception):
                while True:
                    kind, value = pickle.loads(await self._read_frame())
                    fut = self._pending.popleft()
                    if fut.done():
                        continue
                    if kind == "ok":
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        self.ready = False
        self._dead = True
        while self._pending:
            fut = self._pending.popleft()
            if not fut.done():
                fut.set_exception(WorkerGone())

    async def rows(self, spec: PageSpec, content: bytes, window: str, page: int
                   ) -> tuple[list[tuple], int, int | None]:
        if not self.ready or self._writer is None:
            raise WorkerGone
        blob = self._specs.get(id(spec))
        if blob is None:
            blob = self._specs[id(spec)] = pickle.dumps(spec)
        msg = pickle.dumps((blob, content, window, page), protocol=pickle.HIGHEST_PROTOCOL)
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(fut)
        self._writer.write(_HEADER.pack(len(msg)) + msg)
        self.pages += 1
        return await fut

    async def aclose(self) -> None:
        """Stop the child and wait for it (a few ms); kill it if it does not go."""
        if self._boot_task is not None and not self._boot_task.done():
            self._boot_task.cancel()
            with contextlib.suppress(BaseException):
                await self._boot_task
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(BaseException):
                await self._read_task
        self._fail_pending()
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                await asyncio.to_thread(proc.wait, 10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck child
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)
