"""Storage backends behind one contract (:class:`Store`).

:func:`open_store` picks the backend from a location: a ``postgresql://`` URL opens
:class:`~tfa_engine.store.postgres.PostgresStore` (the ``postgres`` extra, imported only
then), anything else is the path of an SQLite file.
"""

from __future__ import annotations

from typing import Any

from .admin import AdminEvent
from .base import (
    CallbackJob,
    CodeRecord,
    CodeState,
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    DuplicateTokenName,
    NewCode,
    Store,
    StoreError,
    StoreUnavailable,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

__all__ = [
    "AdminEvent",
    "CallbackJob",
    "CodeRecord",
    "CodeState",
    "DuplicateClientRef",
    "DuplicateMessageId",
    "DuplicateToken",
    "DuplicateTokenName",
    "MemoryStore",
    "NewCode",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "is_postgres",
    "open_store",
]


def is_postgres(location: str) -> bool:
    """True for a PostgreSQL connection URL."""
    return location.startswith(POSTGRES_SCHEMES)


def open_store(location: str, **options: Any) -> Store:
    """The store at ``location``: a ``postgresql://`` URL or an SQLite file path.

    ``options`` go to the backend's constructor (``synchronous=`` for SQLite,
    ``max_size=`` for PostgreSQL's pool, ...).
    """
    if is_postgres(location):
        from .postgres import PostgresStore  # the postgres extra: imported only when asked

        return PostgresStore(location, **options)
    return SQLiteStore(location, **options)
