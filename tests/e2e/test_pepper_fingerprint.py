"""Processes that disagree on the pepper: the database records a fingerprint of the pepper
on first start, and a ``tfa serve`` with another pepper (or none) refuses to start, in one
line naming TFA_PEPPER. ``tfa pepper adopt`` changes the pepper on purpose.

Real ``tfa serve`` processes on one PostgreSQL schema or one SQLite file.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fleet import (
    Database,
    Fleet,
    fleet_environ,
    new_phone,
    new_ref,
    postgres_schema,
    processes,
    serve_command,
    tokens_toml,
)
from tfa_processes import (
    COMMAND_TIMEOUT,
    SERVING,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TfaProcess,
    tfa_command,
)

from tfa_engine import catalogue

pytestmark = pytest.mark.network

PEPPER = "first-pepper-0123456789abcdef"
OTHER_PEPPER = "other-pepper-fedcba9876543210"
TOKEN = "5c3e1a9b-7d2f-4e6a-9b8c-1d2e3f4a5b6c"
SUCCESS = (catalogue.SUCCESS.http, catalogue.SUCCESS.code)
VALID = (catalogue.VALID.http, catalogue.VALID.code)
DECLINED = (catalogue.DECLINED.http, catalogue.DECLINED.code)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh database of ``kind``: a PostgreSQL schema (dropped after) or an SQLite file."""
    if kind == "postgres":
        with postgres_schema() as url:
            yield url
    else:
        yield str(workdir / "tfa.db")


def environ(location: str, workdir: Path, pepper: str | None) -> dict[str, str]:
    """A server's settings on ``location`` with ``pepper`` (None: unset) and one token."""
    config = workdir / "tokens.toml"
    config.write_text(tokens_toml({"shop": TOKEN}), encoding="utf-8")
    env = fleet_environ(location, TFA_CONFIG=str(config))
    if pepper is not None:
        env["TFA_PEPPER"] = pepper
    return env


def serves(location: str, workdir: Path, pepper: str | None) -> None:
    """Start ``tfa serve`` with ``pepper`` on ``location``, see it serve, stop it."""
    with processes([serve_command()], workdir, environ(location, workdir, pepper)):
        pass


def refused_start(
    location: str, workdir: Path, pepper: str | None, *options: str
) -> tuple[int, list[str]]:
    """Run a ``tfa serve`` that should refuse to start: its exit code and output lines.
    Fails the test if it serves instead."""
    process = TfaProcess(serve_command(*options), cwd=workdir,
                         env=environ(location, workdir, pepper), name="tfa serve (refused)")
    try:
        try:
            process.wait_for(SERVING, START_TIMEOUT)
        except AssertionError:  # ended without serving (or never did either: wait fails)
            code = process.process.wait(timeout=STOP_TIMEOUT)
            return code, [line for line in process.output().splitlines() if line.strip()]
        pytest.fail(f"tfa serve started with another pepper:\n{process.output()}")
    finally:
        process.stop()


def adopt(location: str, workdir: Path, pepper: str | None) -> str:
    """``tfa pepper adopt`` with ``pepper``: what it printed (it must succeed)."""
    done = subprocess.run(
        [*tfa_command(), "pepper", "adopt"], cwd=workdir,
        env=environ(location, workdir, pepper), capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_one_line_naming_the_setting(code: int, lines: list[str]) -> None:
    """Exit non-zero with one line that names TFA_PEPPER and shows no pepper."""
    assert code != 0
    assert len(lines) == 1, lines
    assert "TFA_PEPPER" in lines[0]
    assert PEPPER not in lines[0] and OTHER_PEPPER not in lines[0]


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_a_server_with_another_pepper_refuses_to_start(kind: str, tmp_path: Path) -> None:
    """While a server with one pepper runs, a second with another exits non-zero with one
    line naming TFA_PEPPER (never either pepper)."""
    with database(kind, tmp_path) as location, \
            processes([serve_command()], tmp_path, environ(location, tmp_path, PEPPER)):
        code, lines = refused_start(location, tmp_path, OTHER_PEPPER)
    assert_one_line_naming_the_setting(code, lines)


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_a_server_without_pepper_on_a_peppered_database_refuses_to_start(
    kind: str, tmp_path: Path
) -> None:
    """A server with TFA_PEPPER unset, on a database first served with a pepper, exits
    non-zero with one line naming TFA_PEPPER."""
    with database(kind, tmp_path) as location:
        serves(location, tmp_path, PEPPER)
        code, lines = refused_start(location, tmp_path, None)
    assert_one_line_naming_the_setting(code, lines)
    assert "unset" in lines[0]


def test_workers_with_another_pepper_refuse_to_start(tmp_path: Path) -> None:
    """``tfa serve --workers 2`` with another pepper than the database's exits non-zero
    with one line naming TFA_PEPPER, before any worker starts."""
    with database("sqlite", tmp_path) as location:
        serves(location, tmp_path, PEPPER)
        code, lines = refused_start(location, tmp_path, OTHER_PEPPER, "--workers", "2")
    assert_one_line_naming_the_setting(code, lines)


def test_a_pepper_shorter_than_16_bytes_is_refused(tmp_path: Path) -> None:
    """TFA_PEPPER of 15 bytes: serve exits 2 naming TFA_PEPPER and the 16-byte minimum."""
    short = "fifteen-bytes!!"
    assert len(short.encode()) == 15
    code, lines = refused_start(str(tmp_path / "tfa.db"), tmp_path, short)
    assert code == 2
    assert lines == ["tfa: configuration error: TFA_PEPPER: pepper must have at least 16 bytes"]


def test_after_adopting_a_new_pepper_its_servers_start_and_codes_validate(
    tmp_path: Path,
) -> None:
    """The README's procedure: stop the servers, `tfa pepper adopt` with the new pepper,
    start them with it: both start, and a code sent through one validates on the other."""
    with postgres_schema() as location:
        serves(location, tmp_path, PEPPER)
        adopt(location, tmp_path, OTHER_PEPPER)
        env = environ(location, tmp_path, OTHER_PEPPER)
        with processes([serve_command(), serve_command()], tmp_path, env) as started:
            fleet = Fleet("adopted", started, Database(location), {"shop": TOKEN})
            ref, phone = new_ref("adopted"), new_phone()
            assert fleet.request_code(0, "shop", ref, phone).outcome == SUCCESS
            assert fleet.validate(1, "shop", ref, fleet.sms_code(phone)).outcome == VALID


def test_codes_sent_before_adopting_a_new_pepper_are_declined(tmp_path: Path) -> None:
    """A code sent under the old pepper, submitted after the change, gets -54 Declined (the
    README says so: such codes live at most TFA_CODE_TTL seconds)."""
    with postgres_schema() as location:
        env = environ(location, tmp_path, PEPPER)
        with processes([serve_command()], tmp_path, env) as started:
            before = Fleet("before", started, Database(location), {"shop": TOKEN})
            ref, phone = new_ref("before"), new_phone()
            assert before.request_code(0, "shop", ref, phone).outcome == SUCCESS
            code = before.sms_code(phone)
        adopt(location, tmp_path, OTHER_PEPPER)
        env = environ(location, tmp_path, OTHER_PEPPER)
        with processes([serve_command()], tmp_path, env) as started:
            after = Fleet("after", started, Database(location), {"shop": TOKEN})
            assert after.validate(0, "shop", ref, code).outcome == DECLINED


def test_after_adopting_a_new_pepper_the_old_one_is_refused(tmp_path: Path) -> None:
    """Once `tfa pepper adopt` recorded the new pepper, a server with the old one exits
    non-zero naming TFA_PEPPER."""
    with database("sqlite", tmp_path) as location:
        serves(location, tmp_path, PEPPER)
        said = adopt(location, tmp_path, OTHER_PEPPER)
        code, lines = refused_start(location, tmp_path, PEPPER)
    assert re.search(r"no longer validate", said)
    assert_one_line_naming_the_setting(code, lines)
