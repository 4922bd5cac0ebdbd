"""Storage backends behind one contract (:class:`Store`).

:func:`open_store` picks the backend from a location: a ``postgresql://`` URL opens
:class:`~tfa_engine.store.postgres.PostgresStore` (the ``postgres`` extra, imported only
then), a URL of any other scheme is refused, anything else is the path of an SQLite file.
Beside the contract and its record types: the pepper fingerprint every process on one
database must agree on (:func:`settle_pepper`), and :class:`ReadinessCache` for probes.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._access import TokenRecord
from ._admin import AdminEvent
from ._base import (
    FRAUD,
    Activation,
    Admission,
    Allowance,
    CallbackJob,
    CodeRecord,
    CodeState,
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    DuplicateTokenName,
    FraudRule,
    NewCode,
    Recorded,
    Refusal,
    SendPolicy,
    SendPreview,
    Store,
    StoreError,
    StoreUnavailable,
)
from ._pepper import PepperMismatch, adopt_pepper, settle_pepper, verify_pepper
from ._readiness import READY_TTL, ReadinessCache
from ._validation import RequestLimited, Validation, Window, failures_key, requests_key
from .memory import MemoryStore
from .sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SUPPORTED = ("an SQLite file path (e.g. /var/lib/tfa/tfa.db) or a postgresql:// URL "
             "(postgres:// too)")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

__all__ = [
    "FRAUD",
    "READY_TTL",
    "Activation",
    "AdminEvent",
    "Admission",
    "Allowance",
    "CallbackJob",
    "CodeRecord",
    "CodeState",
    "DuplicateClientRef",
    "DuplicateMessageId",
    "DuplicateToken",
    "DuplicateTokenName",
    "FraudRule",
    "MemoryStore",
    "NewCode",
    "PepperMismatch",
    "ReadinessCache",
    "Recorded",
    "Refusal",
    "RequestLimited",
    "SQLiteStore",
    "SendPolicy",
    "SendPreview",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TokenRecord",
    "Validation",
    "Window",
    "adopt_pepper",
    "failures_key",
    "is_postgres",
    "location_problem",
    "open_store",
    "redact_url",
    "requests_key",
    "settle_pepper",
    "verify_pepper",
]


def is_postgres(location: str) -> bool:
    """True for a PostgreSQL connection URL."""
    return location.startswith(POSTGRES_SCHEMES)


def location_problem(location: str) -> str | None:
    """Why ``location`` names no store :func:`open_store` can open, or None.

    A URL of another scheme would otherwise be taken for an SQLite file name. A
    ``sqlite://`` URL is refused too, with a hint: tools read its slashes differently
    (``sqlite:///var/tfa.db`` is the relative ``var/tfa.db`` to SQLAlchemy), and a path
    says exactly which file is meant.
    """
    match = _SCHEME.match(location)
    if match is None or is_postgres(location):
        return None
    scheme = match[1].lower()
    if scheme == "sqlite":
        return ("give an SQLite database as its file path (e.g. /var/lib/tfa/tfa.db), not "
                "as a sqlite:// URL, whose slashes tools read differently")
    return f"{scheme}:// databases are not supported: give {SUPPORTED}"


def redact_url(url: str) -> str:
    """A database URL fit for logs and messages: any password (in the user part or a
    ``password`` parameter) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        parts = parts._replace(netloc=netloc)
    if parts.query:
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(name == "password" for name, _ in query):
            parts = parts._replace(query=urlencode(
                [(name, "***" if name == "password" else value) for name, value in query],
                safe="*",
            ))
    return urlunsplit(parts)


def open_store(location: str, **options: Any) -> Store:
    """The store at ``location``: a ``postgresql://`` URL or an SQLite file path.

    ``options`` go to the backend's constructor (``synchronous=`` for SQLite,
    ``max_size=`` for PostgreSQL's pool, ...). Raises ValueError for a location of no
    supported kind, and :class:`StoreUnavailable` naming the database and the cause
    (the server's own words) when it cannot be opened.
    """
    problem = location_problem(location)
    if problem is not None:
        raise ValueError(problem)
    if is_postgres(location):
        return _open_postgres(location, options)
    try:
        return SQLiteStore(location, **options)
    except StoreError as exc:
        where = os.path.abspath(location)
        folder = os.path.dirname(where)
        cause = f"its folder {folder} does not exist" if not os.path.isdir(folder) else exc
        kind = StoreUnavailable if isinstance(exc, StoreUnavailable) else StoreError
        raise kind(f"cannot open the SQLite database {where}: {cause}") from None


def _open_postgres(url: str, options: dict[str, Any]) -> Store:
    from .postgres import PostgresStore  # the postgres extra: imported only when asked

    shown = redact_url(url)
    # One connection of its own first: the pool only says that it got none in time,
    # while the server says why (no such role, wrong password, refused, ...).
    _reach_postgres(url, shown, float(options.get("timeout", 5.0)))
    try:
        return PostgresStore(url, **options)
    except StoreUnavailable as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL at {shown}: {exc}") from None


def _reach_postgres(url: str, shown: str, timeout: float) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    def refused(exc: Exception, secret: object = None) -> StoreUnavailable:
        # libpq's lines (a hint, or one per address tried) as one line
        cause = "; ".join(" ".join(line.split()) for line in str(exc).splitlines() if line.strip())
        if secret:
            cause = cause.replace(str(secret), "***")
        return StoreUnavailable(f"cannot connect to PostgreSQL at {shown}: {cause}")

    try:
        given = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise refused(exc) from None
    # A server that drops packets would otherwise hold the start without end.
    conninfo = url if "connect_timeout" in given else make_conninfo(
        url, connect_timeout=max(2, math.ceil(timeout)))
    try:
        psycopg.connect(conninfo).close()
    except psycopg.Error as exc:
        raise refused(exc, given.get("password")) from None
