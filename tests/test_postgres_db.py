"""The PostgreSQL suites never skip: without ``TFA_TEST_DATABASE_URL`` they run on a cluster
the session starts, and without a server to start they fail, saying how to get one."""

from __future__ import annotations

import postgres_db
import pytest


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
    monkeypatch.setattr(postgres_db.clusters, "server_programs", lambda: None)
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
