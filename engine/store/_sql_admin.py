"""Administrative events in SQL (see :mod:`.sql`), for every backend: the table
``admin_events``, which only ever gets inserts, and deletes past retention."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ._admin import AdminEvent, AdminEventStore
from ._sql import SQLBackend

ADMIN_EVENT_COLUMNS = "at, event, actor, token_id, token_name, detail"
INSERT_ADMIN_EVENT = (
    f"INSERT INTO admin_events ({ADMIN_EVENT_COLUMNS})"  # noqa: S608 - constants only
    " VALUES (:at, :event, :actor, :token_id, :token_name, :detail)"
)


class SQLAdminEvents(SQLBackend, AdminEventStore):
    """:class:`AdminEventStore` in SQL."""

    def add_admin_event(self, event: AdminEvent) -> None:
        with self._write() as conn:
            conn.execute(INSERT_ADMIN_EVENT, {
                "at": event.at, "event": event.event, "actor": event.actor,
                "token_id": event.token_id, "token_name": event.token_name,
                "detail": event.detail,
            })

    def admin_events(
        self, since: float | None = None, events: Collection[str] = ()
    ) -> list[AdminEvent]:
        where: list[str] = []
        values: dict[str, Any] = {}
        if since is not None:
            where.append("at >= :since")
            values["since"] = since
        if events:
            # One parameter per kind asked for: the SQL text holds only their names.
            names = {f"e{number}": kind for number, kind in enumerate(sorted(set(events)))}
            where.append(f"event IN ({', '.join(':' + name for name in names)})")
            values.update(names)
        sql = f"SELECT {ADMIN_EVENT_COLUMNS} FROM admin_events"  # noqa: S608 - constants only
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY at, id", values).fetchall()
        return [
            AdminEvent(at=row[0], event=row[1], actor=row[2], token_id=row[3],
                       token_name=row[4], detail=row[5])
            for row in rows
        ]

    def purge_admin_events(self, before: float) -> int:
        with self._write(durable=False) as conn:
            count = conn.execute(
                "DELETE FROM admin_events WHERE at < :before", {"before": before}
            ).rowcount
        return max(count, 0)
