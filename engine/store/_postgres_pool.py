"""PostgreSQL's connection pool, made to come back quickly and quietly after an outage.

psycopg_pool replaces a lost connection in the background, pausing between failed attempts
1 s, then 2, 4, 8... (``AttemptWithBackoff``): after a 45 s outage the first attempt to
succeed came 11-14 s after the database was back, and every failed attempt logged a
warning (455 lines over four outages). :class:`Pool` retries at most ``RECONNECT_DELAY``
apart whatever the outage's length, keeps the last failure's words (:attr:`Pool.cause`) for
the error a request gets, and :class:`QuietReconnects` keeps the library's per-attempt
lines about its connections out of the log: the service logs the outage once, with that
cause (see ``tfa_engine.adapters.falcon.outages``).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from psycopg_pool.pool import AddConnection, MaintenanceTask

RECONNECT_DELAY = 0.5  # seconds at most between two attempts to replace a lost connection
POOL_NAME = "tfa"  # in the library's log records
POOL_LOGGER = "psycopg.pool"


class PooledConnection(psycopg.Connection[Any]):
    """A connection of a :class:`Pool` (told apart from other pools' in log records)."""


class Pool(ConnectionPool[PooledConnection]):
    """A psycopg_pool pool whose reconnection attempts never pause longer than
    ``RECONNECT_DELAY``, remembering why the last one failed.

    Attempts to a database that is down cost a refused TCP connection each; the pause is
    short so that a request after the database's return gets a connection within a second.
    """

    def __init__(self, conninfo: str, **options: Any) -> None:
        # Set before the pool opens: its workers start connecting during __init__.
        self.cause: str | None = None
        QuietReconnects.install()
        super().__init__(
            conninfo, connection_class=PooledConnection, name=POOL_NAME, **options)

    def schedule_task(self, task: MaintenanceTask, delay: float) -> None:
        """Schedule ``task`` in ``delay`` seconds, a reconnection attempt no later than
        ``RECONNECT_DELAY``."""
        if isinstance(task, AddConnection):
            delay = min(delay, RECONNECT_DELAY)
        super().schedule_task(task, delay)

    def _connect(self, timeout: float | None = None) -> PooledConnection:
        # Every new connection of the pool is made here (the library's one place for it).
        try:
            conn = super()._connect(timeout)
        except psycopg.Error as exc:
            self.cause = " ".join(str(exc).split())  # libpq's words, on one line
            raise
        self.cause = None
        return conn


class QuietReconnects(logging.Filter):
    """Leaves out of the ``psycopg.pool`` log the warnings about a :class:`Pool`'s failed
    connection attempts and the dead connections it discards: one per attempt, many a
    second during an outage. Other pools' records, and every other record, pass."""

    _ATTEMPTS = (
        f"error connecting in {POOL_NAME!r}", f"reconnection attempt in pool {POOL_NAME!r}")
    _DISCARDS = ("discarding closed connection: %s", "discarding broken connection: %s")

    @classmethod
    def install(cls) -> None:
        """Add the filter to the library's logger, once per process."""
        logger = logging.getLogger(POOL_LOGGER)
        if not any(isinstance(existing, cls) for existing in logger.filters):
            logger.addFilter(cls())

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the records to leave out."""
        if record.msg in self._DISCARDS:
            args = record.args if isinstance(record.args, tuple) else ()
            return not (args and isinstance(args[0], PooledConnection))
        return not record.getMessage().startswith(self._ATTEMPTS)
