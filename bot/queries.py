"""Read models: what the public may see of a complaint, and what operators may."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from bot.lifecycle import OPEN_STATES
from bot.references import parse_reference
from bot.templates import status_label
from storage.models import Agency, AuditEntry, Complaint, Message, OutboxMessage, Resident
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory


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


async def find_by_reference(uow: UnitOfWork, typed_reference: str) -> Complaint | None:
    """The complaint a person named by its reference, however they typed it."""
    reference = parse_reference(typed_reference)
    return await uow.complaints.by_reference(reference) if reference else None


async def public_complaint(
    uow_factory: UnitOfWorkFactory, typed_reference: str, now: datetime
) -> PublicComplaint | None:
    async with uow_factory() as uow:
        complaint = await find_by_reference(uow, typed_reference)
        if complaint is None or complaint.id is None:
            return None
        agency = await uow.agencies.get(complaint.agency_id)
        assert agency is not None
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
            "id": status_label(complaint.status, "id"),
            "en": status_label(complaint.status, "en"),
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


@dataclass(frozen=True, slots=True)
class ComplaintRecord:
    """Everything stored about one complaint, for operators (contains personal data)."""

    complaint: Complaint
    agency: Agency
    resident: Resident
    messages: Sequence[Message]
    outbox: Sequence[OutboxMessage]
    audit: Sequence[AuditEntry]


async def complaint_record(
    uow_factory: UnitOfWorkFactory, typed_reference: str
) -> ComplaintRecord | None:
    async with uow_factory() as uow:
        complaint = await find_by_reference(uow, typed_reference)
        if complaint is None or complaint.id is None:
            return None
        agency = await uow.agencies.get(complaint.agency_id)
        resident = await uow.residents.get(complaint.resident_id)
        assert agency is not None and resident is not None
        return ComplaintRecord(
            complaint=complaint,
            agency=agency,
            resident=resident,
            messages=await uow.messages.for_complaint(complaint.id),
            outbox=await uow.outbox.for_complaint(complaint.id),
            audit=await uow.audit.for_complaint(complaint.id),
        )


async def agency_names(uow_factory: UnitOfWorkFactory) -> dict[str, str]:
    async with uow_factory() as uow:
        return {agency.code: agency.name for agency in await uow.agencies.all()}


async def routing_outcomes(uow_factory: UnitOfWorkFactory) -> Sequence[tuple[str, int, int]]:
    """Per routing rule: complaints routed by it, and how many officers transferred away."""
    async with uow_factory() as uow:
        return await uow.complaints.routing_outcomes()
