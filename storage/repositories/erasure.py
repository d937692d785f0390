"""A resident's personal data blanked everywhere it is stored, their complaints kept."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Attachment,
    Complaint,
    DeliveryState,
    KeptDelivery,
    Message,
    OutboxMessage,
    OutboxStatus,
    RefusedMessage,
    Resident,
)


@dataclass(frozen=True, slots=True)
class Erased:
    """How many rows of each kind lost a resident's data."""

    complaints: int
    messages: int
    attachments: int
    outbox: int
    refused: int
    deliveries: int


class ErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def erase(self, resident: Resident, marker: str) -> Erased:
        """Blank what `resident` wrote and what was written about it: their name and
        address, their complaints' text and place, every message and file from them or on
        their complaints (notices to the agency quote them), every outgoing message to them
        or on their complaints, refused mail from them and kept deliveries holding their
        address. Complaint rows, their times, agencies and routing stay, so that public
        figures still add up."""
        session, resident_id = self._session, resident.id
        channel, address = resident.channel, resident.address
        complaint_ids = select(Complaint.id).where(Complaint.resident_id == resident_id)
        message_ids = select(Message.id).where(
            sa.or_(
                col(Message.resident_id) == resident_id,
                col(Message.complaint_id).in_(complaint_ids),
            )
        )
        complaints = await session.exec(
            sa.update(Complaint)
            .where(col(Complaint.resident_id) == resident_id)
            .values(text=marker, subject=None, location_text=None, latitude=None, longitude=None)
        )
        attachments = await session.exec(
            sa.update(Attachment)
            .where(col(Attachment.message_id).in_(message_ids))
            .values(filename=marker, size=0, sha256="", content=b"")
        )
        messages = await session.exec(
            sa.update(Message)
            .where(col(Message.id).in_(message_ids))
            .values(text=marker, original_text=None)
        )
        # Unsent ones are not sent: they would carry the marker to an address that is gone.
        to_them = sa.and_(
            col(OutboxMessage.channel) == channel, col(OutboxMessage.recipient) == address
        )
        outbox = await session.exec(
            sa.update(OutboxMessage)
            .where(sa.or_(to_them, col(OutboxMessage.complaint_id).in_(complaint_ids)))
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
        refused = await session.exec(
            sa.update(RefusedMessage)
            .where(col(RefusedMessage.sender) == address)
            .values(sender=None, raw=b"")
        )
        deliveries = await self._erase_deliveries(channel, address)
        await session.exec(
            sa.update(Resident)
            .where(col(Resident.id) == resident_id)
            .values(address=f"erased:{resident_id}", display_name=None, blocked_reason=None)
        )
        return Erased(
            complaints=int(complaints.rowcount),
            messages=int(messages.rowcount),
            attachments=int(attachments.rowcount),
            outbox=int(outbox.rowcount),
            refused=int(refused.rowcount),
            deliveries=deliveries,
        )

    async def _erase_deliveries(self, channel: str, address: str) -> int:
        """Kept deliveries are the adapters' own encodings, so they are found by the address
        appearing in them; one not yet processed is dropped with its payload."""
        needle = address.encode()
        found = await self._session.exec(
            select(KeptDelivery.id, KeptDelivery.payload).where(
                col(KeptDelivery.channel) == channel, col(KeptDelivery.payload) != b""
            )
        )
        ids = [row_id for row_id, payload in found.all() if needle in payload]
        if ids:
            await self._session.exec(
                sa.update(KeptDelivery)
                .where(col(KeptDelivery.id).in_(ids))
                .values(
                    payload=b"",
                    last_error="erased with the resident's data",
                    state=sa.case(
                        (col(KeptDelivery.state) == DeliveryState.DONE, DeliveryState.DONE),
                        else_=DeliveryState.DROPPED,
                    ),
                )
            )
        return len(ids)
