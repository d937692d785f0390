"""One inbound message being handled by intake, and everything it writes.

A turn gathers once what every step of intake needs (the unit of work, the message, its
sender, the clock's time) and writes for it: the message itself with its attachments, the
one reply it gets, notices to the agency and audit rows, all in the turn's transaction and
all keyed by the message, so that handling it again never writes anything twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from bot.domain.lifecycle import Event
from bot.messaging.notices import notify_agency
from bot.messaging.templates import OFFICER_LANGUAGE, render
from bot.records.history import audit, transition
from channels.base import ChannelName, InboundMessage
from routing import Decision
from storage.models import (
    Agency,
    Complaint,
    Direction,
    NamedComplaint,
    NewMessage,
    NewOutboxMessage,
    ResidentContact,
)
from storage.models import Attachment as StoredAttachment
from storage.unit_of_work import UnitOfWork


class Turn:
    """One inbound message being handled: what every step needs, gathered once."""

    __slots__ = (
        "decision",
        "first_contact",
        "inbound",
        "now",
        "resident",
        "resident_id",
        "text",
        "uow",
    )

    def __init__(
        self,
        uow: UnitOfWork,
        inbound: InboundMessage,
        resident: ResidentContact,
        text: str,
        now: datetime,
        first_contact: bool,
        decision: Decision | None = None,
    ) -> None:
        # A resident writing for the first time has no complaint to continue.
        self.first_contact = first_contact
        self.uow = uow
        self.inbound = inbound
        self.resident = resident
        self.resident_id: int = resident.id
        self.text = text
        self.now = now
        # Where routing sends the message as a new complaint, when decided ahead.
        self.decision = decision

    @property
    def language(self) -> str:
        return self.resident.language

    @property
    def actor(self) -> str:
        return f"resident:{self.resident_id}"

    @property
    def message_key(self) -> str:
        return message_key(self.inbound)

    def medium(self) -> str:
        """What the resident would stop or start receiving, in words they know."""
        if self.resident.channel == ChannelName.SMS:
            return "SMS"
        return render("messages", self.language)

    def unreachable(self) -> str:
        """A line telling officers their answers will not reach this resident, or nothing."""
        return render("agency_opted_out", OFFICER_LANGUAGE) if self.resident.opted_out else ""

    async def record(self, complaint: NamedComplaint | None, kind: str) -> list[int]:
        """Store the inbound message and its attachments; returns the attachments' ids."""
        inbound = self.inbound
        message = NewMessage(
            complaint_id=complaint.id if complaint else None,
            resident_id=self.resident_id,
            direction=Direction.INBOUND,
            channel=inbound.channel,
            provider_message_id=inbound.provider_message_id,
            thread_key=inbound.thread_keys[0] if inbound.thread_keys else None,
            kind=kind,
            text=self.text,
            original_text=inbound.original_text,
            created_at=inbound.received_at,
        )
        if not inbound.attachments:
            self.uow.messages.add(message)
            return []
        message_id = await self.uow.messages.insert(message)
        stored = [
            StoredAttachment(
                message_id=message_id,
                filename=attachment.filename,
                content_type=attachment.content_type,
                size=len(attachment.content),
                sha256=hashlib.sha256(attachment.content).hexdigest(),
                content=attachment.content,
            )
            for attachment in inbound.attachments
        ]
        for row in stored:
            self.uow.messages.add_attachment(row)
        await self.uow.flush()
        return [row.id for row in stored if row.id is not None]

    def reply(
        self, text: str, complaint: NamedComplaint | None = None, *, kind: str = "reply"
    ) -> None:
        """Queue the one direct answer this inbound message gets (keyed by it, so once)."""
        self.uow.outbox.add(
            NewOutboxMessage(
                key=f"reply:{self.message_key}",
                kind=kind,
                channel=self.resident.channel,
                recipient=self.resident.address,
                complaint_id=complaint.id if complaint else None,
                text=text,
                subject=(
                    render("resident_subject", self.language, reference=complaint.reference)
                    if complaint
                    else None
                ),
                language=self.language,
                in_reply_to=_answering(self.inbound),
                next_attempt_at=self.now,
                created_at=self.now,
            )
        )

    def notify_agency(
        self,
        agency: Agency,
        complaint: NamedComplaint,
        text: str,
        *,
        actions: bool = False,
        attachments: list[int] | None = None,
    ) -> None:
        notify_agency(
            self.uow,
            agency,
            complaint,
            text,
            key=self.message_key,
            actor=self.actor,
            at=self.now,
            actions=actions,
            attachments=attachments or [],
        )

    def transition(self, complaint: Complaint, event: Event, detail: str = "") -> None:
        transition(self.uow, complaint, event, actor=self.actor, at=self.now, detail=detail)

    def audit(
        self,
        complaint: NamedComplaint,
        action: str,
        *,
        from_status: str | None = None,
        to_status: str | None = None,
        detail: str = "",
    ) -> None:
        audit(
            self.uow,
            complaint,
            action,
            actor=self.actor,
            at=self.now,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
        )


def _answering(inbound: InboundMessage) -> str | None:
    """The handle a reply to `inbound` threads onto: an email's own Message-ID; on chat, the
    message the resident replied to."""
    if inbound.channel == ChannelName.EMAIL:
        return inbound.provider_message_id
    return inbound.thread_keys[0] if inbound.thread_keys else None


def message_key(inbound: InboundMessage) -> str:
    """What every row an inbound message causes is keyed by: its channel and provider id."""
    return f"{inbound.channel}:{inbound.provider_message_id}"
