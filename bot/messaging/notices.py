"""Notices to agencies and officers: where each hears of complaints, and queueing a notice
with the complaint's buttons. Shared by intake, officers' actions and the chaser."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from bot.messaging.buttons import complaint_buttons_json
from bot.messaging.templates import OFFICER_LANGUAGE, render
from bot.records.history import audit
from channels.base import Address, ChannelName
from storage.models import Agency, NamedComplaint, NewOutboxMessage, Officer
from storage.unit_of_work import UnitOfWork


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
            subject=render(
                "agency_subject",
                OFFICER_LANGUAGE,
                reference=complaint.reference,
                agency_code=agency.code,
            ),
            text=text,
            language=OFFICER_LANGUAGE,
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
