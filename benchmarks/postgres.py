"""A PostgreSQL database for the benchmarks: ``$TFA_BENCH_DATABASE_URL``, or a throwaway
cluster started for the run on 127.0.0.1 by ``dev/postgres.py`` (the tests' starter too)
with fsync and synchronous commits on, as a production database runs (a test cluster's
fsync=off would flatter every figure).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from dev.postgres import Unavailable, in_schema, throwaway_cluster

__all__ = ["URL_VARIABLE", "Unavailable", "create_schema", "database", "in_schema"]

URL_VARIABLE = "TFA_BENCH_DATABASE_URL"


@contextmanager
def database() -> Iterator[str]:
    """A PostgreSQL URL for the run; a cluster it started is stopped and removed after."""
    given = os.environ.get(URL_VARIABLE, "").strip()
    if given:
        yield given
        return
    with throwaway_cluster(durable=True) as cluster:
        yield cluster.url


def create_schema(url: str, schema: str) -> None:
    """Make ``schema`` exist (the store migrates into it)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
