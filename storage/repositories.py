"""Repositories: the queries the service layer needs, named for what they find."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Agency,
    Attachment,
    AuditEntry,
    Complaint,
    ComplaintStatus,
    Direction,
    LinkCode,
    Message,
    Officer,
    OfficerRole,
    OutboxMessage,
    OutboxStatus,
    Resident,
    RuleProposal,
    RuleSetVersion,
    UTCDateTime,
)


class AgencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_code(self, code: str) -> Agency | None:
        result = await self._session.exec(select(Agency).where(Agency.code == code))
        return result.first()

    async def get(self, agency_id: int) -> Agency | None:
        return await self._session.get(Agency, agency_id)

    async def fallback(self) -> Agency | None:
        result = await self._session.exec(
            select(Agency)
            .where(col(Agency.is_fallback), col(Agency.active))
            .order_by(col(Agency.id))
        )
        return result.first()

    async def all(self) -> Sequence[Agency]:
        result = await self._session.exec(select(Agency).order_by(col(Agency.code)))
        return result.all()

    async def count(self) -> int:
        result = await self._session.exec(select(sa.func.count()).select_from(Agency))
        return result.one()

    def add(self, agency: Agency) -> None:
        self._session.add(agency)


class OfficerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, officer_id: int) -> Officer | None:
        return await self._session.get(Officer, officer_id)

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


_RESIDENTS = SQLModel.metadata.tables["residents"]


class ResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(self, channel: str, address: str) -> Resident | None:
        result = await self._session.exec(
            select(Resident).where(Resident.channel == channel, Resident.address == address)
        )
        return result.first()

    async def count_message(self, resident: Resident, at: datetime, window: timedelta) -> None:
        """Count one more message from `resident` in their rate window, a new window when the
        last one is over, and load the stored count into `resident`.

        Counted in one UPDATE, so instances sharing the database count every message
        between them (on PostgreSQL the row stays locked until this transaction ends).
        """
        started = col(Resident.window_started_at)
        over = sa.or_(started.is_(None), started <= at - window)
        result = await self._session.exec(
            sa.update(_RESIDENTS)
            .where(_RESIDENTS.c.id == resident.id)
            .values(
                window_started_at=sa.case((over, sa.literal(at, UTCDateTime)), else_=started),
                window_messages=sa.case((over, 1), else_=col(Resident.window_messages) + 1),
            )
            .returning(started, col(Resident.window_messages))
        )
        window_started_at, window_messages = result.one()
        # What the database holds now, not a change for the session to write back.
        set_committed_value(resident, "window_started_at", window_started_at)
        set_committed_value(resident, "window_messages", window_messages)

    async def get(self, resident_id: int) -> Resident | None:
        return await self._session.get(Resident, resident_id)

    async def opted_out_among(self, addresses: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (channel, address) pairs belong to residents who opted out."""
        pairs = list(set(addresses))
        if not pairs:
            return set()
        result = await self._session.exec(
            select(Resident.channel, Resident.address).where(
                sa.tuple_(col(Resident.channel), col(Resident.address)).in_(pairs),
                col(Resident.opted_out_at).is_not(None),
            )
        )
        return {(channel, address) for channel, address in result.all()}

    async def blocked(self) -> Sequence[Resident]:
        result = await self._session.exec(
            select(Resident)
            .where(col(Resident.blocked_at).is_not(None))
            .order_by(col(Resident.blocked_at), col(Resident.id))
        )
        return result.all()

    def add(self, resident: Resident) -> None:
        self._session.add(resident)


class ComplaintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, complaint_id: int) -> Complaint | None:
        return await self._session.get(Complaint, complaint_id)

    async def by_reference(self, reference: str) -> Complaint | None:
        result = await self._session.exec(select(Complaint).where(Complaint.reference == reference))
        return result.first()

    async def by_thread_keys(self, keys: Iterable[str]) -> Complaint | None:
        """The complaint a message threads onto, newest first when several match."""
        keys = list(keys)
        if not keys:
            return None
        result = await self._session.exec(
            select(Complaint)
            .join(Message, col(Message.complaint_id) == col(Complaint.id))
            .where(col(Message.thread_key).in_(keys))
            .order_by(col(Message.id).desc())
            .limit(1)
        )
        return result.first()

    async def latest_for_resident(
        self, resident_id: int, active_since: datetime
    ) -> Complaint | None:
        """The resident's most recently active complaint, if active since `active_since`."""
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.resident_id == resident_id, Complaint.last_message_at >= active_since)
            .order_by(col(Complaint.last_message_at).desc(), col(Complaint.id).desc())
            .limit(1)
        )
        return result.first()

    async def awaiting_resident(self, resident_id: int) -> Complaint | None:
        """The resident's newest complaint on which the agency waits for their answer."""
        result = await self._session.exec(
            select(Complaint)
            .where(
                Complaint.resident_id == resident_id,
                Complaint.status == ComplaintStatus.WAITING_FOR_RESIDENT,
            )
            .order_by(col(Complaint.updated_at).desc())
            .limit(1)
        )
        return result.first()

    async def awaiting_rating(self, resident_id: int, closed_since: datetime) -> Complaint | None:
        result = await self._session.exec(
            select(Complaint)
            .where(
                Complaint.resident_id == resident_id,
                Complaint.status == ComplaintStatus.CLOSED,
                col(Complaint.rating).is_(None),
                col(Complaint.closed_at) >= closed_since,
            )
            .order_by(col(Complaint.closed_at).desc())
            .limit(1)
        )
        return result.first()

    async def chase_due(self, now: datetime, limit: int) -> Sequence[Complaint]:
        """Complaints whose next reminder is due; other sweepers skip the ones taken here."""
        result = await self._session.exec(
            select(Complaint)
            .where(col(Complaint.next_chase_at) <= now)
            .order_by(col(Complaint.next_chase_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return result.all()

    async def for_agency(
        self, agency_id: int, statuses: Iterable[ComplaintStatus]
    ) -> Sequence[Complaint]:
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.agency_id == agency_id, col(Complaint.status).in_(list(statuses)))
            .order_by(col(Complaint.due_at))
        )
        return result.all()

    async def received_since(
        self, since: datetime, after_id: int, limit: int
    ) -> Sequence[Complaint]:
        """A page of complaints received since `since`, in id order after `after_id`."""
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.received_at >= since, col(Complaint.id) > after_id)
            .order_by(col(Complaint.id))
            .limit(limit)
        )
        return result.all()

    async def count_received_since(self, since: datetime) -> int:
        result = await self._session.exec(
            select(sa.func.count()).select_from(Complaint).where(Complaint.received_at >= since)
        )
        return result.one()

    async def routing_outcomes(self) -> Sequence[tuple[str, int, int]]:
        """Per routing rule: complaints it routed, and how many officers transferred away."""
        transferred = (
            select(AuditEntry.complaint_id)
            .where(AuditEntry.action == "transfer")
            .distinct()
            .subquery()
        )
        result = await self._session.exec(
            select(
                Complaint.routing_rule,
                sa.func.count(),
                sa.func.count(transferred.c.complaint_id),
            )
            .outerjoin(transferred, transferred.c.complaint_id == Complaint.id)
            .group_by(col(Complaint.routing_rule))
            .order_by(col(Complaint.routing_rule))
        )
        return result.all()

    def add(self, complaint: Complaint) -> None:
        self._session.add(complaint)


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find_inbound(self, channel: str, provider_message_id: str) -> Message | None:
        result = await self._session.exec(
            select(Message).where(
                Message.channel == channel,
                Message.provider_message_id == provider_message_id,
                Message.direction == Direction.INBOUND,
            )
        )
        return result.first()

    async def for_complaint(self, complaint_id: int) -> Sequence[Message]:
        result = await self._session.exec(
            select(Message).where(Message.complaint_id == complaint_id).order_by(col(Message.id))
        )
        return result.all()

    def add(self, message: Message) -> None:
        self._session.add(message)

    def add_attachment(self, attachment: Attachment) -> None:
        self._session.add(attachment)

    async def attachments(self, ids: Sequence[int]) -> Sequence[Attachment]:
        if not ids:
            return []
        result = await self._session.exec(
            select(Attachment).where(col(Attachment.id).in_(list(ids))).order_by(col(Attachment.id))
        )
        return result.all()


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: OutboxMessage) -> None:
        self._session.add(row)

    async def get(self, row_id: int) -> OutboxMessage | None:
        return await self._session.get(OutboxMessage, row_id)

    async def by_key(self, key: str) -> OutboxMessage | None:
        result = await self._session.exec(select(OutboxMessage).where(OutboxMessage.key == key))
        return result.first()

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` are already queued (or sent)."""
        if not keys:
            return set()
        result = await self._session.exec(
            select(OutboxMessage.key).where(col(OutboxMessage.key).in_(list(keys)))
        )
        return set(result.all())

    async def claim_due(
        self, now: datetime, channels: Iterable[str], limit: int, lease: timedelta
    ) -> Sequence[OutboxMessage]:
        """Take up to `limit` due rows for this process; other processes skip them."""
        channels = list(channels)
        if not channels:
            return []
        result = await self._session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
                col(OutboxMessage.channel).in_(channels),
            )
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = result.all()
        for row in rows:
            row.status = OutboxStatus.SENDING
            row.claimed_until = now + lease
            row.attempts += 1
            row.waiting_reason = None
        return rows

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


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, entry: AuditEntry) -> None:
        self._session.add(entry)

    async def for_complaint(self, complaint_id: int) -> Sequence[AuditEntry]:
        result = await self._session.exec(
            select(AuditEntry)
            .where(AuditEntry.complaint_id == complaint_id)
            .order_by(col(AuditEntry.id))
        )
        return result.all()


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
