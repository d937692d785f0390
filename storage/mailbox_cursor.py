"""A mailbox poller's place in a folder, kept in the database (see channels.base.MailboxCursor)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import MailboxCursorRow


class StoredMailboxCursor:
    def __init__(self, engine: AsyncEngine, name: str, now: Callable[[], datetime]) -> None:
        self._engine = engine
        self._name = name
        self._now = now

    async def load(self) -> tuple[int, int] | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(MailboxCursorRow, self._name)
            return None if row is None else (row.uidvalidity, row.last_uid)

    async def save(self, uidvalidity: int, last_uid: int) -> None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(MailboxCursorRow, self._name)
            if row is None:
                row = MailboxCursorRow(
                    name=self._name,
                    uidvalidity=uidvalidity,
                    last_uid=last_uid,
                    updated_at=self._now(),
                )
                session.add(row)
            else:
                row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, self._now()
            await session.commit()
