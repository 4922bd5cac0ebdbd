"""Codes and their callbacks in SQL (see :mod:`.sql`), for every backend."""

from __future__ import annotations

import uuid

from ._base import (
    NEVER,
    Activation,
    CallbackJob,
    CodeRecord,
    CodeStore,
    OutboxStore,
    Recorded,
    StoreError,
)
from ._sql import (
    ABANDONED,
    ENQUEUE,
    PLANNED_EACH_TIME,
    SELECT_CODES,
    Connection,
    SQLBackend,
    callback_job,
    code_record,
)

_OWN = "(SELECT {} FROM codes WHERE id = :id)"
_PHONE = f"token_id = {_OWN.format('token_id')} AND phone = {_OWN.format('phone')}"
# Every older code of the phone that could still be validated dies: live ones, and pending
# ones, whether still being sent or left by a sender that died. A statement of its own,
# before the activation: unique indexes are checked row by row, and the phone's one live
# code must be gone before this one goes live.
_SUPERSEDE = (
    PLANNED_EACH_TIME + "UPDATE codes SET state = 'superseded' WHERE {phone}"  # noqa: S608
    " AND state IN ('live', 'pending') AND id < :id"
)
SUPERSEDE = _SUPERSEDE.format(phone=_PHONE)
# The same, for a phone already read (PostgreSQL reads it as it locks): with the values in
# the statement the planner takes the index on (token, phone, state); with them read by
# subqueries it may take another index on the token and read every code of the token.
SUPERSEDE_KNOWN = _SUPERSEDE.format(phone="token_id = :t AND phone = :ph")
ACTIVATE = (
    "UPDATE codes SET sent_at = :now, gateway = :gateway, provider_id = :provider,"
    " state = CASE WHEN state <> 'pending' THEN state WHEN EXISTS (SELECT 1 FROM codes"
    "   AS newer WHERE newer.token_id = codes.token_id AND newer.phone = codes.phone"
    "   AND newer.state = 'live' AND newer.id > :id) THEN 'superseded' ELSE 'live' END"
    " WHERE id = :id AND sent_at IS NULL"
    " RETURNING token_id, state, callback_url, delivery_status, delivered_at, message_id"
)


def _fenced(claim: str | None) -> str:
    """The condition that only a claim's holder settles a callback (none: anyone)."""
    return "" if claim is None else " AND claim = :claim"


class SQLCodes(SQLBackend, CodeStore, OutboxStore):
    """:class:`CodeStore` and :class:`OutboxStore` in SQL."""

    # -- codes -----------------------------------------------------------------------------
    def client_ref_taken(
        self, token_id: str, client_ref: str, stale_before: float = NEVER
    ) -> bool:
        with self._read() as conn:
            return conn.execute(
                "SELECT 1 FROM codes WHERE token_id = :t AND client_ref = :r"  # noqa: S608
                f" AND NOT ({ABANDONED})",
                {"t": token_id, "r": client_ref, "stale": stale_before},
            ).fetchone() is not None

    def activate_code(
        self, code_id: int, now: float, gateway: str | None = None,
        provider_id: str | None = None,
    ) -> Activation:
        values = {"id": code_id, "now": now, "gateway": gateway, "provider": provider_id}
        with self._transaction() as conn:
            known = self._lock_phone_of(conn, code_id)
            if known is None:
                conn.execute(SUPERSEDE, values)
            else:
                conn.execute(SUPERSEDE_KNOWN, {**values, "t": known[0], "ph": known[1]})
            # Re-reads after the lock: a report may have come since the engine last looked.
            mine = conn.execute(ACTIVATE, values).fetchone()
            if mine is None:  # activated already, or never stored
                state = conn.execute(
                    "SELECT state FROM codes WHERE id = :id", {"id": code_id}
                ).fetchone()
                if state is None:
                    raise StoreError(f"code {code_id} is not stored")
                return Activation(state[0])
            token_id, state, url, reported, reported_at, message_id = mine
            if url is not None:
                self._enqueue(conn, token_id, message_id, url, "INTERNAL", "ACCEPTD", now)
                if reported is not None:
                    self._enqueue(conn, token_id, message_id, url, "SMS", reported, reported_at)
        return Activation(state, reported)

    @staticmethod
    def _enqueue(
        conn: Connection, token_id: str, message_id: str, url: str, kind: str, status: str,
        at: float,
    ) -> None:
        conn.execute(ENQUEUE, {"token_id": token_id, "message_id": message_id, "url": url,
                               "kind": kind, "status": status, "at": at})

    def record_delivery(self, message_id: str, status: str, at: float) -> Recorded | None:
        with self._transaction() as conn:
            row = conn.execute(
                "UPDATE codes SET delivery_status = :s, delivered_at = :at"
                " WHERE message_id = :m AND (delivery_status IS NULL OR delivery_status <> :s)"
                " RETURNING token_id, sent_at, callback_url, gateway",
                {"s": status, "at": at, "m": message_id},
            ).fetchone()
            if row is None:
                return None
            token_id, sent_at, url, gateway = row
            # A code not yet sent keeps the report: activation queues it after INTERNAL.
            if sent_at is not None and url is not None:
                self._enqueue(conn, token_id, message_id, url, "SMS", status, at)
        return Recorded(gateway)

    def message_of(self, gateway: str, provider_id: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT message_id FROM codes WHERE gateway = :g AND provider_id = :p",
                {"g": gateway, "p": provider_id},
            ).fetchone()
        return None if row is None else str(row[0])

    def discard_code(self, code_id: int) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM codes WHERE id = :id AND sent_at IS NULL"
                " AND state IN ('pending', 'superseded')",
                {"id": code_id},
            )

    def find_code(self, token_id: str, client_ref: str) -> CodeRecord | None:
        with self._read() as conn:
            row = conn.execute(
                SELECT_CODES + " WHERE token_id = :t AND client_ref = :r",
                {"t": token_id, "r": client_ref},
            ).fetchone()
        return None if row is None else code_record(row)

    # -- callback outbox -------------------------------------------------------------------
    def claim_callbacks(
        self, now: float, limit: int, lease: float, claim: str = ""
    ) -> list[CallbackJob]:
        claim = claim or uuid.uuid4().hex
        with self._transaction(durable=False) as conn:
            rows = self._claim(conn, now, limit, lease, claim)
        return sorted((callback_job(row) for row in rows), key=lambda job: job.id)

    # Delivery bookkeeping does not wait for the disk: a mark lost to a power cut means one
    # more delivery of a callback, which receivers must take anyway (a node can die after
    # posting, before marking).
    def renew_callback(self, job: CallbackJob, until: float) -> bool:
        with self._write(durable=False) as conn:
            return conn.execute(
                "UPDATE outbox SET next_attempt_at = :until WHERE id = :id AND claim = :claim"
                " AND state = 'pending'",
                {"until": until, "id": job.id, "claim": job.claim},
            ).rowcount == 1

    def callback_delivered(self, job_id: int, claim: str | None = None) -> None:
        with self._write(durable=False) as conn:
            conn.execute(
                "UPDATE outbox SET state = 'delivered' WHERE id = :id" + _fenced(claim),  # noqa: S608
                {"id": job_id, "claim": claim},
            )

    def callback_failed(
        self, job_id: int, error: str, retry_at: float | None, claim: str | None = None
    ) -> None:
        with self._write(durable=False) as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = :e,"  # noqa: S608
                " state = CASE WHEN :give_up THEN 'failed' ELSE state END,"
                " next_attempt_at = COALESCE(:retry_at, next_attempt_at) WHERE id = :id"
                + _fenced(claim),
                {"e": error, "give_up": retry_at is None, "retry_at": retry_at, "id": job_id,
                 "claim": claim},
            )

    def callback_states(self, message_id: str) -> list[tuple[str, int]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT state, attempts FROM outbox WHERE message_id = :m ORDER BY id",
                {"m": message_id},
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def pending_callbacks(self) -> int:
        with self._read() as conn:
            row = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()
        return int(row[0])
