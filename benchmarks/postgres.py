"""A PostgreSQL database for the benchmarks: ``$TFA_BENCH_DATABASE_URL``, or a throwaway
cluster started for the run on 127.0.0.1 — with fsync and synchronous commits on, as a
production database runs (a test cluster's fsync=off would flatter every figure). The
tests start their clusters here too, with fsync off (``tests/support/postgres_db.py``);
this module uses the standard library alone, so they can load it by its path.

As root, PostgreSQL's programs run as the ``postgres`` user, which owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

URL_VARIABLE = "TFA_BENCH_DATABASE_URL"
TIMEOUT = 120.0


class Unavailable(RuntimeError):
    """No PostgreSQL to benchmark on; the message says why."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise Unavailable(f"{Path(argv[-1]).name}: {(done.stderr or done.stdout).strip()[-300:]}")


@contextmanager
def database() -> Iterator[str]:
    """A PostgreSQL URL for the run; a cluster it started is stopped and removed after."""
    given = os.environ.get(URL_VARIABLE, "").strip()
    if given:
        yield given
        return
    with throwaway_cluster(durable=True) as url:
        yield url


def server_programs() -> Path | None:
    """The newest installed PostgreSQL server's ``bin`` folder (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(found[-1]) if found else None


@contextmanager
def throwaway_cluster(*, durable: bool) -> Iterator[str]:
    """A new cluster on 127.0.0.1 and a free port, stopped and removed afterwards; its
    superuser's URL. ``durable=False`` turns fsync off (test data only). Raises
    :class:`Unavailable` when no server is installed or it does not start."""
    bin_dir = server_programs()
    if bin_dir is None:
        raise Unavailable(f"no PostgreSQL server installed and {URL_VARIABLE} not set")
    folder = Path(tempfile.mkdtemp(prefix="tfa-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    folder.chmod(0o700)
    data, port = folder / "data", _free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
    started = False
    try:
        _run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
              *([] if durable else ["--no-sync"])])
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c max_connections=400"
                   f" -c unix_socket_directories={folder} -c shared_buffers=128MB")
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run([*pg_ctl, "-l", str(folder / "server.log"), "-o", options, "start"])
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*pg_ctl, "-m", "fast", "stop"], capture_output=True,
                           timeout=TIMEOUT, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def in_schema(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` (created by the store on first use)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def create_schema(url: str, schema: str) -> None:
    """Make ``schema`` exist (the store migrates into it)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
