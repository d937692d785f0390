"""Messages: what residents sent and what was sent to them, and the redeliveries intake
recognises."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.appends import StagedAppends
from storage.models import (
    Attachment,
    Direction,
    Message,
    NewMessage,
)
from storage.repositories.core import read_among, session_connection, write

_INBOUND = sa.select(
    col(Message.id),
    col(Message.kind),
    col(Message.complaint_id),
    col(Message.channel),
    col(Message.provider_message_id),
).where(col(Message.direction) == Direction.INBOUND)
_INBOUND_SEEN = _INBOUND.where(
    col(Message.channel) == sa.bindparam("channel"),
    col(Message.provider_message_id) == sa.bindparam("provider_id"),
)
_INBOUND_AMONG = _INBOUND.where(
    col(Message.channel) == sa.bindparam("channel"),
    col(Message.provider_message_id).in_(sa.bindparam("values", expanding=True)),
)
# Complaints in the status the caller names as waiting for the resident's answer.


_INSERT_MESSAGE = sa.insert(Message).returning(col(Message.id))


def _seen(row: Any) -> SeenInbound:
    """A row of _INBOUND as what intake needs of a message it took before."""
    return SeenInbound(int(row.id), row.kind, row.complaint_id)


@dataclass(frozen=True, slots=True)
class SeenInbound:
    """An inbound message already taken: its id, its kind and its complaint."""

    id: int
    kind: str
    complaint_id: int | None


class MessageRepository:
    def __init__(self, session: AsyncSession, appends: StagedAppends) -> None:
        self._session = session
        self._appends = appends
        # Inbound messages looked up together by `prefetch_inbound` (None: not taken).
        self._inbound: dict[tuple[str, str], SeenInbound | None] = {}

    async def prefetch_inbound(self, keys: Iterable[tuple[str, str]]) -> None:
        """Look up in one query which of these (channel, provider id) messages intake
        took before, so that `find_inbound` answers for them without one."""
        await read_among(
            self._session,
            _INBOUND_AMONG,
            keys,
            self._inbound,
            key=lambda row: (row.channel, row.provider_message_id),
            build=_seen,
        )

    async def find_inbound(self, channel: str, provider_message_id: str) -> SeenInbound | None:
        """The inbound message this provider id was, if intake already took it (in an
        earlier transaction: what this one appends is not looked at)."""
        if (channel, provider_message_id) in self._inbound:
            return self._inbound[channel, provider_message_id]
        connection = await session_connection(self._session)
        result = await connection.execute(
            _INBOUND_SEEN, {"channel": channel, "provider_id": provider_message_id}
        )
        row = result.first()
        return _seen(row) if row else None

    async def for_complaint(self, complaint_id: int) -> Sequence[Message]:
        result = await self._session.exec(
            select(Message).where(Message.complaint_id == complaint_id).order_by(col(Message.id))
        )
        return result.all()

    def add(self, message: NewMessage) -> None:
        """Append to the log when the transaction next flushes."""
        self._appends.add(message)

    async def insert(self, message: NewMessage) -> int:
        """Append now, for a caller that needs the new row's id (to attach files to it)."""
        result = await write(self._session, _INSERT_MESSAGE, vars(message))
        message_id: int = result.scalar_one()
        return message_id

    def add_attachment(self, attachment: Attachment) -> None:
        self._session.add(attachment)

    async def attachment_ids(self, message_id: int) -> list[int]:
        result = await self._session.exec(
            select(Attachment.id)
            .where(Attachment.message_id == message_id)
            .order_by(col(Attachment.id))
        )
        return [row for row in result.all() if row is not None]

    async def attachments(self, ids: Sequence[int]) -> Sequence[Attachment]:
        if not ids:
            return []
        result = await self._session.exec(
            select(Attachment).where(col(Attachment.id).in_(list(ids))).order_by(col(Attachment.id))
        )
        return result.all()
