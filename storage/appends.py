"""Rows a transaction appends, written with one INSERT per table when it flushes.

Messages, audit entries, queued outbox messages and the marks of filed complaints
(`ChangedComplaint`) are only ever added by the code that creates them, never read back or
changed in the same transaction. Staging them as plain
rows and writing each table's batch as one `executemany` skips the ORM's per-object work,
which is most of what intake costs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from storage.models import NewAuditEntry, NewChangedComplaint, NewMessage, NewOutboxMessage

NewRow = NewMessage | NewAuditEntry | NewOutboxMessage | NewChangedComplaint

# Each kind of row and its table, in an order no foreign key among them contradicts.
INSERT_ORDER: tuple[tuple[type[Any], sa.Table], ...] = (
    (NewMessage, SQLModel.metadata.tables["messages"]),
    (NewAuditEntry, SQLModel.metadata.tables["audit_log"]),
    (NewOutboxMessage, SQLModel.metadata.tables["outbox"]),
    (NewChangedComplaint, SQLModel.metadata.tables["changed_complaints"]),
)


class StagedAppends:
    """The rows added since the last flush, by kind, in the order they were added."""

    def __init__(self) -> None:
        self._rows: dict[type[Any], list[dict[str, Any]]] = {}

    def add(self, row: NewRow) -> None:
        # A dataclass without slots keeps its fields in its __dict__: the row as it is.
        self._rows.setdefault(type(row), []).append(dict(vars(row)))

    def __bool__(self) -> bool:
        return bool(self._rows)

    async def write(self, connection: AsyncConnection) -> None:
        """INSERT every staged row, one statement per table, and forget them."""
        rows, self._rows = self._rows, {}
        for kind, table in INSERT_ORDER:
            if kind in rows:
                await connection.execute(table.insert(), rows[kind])
