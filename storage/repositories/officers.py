"""Officers: agency members, their roles and their one-time link codes."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
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

    async def by_email(self, address: str, agency_id: int | None = None) -> Officer | None:
        """The active officer who reads mail at `address` (any case): one of `agency_id`
        where there is one, else an admin, else any."""
        result = await self._session.exec(
            select(Officer).where(
                sa.func.lower(Officer.email) == address.strip().lower(), col(Officer.active)
            )
        )
        found = sorted(
            result.all(),
            key=lambda o: (o.agency_id != agency_id, o.role is not OfficerRole.ADMIN, o.id or 0),
        )
        return found[0] if found else None

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
