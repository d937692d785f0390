"""Officers: agency members, their roles and their one-time link codes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    LinkCode,
    Officer,
)
from storage.repositories.core import referenced
from storage.roles import OfficerRole


class OfficerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, officer_id: int) -> Officer | None:
        return await self._session.get(Officer, officer_id)

    async def referenced(self, officer_id: int) -> Officer:
        """The officer another row refers to by `officer_id`; MissingRow if it is gone."""
        return await referenced(self._session, Officer, officer_id)

    async def by_telegram(self, user_id: str) -> Officer | None:
        result = await self._session.exec(
            select(Officer).where(Officer.telegram_user_id == user_id, col(Officer.active))
        )
        return result.first()

    async def link_code(self, code: str) -> LinkCode | None:
        result = await self._session.exec(select(LinkCode).where(LinkCode.code == code))
        return result.first()

    def add_link_code(self, code: LinkCode) -> None:
        self._session.add(code)

    async def with_role(self, role: OfficerRole, agency_id: int | None = None) -> Sequence[Officer]:
        """Active officers of `role`, in one agency or (agency_id None) in all."""
        statement = select(Officer).where(Officer.role == role, col(Officer.active))
        if agency_id is not None:
            statement = statement.where(Officer.agency_id == agency_id)
        result = await self._session.exec(statement.order_by(col(Officer.id)))
        return result.all()

    def add(self, officer: Officer) -> None:
        self._session.add(officer)
