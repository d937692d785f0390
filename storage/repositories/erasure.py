"""Personal data blanked where it is stored, the complaints kept: a resident's, on their
request, and every complaint's texts once retention has run out."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Attachment,
    AuditEntry,
    Complaint,
    ContactClaim,
    DeliveryState,
    Direction,
    KeptDelivery,
    Message,
    OutboxMessage,
    OutboxStatus,
    RefusedMessage,
    Resident,
)

# The addresses a kept delivery's payload names, read as its channel encodes it; None when
# it cannot be read that way.
NamedAddresses = Callable[[str, bytes], frozenset[str] | None]


@dataclass(frozen=True, slots=True)
class Erased:
    """How many rows of each kind lost a resident's data."""

    complaints: int
    messages: int
    attachments: int
    outbox: int
    refused: int
    deliveries: int
    claims: int
    audit: int

    @property
    def anything(self) -> bool:
        return any(
            (
                self.complaints,
                self.messages,
                self.outbox,
                self.refused,
                self.deliveries,
                self.claims,
                self.audit,
            )
        )


@dataclass(frozen=True, slots=True)
class Expired:
    """How many rows of each kind retention blanked in one batch."""

    complaints: int = 0
    messages: int = 0
    deliveries: int = 0
    refused: int = 0

    def __add__(self, other: Expired) -> Expired:
        return Expired(
            self.complaints + other.complaints,
            self.messages + other.messages,
            self.deliveries + other.deliveries,
            self.refused + other.refused,
        )


class ErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def erase(
        self,
        channel: str,
        address: str,
        resident_id: int | None,
        marker: str,
        now: datetime,
        named: NamedAddresses,
    ) -> Erased:
        """Blank what the address wrote and what was written about it: its resident's name
        and address, their complaints' text and place, every message and file from them or
        on their complaints (notices to the agency quote them), every outgoing message to
        the address or on their complaints, refused mail from it, kept deliveries naming it,
        contact claims naming it (with the codes sent there), and the address wherever an
        audit row's detail names it. Complaint rows, their times, agencies and routing
        stay, so that public figures still add up."""
        complaints = messages = attachments = 0
        on_theirs: Any = sa.false()
        if resident_id is not None:
            complaint_ids = select(Complaint.id).where(Complaint.resident_id == resident_id)
            on_theirs = col(OutboxMessage.complaint_id).in_(complaint_ids)
            complaints = await self._blank_complaints(
                col(Complaint.resident_id) == resident_id, marker
            )
            messages, attachments = await self._blank_messages(
                sa.or_(
                    col(Message.resident_id) == resident_id,
                    col(Message.complaint_id).in_(complaint_ids),
                ),
                marker,
            )
        naming = sa.and_(col(ContactClaim.channel) == channel, col(ContactClaim.address) == address)
        # Nothing but the codes goes to a claimed address before it is confirmed.
        codes, _ = await self._blank_messages(
            sa.and_(
                col(Message.direction) == Direction.OUTBOUND,
                col(Message.channel) == channel,
                col(Message.complaint_id).in_(select(ContactClaim.complaint_id).where(naming)),
            ),
            marker,
        )
        claims = await self._erase_claims(naming, marker, now)
        outbox = await self._erase_outbox(channel, address, on_theirs, marker)
        refused = await self._blank_refused(col(RefusedMessage.sender) == address)
        deliveries = await self._erase_deliveries(channel, address, named)
        audit = await self._erase_from_audit(address, marker)
        if resident_id is not None:
            await self._session.exec(
                sa.update(Resident)
                .where(col(Resident.id) == resident_id)
                .values(address=f"erased:{resident_id}", display_name=None, blocked_reason=None)
            )
        return Erased(
            complaints=complaints,
            messages=messages + codes,
            attachments=attachments,
            outbox=outbox,
            refused=refused,
            deliveries=deliveries,
            claims=claims,
            audit=audit,
        )

    async def expire(
        self,
        finished: Sequence[str],
        before: datetime,
        marker: str,
        now: datetime,
        limit: int,
    ) -> Expired:
        """Blank the texts of at most `limit` complaints in a `finished` status since before
        `before` (their messages, files, outgoing messages and contact claims with them),
        and of at most `limit` kept deliveries and refused messages each, received before
        it. The complaint rows and their times stay."""
        due = (
            select(Complaint.id)
            .where(
                col(Complaint.status).in_(list(finished)),
                col(Complaint.closed_at) < before,
                # As ix_complaints_to_expire's condition reads, so that SQLite searches it.
                sa.or_(
                    col(Complaint.expired_at).is_(None),
                    col(Complaint.expired_at) < col(Complaint.closed_at),
                ),
            )
            .order_by(col(Complaint.closed_at))
            .limit(limit)
        )
        ids = list((await self._session.exec(due)).all())
        complaints = messages = 0
        if ids:
            complaints = await self._blank_complaints(col(Complaint.id).in_(ids), marker, now)
            messages, _ = await self._blank_messages(col(Message.complaint_id).in_(ids), marker)
            await self._erase_claims(col(ContactClaim.complaint_id).in_(ids), marker, now)
            await self._session.exec(
                sa.update(OutboxMessage)
                .where(
                    col(OutboxMessage.complaint_id).in_(ids),
                    col(OutboxMessage.status).not_in((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                )
                .values(text=marker, subject=None)
            )
        old_deliveries = (
            select(KeptDelivery.id)
            .where(col(KeptDelivery.received_at) < before, col(KeptDelivery.payload) != b"")
            .limit(limit)
        )
        deliveries = await self._blank_deliveries(
            col(KeptDelivery.id).in_(list((await self._session.exec(old_deliveries)).all())),
            "its retention period ended",
        )
        old_refused = (
            select(RefusedMessage.id)
            .where(col(RefusedMessage.created_at) < before, col(RefusedMessage.raw) != b"")
            .limit(limit)
        )
        refused = await self._blank_refused(
            col(RefusedMessage.id).in_(list((await self._session.exec(old_refused)).all()))
        )
        return Expired(complaints, messages, deliveries, refused)

    # --- the statements both share ---------------------------------------------------

    async def _blank_complaints(self, where: Any, marker: str, now: datetime | None = None) -> int:
        values: dict[str, Any] = dict(
            text=marker, subject=None, location_text=None, latitude=None, longitude=None
        )
        if now is not None:
            values["expired_at"] = now
        result = await self._session.exec(sa.update(Complaint).where(where).values(**values))
        return int(result.rowcount)

    async def _blank_messages(self, where: Any, marker: str) -> tuple[int, int]:
        """Messages matching `where` and their files; how many of each."""
        message_ids = select(Message.id).where(where)
        attachments = await self._session.exec(
            sa.update(Attachment)
            .where(col(Attachment.message_id).in_(message_ids))
            .values(filename=marker, size=0, sha256="", content=b"")
        )
        messages = await self._session.exec(
            sa.update(Message).where(where).values(text=marker, original_text=None)
        )
        return int(messages.rowcount), int(attachments.rowcount)

    async def _erase_claims(self, where: Any, marker: str, now: datetime) -> int:
        result = await self._session.exec(
            sa.update(ContactClaim)
            .where(where, col(ContactClaim.erased_at).is_(None))
            .values(address=marker, code_hash=None, code_expires_at=None, erased_at=now)
        )
        return int(result.rowcount)

    async def _erase_outbox(self, channel: str, address: str, also: Any, marker: str) -> int:
        # Unsent ones are not sent: they would carry the marker to an address that is gone.
        to_them = sa.and_(
            col(OutboxMessage.channel) == channel, col(OutboxMessage.recipient) == address
        )
        result = await self._session.exec(
            sa.update(OutboxMessage)
            .where(sa.or_(to_them, also))
            .values(
                recipient=sa.case((to_them, marker), else_=col(OutboxMessage.recipient)),
                text=marker,
                subject=None,
                status=sa.case(
                    (
                        col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                        OutboxStatus.SUPPRESSED,
                    ),
                    else_=col(OutboxMessage.status),
                ),
            )
        )
        return int(result.rowcount)

    async def _blank_refused(self, where: Any) -> int:
        result = await self._session.exec(
            sa.update(RefusedMessage).where(where).values(sender=None, raw=b"")
        )
        return int(result.rowcount)

    async def _blank_deliveries(self, where: Any, why: str) -> int:
        """Kept deliveries lose their payload; one not yet processed is dropped with it."""
        result = await self._session.exec(
            sa.update(KeptDelivery)
            .where(where)
            .values(
                payload=b"",
                last_error=why,
                state=sa.case(
                    (col(KeptDelivery.state) == DeliveryState.DONE, DeliveryState.DONE),
                    else_=DeliveryState.DROPPED,
                ),
            )
        )
        return int(result.rowcount)

    async def _erase_deliveries(self, channel: str, address: str, named: NamedAddresses) -> int:
        """Kept deliveries on `channel` whose payload names the address, as its adapter
        encodes senders and recipients. A payload that cannot be read that way is matched
        by the address appearing anywhere in it: a heuristic, kept only as the fallback."""
        found = await self._session.exec(
            select(KeptDelivery.id, KeptDelivery.payload).where(
                col(KeptDelivery.channel) == channel, col(KeptDelivery.payload) != b""
            )
        )
        ids = [
            row_id for row_id, payload in found.all() if _names(named, channel, payload, address)
        ]
        if not ids:
            return 0
        return await self._blank_deliveries(
            col(KeptDelivery.id).in_(ids), "erased with the resident's data"
        )

    async def _erase_from_audit(self, address: str, marker: str) -> int:
        """The address replaced by `marker` in audit rows naming it (a block's "sms +62…:
        reason", a refused reply's sender); the rows stay."""
        found = await self._session.exec(
            select(AuditEntry.id, AuditEntry.actor, AuditEntry.detail).where(
                sa.or_(
                    col(AuditEntry.detail).icontains(address, autoescape=True),
                    col(AuditEntry.actor).icontains(address, autoescape=True),
                )
            )
        )
        # Whole addresses only: a chat id inside a longer number is another number.
        whole = re.compile(rf"(?<![0-9A-Za-z]){re.escape(address)}(?![0-9A-Za-z])", re.IGNORECASE)
        changed = [
            {
                "id": row_id,
                "actor": whole.sub(marker, actor)[:64],
                "detail": whole.sub(marker, detail),
            }
            for row_id, actor, detail in found.all()
            if whole.search(actor) or whole.search(detail)
        ]
        for row in changed:
            await self._session.exec(
                sa.update(AuditEntry)
                .where(col(AuditEntry.id) == row["id"])
                .values(actor=row["actor"], detail=row["detail"])
            )
        return len(changed)


def _names(named: NamedAddresses, channel: str, payload: bytes, address: str) -> bool:
    addresses = named(channel, payload)
    if addresses is None:
        return address.encode() in payload
    return address in addresses
