"""Agencies: the directory of who handles complaints."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Agency,
)
from storage.repositories.core import referenced

_AGENCY_BY_CODE = select(Agency).where(Agency.code == sa.bindparam("code"))
_ALL_AGENCIES = select(Agency).order_by(col(Agency.code))


class AgencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # Agencies this transaction looked up, by code; all of them once it asked for a
        # second one, as a transaction of many messages asks for the same few dozen again
        # and again (a city has tens of agencies, not thousands).
        self._by_code: dict[str, Agency] = {}
        self._read_all = False

    async def prefetch(self) -> None:
        """Read every agency now, in one query, so that `by_code` and `get` need none: a
        transaction taking many messages."""
        if not self._read_all:
            self._by_code = {agency.code: agency for agency in await self.all()}
            self._read_all = True

    async def by_code(self, code: str) -> Agency | None:
        if code in self._by_code or self._read_all:
            return self._by_code.get(code)
        if self._by_code:
            await self.prefetch()
            return self._by_code.get(code)
        result = await self._session.exec(_AGENCY_BY_CODE, params={"code": code})
        agency: Agency | None = result.first()
        if agency is not None:
            self._by_code[code] = agency
        return agency

    async def get(self, agency_id: int) -> Agency | None:
        return await self._session.get(Agency, agency_id)

    async def referenced(self, agency_id: int) -> Agency:
        """The agency another row refers to by `agency_id`; MissingRow if it is gone."""
        return await referenced(self._session, Agency, agency_id)

    async def fallback(self) -> Agency | None:
        result = await self._session.exec(
            select(Agency)
            .where(col(Agency.is_fallback), col(Agency.active))
            .order_by(col(Agency.id))
        )
        return result.first()

    async def all(self) -> Sequence[Agency]:
        result = await self._session.exec(_ALL_AGENCIES)
        return result.all()

    async def count(self) -> int:
        result = await self._session.exec(select(sa.func.count()).select_from(Agency))
        return result.one()

    def add(self, agency: Agency) -> None:
        self._session.add(agency)
