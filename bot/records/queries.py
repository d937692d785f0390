"""Read models: what operators may see of a complaint, and the look-ups several capabilities
share (a complaint by the reference a person typed, agency names, routing outcomes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.references import parse_reference
from storage.models import (
    Agency,
    AuditEntry,
    Complaint,
    ContactClaim,
    Message,
    OutboxMessage,
    Resident,
)
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory


async def find_by_reference(uow: UnitOfWork, typed_reference: str) -> Complaint | None:
    """The complaint a person named by its reference, however they typed it."""
    reference = parse_reference(typed_reference)
    return await uow.complaints.by_reference(reference) if reference else None


@dataclass(frozen=True, slots=True)
class ComplaintRecord:
    """Everything stored about one complaint, for operators (contains personal data)."""

    complaint: Complaint
    agency: Agency
    resident: Resident
    messages: Sequence[Message]
    outbox: Sequence[OutboxMessage]
    audit: Sequence[AuditEntry]
    claim: ContactClaim | None = None


async def complaint_record(
    uow_factory: UnitOfWorkFactory, typed_reference: str
) -> ComplaintRecord | None:
    async with uow_factory() as uow:
        complaint = await find_by_reference(uow, typed_reference)
        if complaint is None or complaint.id is None:
            return None
        agency = await uow.agencies.referenced(complaint.agency_id)
        resident = await uow.residents.referenced(complaint.resident_id)
        return ComplaintRecord(
            complaint=complaint,
            agency=agency,
            resident=resident,
            messages=await uow.messages.for_complaint(complaint.id),
            outbox=await uow.outbox.for_complaint(complaint.id),
            audit=await uow.audit.for_complaint(complaint.id),
            claim=await uow.claims.for_complaint(complaint.id),
        )


async def agency_names(uow_factory: UnitOfWorkFactory) -> dict[str, str]:
    async with uow_factory() as uow:
        return {agency.code: agency.name for agency in await uow.agencies.all()}


async def routing_outcomes(uow_factory: UnitOfWorkFactory) -> Sequence[tuple[str, int, int]]:
    """Per routing rule: complaints routed by it, and how many officers transferred away."""
    async with uow_factory() as uow:
        return await uow.complaints.routing_outcomes()
