"""What the public may see of a complaint: no personal data, the status in both languages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bot.domain.lifecycle import OPEN_STATES, ComplaintStatus
from bot.messaging.templates import status_label
from bot.records.queries import find_by_reference
from storage.models import Complaint
from storage.unit_of_work import UnitOfWorkFactory


class PublicAgency(BaseModel):
    code: str
    name: str


class PublicEvent(BaseModel):
    at: datetime
    action: str
    status: str | None


class PublicComplaint(BaseModel):
    reference: str
    status: str
    status_label: dict[str, str]
    agency: PublicAgency
    channel: str
    received_at: datetime
    due_at: datetime
    overdue: bool
    first_response_at: datetime | None
    closed_at: datetime | None
    history: list[PublicEvent]


_PUBLIC_ACTIONS = frozenset(
    {"create", "assign", "take", "answer", "close", "transfer", "reject", "reopen"}
)


async def public_complaint(
    uow_factory: UnitOfWorkFactory, typed_reference: str, now: datetime
) -> PublicComplaint | None:
    async with uow_factory() as uow:
        complaint = await find_by_reference(uow, typed_reference)
        if complaint is None or complaint.id is None:
            return None
        agency = await uow.agencies.referenced(complaint.agency_id)
        history = [
            PublicEvent(at=entry.created_at, action=entry.action, status=entry.to_status)
            for entry in await uow.audit.for_complaint(complaint.id)
            if entry.action in _PUBLIC_ACTIONS
        ]
    answered_at = complaint.first_response_at
    return PublicComplaint(
        reference=complaint.reference,
        status=complaint.status,
        status_label={
            language: status_label(ComplaintStatus(complaint.status), language)
            for language in ("id", "en")
        },
        agency=PublicAgency(code=agency.code, name=agency.name),
        channel=complaint.channel,
        received_at=complaint.received_at,
        due_at=complaint.due_at,
        overdue=_overdue(complaint, now),
        first_response_at=answered_at,
        closed_at=complaint.closed_at,
        history=history,
    )


def _overdue(complaint: Complaint, now: datetime) -> bool:
    """Late if the first answer came after the due time, or has not come and the time is
    past while the clock runs (a complaint waiting for its resident is not late)."""
    if complaint.first_response_at is not None:
        return complaint.first_response_at > complaint.due_at
    if complaint.sla_running_since is not None:
        return now > complaint.due_at
    if complaint.status in OPEN_STATES:
        return False
    return (complaint.closed_at or now) > complaint.due_at
