"""A validation in SQL (see :mod:`.sql`), for every backend: one statement reads the token,
its code and the two limits a validation judges by; one transaction then counts the
request and uses up the code, or records a wrong attempt.

A limit is taken by a conditional write that judges its window itself: the ring's head is
moved on only while the slot it moves onto holds an event that has left the window (see
:mod:`.sql_admission`), and the slot is written from the head it returns. On SQLite that is
two statements (the write transaction excludes every other writer); on PostgreSQL one,
under the key's advisory lock (a row waited for is re-checked on its newest version, but a
subquery reads the statement's snapshot: the lock keeps that snapshot current).
"""

from __future__ import annotations

from typing import Any

from ._base import Allowance, CodeStore, retry_after
from ._sql import (
    CODE_COLUMNS,
    OPEN,
    TOKEN_FIELDS,
    Connection,
    SQLBackend,
    code_record,
    token_record,
)
from ._sql_admission import _limit_lock
from ._validation import (
    FAILURES_PREFIX,
    REQUESTS_PREFIX,
    RequestLimited,
    Validation,
    Window,
)

_CODE_FIELDS = CODE_COLUMNS.split(", ")
_LOOK_UP = (
    "SELECT " + ", ".join([f"t.{name}" for name in TOKEN_FIELDS]  # noqa: S608
                          + [f"c.{name}" for name in _CODE_FIELDS])
    + ", rq.taken, (SELECT at FROM rate_slots WHERE key = rq.key AND slot = rq.taken % :rq_n),"
    " pf.taken, (SELECT at FROM rate_slots WHERE key = pf.key AND slot = pf.taken % :pf_n)"
    " FROM tokens t"
    " LEFT JOIN codes c ON c.token_id = t.id AND c.client_ref = :r"
    " LEFT JOIN rate_heads rq ON rq.key = :rq_prefix || t.id"
    " LEFT JOIN rate_heads pf ON pf.key = :pf_prefix || t.id || ':' || c.phone"
    " WHERE t.token_hash = :d"
)
# A ring's slot is read by a subquery on its whole key (key, slot), never by a join: joined,
# PostgreSQL may look it up by the key alone and read every slot of the ring (a limit far
# above the load has one per event: request-code's database time grew by 0.75 ms per 1,000
# events counted).
# Moves the ring's head on, returning the events taken; judged, only while the slot it
# moves onto is free (fewer than :n events so far) or holds one older than :edge.
_HEAD = (
    "INSERT INTO rate_heads (key, taken, ends_at) VALUES (:k, 1, :ends)"
    " ON CONFLICT (key) DO UPDATE SET taken = rate_heads.taken + 1,"
    " ends_at = excluded.ends_at{judged} RETURNING taken"
)
_JUDGED = (
    " WHERE rate_heads.taken < :n OR coalesce((SELECT at FROM rate_slots"
    " WHERE key = :k AND slot = rate_heads.taken % :n), :edge) <= :edge"
)
_SLOT = (
    "INSERT INTO rate_slots (key, slot, at) {source}"
    " ON CONFLICT (key, slot) DO UPDATE SET at = excluded.at"
)
_OLDEST = (
    "SELECT (SELECT at FROM rate_slots WHERE key = h.key AND slot = h.taken % :n)"
    " FROM rate_heads h WHERE h.key = :k"
)


def _wait(taken: Any, at: Any, window: Window | None, now: float) -> int | None:
    """Whole seconds until ``window`` admits one more, from its ring as read (as peek)."""
    if window is None or taken is None or at is None or int(taken) < window.count:
        return None
    return retry_after(at, window.seconds, now) if at > now - window.seconds else None


class SQLValidation(SQLBackend, CodeStore):
    """:meth:`CodeStore.look_up_validation`, :meth:`CodeStore.consume_code` and
    :meth:`CodeStore.count_failure` in SQL."""

    joined_writes = False  # True where one statement may write several tables (PostgreSQL)

    def look_up_validation(
        self, digest: str, client_ref: str | None, now: float,
        requests: Window | None = None, failures: Window | None = None,
    ) -> Validation:
        # A limit that is off joins no row: its key is NULL.
        params = {
            "d": digest, "r": client_ref,
            "rq_prefix": REQUESTS_PREFIX if requests else None,
            "rq_n": requests.count if requests else 1,
            "pf_prefix": FAILURES_PREFIX if failures else None,
            "pf_n": failures.count if failures else 1,
        }
        with self._read() as conn:
            row = conn.execute(_LOOK_UP, params).fetchone()
        if row is None:
            return Validation()
        tokens, codes = len(TOKEN_FIELDS), len(_CODE_FIELDS)
        code = row[tokens:tokens + codes]
        rq_taken, rq_at, pf_taken, pf_at = row[tokens + codes:]
        return Validation(
            token=token_record(row[:tokens]),
            code=None if code[0] is None else code_record(code),
            requests_wait=_wait(rq_taken, rq_at, requests, now),
            failures_wait=_wait(pf_taken, pf_at, failures, now),
        )

    def consume_code(
        self, code_id: int, now: float, max_attempts: int, request: Allowance | None = None
    ) -> bool:
        params = {"id": code_id, "now": now, "max_attempts": max_attempts}
        consume = f"UPDATE codes SET state = 'used' WHERE id = :id AND {OPEN}"  # noqa: S608
        if request is None:
            with self._write() as conn:
                return conn.execute(consume, params).rowcount == 1
        with self._transaction() as conn:
            self._lock(conn, _limit_lock(request.key))
            self._take_request(conn, request, now)
            return conn.execute(consume, params).rowcount == 1

    def count_failure(
        self, code_id: int, now: float, max_attempts: int, failures: Allowance | None = None,
        request: Allowance | None = None,
    ) -> int | None:
        limits = [allowance for allowance in (request, failures) if allowance is not None]
        with self._transaction() as conn:
            if limits:
                self._lock(conn, *(_limit_lock(allowance.key) for allowance in limits))
            if request is not None:
                self._take_request(conn, request, now)
            rows = conn.execute(
                "UPDATE codes SET attempts = attempts + 1,"  # noqa: S608
                " state = CASE WHEN attempts + 1 >= :max_attempts THEN 'locked' ELSE state END"
                f" WHERE id = :id AND {OPEN} RETURNING attempts",
                {"id": code_id, "now": now, "max_attempts": max_attempts},
            ).fetchall()  # all: SQLite finishes a statement once its rows are read
            if not rows:
                return None
            if failures is not None:
                # A guess made is a guess counted, even one past the limit (it only pushes
                # the phone's wait further out).
                self._count(conn, failures, now, judged=False)
        return int(rows[0][0])

    def _take_request(self, conn: Connection, request: Allowance, now: float) -> None:
        """Count the request, or raise RequestLimited (the caller's transaction then rolls
        back, writing nothing)."""
        if not self._count(conn, request, now, judged=True):
            params = {"k": request.key, "n": request.count}
            row = conn.execute(_OLDEST, params).fetchone()
            raise RequestLimited(retry_after(row[0], request.seconds, now))

    def _count(self, conn: Connection, allowance: Allowance, now: float, *, judged: bool) -> bool:
        """Count one event against ``allowance`` (judged: only while its window admits
        one); False when it did not."""
        params = {"k": allowance.key, "n": allowance.count, "now": now,
                  "ends": now + allowance.seconds, "edge": now - allowance.seconds}
        head = _HEAD.format(judged=_JUDGED if judged else "")
        if self.joined_writes:
            slot = _SLOT.format(source="SELECT :k, (taken - 1) % :n, :now FROM head")
            row = conn.execute(f"WITH head AS ({head}), slot AS ({slot})"  # noqa: S608
                               " SELECT taken FROM head", params).fetchone()
            return row is not None
        rows = conn.execute(head, params).fetchall()
        if not rows:
            return False
        params["taken"] = int(rows[0][0])
        conn.execute(_SLOT.format(source="VALUES (:k, (:taken - 1) % :n, :now)"), params)
        return True
