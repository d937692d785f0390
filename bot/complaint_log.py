"""Recording what happens to a complaint: status changes with their audit rows, and the
notices that tell an agency. Shared by intake and by officers' actions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from bot.buttons import complaint_buttons_json
from bot.lifecycle import Event, next_status
from channels.base import Address, ChannelName
from storage.models import (
    Agency,
    Complaint,
    ComplaintStatus,
    NamedComplaint,
    NewAuditEntry,
    NewOutboxMessage,
    Officer,
)
from storage.unit_of_work import UnitOfWork


def audit(
    uow: UnitOfWork,
    complaint: NamedComplaint,
    action: str,
    *,
    actor: str,
    at: datetime,
    from_status: ComplaintStatus | None = None,
    to_status: ComplaintStatus | None = None,
    detail: str = "",
) -> None:
    uow.audit.add(
        NewAuditEntry(
            complaint_id=complaint.id,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
            created_at=at,
        )
    )


def transition(
    uow: UnitOfWork,
    complaint: Complaint,
    event: Event,
    *,
    actor: str,
    at: datetime,
    detail: str = "",
) -> None:
    """Move the complaint by `event` (IllegalTransition if it may not) and audit the move."""
    before = complaint.status
    complaint.status = next_status(before, event)
    complaint.updated_at = at
    audit(
        uow,
        complaint,
        event.value,
        actor=actor,
        at=at,
        from_status=before,
        to_status=complaint.status,
        detail=detail,
    )


def notify_agency(
    uow: UnitOfWork,
    agency: Agency,
    complaint: NamedComplaint,
    text: str,
    *,
    key: str,
    actor: str,
    at: datetime,
    actions: bool = False,
    attachments: Sequence[int] = (),
) -> None:
    """Queue a notice to the agency's first contact; audit it when the agency has none.

    `actions` puts the complaint's buttons under it (take, ask, transfer, close, reject);
    `attachments` are stored attachment ids (a resident's photos) to send along.
    """
    contact = agency_contact(agency)
    if contact is None:
        audit(
            uow,
            complaint,
            "notify_skipped",
            actor=actor,
            at=at,
            detail=f"agency {agency.code} has no contact",
        )
        return
    uow.outbox.add(
        NewOutboxMessage(
            key=f"agency:{key}",
            kind="agency_notice",
            channel=contact.channel,
            recipient=contact.address,
            complaint_id=complaint.id,
            subject=f"[{complaint.reference}] Pengaduan untuk {agency.code}",
            text=text,
            buttons=complaint_buttons_json(complaint.reference) if actions else None,
            attachment_ids=json.dumps(list(attachments)) if attachments else None,
            next_attempt_at=at,
            created_at=at,
        )
    )


def agency_contact(agency: Agency) -> Address | None:
    """Where an agency hears of complaints: its Telegram group, else email, else SMS."""
    return first_contact(agency.telegram_chat_id, agency.email, agency.phone)


def officer_contact(officer: Officer) -> Address | None:
    return first_contact(officer.telegram_user_id, officer.email, officer.phone)


def first_contact(telegram: str | None, email: str | None, phone: str | None) -> Address | None:
    if telegram:
        return Address(ChannelName.TELEGRAM, telegram)
    if email:
        return Address(ChannelName.EMAIL, email)
    if phone:
        return Address(ChannelName.SMS, phone)
    return None
