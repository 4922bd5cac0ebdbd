"""A throwaway PostgreSQL cluster a test owns, to stop and start it at will.

Importable from every test directory. The shared test server (``TFA_TEST_DATABASE_URL``)
must keep running for everyone else; a test that takes its database down starts one of
these instead: ``initdb`` in a temporary folder, a free port on 127.0.0.1, fsync off (a
test cluster, never a benchmark). As root, PostgreSQL's programs run as the ``postgres``
user (``initdb`` and ``postgres`` refuse root), which then owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopback import free_port

COMMAND_TIMEOUT = 60.0  # seconds for initdb, or for the server to start or stop
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    " -c full_page_writes=off -c max_connections=100"
)


def binaries() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian's layout, or PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise AssertionError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    return Path(initdb).parent


class Cluster:
    """A cluster in ``folder``, serving on 127.0.0.1:``port``."""

    def __init__(self, folder: Path, port: int) -> None:
        self.bin = binaries()
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / program), *args],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
        )
        assert done.returncode == 0, f"{program} {' '.join(args)}: {done.stdout}{done.stderr}"

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", str(int(COMMAND_TIMEOUT)), *args)

    def initdb(self) -> None:
        """Create the cluster (no fsync: it lives as long as the test)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"{SERVER_OPTIONS} -c port={self.port} -c unix_socket_directories={self.folder}"
        self._pg_ctl("-l", str(self.folder / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, close connections)."""
        self._pg_ctl("-m", mode, "stop")

    def running(self) -> bool:
        """True while the server's postmaster runs."""
        return (self.data / "postmaster.pid").exists()


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A started cluster of this test's own; stopped and deleted on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="tfa-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
        folder.chmod(0o700)
        cluster = Cluster(folder, free_port())
        cluster.initdb()
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.running():
                cluster.stop("immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
