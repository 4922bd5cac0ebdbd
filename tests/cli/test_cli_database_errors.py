"""The ``tfa`` command names the real cause when it cannot use the database: a location of
no supported kind, PostgreSQL's own words for a refused connection, the store in ``tfa
check``, where a command looked for tokens. Each runs ``tfa`` as a process, as typed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from loopback import free_port
from postgres_db import database_url
from tfa_processes import COMMAND_TIMEOUT, clean_environ, tfa_command

pytestmark = pytest.mark.network


def tfa(workdir: Path, *argv: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``tfa ARGV`` in ``workdir`` with the memory gateway, cheap hashing and
    ``variables`` (no other TFA_* setting)."""
    env = clean_environ()
    env.update(TFA_GATEWAY="memory", TFA_ARGON2_PROFILE="test", **variables)
    return subprocess.run(
        [*tfa_command(), *argv], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT, check=False,
    )


def test_a_mysql_url_is_refused_naming_the_supported_forms(tmp_path: Path) -> None:
    """TFA_DATABASE=mysql://...: exit 2 naming the supported forms, not an SQLite error;
    no file is created."""
    done = tfa(tmp_path, "token", "list", TFA_DATABASE="mysql://shop:s3cret@db.example/tfa")
    assert done.returncode == 2
    assert "TFA_DATABASE: mysql:// databases are not supported" in done.stderr
    assert "SQLite file path" in done.stderr and "postgresql://" in done.stderr
    assert "unable to open" not in done.stderr and "s3cret" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_url_is_refused_with_a_hint(tmp_path: Path) -> None:
    """TFA_DATABASE=sqlite:///path: exit 2, saying to give the file's path instead."""
    done = tfa(tmp_path, "token", "list", TFA_DATABASE=f"sqlite:///{tmp_path}/tfa.db")
    assert done.returncode == 2
    assert "give an SQLite database as its file path" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_role_that_does_not_exist_is_named(tmp_path: Path) -> None:
    """`tfa serve` with a URL naming an unknown role exits 1 with PostgreSQL's own words
    (role "..." does not exist), not the pool's time-out."""
    parts = urlsplit(database_url())
    url = parts._replace(netloc=f"nosuchrole@{parts.hostname}:{parts.port}").geturl()
    done = tfa(tmp_path, "serve", "--port", "0", TFA_DATABASE=url,
               TFA_CALLBACK_KEY="a-callback-key-0123456789")
    assert done.returncode == 1
    assert 'role "nosuchrole" does not exist' in done.stderr
    assert "couldn't get a connection" not in done.stderr


def test_check_with_postgresql_down_names_the_store(tmp_path: Path) -> None:
    """`tfa check` on a PostgreSQL that does not answer exits 1 with a `store:` line naming
    the URL (password hidden) and the cause, and still checks the gateway."""
    url = f"postgresql://tfa:s3cret@127.0.0.1:{free_port()}/tfa"
    done = tfa(tmp_path, "check", TFA_DATABASE=url)
    assert done.returncode == 1
    store_line = next(line for line in done.stdout.splitlines() if line.startswith("store:"))
    assert store_line.startswith(
        f"store: FAILED: cannot connect to PostgreSQL at {url.replace('s3cret', '***')}: "
    )
    assert "Connection refused" in store_line
    assert "gateway memory: ok" in done.stdout
    assert "configuration error" not in done.stderr
    assert "s3cret" not in done.stdout + done.stderr


def test_token_list_names_the_database_it_found_empty(tmp_path: Path) -> None:
    """`tfa token list` without TFA_DATABASE, in a folder with no database, says where it
    looked: the absolute path of ./tfa.db."""
    done = tfa(tmp_path, "token", "list")
    assert done.returncode == 0
    assert done.stdout.startswith(f"No tokens yet in {tmp_path / 'tfa.db'}. ")


def test_token_list_names_a_postgresql_database_without_its_password(tmp_path: Path) -> None:
    """On an empty PostgreSQL schema, `tfa token list` names the URL, its password hidden."""
    from fleet import postgres_schema

    with postgres_schema() as url:
        parts = urlsplit(url)
        secret = parts._replace(netloc=f"{parts.username}:pw-not-shown@{parts.hostname}:"
                                       f"{parts.port}").geturl()
        done = tfa(tmp_path, "token", "list", TFA_DATABASE=secret)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"No tokens yet in {secret.replace('pw-not-shown', '***')}. ")
