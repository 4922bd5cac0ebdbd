"""A PostgreSQL database for tests: ``TFA_TEST_DATABASE_URL`` (``.ci/run`` starts a
throwaway cluster and sets it). Each store gets a schema of its own, dropped afterwards.

Without the variable, PostgreSQL cases skip, saying why; under CI (``CI=true``) they fail
instead, so CI can never pass on SQLite alone unnoticed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

URL_VARIABLE = "TFA_TEST_DATABASE_URL"
_schemas = itertools.count(1)


def database_url() -> str:
    """The test database's URL; skips the test (fails it under CI) when there is none."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        return url
    reason = f"{URL_VARIABLE} is not set: no PostgreSQL to run on (.ci/run starts one)"
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(reason)
    pytest.skip(reason)


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
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


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
