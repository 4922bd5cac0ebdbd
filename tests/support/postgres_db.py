"""A PostgreSQL database for tests: ``TFA_TEST_DATABASE_URL``, else a throwaway cluster of
this test process's own (each xdist worker has one), started on first use by
``dev/postgres.py`` (fsync off) and stopped at the session's end. Each store gets a schema
of its own, dropped afterwards.

With neither, a PostgreSQL case fails (it never skips), saying how to get one.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from dev import postgres as clusters

URL_VARIABLE = "TFA_TEST_DATABASE_URL"
_schemas = itertools.count(1)
_session = ExitStack()
_session_url: str | None = None
_session_failure: str | None = None


def database_url() -> str:
    """The test database's URL: ``$TFA_TEST_DATABASE_URL``, else this session's own
    cluster (started by the first caller); fails the test when there can be none."""
    global _session_url, _session_failure
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        return url
    if _session_url is None and _session_failure is None:
        try:
            _session_url = _session.enter_context(clusters.throwaway_cluster()).url
        except clusters.Unavailable as exc:
            _session_failure = f"no PostgreSQL for this test ({exc}), or set {URL_VARIABLE}"
    if _session_url is None:
        pytest.fail(str(_session_failure), pytrace=False)
    return _session_url


def stop_session_cluster() -> None:
    """Stop the cluster :func:`database_url` started, if it did (at the session's end)."""
    global _session_url
    _session.close()
    _session_url = None


def fresh_schema() -> str:
    """A schema name no other test of any process uses."""
    return f"t{os.getpid()}_{next(_schemas)}"


def drop_schema(url: str, schema: str) -> None:
    """Drop a test schema and everything in it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def schema_url(url: str, schema: str) -> str:
    """``url`` with ``search_path`` set to ``schema`` (for processes given only a URL)."""
    return clusters.in_schema(url, schema)


@contextmanager
def postgres_store(**options: Any) -> Iterator[Any]:
    """A PostgresStore on a fresh schema of the test database, dropped afterwards."""
    from tfa_engine.store.postgres import PostgresStore

    url = database_url()
    schema = fresh_schema()
    store = PostgresStore(url, schema=schema, **options)
    try:
        yield store
    finally:
        store.close()
        drop_schema(url, schema)
