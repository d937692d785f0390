"""Contact claims: the contacts typed into web forms, each waiting for its code."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ContactClaim


class ContactClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, claim: ContactClaim) -> None:
        self._session.add(claim)

    async def for_complaint(self, complaint_id: int, *, hold: bool = False) -> ContactClaim | None:
        """The complaint's claim; `hold` locks it until the transaction ends (a code checked
        twice at once counts both tries)."""
        statement = select(ContactClaim).where(ContactClaim.complaint_id == complaint_id)
        if hold:
            statement = statement.with_for_update()
        return (await self._session.exec(statement)).first()
