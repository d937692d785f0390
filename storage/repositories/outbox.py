"""The outbox: rows queued for sending, claimed, settled and recovered."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.appends import StagedAppends
from storage.models import (
    NewOutboxMessage,
    OutboxMessage,
    OutboxStatus,
    UTCDateTime,
)
from storage.repositories.core import by_ids, latest_per_channel

# Rows still to go out: waiting for their turn, or being sent.
BACKLOG = (OutboxStatus.PENDING, OutboxStatus.SENDING)


# The dispatcher's statements, run for every batch: built once.
_CLAIM_DUE = (
    select(OutboxMessage)
    .where(
        OutboxMessage.status == OutboxStatus.PENDING,
        col(OutboxMessage.next_attempt_at) <= sa.bindparam("now", type_=UTCDateTime),
        col(OutboxMessage.channel).in_(sa.bindparam("channels", expanding=True)),
    )
    .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_START_SENDS = (
    sa.update(OutboxMessage)
    .where(
        col(OutboxMessage.id).in_(sa.bindparam("ids", expanding=True)),
        col(OutboxMessage.status) == OutboxStatus.SENDING,
        col(OutboxMessage.claim_token) == sa.bindparam("token"),
    )
    .values(
        send_started_at=sa.bindparam("now", type_=UTCDateTime),
        claimed_until=sa.bindparam("until", type_=UTCDateTime),
    )
    .returning(col(OutboxMessage.id))
    # The caller reads the rows again before it writes them: the session's copies need
    # not be brought up to date (evaluating the criteria on each costs more than the
    # UPDATE).
    .execution_options(synchronize_session=False)
)


@dataclass(frozen=True)
class StalledChannel:
    """A channel's pending rows that are not moving: how many, and waiting since when."""

    channel: str
    rows: int
    since: datetime


class OutboxRepository:
    def __init__(self, session: AsyncSession, appends: StagedAppends) -> None:
        self._session = session
        self._appends = appends

    def add(self, row: NewOutboxMessage) -> None:
        """Queue when the transaction next flushes."""
        self._appends.add(row)

    async def many(self, row_ids: Collection[int]) -> dict[int, OutboxMessage]:
        """The rows of these ids that exist, by id, in one query."""
        return await by_ids(self._session, OutboxMessage, row_ids)

    async def by_key(self, key: str) -> OutboxMessage | None:
        result = await self._session.exec(select(OutboxMessage).where(OutboxMessage.key == key))
        return result.first()

    async def by_provider_id(self, channel: str, provider_message_id: str) -> OutboxMessage | None:
        """The row the provider knows by this id (the newest, should a provider reuse ids)."""
        result = await self._session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.provider_message_id == provider_message_id,
            )
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
        )
        return result.first()

    async def recorded_provider_ids(
        self, channel: str, provider_message_ids: Collection[str]
    ) -> set[str]:
        """Which of these provider ids are already recorded on a row of `channel`."""
        if not provider_message_ids:
            return set()
        result = await self._session.exec(
            select(OutboxMessage.provider_message_id).where(
                OutboxMessage.channel == channel,
                col(OutboxMessage.provider_message_id).in_(list(provider_message_ids)),
            )
        )
        return {found for found in result.all() if found is not None}

    async def advance_delivery(
        self,
        row_id: int,
        status: str,
        replaces: Collection[str],
        *,
        at: datetime,
        error: str | None,
    ) -> bool:
        """Record a delivery status where the row has none yet or one of `replaces`.

        One conditional UPDATE, so two reports racing on the same row cannot both win.
        Returns whether it was recorded.
        """
        result = await self._session.exec(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == row_id,
                sa.or_(
                    col(OutboxMessage.delivery_status).is_(None),
                    col(OutboxMessage.delivery_status).in_(list(replaces)),
                ),
            )
            .values(delivery_status=status, delivery_status_at=at, delivery_error=error)
        )
        return bool(result.rowcount)

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` are already queued (or sent)."""
        if not keys:
            return set()
        result = await self._session.exec(
            select(OutboxMessage.key).where(col(OutboxMessage.key).in_(list(keys)))
        )
        return set(result.all())

    async def claim_due(
        self,
        now: datetime,
        channels: Iterable[str],
        limit: int,
        lease: timedelta,
        token: str | None = None,
    ) -> Sequence[OutboxMessage]:
        """Take up to `limit` due rows for the claim `token`; other processes skip them."""
        channels = list(channels)
        if not channels:
            return []
        result = await self._session.exec(
            _CLAIM_DUE, params={"now": now, "channels": channels, "limit": limit}
        )
        rows = result.all()
        for row in rows:
            row.status = OutboxStatus.SENDING
            row.claimed_until = now + lease
            row.claim_token = token
            row.send_started_at = None
            row.attempts += 1
            row.waiting_reason = None
        return rows

    async def start_sends(
        self, row_ids: Collection[int], token: str, now: datetime, lease: timedelta
    ) -> set[int]:
        """Record that the claim `token` starts sending these rows now, their lease renewed
        from now; returns the ids it still held (the others were recovered, or settled by
        another). One UPDATE, however many rows."""
        if not row_ids:
            return set()
        result = await self._session.exec(
            _START_SENDS,
            params={"ids": list(row_ids), "token": token, "now": now, "until": now + lease},
        )
        return set(result.scalars().all())

    async def abandoned_claims(self, now: datetime) -> Sequence[OutboxMessage]:
        """Rows a process claimed and never settled: it died while sending them."""
        result = await self._session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.SENDING,
                col(OutboxMessage.claimed_until) < now,
            )
            .with_for_update(skip_locked=True)
        )
        return result.all()

    async def mark_waiting(self, channel: str, reason: str) -> int:
        """Explain why pending rows of an unconfigured channel are not moving."""
        result = await self._session.exec(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.channel) == channel,
                sa.or_(
                    col(OutboxMessage.waiting_reason).is_(None),
                    col(OutboxMessage.waiting_reason) != reason,
                ),
            )
            .values(waiting_reason=reason)
        )
        return int(result.rowcount)

    async def for_complaint(self, complaint_id: int) -> Sequence[OutboxMessage]:
        result = await self._session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.complaint_id == complaint_id)
            .order_by(col(OutboxMessage.id))
        )
        return result.all()

    async def pending_channels(self) -> Sequence[str]:
        result = await self._session.exec(
            select(OutboxMessage.channel)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .distinct()
        )
        return result.all()

    async def count_by_status(self) -> dict[str, int]:
        result = await self._session.exec(
            select(OutboxMessage.status, sa.func.count()).group_by(col(OutboxMessage.status))
        )
        return {str(status): count for status, count in result.all()}

    async def backlog(self) -> dict[tuple[str, OutboxStatus], int]:
        """Rows still to go out, per (channel, status); only the pending part of `ix_outbox_due`
        is read, never the sent history."""
        result = await self._session.exec(
            select(OutboxMessage.channel, OutboxMessage.status, sa.func.count())
            .where(col(OutboxMessage.status).in_(BACKLOG))
            .group_by(col(OutboxMessage.channel), col(OutboxMessage.status))
        )
        return {(channel, OutboxStatus(status)): count for channel, status, count in result.all()}

    async def last_sent(self, channels: Iterable[str]) -> dict[str, datetime]:
        """Per channel, when its latest row was sent (channels with none left out)."""
        return await latest_per_channel(
            self._session, col(OutboxMessage.sent_at), col(OutboxMessage.channel), channels
        )

    async def stalled(self, cutoff: datetime) -> dict[str, StalledChannel]:
        """Per channel, pending rows due before `cutoff`, or tried and failed since before it.

        The first are rows no dispatcher takes; the second rows it takes and cannot send
        (each failure moves `next_attempt_at` on, so they would never look overdue). One
        query over the pending part of `ix_outbox_due`, never the sent history: no filter
        on channel, which would tempt a planner to the channel index and all its history.
        """
        result = await self._session.exec(
            select(
                OutboxMessage.channel,
                sa.func.count(),
                sa.func.min(OutboxMessage.created_at),
            )
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                sa.or_(
                    col(OutboxMessage.next_attempt_at) < cutoff,
                    sa.and_(
                        col(OutboxMessage.attempts) > 0, col(OutboxMessage.created_at) < cutoff
                    ),
                ),
            )
            .group_by(col(OutboxMessage.channel))
        )
        return {
            channel: StalledChannel(channel, rows, since) for channel, rows, since in result.all()
        }
