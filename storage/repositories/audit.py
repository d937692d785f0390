"""The audit trail: one row for everything that happens to a complaint."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.appends import StagedAppends
from storage.models import (
    AuditEntry,
    NewAuditEntry,
)


class AuditRepository:
    def __init__(self, session: AsyncSession, appends: StagedAppends) -> None:
        self._session = session
        self._appends = appends

    def add(self, entry: NewAuditEntry) -> None:
        self._appends.add(entry)

    async def for_complaint(self, complaint_id: int) -> Sequence[AuditEntry]:
        result = await self._session.exec(
            select(AuditEntry)
            .where(AuditEntry.complaint_id == complaint_id)
            .order_by(col(AuditEntry.id))
        )
        return result.all()
