"""Rule set versions and the rule proposals admins send from chat."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    RuleProposal,
    RuleSetVersion,
)


class RuleSetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def latest(self) -> RuleSetVersion | None:
        result = await self._session.exec(
            select(RuleSetVersion).order_by(col(RuleSetVersion.version).desc()).limit(1)
        )
        return result.first()

    async def latest_number(self) -> int | None:
        """The version in force; a cheap query every instance polls to notice changes."""
        result = await self._session.exec(select(sa.func.max(RuleSetVersion.version)))
        return result.one()

    async def get(self, version: int) -> RuleSetVersion | None:
        result = await self._session.exec(
            select(RuleSetVersion).where(RuleSetVersion.version == version)
        )
        return result.first()

    async def history(self, limit: int) -> Sequence[RuleSetVersion]:
        result = await self._session.exec(
            select(RuleSetVersion).order_by(col(RuleSetVersion.version).desc()).limit(limit)
        )
        return result.all()

    def add(self, version: RuleSetVersion) -> None:
        self._session.add(version)

    def propose(self, proposal: RuleProposal) -> None:
        self._session.add(proposal)

    async def proposal(self, proposal_id: int) -> RuleProposal | None:
        return await self._session.get(RuleProposal, proposal_id)
