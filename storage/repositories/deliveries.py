"""Kept deliveries: providers' deliveries kept before processing, retried from here, and
the dead letters among them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import DeliveryState, KeptDelivery, NewKeptDelivery
from storage.repositories.core import session_connection

_KEPT = SQLModel.metadata.tables["kept_deliveries"]
# One statement keeps a delivery or finds it kept already, by dialect (both have the clause).
_KEEP = {
    name: dialect.insert(_KEPT)
    .on_conflict_do_nothing(index_elements=[_KEPT.c.channel, _KEPT.c.key])
    .returning(_KEPT.c.id)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


class KeptDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def keep(self, delivery: NewKeptDelivery) -> int | None:
        """Insert `delivery` unless one of its channel and key is kept already (the
        provider delivered it again): its id, or None. Written now, not at the flush."""
        connection = await session_connection(self._session)
        result = await connection.execute(_KEEP[connection.dialect.name], vars(delivery))
        kept: int | None = result.scalar_one_or_none()
        return kept

    async def get(self, delivery_id: int) -> KeptDelivery | None:
        return await self._session.get(KeptDelivery, delivery_id)

    async def claim_due(
        self, now: datetime, channels: Iterable[str], limit: int, lease: timedelta
    ) -> Sequence[KeptDelivery]:
        """Up to `limit` pending deliveries due for another attempt, each counted as an
        attempt and hidden from other processes for `lease` (a process that dies while
        trying one leaves it to be tried again, one attempt spent)."""
        channels = list(channels)
        if not channels:
            return []
        result = await self._session.exec(
            select(KeptDelivery)
            .where(
                KeptDelivery.state == DeliveryState.PENDING,
                KeptDelivery.next_attempt_at <= now,
                col(KeptDelivery.channel).in_(channels),
            )
            .order_by(col(KeptDelivery.next_attempt_at), col(KeptDelivery.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = result.all()
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + lease
        return rows

    async def settle(self, ids: Sequence[int], now: datetime) -> None:
        """Mark processed; the payload goes (it may hold a resident's words), the key stays
        so that a redelivery is recognised."""
        if not ids:
            return
        await self._session.exec(
            sa.update(KeptDelivery)
            .where(
                col(KeptDelivery.id).in_(list(ids)),
                col(KeptDelivery.state) == DeliveryState.PENDING,
            )
            .values(state=DeliveryState.DONE, payload=b"", settled_at=now, last_error=None)
        )

    async def listed(self, states: Iterable[DeliveryState], limit: int) -> Sequence[KeptDelivery]:
        """The newest deliveries in `states`, newest first."""
        result = await self._session.exec(
            select(KeptDelivery)
            .where(col(KeptDelivery.state).in_(list(states)))
            .order_by(col(KeptDelivery.received_at).desc(), col(KeptDelivery.id).desc())
            .limit(limit)
        )
        return result.all()

    async def dead_by_channel(self) -> dict[str, int]:
        result = await self._session.exec(
            select(KeptDelivery.channel, sa.func.count())
            .where(KeptDelivery.state == DeliveryState.DEAD)
            .group_by(KeptDelivery.channel)
        )
        return {channel: int(count) for channel, count in result.all()}

    async def purge_settled(self, before: datetime) -> int:
        """Forget processed deliveries settled before `before`; how many went."""
        result = await self._session.exec(
            sa.delete(KeptDelivery).where(
                col(KeptDelivery.state) == DeliveryState.DONE,
                col(KeptDelivery.settled_at) < before,
            )
        )
        return int(result.rowcount)
