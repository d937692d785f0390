"""Messages: what residents sent and what was sent to them, and the redeliveries intake
recognises."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from storage.repositories.core import (
    latest_per_channel,
    read_among,
    session_connection,
    write,
)

# SQLite plans these lookups without statistics, and a term on a column that another index
# begins with draws it there: `direction = 'in'` beside `channel = ?` sends a search for
# several provider ids down the index on (channel, direction, created_at), which holds every
# inbound message of the channel, not to the unique one on (channel, provider id), which
# holds the few asked for. So each reads by the columns its index holds and leaves the
# other condition to the caller (tests/integration/test_query_plans.py keeps them so).
_BY_PROVIDER_ID = sa.select(
    col(Message.id),
    col(Message.kind),
    col(Message.complaint_id),
    col(Message.channel),
    col(Message.provider_message_id),
    col(Message.direction),
)
_INBOUND_SEEN = _BY_PROVIDER_ID.where(
    col(Message.channel) == sa.bindparam("channel"),
    col(Message.provider_message_id) == sa.bindparam("provider_id"),
)
_INBOUND_AMONG = _BY_PROVIDER_ID.where(
    col(Message.channel) == sa.bindparam("channel"),
    col(Message.provider_message_id).in_(sa.bindparam("values", expanding=True)),
)
_INSERT_MESSAGE = sa.insert(Message).returning(col(Message.id))
_THREAD_COLUMNS = (
    col(Message.id),
    col(Message.complaint_id),
    col(Message.direction),
    col(Message.kind),
)
# Each arm searches an index: the thread key's, and the (channel, provider id) unique one;
# the second counts only inbound messages, which the caller picks out (see above).
_BY_THREAD_KEY = sa.select(
    *_THREAD_COLUMNS,
    sa.type_coerce(col(Message.thread_key), sa.String).label("key"),
    sa.false().label("own_id"),
).where(col(Message.thread_key).in_(sa.bindparam("keys", expanding=True)))
_BY_OWN_ID = sa.select(
    *_THREAD_COLUMNS,
    sa.type_coerce(col(Message.provider_message_id), sa.String).label("key"),
    sa.true().label("own_id"),
).where(
    col(Message.channel) == sa.bindparam("channel"),
    col(Message.provider_message_id).in_(sa.bindparam("keys", expanding=True)),
)
_THREAD_HITS = sa.union_all(_BY_THREAD_KEY, _BY_OWN_ID)
# By complaint only, the index that finds a complaint's few messages; the caller keeps the
# channel's (see above).
_CONVERSATIONS = (
    sa.select(
        col(Message.complaint_id),
        col(Message.channel),
        col(Message.direction),
        col(Message.kind),
        col(Message.provider_message_id),
        col(Message.thread_key),
    )
    .where(col(Message.complaint_id).in_(sa.bindparam("complaint_ids", expanding=True)))
    .order_by(col(Message.id))
)


def _seen(row: Any) -> SeenInbound | None:
    """A row of _BY_PROVIDER_ID as what intake needs of a message it took before; None
    for one we sent (providers keep one namespace of ids for both ways)."""
    if row.direction != Direction.INBOUND:
        return None
    return SeenInbound(int(row.id), row.kind, row.complaint_id)


@dataclass(frozen=True, slots=True)
class SeenInbound:
    """An inbound message already taken: its id, its kind and its complaint."""

    id: int
    kind: str
    complaint_id: int | None


@dataclass(frozen=True, slots=True)
class ThreadHit:
    """The message another one answers, found by one of its threading handles."""

    message_id: int
    complaint_id: int | None
    direction: Direction
    kind: str
    key: str
    # The key is the message's own handle (one we sent, or the sender's own mail by its
    # Message-ID), not that of a message it answered in turn.
    itself: bool


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    """One message of a complaint on one channel, with the handles it is known by."""

    direction: Direction
    kind: str
    provider_message_id: str | None
    thread_key: str | None


async def thread_hit(
    session: AsyncSession, keys: Sequence[str], own_ids_of: str | None
) -> ThreadHit | None:
    """The message the first of `keys` that names one names: a message of ours or a chat
    reply by its thread key, or (`own_ids_of`, e.g. email) an inbound message of that
    channel by its own provider id. Where one key names several, the message itself comes
    before the replies to it that carry the same key (anyone's reply-all to our mail does),
    then the newest."""
    if not keys:
        return None
    connection = await session_connection(session)
    # Without a channel the second arm looks for a channel no message has.
    params = {"keys": list(keys), "channel": own_ids_of or ""}
    hits = [
        ThreadHit(
            int(row.id),
            row.complaint_id,
            Direction(row.direction),
            row.kind,
            row.key,
            itself=bool(row.own_id) or row.direction == Direction.OUTBOUND,
        )
        for row in await connection.execute(_THREAD_HITS, params)
        if not row.own_id or row.direction == Direction.INBOUND
    ]
    for key in keys:
        named = [hit for hit in hits if hit.key == key]
        if named:
            return max(named, key=lambda hit: (hit.itself, hit.message_id))
    return None


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

    async def last_received(self, channels: Iterable[str]) -> dict[str, datetime]:
        """Per channel, when its latest inbound message arrived (channels with none left out)."""
        return await latest_per_channel(
            self._session,
            col(Message.created_at),
            col(Message.channel),
            channels,
            col(Message.direction) == Direction.INBOUND,
        )

    async def for_complaint(self, complaint_id: int) -> Sequence[Message]:
        result = await self._session.exec(
            select(Message).where(Message.complaint_id == complaint_id).order_by(col(Message.id))
        )
        return result.all()

    async def thread_hit(self, keys: Sequence[str], own_ids_of: str | None) -> ThreadHit | None:
        """See `thread_hit`."""
        return await thread_hit(self._session, keys, own_ids_of)

    async def conversations(
        self, complaint_ids: Collection[int], channel: str
    ) -> dict[int, list[ConversationEntry]]:
        """Each complaint's messages on `channel`, oldest first, without their text; in one
        query. A complaint with none is missing from the answer."""
        if not complaint_ids:
            return {}
        connection = await session_connection(self._session)
        result = await connection.execute(_CONVERSATIONS, {"complaint_ids": list(complaint_ids)})
        found: dict[int, list[ConversationEntry]] = {}
        for row in result:
            if row.channel != channel:
                continue
            found.setdefault(row.complaint_id, []).append(
                ConversationEntry(
                    Direction(row.direction), row.kind, row.provider_message_id, row.thread_key
                )
            )
        return found

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
