"""Refused messages: kept whole with the reason they started nothing, for an admin to read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import RefusedMessage


class RefusedMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(self, channel: str, provider_message_id: str) -> RefusedMessage | None:
        result = await self._session.exec(
            select(RefusedMessage).where(
                RefusedMessage.channel == channel,
                RefusedMessage.provider_message_id == provider_message_id,
            )
        )
        return result.first()

    async def get(self, refused_id: int) -> RefusedMessage | None:
        return await self._session.get(RefusedMessage, refused_id)

    def add(self, refused: RefusedMessage) -> None:
        self._session.add(refused)

    async def since(self, since: datetime, limit: int) -> Sequence[RefusedMessage]:
        """The newest refused messages kept since `since`, newest first."""
        result = await self._session.exec(
            select(RefusedMessage)
            .where(col(RefusedMessage.created_at) >= since)
            .order_by(col(RefusedMessage.created_at).desc(), col(RefusedMessage.id).desc())
            .limit(limit)
        )
        return result.all()
