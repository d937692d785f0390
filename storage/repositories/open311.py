"""Open311: the client applications' keys, and the complaints as the API publishes them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Agency, Complaint, Open311Key, PublicRequestRow
from storage.repositories.core import session_connection

_PUBLIC_COLUMNS: tuple[Any, ...] = (
    col(Complaint.reference),
    col(Complaint.status),
    col(Complaint.routing_rule),
    col(Agency.code).label("agency_code"),
    col(Agency.name).label("agency_name"),
    col(Complaint.received_at),
    col(Complaint.updated_at),
    col(Complaint.due_at),
    col(Complaint.latitude),
    col(Complaint.longitude),
)


class Open311Repository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add_key(self, key: Open311Key) -> None:
        self._session.add(key)

    async def key_named(self, name: str) -> Open311Key | None:
        return (await self._session.exec(select(Open311Key).where(Open311Key.name == name))).first()

    async def key_by_hash(self, key_hash: str) -> Open311Key | None:
        statement = select(Open311Key).where(Open311Key.key_hash == key_hash)
        return (await self._session.exec(statement)).first()

    async def keys(self) -> Sequence[Open311Key]:
        return (await self._session.exec(select(Open311Key).order_by(col(Open311Key.id)))).all()

    async def public_requests(
        self,
        *,
        references: Collection[str] = (),
        rules: Collection[str] = (),
        statuses: Collection[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
    ) -> list[PublicRequestRow]:
        """Complaints as Open311 publishes them, newest first; each filter applies when given."""
        statement = sa.select(*_PUBLIC_COLUMNS, col(Complaint.id)).join(
            Agency, col(Agency.id) == col(Complaint.agency_id)
        )
        if references:
            statement = statement.where(col(Complaint.reference).in_(references))
        if rules:
            statement = statement.where(col(Complaint.routing_rule).in_(rules))
        if since is not None:
            statement = statement.where(col(Complaint.received_at) >= since)
        if until is not None:
            statement = statement.where(col(Complaint.received_at) <= until)
        newest = (col(Complaint.received_at).desc(), col(Complaint.id).desc())
        if statuses:
            # Anyone may ask, for any period: so one arm per status, each walking that
            # status's complaints newest first and stopping at `limit`, merged in one
            # statement (one snapshot: a complaint changing status meanwhile is listed
            # once). One arm for them all would read and sort every complaint of those
            # statuses in the period first.
            arms = [
                statement.where(col(Complaint.status) == status)
                .order_by(*newest)
                .limit(limit)
                .subquery()
                .select()
                for status in sorted(statuses)
            ]
            merged = sa.union_all(*arms).subquery()
            statement = sa.select(merged).order_by(merged.c.received_at.desc(), merged.c.id.desc())
        else:
            statement = statement.order_by(*newest)
        connection = await session_connection(self._session)
        found = await connection.execute(statement.limit(limit))
        return [
            PublicRequestRow(**{k: v for k, v in row._mapping.items() if k != "id"})
            for row in found
        ]
