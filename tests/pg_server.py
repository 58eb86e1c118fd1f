"""A throwaway PostgreSQL server on loopback for the tests that need a real one (app sources, Dagster
instance storage).

Debian's ``postgresql`` package (``initdb``/``pg_ctl`` from /usr/lib/postgresql/*/bin; .ci/run installs it
where missing) starts a server on a free port, in a temp dir, as the ``postgres`` user when running as
root (PostgreSQL refuses to run as root). The server's own time zone is deliberately not UTC
(Asia/Kathmandu, +05:45) so a session that forgot to use UTC would be caught. `running_postgres` skips
the calling test, with the reason, only when no server can be started.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _runner() -> tuple[list[str], str | None]:
    """Command prefix to run as a non-root user, and that user's name (None: ourselves)."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return [], "<none>"
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], "postgres"
    return ["su", "postgres", "-s", "/bin/sh", "-c"], "postgres"  # pragma: no cover


def _run(prefix: list[str], args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = prefix + ([" ".join(args)] if prefix[:1] == ["su"] else args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server, yield its SQLAlchemy URL (`postgresql+psycopg2://postgres@127.0.0.1:PORT/postgres`,
    trust auth), stop it and remove its files afterwards."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    prefix, user = _runner()
    if user == "<none>":
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    base = Path(tempfile.mkdtemp(prefix="recon-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if user:
        pw = pwd.getpwnam(user)
        for p in (base, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    port = free_port()
    started = False
    try:
        init = _run(
            prefix,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
        )
        if init.returncode != 0:
            pytest.skip(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c timezone=Asia/Kathmandu -c fsync=off"
        start = _run(
            prefix,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                f"'{opts}'" if prefix[:1] == ["su"] else opts,
                "-l",
                str(base / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        if start.returncode != 0:
            log = (base / "server.log").read_text(errors="replace") if (base / "server.log").exists() else ""
            pytest.skip(f"pg_ctl start failed: {(start.stderr or log).strip().splitlines()[-1:]}")
        started = True
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                eng = create_engine(url)
                with eng.connect() as conn:
                    conn.execute(text("select 1"))
                eng.dispose()
                break
            except Exception as exc:  # noqa: BLE001 - retry until the server accepts connections
                if time.monotonic() > deadline:
                    pytest.skip(f"PostgreSQL did not accept connections: {type(exc).__name__}")
                time.sleep(0.3)
        yield url
    finally:
        if started:
            _run(prefix, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)
